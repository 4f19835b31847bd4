"""Issue 11's "done when", with real processes: two ``paperboy run --slack-http`` workers on one
PostgreSQL database (their SQLite path unusable), a fake Slack on 127.0.0.1 that both post to,
and the command line ingesting beside them. The same story holds on one SQLite file shared by
workers on one machine (they share its search index too); the restart is PostgreSQL's alone.

Workers tick every second and take a dead worker's digest claims over after 3 s
(``PAPERBOY_DELIVERY_EVERY``, ``PAPERBOY_DIGEST_LEASE``; a minute each by default), so the
whole story fits in seconds.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.commands import Paperboy
from bot.ingest import ingest_papers
from bot.models import ChannelRef
from bot.replies import Command, Notice
from bot.search import SearchIndex
from bot.storage import Store, utc_now
from tests.papers import seed_papers
from tests.processes import ROOT, Worker, worker_env, workers_on, workspace
from tests.slack.fake_slack import FakeSlack
from tests.slack.workspace import CHANNEL, TEAM, Workspace

HF_DAY = ROOT / "tests" / "fixtures" / "hf" / "daily_papers_2026-11-26.json"
PAPER = "0001.00001"  # the first seed paper, on the shared list the votes go to


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def seeded(database_url: str, folder: Path, now: datetime) -> Store:
    """The test's own connection, with papers the workers index when they start."""
    store = await Store.open(database_url)
    await ingest_papers(store, SearchIndex.open(folder / "setup.index"), seed_papers(now), now=now)
    return store


async def schedule_channels(store: Store, folder: Path, names: list[str], at: datetime) -> None:
    """Channels with a daily digest at ``at``'s minute (UTC), set up the day before."""
    setup = Paperboy(store, SearchIndex.open(folder / "setup.index"),
                     clock=lambda: at - timedelta(days=1))  # fmt: skip
    for name in names:
        reply = await setup.handle(
            Command(ChannelRef("slack", TEAM, name), "admin", f"schedule {at:%H:%M} UTC daily")
        )
        assert isinstance(reply, Notice) and reply.kind == "success", reply


def posts_by_channel(fake: FakeSlack) -> Counter[str]:
    """Digest posts Slack answered (a caller killed mid-request posted nothing)."""
    return Counter(
        call.params["channel"] for call in fake.answered if call.method == "chat.postMessage"
    )


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    """Seconds until ``check`` holds; fails after ``within``."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            pytest.fail(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture(params=["postgresql", "sqlite"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """The database the workers share, and the settings every process there needs."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_database")), {}
    # One SQLite file, so the workers share a machine: they share its search index too.
    return str(tmp_path / "paperboy.db"), {"PAPERBOY_INDEX": str(tmp_path / "shared.index")}


async def test_two_workers_count_split_votes_search_new_papers_and_survive_a_sigkill(
    shared: tuple[str, dict[str, str]], fake_slack: FakeSlack, http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:  # fmt: skip
    database, settings = shared
    store = await seeded(database, tmp_path, utc_now())
    try:
        async with workers_on(database, fake_slack, tmp_path, **settings) as start:
            one, two = await asyncio.gather(start("one"), start("two"))
            slack_one, slack_two = (workspace(http, fake_slack, w) for w in (one, two))
            await _votes_split_across_workers_count_exactly(store, slack_one, slack_two)
            cli = worker_env(database, fake_slack, tmp_path, "cli", **settings)
            await _a_paper_ingested_by_the_command_line_is_found_on_both(
                tmp_path, cli, slack_one, slack_two
            )
            await _each_digest_goes_out_once_though_its_worker_is_killed(
                store, tmp_path, fake_slack, one, two
            )
    finally:
        await store.close()


async def _votes_split_across_workers_count_exactly(
    store: Store, slack_one: Workspace, slack_two: Workspace
) -> None:
    answer = (await slack_one.command("search attention --share")).json()
    message = {"ts": "1700000000.000100", "blocks": answer["blocks"], "text": answer["text"]}
    users = [f"U{n:04d}" for n in range(40)]
    clicks = [slack_one.click_payload(message, PAPER, user=user) for user in users]
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    # Half the clicks reach one worker, half the other, and Slack retries each on the other.
    sent = [
        (slack_one, slack_two)[n % 2].action(click) for n, click in enumerate(clicks)
    ] + [(slack_two, slack_one)[n % 2].action(click, headers=retry)
         for n, click in enumerate(clicks)]  # fmt: skip
    answers = await asyncio.gather(*sent)
    assert {a.status for a in answers} == {200}

    here = ChannelRef("slack", TEAM, CHANNEL)

    async def counted() -> bool:
        return (await store.vote_counts(here, [PAPER])).get(PAPER, 0) >= len(users)

    await eventually(counted, 20, "40 votes counted")
    await asyncio.sleep(1)  # anything still being handled has landed by now
    assert (await store.vote_counts(here, [PAPER]))[PAPER] == len(users)


async def _a_paper_ingested_by_the_command_line_is_found_on_both(
    folder: Path, env: dict[str, str], *workers: Workspace
) -> None:
    async def found_on_both() -> bool:
        answers = await asyncio.gather(*(w.command("search croco stereo") for w in workers))
        return all("CroCo v2" in answer.text for answer in answers)

    assert not await found_on_both(), "the paper is new to every worker"
    ingest = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters", "ingest", "hf", "--file", str(HF_DAY),
        cwd=folder, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await ingest.communicate()
    assert ingest.returncode == 0, output.decode()

    waited = await eventually(found_on_both, 5, "the new paper found by search on both workers")
    print(f"new paper searchable on both workers after {waited:.2f} s")


async def _each_digest_goes_out_once_though_its_worker_is_killed(
    store: Store, folder: Path, fake: FakeSlack, *workers: Worker
) -> None:
    fake.delays["chat.postMessage"] = 0.5  # posts in flight when the worker dies
    channels = [f"CD{n:03d}" for n in range(20)]
    await schedule_channels(store, folder, channels, utc_now())  # due as they are set up

    # Killed as the first post arrives (not on a poll that may come after Slack answered it):
    # its posts are then in flight, not in the duplicate window between answer and record.
    first_post, *_ = await fake.wait_for("chat.postMessage", within=20)
    poster = first_post.token
    victim, survivor = sorted(workers, key=lambda w: w.token != poster)
    victim.process.send_signal(signal.SIGKILL)
    assert await victim.process.wait() == -signal.SIGKILL

    async def all_posted() -> bool:
        return set(posts_by_channel(fake)) >= set(channels)

    await eventually(all_posted, 30, f"every digest posted\n{survivor.tail()}")
    await asyncio.sleep(2)  # any second copy would be on its way by now
    posts = posts_by_channel(fake)
    assert {channel: posts[channel] for channel in channels} == dict.fromkeys(channels, 1)
    tried_by_victim = {c.params["channel"] for c in fake.calls
                       if c.method == "chat.postMessage" and c.token == victim.token}  # fmt: skip
    assert tried_by_victim, "the killed worker was posting when it died"
    print(f"killed with {len(tried_by_victim)} posts in flight; all {len(channels)} posted once")
    assert survivor.process.returncode is None, survivor.tail()


# -- a PostgreSQL restart while workers run ---------------------------------------------------


@pytest.fixture
def own_cluster() -> Iterator[tuple[Path, str]]:
    """A PostgreSQL cluster of this test's own (it is stopped and started again), under /tmp
    so the server's user can reach it."""
    folder = Path(tempfile.mkdtemp(prefix="paperboy-restart-", dir="/tmp"))
    script = str(ROOT / "scripts" / "pg-cluster")
    started = subprocess.run([script, "start", str(folder)], capture_output=True, text=True)
    if started.returncode != 0:
        pytest.skip(f"cannot start a PostgreSQL cluster: {started.stderr.strip()[-300:]}")
    try:
        yield folder, started.stdout.strip().split("=", 1)[1]
    finally:
        subprocess.run([script, "stop", str(folder)], capture_output=True)


def pg_cluster(command: str, folder: Path) -> None:
    subprocess.run([str(ROOT / "scripts" / "pg-cluster"), command, str(folder)], check=True)


async def test_workers_ride_out_a_postgresql_restart_and_post_what_fell_due_meanwhile(
    own_cluster: tuple[Path, str], fake_slack: FakeSlack, http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:  # fmt: skip
    folder, database_url = own_cluster
    now = utc_now()
    # Digests due at the next minute (or the one after, to leave time to stop the server).
    due = (now + timedelta(seconds=75 if now.second > 40 else 60)).replace(second=0, microsecond=0)
    store = await seeded(database_url, tmp_path, now)
    try:
        channels = [f"CR{n:03d}" for n in range(5)]
        await schedule_channels(store, tmp_path, channels, due)
        async with workers_on(database_url, fake_slack, tmp_path) as start:
            workers = await asyncio.gather(start("one"), start("two"))
            await asyncio.sleep(max((due - utc_now()).total_seconds() - 8, 0))
            assert not posts_by_channel(fake_slack), "nothing is due yet"
            await asyncio.to_thread(pg_cluster, "down", folder)
            await asyncio.sleep(max((due - utc_now()).total_seconds() + 3, 0))  # due, server away
            assert not posts_by_channel(fake_slack)
            await asyncio.to_thread(pg_cluster, "up", folder)

            async def all_posted() -> bool:
                return set(posts_by_channel(fake_slack)) >= set(channels)

            waited = await eventually(all_posted, 45, "the digests due during the outage")
            print(f"digests due during the outage posted {waited:.1f} s after the restart")
            await asyncio.sleep(2)
            assert posts_by_channel(fake_slack) == dict.fromkeys(channels, 1)
            for worker in workers:
                assert worker.process.returncode is None, worker.tail()
                answer = await workspace(http, fake_slack, worker).command("search attention")
                assert "Attention" in answer.text, answer.text
    finally:
        await store.close()
