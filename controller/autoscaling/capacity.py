"""The pure rules of how many instances a group runs and which ones: zone balance, purchase options of mixed
instances groups, termination policies and the capacity limits.

Nothing here touches the database or EC2: the reconciler (``worker.py``) hands in what it knows and acts on the
answers, so each rule is tested on its own (tests/unit/autoscaling/test_capacity.py).
References: https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-termination-policies.html,
https://docs.aws.amazon.com/autoscaling/ec2/userguide/allocation-strategies.html.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from controller.errors import ValidationError

TERMINATION_POLICIES = ("Default", "OldestInstance", "NewestInstance", "OldestLaunchConfiguration",
                        "ClosestToNextInstanceHour", "OldestLaunchTemplate", "AllocationStrategy")


@dataclass(frozen=True)
class Member:
    """What the rules need of one instance of a group."""

    instance_id: str
    zone: str
    launched_at: float
    #: the launch configuration name or "<template id>:<version>" the instance was launched from
    launched_from: str = ""
    protected: bool = False
    spot: bool = False
    instance_type: str = ""
    subnet_id: str = ""


def check_sizes(min_size: int, max_size: int, desired: int | None) -> None:
    """ValidationError in AWS's words when the sizes contradict each other."""
    if min_size > max_size:
        raise ValidationError(f"Max bound, {max_size}, must be greater than or equal to min bound, {min_size}")
    if desired is not None and desired > max_size:
        raise ValidationError(f"Desired capacity:{desired} must be between the specified min size:{min_size} "
                              f"and max size:{max_size}")
    if desired is not None and desired < min_size:
        raise ValidationError(f"Desired capacity:{desired} must be between the specified min size:{min_size} "
                              f"and max size:{max_size}")


def clamp(value: int, min_size: int, max_size: int) -> int:
    return max(min_size, min(max_size, value))


# -- zones ----------------------------------------------------------------------------------------------
def zone_for_launch(zones: Sequence[str], members: Sequence[Member]) -> str:
    """The zone with the fewest instances (ties go to the earlier zone of the group's list)."""
    return zones_for_launch(zones, members)[0]


def zones_for_launch(zones: Sequence[str], members: Sequence[Member]) -> list[str]:
    """The group's zones in the order a launch tries them: fewest instances first (ties: the group's order);
    a zone without capacity sends the launch to the next, as Auto Scaling does."""
    counts = Counter(member.zone for member in members)
    return sorted(zones, key=lambda zone: (counts[zone], zones.index(zone)))


def subnet_for_launch(subnets: Sequence[str], members: Sequence[Member]) -> str:
    """Of a zone's subnets, the one with the fewest instances (ties: the first listed)."""
    counts = Counter(member.subnet_id for member in members)
    return min(subnets, key=lambda subnet: (counts[subnet], subnets.index(subnet)))


def zones_to_rebalance(zones: Sequence[str], members: Sequence[Member]) -> tuple[str, str] | None:
    """(crowded zone, sparse zone) when the group's zones differ by more than one instance, else None."""
    if len(zones) < 2:
        return None
    counts = Counter(member.zone for member in members if member.zone in zones)
    crowded = max(zones, key=lambda zone: (counts[zone], -zones.index(zone)))
    sparse = min(zones, key=lambda zone: (counts[zone], zones.index(zone)))
    return (crowded, sparse) if counts[crowded] - counts[sparse] > 1 else None


# -- mixed instances --------------------------------------------------------------------------------------
def on_demand_target(total: int, base: int, percent_above_base: int) -> int:
    """How many of ``total`` instances are On-Demand: the base first, then the percentage of the rest, rounded
    to favour On-Demand as AWS does."""
    if total <= base:
        return total
    return base + math.ceil((total - base) * percent_above_base / 100)


def next_is_spot(members: Sequence[Member], base: int, percent_above_base: int) -> bool:
    """Whether the next launch should be a Spot Instance, to keep the distribution."""
    on_demand = sum(not member.spot for member in members)
    return on_demand >= on_demand_target(len(members) + 1, base, percent_above_base)


def type_for_launch(types: Sequence[str], members: Sequence[Member], *, spot: bool, strategy: str = "") -> str:
    """The instance type of the next launch: On-Demand takes the overrides' order (``prioritized``); Spot
    spreads over the types (the type with the fewest Spot Instances), unless the strategy is prioritized."""
    if not spot or strategy == "capacity-optimized-prioritized":
        return types[0]
    counts = Counter(member.instance_type for member in members if member.spot)
    return min(types, key=lambda kind: (counts[kind], types.index(kind)))


# -- termination ------------------------------------------------------------------------------------------
def choose_victims(members: Sequence[Member], count: int, zones: Sequence[str], policies: Sequence[str], *,
                   current: str = "", now: float = 0.0, base: int | None = None,
                   percent_above_base: int | None = None) -> list[str]:
    """The ``count`` instances scale-in terminates, one at a time as AWS picks them (protected ones never)."""
    remaining = list(members)
    chosen: list[str] = []
    for _ in range(count):
        victim = choose_victim(remaining, zones, policies, current=current, now=now, base=base,
                               percent_above_base=percent_above_base)
        if victim is None:
            break
        chosen.append(victim)
        remaining = [member for member in remaining if member.instance_id != victim]
    return chosen


def choose_victim(members: Sequence[Member], zones: Sequence[str], policies: Sequence[str], *,
                  current: str = "", now: float = 0.0, base: int | None = None,
                  percent_above_base: int | None = None) -> str | None:
    """The one instance to terminate next: first any in a zone the group no longer uses, then the zone with
    the most instances (AWS keeps zones balanced whatever the policy), then each policy in order narrows the candidates; the last tie is
    broken by instance id (AWS picks at random)."""
    candidates = [member for member in members if not member.protected]
    if not candidates:
        return None
    stray = [member for member in candidates if zones and member.zone not in zones]
    if stray:   # instances in zones the group left go first
        candidates = stray
    counts = Counter(member.zone for member in members)
    most = max(counts[member.zone] for member in candidates)
    candidates = [member for member in candidates if counts[member.zone] == most]
    mixed = base is not None and percent_above_base is not None
    for policy in list(policies or ["Default"]):
        if policy == "Default":
            if mixed:
                candidates = _by_allocation(members, candidates, base or 0, percent_above_base or 0)
            candidates = _oldest_launch(candidates, current)
            candidates = _closest_to_hour(candidates, now)
        elif policy == "AllocationStrategy" and mixed:
            candidates = _by_allocation(members, candidates, base or 0, percent_above_base or 0)
        elif policy == "OldestInstance":
            candidates = _extreme(candidates, min)
        elif policy == "NewestInstance":
            candidates = _extreme(candidates, max)
        elif policy in ("OldestLaunchConfiguration", "OldestLaunchTemplate"):
            candidates = _oldest_launch(candidates, current)
        elif policy == "ClosestToNextInstanceHour":
            candidates = _closest_to_hour(candidates, now)
        if len(candidates) == 1:
            break
    return sorted(candidates, key=lambda member: member.instance_id)[0].instance_id


def _extreme(candidates: list[Member], pick: type[min] | type[max]) -> list[Member]:
    when = pick(member.launched_at for member in candidates)
    return [member for member in candidates if member.launched_at == when]


def _oldest_launch(candidates: list[Member], current: str) -> list[Member]:
    """Instances launched from something other than the group's current configuration go first."""
    stale = [member for member in candidates if current and member.launched_from != current]
    return stale or candidates


def _closest_to_hour(candidates: list[Member], now: float) -> list[Member]:
    if not now:
        return candidates
    left = {member.instance_id: 3600 - (now - member.launched_at) % 3600 for member in candidates}
    least = min(left.values())
    return [member for member in candidates if left[member.instance_id] == least]


def _by_allocation(members: Sequence[Member], candidates: list[Member], base: int, percent: int) -> list[Member]:
    """The purchase option that is over its share once one instance is gone."""
    on_demand = sum(not member.spot for member in members)
    want_on_demand = on_demand_target(len(members) - 1, base, percent)
    spot_first = on_demand <= want_on_demand
    preferred = [member for member in candidates if member.spot == spot_first]
    return preferred or candidates
