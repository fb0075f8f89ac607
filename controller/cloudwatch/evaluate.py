"""Metric alarm evaluation (pure): the periods' values and the current state -> the state, and AWS's words.

The evaluator (``worker.py``) gathers the values of the alarm's last ``EvaluationPeriods`` complete
periods (None where no datapoint arrived) and asks :func:`evaluate`; a :class:`Verdict` whose state
differs from the current one is a transition, stored with its reason and reason data as AWS words them::

    Threshold Crossed: 1 out of the last 1 datapoints [85.0 (04/12/26 10:01:00)] was greater than the
    threshold (80.0) (minimum 1 datapoint for OK -> ALARM transition).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

COMPARISONS = {
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda v, t: v >= t),
    "GreaterThanThreshold": ("greater than", lambda v, t: v > t),
    "LessThanThreshold": ("less than", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda v, t: v <= t),
}
ANOMALY_COMPARISONS = ("LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold",
                       "GreaterThanUpperThreshold")
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


@dataclass(frozen=True)
class Rule:
    """What of an alarm's configuration evaluation needs."""

    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str = "missing"
    statistic: str | None = None           # the statistic the reason data names (None for metric math)


@dataclass(frozen=True)
class Point:
    """One period's outcome: its start (epoch seconds), value (None: missing) and sample count."""

    start: int
    value: float | None
    sample_count: float | None = None


@dataclass(frozen=True)
class Verdict:
    state: str
    reason: str
    reason_data: str


def java_double(value: float) -> str:
    """A double as Java prints it (AWS's reasons are Java's): ``85.0``, ``0.5``, ``1.0E7``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(float(value))
        return text if "e" not in text else f"{float(value):f}".rstrip("0") + "0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    power = len(text) - 1 + int(exponent)
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{power}"


def _short_time(start: int) -> str:
    return dt.datetime.fromtimestamp(start, dt.UTC).strftime("%d/%m/%y %H:%M:%S")


def iso_millis(moment: dt.datetime) -> str:
    """``2026-12-04T10:01:00.000+0000``, the timestamps of AWS's reason data."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _verb(count: int) -> str:
    return "was" if count == 1 else "were"


def evaluate(rule: Rule, points: Sequence[Point], current: str, now: dt.datetime) -> Verdict | None:
    """The alarm's state after looking at ``points`` (its last EvaluationPeriods periods, oldest first);
    None when the alarm keeps its state and reason (``ignore`` with nothing to go by)."""
    words, crosses = COMPARISONS[rule.comparison]
    present = [point for point in points if point.value is not None]
    missing = len(points) - len(present)
    m = rule.datapoints_to_alarm
    breaching = [point for point in present if crosses(point.value, rule.threshold)]
    calm = [point for point in present if not crosses(point.value, rule.threshold)]
    data = _reason_data(rule, points, now)
    if not present:
        if rule.treat_missing == "missing":
            return Verdict("INSUFFICIENT_DATA",
                           f"Insufficient Data: {_plural(missing, 'datapoint')} {_verb(missing)} unknown.", data)
        if rule.treat_missing == "ignore":
            return None
        state, label = (("ALARM", "Breaching") if rule.treat_missing == "breaching" and missing >= m
                        else ("OK", "NonBreaching"))
        return Verdict(state, f"Threshold Crossed: no datapoints were received for {_plural(missing, 'period')}"
                              f" and {_plural(missing, 'missing datapoint')} {_verb(missing)} treated as [{label}].",
                       data)
    filled_breaching = 0
    if len(present) < m:
        if rule.treat_missing == "breaching":
            filled_breaching = missing
        elif rule.treat_missing in ("missing", "ignore") and not calm:
            return None           # too few datapoints to decide, and none says OK
    if len(breaching) + filled_breaching >= m:
        state, chosen, negation = "ALARM", breaching, ""
    else:
        state, chosen, negation = "OK", calm, "not "
    listed = ", ".join(f"{java_double(point.value)} ({_short_time(point.start)})"  # type: ignore[arg-type]
                       for point in reversed(chosen))
    count = len(chosen)
    filled = (f" and {_plural(filled_breaching, 'missing datapoint')} {_verb(filled_breaching)} treated as"
              f" [Breaching]" if state == "ALARM" and filled_breaching and len(breaching) < m else "")
    reason = (f"Threshold Crossed: {count} out of the last {len(present)} datapoints [{listed}] {_verb(count)}"
              f" {negation}{words} the threshold ({java_double(rule.threshold)}){filled}"
              f" (minimum {_plural(m, 'datapoint')} for {_other(state)} -> {state} transition).")
    return Verdict(state, reason, data)


def _other(state: str) -> str:
    """The state the reason's "minimum M datapoints for X -> Y transition" names as X."""
    return "OK" if state == "ALARM" else "ALARM"


def _reason_data(rule: Rule, points: Sequence[Point], now: dt.datetime) -> str:
    document: dict[str, Any] = {"version": "1.0", "queryDate": iso_millis(now)}
    if points:
        document["startDate"] = iso_millis(dt.datetime.fromtimestamp(points[0].start, dt.UTC))
    if rule.statistic:
        document["statistic"] = rule.statistic
    document["period"] = rule.period
    document["recentDatapoints"] = [point.value for point in points if point.value is not None]
    document["threshold"] = rule.threshold
    evaluated = []
    for point in reversed(points):
        item: dict[str, Any] = {"timestamp": iso_millis(dt.datetime.fromtimestamp(point.start, dt.UTC))}
        if point.value is not None:
            if point.sample_count is not None:
                item["sampleCount"] = point.sample_count
            item["value"] = point.value
        evaluated.append(item)
    document["evaluatedDatapoints"] = evaluated
    return json.dumps(document, separators=(",", ":"))


def evaluation_window(rule: Rule, now_seconds: float) -> list[int]:
    """The starts of the alarm's last EvaluationPeriods complete periods, oldest first."""
    end = int(now_seconds) - int(now_seconds) % rule.period
    return [end - rule.period * (rule.evaluation_periods - index) for index in range(rule.evaluation_periods)]
