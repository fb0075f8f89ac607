"""Lambda's CloudWatch metrics (``AWS/Lambda``), counted where every invocation ends: ``engine.run``.

Per function (dimension ``FunctionName``) and, for invocations of a version or alias, also per
``FunctionName`` + ``Resource`` (``name:qualifier``), as Lambda reports them
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html):

- ``Invocations``: every invocation the function ran, function errors included; not throttled ones,
  nor invocations the service could not start (no host);
- ``Errors``: invocations that ended in a function error (raised, timed out, crashed, failed init);
- ``Throttles``: invocations refused for concurrency (the controller's slot, or the runner's);
- ``Duration``: a statistic set of the runner's durations in milliseconds;
- ``ConcurrentExecutions``: the most invocations of the function in flight at once (Maximum).

An invocation costs one update of an in-memory dict under a lock (``Invoker.metrics``, the cloud's
``lambda_invoker``); every :data:`~controller.cloudwatch.ingest.PUBLISH_INTERVAL_SECONDS` (AWS's minute) the functions invoked since the
previous publish get their datapoints.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controller.awslambda.errors import TooManyRequestsException
from controller.awslambda.lookup import Target
from controller.cloudwatch import ingest
from controller.cloudwatch.ingest import Datum, StatisticSet

log = logging.getLogger(__name__)

NAMESPACE = "AWS/Lambda"

#: (account id, region, function name, Resource or None): one series of a function's metrics.
FunctionKey = tuple[str, str, str, str | None]


@dataclass
class Tally:
    """One series' counts since the previous publish (durations: count, sum, min, max in ms)."""

    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    durations: list[float] = field(default_factory=lambda: [0, 0.0, 0.0, 0.0])
    concurrency: int = 0

    def add_duration(self, ms: float) -> None:
        count, total, low, high = self.durations
        self.durations = [count + 1, total + ms, ms if not count else min(low, ms), max(high, ms)]


def keys_of(target: Target) -> tuple[FunctionKey, ...]:
    """The series an invocation of ``target`` counts in: the function's, and its Resource's when qualified."""
    region = target.function_arn.split(":")[3]
    function_wide = (target.account_id, region, target.function_name, None)
    qualifier = target.invoked_arn[len(target.function_arn) + 1:]
    if not qualifier:
        return (function_wide,)
    return function_wide, (target.account_id, region, target.function_name, f"{target.function_name}:{qualifier}")


def outcome_of(status: str) -> str:
    """``ok``, ``error`` or ``throttle`` for a runner's ``FunctionResult.status``."""
    if status == "ok":
        return "ok"
    return "throttle" if status == "throttled" else "error"


class FunctionCounters:
    """Per-series counters every invocation adds to; :meth:`take` empties them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tallies: dict[FunctionKey, Tally] = defaultdict(Tally)

    def ended(self, keys: tuple[FunctionKey, ...], status: str, duration_ms: float, in_flight: int) -> None:
        """One invocation came back from a runner with ``status``; ``in_flight`` of the function were running."""
        outcome = outcome_of(status)
        with self._lock:
            for key in keys:
                tally = self._tallies[key]
                if outcome == "throttle":
                    tally.throttles += 1
                    continue
                tally.invocations += 1
                tally.errors += outcome == "error"
                tally.add_duration(float(duration_ms))
                if key[3] is None:
                    tally.concurrency = max(tally.concurrency, in_flight)

    def throttled(self, keys: tuple[FunctionKey, ...]) -> None:
        with self._lock:
            for key in keys:
                self._tallies[key].throttles += 1

    @contextmanager
    def counting(self, target: Target) -> Iterator[Callable[[Any, int], None]]:
        """Around one invocation: yields ``ended(result, in_flight)`` for the runner's answer, and counts a
        throttle when the invocation is refused for concurrency before it reached a runner."""
        keys = keys_of(target)
        try:
            yield lambda result, in_flight: self.ended(keys, result.status, result.duration_ms, in_flight)
        except TooManyRequestsException:
            self.throttled(keys)
            raise

    def take(self) -> dict[FunctionKey, Tally]:
        with self._lock:
            taken, self._tallies = dict(self._tallies), defaultdict(Tally)
        return taken


def series_datums(key: FunctionKey, tally: Tally, at: datetime) -> list[Datum]:
    """The datapoints of one invoked series (zero errors and throttles included, as Lambda reports them)."""
    _, _, name, resource = key
    dims = tuple(sorted([("FunctionName", name)] + ([("Resource", resource)] if resource else [])))
    datums = [Datum("Invocations", dims, at, float(tally.invocations), unit="Count"),
              Datum("Errors", dims, at, float(tally.errors), unit="Count"),
              Datum("Throttles", dims, at, float(tally.throttles), unit="Count")]
    count, total, low, high = tally.durations
    if count:
        datums.append(Datum("Duration", dims, at, statistics=StatisticSet(float(count), float(total), float(low),
                                                                          float(high)), unit="Milliseconds"))
    if tally.concurrency:
        datums.append(Datum("ConcurrentExecutions", dims, at, float(tally.concurrency), unit="Count"))
    return datums


def all_datums(tallies: dict[FunctionKey, Tally], at: datetime) -> dict[tuple[str, str], list[Datum]]:
    """Every invoked series' datapoints, by (account, region)."""
    grouped: dict[tuple[str, str], list[Datum]] = defaultdict(list)
    for key in sorted(tallies, key=lambda found: (*found[:3], found[3] or "")):
        grouped[(key[0], key[1])] += series_datums(key, tallies[key], at)
    return dict(grouped)


def publish(cloud: Any, now: datetime) -> None:
    """Publish the counts since the previous publish at ``now`` (the publisher calls it; tests call it directly)."""
    invoker = cloud.lambda_invoker
    if invoker is None:
        return
    for (account, region), datums in all_datums(invoker.metrics.counters.take(), now).items():
        ingest.put(cloud, account, region, NAMESPACE, datums)


class FunctionMetrics(ingest.Publisher):
    """The counters and their publisher thread, owned by the cloud's invoker (started with it, stopped by it)."""

    def __init__(self, cloud: Any) -> None:
        super().__init__(cloud, publish, "lambda-metrics")
        self.counters = FunctionCounters()
