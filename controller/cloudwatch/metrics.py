"""PutMetricData, GetMetricStatistics and ListMetrics."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import time
from typing import Any

from controller.api import RequestContext
from controller.cloudwatch import store
from controller.cloudwatch.errors import (
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    invalid_value,
    missing,
)
from controller.cloudwatch.service import api
from controller.cloudwatch.statistics import STATISTICS, aligned_start, check_period, percentile_of

MAX_DIMENSIONS = 30
MAX_DATAPOINTS = 1440
MAX_VALUES = 150
_LIMIT = 2.0 ** 360
_PAST = dt.timedelta(days=14)
_FUTURE = dt.timedelta(hours=2)
LIST_PAGE = 500
RECENT = {"PT3H": 3 * 3600}


def reserved(namespace: str) -> bool:
    return namespace.startswith("AWS/")


def _finite(value: Any, parameter: str) -> float:
    number = float(value)
    if math.isnan(number) or math.isinf(number) or abs(number) > _LIMIT or (0 < abs(number) < 2.0 ** -260):
        raise invalid_value(value, parameter)
    return number


def check_dimensions(dimensions: list[dict[str, Any]], parameter: str) -> tuple[tuple[str, str], ...]:
    if len(dimensions) > MAX_DIMENSIONS:
        raise InvalidParameterValue(f"The collection {parameter} must not have a size greater than {MAX_DIMENSIONS}.")
    pairs = []
    for index, dimension in enumerate(dimensions, 1):
        name, value = dimension.get("Name"), dimension.get("Value")
        if not name:
            raise missing(f"{parameter}.member.{index}.Name")
        if value is None or value == "":
            raise missing(f"{parameter}.member.{index}.Value")
        pairs.append((name, value))
    if len({name for name, _ in pairs}) != len(pairs):
        raise InvalidParameterValue(f"No metric may have duplicate dimension names in {parameter}.")
    return tuple(sorted(pairs))


def _datum_row(namespace: str, datum: dict[str, Any], where: str, now: dt.datetime) -> store.Row:
    name = datum.get("MetricName")
    if not name:
        raise missing(f"{where}.MetricName")
    dimensions = check_dimensions(datum.get("Dimensions") or [], f"{where}.Dimensions")
    has_value, has_stats, has_values = ("Value" in datum and datum["Value"] is not None,
                                        datum.get("StatisticValues") is not None, bool(datum.get("Values")))
    if sum((has_value, has_stats, has_values)) > 1:
        first, second = [label for label, present in (("Value", has_value), ("StatisticValues", has_stats),
                                                       ("Values", has_values)) if present][:2]
        raise InvalidParameterCombination(f"The parameters {where}.{first} and {where}.{second} are mutually"
                                          " exclusive and you have specified both.")
    resolution = datum.get("StorageResolution", 60)
    if resolution not in (1, 60):
        raise invalid_value(resolution, f"{where}.StorageResolution")
    stamp = datum.get("Timestamp") or now
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    if stamp < now - _PAST or stamp > now + _FUTURE:
        raise InvalidParameterValue(f"The parameter {where}.Timestamp must specify a time no more than two weeks"
                                    " in the past or two hours in the future.")
    unit = datum.get("Unit") or "None"
    ts = int(stamp.timestamp() * 1000)
    if has_stats:
        stats = datum["StatisticValues"]
        for member in ("SampleCount", "Sum", "Minimum", "Maximum"):
            if stats.get(member) is None:
                raise missing(f"{where}.StatisticValues.{member}")
        count = _finite(stats["SampleCount"], f"{where}.StatisticValues.SampleCount")
        total = _finite(stats["Sum"], f"{where}.StatisticValues.Sum")
        low = _finite(stats["Minimum"], f"{where}.StatisticValues.Minimum")
        high = _finite(stats["Maximum"], f"{where}.StatisticValues.Maximum")
        if count <= 0:
            raise InvalidParameterValue(f"The parameter {where}.StatisticValues.SampleCount must be greater than 0.")
        if low > high:
            raise InvalidParameterValue(f"The parameter {where}.StatisticValues.Minimum must be less than or"
                                        f" equal to the parameter {where}.StatisticValues.Maximum.")
        return store.Row(namespace, name, dimensions, ts, resolution, unit, count, total, low, high, None)
    if has_values:
        values = [_finite(value, f"{where}.Values") for value in datum["Values"]]
        counts = [float(count) for count in datum.get("Counts") or [1.0] * len(values)]
        if len(values) > MAX_VALUES:
            raise InvalidParameterValue(f"The collection {where}.Values must not have a size greater than"
                                        f" {MAX_VALUES}.")
        if len(counts) != len(values):
            raise InvalidParameterValue(f"The parameters {where}.Values and {where}.Counts must be of the same"
                                        " size.")
        if any(count < 0 or math.isnan(count) for count in counts):
            raise invalid_value(counts, f"{where}.Counts")
        pairs = [[value, count] for value, count in zip(values, counts, strict=True) if count > 0]
        if not pairs:
            raise InvalidParameterValue(f"The parameter {where}.Counts must count at least one value.")
        plain = [value for value, _ in pairs]
        return store.Row(namespace, name, dimensions, ts, resolution, unit, sum(c for _, c in pairs),
                         sum(v * c for v, c in pairs), min(plain), max(plain), pairs)
    if not has_value:
        raise InvalidParameterCombination(f"One of the parameters {where}.Value, {where}.Values or"
                                          f" {where}.StatisticValues must be specified.")
    value = _finite(datum["Value"], f"{where}.Value")
    return store.Row(namespace, name, dimensions, ts, resolution, unit, 1.0, value, value, value, [[value, 1.0]])


def _namespace_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    """PutMetricData authorizes on ``*`` with the ``cloudwatch:namespace`` condition key (set here, since
    resource mappers run before IAM judges the call), so a policy can confine writers to their namespace."""
    if params.get("Namespace"):
        ctx.condition_keys["cloudwatch:namespace"] = params["Namespace"]
    return ["*"]


@api.operation("PutMetricData", resources=_namespace_resources)
def put_metric_data(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    namespace = params.get("Namespace") or ""
    if not namespace:
        raise missing("Namespace")
    if reserved(namespace):
        raise invalid_value(namespace, "Namespace")
    data = params.get("MetricData") or []
    if not data and not params.get("EntityMetricData"):
        raise missing("MetricData")
    if len(data) > 1000:
        raise InvalidParameterValue("The collection MetricData must not have a size greater than 1000.")
    now = dt.datetime.now(dt.UTC)
    rows = [_datum_row(namespace, datum, f"MetricData.member.{index}", now) for index, datum in enumerate(data, 1)]
    for index, entity in enumerate(params.get("EntityMetricData") or [], 1):
        rows += [_datum_row(namespace, datum, f"EntityMetricData.member.{index}.MetricData.member.{inner}", now)
                 for inner, datum in enumerate(entity.get("MetricData") or [], 1)]
    if not rows:
        raise missing("MetricData")
    store.put(ctx.cloud, ctx.account_id, ctx.region, rows)
    return {}


def check_range(start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    if start >= end:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
    return int(start.timestamp()), math.ceil(end.timestamp())


def check_statistics(statistics: list[str], extended: list[str]) -> None:
    if not statistics and not extended:
        raise InvalidParameterCombination("At least one of the parameters Statistics and ExtendedStatistics must be specified.")
    for name in statistics:
        if name not in STATISTICS:
            raise invalid_value(name, "Statistics")
    for name in extended:
        if percentile_of(name) is None:
            raise InvalidParameterValue(f"The value {name} for parameter ExtendedStatistics is not supported.")


@api.operation("GetMetricStatistics")
def get_metric_statistics(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    for member in ("Namespace", "MetricName", "StartTime", "EndTime", "Period"):
        if params.get(member) in (None, ""):
            raise missing(member)
    statistics, extended = params.get("Statistics") or [], params.get("ExtendedStatistics") or []
    check_statistics(statistics, extended)
    start, end = check_range(params["StartTime"], params["EndTime"])
    period = int(params["Period"])
    now = time.time()
    problem = check_period(period, now - start)
    if problem:
        raise InvalidParameterValue(problem)
    start = aligned_start(start, period, now - start)
    requested = math.ceil((end - start) / period)
    if requested > MAX_DATAPOINTS:
        raise InvalidParameterCombination(
            f"You have requested up to {requested:,} datapoints, which exceeds the limit of {MAX_DATAPOINTS:,}."
            " You may reduce the datapoints requested by increasing Period, or decreasing the time range.")
    dimensions = check_dimensions(params.get("Dimensions") or [], "Dimensions")
    with ctx.cloud.db.read() as conn:
        metric = store.find_metric(conn, ctx.account_id, ctx.region, params["Namespace"], params["MetricName"],
                                   dimensions)
        found = store.aggregates(conn, metric, start, end, period, params.get("Unit"))
    points = []
    for (bucket, unit), aggregate in sorted(found.items()):
        point: dict[str, Any] = {"Timestamp": dt.datetime.fromtimestamp(bucket, dt.UTC), "Unit": unit}
        for name in statistics:
            point[name] = aggregate.statistic(name)
        if extended:
            point["ExtendedStatistics"] = {name: value for name in extended
                                           if (value := aggregate.statistic(name)) is not None}
        points.append(point)
    return {"Label": params["MetricName"], "Datapoints": points}


def _token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"cw1:{last_id}".encode()).decode()


def _untoken(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        prefix, value = text.split(":")
        if prefix != "cw1":
            raise ValueError(prefix)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidNextToken("The service cannot read the NextToken.") from exc


@api.operation("ListMetrics")
def list_metrics(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    sql = ("SELECT metric_id, namespace, name, dimensions FROM cw_metrics WHERE account_id = ? AND region = ?"
           " AND metric_id > ? AND last_put_at >= ?")
    recent = params.get("RecentlyActive")
    if recent is not None and recent not in RECENT:
        raise invalid_value(recent, "RecentlyActive")
    since = time.time() - (RECENT[recent] if recent else 14 * 86400)
    after = _untoken(params["NextToken"]) if params.get("NextToken") else 0
    args: list[Any] = [ctx.account_id, ctx.region, after, int(since * 1000)]
    for member, column in (("Namespace", "namespace"), ("MetricName", "name")):
        if params.get(member):
            sql += f" AND {column} = ?"
            args.append(params[member])
    wanted = []
    for index, dimension in enumerate(params.get("Dimensions") or [], 1):
        if not dimension.get("Name"):
            raise missing(f"Dimensions.member.{index}.Name")
        wanted.append((dimension["Name"], dimension.get("Value")))
    if len(wanted) > 10:
        raise InvalidParameterValue("The collection Dimensions must not have a size greater than 10.")
    metrics: list[dict[str, Any]] = []
    last, more = 0, False
    with ctx.cloud.db.read() as conn:
        for metric_id, namespace, name, dims in conn.exec_driver_sql(sql + " ORDER BY metric_id", tuple(args)):
            pairs = dict(tuple(pair) for pair in json.loads(dims))
            if any(key not in pairs or (value is not None and pairs[key] != value) for key, value in wanted):
                continue
            if len(metrics) == LIST_PAGE:
                more = True
                break
            metrics.append({"Namespace": namespace, "MetricName": name, "Dimensions": store.dimensions_of(dims)})
            last = metric_id
    result: dict[str, Any] = {"Metrics": metrics}
    if more:
        result["NextToken"] = _token(last)
    return result
