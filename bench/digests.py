"""Benchmark: compute (and "post") the daily picks for many channels against a day's new papers.

    .venv/bin/python bench/digests.py                   # 10,000 channels x 3 topics, 2,000 papers
    .venv/bin/python bench/digests.py --channels 1000  # a quick run
    .venv/bin/python bench/digests.py --postgres "$PAPERBOY_TEST_DATABASE_URL"  # on PostgreSQL

Goes through the same path as the scheduler (``DigestDelivery.run_due``: queue, batched claims,
batched records) with a poster that only counts, on a real SQLite file (or a scratch PostgreSQL
database) and a real Tantivy index.
Prints wall time, peak memory, and the record lag: how long each posted digest waited between its
post and its record committing (a worker killed inside that window gets it posted again).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import resource
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import Corpus, Vocabulary
from bot.delivery import DigestDelivery
from bot.ingest import ingest_papers
from bot.models import ChannelRef
from bot.replies import Reply
from bot.search import SearchIndex
from bot.storage import Store

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


class CountingPoster:
    platform = "slack"

    def __init__(self) -> None:
        self.posts = 0

    async def post(self, channel: ChannelRef, reply: Reply) -> None:
        self.posts += 1


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _topics(vocabulary: Vocabulary, rng: random.Random, count: int) -> list[str]:
    """Topics like teams write them: a word or two, a phrase, a category, sometimes an OR."""
    common = vocabulary.words[50:3000]
    cats = ["cs.CL", "cs.LG", "cs.CV", "cs.IR", "stat.ML", "cs.RO"]
    topics = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.4:
            topics.append(" ".join(rng.sample(common, rng.choice((1, 2)))))
        elif kind < 0.6:
            topics.append('"' + " ".join(rng.sample(common, 2)) + '"')
        elif kind < 0.8:
            topics.append(f"{rng.choice(common)} cat:{rng.choice(cats)}")
        else:
            topics.append(f"{rng.choice(common)} OR {rng.choice(common)}")
    return topics


async def main(
    channels: int, topics_per_channel: int, papers: int, distinct: int, postgres: str | None
) -> None:
    rng = random.Random(3)
    vocabulary = Vocabulary.load()
    corpus = Corpus(vocabulary)
    with tempfile.TemporaryDirectory() as folder, _database(folder, postgres) as database:
        store = await Store.open(database)
        index = SearchIndex.open(Path(folder) / "bench.index")
        fresh = [replace(p, published=NOW - timedelta(hours=rng.uniform(1, 20)), first_seen=None,
                         hf_upvotes=rng.randint(0, 300), on_hf=True)
                 for batch in corpus.batches(papers, 1000) for p in batch]  # fmt: skip
        await ingest_papers(store, index, fresh, now=NOW - timedelta(hours=1))

        started = time.perf_counter()
        pool = _topics(vocabulary, rng, distinct)
        async with store.transaction() as db:
            for n in range(channels):
                row = await db.fetchone(
                    "INSERT INTO channels (platform, workspace, channel, created_at, schedule_set) "
                    "VALUES ('slack', ?, ?, ?, ?) RETURNING id",
                    (f"T{n % 500}", f"C{n}", NOW - timedelta(hours=2), True),
                )
                assert row is not None
                await db.execute_many(
                    "INSERT INTO subscriptions (channel_id, query, created_by, created_at) "
                    "VALUES (?, ?, 'U', ?)",
                    [(row[0], topic, datetime(2026, 1, 1, tzinfo=UTC))
                     for topic in rng.sample(pool, topics_per_channel)],
                )  # fmt: skip
        setup = time.perf_counter() - started

        poster = CountingPoster()
        delivery = DigestDelivery(store, {"slack": poster}, concurrency=16)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        report = await delivery.run_due(NOW + timedelta(minutes=1))
        elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        await store.close()

    print(f"database               {'PostgreSQL' if postgres else 'SQLite':>10}")
    print(f"channels               {channels:>10,}")
    print(f"topics per channel     {topics_per_channel:>10}  ({distinct:,} distinct in the pool)")
    print(f"new papers             {papers:>10,}")
    print(f"setup (channels+topics){setup:>10.2f} s")
    print(f"digest run             {elapsed:>10.2f} s  ({report})")
    print(f"CPU (all threads)      {cpu:>10.2f} s  (wall minus this: waiting, or a busy machine)")
    print(f"per channel            {elapsed / channels * 1000:>10.2f} ms")
    print(f"posts                  {poster.posts:>10,}")
    lag = sorted(report.record_lag)
    if lag:
        p99 = lag[int(len(lag) * 0.99) - 1]
        median = statistics.median(lag) * 1000
        print(f"record lag (ms)        median {median:.1f}, p99 {p99 * 1000:.1f}, "
              f"max {lag[-1] * 1000:.1f}  (the duplicate window)")  # fmt: skip
    grown = (rss_after - rss_before) / 1024
    print(f"peak RSS               {rss_after / 1024:>10.0f} MiB (+{grown:.0f} MiB during the run)")


@contextlib.contextmanager
def _database(folder: str, postgres: str | None) -> Iterator[Path | str]:
    """A SQLite file in ``folder``, or a new database on the ``postgres`` cluster (dropped)."""
    if not postgres:
        yield Path(folder) / "bench.db"
        return
    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(postgres)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(postgres, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--topics", type=int, default=3)
    parser.add_argument("--papers", type=int, default=2_000)
    parser.add_argument("--distinct-topics", type=int, default=5_000)
    parser.add_argument("--postgres", help="a PostgreSQL cluster URL to make a scratch database on")
    args = parser.parse_args()
    asyncio.run(main(args.channels, args.topics, args.papers, args.distinct_topics, args.postgres))
