"""Hugging Face Daily Papers: ``GET {base}/api/daily_papers?date=YYYY-MM-DD``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import httpx

from bot.ids import parse_paper_ref
from bot.models import SAMPLE_PREFIX, Paper, squash_spaces
from bot.sources.http import (
    DEFAULT_RETRY,
    MalformedRecord,
    ParseResult,
    RetryPolicy,
    Sleep,
    SourceError,
    get_with_retry,
    parse_records,
)

log = logging.getLogger(__name__)

SOURCE = "hf"
_SOURCES = frozenset({SOURCE})


def parse_daily_papers(body: bytes) -> ParseResult:
    """Read a daily-papers response. A malformed item is skipped; a malformed body raises."""
    try:
        items = json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are
        raise SourceError(SOURCE, f"response is not valid JSON ({exc})") from None
    if not isinstance(items, list):
        raise SourceError(SOURCE, f"expected a JSON list of papers, got {type(items).__name__}")
    return parse_records(items, _paper, source=SOURCE, what="daily paper")


def _paper(item: Any) -> Paper:
    outer = _mapping(item, "item")
    inner = _mapping(outer.get("paper"), "paper")
    ref = parse_paper_ref(_text(inner, "id"))
    if ref is None or ref.id.startswith(SAMPLE_PREFIX):
        raise MalformedRecord(f"paper.id {inner['id']!r} is not an arXiv id")
    return Paper(
        id=ref.id,
        title=squash_spaces(_text(inner, "title", fallback=outer)),
        abstract=squash_spaces(_optional_text(inner, "summary", fallback=outer)),
        authors=_authors(inner.get("authors")),
        # paper.publishedAt is the arXiv date; the item-level one is when HF listed it.
        published=_timestamp(_text(inner, "publishedAt", fallback=outer)),
        hf_upvotes=_count(inner.get("upvotes")),
        code_url=_link(inner.get("githubRepo")),
        on_hf=True,
        sources=_SOURCES,
        ai_summary=_summary(inner.get("ai_summary")),
        github_stars=_stars(inner.get("githubStars")),
    )


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedRecord(f"{name} is {type(value).__name__}, not an object")
    return value


def _text(data: Mapping[str, Any], key: str, fallback: Mapping[str, Any] | None = None) -> str:
    value = _optional_text(data, key, fallback)
    if not value.strip():
        raise MalformedRecord(f"paper.{key} is missing or empty")
    return value


def _optional_text(
    data: Mapping[str, Any], key: str, fallback: Mapping[str, Any] | None = None
) -> str:
    value = data.get(key)
    if value is None and fallback is not None:
        value = fallback.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedRecord(f"paper.{key} is {type(value).__name__}, not a string")
    return value


def _authors(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MalformedRecord(f"paper.authors is {type(value).__name__}, not a list")
    # Hugging Face hides an author when the name was wrongly parsed from the PDF; its own page
    # leaves them out, so do we.
    names = (
        squash_spaces(author["name"])
        for author in value
        if isinstance(author, Mapping)
        and isinstance(author.get("name"), str)
        and not author.get("hidden", False)
    )
    return tuple(name for name in names if name)


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedRecord(f"paper.publishedAt {text!r} is not an ISO timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _count(value: Any) -> int:
    # bool is an int in Python; a true/false "upvotes" is a broken item, not one vote.
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    return 0


def _summary(value: Any) -> str | None:
    # Optional extra: a wrong type costs the TL;DR, not the whole paper.
    if not isinstance(value, str):
        return None
    return squash_spaces(value) or None


def _stars(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _link(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        return value.strip()
    return None


class HuggingFaceSource:
    """Fetches one day of Hugging Face Daily Papers through a client the caller owns."""

    name = SOURCE

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        *,
        timeout: float,
        sleep: Sleep = asyncio.sleep,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self._client = client
        self._url = f"{base_url.rstrip('/')}/api/daily_papers"
        self._timeout = timeout
        self._sleep = sleep
        self._retry = retry

    async def fetch_daily(self, day: date) -> ParseResult:
        """The papers listed for ``day``. Raises :class:`SourceError` after logging one line."""
        try:
            response = await get_with_retry(
                self._client,
                self._url,
                source=SOURCE,
                attempt_timeout=self._timeout,
                params={"date": day.isoformat()},
                policy=self._retry,
                sleep=self._sleep,
            )
            result = parse_daily_papers(response.content)
        except SourceError as exc:
            error = exc if exc.path else exc.with_url(self._url)
            log.warning("%s", error)
            raise error from None
        log.info("hf: %d papers for %s (%d skipped)", len(result.papers), day, result.skipped)
        return result
