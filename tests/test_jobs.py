"""Scheduled ingest feeding scheduled digests, against fake Hugging Face and arXiv servers."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App, open_app
from bot.config import Settings
from bot.delivery import DigestDelivery
from bot.jobs import BackgroundJobs, subscribed_categories
from bot.models import ChannelRef
from bot.replies import Command, Notice, PaperList
from bot.sources.arxiv import ArxivSource
from bot.sources.hf import HuggingFaceSource
from bot.sources.http import RetryPolicy
from tests.conftest import Clock
from tests.fakes.paper_servers import FakePaperServer, FakeTime
from tests.test_delivery import RecordingPoster

CHANNEL = ChannelRef("slack", "T1", "ml")
# Thursday 2026-11-26, 07:00 UTC; the channel's picks are due at 09:00 UTC.
MORNING = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
HF = "/api/daily_papers"


@pytest.fixture
async def app(tmp_path: Path, paper_server: FakePaperServer) -> AsyncIterator[App]:
    settings = Settings(db_path=tmp_path / "p.db", hf_url=paper_server.url,
                        arxiv_url=paper_server.url, http_timeout=0.5)  # fmt: skip
    fake_time = FakeTime()
    retry = RetryPolicy(attempts=3, jitter=lambda: 0.0)
    async with httpx.AsyncClient(trust_env=False) as http, open_app(settings, http=http) as opened:
        yield dataclasses.replace(
            opened,
            hf=HuggingFaceSource(http, settings.hf_url, timeout=0.5, sleep=fake_time.sleep,
                                 retry=retry),
            arxiv=ArxivSource(http, settings.arxiv_url, timeout=0.5, min_interval=0.01,
                              sleep=fake_time.sleep, retry=retry),
        )  # fmt: skip


@pytest.fixture
def clock() -> Clock:
    return Clock(MORNING)


@pytest.fixture
def poster() -> RecordingPoster:
    return RecordingPoster("slack")


@pytest.fixture
async def jobs(app: App, clock: Clock, poster: RecordingPoster) -> BackgroundJobs:
    setup = dataclasses.replace(app.bot, clock=lambda: MORNING - timedelta(days=3))
    await setup.handle(Command(CHANNEL, "admin", "schedule 09:00 UTC weekdays"))
    return BackgroundJobs(app, DigestDelivery(app.store, {"slack": poster}), clock=clock)


async def test_fetched_papers_reach_the_next_digest(
    jobs: BackgroundJobs, clock: Clock, poster: RecordingPoster, paper_server: FakePaperServer
) -> None:
    reports = await jobs.fetch_hugging_face()
    assert [r.ok for r in reports] == [True, True]
    assert {r.query["date"] for r in paper_server.requests_to(HF)} == {"2026-11-25", "2026-11-26"}
    clock.now = MORNING + timedelta(hours=2)
    await jobs.deliver_due()
    [(channel, reply, _)] = poster.posts
    assert channel == CHANNEL
    assert isinstance(reply, PaperList)
    assert "Efficient Streaming Language Models with Attention Sinks" in [
        c.paper.title for c in reply.cards
    ]


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500},
        {"status": 429, "headers": {"Retry-After": "1"}},
        {"status": 200, "delay": 2.0},  # longer than the 0.5 s timeout
        {"status": 200, "body": b'[{"paper": {"id": "2611.0'},  # truncated JSON
    ],
    ids=["500", "429", "timeout", "truncated"],
)
async def test_a_failing_source_changes_nothing_and_the_digest_still_goes_out(
    jobs: BackgroundJobs, app: App, clock: Clock, poster: RecordingPoster,
    paper_server: FakePaperServer, failure: dict[str, object], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    paper_server.queue_response(HF, times=10, **failure)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO):
        reports = await jobs.fetch_hugging_face()
    assert not any(r.ok for r in reports)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == len(reports) and all(w.startswith("hf GET") for w in warnings)
    assert await app.store.count_papers() == 0

    clock.now = MORNING + timedelta(hours=2)
    await jobs.deliver_due()
    [(_, reply, _)] = poster.posts
    assert isinstance(reply, Notice)
    assert "No new papers" in reply.text
    assert "Hugging Face did not answer" in reply.text


async def test_stored_papers_still_go_out_when_the_source_is_down_later(
    jobs: BackgroundJobs, clock: Clock, poster: RecordingPoster, paper_server: FakePaperServer
) -> None:
    await jobs.fetch_hugging_face()
    paper_server.queue_response(HF, status=503, times=10)
    clock.now = MORNING + timedelta(hours=1)
    await jobs.fetch_hugging_face()
    clock.now = MORNING + timedelta(hours=2)
    await jobs.deliver_due()
    [(_, reply, _)] = poster.posts
    assert isinstance(reply, PaperList) and reply.cards


async def test_arxiv_is_asked_for_the_categories_channels_follow(
    jobs: BackgroundJobs, app: App, paper_server: FakePaperServer
) -> None:
    assert await jobs.fetch_arxiv() is None  # nobody follows a category yet: no request
    await app.bot.handle(Command(CHANNEL, "admin", "subscribe cat:cs.CL OR cat:cs.IR"))
    await app.bot.handle(
        Command(ChannelRef("discord", "G", "c"), "u", "subscribe agents cat:cs.AI")
    )
    report = await jobs.fetch_arxiv()
    assert report is not None and report.ok and report.fetched > 0
    [request] = paper_server.requests_to("/api/query")
    assert request.query["search_query"] == "cat:cs.AI OR cat:cs.CL OR cat:cs.IR"
    assert request.query["sortBy"] == "submittedDate"


def test_subscribed_categories_ignore_unparseable_topics() -> None:
    from bot.models import Subscription

    def sub(query: str) -> Subscription:
        return Subscription(1, CHANNEL, query, "u", MORNING)

    assert subscribed_categories([sub("cat:cs.LG diffusion"), sub("-cat:cs.CV"), sub("")]) == [
        "cs.LG"
    ]
    # arXiv is asked for an archive's papers by each of its codes, the pre-2009 one included.
    assert subscribed_categories([sub("galaxies cat:astro-ph")]) == [
        "astro-ph", "astro-ph.CO", "astro-ph.EP", "astro-ph.GA", "astro-ph.HE", "astro-ph.IM",
        "astro-ph.SR",
    ]  # fmt: skip


async def test_a_stop_during_a_fetch_is_one_quiet_line_not_a_traceback(
    jobs: BackgroundJobs, paper_server: FakePaperServer, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGTERM ends the scheduler the way ``paperboy run`` does, with a fetch in flight."""
    caplog.set_level(logging.INFO)
    paper_server.queue_response(HF, delay=30.0, times=10)  # Hugging Face is slow today
    fetch_ended: asyncio.Future[JobEvent] = asyncio.get_running_loop().create_future()

    def on_job_end(event: JobEvent) -> None:
        if event.job_id == "fetch-hf" and not fetch_ended.done():
            fetch_ended.set_result(event)

    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_listener(on_job_end, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    jobs.schedule(scheduler)
    scheduler.start()
    async with asyncio.timeout(5):
        await paper_server.holding.wait()  # the fetch is in flight
    scheduler.shutdown(wait=False)
    async with asyncio.timeout(5):
        await fetch_ended

    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "bot.jobs"]
    stopped = "Stopped while fetching Hugging Face daily papers; the next run fetches them again"
    assert said.count(("INFO", stopped)) == 1
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    assert "Traceback" not in caplog.text


async def test_a_presenter_is_reminded_by_direct_message_through_the_jobs(
    app: App, jobs: BackgroundJobs, clock: Clock, poster: RecordingPoster
) -> None:
    await jobs.fetch_hugging_face()
    claimer = dataclasses.replace(app.bot, clock=lambda: MORNING)
    await claimer.handle(Command(CHANNEL, "U7", "present 2611.01003 friday"))
    assert await jobs.remind_presenters() == {}
    clock.now = MORNING + timedelta(hours=2)  # Thursday 09:00, the channel's digest time
    assert (await jobs.remind_presenters())["sent"] == 1
    direct = [(channel, reply) for channel, reply, _ in poster.posts if channel.direct_user]
    [(channel, reply)] = direct
    assert channel == ChannelRef.direct("slack", "T1", "U7")
    assert isinstance(reply, Notice) and "you present “Efficient Streaming" in reply.text


def test_the_reminder_job_is_scheduled_with_the_others(jobs: BackgroundJobs) -> None:
    scheduler = AsyncIOScheduler(timezone=UTC)
    jobs.schedule(scheduler)
    assert {job.id for job in scheduler.get_jobs()} == {
        "deliver",
        "fetch-hf",
        "fetch-arxiv",
        "club-reminders",
        "sweep-request-keys",
    }


async def test_two_workers_ticking_together_post_each_digest_once(
    app: App, clock: Clock, jobs: BackgroundJobs, poster: RecordingPoster
) -> None:
    other_poster = RecordingPoster("slack")
    other = BackgroundJobs(app, DigestDelivery(app.store, {"slack": other_poster}), clock=clock)
    await jobs.fetch_hugging_face()
    clock.now = MORNING + timedelta(hours=2)
    await asyncio.gather(jobs.deliver_tick(), other.deliver_tick())
    clock.now += timedelta(minutes=1)
    await asyncio.gather(jobs.deliver_tick(), other.deliver_tick())
    assert [ch for ch, _, _ in poster.posts + other_poster.posts] == [CHANNEL]


async def test_the_sweep_forgets_expired_request_keys_and_keeps_fresh_ones(
    app: App, clock: Clock, jobs: BackgroundJobs
) -> None:
    ttl = timedelta(minutes=10)
    assert await app.store.claim_request_key("slack:event:old", clock.now, ttl)
    assert await app.store.claim_request_key("slack:event:new", clock.now + ttl, ttl)
    clock.now += ttl + timedelta(minutes=1)

    assert await jobs.sweep_request_keys() == 1
    assert not await app.store.claim_request_key("slack:event:new", clock.now, ttl)
