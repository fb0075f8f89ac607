"""Metric alarm evaluation (pure): AWS's reasons, M out of N, and the four treatments of missing data."""

from __future__ import annotations

import datetime as dt
import json

from controller.cloudwatch.evaluate import Point, Rule, evaluate, evaluation_window, java_double

NOW = dt.datetime(2026, 12, 4, 10, 2, 30, 123000, tzinfo=dt.UTC)
T0 = int(dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC).timestamp())


def rule(n: int = 1, m: int | None = None, treat: str = "missing", op: str = "GreaterThanThreshold") -> Rule:
    return Rule(period=60, evaluation_periods=n, datapoints_to_alarm=m or n, threshold=80.0, comparison=op,
                treat_missing=treat, statistic="Average")


def points(*values: float | None) -> list[Point]:
    return [Point(T0 + 60 * index, value, None if value is None else 1.0) for index, value in enumerate(values)]


def test_the_documented_reason() -> None:
    verdict = evaluate(rule(), [Point(T0 + 60, 85.0, 1.0)], "OK", NOW)
    assert verdict is not None and verdict.state == "ALARM"
    assert verdict.reason == ("Threshold Crossed: 1 out of the last 1 datapoints [85.0 (04/12/26 10:01:00)] was"
                              " greater than the threshold (80.0) (minimum 1 datapoint for OK -> ALARM transition).")
    data = json.loads(verdict.reason_data)
    assert data == {"version": "1.0", "queryDate": "2026-12-04T10:02:30.123+0000",
                    "startDate": "2026-12-04T10:01:00.000+0000", "statistic": "Average", "period": 60,
                    "recentDatapoints": [85.0], "threshold": 80.0,
                    "evaluatedDatapoints": [{"timestamp": "2026-12-04T10:01:00.000+0000", "sampleCount": 1.0,
                                             "value": 85.0}]}


def test_ok_reason_and_plurals() -> None:
    verdict = evaluate(rule(3, 2, op="GreaterThanOrEqualToThreshold"), points(10.0, 90.0, 20.0), "ALARM", NOW)
    assert verdict is not None and verdict.state == "OK"
    assert verdict.reason == ("Threshold Crossed: 2 out of the last 3 datapoints [20.0 (04/12/26 10:02:00), 10.0"
                              " (04/12/26 10:00:00)] were not greater than or equal to the threshold (80.0) (minimum"
                              " 2 datapoints for ALARM -> OK transition).")


def test_m_out_of_n() -> None:
    assert evaluate(rule(3, 2), points(90.0, 10.0, 95.0), "OK", NOW).state == "ALARM"      # type: ignore[union-attr]
    assert evaluate(rule(3, 2), points(90.0, 10.0, 15.0), "OK", NOW).state == "OK"         # type: ignore[union-attr]
    assert evaluate(rule(3, 3), points(90.0, 91.0, 95.0), "OK", NOW).state == "ALARM"      # type: ignore[union-attr]
    less = rule(2, op="LessThanThreshold")
    assert evaluate(less, points(1.0, 2.0), "OK", NOW).state == "ALARM"                    # type: ignore[union-attr]


def test_all_missing_by_treatment() -> None:
    missing = evaluate(rule(2), points(None, None), "OK", NOW)
    assert missing is not None and missing.state == "INSUFFICIENT_DATA"
    assert missing.reason == "Insufficient Data: 2 datapoints were unknown."
    assert evaluate(rule(2, treat="ignore"), points(None, None), "ALARM", NOW) is None
    breaching = evaluate(rule(1, treat="breaching"), points(None), "OK", NOW)
    assert breaching is not None and breaching.state == "ALARM"
    assert breaching.reason == ("Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint"
                                " was treated as [Breaching].")
    calm = evaluate(rule(1, treat="notBreaching"), points(None), "ALARM", NOW)
    assert calm is not None and calm.state == "OK" and "[NonBreaching]" in calm.reason


def test_some_missing() -> None:
    # enough real datapoints: missing ones do not matter, whatever the treatment
    for treat in ("missing", "ignore", "breaching", "notBreaching"):
        assert evaluate(rule(3, 1, treat), points(None, 90.0, None), "OK", NOW).state == "ALARM"  # type: ignore
    # too few: breaching fills the gap, notBreaching and missing see no alarm
    assert evaluate(rule(3, 3, "breaching"), points(None, 90.0, None), "OK", NOW).state == "ALARM"  # type: ignore
    assert evaluate(rule(3, 3, "notBreaching"), points(None, 90.0, None), "ALARM", NOW).state == "OK"  # type: ignore
    assert evaluate(rule(3, 3, "missing"), points(None, 90.0, None), "OK", NOW) is None
    assert evaluate(rule(3, 3, "missing"), points(None, 10.0, None), "ALARM", NOW).state == "OK"  # type: ignore


def test_window_and_numbers() -> None:
    assert evaluation_window(rule(3), T0 + 185) == [T0, T0 + 60, T0 + 120]
    assert [java_double(v) for v in (85.0, 0.5, 1e7, 123456789.0, 1e-4, -3.25)] == [
        "85.0", "0.5", "1.0E7", "1.23456789E8", "1.0E-4", "-3.25"]
