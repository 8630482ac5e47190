"""When a schedule is due: a 5-field cron expression read in an IANA time zone, answered
as UTC instants.

The expressions are evaluated by cronsim (chosen over croniter, both on the package
index and released this year, both without a hand-written parser of ours). For a job at
02:30 in Europe/Berlin or America/New_York both run it once, at 03:00, on the
spring-forward day (02:30 does not exist). On the fall-back day, when 02:30 (Berlin) or
01:30 (New York) happens twice, croniter 7 runs it twice and cronsim once, at the first
02:30; that, and cronsim having no dependencies and refusing a day no month has
(``0 0 30 2 *``) when parsed, decided it. Both read ``*/15`` in real time across a change
(every 15 minutes, the repeated hour included) and day-of-month with day-of-week as cron
does (either matches, unless one of them is ``*``). cronsim also reads a 6-field form
with seconds: we accept 5 fields only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

FIELDS = 5


class BadTiming(ValueError):
    """An expression or zone that names no times: ``field`` says which was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``Europe/Berlin``, ``UTC``), or BadTiming."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadTiming("timezone", f"{name!r} is not an IANA time zone") from None


def check(expression: str) -> str:
    """``expression`` if cron can read it (5 fields), else BadTiming naming why."""
    if len(expression.split()) != FIELDS:
        raise BadTiming(
            "cron", "a cron expression has 5 fields: minute hour day-of-month month day-of-week"
        )
    try:
        CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise BadTiming("cron", f"{expression!r} is not a cron expression: {exc}") from None
    return expression


def times(expression: str, zone_name: str, after: datetime) -> Iterator[datetime]:
    """The times ``expression`` names in ``zone_name`` strictly after ``after``, as UTC
    instants, in order (none once no time matches for 50 years)."""
    local = after.astimezone(zone(zone_name))
    for moment in CronSim(check(expression), local):
        instant = moment.astimezone(UTC)
        # On a fall-back day cronsim names the first of two equal wall-clock times even
        # when ``after`` lies in the repeated hour, past it: that time has gone by.
        if instant > after:
            yield instant
