"""Posting due digests exactly once: claim in the database, post, then mark done.

A claim is taken before posting and released only when the post certainly did not go out (an
error before delivery, or cancellation), so a restart in the middle of a fan-out finishes the
remaining channels and never repeats one that was posted. A claim left behind by a hard kill
mid-post is not retried: posting twice is worse than missing once, and it is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.digests import DAILY, DigestPlanner, weekly_digest
from bot.models import ChannelRef
from bot.ports import DeliveryError, Poster
from bot.records import ChannelSettings, DigestClaim
from bot.scheduling import DuePeriod, due_periods
from bot.storage import Store
from bot.vectors import VectorIndex

log = logging.getLogger(__name__)

GRACE = timedelta(hours=6)
PAUSE_AFTER_FAILURES = 3
POST_TIMEOUT = 120.0
STALE_CLAIM = timedelta(minutes=10)  # far longer than any post may take (POST_TIMEOUT)
_SOURCE_NAMES = {"hf": "Hugging Face", "arxiv": "arXiv"}


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

    def __str__(self) -> str:
        return (
            ", ".join(f"{n} {what}" for what, n in sorted(self.outcomes.items())) or "nothing due"
        )


@dataclass
class DigestDelivery:
    """Finds the digests due now and posts them through each platform's poster."""

    store: Store
    posters: Mapping[str, Poster]
    concurrency: int = 8
    grace: timedelta = GRACE
    post_timeout: float = POST_TIMEOUT
    vectors: VectorIndex | None = None  # lets team picks use paper vectors, when there are any

    async def run_due(self, now: datetime) -> DeliveryReport:
        report = DeliveryReport()
        jobs = await self._due_jobs(now, report)
        if not jobs:
            return report
        daily = [job for job in jobs if job.due.kind == DAILY]
        planner = await self._planner(now, daily)
        quiet = await quiet_reason(self.store, now)
        limit = asyncio.Semaphore(self.concurrency)

        async def one(job: _Job) -> None:
            async with limit:
                report.outcomes[await self._deliver(job, planner, now, quiet)] += 1

        await asyncio.gather(*(one(job) for job in jobs))
        log.info("digest run at %s: %s", now.isoformat(timespec="minutes"), report)
        return report

    async def _due_jobs(self, now: datetime, report: DeliveryReport) -> list[_Job]:
        for stale in await self.store.abandon_stale_claims(now - STALE_CLAIM, now):
            log.warning(
                "%s digest %s for channel %s was claimed but never finished (the process "
                "stopped mid-post); not posting it again",
                *(stale.kind, stale.period, stale.channel_id),
            )
            report.outcomes["abandoned"] += 1
        # Periods reach back two local days at most, so three days of claims cover them all.
        claimed = await self.store.digest_runs_claimed_since(now - timedelta(days=3))
        last_daily = await self.store.last_digests(DAILY)
        jobs = []
        for channel in await self.store.scheduled_channels():
            if channel.ref.platform not in self.posters:
                continue  # that platform is not connected in this process
            for due in due_periods(channel.schedule, now, channel.created_at):
                job = _job(channel, due, last_daily.get(channel.id))
                if job.claim in claimed:
                    continue
                if now - due.due_at > self.grace:
                    await self._skip_missed(job, now)
                    report.outcomes["missed"] += 1
                    continue
                jobs.append(job)
        return jobs

    async def _skip_missed(self, job: _Job, now: datetime) -> None:
        if await self.store.claim_digest(job.claim, now):
            late = now - job.due.due_at
            await self.store.finish_digest(
                job.claim,
                "skipped",
                now,
                detail=f"missed by {late}, beyond the {self.grace} grace period",
            )
            log.warning(
                "skipped %s digest %s for %s: due %s, now %s is past the grace period",
                job.due.kind,
                job.due.period,
                job.ref,
                job.due.due_at,
                now,
            )

    async def _planner(self, now: datetime, daily: list[_Job]) -> DigestPlanner:
        planner = DigestPlanner(self.store, now, self.vectors)
        if daily:
            wanted = {job.ref for job in daily}
            subscriptions = [s for s in await self.store.all_subscriptions() if s.channel in wanted]
            await planner.prepare(min(job.since for job in daily), subscriptions)
        return planner

    async def _deliver(
        self, job: _Job, planner: DigestPlanner, now: datetime, quiet: str | None
    ) -> str:
        kind, claim = job.due.kind, job.claim
        if not await self.store.claim_digest(claim, now):
            return "already claimed"
        try:
            if kind == DAILY:
                digest = await planner.daily(job.ref, job.since, job.top_n, quiet)
            else:
                digest = await weekly_digest(self.store, job.ref, now, vectors=self.vectors)
            # An empty weekly digest stays silent; an empty day gets one line unless turned off.
            if digest.is_empty and (kind != DAILY or not job.quiet_notice):
                await self.store.finish_digest(claim, "done", now, "quiet")
                return "quiet"
            await asyncio.wait_for(
                self.posters[job.ref.platform].post(job.ref, digest.reply),
                timeout=self.post_timeout,
            )
        except DeliveryError as error:
            return await self._failed(job, error, now)
        except (Exception, asyncio.CancelledError) as error:
            # Nothing was delivered: give the claim back so the next tick (or restart) retries.
            await asyncio.shield(self.store.release_digest(claim))
            if isinstance(error, asyncio.CancelledError):
                raise
            log.warning("%s digest for %s not posted, will retry: %r", kind, job.ref, error)
            return "retry"
        await self.store.finish_digest(claim, "done", now, posted_ids=digest.paper_ids)
        if job.had_failures:
            await self.store.record_delivery_success(job.channel_id)
        return "posted"

    async def _failed(self, job: _Job, error: DeliveryError, now: datetime) -> str:
        kind = job.due.kind
        if not error.permanent:
            await self.store.release_digest(job.claim)
            log.warning("%s digest for %s delayed: %s", kind, job.ref, error.reason)
            return "retry"
        await self.store.finish_digest(job.claim, "failed", now, error.reason)
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
