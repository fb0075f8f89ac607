"""The pure rules of Auto Scaling's capacity: zone balance, mixed instances' purchase options, termination
policies and size checks (controller/autoscaling/capacity.py)."""

from __future__ import annotations

import pytest

from controller.autoscaling.capacity import (
    Member,
    check_sizes,
    choose_victim,
    choose_victims,
    next_is_spot,
    on_demand_target,
    subnet_for_launch,
    type_for_launch,
    zone_for_launch,
    zones_to_rebalance,
)
from controller.errors import ServiceError

ZONES = ["home-1a", "home-1b", "home-1c"]


def member(instance_id: str, zone: str, launched_at: float = 0.0, **extra: object) -> Member:
    return Member(instance_id=instance_id, zone=zone, launched_at=launched_at, **extra)  # type: ignore[arg-type]


def test_launch_goes_to_the_zone_with_fewest_instances_ties_in_list_order() -> None:
    assert zone_for_launch(ZONES, []) == "home-1a"
    assert zone_for_launch(ZONES, [member("i-1", "home-1a")]) == "home-1b"
    assert zone_for_launch(ZONES, [member("i-1", "home-1a"), member("i-2", "home-1b")]) == "home-1c"
    assert zone_for_launch(["home-1b", "home-1a"], []) == "home-1b"


def test_subnet_in_a_zone_rotates_by_count() -> None:
    members = [member("i-1", "home-1a", subnet_id="subnet-a")]
    assert subnet_for_launch(["subnet-a", "subnet-b"], members) == "subnet-b"


def test_rebalance_only_when_zones_differ_by_more_than_one() -> None:
    assert zones_to_rebalance(ZONES[:2], [member("i-1", "home-1a")]) is None
    crowded = [member(f"i-{n}", "home-1a") for n in range(3)]
    assert zones_to_rebalance(ZONES[:2], crowded) == ("home-1a", "home-1b")


def test_termination_takes_the_crowded_zone_first_whatever_the_policy() -> None:
    members = [member("i-1", "home-1a", 10), member("i-2", "home-1a", 20), member("i-3", "home-1b", 5)]
    assert choose_victim(members, ZONES, ["OldestInstance"]) == "i-1"
    assert choose_victim(members, ZONES, ["NewestInstance"]) == "i-2"


def test_protected_instances_are_never_chosen() -> None:
    members = [member("i-1", "home-1a", protected=True), member("i-2", "home-1b", protected=True)]
    assert choose_victim(members, ZONES, ["Default"]) is None
    members.append(member("i-3", "home-1a"))
    assert choose_victims(members, 3, ZONES, ["Default"]) == ["i-3"]


def test_default_policy_prefers_an_old_launch_configuration_then_the_next_billing_hour() -> None:
    members = [member("i-1", "home-1a", 0, launched_from="new"), member("i-2", "home-1a", 0, launched_from="old")]
    assert choose_victim(members, ZONES, ["Default"], current="new") == "i-2"
    members = [member("i-1", "home-1a", 0), member("i-2", "home-1a", 1000)]
    # at t=3500: i-1 has 100 s to its hour, i-2 1100 s
    assert choose_victim(members, ZONES, ["ClosestToNextInstanceHour"], now=3500) == "i-1"


def test_oldest_launch_template_policy() -> None:
    members = [member("i-1", "home-1a", launched_from="lt-1:2"), member("i-2", "home-1a", launched_from="lt-1:1")]
    assert choose_victim(members, ZONES, ["OldestLaunchTemplate"], current="lt-1:2") == "i-2"


def test_policies_apply_in_order() -> None:
    members = [member("i-1", "home-1a", 5, launched_from="old"), member("i-2", "home-1a", 1, launched_from="new"),
               member("i-3", "home-1a", 9, launched_from="old")]
    assert choose_victim(members, ZONES, ["OldestLaunchConfiguration", "NewestInstance"], current="new") == "i-3"


def test_on_demand_share_rounds_in_favour_of_on_demand() -> None:
    assert on_demand_target(1, 2, 0) == 1
    assert on_demand_target(4, 2, 50) == 3
    assert on_demand_target(5, 2, 50) == 4      # 1.5 rounds up
    assert on_demand_target(10, 0, 0) == 0
    assert on_demand_target(10, 0, 100) == 10


def test_next_launch_purchase_option_keeps_the_distribution() -> None:
    assert next_is_spot([], 1, 0) is False
    on_demand = [member("i-1", "home-1a")]
    assert next_is_spot(on_demand, 1, 0) is True
    assert next_is_spot(on_demand, 1, 100) is False
    half = [member("i-1", "home-1a"), member("i-2", "home-1a", spot=True)]
    assert next_is_spot(half, 0, 50) is False   # 3 instances: 2 On-Demand (rounded up)


def test_spot_types_spread_on_demand_types_follow_priority() -> None:
    spot = [member("i-1", "home-1a", spot=True, instance_type="t3.micro")]
    assert type_for_launch(["t3.micro", "t3.small"], spot, spot=True) == "t3.small"
    assert type_for_launch(["t3.micro", "t3.small"], spot, spot=False) == "t3.micro"
    assert type_for_launch(["t3.micro", "t3.small"], spot, spot=True,
                           strategy="capacity-optimized-prioritized") == "t3.micro"


def test_allocation_strategy_terminates_the_option_over_its_share() -> None:
    members = [member("i-1", "home-1a"), member("i-2", "home-1a"), member("i-3", "home-1a", spot=True)]
    # base 0, 50 % On-Demand: 2 left should be 1 On-Demand + 1 Spot, so an On-Demand one goes
    assert choose_victim(members, ZONES, ["AllocationStrategy"], base=0, percent_above_base=50) in ("i-1", "i-2")
    members = [member("i-1", "home-1a"), member("i-2", "home-1a", spot=True), member("i-3", "home-1a", spot=True)]
    assert choose_victim(members, ZONES, ["AllocationStrategy"], base=0, percent_above_base=50) in ("i-2", "i-3")


@pytest.mark.parametrize(("low", "high", "desired", "message"), [
    (3, 1, None, "Max bound, 1, must be greater than or equal to min bound, 3"),
    (1, 2, 5, "Desired capacity:5 must be between the specified min size:1 and max size:2"),
    (2, 4, 1, "Desired capacity:1 must be between the specified min size:2 and max size:4"),
])
def test_size_checks_word_errors_as_aws(low: int, high: int, desired: int | None, message: str) -> None:
    with pytest.raises(ServiceError) as refused:
        check_sizes(low, high, desired)
    assert (refused.value.code, refused.value.message) == ("ValidationError", message)
    check_sizes(1, 3, 2)


def test_instances_in_a_zone_the_group_left_go_first() -> None:
    members = [member("i-1", "home-1a"), member("i-2", "home-1a"), member("i-3", "home-1c")]
    assert choose_victim(members, ["home-1a", "home-1b"], ["Default"]) == "i-3"
