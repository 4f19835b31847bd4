"""Loopback load test: many digests falling due at once, posted by 1, 2 and 4 workers, one of
them SIGKILLed midway.

    PAPERBOY_TEST_DATABASE_URL=postgresql://… .venv/bin/python -m bench.scale_out
    .venv/bin/python -m bench.scale_out --sqlite --channels 2000 --workers 1 2

Each worker is a real ``paperboy run --slack-http`` process (ticking every second, digest leases
of 5 s); Slack is the test suite's fake Slack on 127.0.0.1, taking 50 ms to answer each post. The
channels all fall due in the same minute; when half of them are posted, one worker is SIGKILLed
(with one worker, a replacement starts, as a process manager would). Prints, per worker count:
posts/s (first post to last), missing (must be 0) and duplicates (a post Slack answered twice;
only possible inside the window between a post and its record), and the posts in flight when
the worker died (those Slack never answered, so never posted).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.storage import Store, utc_now
from tests.processes import StartWorker, Worker, workers_on
from tests.slack.fake_slack import Call, FakeSlack

TEAM = "T0001"
STALL_S = 60.0  # no new post for this long: give up and count what is missing


@dataclass(frozen=True, slots=True)
class Result:
    workers: int
    channels: int
    seconds: float
    posted: int
    duplicates: int
    in_flight_at_kill: int

    @property
    def missing(self) -> int:
        return self.channels - self.posted

    def line(self) -> str:
        return (
            f"{self.workers} worker(s): {self.posted / self.seconds:7.1f} posts/s  "
            f"({self.posted:,} channels in {self.seconds:.1f} s)  missing {self.missing}  "
            f"duplicates {self.duplicates}  in flight when killed {self.in_flight_at_kill}"
        )


async def add_due_channels(store: Store, count: int) -> None:
    """``count`` channels with a daily digest at this minute (UTC), set up the day before."""
    now = utc_now()
    async with store.transaction() as tx:
        await tx.execute_many(
            "INSERT INTO channels (platform, workspace, channel, timezone, digest_time, "
            "digest_days, schedule_set, created_at) "
            "VALUES ('slack', ?, ?, 'UTC', ?, 'daily', ?, ?)",
            [(TEAM, f"C{n:06d}", now.time().replace(second=0, microsecond=0), True,
              now - timedelta(days=1)) for n in range(count)],
        )  # fmt: skip


def posts(fake: FakeSlack) -> Counter[str]:
    return Counter(c.params["channel"] for c in fake.answered if c.method == "chat.postMessage")


def in_flight(fake: FakeSlack, worker: Worker) -> int:
    """Posts ``worker`` sent that Slack never answered: it was killed while they were on their
    way, so they were not posted (another worker posts them once it takes the claims over)."""

    def mine(calls: list[Call]) -> int:
        return sum(c.method == "chat.postMessage" and c.token == worker.token for c in calls)

    return mine(fake.calls) - mine(fake.answered)


async def one_run(database: str, workers: int, channels: int, post_delay: float) -> Result:
    fake = await FakeSlack.start()
    fake.delays["chat.postMessage"] = post_delay
    store = await Store.open(database)
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        try:
            async with workers_on(database, fake, Path(folder), PAPERBOY_DIGEST_LEASE="5") as start:
                running = await asyncio.gather(*(start(f"w{n}") for n in range(workers)))
                await add_due_channels(store, channels)
                return await _watch(fake, start, running, channels)
        finally:
            await store.close()
            await fake.close()


async def _watch(
    fake: FakeSlack, start: StartWorker, running: list[Worker], channels: int
) -> Result:
    first = last = 0.0
    killed: Worker | None = None
    seen = 0
    stalled_since = time.monotonic()
    while True:
        await asyncio.sleep(0.05)
        posted = len(posts(fake))
        now = time.monotonic()
        if posted > seen:
            first = first or now
            last, seen, stalled_since = now, posted, now
        if killed is None and posted >= channels // 2:
            killed = running[0]
            killed.process.send_signal(signal.SIGKILL)
            await killed.process.wait()
            if len(running) == 1:
                await start("replacement")
        if posted >= channels or now - stalled_since > STALL_S:
            break
    await asyncio.sleep(3)  # a second copy of anything would be out by now
    lost = in_flight(fake, killed) if killed is not None else 0
    counted = posts(fake)
    duplicates = sum(n - 1 for n in counted.values())
    return Result(len(running), channels, last - first, len(counted), duplicates, lost)


def scratch_postgres(admin_url: str) -> tuple[str, str]:
    """A new database on ``admin_url``'s cluster: its name, and its URL (workers take a URL)."""
    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, urlsplit(admin_url)._replace(path=f"/{name}").geturl()


def drop_postgres(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


async def main(args: argparse.Namespace) -> None:
    backend = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"{backend}, {args.channels:,} channels due in one minute, "
          f"Slack answering each post in {args.post_delay * 1000:.0f} ms, "
          f"one worker SIGKILLed at half")  # fmt: skip
    for count in args.workers:
        if args.sqlite:
            with tempfile.TemporaryDirectory(dir="/tmp") as folder:
                result = await one_run(str(Path(folder) / "scale.db"), count, args.channels,
                                       args.post_delay)  # fmt: skip
        else:
            name, url = scratch_postgres(args.postgres)
            try:
                result = await one_run(url, count, args.channels, args.post_delay)
            finally:
                drop_postgres(args.postgres, name)
        print(result.line(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--post-delay", type=float, default=0.05)
    parser.add_argument("--sqlite", action="store_true", help="one SQLite file instead")
    parser.add_argument(
        "--postgres", default=os.environ.get("PAPERBOY_TEST_DATABASE_URL", ""),
        help="a PostgreSQL cluster to make a scratch database on (default: "
        "$PAPERBOY_TEST_DATABASE_URL)",
    )  # fmt: skip
    parsed = parser.parse_args()
    if not parsed.sqlite and not parsed.postgres:
        parser.error("give --postgres URL (or set PAPERBOY_TEST_DATABASE_URL), or --sqlite")
    asyncio.run(main(parsed))
