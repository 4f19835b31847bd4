"""Background work once per cluster, not once per process: leases on jobs in the database.

APScheduler fires every job in every process. Before a firing does its work it takes the job's
lease (one ``INSERT … ON CONFLICT DO UPDATE … WHERE`` the old lease ran out); the processes that
lose skip that firing. The holder renews the lease every third of its length while it works and
ends it when done; a holder that dies simply stops renewing, and the next firing anywhere after
the lease ran out takes over. ``min_gap`` keeps a firing that comes a little later in another
process (each process's interval jobs start when that process did) from running the job again.

Chosen over a job queue (procrastinate): the jobs are periodic and idempotent, so a lease row
per job is all the coordination they need, and SQLite, the embedded default, keeps working
unchanged (procrastinate is PostgreSQL only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from bot import metrics
from bot.storage import Store, utc_now

log = logging.getLogger(__name__)

JOB_LEASE = timedelta(seconds=60)
T = TypeVar("T")


def worker_id() -> str:
    """This process's name in claims and leases: host, pid and a random tag (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class JobLeases:
    store: Store
    holder: str = field(default_factory=worker_id)
    clock: Callable[[], datetime] = utc_now
    lease: timedelta = JOB_LEASE

    async def run_once(
        self, job: str, min_gap: timedelta, work: Callable[[], Awaitable[T]]
    ) -> T | None:
        """Run ``work`` if this process wins the job's lease for this firing; None if another
        process holds it, or ran the job less than ``min_gap`` ago."""
        fired = self.clock()
        if not await self.store.take_job_lease(
            job, self.holder, fired, fired + self.lease, min_gap
        ):
            log.debug("%s: another worker runs this firing", job)
            metrics.JOB_RUNS.labels(job=job, outcome="skipped").inc()
            return None
        renewing = asyncio.create_task(self._renew(job))
        try:
            result = await work()
        except BaseException:
            metrics.JOB_RUNS.labels(job=job, outcome="failed").inc()
            raise
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            await asyncio.shield(self.store.release_job_lease(job, self.holder, self.clock()))
        metrics.JOB_RUNS.labels(job=job, outcome="ran").inc()
        metrics.JOB_LAST_SUCCESS.labels(job=job).set(time.time())
        return result

    async def _renew(self, job: str) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                held = await self.store.renew_job_lease(job, self.holder, self.clock() + self.lease)
            except Exception as error:  # the next renewal may work; the lease has slack
                log.warning("%s: could not renew the job lease: %r", job, error)
                continue
            if not held:
                log.warning("%s: lost the job lease (renewals came too late); another worker "
                            "may run this job at the same time", job)  # fmt: skip


@contextlib.asynccontextmanager
async def shared_lock(
    store: Store,
    key: str,
    *,
    ttl: timedelta = timedelta(seconds=30),
    wait: float = 10.0,
    poll: float = 0.05,
    clock: Callable[[], datetime] = utc_now,
) -> AsyncIterator[None]:
    """Hold ``key`` across every worker on the database (a per-message lock: one vote redraw at
    a time per message, whichever worker took the click). Waits up to ``wait`` seconds, then
    raises TimeoutError; a holder that died frees the key after ``ttl``."""
    deadline = time.monotonic() + wait
    while not await store.claim_request_key(f"lock:{key}", clock(), ttl):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{key} stayed locked for {wait:.0f} s")
        await asyncio.sleep(poll)
    try:
        yield
    finally:
        await asyncio.shield(store.release_request_key(f"lock:{key}"))
