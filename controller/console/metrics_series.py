"""An instance's CloudWatch graphs as data (pure): the GetMetricData queries, and its answer as chart JSON.

The instance page draws CPU and network with uPlot (vendored by ``make console-vendor``), which wants one
ascending array of x values (Unix seconds) and, per series, one y array of the same length with ``null``
where the series has no point. GetMetricData answers each query with its own timestamps, in the order
asked for, so :func:`chart_json` merges them on the union of their timestamps. Kept apart from the Flask
views so the shape the browser relies on is unit-tested without a cloud.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

#: The ranges the page offers, in hours (the issue's 1, 3 and 12); the first is the default.
RANGES_HOURS = (1, 3, 12)
#: One point a minute: the agents report every few seconds, AWS's basic monitoring is per minute.
PERIOD_SECONDS = 60


@dataclass(frozen=True)
class Series:
    """One line of a chart: the metric, the statistic per period, and how the page labels it."""

    query_id: str
    metric_name: str
    stat: str
    label: str
    chart: str


#: CPU is a percentage (averaged over the minute); network is bytes, summed over the minute, so a point reads
#: "bytes this minute" whatever the agents' sampling interval.
SERIES = (
    Series("cpu", "CPUUtilization", "Average", "CPU utilization (%)", "cpu"),
    Series("netin", "NetworkIn", "Sum", "Network in (bytes/min)", "network"),
    Series("netout", "NetworkOut", "Sum", "Network out (bytes/min)", "network"),
)


def hours_of(text: str | None) -> int:
    """The range the request asks for; the default for anything not offered (never a query of any size)."""
    try:
        hours = int(text or "")
    except ValueError:
        return RANGES_HOURS[0]
    return hours if hours in RANGES_HOURS else RANGES_HOURS[0]


def queries(instance_id: str, hours: int, now: dt.datetime) -> dict[str, Any]:
    """GetMetricData's parameters for the instance's series over the last ``hours`` (ending at ``now``, on a
    period boundary so consecutive refreshes line up)."""
    end = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return {
        "StartTime": end - dt.timedelta(hours=hours),
        "EndTime": end,
        "ScanBy": "TimestampAscending",
        "MetricDataQueries": [{
            "Id": series.query_id,
            "Label": series.label,
            "MetricStat": {
                "Metric": {"Namespace": "AWS/EC2", "MetricName": series.metric_name,
                           "Dimensions": [{"Name": "InstanceId", "Value": instance_id}]},
                "Period": PERIOD_SECONDS,
                "Stat": series.stat,
            },
        } for series in SERIES],
    }


def chart_json(results: list[dict[str, Any]], hours: int, params: dict[str, Any]) -> dict[str, Any]:
    """The charts' data from GetMetricData's ``MetricDataResults`` (all pages' results, in any order) for the
    :func:`queries` ``params``: ``{"hours", "period", "start", "end", "charts": {chart: {"x": [...],
    "series": [{"id", "label", "y": [...]}]}}}``, each chart's x the ascending union of its series'
    timestamps, each y aligned to it with None for a gap; start and end (Unix seconds) let the x axis show
    the whole range asked for, not just the span that has points."""
    points: dict[str, dict[int, float]] = {}
    for result in results:
        into = points.setdefault(result["Id"], {})
        for when, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=True):
            into[int(when.timestamp())] = float(value)
    charts: dict[str, Any] = {}
    for chart in dict.fromkeys(series.chart for series in SERIES):
        members = [series for series in SERIES if series.chart == chart]
        xs = sorted({x for series in members for x in points.get(series.query_id, {})})
        charts[chart] = {"x": xs, "series": [
            {"id": series.query_id, "label": series.label,
             "y": [points.get(series.query_id, {}).get(x) for x in xs]} for series in members]}
    return {"hours": hours, "period": PERIOD_SECONDS, "start": int(params["StartTime"].timestamp()),
            "end": int(params["EndTime"].timestamp()), "charts": charts}
