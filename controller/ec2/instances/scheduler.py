"""Where instances run: a pure function from the hosts' state and one launch request to placements.

Nothing here reads the database or the clock: :func:`place` gets every host with the guests it
already carries and answers the hosts for the new instances, or raises :class:`NoCapacity`. The
rules, in the order they apply:

1. A host qualifies if it is up, can run guests (its agent found a hypervisor) and is in the zone.
2. Tenancy. A host backing a Dedicated Host takes only instances launched onto that Dedicated Host.
   A dedicated instance goes only where no other account has an instance, and a host with another
   account's dedicated instance takes no default-tenancy instance of ours.
3. Capacity, with over-commit: the guests' vCPUs up to ``vcpus x cpu_ratio``, and their memory (plus
   QEMU's overhead per guest) up to ``(memory - reserved) x ram_ratio``.
4. Placement groups. *cluster*: the hosts already holding members first, then a host that fits the
   whole launch, then any (as close as possible, never a refusal). *spread*: each instance on a host
   with no other member, at most 7 members per zone. *partition*: each partition owns a set of hosts
   no other partition of the group uses; an instance goes to the requested partition, or the one
   with the fewest members.
5. Otherwise the least loaded host (by memory share, then vCPU share), so guests spread out.
6. Spot capacity is spare capacity: a spot launch takes only room nobody uses, while an on-demand launch
   that finds no room counts spot guests as free and names the ones to interrupt (:func:`place_reclaiming`),
   the fewest on each host it lands on, largest first.

A launch asks for between ``min_count`` and ``count`` instances, all in one zone (they share a subnet):
the zone that fits the most wins, the less loaded one on a tie (so launches that name no zone spread over
the zones, as EC2 balances them); fewer than ``min_count`` anywhere is a refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

SPREAD_PER_ZONE = 7


class NoCapacity(Exception):
    """The launch cannot be placed. ``on_dedicated_host`` tells AWS's two error codes apart."""

    def __init__(self, message: str, *, on_dedicated_host: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.on_dedicated_host = on_dedicated_host


@dataclass(frozen=True)
class Guest:
    """An instance that holds capacity on a host (pending, running, stopping or shutting down)."""

    instance_id: str
    account_id: str
    vcpus: int
    memory_mib: int
    tenancy: str = "default"
    placement_group_id: str | None = None
    partition_number: int | None = None
    #: A spot instance not yet interrupted: its capacity goes to an on-demand launch that needs it.
    spot: bool = False


@dataclass(frozen=True)
class Host:
    host_id: str
    zone: str
    vcpus: int
    memory_mib: int
    up: bool = True
    can_run: bool = True
    guests: tuple[Guest, ...] = ()
    #: Set while the host backs a Dedicated Host (AllocateHosts): that Dedicated Host's id.
    dedicated_host_id: str | None = None


@dataclass(frozen=True)
class Capacity:
    cpu_ratio: float = 4.0
    ram_ratio: float = 1.0
    reserved_memory_mib: int = 1024
    overhead_mib: int = 48


@dataclass(frozen=True)
class Group:
    group_id: str
    strategy: str
    partition_count: int = 0


@dataclass(frozen=True)
class Request:
    account_id: str
    vcpus: int
    memory_mib: int
    count: int = 1
    min_count: int = 1
    #: Candidate zones in order of preference; the launch lands in exactly one of them.
    zones: tuple[str, ...] = ()
    tenancy: str = "default"
    group: Group | None = None
    partition_number: int | None = None
    #: For tenancy ``host``: the Dedicated Hosts the launch may use, as (dedicated host id, backing host id).
    dedicated_hosts: tuple[tuple[str, str], ...] = ()
    spot: bool = False


@dataclass(frozen=True)
class Placement:
    host_id: str
    partition_number: int | None = None
    dedicated_host_id: str | None = None


@dataclass
class _Load:
    """A host's usage while a launch is being placed (existing guests plus this launch's)."""

    host: Host
    vcpus: int = 0
    memory_mib: int = 0
    accounts: set[str] = field(default_factory=set)
    dedicated_accounts: set[str] = field(default_factory=set)
    members: int = 0
    partitions: set[int] = field(default_factory=set)


def place(request: Request, hosts: Sequence[Host], capacity: Capacity) -> tuple[str, list[Placement]]:
    """The zone and one placement per instance (between ``min_count`` and ``count`` of them)."""
    if request.count < 1 or request.min_count < 1 or request.min_count > request.count:
        raise ValueError("count and min_count must satisfy 1 <= min_count <= count")
    best: tuple[str, list[Placement]] | None = None
    best_key: tuple[int, float] | None = None
    for zone in request.zones:
        in_zone = [h for h in hosts if h.zone == zone]
        placements = _place_in_zone(request, in_zone, capacity)
        key = (len(placements), -_zone_load(in_zone, request, capacity))
        if best_key is None or key > best_key:
            best, best_key = (zone, placements), key
    if best is None or len(best[1]) < request.min_count:
        got = 0 if best is None else len(best[1])
        where = ", ".join(request.zones) or "no zone"
        raise NoCapacity(f"room for {got} of the {request.min_count} instance(s) asked for at least, in {where}",
                         on_dedicated_host=request.tenancy == "host")
    return best


def place_reclaiming(request: Request, hosts: Sequence[Host], capacity: Capacity
                     ) -> tuple[str, list[Placement], list[str]]:
    """:func:`place`, and for an on-demand launch that finds no room, a placement that takes spot guests'
    capacity: the zone, the placements and the spot instances to interrupt so that they fit."""
    try:
        zone, placements = place(request, hosts, capacity)
        return zone, placements, []
    except NoCapacity:
        if request.spot or not any(g.spot for h in hosts for g in h.guests):
            raise
    without_spot = [replace(h, guests=tuple(g for g in h.guests if not g.spot)) for h in hosts]
    zone, placements = place(request, without_spot, capacity)
    landing: dict[str, int] = {}
    for where in placements:
        landing[where.host_id] = landing.get(where.host_id, 0) + 1
    reclaimed = []
    for host in hosts:
        if host.host_id in landing:
            reclaimed += _spot_to_interrupt(host, request, landing[host.host_id], capacity)
    return zone, placements, reclaimed


def _spot_to_interrupt(host: Host, request: Request, count: int, capacity: Capacity) -> list[str]:
    """The fewest spot guests of ``host`` (largest first) whose leaving makes room for ``count`` more instances."""
    load = _load(host, request, capacity)
    load.vcpus += request.vcpus * count
    load.memory_mib += (request.memory_mib + capacity.overhead_mib) * count
    cpu_limit = host.vcpus * capacity.cpu_ratio
    memory_limit = (host.memory_mib - capacity.reserved_memory_mib) * capacity.ram_ratio
    chosen = []
    for guest in sorted((g for g in host.guests if g.spot), key=lambda g: (-g.memory_mib, -g.vcpus, g.instance_id)):
        if load.vcpus <= cpu_limit and load.memory_mib <= memory_limit:
            break
        load.vcpus -= guest.vcpus
        load.memory_mib -= guest.memory_mib + capacity.overhead_mib
        chosen.append(guest.instance_id)
    return chosen


def _place_in_zone(request: Request, hosts: list[Host], capacity: Capacity) -> list[Placement]:
    loads = [_load(h, request, capacity) for h in hosts if h.up and h.can_run and _tenancy_allows(h, request)]
    group = request.group
    placements: list[Placement] = []
    zone_members = sum(load.members for load in loads)
    partition_members = _partition_members(hosts, group)
    for _ in range(request.count):
        if group is not None and group.strategy == "spread" and zone_members >= SPREAD_PER_ZONE:
            break
        candidates = [load for load in loads if _fits(load, request, capacity)]
        partition = None
        if group is not None and group.strategy == "spread":
            candidates = [load for load in candidates if load.members == 0]
        elif group is not None and group.strategy == "partition":
            partition = request.partition_number or min(
                range(1, group.partition_count + 1), key=lambda p: (partition_members.get(p, 0), p))
            candidates = [load for load in candidates if _partition_allows(load, partition)]
        if not candidates:
            break
        chosen = _choose(candidates, request, capacity, group, request.count - len(placements))
        chosen.vcpus += request.vcpus
        chosen.memory_mib += request.memory_mib + capacity.overhead_mib
        chosen.accounts.add(request.account_id)
        if request.tenancy == "dedicated":
            chosen.dedicated_accounts.add(request.account_id)
        if group is not None:
            chosen.members += 1
            zone_members += 1
        if partition is not None:
            chosen.partitions.add(partition)
            partition_members[partition] = partition_members.get(partition, 0) + 1
        placements.append(Placement(chosen.host.host_id, partition, chosen.host.dedicated_host_id))
    return placements


def _zone_load(hosts: list[Host], request: Request, capacity: Capacity) -> float:
    """The share of the zone's usable memory its live hosts have given out (1.0 for a zone without any)."""
    loads = [_load(h, request, capacity) for h in hosts if h.up and h.can_run]
    limit = sum(max(0.0, (load.host.memory_mib - capacity.reserved_memory_mib) * capacity.ram_ratio) for load in loads)
    return sum(load.memory_mib for load in loads) / limit if limit else 1.0


def _load(host: Host, request: Request, capacity: Capacity) -> _Load:
    load = _Load(host)
    group_id = request.group.group_id if request.group else None
    for guest in host.guests:
        load.vcpus += guest.vcpus
        load.memory_mib += guest.memory_mib + capacity.overhead_mib
        load.accounts.add(guest.account_id)
        if guest.tenancy == "dedicated":
            load.dedicated_accounts.add(guest.account_id)
        if group_id is not None and guest.placement_group_id == group_id:
            load.members += 1
            if guest.partition_number is not None:
                load.partitions.add(guest.partition_number)
    return load


def _partition_members(hosts: Sequence[Host], group: Group | None) -> dict[int, int]:
    counts: dict[int, int] = {}
    if group is None:
        return counts
    for host in hosts:
        for guest in host.guests:
            if guest.placement_group_id == group.group_id and guest.partition_number is not None:
                counts[guest.partition_number] = counts.get(guest.partition_number, 0) + 1
    return counts


def _tenancy_allows(host: Host, request: Request) -> bool:
    if request.tenancy == "host":
        return any(backing == host.host_id and dedicated == host.dedicated_host_id
                   for dedicated, backing in request.dedicated_hosts)
    if host.dedicated_host_id is not None:
        return False
    others = {g.account_id for g in host.guests} - {request.account_id}
    others_dedicated = {g.account_id for g in host.guests if g.tenancy == "dedicated"} - {request.account_id}
    if request.tenancy == "dedicated":
        return not others
    return not others_dedicated


def _fits(load: _Load, request: Request, capacity: Capacity) -> bool:
    host = load.host
    cpu_limit = host.vcpus * capacity.cpu_ratio
    memory_limit = (host.memory_mib - capacity.reserved_memory_mib) * capacity.ram_ratio
    return (load.vcpus + request.vcpus <= cpu_limit
            and load.memory_mib + request.memory_mib + capacity.overhead_mib <= memory_limit)


def _partition_allows(load: _Load, partition: int) -> bool:
    """A host serves one partition of the group: the one it has members of, or any when it has none."""
    if load.partitions:
        return load.partitions == {partition}
    return True


def _share(load: _Load, capacity: Capacity) -> tuple[float, float]:
    host = load.host
    memory_limit = max(1.0, (host.memory_mib - capacity.reserved_memory_mib) * capacity.ram_ratio)
    return load.memory_mib / memory_limit, load.vcpus / max(1.0, host.vcpus * capacity.cpu_ratio)


def _choose(candidates: list[_Load], request: Request, capacity: Capacity, group: Group | None,
            remaining: int) -> _Load:
    def least_loaded(load: _Load) -> tuple[float, float, str]:
        memory_share, cpu_share = _share(load, capacity)
        return memory_share, cpu_share, load.host.host_id

    if group is not None and group.strategy == "cluster":
        with_members = [load for load in candidates if load.members]
        if with_members:
            return max(with_members, key=lambda load: (load.members, -_share(load, capacity)[0], load.host.host_id))
        whole = [load for load in candidates if _room_for(load, request, capacity) >= remaining]
        if whole:
            return min(whole, key=least_loaded)
        return max(candidates, key=lambda load: (_room_for(load, request, capacity), load.host.host_id))
    return min(candidates, key=least_loaded)


def _room_for(load: _Load, request: Request, capacity: Capacity) -> int:
    """How many more instances of this size the host can take."""
    host = load.host
    by_cpu = (host.vcpus * capacity.cpu_ratio - load.vcpus) // max(1, request.vcpus)
    by_memory = ((host.memory_mib - capacity.reserved_memory_mib) * capacity.ram_ratio - load.memory_mib) \
        // (request.memory_mib + capacity.overhead_mib)
    return max(0, int(min(by_cpu, by_memory)))
