"""Digests posted by themselves: at each channel's local time, exactly once, across restarts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from bot.commands import Paperboy
from bot.delivery import LEASE, DigestDelivery
from bot.ingest import ingest_papers
from bot.models import ChannelRef, Paper
from bot.ports import DeliveryError
from bot.ranking import rank_trending
from bot.replies import Command, Notice, PaperList, Reply
from bot.search import SearchIndex
from bot.storage import Store
from tests.papers import seed_papers

BERLIN = ChannelRef("slack", "T1", "berlin")
NEW_YORK = ChannelRef("slack", "T1", "new-york")
TOKYO = ChannelRef("discord", "G1", "tokyo")
# Monday 2026-10-26 00:00 UTC: New York falls back from EDT to EST on Sunday 2026-11-01.
START = datetime(2026, 10, 26, 0, 0, tzinfo=UTC)


@dataclass
class RecordingPoster:
    platform: str
    posts: list[tuple[ChannelRef, Reply, datetime]] = field(default_factory=list)
    clock: list[datetime] = field(default_factory=lambda: [START])
    fail_with: dict[str, DeliveryError] = field(default_factory=dict)
    block: asyncio.Event | None = None

    async def post(self, channel: ChannelRef, reply: Reply) -> None:
        if channel.channel in self.fail_with:
            raise self.fail_with[channel.channel]
        if self.block is not None:
            await self.block.wait()
        self.posts.append((channel, reply, self.clock[0]))


async def _setup(
    bot: Paperboy, channel: ChannelRef, schedule: str, topic: str | None = None
) -> None:
    await bot.handle(Command(channel, "admin", f"schedule {schedule}"))
    if topic:
        await bot.handle(Command(channel, "admin", f"subscribe {topic}"))


async def _simulate(
    delivery: DigestDelivery,
    clocks: Sequence[list[datetime]],
    start: datetime,
    end: datetime,
    step: timedelta = timedelta(minutes=15),
) -> None:
    now = start
    while now <= end:
        for clock in clocks:
            clock[0] = now
        await delivery.run_due(now)
        now += step


@pytest.fixture
async def world(store: Store, index: SearchIndex) -> Paperboy:
    # Channels exist from before the simulated week.
    return Paperboy(store, index, clock=lambda: START - timedelta(days=1))


async def test_a_week_of_digests_arrives_at_each_channels_local_time(
    world: Paperboy, store: Store, index: SearchIndex
) -> None:
    await _setup(world, BERLIN, "09:00 Europe/Berlin weekdays", "retrieval")
    await _setup(world, NEW_YORK, "08:30 America/New_York daily")
    await _setup(world, TOKYO, "18:00 Asia/Tokyo weekdays")
    await ingest_papers(store, index, seed_papers(START + timedelta(hours=1)), now=START)
    for days, channel in ((-1, BERLIN), (-1, TOKYO), (4, NEW_YORK), (4, TOKYO)):
        sharer = Paperboy(store, index, clock=lambda days=days: START + timedelta(days=days))
        await sharer.handle(Command(channel, "U1", f"share {seed_papers()[0].id}"))
    slack, discord = RecordingPoster("slack"), RecordingPoster("discord")
    delivery = DigestDelivery(store, {"slack": slack, "discord": discord})

    await _simulate(delivery, [slack.clock, discord.clock], START, START + timedelta(days=8))

    def local_times(poster: RecordingPoster, channel: ChannelRef, tz: str) -> list[str]:
        from zoneinfo import ZoneInfo

        return [
            f"{at.astimezone(ZoneInfo(tz)):%a %H:%M}" for ch, _, at in poster.posts if ch == channel
        ]

    weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"]
    # Berlin: daily picks each weekday and the weekly digest on Monday (two posts on Mondays).
    assert local_times(slack, BERLIN, "Europe/Berlin") == [
        "Mon 09:00",
        "Mon 09:00",
        *[f"{d} 09:00" for d in weekdays[1:5]],
        "Mon 09:00",
        "Mon 09:00",
    ]
    # New York: every day at 08:30 local, before and after the end of daylight saving time.
    ny = local_times(slack, NEW_YORK, "America/New_York")
    assert [t for t in ny if not t.startswith("Mon")] == [
        "Tue 08:30",
        "Wed 08:30",
        "Thu 08:30",
        "Fri 08:30",
        "Sat 08:30",
        "Sun 08:30",
    ]
    assert all(t.endswith("08:30") for t in ny)
    assert local_times(discord, TOKYO, "Asia/Tokyo") == [
        "Mon 18:00",
        "Mon 18:00",
        "Tue 18:00",
        "Wed 18:00",
        "Thu 18:00",
        "Fri 18:00",
        "Mon 18:00",
        "Mon 18:00",
    ]


async def test_papers_are_never_posted_twice_to_a_channel(
    world: Paperboy, store: Store, index: SearchIndex
) -> None:
    await _setup(world, NEW_YORK, "08:30 America/New_York daily")
    await ingest_papers(store, index, seed_papers(START + timedelta(hours=1)), now=START)
    slack = RecordingPoster("slack")
    delivery = DigestDelivery(store, {"slack": slack})
    await _simulate(delivery, [slack.clock], START, START + timedelta(days=3))

    picked = [
        c.paper.id
        for _, r, _ in slack.posts
        if isinstance(r, PaperList) and r.title.startswith("Today")
        for c in r.cards
    ]
    assert len(picked) == len(set(picked)) == 5  # top 5 of the day's 8, each once
    quiet = [r for _, r, _ in slack.posts if isinstance(r, Notice)]
    assert len(quiet) == 2 and "No new papers" in quiet[0].text  # a short line, not silence


async def test_restart_in_the_middle_of_a_fan_out_posts_each_channel_exactly_once(
    world: Paperboy, store: Store, index: SearchIndex
) -> None:
    channels = [ChannelRef("slack", "T1", f"c{n}") for n in range(12)]
    for channel in channels:
        await _setup(world, channel, "09:00 UTC daily")
    await ingest_papers(store, index, seed_papers(START), now=START)
    due = START + timedelta(hours=9)
    gate = asyncio.Event()
    first = RecordingPoster("slack", block=gate)
    run = asyncio.create_task(DigestDelivery(store, {"slack": first}, concurrency=4).run_due(due))
    await asyncio.sleep(0.2)
    gate.set()  # let the four in flight finish, then "kill" the process mid fan-out
    await asyncio.sleep(0)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    second = RecordingPoster("slack")
    await DigestDelivery(store, {"slack": second}).run_due(due + timedelta(minutes=1))
    await DigestDelivery(store, {"slack": second}).run_due(due + timedelta(minutes=2))

    posted = [ch for ch, _, _ in first.posts + second.posts]
    assert sorted(posted, key=str) == sorted(channels, key=str)


async def test_digests_missed_while_down_are_posted_within_grace_and_skipped_after(
    world: Paperboy, store: Store, index: SearchIndex
) -> None:
    await _setup(world, BERLIN, "09:00 Europe/Berlin daily")
    await _setup(world, NEW_YORK, "03:00 America/New_York daily")
    await ingest_papers(store, index, seed_papers(START), now=START)
    slack = RecordingPoster("slack")
    # Bot starts at 14:00 UTC: Berlin's 09:00 (08:00 UTC) is 6h late at most; NY's 03:00 EDT
    # (07:00 UTC) is 7 hours late.
    await DigestDelivery(store, {"slack": slack}).run_due(START + timedelta(hours=14))
    assert [ch for ch, _, _ in slack.posts] == [BERLIN]


async def test_a_gone_channel_is_paused_after_repeated_failures_and_others_still_get_theirs(
    world: Paperboy, store: Store, index: SearchIndex
) -> None:
    await _setup(world, BERLIN, "09:00 UTC daily")
    await _setup(world, NEW_YORK, "09:00 UTC daily")
    await ingest_papers(store, index, seed_papers(START), now=START)
    slack = RecordingPoster(
        "slack", fail_with={"berlin": DeliveryError("channel_not_found", permanent=True)}
    )
    await _simulate(
        DigestDelivery(store, {"slack": slack}), [slack.clock], START, START + timedelta(days=4)
    )
    assert [ch for ch, _, _ in slack.posts].count(NEW_YORK) >= 4
    settings = await store.channel_settings(BERLIN)
    assert settings is not None and settings.paused_reason == "channel_not_found"
    status = await world.handle(Command(BERLIN, "admin", "status"))
    assert isinstance(status, Notice) and any("paused" in line for line in status.lines)


async def test_a_passing_failure_is_retried_on_the_next_tick(
    world: Paperboy, store: Store, index: SearchIndex
) -> None:
    await _setup(world, BERLIN, "09:00 UTC daily")
    await ingest_papers(store, index, seed_papers(START), now=START)
    slack = RecordingPoster(
        "slack", fail_with={"berlin": DeliveryError("ratelimited", permanent=False)}
    )
    delivery = DigestDelivery(store, {"slack": slack})
    await delivery.run_due(START + timedelta(hours=9))
    slack.fail_with.clear()
    await delivery.run_due(START + timedelta(hours=9, minutes=1))
    await delivery.run_due(START + timedelta(hours=9, minutes=2))
    assert [ch for ch, _, _ in slack.posts] == [BERLIN]


async def test_weekly_digest_ranks_team_votes_and_names_sharers(
    world: Paperboy, store: Store, index: SearchIndex
) -> None:
    await ingest_papers(store, index, seed_papers(START), now=START)
    papers = seed_papers(START)
    team = Paperboy(store, index, clock=lambda: START + timedelta(days=2))
    await team.handle(Command(BERLIN, "U1", f"share {papers[2].id} must read"))
    await team.handle(Command(BERLIN, "U2", f"vote {papers[5].id}"))
    await team.handle(Command(BERLIN, "U3", f"vote {papers[5].id}"))
    await team.handle(Command(BERLIN, "U1", f"vote {papers[2].id}"))
    await _setup(world, BERLIN, "09:00 Europe/Berlin weekdays")
    slack = RecordingPoster("slack")
    monday = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    await DigestDelivery(store, {"slack": slack}).run_due(monday)
    weekly = [r for _, r, _ in slack.posts if isinstance(r, PaperList) and "team digest" in r.title]
    assert len(weekly) == 1
    cards = weekly[0].cards
    assert [c.paper.id for c in cards] == [papers[5].id, papers[2].id]
    assert cards[1].shared_by == ("U1",) and cards[1].comments == ("must read",)


async def test_a_hanging_channel_does_not_hold_up_the_others(
    world: Paperboy, store: Store, index: SearchIndex
) -> None:
    channels = [ChannelRef("slack", "T1", f"c{n}") for n in range(6)]
    for channel in channels:
        await _setup(world, channel, "09:00 UTC daily")
    await ingest_papers(store, index, seed_papers(START), now=START)

    class HangsOnC0(RecordingPoster):
        async def post(self, channel: ChannelRef, reply: Reply) -> None:
            if channel.channel == "c0":
                await asyncio.Event().wait()
            await super().post(channel, reply)

    slack = HangsOnC0("slack")
    delivery = DigestDelivery(store, {"slack": slack}, concurrency=2, post_timeout=0.3)
    report = await delivery.run_due(START + timedelta(hours=9))
    assert sorted(ch.channel for ch, _, _ in slack.posts) == ["c1", "c2", "c3", "c4", "c5"]
    assert (report.outcomes["posted"], report.outcomes["retry"]) == (5, 1)


async def test_a_channel_can_turn_the_nothing_new_line_off(
    world: Paperboy, store: Store, index: SearchIndex
) -> None:
    await _setup(world, BERLIN, "09:00 UTC daily quiet:off")
    slack = RecordingPoster("slack")
    await DigestDelivery(store, {"slack": slack}).run_due(START + timedelta(hours=9))
    assert slack.posts == []
    settings = await store.channel_settings(BERLIN)
    assert settings is not None and not settings.quiet_notice


async def test_claims_of_a_worker_killed_mid_fan_out_are_taken_over_after_their_lease(
    world: Paperboy, store: Store, index: SearchIndex, caplog: pytest.LogCaptureFixture
) -> None:
    await _setup(world, BERLIN, "09:00 UTC daily")
    await _setup(world, NEW_YORK, "09:00 UTC daily")
    due = START + timedelta(hours=9)
    await DigestDelivery(store, {}).queue_due(due)
    # A worker claimed both and died (SIGKILL: no release, no record, no renewal).
    dead = await store.claim_digests(["slack"], "dead-worker", due, due + LEASE, 10)
    assert len(dead) == 4  # daily and (Monday) weekly, for each channel
    slack = RecordingPoster("slack")
    alive = DigestDelivery(store, {"slack": slack}, worker="alive")
    early = await alive.run_due(due + LEASE - timedelta(seconds=1))
    assert slack.posts == [] and early.taken_over == 0  # the lease still holds
    late = await alive.run_due(due + LEASE + timedelta(seconds=1))
    again = await alive.run_due(due + LEASE + timedelta(minutes=1))
    assert sorted(ch.channel for ch, _, _ in slack.posts) == ["berlin", "new-york"]
    assert (late.taken_over, late.outcomes["posted"], again.outcomes["posted"]) == (4, 2, 0)
    assert "may have posted it already" in caplog.text


async def test_two_workers_share_a_fan_out_and_post_each_channel_once(
    world: Paperboy, store: Store, index: SearchIndex
) -> None:
    channels = [ChannelRef("slack", "T1", f"c{n}") for n in range(30)]
    for channel in channels:
        await _setup(world, channel, "09:00 UTC daily")
    await ingest_papers(store, index, seed_papers(START), now=START)
    due = START + timedelta(hours=9)
    first, second = RecordingPoster("slack"), RecordingPoster("slack")
    workers = [
        DigestDelivery(store, {"slack": poster}, worker=name, claim_batch=4, concurrency=2)
        for name, poster in (("w1", first), ("w2", second))
    ]
    await workers[0].queue_due(due)
    await asyncio.gather(*(worker.post_queued(due) for worker in workers))
    posted = [ch for ch, _, _ in first.posts + second.posts]
    assert sorted(posted, key=str) == sorted(channels, key=str)
    assert first.posts and second.posts  # both took a share


async def test_a_worker_claims_only_platforms_it_is_connected_to(
    world: Paperboy, store: Store, index: SearchIndex
) -> None:
    await _setup(world, BERLIN, "09:00 UTC daily")
    await _setup(world, TOKYO, "09:00 UTC daily")
    due = START + timedelta(hours=9)
    slack, discord = RecordingPoster("slack"), RecordingPoster("discord")
    await DigestDelivery(store, {"slack": slack}).run_due(due)
    assert [ch for ch, _, _ in slack.posts] == [BERLIN]
    await DigestDelivery(store, {"discord": discord}).post_queued(due + timedelta(minutes=1))
    assert [ch for ch, _, _ in discord.posts] == [TOKYO]


async def test_posted_digests_are_recorded_in_batches_within_the_flush_window(
    world: Paperboy, store: Store, index: SearchIndex
) -> None:
    channels = [ChannelRef("slack", "T1", f"c{n}") for n in range(25)]
    for channel in channels:
        await _setup(world, channel, "09:00 UTC daily")
    await ingest_papers(store, index, seed_papers(START), now=START)
    slack = RecordingPoster("slack")
    delivery = DigestDelivery(store, {"slack": slack}, flush_every=10, flush_after=0.05)
    report = await delivery.run_due(START + timedelta(hours=9))
    assert report.outcomes["posted"] == 25 and len(report.record_lag) == 25
    assert max(report.record_lag) < 1.0
    # Recorded: the next run finds nothing to post, and the papers count as sent.
    again = await delivery.run_due(START + timedelta(hours=9, minutes=5))
    assert again.outcomes["posted"] == 0 and len(slack.posts) == 25


async def test_picks_merge_every_topics_matches_in_trending_order_past_what_was_posted(
    world: Paperboy, store: Store, index: SearchIndex
) -> None:
    # 120 papers; a topic matches every 2nd, 3rd or 10th (some match two or three), and the
    # channel was already sent the best 45 matches: its picks lie deep in the longer lists.
    words = {"tokamak": 2, "phonon": 3, "glacier": 10}
    papers = [
        Paper(
            id=f"0001.{n:05d}",
            title=f"Study {n} of the "
            + " and ".join([w for w, every in words.items() if n % every == 0] or ["weather"]),
            abstract="A study.",
            authors=("A. Author",),
            published=START + timedelta(minutes=n),
            hf_upvotes=(n * 37) % 101,
            on_hf=True,
        )
        for n in range(120)
    ]
    await ingest_papers(store, index, papers, now=START)
    await _setup(world, BERLIN, "09:00 Europe/Berlin daily")
    for word in words:
        await world.handle(Command(BERLIN, "admin", f"subscribe {word}"))
    due = datetime(2026, 10, 26, 8, 0, tzinfo=UTC)
    matched = [p for p in papers if "weather" not in p.title]
    best_first = rank_trending(matched, {}, due)
    await store.record_posts(BERLIN, [p.id for p in best_first[:45]], "daily", START)

    slack = RecordingPoster("slack")
    await DigestDelivery(store, {"slack": slack}).run_due(due)

    (_, reply, _), *_ = slack.posts
    assert isinstance(reply, PaperList)
    assert [c.paper.id for c in reply.cards] == [p.id for p in best_first[45:50]]
    for card in reply.cards:
        topics = [w for w in words if w in card.paper.title]
        quoted = ", ".join(f"`{w}`" for w in topics)
        topic = "topic" if len(topics) == 1 else "topics"
        assert card.reason == f"Matches your {topic} {quoted}"
