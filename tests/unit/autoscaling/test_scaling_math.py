"""Scaling policies' arithmetic (controller/autoscaling/scaling_math.py) and lifecycle hook waits."""

from __future__ import annotations

import pytest

from controller.autoscaling.hooks import wait_outcome
from controller.autoscaling.scaling_math import (
    adjusted_capacity,
    bounded,
    check_step_adjustments,
    in_cooldown,
    step_for,
    target_tracking_capacity,
)
from controller.errors import ServiceError


def test_adjustment_types() -> None:
    assert adjusted_capacity(4, "ChangeInCapacity", 2) == 6
    assert adjusted_capacity(4, "ChangeInCapacity", -5) == -1   # bounds come after
    assert adjusted_capacity(4, "ExactCapacity", 7) == 7


@pytest.mark.parametrize(("current", "percent", "expected"), [
    (10, 25, 12),      # 2.5 rounds down
    (2, 10, 3),        # 0.2 rounds to 1
    (2, -10, 1),       # -0.2 rounds to -1
    (3, -50, 2),       # -1.5 rounds up to -1
    (10, -67, 4),      # -6.7 -> -6
])
def test_percent_change_rounds_as_aws(current: int, percent: int, expected: int) -> None:
    assert adjusted_capacity(current, "PercentChangeInCapacity", percent) == expected


def test_min_adjustment_magnitude() -> None:
    assert adjusted_capacity(10, "PercentChangeInCapacity", 10, 3) == 13
    assert adjusted_capacity(10, "PercentChangeInCapacity", -10, 3) == 7
    assert adjusted_capacity(100, "PercentChangeInCapacity", 10, 3) == 110


def test_bounds() -> None:
    assert bounded(-1, 1, 5) == 1 and bounded(9, 1, 5) == 5 and bounded(3, 1, 5) == 3


STEPS = [{"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1},
         {"MetricIntervalLowerBound": 10, "MetricIntervalUpperBound": 20, "ScalingAdjustment": 2},
         {"MetricIntervalLowerBound": 20, "ScalingAdjustment": 3}]


def test_step_choice_is_relative_to_the_breach_threshold() -> None:
    assert step_for(STEPS, 55, 50)["ScalingAdjustment"] == 1
    assert step_for(STEPS, 60, 50)["ScalingAdjustment"] == 2     # lower bound inclusive
    assert step_for(STEPS, 95, 50)["ScalingAdjustment"] == 3
    assert step_for(STEPS, 45, 50) is None
    down = [{"MetricIntervalUpperBound": 0, "ScalingAdjustment": -1}]
    assert step_for(down, 45, 50)["ScalingAdjustment"] == -1


def test_step_checks() -> None:
    check_step_adjustments(STEPS)
    for bad in ([], [{"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1},
                     {"MetricIntervalLowerBound": 5, "ScalingAdjustment": 1}],
                [{"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1},
                 {"MetricIntervalLowerBound": 15, "ScalingAdjustment": 1}],
                [{"ScalingAdjustment": 1}, {"ScalingAdjustment": 2}]):
        with pytest.raises(ServiceError):
            check_step_adjustments(bad)


def test_cooldown() -> None:
    assert in_cooldown(100.0, 99.0) and not in_cooldown(100.0, 100.0)


def test_target_tracking_is_proportional() -> None:
    assert target_tracking_capacity(4, 75, 50) == 6
    assert target_tracking_capacity(4, 20, 50) == 2
    assert target_tracking_capacity(0, 10, 50) == 1


def test_hook_waits_end_when_every_hook_answered_or_timed_out() -> None:
    waits = {"a": {"result": None, "deadline": 100, "global": 1000, "default": "CONTINUE"},
             "b": {"result": "CONTINUE", "deadline": 100, "global": 1000, "default": "ABANDON"}}
    assert wait_outcome(waits, 50) is None
    assert wait_outcome(waits, 100) == "CONTINUE"
    waits["a"]["default"] = "ABANDON"
    assert wait_outcome(waits, 100) == "ABANDON"
    waits["a"]["result"] = "CONTINUE"
    assert wait_outcome(waits, 0) == "CONTINUE"
