"""Recognising arXiv ids in what people type or paste: bare ids, versions and paper URLs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.models import SAMPLE_PREFIX

_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}"
_ID = rf"(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<version>\d+))?"
_SAMPLE = rf"(?P<sample>{re.escape(SAMPLE_PREFIX)}\d{{3,6}})"

_BARE = re.compile(rf"^(?:arxiv:)?(?:{_ID}|{_SAMPLE})$", re.IGNORECASE)
_URL = re.compile(
    r"https?://(?:www\.|export\.)?"
    r"(?:arxiv\.org/(?:abs|pdf|html)|huggingface\.co/papers|alphaxiv\.org/(?:abs|overview))/"
    rf"{_ID}(?:\.pdf)?",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ArxivRef:
    id: str
    version: int | None = None


def _normalise(match: re.Match[str]) -> ArxivRef:
    sample = match.groupdict().get("sample")
    if sample:
        return ArxivRef(sample.lower())
    raw = match.group("id")
    if "/" in raw:
        archive, number = raw.split("/")
        head, _, subject = archive.partition(".")
        raw = (
            f"{head.lower()}.{subject.upper()}/{number}" if subject else f"{head.lower()}/{number}"
        )
    version = match.group("version")
    return ArxivRef(raw, int(version) if version else None)


def parse_paper_ref(text: str) -> ArxivRef | None:
    """Turn an id or a paper URL (arXiv abs/pdf, Hugging Face, alphaXiv) into a canonical id."""
    text = text.strip().strip("<>")
    bare = _BARE.match(text)
    if bare:
        return _normalise(bare)
    url = _URL.match(text)
    return _normalise(url) if url else None


def find_paper_links(text: str) -> list[ArxivRef]:
    """Every paper URL in a message, in order, without repeats."""
    seen: dict[str, ArxivRef] = {}
    for match in _URL.finditer(text):
        ref = _normalise(match)
        seen.setdefault(ref.id, ref)
    return list(seen.values())


def split_versioned_id(entry_id: str) -> ArxivRef | None:
    """Split ``2401.01234v2`` or an abs URL into id and version."""
    return parse_paper_ref(entry_id)
