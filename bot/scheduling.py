"""When each channel's digests are due: its schedule, in its own timezone."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache

DAY_MODES = ("weekdays", "daily", "off")
_TIME = re.compile(r"^(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>am|pm)?$", re.IGNORECASE)


class ScheduleError(ValueError):
    """A schedule a person typed that cannot be used; the message says what to type instead."""


@dataclass(frozen=True, slots=True)
class ChannelSchedule:
    at: time
    timezone: str
    days: str = "weekdays"
    weekly_day: int = 0  # Monday

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def describe(self) -> str:
        if self.days == "off":
            return "Daily picks are off for this channel."
        days = "every weekday" if self.days == "weekdays" else "every day"
        return f"Daily picks {days} at {self.at:%H:%M} ({self.timezone})."

    def runs_on(self, day: date) -> bool:
        if self.days == "off":
            return False
        return self.days == "daily" or day.weekday() < 5

    def next_run(self, after: datetime) -> datetime | None:
        """The first digest time strictly after ``after`` (aware), or None when off."""
        local = after.astimezone(self.zone)
        for offset in range(0, 8):
            day = local.date() + timedelta(days=offset)
            if not self.runs_on(day):
                continue
            moment = local_time(day, self.at, self.zone)
            if moment > after:
                return moment
        return None


# A channel nobody configured: weekday mornings, UTC (the channels table's defaults).
DEFAULT_SCHEDULE = ChannelSchedule(time(9, 0), "UTC", "weekdays")


def local_time(day: date, at: time, zone: zoneinfo.ZoneInfo) -> datetime:
    """``day`` at ``at`` in ``zone``; a time skipped by a DST jump moves forward, not back."""
    naive = datetime.combine(day, at)
    moment = naive.replace(tzinfo=zone)
    round_trip = moment.astimezone(zoneinfo.ZoneInfo("UTC")).astimezone(zone)
    if round_trip.replace(tzinfo=None) != naive:
        moment = (naive + timedelta(hours=1)).replace(tzinfo=zone)
    return moment


def parse_time(text: str) -> time:
    match = _TIME.match(text.strip())
    if not match:
        raise ScheduleError(
            f"`{text}` is not a time. Use 24-hour `HH:MM`, e.g. `09:00` or `17:30`."
        )
    hour, minute = int(match["hour"]), int(match["minute"] or 0)
    if match["ampm"]:
        if not 1 <= hour <= 12:
            raise ScheduleError(f"`{text}` is not a time. Try `9am` or `09:00`.")
        hour = hour % 12 + (12 if match["ampm"].lower() == "pm" else 0)
    if hour > 23 or minute > 59:
        raise ScheduleError(f"`{text}` is not a time of day. Use `HH:MM` between 00:00 and 23:59.")
    return time(hour, minute)


def parse_timezone(text: str) -> str:
    name = text.strip()
    canonical = _timezone_names_lower().get(name.lower())
    if canonical:
        return canonical
    suggestions = timezone_suggestions(name, limit=3)
    hint = f" Did you mean {', '.join(f'`{s}`' for s in suggestions)}?" if suggestions else ""
    raise ScheduleError(
        f"`{name}` is not a timezone I know. Use an IANA name like `Europe/Berlin` or "
        f"`America/New_York`.{hint}"
    )


def timezone_suggestions(prefix: str, limit: int = 25) -> list[str]:
    """Timezone names for autocomplete: prefix and substring matches first, then close spellings."""
    needle = prefix.strip().lower().replace(" ", "_")
    names = sorted(available_timezones())
    if not needle:
        return names[:limit]
    starts = [n for n in names if n.lower().startswith(needle)]
    contains = [n for n in names if needle in n.lower() and n not in starts]
    found = starts + contains
    if len(found) < limit:
        lowered = {n.lower(): n for n in names}
        close = difflib.get_close_matches(needle, list(lowered), n=limit, cutoff=0.6)
        found += [lowered[c] for c in close if lowered[c] not in found]
    return found[:limit]


@cache
def available_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@cache
def _timezone_names_lower() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def parse_schedule(args: str) -> ChannelSchedule:
    """``HH:MM TIMEZONE [weekdays|daily|off]`` as typed after ``/papers schedule``."""
    parts = args.split()
    if len(parts) == 1 and parts[0].lower() == "off":
        return ChannelSchedule(time(9, 0), "UTC", "off")
    if len(parts) not in (2, 3):
        raise ScheduleError(
            "Usage: `schedule HH:MM TIMEZONE [weekdays|daily|off]`, e.g. "
            "`schedule 09:00 Europe/Berlin weekdays`, or `schedule off`."
        )
    at = parse_time(parts[0])
    zone = parse_timezone(parts[1])
    days = parts[2].lower() if len(parts) == 3 else "weekdays"
    if days not in DAY_MODES:
        raise ScheduleError(f"`{parts[2]}` is not one of `weekdays`, `daily` or `off`.")
    return ChannelSchedule(at, zone, days)


@dataclass(frozen=True, slots=True)
class DuePeriod:
    """One digest a channel should have had by now: its kind, the local period, and when."""

    kind: str  # daily | weekly
    period: str  # the local date (daily) or ISO week (weekly) it is for
    due_at: datetime


def due_periods(schedule: ChannelSchedule, now: datetime, not_before: datetime) -> list[DuePeriod]:
    """Digests due by ``now`` (today's and yesterday's, local), none before ``not_before``.

    Yesterday is included so a digest due shortly before midnight, or missed while the bot was
    down, is still found; the caller decides whether it is within the grace period.
    """
    if schedule.days == "off":
        return []
    today = now.astimezone(schedule.zone).date()
    found = []
    for day in (today - timedelta(days=1), today):
        due_at = local_time(day, schedule.at, schedule.zone)
        if not (not_before < due_at <= now):
            continue
        if schedule.runs_on(day):
            found.append(DuePeriod("daily", day.isoformat(), due_at))
        if day.weekday() == schedule.weekly_day:
            year, week, _ = day.isocalendar()
            found.append(DuePeriod("weekly", f"{year}-W{week:02d}", due_at))
    return found
