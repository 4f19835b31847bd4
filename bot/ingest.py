"""Getting papers in: from a source (live or a saved response) into the store, then the index."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from bot.models import Paper
from bot.search import SearchIndex, SearchIndexError
from bot.sources.arxiv import ArxivSource, parse_feed
from bot.sources.hf import HuggingFaceSource, parse_daily_papers
from bot.sources.http import SourceError
from bot.sources.sample import load_sample
from bot.storage import Store, UpsertReport, utc_now

log = logging.getLogger(__name__)

BATCH_SIZE = 5000
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class IngestReport:
    source: str
    fetched: int = 0
    skipped: int = 0
    inserted: int = 0
    updated: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        if self.error:
            return f"{self.source}: nothing changed — {self.error}"
        skipped = f", {self.skipped} malformed skipped" if self.skipped else ""
        return (
            f"{self.source}: {self.fetched} papers fetched, {self.inserted} new, "
            f"{self.updated} updated{skipped}."
        )


async def ingest_papers(
    store: Store,
    index: SearchIndex,
    papers: Sequence[Paper],
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> UpsertReport:
    """Store papers in batches (each its own transaction), then bring the index up to date."""
    inserted = updated = 0
    for start in range(0, len(papers), BATCH_SIZE):
        batch = papers[start : start + BATCH_SIZE]
        report = await store.upsert_papers(batch, now=now)
        inserted += report.inserted
        updated += report.updated
        if progress:
            progress(len(batch))
    await catch_up_index(index, store)
    return UpsertReport(len(papers), inserted, updated)


async def catch_up_index(index: SearchIndex, store: Store) -> None:
    """Bring the index up to date; if another process holds it (a bulk ingest), try later.

    The papers are safe in the database either way, and every later catch-up (the next ingest,
    the next start) applies whatever is still missing.
    """
    try:
        await index.catch_up(store)
    except SearchIndexError as error:
        log.warning("search index not updated this time, will catch up later: %s", error)


CHANGE_POLL_S = 2.0


async def follow_changes(
    index: SearchIndex, store: Store, *, poll_s: float = CHANGE_POLL_S
) -> None:
    """Keep this process's search index caught up with papers any process writes, until
    cancelled: on each change notification (PostgreSQL's LISTEN), or every ``poll_s`` seconds
    when none comes (a notification lost to a reconnect costs at most one poll)."""
    while True:
        await store.wait_for_change(poll_s)
        try:
            await catch_up_index(index, store)
        except Exception:  # a database away for a while: say so, and try again next round
            log.warning("search index catch-up failed; retrying", exc_info=True)


async def _record(
    store: Store,
    index: SearchIndex,
    source: str,
    papers: Sequence[Paper],
    skipped: int,
    now: datetime,
) -> IngestReport:
    report = await ingest_papers(store, index, papers, now=now)
    await store.record_fetch(source, papers=len(papers), now=now)
    return IngestReport(source, len(papers), skipped, report.inserted, report.updated)


async def _failed(store: Store, source: str, error: Exception, now: datetime) -> IngestReport:
    log.info("%s ingest failed, nothing changed", source)  # the source logged why, once
    await store.record_fetch(source, error=str(error), now=now)
    return IngestReport(source, error=str(error))


async def ingest_hf(
    store: Store,
    index: SearchIndex,
    source: HuggingFaceSource,
    day: date,
    now: datetime | None = None,
) -> IngestReport:
    now = now or utc_now()
    try:
        result = await source.fetch_daily(day)
    except SourceError as error:
        return await _failed(store, "hf", error, now)
    return await _record(store, index, "hf", result.papers, result.skipped, now)


async def ingest_arxiv(
    store: Store,
    index: SearchIndex,
    source: ArxivSource,
    query: str,
    max_results: int = 100,
    now: datetime | None = None,
) -> IngestReport:
    now = now or utc_now()
    try:
        result = await source.search(query, max_results=max_results)
    except SourceError as error:
        return await _failed(store, "arxiv", error, now)
    return await _record(store, index, "arxiv", result.papers, result.skipped, now)


async def ingest_file(
    store: Store, index: SearchIndex, source: str, path: Path, now: datetime | None = None
) -> IngestReport:
    """Ingest a saved API response (``hf`` JSON or ``arxiv`` Atom) from disk."""
    now = now or utc_now()
    parse = parse_daily_papers if source == "hf" else parse_feed
    try:
        result = parse(await asyncio.to_thread(path.read_bytes))
    except (OSError, SourceError) as error:
        log.warning("%s file %s not ingested: %s", source, path, error)
        return IngestReport(source, error=str(error))
    report = await ingest_papers(store, index, result.papers, now=now)
    return IngestReport(source, len(result.papers), result.skipped, report.inserted, report.updated)


async def ingest_sample(
    store: Store, index: SearchIndex, now: datetime | None = None
) -> IngestReport:
    now = now or utc_now()
    papers = load_sample(now)
    report = await ingest_papers(store, index, papers, now=now)
    return IngestReport("sample", len(papers), 0, report.inserted, report.updated)
