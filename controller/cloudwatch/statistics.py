"""Statistics over datapoints, and the period rules of CloudWatch's queries (pure).

A :class:`Aggregate` is what a period's rows add up to: sample count, sum, minimum, maximum, and the
value distribution when every row carried its values (statistic sets carry none, so a period holding
one answers no percentile, as AWS does). Percentiles are nearest-rank over the distribution.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE_RE = re.compile(r"^p(\d{1,2}(?:\.\d{1,10})?|100(?:\.0{1,10})?)$")
#: The most values a merged distribution keeps; beyond it percentiles are no longer offered.
MAX_DISTRIBUTION = 10_000

HOUR = 3600
DAY = 86400
#: (age in seconds, the finest period available for data that old), oldest first: AWS's retention.
RESOLUTION_BY_AGE = ((63 * DAY, 3600), (15 * DAY, 300), (3 * HOUR, 60))
RETENTION_SECONDS = 455 * DAY


@dataclass
class Aggregate:
    """The merged statistics of some datapoints."""

    sample_count: float = 0.0
    sum: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    dist: dict[float, float] | None = field(default_factory=dict)

    def add(self, sample_count: float, total: float, minimum: float, maximum: float,
            dist: Iterable[Sequence[float]] | None) -> None:
        self.sample_count += sample_count
        self.sum += total
        self.minimum = min(self.minimum, minimum)
        self.maximum = max(self.maximum, maximum)
        if dist is None or self.dist is None:
            self.dist = None
            return
        for value, count in dist:
            self.dist[float(value)] = self.dist.get(float(value), 0.0) + float(count)
        if len(self.dist) > MAX_DISTRIBUTION:
            self.dist = None

    def statistic(self, name: str) -> float | None:
        """One statistic (``Average``, ``p99``, ...); None when it cannot be known (a percentile of sets)."""
        if self.sample_count <= 0:
            return None
        if name == "SampleCount":
            return self.sample_count
        if name == "Sum":
            return self.sum
        if name == "Average":
            return self.sum / self.sample_count
        if name == "Minimum":
            return self.minimum
        if name == "Maximum":
            return self.maximum
        threshold = percentile_of(name)
        if threshold is None:
            raise ValueError(f"unknown statistic {name}")
        return None if self.dist is None else percentile(self.dist, threshold)

    def distribution(self) -> list[list[float]] | None:
        return None if self.dist is None else [[value, count] for value, count in sorted(self.dist.items())]


def percentile_of(name: str) -> float | None:
    """The percentile ``p99.9`` names, or None when ``name`` is not a percentile statistic."""
    match = _PERCENTILE_RE.match(name)
    return float(match.group(1)) if match else None


def is_statistic(name: str) -> bool:
    return name in STATISTICS or percentile_of(name) is not None


def percentile(dist: dict[float, float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least ``p`` percent of the samples at or below it."""
    total = sum(dist.values())
    if total <= 0:
        return None
    rank = p / 100 * total
    seen = 0.0
    ordered = sorted(dist.items())
    for value, count in ordered:
        seen += count
        if seen >= rank and count > 0:
            return value
    return ordered[-1][0]


def finest_period(age_seconds: float) -> int:
    """The finest period data as old as ``age_seconds`` is kept at (1 s for the last three hours)."""
    for age, period in RESOLUTION_BY_AGE:
        if age_seconds > age:
            return period
    return 1


def check_period(period: int, start_age_seconds: float) -> str | None:
    """Why ``period`` cannot be asked for data starting ``start_age_seconds`` ago, or None.

    Periods are 1, 5, 10, 20, 30 or a multiple of 60 (seconds); older data needs coarser multiples
    (60 beyond three hours, 300 beyond 15 days, 3600 beyond 63 days).
    """
    if period < 1 or (period < 60 and period not in (1, 5, 10, 20, 30)) or (period >= 60 and period % 60):
        return "The parameter Period must be 1, 5, 10, 20, 30, or a multiple of 60."
    finest = finest_period(start_age_seconds)
    if finest > 1 and period % finest:
        return (f"The parameter Period must be a multiple of {finest} for data older than "
                f"{_age_words(finest)}.")
    return None


def _age_words(finest: int) -> str:
    return {60: "3 hours", 300: "15 days", 3600: "63 days"}[finest]


def aligned_start(start_seconds: int, period: int, age_seconds: float) -> int:
    """GetMetricStatistics' rounding of StartTime: to the minute within 15 days (to the second for periods
    under a minute), to 5 minutes within 63 days, to the hour beyond."""
    if age_seconds > 63 * DAY:
        step = 3600
    elif age_seconds > 15 * DAY:
        step = 300
    else:
        step = 1 if period < 60 else 60
    return start_seconds - start_seconds % step
