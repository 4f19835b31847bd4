"""Journal club: claiming papers to present, the weekly digest's section, reminders sent once."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from adapters.console import ConsolePoster
from bot.club import ClubReminders
from bot.commands import Paperboy
from bot.digests import weekly_digest
from bot.models import ChannelRef
from bot.ports import DeliveryError
from bot.replies import Command, Notice, PaperList, Reply
from bot.storage import Store
from tests.conftest import GENERAL, Chat, Clock
from tests.papers import NOW, paper

Ask = Callable[..., Awaitable[Reply]]
OTHER_CHANNEL = ChannelRef("console", "team-a", "random")
# NOW is Thursday 2026-11-26 18:00 UTC; a channel's weekly digest is on Mondays at 09:00 UTC.
MONDAY = "Mon 30 Nov"


@dataclass
class RecordingPoster:
    platform: str = "console"
    posts: list[tuple[ChannelRef, Reply]] = field(default_factory=list)
    failures: list[DeliveryError] = field(default_factory=list)

    async def post(self, channel: ChannelRef, reply: Reply) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.posts.append((channel, reply))


async def test_present_claims_for_the_next_weekly_digest_day_by_default(
    ask: Ask, chat: Chat
) -> None:
    reply = await ask(f"present {paper(2).id}", user="alice")
    assert isinstance(reply, Notice) and reply.public and reply.kind == "success"
    assert (
        f"alice will present “Tutel: Adaptive Mixture-of-Experts at Scale” `{paper(2).id}`"
        in reply.text
    )
    assert f"{MONDAY} 2026" in reply.text
    assert f"{MONDAY}: “Tutel: Adaptive Mixture-of-Experts at Scale” `{paper(2).id}`, " + (
        "presented by alice"
    ) in await chat("club")


async def test_present_takes_a_date_a_weekday_today_or_tomorrow(chat: Chat) -> None:
    assert "Fri 27 Nov 2026" in await chat(f"present {paper(1).id} friday")
    assert "Thu 03 Dec 2026" in await chat(f"present {paper(2).id} 2026-12-03")
    assert "Fri 27 Nov 2026" in await chat(f"present {paper(3).id} tomorrow")
    text = await chat("club")
    lines = [line.strip() for line in text.splitlines()[1:]]
    assert lines[0].startswith("Fri 27 Nov (tomorrow): “Efficient Streaming")
    assert lines[-1].startswith("Thu 03 Dec: “Tutel")


async def test_a_date_in_the_past_or_nonsense_is_refused_kindly(chat: Chat) -> None:
    assert "has passed" in await chat(f"present {paper(1).id} 2026-11-01")
    assert "is not a day I understand" in await chat(f"present {paper(1).id} someday")
    assert "more than a year ahead" in await chat(f"present {paper(1).id} 2028-01-01")
    assert "No journal club talks planned" in await chat("club")


async def test_the_day_is_the_channels_own_local_day(chat: Chat) -> None:
    await chat("schedule 08:00 Pacific/Auckland")  # Friday 07:00 there
    assert "Fri 27 Nov 2026" in await chat(f"present {paper(1).id} today")


async def test_one_presenter_per_paper_per_channel(chat: Chat) -> None:
    await chat(f"present {paper(2).id}", user="alice")
    text = await chat(f"present {paper(2).id} friday", user="bob")
    assert "alice already claimed “Tutel" in text and "Pick another paper" in text
    # Another channel runs its own journal club.
    assert "bob will present" in await chat(
        f"present {paper(2).id}", user="bob", channel=OTHER_CHANNEL
    )


async def test_the_presenter_can_move_their_talk(chat: Chat) -> None:
    await chat(f"present {paper(2).id}")
    assert "Fri 27 Nov 2026" in await chat(f"present {paper(2).id} friday")
    assert "already present" in await chat(f"present {paper(2).id} friday")
    assert "Fri 27 Nov (tomorrow)" in await chat("club")


async def test_only_the_presenter_cancels(chat: Chat) -> None:
    await chat(f"present {paper(2).id}", user="alice")
    assert "Only alice, who claimed it, can cancel" in await chat(
        f"present cancel {paper(2).id}", user="bob"
    )
    assert "alice will no longer present" in await chat(
        f"present cancel {paper(2).id}", user="alice"
    )
    assert "Nobody presents" in await chat(f"present cancel {paper(2).id}", user="alice")
    assert "bob will present" in await chat(f"present {paper(2).id}", user="bob")


async def test_present_answers_a_wrong_id_clearly(chat: Chat) -> None:
    assert "Which paper?" in await chat("present")
    assert "is not a paper id or link" in await chat("present banana")
    assert "Which paper?" in await chat("present cancel")
    assert "could not find paper `2401.99999`" in await chat("present 2401.99999")


async def test_the_display_name_is_used_when_the_platform_gives_one(bot: Paperboy) -> None:
    await bot.handle(Command(GENERAL, "U123", f"present {paper(2).id}", user_name="Ada"))
    club = await bot.handle(Command(GENERAL, "U999", "club"))
    assert isinstance(club, Notice) and club.lines[0].endswith("presented by Ada")


async def test_claims_survive_a_restart(bot: Paperboy, chat: Chat) -> None:
    await chat(f"present {paper(2).id}")
    reopened = await Store.open(bot.store.location)
    try:
        claims = await reopened.club_schedule(GENERAL, NOW.date())
        assert [(c.paper_id, c.presenter) for c in claims] == [(paper(2).id, "alice")]
    finally:
        await reopened.close()


# -- the weekly digest --------------------------------------------------------------------


async def test_weekly_digest_opens_with_this_week_in_journal_club(
    bot: Paperboy, chat: Chat
) -> None:
    await chat(f"vote {paper(1).id}")
    await chat(f"present {paper(2).id} friday", user="bob")
    await chat(f"present {paper(3).id} 2026-12-20", user="carol")  # beyond the coming week
    digest = await weekly_digest(bot.store, GENERAL, NOW)
    assert isinstance(digest.reply, PaperList)
    intro = digest.reply.intro
    assert intro[0] == "This week in journal club:"
    assert intro[1].startswith("• Fri 27 Nov (tomorrow): “Tutel")
    assert intro[1].endswith("presented by bob")
    assert not any("carol" in line for line in intro)


async def test_a_week_with_only_journal_club_still_gets_its_digest(
    bot: Paperboy, chat: Chat
) -> None:
    quiet = await weekly_digest(bot.store, GENERAL, NOW)
    assert quiet.is_empty
    await chat(f"present {paper(2).id}")
    digest = await weekly_digest(bot.store, GENERAL, NOW)
    assert not digest.is_empty
    assert isinstance(digest.reply, Notice)
    assert "This week in journal club:" in digest.reply.lines


# -- reminders ----------------------------------------------------------------------------


async def _tick(reminders: ClubReminders, moment: datetime) -> None:
    await reminders.run_due(moment)


@pytest.fixture
def poster() -> RecordingPoster:
    return RecordingPoster()


@pytest.fixture
def reminders(bot: Paperboy, poster: RecordingPoster) -> ClubReminders:
    return ClubReminders(bot.store, {"console": poster})


async def test_the_presenter_gets_one_direct_message_the_day_before(
    chat: Chat, reminders: ClubReminders, poster: RecordingPoster, bot: Paperboy
) -> None:
    await chat(f"present {paper(2).id}", user="alice")  # Monday 30 Nov
    sunday_9am = datetime(2026, 11, 29, 9, 0, tzinfo=NOW.tzinfo)
    await _tick(reminders, sunday_9am - timedelta(minutes=1))
    assert poster.posts == []
    await _tick(reminders, sunday_9am)
    await _tick(reminders, sunday_9am + timedelta(minutes=1))
    (target, reply), *more = poster.posts
    assert more == []
    assert target == ChannelRef.direct("console", "team-a", "alice")
    assert target.direct_user == "alice"
    assert isinstance(reply, Notice)
    assert "tomorrow (Mon 30 Nov) you present “Tutel" in reply.text
    # A restart (a fresh store on the same file) does not send it again.
    reopened = await Store.open(bot.store.location)
    try:
        await ClubReminders(reopened, {"console": poster}).run_due(sunday_9am + timedelta(hours=1))
    finally:
        await reopened.close()
    assert len(poster.posts) == 1


async def test_a_claim_made_after_its_reminder_time_gets_no_reminder(
    bot: Paperboy, clock: Clock, reminders: ClubReminders, poster: RecordingPoster
) -> None:
    clock.now = datetime(2026, 11, 29, 12, 0, tzinfo=NOW.tzinfo)  # Sunday noon
    await bot.handle(Command(GENERAL, "alice", f"present {paper(2).id}"))  # Monday
    await _tick(reminders, clock.now + timedelta(minutes=5))
    assert poster.posts == []


async def test_a_passing_failure_is_retried_a_permanent_one_is_not(
    chat: Chat, reminders: ClubReminders, poster: RecordingPoster
) -> None:
    await chat(f"present {paper(2).id}", user="alice")
    await chat(f"present {paper(3).id}", user="bob")
    sunday_9am = datetime(2026, 11, 29, 9, 0, tzinfo=NOW.tzinfo)
    poster.failures = [
        DeliveryError("rate limited", permanent=False),
        DeliveryError("user has DMs closed", permanent=True),
    ]
    first = await reminders.run_due(sunday_9am)
    assert (first["retry"], first["failed"]) == (1, 1)
    second = await reminders.run_due(sunday_9am + timedelta(minutes=1))
    assert second["sent"] == 1
    await reminders.run_due(sunday_9am + timedelta(minutes=2))
    assert [target.direct_user for target, _ in poster.posts] == ["alice"]


async def test_no_reminder_once_the_day_has_come_or_for_an_unconnected_platform(
    bot: Paperboy, chat: Chat, poster: RecordingPoster
) -> None:
    await chat(f"present {paper(2).id}")
    monday = datetime(2026, 11, 30, 0, 30, tzinfo=NOW.tzinfo)
    assert not await ClubReminders(bot.store, {"slack": poster}).run_due(monday)
    await ClubReminders(bot.store, {"console": poster}).run_due(monday)
    assert poster.posts == []


async def test_the_console_shows_a_direct_message_as_one() -> None:
    out = io.StringIO()
    await ConsolePoster(out=out).post(ChannelRef.direct("console", "local", "you"), Notice("Hi"))
    assert "direct message to you ←" in out.getvalue()
