"""Writing and reading datapoints: the one path PutMetricData, ingest and the queries share.

A metric's identity is its namespace, name and sorted dimensions (``identity``); :func:`write` upserts
the identities and appends one row per datum, then announces :data:`METRICS_TOPIC` so the alarm
evaluator looks again soon. :func:`aggregates` reads a metric's rows over a time range into one
:class:`~controller.cloudwatch.statistics.Aggregate` per period and unit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from controller.cloudwatch.state import METRICS_TOPIC
from controller.cloudwatch.statistics import Aggregate
from controller.state import Database


@dataclass(frozen=True)
class Row:
    """One datapoint as stored (times in epoch milliseconds)."""

    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    ts: int
    resolution: int
    unit: str
    sample_count: float
    sum: float
    minimum: float
    maximum: float
    dist: list[list[float]] | None


def dimensions_key(dimensions: Iterable[tuple[str, str]]) -> str:
    """The stored form of a metric's dimensions: a JSON list of sorted [name, value] pairs."""
    return json.dumps(sorted([name, value] for name, value in dimensions), separators=(",", ":"))


def dimensions_of(key: str) -> list[dict[str, str]]:
    return [{"Name": name, "Value": value} for name, value in json.loads(key)]


def metric_id(conn: Connection, account_id: str, region: str, namespace: str, name: str, dims: str,
              now_ms: int) -> int:
    found = conn.exec_driver_sql(
        "INSERT INTO cw_metrics AS m (account_id, region, namespace, name, dimensions, last_put_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, region, namespace, name, dimensions)"
        " DO UPDATE SET last_put_at = CASE WHEN excluded.last_put_at > m.last_put_at THEN excluded.last_put_at"
        " ELSE m.last_put_at END RETURNING metric_id",  # SQL both engines run: no two-argument MAX in PostgreSQL
        (account_id, region, namespace, name, dims, now_ms)).scalar_one()
    return int(found)


def write(conn: Connection, account_id: str, region: str, rows: Sequence[Row], now_ms: int) -> None:
    """Store ``rows`` in the caller's transaction, and wake the alarm evaluator when it commits."""
    if not rows:
        return
    ids: dict[tuple[str, str, str], int] = {}
    values = []
    for row in rows:
        dims = dimensions_key(row.dimensions)
        key = (row.namespace, row.metric_name, dims)
        if key not in ids:
            ids[key] = metric_id(conn, account_id, region, row.namespace, row.metric_name, dims, now_ms)
        values.append((ids[key], row.ts, row.resolution, row.unit, row.sample_count, row.sum, row.minimum,
                       row.maximum, None if row.dist is None else json.dumps(row.dist)))
    conn.exec_driver_sql(
        "INSERT INTO cw_datapoints (metric_id, ts, resolution, unit, sample_count, sum, minimum, maximum, dist)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
    Database.announce(conn, METRICS_TOPIC)


def put(cloud: Any, account_id: str, region: str, rows: Sequence[Row]) -> None:
    """Store ``rows`` durably: through the CloudWatch worker's group committer while it runs (concurrent calls
    share one fsync), in a transaction of their own otherwise."""
    worker = cloud.cloudwatch_worker
    now_ms = int(time.time() * 1000)
    if worker is None:
        with cloud.db.begin() as conn:
            write(conn, account_id, region, rows, now_ms)
        return
    worker.committer.run(lambda conn: write(conn, account_id, region, rows, now_ms))


def find_metric(conn: Connection, account_id: str, region: str, namespace: str, name: str,
                dimensions: Iterable[tuple[str, str]]) -> int | None:
    found = conn.exec_driver_sql(
        "SELECT metric_id FROM cw_metrics WHERE account_id = ? AND region = ? AND namespace = ? AND name = ?"
        " AND dimensions = ?", (account_id, region, namespace, name, dimensions_key(dimensions))).scalar()
    return None if found is None else int(found)


def aggregates(conn: Connection, metric: int | None, start: int, end: int, period: int,
               unit: str | None = None) -> dict[tuple[int, str], Aggregate]:
    """The metric's datapoints in [start, end) (epoch seconds) merged per period (starting at ``start``)
    and unit: (period start, unit) -> aggregate. ``unit`` keeps only datapoints of that unit."""
    if metric is None:
        return {}
    sql = ("SELECT ts, unit, sample_count, sum, minimum, maximum, dist FROM cw_datapoints"
           " WHERE metric_id = ? AND ts >= ? AND ts < ?")
    args: tuple[object, ...] = (metric, start * 1000, end * 1000)
    if unit is not None:
        sql += " AND unit = ?"
        args += (unit,)
    out: dict[tuple[int, str], Aggregate] = {}
    for ts, row_unit, sample_count, total, minimum, maximum, dist in conn.exec_driver_sql(sql, args):
        bucket = start + (ts // 1000 - start) // period * period
        aggregate = out.setdefault((bucket, row_unit), Aggregate())
        aggregate.add(sample_count, total, minimum, maximum, None if dist is None else json.loads(dist))
    return out


def per_period(found: dict[tuple[int, str], Aggregate]) -> dict[int, Aggregate]:
    """Aggregates of all units merged per period (what an alarm without a Unit evaluates)."""
    out: dict[int, Aggregate] = {}
    for (bucket, _unit), aggregate in found.items():
        merged = out.setdefault(bucket, Aggregate())
        merged.add(aggregate.sample_count, aggregate.sum, aggregate.minimum, aggregate.maximum,
                   None if aggregate.dist is None else list(aggregate.dist.items()))
    return out
