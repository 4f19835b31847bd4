"""The bot's background work on APScheduler: fetching papers and posting due digests.

- Hugging Face Daily Papers every three hours (new papers and upvote updates), today and yesterday.
- arXiv after its announcement (Sunday to Thursday, 20:00 US Eastern), for the categories any
  channel follows; the arXiv source spaces requests three seconds apart.
- Digest delivery every minute: whatever is due is posted once (see ``bot.delivery``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import App
from bot.delivery import DeliveryReport, DigestDelivery
from bot.ingest import IngestReport, ingest_arxiv, ingest_hf
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


def subscribed_categories(subscriptions: Sequence[Subscription]) -> list[str]:
    """Every arXiv category named in any channel's topics, sorted."""
    found: set[str] = set()
    for subscription in subscriptions:
        try:
            parsed = parse_query(subscription.query)
        except QueryError:
            continue
        for group in parsed.groups:
            found.update(clause.code for clause in group if isinstance(clause, Category))
    return sorted(found)


@dataclass
class BackgroundJobs:
    app: App
    delivery: DigestDelivery
    clock: Callable[[], datetime]

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

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Add the jobs; digests due while the bot was down go out on the first tick."""
        common = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
        now = datetime.now(UTC)
        scheduler.add_job(
            self.deliver_due, DELIVERY_TRIGGER, id="deliver", next_run_time=now, **common
        )
        # Fetch once at start too, so a new or long-stopped bot does not wait hours for papers.
        scheduler.add_job(
            self.fetch_hugging_face, HF_TRIGGER, id="fetch-hf", next_run_time=now, **common
        )
        scheduler.add_job(self.fetch_arxiv, ARXIV_TRIGGER, id="fetch-arxiv", **common)
