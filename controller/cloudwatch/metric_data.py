"""GetMetricData: metric queries and metric math, also what alarms on expressions evaluate.

:func:`run` validates a list of MetricDataQuery dicts and computes every query's series (epoch seconds
-> value) over [start, end): MetricStat queries from the store, expressions with ``mathexpr`` in
dependency order. GetMetricData pages the returned series' points with ``MaxDatapoints``/``NextToken``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from typing import Any

from sqlalchemy.engine import Connection

from controller.api import RequestContext
from controller.cloudwatch import mathexpr, store
from controller.cloudwatch.errors import InvalidNextToken, ServiceError, ValidationError
from controller.cloudwatch.metrics import check_dimensions, check_range
from controller.cloudwatch.service import api
from controller.cloudwatch.statistics import check_period, is_statistic

_ID_RE = re.compile(r"^[a-z][a-zA-Z0-9_]{0,254}$")
MAX_QUERIES = 500
DEFAULT_MAX_DATAPOINTS = 100_800


def _label(query: dict[str, Any]) -> str:
    if query.get("Label"):
        return str(query["Label"])
    if query.get("MetricStat"):
        return str(query["MetricStat"]["Metric"].get("MetricName", query["Id"]))
    return str(query["Id"])


def check_queries(queries: list[dict[str, Any]], where: str = "MetricDataQueries",
                  now: float | None = None, start: int | None = None) -> dict[str, mathexpr.Node]:
    """Refuse malformed queries; the parsed expressions by id."""
    if not queries:
        raise ValidationError(f"The parameter {where} is required.")
    if len(queries) > MAX_QUERIES:
        raise ValidationError(f"The collection {where} must not have a size greater than {MAX_QUERIES}.")
    ids: set[str] = set()
    parsed: dict[str, mathexpr.Node] = {}
    for index, query in enumerate(queries, 1):
        member = f"{where}.member.{index}"
        query_id = query.get("Id") or ""
        if not _ID_RE.match(query_id):
            raise ValidationError(f"The value {query_id} for parameter {member}.Id is invalid: it must start with"
                                  " a lowercase letter and hold only letters, numbers and underscores.")
        if query_id in ids:
            raise ValidationError(f"The value {query_id} for parameter {member}.Id is duplicated.")
        ids.add(query_id)
        stat, expression = query.get("MetricStat"), query.get("Expression")
        if (stat is None) == (expression is None):
            raise ValidationError(f"Exactly one of {member}.MetricStat and {member}.Expression must be set.")
        if stat is not None:
            metric = stat.get("Metric") or {}
            if not metric.get("MetricName") or not metric.get("Namespace"):
                raise ValidationError(f"The parameters {member}.MetricStat.Metric.Namespace and MetricName are"
                                      " required.")
            check_dimensions(metric.get("Dimensions") or [], f"{member}.MetricStat.Metric.Dimensions")
            if not is_statistic(stat.get("Stat") or ""):
                raise ValidationError(f"The value {stat.get('Stat')} for parameter {member}.MetricStat.Stat is"
                                      " invalid.")
            problem = check_period(int(stat.get("Period") or 0),
                                   0 if start is None or now is None else now - start)
            if problem:
                raise ValidationError(problem.replace("parameter Period", f"parameter {member}.MetricStat.Period"))
        else:
            try:
                parsed[query_id] = mathexpr.parse(expression)
            except mathexpr.MathError as exc:
                raise ValidationError(f"Error in expression '{query_id}': {exc}") from exc
    for query_id, node in parsed.items():
        unknown = mathexpr.references(node) - ids
        if unknown:
            raise ValidationError(f"Error in expression '{query_id}': Unrecognized id '{sorted(unknown)[0]}'.")
    _refuse_cycles(parsed)
    return parsed


def _refuse_cycles(parsed: dict[str, mathexpr.Node]) -> None:
    """Expressions may read each other, but not in a circle."""
    done: set[str] = set()

    def visit(query_id: str, path: tuple[str, ...]) -> None:
        if query_id in path:
            raise ValidationError(f"Error in expression '{query_id}': a circular reference"
                                  f" ({' -> '.join((*path, query_id))}).")
        if query_id in done or query_id not in parsed:
            return
        for reference in sorted(mathexpr.references(parsed[query_id])):
            visit(reference, (*path, query_id))
        done.add(query_id)

    for query_id in parsed:
        visit(query_id, ())


def run(conn: Connection, account_id: str, region: str, queries: list[dict[str, Any]], start: int, end: int,
        parsed: dict[str, mathexpr.Node]) -> dict[str, mathexpr.Series]:
    """Every query's series over [start, end) (epoch seconds), by id."""
    stat_periods = [int(q["MetricStat"]["Period"]) for q in queries if q.get("MetricStat")]
    by_id = {query["Id"]: query for query in queries}
    values: dict[str, mathexpr.Value] = {}
    metrics: dict[str, mathexpr.Series] = {}
    for query in queries:
        if query.get("MetricStat"):
            series = _metric_series(conn, account_id, region, query["MetricStat"], start, end)
            values[query["Id"]] = metrics[query["Id"]] = series
    visiting: set[str] = set()

    def compute(query_id: str) -> mathexpr.Value:
        if query_id in values:
            return values[query_id]
        if query_id in visiting:
            raise ValidationError(f"Error in expression '{query_id}': a circular reference.")
        visiting.add(query_id)
        node = parsed[query_id]
        for reference in mathexpr.references(node):
            compute(reference)
        period = int(by_id[query_id].get("Period") or (min(stat_periods) if stat_periods else 60))
        grid = range(start - start % period, end, period)
        try:
            value = mathexpr.evaluate(node, mathexpr.Environment(values, metrics, grid))
            values[query_id] = mathexpr.as_series(value, grid) if not isinstance(value, list) else value
        except mathexpr.MathError as exc:
            raise ValidationError(f"Error in expression '{query_id}': {exc}") from exc
        return values[query_id]

    out: dict[str, mathexpr.Series] = {}
    for query in queries:
        value = compute(query["Id"])
        if isinstance(value, list):
            raise ValidationError(f"Error in expression '{query['Id']}': the expression must return a single"
                                  " time series, not an array.")
        out[query["Id"]] = value if isinstance(value, dict) else {}
    return out


def _metric_series(conn: Connection, account_id: str, region: str, stat: dict[str, Any], start: int,
                   end: int) -> mathexpr.Series:
    metric = stat["Metric"]
    period = int(stat["Period"])
    dimensions = tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions") or []))
    found = store.find_metric(conn, account_id, region, metric["Namespace"], metric["MetricName"], dimensions)
    grid_start = start - start % period
    merged = store.per_period(store.aggregates(conn, found, grid_start, end, period, stat.get("Unit")))
    series: mathexpr.Series = {}
    for bucket, aggregate in sorted(merged.items()):
        value = aggregate.statistic(stat["Stat"])
        if value is not None:
            series[bucket] = value
    return series


def _token(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([offset, fingerprint]).encode()).decode()


def _untoken(token: str, fingerprint: str) -> int:
    try:
        offset, seen = json.loads(base64.urlsafe_b64decode(token.encode()))
        if seen != fingerprint or not isinstance(offset, int) or offset < 0:
            raise ValueError(seen)
        return offset
    except (ValueError, TypeError) as exc:
        raise InvalidNextToken("The service cannot read the NextToken.") from exc


@api.operation("GetMetricData")
def get_metric_data(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    queries = params.get("MetricDataQueries") or []
    for member in ("StartTime", "EndTime"):
        if params.get(member) is None:
            raise ValidationError(f"The parameter {member} is required.")
    try:
        start, end = check_range(params["StartTime"], params["EndTime"])
    except ServiceError as exc:
        raise ValidationError(exc.message) from exc
    parsed = check_queries(queries, now=time.time(), start=start)
    scan = params.get("ScanBy") or "TimestampDescending"
    if scan not in ("TimestampDescending", "TimestampAscending"):
        raise ValidationError(f"The value {scan} for parameter ScanBy is invalid.")
    limit = int(params.get("MaxDatapoints") or DEFAULT_MAX_DATAPOINTS)
    if limit < 1:
        raise ValidationError("The parameter MaxDatapoints must be greater than 0.")
    with ctx.cloud.db.read() as conn:
        series = run(conn, ctx.account_id, ctx.region, queries, start, end, parsed)
    fingerprint = f"{start}:{end}:{len(queries)}"
    skip = _untoken(params["NextToken"], fingerprint) if params.get("NextToken") else 0
    results, given, remaining = [], 0, limit
    for query in queries:
        if query.get("ReturnData") is False:
            continue
        points = sorted(series[query["Id"]].items(), reverse=scan == "TimestampDescending")
        dropped = min(skip, len(points))
        points, skip = points[dropped:], skip - dropped
        shown, remaining = points[:remaining], remaining - len(points[:remaining])
        given += len(shown)
        partial = len(shown) < len(points)
        results.append({"Id": query["Id"], "Label": _label(query),
                        "Timestamps": [dt.datetime.fromtimestamp(ts, dt.UTC) for ts, _ in shown],
                        "Values": [value for _, value in shown],
                        "StatusCode": "PartialData" if partial else "Complete", "Messages": []})
    answer: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
    if any(result["StatusCode"] == "PartialData" for result in results):
        offset = (_untoken(params["NextToken"], fingerprint) if params.get("NextToken") else 0) + given
        answer["NextToken"] = _token(offset, fingerprint)
    return answer
