from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from bot.scheduling import (
    ChannelSchedule,
    ScheduleError,
    parse_schedule,
    parse_time,
    timezone_suggestions,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", time(9)),
        ("9:05", time(9, 5)),
        ("17:30", time(17, 30)),
        ("9am", time(9)),
        ("12pm", time(12)),
        ("12am", time(0)),
        ("7", time(7)),
    ],
)
def test_times_people_type(text: str, expected: time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["25:00", "09:60", "noon", "13pm", "", "9:5"])
def test_nonsense_times_are_refused_with_the_format(text: str) -> None:
    with pytest.raises(ScheduleError, match=r"HH:MM|Try"):
        parse_time(text)


def test_schedule_parses_case_insensitive_timezones() -> None:
    schedule = parse_schedule("08:15 america/new_york daily")
    assert schedule == ChannelSchedule(time(8, 15), "America/New_York", "daily")


def test_misspelt_timezone_gets_suggestions() -> None:
    with pytest.raises(ScheduleError, match="Europe/Berlin"):
        parse_schedule("09:00 Europe/Berln")
    assert timezone_suggestions("tokyo")[0] == "Asia/Tokyo"


def test_weekday_schedule_skips_the_weekend() -> None:
    schedule = ChannelSchedule(time(9), "Europe/Berlin", "weekdays")
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert schedule.next_run(friday_evening) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_next_run_follows_daylight_saving() -> None:
    schedule = ChannelSchedule(time(9), "America/New_York", "daily")
    before_change = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)  # DST ends 2026-11-01 02:00 local
    first = schedule.next_run(before_change)
    second = schedule.next_run(first) if first else None
    assert first == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)  # 09:00 EST
    assert second == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def test_a_time_skipped_by_spring_forward_moves_later() -> None:
    schedule = ChannelSchedule(time(2, 30), "Europe/Berlin", "daily")
    run = schedule.next_run(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert run is not None
    assert run.astimezone(schedule.zone).hour == 3
