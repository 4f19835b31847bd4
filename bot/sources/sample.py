"""The bundled offline sample: papers from one saved Hugging Face Daily Papers page.

The page gives titles and abstracts in ranked order and nothing else, so the sample invents no
arXiv ids, authors or categories: ids are ``sample-NNN`` placeholders and the rest stays empty.
Upvotes and publication times are synthetic, derived from each paper's rank on the page so that
"top" and "newest" orderings are deterministic and differ from each other.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from bot.models import SAMPLE_PREFIX, Paper

SOURCE = "sample"
SPREAD_DAYS = 3
_SOURCES = frozenset({SOURCE})
_RESOURCE = ("data", "sample_papers.json")
_MAX_TITLE_CHARS = 300  # a longer "title" means the title/abstract pairing slipped
_PAGE_DATE = re.compile(r"^(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}$")
_ABOUT = (
    "Offline sample for demos and tests. Titles and abstracts are copied from one saved "
    "Hugging Face Daily Papers page, in page order. The page shows no arXiv ids, authors or "
    "categories, so ids are placeholders (sample-NNN) and authors and categories are empty. "
    "'rank' is the position on the page; hf_upvotes and published are SYNTHETIC, derived from "
    "rank by bot.sources.sample.load_sample. Rebuild with scripts/build_sample.py."
)


@dataclass(frozen=True, slots=True)
class SampleEntry:
    rank: int
    title: str
    abstract: str

    @property
    def id(self) -> str:
        return f"{SAMPLE_PREFIX}{self.rank:03d}"


def parse_page(text: str) -> list[SampleEntry]:
    """Titles and abstracts from the page's text: a header ending in a date, then pairs."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    start = next((i + 1 for i, line in enumerate(lines) if _PAGE_DATE.match(line)), None)
    if start is None:
        raise ValueError("no date line (like 'Mar 14') ends the page header")
    body = lines[start:]
    if not body or len(body) % 2:
        raise ValueError(f"expected title/abstract pairs after the header, got {len(body)} lines")
    entries = [
        SampleEntry(rank, title, abstract)
        for rank, (title, abstract) in enumerate(zip(body[::2], body[1::2], strict=True), 1)
    ]
    for entry in entries:
        if len(entry.title) > _MAX_TITLE_CHARS or len(entry.title) >= len(entry.abstract):
            raise ValueError(f"pairing looks wrong at paper {entry.rank}: {entry.title[:50]!r}")
    return entries


def build_document(page_text: str) -> str:
    """The JSON that ships as ``bot/data/sample_papers.json``, built from the page's text."""
    papers = [
        {"id": entry.id, "rank": entry.rank, "title": entry.title, "abstract": entry.abstract}
        for entry in parse_page(page_text)
    ]
    document = {"about": _ABOUT, "papers": papers}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def load_sample(now: datetime) -> list[Paper]:
    """The bundled papers, in page order, with synthetic upvotes and times relative to ``now``."""
    if now.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware one")
    anchor = now.astimezone(UTC).replace(second=0, microsecond=0)
    entries = read_entries(resources.files("bot").joinpath(*_RESOURCE).read_text("utf-8"))
    return [_paper(entry, len(entries), anchor) for entry in entries]


def read_entries(document: str) -> list[SampleEntry]:
    """Entries from the bundled JSON, checked: a broken file fails loudly, not half-loaded."""
    data: Any = json.loads(document)
    entries = [
        SampleEntry(int(item["rank"]), str(item["title"]), str(item["abstract"]))
        for item in data["papers"]
    ]
    ids = [str(item["id"]) for item in data["papers"]]
    if ids != [entry.id for entry in entries]:
        raise ValueError("sample ids must be sample-NNN numbered by rank")
    return entries


def _paper(entry: SampleEntry, count: int, now: datetime) -> Paper:
    return Paper(
        id=entry.id,
        title=entry.title,
        abstract=entry.abstract,
        authors=(),
        published=synthetic_published(entry.rank, now),
        hf_upvotes=synthetic_upvotes(entry.rank, count),
        on_hf=False,
        sources=_SOURCES,
    )


def synthetic_upvotes(rank: int, count: int) -> int:
    """Falls with page position, so that vote order and page order agree."""
    return 2 * (count - rank + 1)


def synthetic_published(rank: int, now: datetime) -> datetime:
    """Round-robin over the last few days, so the newest papers are not simply the top ones."""
    days_ago = (rank - 1) % SPREAD_DAYS
    slot = (rank - 1) // SPREAD_DAYS
    return now - timedelta(days=days_ago, minutes=30 + 17 * slot)
