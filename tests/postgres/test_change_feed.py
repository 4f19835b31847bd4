"""The papers change feed every worker's search index follows, under concurrent writers."""

from __future__ import annotations

import asyncio
import random

import psycopg
import pytest

from bot.pgmigrate import migrate

_INSERT = (
    "INSERT INTO papers (id, title, abstract, authors, published, first_seen) "
    "VALUES (%s, %s, 'abstract', '[\"A. Author\"]', now(), now()) "
    "ON CONFLICT (id) DO UPDATE SET title = excluded.title"
)


@pytest.fixture
async def feed_url(pg_url: str) -> str:
    await migrate(pg_url)
    return pg_url


async def _seqs(url: str) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute("SELECT id, change_seq FROM papers")
        return {str(row[0]): int(row[1]) for row in await cursor.fetchall()}


async def test_a_write_committed_later_never_gets_a_smaller_seq(feed_url: str) -> None:
    async with (
        await psycopg.AsyncConnection.connect(feed_url) as first,
        await psycopg.AsyncConnection.connect(feed_url) as second,
    ):
        await first.execute(_INSERT, ("2401.00001", "first"))
        blocked = asyncio.create_task(second.execute(_INSERT, ("2401.00002", "second")))
        done, _ = await asyncio.wait({blocked}, timeout=0.5)
        assert not done, "a second writer drew a number while the first was still open"

        await first.commit()
        await blocked
        await second.commit()

    seqs = await _seqs(feed_url)
    assert seqs["2401.00002"] > seqs["2401.00001"]


async def _writer(url: str, name: str, ids: list[str], rounds: int) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for round_ in range(rounds):
            for paper_id in sorted(random.sample(ids, 3)):  # one order: no deadlocks
                await conn.execute(_INSERT, (paper_id, f"{name} round {round_}"))
                await asyncio.sleep(random.uniform(0, 0.004))  # hold the transaction open
            await conn.commit()


async def test_a_reader_following_the_feed_misses_no_change(feed_url: str) -> None:
    ids = [f"2402.{n:05d}" for n in range(40)]
    seen: dict[str, int] = {}
    cursor_seq = 0

    async def read(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        nonlocal cursor_seq
        cursor = await conn.execute(
            "SELECT id, change_seq FROM papers WHERE change_seq > %s ORDER BY change_seq",
            (cursor_seq,),
        )
        for paper_id, seq in await cursor.fetchall():
            seen[str(paper_id)] = int(str(seq))
            cursor_seq = int(str(seq))

    writers = asyncio.gather(*(_writer(feed_url, f"w{n}", ids, 15) for n in range(4)))
    async with await psycopg.AsyncConnection.connect(feed_url, autocommit=True) as reader:
        while not writers.done():
            await read(reader)
            await asyncio.sleep(0.001)
        await writers
        await read(reader)

    # The reader's last view of each paper is the paper as it stands: nothing slipped behind it.
    assert seen == await _seqs(feed_url)


async def test_an_update_that_changes_nothing_is_not_a_change(feed_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(feed_url, autocommit=True) as conn:
        await conn.execute(_INSERT, ("2403.00001", "same"))
        before = await _seqs(feed_url)

        await conn.execute("UPDATE papers SET title = 'same'")
        assert await _seqs(feed_url) == before

        await conn.execute("UPDATE papers SET title = 'new'")
        assert (await _seqs(feed_url))["2403.00001"] > before["2403.00001"]


async def test_listeners_hear_of_committed_changes_only(feed_url: str) -> None:
    async with (
        await psycopg.AsyncConnection.connect(feed_url, autocommit=True) as listener,
        await psycopg.AsyncConnection.connect(feed_url) as writer,
    ):
        await listener.execute("LISTEN paper_changes")

        await writer.execute(_INSERT, ("2404.00001", "rolled back"))
        await writer.rollback()
        assert [n async for n in listener.notifies(timeout=0.3)] == []

        await writer.execute(_INSERT, ("2404.00002", "kept"))
        await writer.execute(_INSERT, ("2404.00003", "kept too"))
        await writer.commit()
        heard = [n.channel async for n in listener.notifies(timeout=1.0, stop_after=1)]
        assert heard == ["paper_changes"]
