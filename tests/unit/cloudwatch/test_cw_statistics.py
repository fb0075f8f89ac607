"""Statistics, percentiles, the period rules of queries, and the roll-up plan of the sweeper (pure)."""

from __future__ import annotations

import pytest

from controller.cloudwatch.retention import plan_rollup
from controller.cloudwatch.statistics import (
    DAY,
    Aggregate,
    aligned_start,
    check_period,
    finest_period,
    percentile,
    percentile_of,
)


def test_aggregate_statistics() -> None:
    agg = Aggregate()
    agg.add(1, 10.0, 10.0, 10.0, [[10.0, 1]])
    agg.add(3, 6.0, 1.0, 3.0, [[1.0, 1], [2.0, 1], [3.0, 1]])
    assert agg.statistic("SampleCount") == 4
    assert agg.statistic("Sum") == 16.0
    assert agg.statistic("Average") == 4.0
    assert (agg.statistic("Minimum"), agg.statistic("Maximum")) == (1.0, 10.0)
    assert agg.statistic("p50") == 2.0
    assert agg.statistic("p100") == 10.0


def test_statistic_sets_answer_no_percentiles() -> None:
    agg = Aggregate()
    agg.add(1, 5.0, 5.0, 5.0, [[5.0, 1]])
    agg.add(2, 10.0, 4.0, 6.0, None)
    assert agg.statistic("Sum") == 15.0
    assert agg.statistic("p90") is None
    assert Aggregate().statistic("Average") is None


@pytest.mark.parametrize(("p", "expected"), [(0.0, 1.0), (1.0, 1.0), (50.0, 50.0), (99.0, 99.0),
                                             (99.5, 100.0), (100.0, 100.0)])
def test_nearest_rank_percentiles(p: float, expected: float) -> None:
    assert percentile({float(v): 1.0 for v in range(1, 101)}, p) == expected


def test_weighted_percentiles() -> None:
    assert percentile({1.0: 9.0, 100.0: 1.0}, 90) == 1.0
    assert percentile({1.0: 9.0, 100.0: 1.0}, 91) == 100.0


def test_percentile_names() -> None:
    assert percentile_of("p99") == 99.0
    assert percentile_of("p99.9") == 99.9
    assert percentile_of("p100") == 100.0
    for bad in ("p101", "P99", "p", "avg", "p-1"):
        assert percentile_of(bad) is None


def test_period_rules() -> None:
    for good in (1, 5, 10, 20, 30, 60, 120, 3600):
        assert check_period(good, 60) is None
    for bad in (0, 7, 45, 90):
        assert check_period(bad, 60) is not None
    assert check_period(30, 4 * 3600) is not None           # beyond 3 hours: multiples of 60
    assert check_period(120, 16 * DAY) is not None          # beyond 15 days: multiples of 300
    assert check_period(300, 16 * DAY) is None
    assert check_period(600, 70 * DAY) is not None          # beyond 63 days: multiples of 3600
    assert [finest_period(age) for age in (60, 4 * 3600, 16 * DAY, 64 * DAY)] == [1, 60, 300, 3600]


def test_start_time_rounding() -> None:
    assert aligned_start(1000 * 60 + 34, 60, 3600) == 1000 * 60
    assert aligned_start(1000 * 60 + 34, 10, 3600) == 1000 * 60 + 34
    assert aligned_start(3600 * 100 + 420, 300, 20 * DAY) == 3600 * 100 + 300
    assert aligned_start(3600 * 100 + 420, 3600, 70 * DAY) == 3600 * 100


def test_rollup_merges_per_metric_bucket_and_unit() -> None:
    rows = [(1, 61_000, "Count", 1.0, 5.0, 5.0, 5.0, "[[5.0, 1.0]]"),
            (1, 119_000, "Count", 1.0, 7.0, 7.0, 7.0, [[7.0, 1.0]]),
            (1, 120_000, "Count", 2.0, 4.0, 1.0, 3.0, None),
            (2, 61_000, "Count", 1.0, 1.0, 1.0, 1.0, [[1.0, 1.0]]),
            (1, 62_000, "Seconds", 1.0, 9.0, 9.0, 9.0, [[9.0, 1.0]])]
    merged = {(metric, bucket, unit): agg for metric, bucket, unit, agg in plan_rollup(rows, 60)}
    assert set(merged) == {(1, 60_000, "Count"), (1, 120_000, "Count"), (2, 60_000, "Count"), (1, 60_000, "Seconds")}
    first = merged[(1, 60_000, "Count")]
    assert (first.sample_count, first.sum, first.minimum, first.maximum) == (2.0, 12.0, 5.0, 7.0)
    assert first.distribution() == [[5.0, 1.0], [7.0, 1.0]]
    assert merged[(1, 120_000, "Count")].distribution() is None
