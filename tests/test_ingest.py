from __future__ import annotations

import pytest

from bot.ingest import ingest_papers
from bot.query import parse_query
from bot.search import SearchIndex, SearchIndexError
from bot.storage import Store
from tests.papers import NOW, seed_papers


async def test_a_busy_index_does_not_lose_papers_they_are_indexed_on_the_next_catch_up(
    store: Store, index: SearchIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_catch_up = index.catch_up

    async def busy(store: Store) -> int:
        raise SearchIndexError("another process is writing the index")

    monkeypatch.setattr(index, "catch_up", busy)
    report = await ingest_papers(store, index, seed_papers(), now=NOW)
    assert report.inserted == len(seed_papers())
    assert await store.count_papers() == len(seed_papers())

    monkeypatch.setattr(index, "catch_up", real_catch_up)
    await ingest_papers(store, index, [], now=NOW)
    page = index.search(parse_query("attention sinks"))
    assert [hit.all_terms for hit in page.hits].count(True) == 1


async def test_reingesting_the_same_batch_changes_nothing(store: Store, index: SearchIndex) -> None:
    await ingest_papers(store, index, seed_papers(), now=NOW)
    again = await ingest_papers(store, index, seed_papers(), now=NOW)
    assert (again.inserted, again.updated) == (0, 0)
    assert index.num_docs == len(seed_papers())
