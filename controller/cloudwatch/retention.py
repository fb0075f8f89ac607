"""The sweeper: rolls old datapoints up to coarser periods and deletes expired ones, as AWS retains them.

High-resolution (1 s) data older than 3 hours becomes 60-second rows, rows older than 15 days become
5-minute rows, older than 63 days hourly rows; past 455 days data is gone. Alarm history is kept 30 days.
:func:`plan_rollup` is the pure merge; :func:`sweep` applies it in bounded transactions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from controller.cloudwatch.statistics import DAY, HOUR, RETENTION_SECONDS, Aggregate

#: (target resolution in seconds, age in seconds past which finer rows are merged into it)
STAGES = ((60, 3 * HOUR), (300, 15 * DAY), (3600, 63 * DAY))
HISTORY_SECONDS = 30 * DAY
BATCH = 20_000

Stored = tuple[int, int, str, float, float, float, float, Any]   # metric_id, ts, unit, count, sum, min, max, dist


def plan_rollup(rows: Iterable[Stored], resolution: int) -> list[tuple[int, int, str, Aggregate]]:
    """The merged rows replacing ``rows``: (metric_id, bucket ts in ms, unit, aggregate) per bucket."""
    merged: dict[tuple[int, int, str], Aggregate] = {}
    step = resolution * 1000
    for metric_id, ts, unit, count, total, low, high, dist in rows:
        key = (metric_id, ts - ts % step, unit)
        merged.setdefault(key, Aggregate()).add(count, total, low, high,
                                                json.loads(dist) if isinstance(dist, str) else dist)
    return [(metric_id, bucket, unit, aggregate) for (metric_id, bucket, unit), aggregate in sorted(merged.items())]


def sweep(cloud: Any, now: float | None = None) -> int:
    """One sweep; how many stored rows it touched."""
    now_ms = int((time.time() if now is None else now) * 1000)
    touched = 0
    for resolution, age in STAGES:
        while True:
            done = _rollup_batch(cloud, resolution, now_ms - age * 1000)
            touched += done
            if done < BATCH:
                break
    with cloud.db.begin() as conn:
        cutoff = now_ms - RETENTION_SECONDS * 1000
        touched += conn.exec_driver_sql("DELETE FROM cw_datapoints WHERE ts < ?", (cutoff,)).rowcount or 0
        conn.exec_driver_sql("DELETE FROM cw_metrics WHERE last_put_at < ?", (cutoff,))
        conn.exec_driver_sql("DELETE FROM cw_alarm_history WHERE at < ?", (now_ms - HISTORY_SECONDS * 1000,))
    return touched


def _rollup_batch(cloud: Any, resolution: int, cutoff_ms: int) -> int:
    with cloud.db.begin() as conn:
        found = conn.exec_driver_sql(
            "SELECT datapoint_id, metric_id, ts, unit, sample_count, sum, minimum, maximum, dist FROM cw_datapoints"
            " WHERE resolution < ? AND ts < ? ORDER BY resolution, ts LIMIT ?",
            (resolution, cutoff_ms, BATCH)).all()
        if not found:
            return 0
        ids = [row[0] for row in found]
        for index in range(0, len(ids), 500):
            chunk = ids[index:index + 500]
            conn.exec_driver_sql(f"DELETE FROM cw_datapoints WHERE datapoint_id IN ({','.join('?' * len(chunk))})",
                                 tuple(chunk))
        merged = plan_rollup((tuple(row[1:]) for row in found), resolution)  # type: ignore[misc]
        conn.exec_driver_sql(
            "INSERT INTO cw_datapoints (metric_id, ts, resolution, unit, sample_count, sum, minimum, maximum, dist)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(metric_id, bucket, resolution, unit, agg.sample_count, agg.sum, agg.minimum, agg.maximum,
              None if agg.dist is None else json.dumps(agg.distribution())) for metric_id, bucket, unit, agg in merged])
    return len(found)
