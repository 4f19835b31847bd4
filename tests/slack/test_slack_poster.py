"""SlackPoster, the scheduler's way out: chat.postMessage paced per channel, 429 Retry-After
honoured, and each failure sorted into permanent (pause that channel) or not."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta

import pytest
from prometheus_client import REGISTRY
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app import SlackApp, SlackPoster
from adapters.slack_app.poster import PERMANENT_ERRORS
from bot.delivery import PAUSE_AFTER_FAILURES, DigestDelivery
from bot.models import ChannelRef
from bot.ports import DeliveryError, Poster
from bot.replies import Notice, PaperCard, PaperList
from bot.scheduling import ChannelSchedule
from bot.storage import Store
from tests.papers import NOW, seed_papers
from tests.slack.fake_slack import FakeSlack, block_kit_problems
from tests.slack.workspace import BOT_TOKEN, TEAM, FakeClock

GENERAL = ChannelRef("slack", TEAM, "C0GENERAL")
RANDOM = ChannelRef("slack", TEAM, "C0RANDOM")


class Sleeps:
    """Records sleeps instead of waiting, and moves the clock on by as much."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.clock.advance(seconds)


def slack_waits() -> tuple[float, float]:
    """What /metrics shows of the Slack rate-limit waits so far: how many, how many seconds."""
    labels = {"target": "slack"}
    count = REGISTRY.get_sample_value("paperboy_rate_limit_waits_total", labels)
    seconds = REGISTRY.get_sample_value("paperboy_rate_limit_wait_seconds_total", labels)
    return count or 0.0, seconds or 0.0


@pytest.fixture
def sleeps(fake_clock: FakeClock) -> Sleeps:
    return Sleeps(fake_clock)


@pytest.fixture
def poster(fake_slack: FakeSlack, fake_clock: FakeClock, sleeps: Sleeps) -> SlackPoster:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
    return SlackPoster(client, sleep=sleeps, clock=fake_clock)


def digest(n: int = 3) -> PaperList:
    cards = tuple(PaperCard(p, team_votes=i) for i, p in enumerate(seed_papers()[:n]))
    return PaperList("Today's trending papers", cards, total=n, public=True)


def test_it_is_a_poster(poster: SlackPoster) -> None:
    port: Poster = poster
    assert port.platform == "slack"


async def test_a_digest_is_posted_with_blocks_and_a_fallback(
    poster: SlackPoster, fake_slack: FakeSlack
) -> None:
    await poster.post(GENERAL, digest())

    [call] = fake_slack.calls_to("chat.postMessage")
    assert call.params["channel"] == "C0GENERAL"
    assert call.token == BOT_TOKEN
    assert call.params["text"].startswith("Today's trending papers")
    assert call.params["unfurl_links"] is False  # our own cards are not unfurled again
    assert block_kit_problems(call.blocks(), call.params["text"]) == []


async def test_posts_to_one_channel_are_a_second_apart(
    poster: SlackPoster, sleeps: Sleeps, fake_slack: FakeSlack
) -> None:
    count, seconds = slack_waits()
    await poster.post(GENERAL, digest())
    await poster.post(RANDOM, digest())  # another channel: no wait
    await poster.post(GENERAL, Notice("again", public=True))

    assert sleeps.slept == [1.0]
    assert slack_waits() == (count + 1, pytest.approx(seconds + 1.0))
    assert len(fake_slack.calls_to("chat.postMessage")) == 3


async def test_a_429_is_retried_after_retry_after(
    poster: SlackPoster, sleeps: Sleeps, fake_slack: FakeSlack
) -> None:
    fake_slack.rate_limit("chat.postMessage", retry_after=7)
    count, seconds = slack_waits()

    await poster.post(GENERAL, digest())

    assert sleeps.slept == [7.0]
    assert slack_waits() == (count + 1, pytest.approx(seconds + 7.0))
    assert len(fake_slack.calls_to("chat.postMessage")) == 2


async def test_endless_429s_are_a_temporary_failure(
    poster: SlackPoster, fake_slack: FakeSlack
) -> None:
    fake_slack.rate_limit("chat.postMessage", retry_after=2, times=10)

    with pytest.raises(DeliveryError) as failure:
        await poster.post(GENERAL, digest())

    assert not failure.value.permanent
    assert len(fake_slack.calls_to("chat.postMessage")) == poster.max_attempts


async def test_a_long_retry_after_is_not_waited_out(
    poster: SlackPoster, sleeps: Sleeps, fake_slack: FakeSlack
) -> None:
    fake_slack.rate_limit("chat.postMessage", retry_after=3600)
    before = slack_waits()

    with pytest.raises(DeliveryError) as failure:
        await poster.post(GENERAL, digest())

    assert not failure.value.permanent
    assert sleeps.slept == []
    assert slack_waits() == before  # not waited, so not counted


@pytest.mark.parametrize(
    "error",
    ["channel_not_found", "not_in_channel", "is_archived", "account_inactive", "token_revoked",
     "invalid_auth"],
)  # fmt: skip
async def test_permanent_errors_fail_that_channel_only(
    poster: SlackPoster, fake_slack: FakeSlack, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.channel_errors["C0GENERAL"] = error

    with pytest.raises(DeliveryError) as failure:
        await poster.post(GENERAL, digest())
    await poster.post(RANDOM, digest())

    assert failure.value.permanent
    assert failure.value.reason == error
    assert error in caplog.text
    assert error in PERMANENT_ERRORS
    assert [c.params["channel"] for c in fake_slack.calls_to("chat.postMessage")] == [
        "C0GENERAL", "C0RANDOM",
    ]  # fmt: skip


async def test_other_errors_are_temporary(poster: SlackPoster, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", "internal_error")

    with pytest.raises(DeliveryError) as failure:
        await poster.post(GENERAL, digest())

    assert not failure.value.permanent


async def test_an_unreachable_slack_is_temporary(fake_clock: FakeClock, sleeps: Sleeps) -> None:
    client = AsyncWebClient(token=BOT_TOKEN, base_url="http://127.0.0.1:9/api/", timeout=2)
    poster = SlackPoster(client, sleep=sleeps, clock=fake_clock)

    with pytest.raises(DeliveryError) as failure:
        await poster.post(GENERAL, digest())

    assert not failure.value.permanent


async def test_blocks_slack_refuses_fall_back_to_text(
    poster: SlackPoster, fake_slack: FakeSlack
) -> None:
    fake_slack.fail("chat.postMessage", "invalid_blocks")

    await poster.post(GENERAL, digest())

    first, second = fake_slack.calls_to("chat.postMessage")
    assert first.blocks() and not second.blocks()
    assert second.params["text"] == first.params["text"]


async def test_a_500_paper_digest_fits_block_kit(
    poster: SlackPoster, fake_slack: FakeSlack
) -> None:
    base = seed_papers()[0]
    papers = [
        replace(base, id=f"0002.{n:05d}", title=f"{base.title} {n} " + "long " * 60,
                abstract=base.abstract * 20, authors=tuple(f"Author {i}" for i in range(40)))
        for n in range(500)
    ]  # fmt: skip
    huge = PaperList("500 papers", tuple(PaperCard(p, team_votes=10**6) for p in papers), 500,
                     more_hint="x" * 5000, footer="y" * 5000, public=True)  # fmt: skip

    await poster.post(GENERAL, huge)

    [call] = fake_slack.calls_to("chat.postMessage")
    assert block_kit_problems(call.blocks(), call.params["text"]) == []
    assert "Showing" in call.blocks()[-2]["elements"][0]["text"]  # the "more" hint, not an error


async def test_the_scheduler_pauses_a_failing_channel_and_keeps_posting_elsewhere(
    store: Store, slack_app: SlackApp, fake_slack: FakeSlack, fake_clock: FakeClock,
    sleeps: Sleeps,
) -> None:  # fmt: skip
    """With the core's DigestDelivery: repeated permanent failures pause only that channel."""
    for ref in (GENERAL, RANDOM):
        await store.channel_id(ref, now=NOW - timedelta(days=10))
        await store.update_digests(ref, schedule=ChannelSchedule(time(9, 0), "UTC", "daily"))
    fake_slack.channel_errors["C0GENERAL"] = "not_in_channel"
    delivery = DigestDelivery(
        store, {"slack": SlackPoster.for_app(slack_app, sleep=sleeps, clock=fake_clock)}
    )

    for day in range(PAUSE_AFTER_FAILURES + 1):
        await delivery.run_due(NOW.replace(hour=9, minute=5) + timedelta(days=day))

    general, random = await store.channel_settings(GENERAL), await store.channel_settings(RANDOM)
    assert general is not None and random is not None
    assert general.paused_reason == "not_in_channel"
    assert random.paused_reason is None
    channels = [c.params["channel"] for c in fake_slack.calls_to("chat.postMessage")]
    assert channels.count("C0GENERAL") == PAUSE_AFTER_FAILURES  # then it stopped trying
    assert channels.count("C0RANDOM") >= PAUSE_AFTER_FAILURES + 1
