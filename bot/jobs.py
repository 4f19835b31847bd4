"""The bot's background work on APScheduler: fetching papers and posting due digests.

- Hugging Face Daily Papers every three hours (new papers and upvote updates), today and yesterday.
- arXiv after its announcement (Sunday to Thursday, 20:00 US Eastern), for the categories any
  channel follows; the arXiv source spaces requests three seconds apart.
- Digest delivery every minute: whatever is due is posted once (see ``bot.delivery``).
- Journal club reminders every minute: a presenter's direct message, once, the day before
  (see ``bot.club``).

Every process fires every job; a lease in the database (``bot.leases``) lets one process per
cluster run each firing of the fetches, the reminders and the scan for due digests. Posting the
queued digests is shared: every process claims batches of them (see ``bot.delivery``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import App
from bot.categories import codes_under
from bot.club import ClubReminders
from bot.delivery import DeliveryReport, DigestDelivery
from bot.ingest import IngestReport, ingest_arxiv, ingest_hf
from bot.leases import JobLeases
from bot.models import Subscription
from bot.query import Category, QueryError, parse_query

log = logging.getLogger(__name__)

ARXIV_MAX_RESULTS = 200
HF_TRIGGER = CronTrigger(hour="*/3", minute=7, timezone=UTC)
# arXiv announces new submissions at 20:00 US Eastern, Sunday to Thursday.
ARXIV_TRIGGER = CronTrigger(
    day_of_week="sun,mon,tue,wed,thu", hour=20, minute=30, timezone="America/New_York"
)
DELIVERY_TRIGGER = IntervalTrigger(minutes=1, timezone=UTC)
SWEEP_TRIGGER = IntervalTrigger(hours=1, timezone=UTC)
# The shortest time between two runs of a job anywhere in the cluster: each process's minute
# jobs fire at its own offset, and every process fetches once when it starts.
MIN_GAP = {
    "digest-scan": timedelta(seconds=30),
    "club-reminders": timedelta(seconds=30),
    "fetch-hf": timedelta(hours=1),
    "fetch-arxiv": timedelta(hours=1),
    "sweep-request-keys": timedelta(minutes=30),
}
# What each job was doing, for the one line logged when a stop interrupts it.
INTERRUPTED = {
    "deliver": "checking for due digests; the next run posts any not sent",
    "fetch-hf": "fetching Hugging Face daily papers; the next run fetches them again",
    "fetch-arxiv": "fetching new arXiv papers; the next run fetches them again",
    "club-reminders": "sending journal club reminders; the next run sends any not sent",
    "sweep-request-keys": "forgetting expired request keys; the next run forgets them",
}


def subscribed_categories(subscriptions: Sequence[Subscription]) -> list[str]:
    """Every arXiv category named in any channel's topics (an archive by each of its
    categories), sorted."""
    found: set[str] = set()
    for subscription in subscriptions:
        try:
            parsed = parse_query(subscription.query)
        except QueryError:
            continue
        named = (c for group in parsed.groups for c in group if isinstance(c, Category))
        for category in named:
            found.update(codes_under(category.code))
    return sorted(found)


@dataclass
class BackgroundJobs:
    app: App
    delivery: DigestDelivery
    clock: Callable[[], datetime]
    leases: JobLeases = field(init=False)

    def __post_init__(self) -> None:
        self.leases = JobLeases(self.app.store, holder=self.delivery.worker, clock=self.clock)

    async def fetch_hugging_face(self) -> list[IngestReport]:
        today = self.clock().date()
        reports = []
        for day in (today - timedelta(days=1), today):
            reports.append(
                await ingest_hf(self.app.store, self.app.index, self.app.hf, day, self.clock())
            )
        self.app.bot.start_vector_catch_up()
        return reports

    async def fetch_arxiv(self) -> IngestReport | None:
        categories = subscribed_categories(await self.app.store.all_subscriptions())
        if not categories:
            return None
        query = " OR ".join(f"cat:{code}" for code in categories)
        report = await ingest_arxiv(
            self.app.store, self.app.index, self.app.arxiv, query, ARXIV_MAX_RESULTS, self.clock()
        )
        self.app.bot.start_vector_catch_up()
        return report

    async def deliver_due(self) -> DeliveryReport:
        return await self.delivery.run_due(self.clock())

    async def deliver_tick(self) -> DeliveryReport:
        """One minute's delivery on one of many workers: one of them queues what fell due,
        every one posts what it can claim."""
        now = self.clock()
        report = DeliveryReport()
        queue = partial(self.delivery.queue_due, now, report)
        gap = min(MIN_GAP["digest-scan"], self._delivery_every / 2)  # a tick never skips itself
        await self.leases.run_once("digest-scan", gap, queue)
        await self.delivery.post_queued(now, report)
        return report

    async def remind_presenters(self) -> Counter[str]:
        # The same store and posters as digests: a platform not connected here is skipped.
        reminders = ClubReminders(self.delivery.store, self.delivery.posters)
        return await reminders.run_due(self.clock())

    async def sweep_request_keys(self) -> int:
        """Forget Slack retry keys and message locks past their time (the table only grows
        otherwise: every click and event leaves a key)."""
        return await self.app.store.sweep_request_keys(self.clock())

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Add the jobs; digests due while the bot was down go out on the first tick."""
        now = datetime.now(UTC)
        every = IntervalTrigger(seconds=self._delivery_every.total_seconds(), timezone=UTC)
        _add_job(scheduler, "deliver", self.deliver_tick, every, next_run_time=now)
        # Fetch once at start too, so a new or long-stopped bot does not wait hours for papers.
        fetch_hf = self._once_per_cluster("fetch-hf", self.fetch_hugging_face)
        _add_job(scheduler, "fetch-hf", fetch_hf, HF_TRIGGER, next_run_time=now)
        fetch_arxiv = self._once_per_cluster("fetch-arxiv", self.fetch_arxiv)
        _add_job(scheduler, "fetch-arxiv", fetch_arxiv, ARXIV_TRIGGER)
        remind = self._once_per_cluster("club-reminders", self.remind_presenters)
        _add_job(scheduler, "club-reminders", remind, DELIVERY_TRIGGER, next_run_time=now)
        sweep = self._once_per_cluster("sweep-request-keys", self.sweep_request_keys)
        _add_job(scheduler, "sweep-request-keys", sweep, SWEEP_TRIGGER)

    @property
    def _delivery_every(self) -> timedelta:
        return timedelta(seconds=self.app.settings.delivery_every)

    def _once_per_cluster(
        self, job: str, work: Callable[[], Awaitable[object]]
    ) -> Callable[[], Awaitable[object]]:
        return partial(self.leases.run_once, job, MIN_GAP[job], work)


def _add_job(
    scheduler: AsyncIOScheduler,
    job_id: str,
    work: Callable[[], Awaitable[object]],
    trigger: BaseTrigger,
    **options: Any,
) -> None:
    # A partial of a coroutine function, so APScheduler still runs it on the event loop.
    scheduler.add_job(
        partial(_run_until_stopped, work, INTERRUPTED[job_id]),
        trigger,
        id=job_id,
        name=job_id,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=300,
        **options,
    )


async def _run_until_stopped(work: Callable[[], Awaitable[object]], doing: str) -> None:
    """Run a job; a stop (SIGTERM, Ctrl-C) that cancels it is one INFO line, not an error.

    Shutting the scheduler down cancels running jobs, and APScheduler logs any exception from a
    job, cancellation included, as an error with a traceback. The cancellation ends here: the job
    task is the outermost task, and every job is safe to run again (ingest is idempotent,
    delivery gives unposted claims back).
    """
    try:
        await work()
    except asyncio.CancelledError:
        log.info("Stopped while %s", doing)
