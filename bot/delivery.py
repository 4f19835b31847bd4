"""Posting due digests once, on one process or shared by many workers on one database.

1. **Queue.** A scan of every channel's schedule inserts one ``due`` row per digest that fell due
   (the row's key, channel + kind + period, is what makes a digest go out once). With many
   workers, one of them scans per tick (the ``deliver`` job lease, see ``bot.leases``).
2. **Claim.** Each worker claims queued rows of the platforms it is connected to, in batches,
   with one statement (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), stamping its name and a lease
   it renews every third of the lease while it works.
3. **Post, then record.** Outcomes go to a buffered recorder that writes them (and the papers
   posted) every ``flush_every`` outcomes or ``flush_after`` seconds, one transaction a batch.

What can go wrong, and what happens:

- A post fails before anything was delivered (error, timeout, stop): the claim is given back
  and the next tick posts it. A permanent failure is recorded and counts towards pausing.
- A worker is killed (SIGKILL, a lost machine): its claims' leases run out and whichever worker
  claims next takes them over and posts them. Nothing is lost.
- The one duplicate: a post that went out but whose outcome was still in the recorder's buffer
  when the worker died is posted again by the worker that takes the claim over. That window is
  ``flush_after`` plus one flush per post; ``DeliveryReport.record_lag`` measures it and
  ``bench/digests.py`` prints it. The takeover logs a warning naming the digest.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter as MetricCounter

from bot import metrics
from bot.digests import DAILY, DigestPlanner, weekly_digest
from bot.leases import worker_id
from bot.models import ChannelRef
from bot.ports import DeliveryError, Poster
from bot.records import ChannelSettings, ClaimedDigest, DigestClaim, DigestOutcome
from bot.scheduling import ChannelSchedule, DuePeriod, due_periods
from bot.storage import Store
from bot.vectors import VectorIndex

log = logging.getLogger(__name__)

GRACE = timedelta(hours=6)
PAUSE_AFTER_FAILURES = 3
POST_TIMEOUT = 120.0
LEASE = timedelta(seconds=60)  # renewed every 20 s while held; a dead worker's claims wait this
CLAIM_BATCH = 200
FLUSH_EVERY = 100
FLUSH_AFTER = 0.05  # seconds: the longest a posted digest waits unrecorded, plus one flush
_SOURCE_NAMES = {"hf": "Hugging Face", "arxiv": "arXiv"}
_DAWN = datetime(1970, 1, 1, tzinfo=UTC)  # before any channel was created


@dataclass(frozen=True, slots=True)
class _Job:
    channel_id: int
    ref: ChannelRef
    due: DuePeriod
    top_n: int
    quiet_notice: bool
    had_failures: bool
    since: datetime  # daily picks cover papers new since then

    @property
    def claim(self) -> DigestClaim:
        return DigestClaim(self.channel_id, self.due.kind, self.due.period)


@dataclass
class DeliveryReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    taken_over: int = 0  # claims whose holder stopped before recording them
    # Seconds from each post going out to its record being committed: the duplicate window.
    record_lag: list[float] = field(default_factory=list)

    def __str__(self) -> str:
        text = ", ".join(f"{n} {what}" for what, n in sorted(self.outcomes.items()))
        if self.taken_over:
            text += f" ({self.taken_over} taken over from a stopped worker)"
        return text or "nothing due"


@dataclass
class _Plan:
    """What posting the claimed digests needs, built once per run on the first claim."""

    now: datetime
    jobs: dict[DigestClaim, _Job]
    planner: DigestPlanner
    quiet: str | None


@dataclass
class DigestDelivery:
    """Finds the digests due now and posts them through each platform's poster."""

    store: Store
    posters: Mapping[str, Poster]
    concurrency: int = 8
    grace: timedelta = GRACE
    post_timeout: float = POST_TIMEOUT
    worker: str = field(default_factory=worker_id)
    lease: timedelta = LEASE
    claim_batch: int = CLAIM_BATCH
    flush_every: int = FLUSH_EVERY
    flush_after: float = FLUSH_AFTER
    vectors: VectorIndex | None = None  # lets team picks use paper vectors, when there are any

    async def run_due(self, now: datetime) -> DeliveryReport:
        """Queue what fell due and post whatever this process can claim (one process's tick)."""
        report = DeliveryReport()
        with _long_lived():
            due = _scan(await self.store.scheduled_channels(), now)  # one scan for both steps
        # Something fell due: plan while the queue is written, so topic matching (a thread)
        # overlaps the database work instead of following it.
        planning = asyncio.create_task(self._long_lived_plan(now, due)) if due else None
        try:
            await self.queue_due(now, report, due)
            await self.post_queued(now, report, due, planning)
        finally:
            if planning is not None:
                planning.cancel()
                await asyncio.gather(planning, return_exceptions=True)
        if report.outcomes:
            log.info("digest run at %s: %s", now.isoformat(timespec="minutes"), report)
        return report

    async def queue_due(
        self,
        now: datetime,
        report: DeliveryReport | None = None,
        due: list[tuple[ChannelSettings, DuePeriod]] | None = None,
    ) -> int:
        """Queue every digest due by ``now`` not queued yet; record those past the grace period
        as skipped. Returns how many were queued."""
        report = report or DeliveryReport()
        if due is None:
            due = _scan(await self.store.scheduled_channels(), now)
        # Periods reach back two local days at most, so three days of rows cover them all.
        known = await self.store.digest_runs_claimed_since(now - timedelta(days=3))
        fresh: list[DigestClaim] = []
        missed: dict[DigestClaim, tuple[ChannelRef, DuePeriod]] = {}
        for channel, period in due:
            claim = DigestClaim(channel.id, period.kind, period.period)
            if claim in known:
                continue
            if now - period.due_at > self.grace:
                missed[claim] = (channel.ref, period)
            else:
                fresh.append(claim)
        skipped = [DigestOutcome(c, "skipped", self._missed_detail(d, now)) for c, (_, d) in
                   missed.items()]  # fmt: skip
        for claim in await self.store.skip_digests(skipped, now):
            ref, period = missed[claim]
            log.warning(
                "skipped %s digest %s for %s: due %s, now %s is past the grace period",
                *(period.kind, period.period, ref, period.due_at, now),
            )
            report.outcomes["missed"] += 1
            metrics.DIGESTS.labels(outcome="missed").inc()
        return await self.store.queue_digests(fresh, now) if fresh else 0

    async def post_queued(
        self,
        now: datetime,
        report: DeliveryReport | None = None,
        due: list[tuple[ChannelSettings, DuePeriod]] | None = None,
        planning: asyncio.Task[_Plan] | None = None,
    ) -> None:
        """Claim queued digests (and expired claims) in batches and post them until none are
        left for this process's platforms: ``concurrency`` posts at a time, the next batch
        claimed while the last one is still being posted. ``planning``: the plan already on
        its way (see :meth:`run_due`)."""
        report = report or DeliveryReport()
        started = time.monotonic()

        def clock() -> datetime:  # ``now`` moved on by the time spent here (tests pass a fixed now)
            return now + timedelta(seconds=time.monotonic() - started)

        claimed: asyncio.Queue[ClaimedDigest | None] = asyncio.Queue(self.claim_batch)
        plan: list[_Plan] = []  # built on the first claim: a minute with nothing due costs nothing

        async def feed() -> None:
            while batch := await self._claim(clock()):
                if not plan:
                    plan.append(await (planning or self._long_lived_plan(now, due)))
                for held in batch:
                    await claimed.put(held)

        counters: dict[str, MetricCounter] = {}  # each outcome's metric, looked up once a run

        async def post() -> None:
            while (held := await claimed.get()) is not None:
                outcome = await self._deliver_claimed(held, plan[0], recorder, report)
                report.outcomes[outcome] += 1
                if outcome not in counters:
                    counters[outcome] = metrics.DIGESTS.labels(outcome=outcome)
                counters[outcome].inc()

        recorder = _Recorder(self.store, clock, self.flush_every, self.flush_after)
        async with recorder, _keep_leases(self.store, self.worker, clock, self.lease):
            posters = [asyncio.create_task(post()) for _ in range(self.concurrency)]
            try:
                await feed()
                for _ in posters:
                    await claimed.put(None)
                await asyncio.gather(*posters)
            finally:
                for task in posters:
                    task.cancel()
                await asyncio.gather(*posters, return_exceptions=True)
                await asyncio.shield(self._release_unstarted(claimed))
                gc.unfreeze()
        report.record_lag.extend(recorder.lags)

    async def _release_unstarted(self, claimed: asyncio.Queue[ClaimedDigest | None]) -> None:
        """Give back claims still waiting for a poster (a stop): the next tick posts them."""
        while not claimed.empty():
            held = claimed.get_nowait()
            if held is not None:
                await self.store.release_digest(held.claim)

    async def _claim(self, now: datetime) -> list[ClaimedDigest]:
        return await self.store.claim_digests(
            sorted(self.posters), self.worker, now, now + self.lease, self.claim_batch
        )

    async def _long_lived_plan(
        self, now: datetime, due: list[tuple[ChannelSettings, DuePeriod]] | None
    ) -> _Plan:
        with _long_lived():
            return await self._plan(now, due)

    async def _plan(
        self, now: datetime, due: list[tuple[ChannelSettings, DuePeriod]] | None
    ) -> _Plan:
        if due is None:
            due = _scan(await self.store.scheduled_channels(), now)
        last_daily, quiet = await asyncio.gather(
            self.store.last_digests(DAILY), quiet_reason(self.store, now)
        )
        jobs: dict[DigestClaim, _Job] = {}
        for channel, period in due:
            if channel.ref.platform in self.posters:
                job = _job(channel, period, last_daily.get(channel.id))
                jobs[job.claim] = job
        planner = DigestPlanner(self.store, now, self.vectors)
        daily = [job for job in jobs.values() if job.due.kind == DAILY]
        if daily:
            by_id = await self.store.topics_by_channel()
            topics = {job.ref: by_id[job.channel_id] for job in daily if job.channel_id in by_id}
            await planner.prepare(min(job.since for job in daily), topics)
        return _Plan(now, jobs, planner, quiet)

    async def _deliver_claimed(
        self, held: ClaimedDigest, plan: _Plan, recorder: _Recorder, report: DeliveryReport
    ) -> str:
        job = plan.jobs.get(held.claim)
        if job is None:
            # Paused or unscheduled since it was queued, or queued by a worker whose clock is a
            # little ahead: the next scan queues it again if it is still due.
            await self.store.release_digest(held.claim)
            log.warning("%s is not due here; gave the claim back", held.claim)
            return "released"
        if held.is_takeover:
            report.taken_over += 1
            metrics.DIGESTS_RETRIED.labels(reason="takeover").inc()
            log.warning(
                "taking over %s digest %s for %s (claim %d): the worker holding it stopped "
                "before recording it, and may have posted it already",
                *(job.due.kind, job.due.period, job.ref, held.attempts),
            )
        return await self._deliver(job, plan, recorder)

    async def _deliver(self, job: _Job, plan: _Plan, recorder: _Recorder) -> str:
        kind, claim = job.due.kind, job.claim
        if plan.now - job.due.due_at > self.grace:
            recorder.add(DigestOutcome(claim, "skipped", self._missed_detail(job.due, plan.now)))
            return "missed"
        try:
            if kind == DAILY:
                digest = await plan.planner.daily(job.ref, job.since, job.top_n, plan.quiet)
            else:
                digest = await weekly_digest(self.store, job.ref, plan.now, vectors=self.vectors)
            # An empty weekly digest stays silent; an empty day gets one line unless turned off.
            if digest.is_empty and (kind != DAILY or not job.quiet_notice):
                recorder.add(DigestOutcome(claim, "done", "quiet"))
                return "quiet"
            async with asyncio.timeout(self.post_timeout):
                await self.posters[job.ref.platform].post(job.ref, digest.reply)
        except DeliveryError as error:
            return await self._failed(job, error, recorder)
        except (Exception, asyncio.CancelledError) as error:
            # Nothing was delivered: give the claim back so the next tick (or restart) retries.
            await asyncio.shield(self.store.release_digest(claim))
            if isinstance(error, asyncio.CancelledError):
                raise
            log.warning("%s digest for %s not posted, will retry: %r", kind, job.ref, error)
            metrics.DIGESTS_RETRIED.labels(reason="error").inc()
            return "retry"
        # No await between the post returning and this: a stop cannot fall in between.
        recorder.add(DigestOutcome(claim, "done", posted_ids=digest.paper_ids), posted=True)
        if job.had_failures:
            await self.store.record_delivery_success(job.channel_id)
        return "posted"

    async def _failed(self, job: _Job, error: DeliveryError, recorder: _Recorder) -> str:
        kind = job.due.kind
        if not error.permanent:
            await self.store.release_digest(job.claim)
            log.warning("%s digest for %s delayed: %s", kind, job.ref, error.reason)
            metrics.DIGESTS_RETRIED.labels(reason="delayed").inc()
            return "retry"
        recorder.add(DigestOutcome(job.claim, "failed", error.reason))
        paused = await self.store.record_delivery_failure(
            job.channel_id, error.reason, PAUSE_AFTER_FAILURES
        )
        log.warning(
            "%s digest for %s failed: %s%s",
            kind,
            job.ref,
            error.reason,
            "; schedule paused" if paused else "",
        )
        return "failed"

    def _missed_detail(self, due: DuePeriod, now: datetime) -> str:
        return f"missed by {now - due.due_at}, beyond the {self.grace} grace period"


class _Recorder:
    """Buffers digest outcomes and writes them in batches: every ``flush_every`` outcomes, every
    ``flush_after`` seconds, and on the way out (a stop included)."""

    def __init__(
        self, store: Store, clock: Callable[[], datetime], flush_every: int, flush_after: float
    ) -> None:
        self._store = store
        self._clock = clock
        self._flush_every = flush_every
        self._flush_after = flush_after
        self._pending: list[tuple[DigestOutcome, float | None]] = []
        self._full = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.lags: list[float] = []

    def add(self, outcome: DigestOutcome, *, posted: bool = False) -> None:
        """Buffer an outcome; ``posted`` ones are timed until recorded (the duplicate window)."""
        self._pending.append((outcome, time.monotonic() if posted else None))
        if len(self._pending) >= self._flush_every:
            self._full.set()

    async def __aenter__(self) -> _Recorder:
        self._task = asyncio.create_task(self._flush_periodically())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Never cancel a flush midway: its batch is out of the buffer until it commits.
        self._closing = True
        self._full.set()
        if self._task is not None:
            await asyncio.shield(self._task)
        await asyncio.shield(self._flush(final=True))

    async def _flush_periodically(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._flush_after)
            self._full.clear()
            await self._flush(final=False)

    async def _flush(self, *, final: bool) -> None:
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await self._store.finish_digests([outcome for outcome, _ in batch], self._clock())
            except Exception as error:
                self._pending[:0] = batch
                if final:
                    raise
                log.warning("could not record %d digest outcomes yet: %r", len(batch), error)
                return
            done = time.monotonic()
            lags = [done - posted for _, posted in batch if posted is not None]
            self.lags.extend(lags)
            if lags:
                metrics.DIGEST_RECORD_LAG.observe(max(lags))


@contextlib.asynccontextmanager
async def _keep_leases(
    store: Store, worker: str, clock: Callable[[], datetime], lease: timedelta
) -> AsyncIterator[None]:
    """Renew this worker's digest claims every third of the lease while the block runs."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            try:
                await store.renew_digest_leases(worker, clock() + lease)
            except Exception as error:  # the next renewal may work; the lease has slack
                log.warning("could not renew digest leases: %r", error)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def quiet_reason(store: Store, now: datetime) -> str | None:
    """Why there may be nothing new today, for the one-line notice: a source down, or a weekend."""
    down = []
    for source in await store.source_status():
        if source.is_down:
            down.append(_SOURCE_NAMES.get(source.source, source.source))
    if down:
        names = " and ".join(down)
        return f"{names} did not answer at the last fetch; I will catch up when it is back."
    if now.weekday() >= 5:
        return "arXiv does not announce new papers on weekends."
    return None


@contextlib.contextmanager
def _long_lived() -> Iterator[None]:
    """Build what lives for the whole run (channels, topics, the plan) without the cyclic GC,
    then freeze it out of the GC's sight until the run ends.

    A 10,000-channel run holds a few hundred thousand such objects; every full collection would
    walk them all and free none (measured: 1.5-2 s of a 5 s run). Only cyclic garbage waits
    meanwhile: everything else is freed by reference counting as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _scan(
    channels: list[ChannelSettings], now: datetime
) -> list[tuple[ChannelSettings, DuePeriod]]:
    """Every digest of these channels due by ``now`` (today's and yesterday's, local)."""
    # Most channels share a few schedules: work each one's periods out once, then keep those
    # due after the channel was created (what ``due_periods``' ``not_before`` does).
    by_schedule: dict[ChannelSchedule, list[DuePeriod]] = {}
    found: list[tuple[ChannelSettings, DuePeriod]] = []
    for channel in channels:
        periods = by_schedule.get(channel.schedule)
        if periods is None:
            periods = by_schedule[channel.schedule] = due_periods(channel.schedule, now, _DAWN)
        created = channel.created_at
        found.extend((channel, period) for period in periods if created < period.due_at)
    return found


def _job(channel: ChannelSettings, due: DuePeriod, last_daily: datetime | None) -> _Job:
    # Papers new since the last daily picks, but never more than four days back (a long pause
    # should not flood the channel), and a day back for a channel's first picks.
    since = max(last_daily, due.due_at - timedelta(days=4)) if last_daily else None
    return _Job(
        channel_id=channel.id,
        ref=channel.ref,
        due=due,
        top_n=channel.top_n,
        quiet_notice=channel.quiet_notice,
        had_failures=channel.failures > 0,
        since=since or due.due_at - timedelta(days=1),
    )
