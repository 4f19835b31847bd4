"""Many workers on one database: fan-outs that survive SIGKILL, jobs once per cluster, shared
request keys."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.commands import Paperboy
from bot.delivery import LEASE, DigestDelivery
from bot.ingest import ingest_papers
from bot.leases import JobLeases, shared_lock
from bot.models import ChannelRef
from bot.replies import Command
from bot.search import SearchIndex
from bot.storage import Store
from tests.papers import seed_papers
from tests.test_delivery import RecordingPoster

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 10, 27, 0, 0, tzinfo=UTC)  # a Tuesday: daily picks only
DUE = START + timedelta(hours=9)

# A worker in its own process, posting slowly (20 ms a post) and printing each post the moment
# it goes out, as a chat platform would have it.
_DOOMED_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import datetime
    from bot.delivery import DigestDelivery
    from bot.storage import Store

    class SlowPoster:
        platform = "slack"
        async def post(self, channel, reply):
            await asyncio.sleep(0.02)
            print(channel.channel, flush=True)

    async def main(db, due):
        store = await Store.open(db)
        delivery = DigestDelivery(store, {"slack": SlowPoster()}, worker="doomed",
                                  concurrency=2, claim_batch=8)
        await delivery.run_due(datetime.fromisoformat(due))

    asyncio.run(main(*sys.argv[1:]))
    """
)


async def test_a_worker_killed_mid_fan_out_loses_nothing_and_repeats_only_unrecorded_posts(
    tmp_path: Path, store: Store, index: SearchIndex
) -> None:
    setup = Paperboy(store, index, clock=lambda: START - timedelta(days=1))
    channels = [ChannelRef("slack", "T1", f"c{n:02d}") for n in range(40)]
    for channel in channels:
        await setup.handle(Command(channel, "admin", "schedule 09:00 UTC daily"))
    await ingest_papers(store, index, seed_papers(START), now=START)
    worker = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", _DOOMED_WORKER, str(store.location), DUE.isoformat()),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )
    assert worker.stdout is not None
    killed_posted: set[str] = set()
    try:
        while len(killed_posted) < 10 and (line := await worker.stdout.readline()):
            killed_posted.add(line.decode().strip())
        worker.send_signal(signal.SIGKILL)
        rest, _ = await worker.communicate()
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    killed_posted |= set(rest.decode().split())
    assert worker.returncode == -signal.SIGKILL
    assert 10 <= len(killed_posted) < 40, "the worker was to die in the middle of the fan-out"
    recorded = await _recorded(store)

    survivor = RecordingPoster("slack")
    delivery = DigestDelivery(store, {"slack": survivor}, worker="survivor")
    # Before the dead worker's leases run out, only what it had not claimed yet goes out.
    early = await delivery.run_due(DUE + timedelta(seconds=30))
    early_posted = {ch.channel for ch, _, _ in survivor.posts}
    assert early.taken_over == 0 and not early_posted & killed_posted
    held = await _held_by(store, "doomed")
    assert held, "the dead worker held claims when it died"
    late = await delivery.run_due(DUE + 2 * LEASE)
    reposted = {ch.channel for ch, _, _ in survivor.posts}

    assert killed_posted | reposted == {c.channel for c in channels}  # nothing lost
    assert len(survivor.posts) == len(reposted)  # the survivor posted each once
    assert not reposted & recorded  # a recorded post is never repeated
    duplicates = reposted & killed_posted
    assert duplicates <= killed_posted - recorded  # only posts inside the unrecorded window
    assert late.taken_over == len(held)


async def _held_by(store: Store, worker: str) -> set[str]:
    return await _channels_of_runs(store, "d.status = 'claimed' AND d.claimed_by = ?", (worker,))


async def _recorded(store: Store) -> set[str]:
    return await _channels_of_runs(store, "d.status = 'done'")


async def _channels_of_runs(store: Store, where: str, params: tuple[str, ...] = ()) -> set[str]:
    async with store.transaction() as tx:
        rows = await tx.fetchall(
            "SELECT c.channel FROM digest_runs d JOIN channels c ON c.id = d.channel_id "
            f"WHERE {where}",
            params,
        )
    return {row[0] for row in rows}


async def test_a_job_runs_once_per_firing_across_workers_and_again_when_its_holder_died(
    store: Store,
) -> None:
    now = [START]
    runs: list[str] = []
    workers = [JobLeases(store, holder=name, clock=lambda: now[0]) for name in ("a", "b", "c")]

    async def fetch(name: str) -> str:
        runs.append(name)
        await asyncio.sleep(0.01)
        return name

    gap = timedelta(minutes=30)
    results = await asyncio.gather(*(w.run_once("fetch-hf", gap, lambda n=w.holder: fetch(n))
                                     for w in workers))  # fmt: skip
    assert len(runs) == 1 and sorted(map(str, results)) == ["None", "None", runs[0]]
    now[0] += timedelta(minutes=10)  # another process's firing, soon after: the same run
    assert await workers[1].run_once("fetch-hf", gap, lambda: fetch("b")) is None
    now[0] += timedelta(minutes=30)
    assert await workers[2].run_once("fetch-hf", gap, lambda: fetch("c")) == "c"

    # A holder that died keeps its lease until it runs out, then anyone takes over.
    assert await store.take_job_lease("scan", "dead", now[0], now[0] + LEASE, gap)
    assert await workers[0].run_once("scan", gap, lambda: fetch("a")) is None
    now[0] += LEASE + gap
    assert await workers[0].run_once("scan", gap, lambda: fetch("a")) == "a"


async def test_a_request_key_is_handled_once_until_it_expires(store: Store, tmp_path: Path) -> None:
    other = await Store.open(store.location)  # another worker on the same database
    try:
        ttl = timedelta(minutes=5)
        assert await store.claim_request_key("slack:retry:Ev1", START, ttl)
        assert not await other.claim_request_key(
            "slack:retry:Ev1", START + timedelta(seconds=3), ttl
        )
        assert await other.claim_request_key(
            "slack:retry:Ev1", START + ttl + timedelta(seconds=1), ttl
        )
        # A per-message lock: released when the work is done, free again at once.
        assert await store.claim_request_key("lock:C1:1700.01", START, ttl)
        await store.release_request_key("lock:C1:1700.01")
        assert await other.claim_request_key("lock:C1:1700.01", START, ttl)
        assert await store.sweep_request_keys(START + timedelta(hours=1)) == 2
    finally:
        await other.close()


async def test_a_shared_lock_lets_one_worker_at_a_time_through(store: Store) -> None:
    other = await Store.open(store.location)  # another worker on the same database
    inside: list[str] = []
    order: list[str] = []

    async def redraw(on: Store, name: str) -> None:
        async with shared_lock(on, "slack:C1:1700.000100", wait=5):
            inside.append(name)
            assert len(inside) == 1, "two workers inside the lock at once"
            order.append(name)
            await asyncio.sleep(0.05)
            inside.remove(name)

    try:
        await asyncio.gather(redraw(store, "a"), redraw(other, "b"), redraw(store, "c"))
        assert sorted(order) == ["a", "b", "c"]
        async with shared_lock(store, "held", wait=5):
            with pytest.raises(TimeoutError):
                async with shared_lock(other, "held", wait=0.1):
                    pass
    finally:
        await other.close()
