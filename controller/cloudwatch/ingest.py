"""Metrics from the cloud's own services.

Agents' instance metrics, load balancers and the per-minute publishers of SQS, SNS and Lambda
(:class:`Publisher`) write datapoints here as PutMetricData would store them, without IAM and without the
reservation of ``AWS/`` namespaces that PutMetricData enforces on clients; the write wakes the alarm
evaluator like a client's PutMetricData.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controller.cloudwatch import store

log = logging.getLogger("cloudlet.cloudwatch")

#: How often the cloud's services publish what they counted: AWS's minute.
AWS_INTERVAL_SECONDS = 60.0
#: A hidden knob for tests (the e2e server runs in a subprocess): publish more often than AWS does.
INTERVAL_ENV = "CLOUDLET_METRICS_INTERVAL_SECONDS"


def interval_from(text: str | None) -> float:
    """The publish interval ``text`` (the environment's value) asks for; AWS's minute when unset or unusable."""
    try:
        value = float(text) if text else AWS_INTERVAL_SECONDS
    except ValueError:
        return AWS_INTERVAL_SECONDS
    return value if value > 0 else AWS_INTERVAL_SECONDS


#: Seconds between two publishes of SQS, SNS and Lambda metrics (read once, when the module loads).
PUBLISH_INTERVAL_SECONDS = interval_from(os.environ.get(INTERVAL_ENV))


@dataclass(frozen=True)
class StatisticSet:
    sample_count: float
    sum: float
    minimum: float
    maximum: float


@dataclass(frozen=True)
class Datum:
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]   # sorted (name, value) pairs
    timestamp: datetime                        # aware, UTC
    value: float | None = None                 # a single value, or
    statistics: StatisticSet | None = None     # SampleCount, Sum, Minimum, Maximum
    unit: str = "None"
    storage_resolution: int = 60


def to_row(namespace: str, datum: Datum) -> store.Row:
    """The stored row of one datum (a value or a statistic set)."""
    ts = int(datum.timestamp.timestamp() * 1000)
    if datum.statistics is not None:
        stats = datum.statistics
        return store.Row(namespace, datum.metric_name, tuple(sorted(datum.dimensions)), ts,
                         datum.storage_resolution, datum.unit, float(stats.sample_count), float(stats.sum),
                         float(stats.minimum), float(stats.maximum), None)
    if datum.value is None:
        raise ValueError(f"datum {datum.metric_name} has neither a value nor statistics")
    value = float(datum.value)
    return store.Row(namespace, datum.metric_name, tuple(sorted(datum.dimensions)), ts, datum.storage_resolution,
                     datum.unit, 1.0, value, value, value, [[value, 1.0]])


def put(cloud: Any, account_id: str, region: str, namespace: str, datums: Sequence[Datum]) -> None:
    """Store datapoints as PutMetricData would (no IAM, no validation of AWS/ namespaces: for the cloud's own
    services: agents' instance metrics, load balancers, Auto Scaling group metrics)."""
    if not datums:
        return
    store.put(cloud, account_id, region, [to_row(namespace, datum) for datum in datums])


class Publisher:
    """A service's metrics publisher: ``publish(cloud, now)`` every ``interval()`` seconds (by default
    :data:`PUBLISH_INTERVAL_SECONDS`) on a thread of its own, and once more at ``stop`` (what was counted since
    the last round; the database is still open). A failed round is logged and the next one tries again:
    metrics never stop the service that counts them."""

    def __init__(self, cloud: Any, publish: Callable[[Any, datetime], None], name: str,
                 interval: Callable[[], float] = lambda: PUBLISH_INTERVAL_SECONDS) -> None:
        self.cloud = cloud
        self._publish_at = publish
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
            self._publish()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval()):
            self._publish()

    def _publish(self) -> None:
        try:
            self._publish_at(self.cloud, datetime.now(UTC))
        except Exception:
            log.exception("publishing %s failed", self._thread.name)
