"""Cron expressions in a time zone: DST both ways, month ends, steps, and day-of-month
with day-of-week, each answered as UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from opsledger.schedules import cron


def local_times(expression: str, zone: str, after: datetime, count: int) -> list[str]:
    times = islice(cron.times(expression, zone, after), count)
    return [moment.astimezone(ZoneInfo(zone)).isoformat() for moment in times]


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        (
            "Europe/Berlin",
            datetime(2026, 3, 28, 12, tzinfo=UTC),
            ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
        ),
        (
            "America/New_York",
            datetime(2026, 3, 7, 12, tzinfo=UTC),
            ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
        ),
    ],
)
def test_a_0230_job_runs_once_at_0300_on_the_spring_forward_day(
    zone: str, day: datetime, expected: list[str]
) -> None:
    assert local_times("30 2 * * *", zone, day, 2) == expected


@pytest.mark.parametrize(
    ("expression", "zone", "day", "expected"),
    [
        (
            "30 2 * * *",
            "Europe/Berlin",
            datetime(2026, 10, 24, 12, tzinfo=UTC),
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
        ),
        (
            "30 1 * * *",
            "America/New_York",
            datetime(2026, 10, 31, 12, tzinfo=UTC),
            ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
        ),
    ],
)
def test_a_time_the_fall_back_day_repeats_runs_once_the_first_time(
    expression: str, zone: str, day: datetime, expected: list[str]
) -> None:
    assert local_times(expression, zone, day, 2) == expected


def test_inside_the_repeated_hour_the_first_one_counts_as_past() -> None:
    # 06:05 UTC is 01:05 EST, the second 01:05 of the day: 01:30 EDT has gone by.
    after = datetime(2026, 11, 1, 6, 5, tzinfo=UTC)

    assert local_times("30 1 * * *", "America/New_York", after, 1) == ["2026-11-02T01:30:00-05:00"]


def test_every_15_minutes_keeps_real_time_through_the_repeated_hour() -> None:
    after = datetime(2026, 11, 1, 5, 5, tzinfo=UTC)  # 01:05 EDT
    times = [
        t.strftime("%H:%M")
        for t in islice(cron.times("*/15 * * * *", "America/New_York", after), 8)
    ]

    assert times == ["05:15", "05:30", "05:45", "06:00", "06:15", "06:30", "06:45", "07:00"]


def test_the_31st_skips_the_months_without_one() -> None:
    after = datetime(2026, 1, 1, tzinfo=UTC)

    assert local_times("0 0 31 * *", "UTC", after, 3) == [
        "2026-01-31T00:00:00+00:00",
        "2026-03-31T00:00:00+00:00",
        "2026-05-31T00:00:00+00:00",
    ]


def test_day_of_month_with_day_of_week_matches_either_as_cron_does() -> None:
    after = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday

    assert local_times("0 0 13 * 5", "UTC", after, 3) == [
        "2026-01-02T00:00:00+00:00",  # a Friday
        "2026-01-09T00:00:00+00:00",
        "2026-01-13T00:00:00+00:00",  # the 13th, a Tuesday
    ]
    # With either field a star, both must hold: Friday the 13th only.
    assert local_times("0 0 13 * *", "UTC", after, 1) == ["2026-01-13T00:00:00+00:00"]
    assert local_times("0 0 * * 5", "UTC", after, 1) == ["2026-01-02T00:00:00+00:00"]


@pytest.mark.parametrize(
    "expression",
    ["61 * * * *", "* * *", "0 0 * * * *", "0 0 30 2 *", "@daily", "banana"],
)
def test_what_is_not_a_5_field_cron_expression_is_refused_naming_cron(expression: str) -> None:
    with pytest.raises(cron.BadTiming) as refused:
        cron.check(expression)

    assert refused.value.field == "cron"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "utc+1"])
def test_what_is_not_an_iana_zone_is_refused_naming_timezone(name: str) -> None:
    with pytest.raises(cron.BadTiming) as refused:
        cron.zone(name)

    assert refused.value.field == "timezone"
