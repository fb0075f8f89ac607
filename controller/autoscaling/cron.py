"""Scheduled actions' recurrence: the five-field Unix cron AWS takes (minute hour day-of-month month
day-of-week), in UTC or a named time zone; pure.

https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scheduled-scaling.html#scheduled-scaling-recurring-schedules
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controller.errors import ValidationError

_MONTHS = {name: index + 1 for index, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DAYS = {name: index for index, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_SEARCH_DAYS = 366 * 5


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    #: cron's rule: when both day fields are restricted, a day matching either one matches
    day_restricted: bool
    weekday_restricted: bool

    def matches_day(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return by_day or by_weekday
        return by_day and by_weekday


def parse(expression: str) -> Cron:
    fields = expression.split()
    if len(fields) != 5:
        raise ValidationError(f"Given recurrence string: {expression} is invalid")
    try:
        minutes = _field(fields[0], 0, 59, {})
        hours = _field(fields[1], 0, 23, {})
        days = _field(fields[2], 1, 31, {})
        months = _field(fields[3], 1, 12, _MONTHS)
        weekdays = frozenset(value % 7 for value in _field(fields[4], 0, 7, _DAYS))
    except ValueError:
        raise ValidationError(f"Given recurrence string: {expression} is invalid") from None
    return Cron(minutes, hours, days, months, weekdays, fields[2] not in ("*", "?"), fields[4] not in ("*", "?"))


def _field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.lower().split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step <= 0:
                raise ValueError(part)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _value(first, names), _value(last, names)
        else:
            start = _value(part, names)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ValueError(part)
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int]) -> int:
    return names[text] if text in names else int(text)


def zone(name: str | None) -> dt.tzinfo:
    if not name or name in ("UTC", "Etc/UTC"):
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Given time zone: {name} is invalid") from None


def next_run(expression: str, after: dt.datetime, time_zone: str | None = None) -> dt.datetime | None:
    """The first time strictly after ``after`` the expression names (aware, in UTC); None past five years."""
    cron = parse(expression)
    tz = zone(time_zone)
    local = after.astimezone(tz).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    day = local.date()
    for _ in range(_SEARCH_DAYS):
        if cron.matches_day(day):
            for hour in sorted(cron.hours):
                for minute in sorted(cron.minutes):
                    candidate = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                    if candidate >= local:
                        return candidate.astimezone(dt.UTC)
        day += dt.timedelta(days=1)
    return None
