"""Scheduled actions' recurrence (controller/autoscaling/cron.py) and first runs (scheduled.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from controller.autoscaling.cron import next_run, parse
from controller.autoscaling.scheduled import first_run
from controller.errors import ServiceError

T0 = dt.datetime(2026, 12, 5, 10, 7, 30, tzinfo=dt.UTC)     # a Saturday


def test_every_minute_and_fixed_times() -> None:
    assert next_run("* * * * *", T0) == dt.datetime(2026, 12, 5, 10, 8, tzinfo=dt.UTC)
    assert next_run("0 9 * * *", T0) == dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
    assert next_run("*/15 * * * *", T0) == dt.datetime(2026, 12, 5, 10, 15, tzinfo=dt.UTC)


def test_weekdays_months_and_names() -> None:
    assert next_run("0 8 * * mon-fri", T0) == dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
    assert next_run("30 6 1 jan *", T0) == dt.datetime(2027, 1, 1, 6, 30, tzinfo=dt.UTC)
    assert next_run("0 0 * * 0", T0) == dt.datetime(2026, 12, 6, 0, 0, tzinfo=dt.UTC)   # 0 and 7 are Sunday
    assert next_run("0 0 * * 7", T0) == dt.datetime(2026, 12, 6, 0, 0, tzinfo=dt.UTC)


def test_day_of_month_or_weekday_when_both_restricted() -> None:
    # the 10th, or any Monday: Monday the 7th comes first
    assert next_run("0 0 10 * mon", T0) == dt.datetime(2026, 12, 7, 0, 0, tzinfo=dt.UTC)


def test_time_zone() -> None:
    # 09:00 in Paris (UTC+1 in December) is 08:00 UTC
    assert next_run("0 9 * * *", T0, "Europe/Paris") == dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("bad", ["* * * *", "61 * * * *", "* 24 * * *", "*/0 * * * *", "a b c d e"])
def test_invalid_expressions(bad: str) -> None:
    with pytest.raises(ServiceError) as refused:
        parse(bad)
    assert refused.value.code == "ValidationError"


def test_first_run_of_one_time_and_recurring_actions() -> None:
    start = T0 + dt.timedelta(hours=1)
    assert first_run({"StartTime": start.isoformat()}, T0) == start.timestamp()
    assert first_run({"Recurrence": "0 * * * *", "StartTime": start.isoformat()}, T0) == \
        dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC).timestamp()
    assert first_run({"Recurrence": "0 * * * *", "EndTime": (T0 + dt.timedelta(minutes=10)).isoformat()}, T0) \
        is None
