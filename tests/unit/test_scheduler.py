"""The scheduler's rules, host by host: liveness, zones, capacity and over-commit, tenancy, placement groups."""

from __future__ import annotations

from collections import Counter

import pytest

from controller.ec2.instances.scheduler import (
    SPREAD_PER_ZONE,
    Capacity,
    Group,
    Guest,
    Host,
    NoCapacity,
    Request,
    place,
    place_reclaiming,
)

#: No reserve, no overhead, no over-commit: capacity is exactly the hosts' size.
EXACT = Capacity(cpu_ratio=1.0, ram_ratio=1.0, reserved_memory_mib=0, overhead_mib=0)
ACCOUNT, OTHER = "111111111111", "222222222222"


def host(host_id: str, zone: str = "a", vcpus: int = 4, memory_mib: int = 4096, guests: tuple[Guest, ...] = (),
         **extra: object) -> Host:
    return Host(host_id, zone, vcpus, memory_mib, guests=guests, **extra)  # type: ignore[arg-type]


def guest(n: int, account: str = ACCOUNT, vcpus: int = 1, memory_mib: int = 1024, **extra: object) -> Guest:
    return Guest(f"i-{n:017x}", account, vcpus, memory_mib, **extra)  # type: ignore[arg-type]


def request(count: int = 1, min_count: int | None = None, zones: tuple[str, ...] = ("a",), **extra: object) -> Request:
    return Request(ACCOUNT, 1, 1024, count=count, min_count=count if min_count is None else min_count, zones=zones,
                   **extra)  # type: ignore[arg-type]


def hosts_of(placements: list) -> list[str]:
    return [p.host_id for p in placements]


def test_least_loaded_host_first_and_ties_broken_by_id() -> None:
    busy = host("h1", guests=(guest(1), guest(2)))
    idle = host("h2")
    zone, placements = place(request(), [busy, idle], EXACT)
    assert (zone, hosts_of(placements)) == ("a", ["h2"])
    _, placements = place(request(4), [host("h2"), host("h1")], EXACT)
    assert hosts_of(placements) == ["h1", "h2", "h1", "h2"]


def test_down_hosts_hosts_without_hypervisor_and_other_zones_are_never_used() -> None:
    hosts = [host("h1", up=False), host("h2", can_run=False), host("h3", zone="b")]
    with pytest.raises(NoCapacity):
        place(request(), hosts, EXACT)
    zone, placements = place(request(zones=("a", "b")), hosts, EXACT)
    assert (zone, hosts_of(placements)) == ("b", ["h3"])


def test_memory_and_vcpu_limits_with_over_commit_reserve_and_overhead() -> None:
    only = [host("h1", vcpus=8, memory_mib=4096)]
    assert len(place(request(4), only, EXACT)[1]) == 4  # 4 x 1024 MiB fits exactly in 4096
    small = [host("h1", vcpus=2, memory_mib=4096)]
    with pytest.raises(NoCapacity):
        place(Request(ACCOUNT, 3, 512, zones=("a",)), small, EXACT)  # 3 vCPUs on a 2-vCPU host, no over-commit
    assert place(Request(ACCOUNT, 3, 512, zones=("a",)), small, Capacity(2.0, 1.0, 0, 0))[1]
    assert len(place(request(3, min_count=1), small, EXACT)[1]) == 2  # vCPUs, not memory, limit this host
    reserve = Capacity(cpu_ratio=8.0, ram_ratio=1.0, reserved_memory_mib=1024, overhead_mib=0)
    with pytest.raises(NoCapacity):
        place(request(4), only, reserve)  # the reserve leaves room for 3
    overhead = Capacity(cpu_ratio=8.0, ram_ratio=1.0, reserved_memory_mib=0, overhead_mib=100)
    assert len(place(request(4, min_count=1), only, overhead)[1]) == 3  # 3 x 1124 MiB <= 4096 < 4 x 1124
    doubled = Capacity(cpu_ratio=8.0, ram_ratio=2.0, reserved_memory_mib=0, overhead_mib=0)
    assert len(place(request(8), only, doubled)[1]) == 8


def test_existing_guests_count_against_capacity() -> None:
    full = host("h1", guests=tuple(guest(n) for n in range(4)))
    with pytest.raises(NoCapacity) as excinfo:
        place(request(), [full], EXACT)
    assert "room for 0 of the 1" in excinfo.value.message
    assert not excinfo.value.on_dedicated_host


def test_min_count_and_max_count_launch_as_many_as_fit() -> None:
    hosts = [host("h1", memory_mib=3072)]
    _, placements = place(request(5, min_count=2), hosts, EXACT)
    assert len(placements) == 3
    with pytest.raises(NoCapacity):
        place(request(5, min_count=4), hosts, EXACT)
    with pytest.raises(ValueError):
        place(request(1, min_count=2), hosts, EXACT)


def test_the_zone_that_fits_most_wins_then_the_least_loaded() -> None:
    hosts = [host("h1", zone="a", memory_mib=2048), host("h2", zone="b", memory_mib=4096)]
    zone, placements = place(request(3, min_count=1, zones=("a", "b")), hosts, EXACT)
    assert (zone, len(placements)) == ("b", 3)
    loaded = [host("h1", zone="a", guests=(guest(1),)), host("h2", zone="b")]
    assert place(request(zones=("a", "b")), loaded, EXACT)[0] == "b"
    assert place(request(zones=("a", "b")), [host("h1", zone="a"), host("h2", zone="b")], EXACT)[0] == "a"


def test_dedicated_instances_keep_other_accounts_away_both_ways() -> None:
    theirs = host("h1", guests=(guest(1, OTHER),))
    mine = host("h2")
    _, placements = place(request(2, tenancy="dedicated"), [theirs, mine], EXACT)
    assert hosts_of(placements) == ["h2", "h2"]
    their_dedicated = host("h1", guests=(guest(1, OTHER, tenancy="dedicated"),))
    _, placements = place(request(), [their_dedicated, host("h2", memory_mib=1024)], EXACT)
    assert hosts_of(placements) == ["h2"]
    with pytest.raises(NoCapacity):
        place(request(), [their_dedicated], EXACT)
    my_dedicated = host("h1", guests=(guest(1, ACCOUNT, tenancy="dedicated"),))
    assert hosts_of(place(request(), [my_dedicated], EXACT)[1]) == ["h1"]


def test_a_dedicated_host_takes_only_launches_onto_it() -> None:
    reserved = host("h1", dedicated_host_id="h-0123456789abcdef0")
    shared = host("h2")
    assert hosts_of(place(request(2), [reserved, shared], EXACT)[1]) == ["h2", "h2"]
    onto = request(2, tenancy="host", dedicated_hosts=(("h-0123456789abcdef0", "h1"),))
    _, placements = place(onto, [reserved, shared], EXACT)
    assert hosts_of(placements) == ["h1", "h1"]
    assert {p.dedicated_host_id for p in placements} == {"h-0123456789abcdef0"}
    with pytest.raises(NoCapacity) as excinfo:
        place(request(5, tenancy="host", dedicated_hosts=(("h-0123456789abcdef0", "h1"),)), [reserved], EXACT)
    assert excinfo.value.on_dedicated_host


def test_cluster_groups_pack_onto_members_hosts_then_one_host_then_spill() -> None:
    group = Group("pg-1", "cluster")
    with_member = host("h2", guests=(guest(1, placement_group_id="pg-1"),))
    _, placements = place(request(2, group=group), [host("h1"), with_member, host("h3")], EXACT)
    assert hosts_of(placements) == ["h2", "h2"]
    _, placements = place(request(3, group=group), [host("h1", memory_mib=2048), host("h2")], EXACT)
    assert hosts_of(placements) == ["h2", "h2", "h2"]  # the one host that fits all three
    _, placements = place(request(6, group=group), [host("h1"), host("h2", memory_mib=2048)], EXACT)
    assert Counter(hosts_of(placements)) == {"h1": 4, "h2": 2}  # too big for one host: as few hosts as possible


def test_spread_groups_put_each_member_on_its_own_host() -> None:
    group = Group("pg-2", "spread")
    hosts = [host("h1", guests=(guest(1, placement_group_id="pg-2"),)), host("h2"), host("h3")]
    _, placements = place(request(2, group=group), hosts, EXACT)
    assert sorted(hosts_of(placements)) == ["h2", "h3"]
    with pytest.raises(NoCapacity):
        place(request(3, group=group), hosts, EXACT)
    many = [host(f"h{n}") for n in range(10)]
    _, placements = place(request(10, min_count=1, group=group), many, EXACT)
    assert len(placements) == SPREAD_PER_ZONE and len(set(hosts_of(placements))) == SPREAD_PER_ZONE


def test_partition_groups_keep_partitions_on_disjoint_hosts() -> None:
    group = Group("pg-3", "partition", partition_count=2)
    hosts = [host("h1", memory_mib=8192), host("h2", memory_mib=8192), host("h3", memory_mib=8192)]
    _, placements = place(request(4, group=group), hosts, EXACT)
    partitions = {p.partition_number for p in placements}
    assert partitions == {1, 2}
    by_partition: dict[int, set[str]] = {}
    for p in placements:
        by_partition.setdefault(p.partition_number, set()).add(p.host_id)
    assert not by_partition[1] & by_partition[2]
    taken = [host("h1", guests=(guest(1, placement_group_id="pg-3", partition_number=1),)), host("h2")]
    _, placements = place(request(2, group=group, partition_number=2), taken, EXACT)
    assert hosts_of(placements) == ["h2", "h2"] and {p.partition_number for p in placements} == {2}
    with pytest.raises(NoCapacity):
        place(request(1, group=group, partition_number=2), [taken[0]], EXACT)


# --- spot capacity ---------------------------------------------------------------------------------------------------


def test_an_on_demand_launch_with_room_interrupts_nobody() -> None:
    spot = guest(1, spot=True)
    zone, placements, reclaimed = place_reclaiming(request(), [host("h1", guests=(spot,))], EXACT)
    assert (zone, hosts_of(placements), reclaimed) == ("a", ["h1"], [])


def test_an_on_demand_launch_without_room_takes_the_fewest_spot_guests_largest_first() -> None:
    full = (guest(1, memory_mib=1024, spot=True), guest(2, memory_mib=2048, spot=True), guest(3, memory_mib=1024))
    _, placements, reclaimed = place_reclaiming(request(count=2), [host("h1", guests=full)], EXACT)
    assert hosts_of(placements) == ["h1", "h1"] and reclaimed == [guest(2).instance_id]


def test_a_spot_launch_never_interrupts_and_on_demand_guests_are_never_reclaimed() -> None:
    full = (guest(1, memory_mib=4096, spot=True),)
    with pytest.raises(NoCapacity):
        place_reclaiming(request(spot=True), [host("h1", guests=full)], EXACT)
    with pytest.raises(NoCapacity):
        place_reclaiming(request(), [host("h1", guests=(guest(2, memory_mib=4096),))], EXACT)
