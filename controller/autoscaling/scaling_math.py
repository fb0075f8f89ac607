"""The pure arithmetic of scaling policies: adjustments, step choice, cooldowns and target tracking.

References: https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-simple-step.html (adjustment
types, rounding of percentages, MinAdjustmentMagnitude, step bounds relative to the breach threshold) and
https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scaling-cooldowns.html.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from controller.errors import ValidationError

ADJUSTMENT_TYPES = ("ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity")


def adjusted_capacity(current: int, adjustment_type: str, adjustment: int | float,
                      min_magnitude: int | None = None) -> int:
    """The desired capacity an adjustment asks for, before the group's bounds."""
    if adjustment_type == "ExactCapacity":
        return int(adjustment)
    if adjustment_type == "ChangeInCapacity":
        return current + int(adjustment)
    change = current * adjustment / 100
    if 0 < change < 1:
        step = 1
    elif -1 < change < 0:
        step = -1
    else:
        step = math.trunc(change)
    if min_magnitude and abs(step) < min_magnitude and adjustment != 0:
        step = min_magnitude if adjustment > 0 else -min_magnitude
    return current + step


def bounded(value: int, min_size: int, max_size: int) -> int:
    return max(min_size, min(max_size, value))


def check_step_adjustments(steps: Sequence[dict[str, Any]]) -> None:
    """AWS's rules on step bounds: at most one open lower and one open upper bound, no overlaps, no gaps."""
    if not steps:
        raise ValidationError("StepAdjustments must be specified for policy type StepScaling")
    ranges = sorted(((step.get("MetricIntervalLowerBound", -math.inf), step.get("MetricIntervalUpperBound", math.inf))
                     for step in steps), key=lambda pair: pair[0])
    for lower, upper in ranges:
        if lower >= upper:
            raise ValidationError("The lower bound of a step adjustment must be less than its upper bound")
    if sum(lower == -math.inf for lower, _ in ranges) > 1 or sum(upper == math.inf for _, upper in ranges) > 1:
        raise ValidationError("There can be at most one step adjustment with a null lower bound and at most one "
                              "with a null upper bound")
    for (_, upper), (lower, _) in zip(ranges, ranges[1:], strict=False):
        if upper > lower:
            raise ValidationError("Step adjustments cannot overlap")
        if upper < lower:
            raise ValidationError("There can be no gaps between step adjustments")


def step_for(steps: Sequence[dict[str, Any]], metric: float, breach_threshold: float) -> dict[str, Any] | None:
    """The step whose interval holds ``metric - breach_threshold`` (lower bound inclusive, as AWS: upper
    exclusive above the threshold, the mirror below it)."""
    diff = metric - breach_threshold
    for step in steps:
        lower = step.get("MetricIntervalLowerBound", -math.inf)
        upper = step.get("MetricIntervalUpperBound", math.inf)
        if diff >= 0 and lower <= diff < upper:
            return step
        if diff < 0 and lower < diff <= upper:
            return step
    return None


def in_cooldown(cooldown_until: float, now: float) -> bool:
    return now < cooldown_until


def target_tracking_capacity(current: int, metric: float, target: float) -> int:
    """The capacity that brings a per-instance average back to its target (proportional, rounded up, at least
    one instance when there is load)."""
    if target <= 0:
        return current
    if current == 0:
        return 1 if metric > 0 else 0
    return max(0, math.ceil(current * metric / target))
