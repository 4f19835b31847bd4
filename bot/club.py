"""Journal club: who presents which paper in a channel, and when; the weekly digest's section;
the direct message that reminds a presenter the day before.

Days are the channel's local dates (its digest timezone). A reminder goes out the day before, at
the channel's digest time, through the platform's :class:`~bot.ports.Poster` to
``ChannelRef.direct(platform, workspace, presenter)``. It is claimed in the database before it is
sent and never sent twice, as digests are.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot.models import ChannelRef, ClubClaim, Paper
from bot.ports import DeliveryError, Poster
from bot.replies import Notice, shorten
from bot.scheduling import DEFAULT_SCHEDULE, ChannelSchedule, ScheduleError, local_time
from bot.storage import Store

log = logging.getLogger(__name__)

MAX_DAYS_AHEAD = 366
SECTION_TITLE = "This week in journal club"
POST_TIMEOUT = 60.0
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


async def channel_schedule(store: Store, ref: ChannelRef) -> ChannelSchedule:
    """The channel's digest schedule, or the default one for a channel never configured."""
    settings = await store.channel_settings(ref)
    return settings.schedule if settings else DEFAULT_SCHEDULE


def local_today(schedule: ChannelSchedule, now: datetime) -> date:
    return now.astimezone(schedule.zone).date()


def next_club_day(schedule: ChannelSchedule, now: datetime) -> date:
    """The channel's next weekly digest day: today if its digest has not gone out yet."""
    today = local_today(schedule, now)
    for offset in range(8):
        day = today + timedelta(days=offset)
        if (
            day.weekday() == schedule.weekly_day
            and local_time(day, schedule.at, schedule.zone) > now
        ):
            return day
    raise AssertionError("unreachable: every weekday comes within eight days")


def parse_club_date(text: str, today: date) -> date:
    """``2026-12-04``, ``today``, ``tomorrow`` or a weekday (``fri``, ``friday``: the next one,
    today included). Past days and days more than a year ahead are refused."""
    word = text.strip().lower()
    if word == "today":
        day = today
    elif word == "tomorrow":
        day = today + timedelta(days=1)
    elif len(word) >= 3 and any(name.startswith(word) for name in _WEEKDAYS):
        wanted = next(n for n, name in enumerate(_WEEKDAYS) if name.startswith(word))
        day = today + timedelta(days=(wanted - today.weekday()) % 7)
    else:
        try:
            day = date.fromisoformat(word)
        except ValueError:
            raise ScheduleError(
                f"`{shorten(text, 30)}` is not a day I understand. Use a date like "
                f"`{today + timedelta(days=7):%Y-%m-%d}`, `tomorrow` or a weekday like `friday`."
            ) from None
    if day < today:
        raise ScheduleError(f"{day:%a %d %b %Y} has passed. Pick today or a day ahead.")
    if day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise ScheduleError("That is more than a year ahead. Pick a day within the next year.")
    return day


def agenda_line(claim: ClubClaim, paper: Paper | None, today: date) -> str:
    """``Thu 03 Dec (tomorrow): “Title” `id`, presented by alice``."""
    title = shorten(paper.title, 90) if paper else claim.paper_id
    return (
        f"{_day_label(claim.present_on, today)}: “{title}” `{claim.paper_id}`, "
        f"presented by {claim.presenter_label}"
    )


def _day_label(day: date, today: date) -> str:
    relative = {0: " (today)", 1: " (tomorrow)"}.get((day - today).days, "")
    return f"{day:%a %d %b}{relative}"


async def week_section(store: Store, ref: ChannelRef, now: datetime) -> tuple[str, ...]:
    """The weekly digest's opening lines: claims in this channel for the coming seven days."""
    today = local_today(await channel_schedule(store, ref), now)
    claims = await store.club_schedule(ref, today, today + timedelta(days=6))
    if not claims:
        return ()
    papers = await store.get_papers([claim.paper_id for claim in claims])
    lines = [agenda_line(claim, papers.get(claim.paper_id), today) for claim in claims]
    return (f"{SECTION_TITLE}:", *(f"• {line}" for line in lines))


# -- reminders ------------------------------------------------------------------------------


def reminder_due_at(claim: ClubClaim, schedule: ChannelSchedule) -> datetime:
    """The day before the presentation, at the channel's digest time."""
    return local_time(claim.present_on - timedelta(days=1), schedule.at, schedule.zone)


def reminder_reply(claim: ClubClaim, paper: Paper | None) -> Notice:
    title = shorten(paper.title, 120) if paper else claim.paper_id
    lines = (paper.abs_url,) if paper else ()
    return Notice(
        f"Reminder: tomorrow ({claim.present_on:%a %d %b}) you present “{title}” "
        f"`{claim.paper_id}` in journal club.",
        lines=(*lines, f"Can't make it? `/papers present cancel {claim.paper_id}` in the channel."),
    )


@dataclass
class ClubReminders:
    """Sends each presenter's reminder once, the day before, through their platform's poster."""

    store: Store
    posters: Mapping[str, Poster]
    post_timeout: float = POST_TIMEOUT

    async def run_due(self, now: datetime) -> Counter[str]:
        outcomes: Counter[str] = Counter()
        # Local dates run from UTC-12 to UTC+14: two days either side of today's UTC date cover
        # every presentation whose eve may have started somewhere.
        pending = await self.store.club_reminders_pending(
            now.date() - timedelta(days=1), now.date() + timedelta(days=2)
        )
        for claim, timezone, digest_time in pending:
            if claim.channel.platform not in self.posters:
                continue
            hour, minute = (int(part) for part in digest_time.split(":"))
            schedule = ChannelSchedule(time(hour, minute), timezone)
            due = reminder_due_at(claim, schedule)
            starts = local_time(claim.present_on, time(0, 0), schedule.zone)
            # A claim made after its reminder time was just made by the presenter: no reminder.
            if claim.claimed_at < due <= now < starts:
                outcomes[await self._send(claim, now)] += 1
        if outcomes:
            log.info("journal club reminders: %s", dict(outcomes))
        return outcomes

    async def _send(self, claim: ClubClaim, now: datetime) -> str:
        if not await self.store.claim_reminder(claim.id, now):
            return "already claimed"
        ref = claim.channel
        target = ChannelRef.direct(ref.platform, ref.workspace, claim.presenter)
        reply = reminder_reply(claim, await self.store.get_paper(claim.paper_id))
        try:
            await asyncio.wait_for(
                self.posters[ref.platform].post(target, reply), timeout=self.post_timeout
            )
        except DeliveryError as error:
            if not error.permanent:
                await self.store.release_reminder(claim.id)
                return "retry"
            await self.store.finish_reminder(claim.id, "failed", now)
            log.warning("journal club reminder to %s failed: %s", target, error.reason)
            return "failed"
        except (Exception, asyncio.CancelledError) as error:
            # Nothing was delivered: give the claim back so the next tick retries.
            await asyncio.shield(self.store.release_reminder(claim.id))
            if isinstance(error, asyncio.CancelledError):
                raise
            log.warning("journal club reminder to %s not sent, will retry: %r", target, error)
            return "retry"
        await self.store.finish_reminder(claim.id, "sent", now)
        return "sent"
