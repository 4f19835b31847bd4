"""The arXiv API: Atom feeds from ``GET {base}/api/query``, in both its current and older forms."""

from __future__ import annotations

import asyncio
import calendar
import io
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import feedparser
import httpx

from bot.ids import parse_paper_ref, split_versioned_id
from bot.models import SAMPLE_PREFIX, Paper, squash_spaces
from bot.sources.http import (
    DEFAULT_RETRY,
    Clock,
    MalformedRecord,
    MinIntervalLimiter,
    ParseResult,
    QueryParams,
    RetryPolicy,
    Sleep,
    SourceError,
    get_with_retry,
    parse_records,
)

log = logging.getLogger(__name__)

SOURCE = "arxiv"
SORT_BY = frozenset({"relevance", "lastUpdatedDate", "submittedDate"})
SORT_ORDER = frozenset({"ascending", "descending"})
MAX_RESULTS = 2000  # the most arXiv returns from one call
ID_BATCH = 100  # keeps id_list URLs well under common length limits

_SOURCES = frozenset({SOURCE})


class ArxivQueryError(SourceError):
    """arXiv refused the query itself (bad id, bad syntax); its message is fit to show a user."""


def parse_feed(body: bytes) -> ParseResult:
    """Read an API response. A malformed entry is skipped; an unreadable feed raises."""
    # A stream, never bytes: feedparser tries to open() bytes as a local file name first.
    feed = feedparser.parse(io.BytesIO(body))
    entries: list[Any] = list(feed.get("entries", []))
    if feed.get("bozo"):
        # feedparser keeps the entry that was open where the XML broke; it is incomplete.
        entries = entries[: body.count(b"</entry>")]
        if not entries:
            raise SourceError(SOURCE, f"response is not valid XML ({feed.get('bozo_exception')})")
        log.warning("arxiv: feed is damaged, keeping %d whole entries", len(entries))
    if not str(feed.get("version") or "").startswith("atom"):
        raise SourceError(SOURCE, "response is not an Atom feed")
    message = _error_message(entries)
    if message is not None:
        raise ArxivQueryError(SOURCE, f"arXiv rejected the query: {message}")
    return parse_records(entries, _paper, source=SOURCE, what="entry")


def _error_message(entries: list[Any]) -> str | None:
    """arXiv reports a bad query as a feed holding one entry whose id is under /api/errors."""
    for entry in entries:
        if "/api/errors" in str(entry.get("id", "")):
            return squash_spaces(str(entry.get("summary") or entry.get("title") or "unknown error"))
    return None


def _paper(entry: Mapping[str, Any]) -> Paper:
    raw_id = str(entry.get("id") or "")
    ref = split_versioned_id(raw_id)
    if ref is None or ref.id.startswith(SAMPLE_PREFIX):
        raise MalformedRecord(f"id {raw_id!r} is not an arXiv abs URL")
    title = squash_spaces(str(entry.get("title") or ""))
    if not title:
        raise MalformedRecord(f"{ref.id} has no title")
    return Paper(
        id=ref.id,
        version=ref.version or 1,
        title=title,
        abstract=squash_spaces(str(entry.get("summary") or "")),
        authors=_authors(entry),
        published=_published(entry, ref.id),
        categories=_categories(entry),
        sources=_SOURCES,
    )


def _authors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    names = (squash_spaces(str(author.get("name") or "")) for author in entry.get("authors", []))
    return tuple(name for name in names if name)


def _published(entry: Mapping[str, Any], paper_id: str) -> datetime:
    # feedparser hands back UTC struct_times; `updated` stands in if `published` is absent.
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if parsed is None:
        raise MalformedRecord(f"{paper_id} has no published date")
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC)


def _categories(entry: Mapping[str, Any]) -> tuple[str, ...]:
    """Primary category first, then the rest, without repeats."""
    primary = entry.get("arxiv_primary_category") or {}
    terms = [primary.get("term")] + [tag.get("term") for tag in entry.get("tags", [])]
    return tuple(dict.fromkeys(term.strip() for term in terms if isinstance(term, str) and term))


class ArxivSource:
    """Queries arXiv through a client the caller owns, one request at a time and spaced out."""

    name = SOURCE

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        *,
        timeout: float,
        min_interval: float = 3.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self._client = client
        self._url = f"{base_url.rstrip('/')}/api/query"
        self._timeout = timeout
        self._sleep = sleep
        self._retry = retry
        self._limiter = MinIntervalLimiter(min_interval, clock, sleep, target="arxiv")
        # arXiv's terms ask for a single connection at a time as well as the spacing.
        self._one_at_a_time = asyncio.Lock()

    async def search(
        self,
        search_query: str,
        *,
        max_results: int = 100,
        sort_by: str = "submittedDate",
        sort_order: str = "descending",
        start: int = 0,
    ) -> ParseResult:
        """Papers matching an arXiv ``search_query`` such as ``cat:cs.CL AND ti:retrieval``."""
        _check_search(search_query, max_results, sort_by, sort_order, start)
        params: dict[str, str | int] = {
            "search_query": search_query.strip(),
            "start": start,
            "max_results": max_results,
            "sortBy": sort_by,
            "sortOrder": sort_order,
        }
        return await self._query(params)

    async def fetch_ids(self, ids: Sequence[str]) -> ParseResult:
        """The latest version of each paper id (or abs URL); ids arXiv does not know are absent."""
        papers: list[Paper] = []
        skipped = 0
        for batch in _batches(_canonical_ids(ids), ID_BATCH):
            # Without max_results arXiv returns only the first 10 of an id_list.
            result = await self._query({"id_list": ",".join(batch), "max_results": len(batch)})
            papers.extend(result.papers)
            skipped += result.skipped
        return ParseResult(papers, skipped)

    async def _query(self, params: QueryParams) -> ParseResult:
        try:
            async with self._one_at_a_time:
                response = await get_with_retry(
                    self._client,
                    self._url,
                    source=SOURCE,
                    attempt_timeout=self._timeout,
                    params=params,
                    policy=self._retry,
                    sleep=self._sleep,
                    limiter=self._limiter,
                    allow_status={400},  # the body says what was wrong with the query
                )
            result = _read(response)
        except SourceError as exc:
            error = exc if exc.path else exc.with_url(self._url)
            log.warning("%s", error)
            raise error from None
        log.info("arxiv: %d papers (%d skipped)", len(result.papers), result.skipped)
        return result


def _read(response: httpx.Response) -> ParseResult:
    if response.status_code != 400:
        return parse_feed(response.content)
    try:
        parse_feed(response.content)
    except ArxivQueryError:
        raise
    except SourceError:
        pass  # not arXiv's error feed: report the status instead of a parse failure
    raise SourceError(SOURCE, f"HTTP 400 {response.reason_phrase}".rstrip(), status=400)


def _check_search(query: str, max_results: int, sort_by: str, sort_order: str, start: int) -> None:
    if not query.strip():
        raise ValueError("search_query must not be empty")
    if not 1 <= max_results <= MAX_RESULTS:
        raise ValueError(f"max_results must be between 1 and {MAX_RESULTS}, got {max_results}")
    if sort_by not in SORT_BY:
        raise ValueError(f"sort_by must be one of {sorted(SORT_BY)}, got {sort_by!r}")
    if sort_order not in SORT_ORDER:
        raise ValueError(f"sort_order must be one of {sorted(SORT_ORDER)}, got {sort_order!r}")
    if start < 0:
        raise ValueError(f"start must not be negative, got {start}")


def _canonical_ids(ids: Sequence[str]) -> list[str]:
    """Canonical ids without versions or repeats, so arXiv returns each paper's latest version."""
    found: dict[str, None] = {}
    for text in ids:
        ref = parse_paper_ref(text)
        if ref is None or ref.id.startswith(SAMPLE_PREFIX):
            raise ValueError(f"not an arXiv id: {text!r}")
        found[ref.id] = None
    return list(found)


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for begin in range(0, len(items), size):
        yield items[begin : begin + size]
