"""Placement groups and Dedicated Hosts, and the hosts' state as the scheduler sees it.

A placement group only records intent (strategy, partition count); :mod:`controller.ec2.instances.scheduler`
honours it when instances launch. A Dedicated Host (AllocateHosts) reserves a whole agent host for
one account: it must be idle when allocated, and from then on only instances launched onto that
Dedicated Host run there.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from controller.api import Params, RequestContext
from controller.config import Config
from controller.ec2.describe import describe, listing
from controller.ec2.errors import InvalidParameterValue, MissingParameter, invalid_value, require
from controller.ec2.filters import check_names
from controller.ec2.ids import DEDICATED_HOST, PLACEMENT_GROUP
from controller.ec2.instances import instance_types, lifecycle, scheduler, spot
from controller.ec2.instances import state as instance_state
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import drop_tags, owned_by_account, register_taggable, tag_new_resource, tags_of
from controller.ec2.vpc.state import write
from controller.errors import ServiceError, error
from controller.hosts import state as hosts_state
from controller.state import utcnow

register_taggable(PLACEMENT_GROUP, owned_by_account(instance_state.placement_groups, "group_id"))
register_taggable(DEDICATED_HOST, owned_by_account(instance_state.dedicated_hosts, "host_id"))

InvalidPlacementGroupDuplicate = error("InvalidPlacementGroup.Duplicate")
InvalidPlacementGroupInUse = error("InvalidPlacementGroup.InUse")
InsufficientHostCapacity = error("InsufficientHostCapacity", 500, sender_fault=False)
STRATEGIES = ("cluster", "spread", "partition")
MAX_PARTITIONS = 7
GROUP_NAME = re.compile(r"^[\x20-\x7e]{1,255}$")
HYPERVISORS = ("kvm", "qemu")
#: API_DescribePlacementGroups.html
PLACEMENT_GROUP_FILTERS = {"group-name": "GroupName", "group-arn": "GroupArn", "state": "State",
                           "strategy": "Strategy", "spread-level": "SpreadLevel"}
#: API_DescribeHosts.html (no host reservations here, so ``host-reservation-id`` matches no host).
HOST_FILTERS = {"auto-placement": "AutoPlacement", "availability-zone": "AvailabilityZone",
                "client-token": "ClientToken", "host-reservation-id": "HostReservationId",
                "instance-type": "HostProperties.InstanceType", "state": "State"}


# --- the hosts, for the scheduler ---------------------------------------------------------------------------------


def capacity(config: Config) -> scheduler.Capacity:
    return scheduler.Capacity(cpu_ratio=config.cpu_overcommit_ratio, ram_ratio=config.ram_overcommit_ratio,
                              reserved_memory_mib=config.host_reserved_memory_mib,
                              overhead_mib=config.instance_memory_overhead_mib)


def guest_of(row: RowMapping, config: Config, spot_ids: frozenset[str] | set[str] = frozenset()) -> scheduler.Guest:
    size = instance_types.guest_size(instance_types.lookup(row["instance_type"]), config)
    return scheduler.Guest(row["instance_id"], row["account_id"], size.vcpus, size.memory_mib, row["tenancy"],
                           row["placement_group_id"], row["partition_number"], spot=row["instance_id"] in spot_ids)


def scheduler_hosts(conn: Connection, config: Config, *, exclude: str | None = None) -> list[scheduler.Host]:
    """Every registered host with the instances holding capacity on it (``exclude``: one not to count)."""
    now = utcnow()
    instances = instance_state.instances
    guests: dict[str, list[scheduler.Guest]] = {}
    spot_ids = spot.active_spot_instances(conn)
    for row in conn.execute(select(instances).where(instances.c.state.in_(lifecycle.HOLDS_CAPACITY),
                                                    instances.c.host_id.is_not(None))).mappings():
        if row["instance_id"] != exclude:
            guests.setdefault(row["host_id"], []).append(guest_of(row, config, spot_ids))
    dedicated = instance_state.dedicated_hosts
    backing = {r["physical_host_id"]: r["host_id"] for r in conn.execute(
        select(dedicated.c.host_id, dedicated.c.physical_host_id).where(dedicated.c.state == "available")).mappings()}
    records = sorted(hosts_state.host_records(conn, now), key=lambda host: host.host_id)
    return [scheduler.Host(host_id=h.host_id, zone=h.zone, vcpus=h.vcpus, memory_mib=h.memory_mib,
                           up=h.state == "up", can_run=h.hypervisor in HYPERVISORS and h.schedulable,
                           guests=tuple(guests.get(h.host_id, ())), dedicated_host_id=backing.get(h.host_id))
            for h in records]


def host_is_up(conn: Connection, host_id: str | None) -> bool:
    return host_id is not None and hosts_state.host_is_up(conn, host_id)


# --- placement groups -------------------------------------------------------------------------------------------


def find_group(conn: Connection, account: str, name: str | None = None, group_id: str | None = None) -> RowMapping:
    table = instance_state.placement_groups
    condition = table.c.group_id == group_id if group_id else table.c.group_name == name
    row = conn.execute(select(table).where(condition, table.c.account_id == account)).mappings().first()
    if row is None:
        raise PLACEMENT_GROUP.missing([group_id or name or ""]) if group_id else \
            ServiceError(f"The Placement Group '{name}' is unknown.", code="InvalidPlacementGroup.Unknown")
    return row


def _group_output(ctx: RequestContext, row: RowMapping, tags: list[dict[str, str]]) -> Params:
    output: Params = {"GroupName": row["group_name"], "GroupId": row["group_id"], "State": "available",
                      "Strategy": row["strategy"], "GroupArn": PLACEMENT_GROUP.arn(ctx, row["group_name"]),
                      "Tags": tags}
    if row["partition_count"]:
        output["PartitionCount"] = row["partition_count"]
    if row["spread_level"]:
        output["SpreadLevel"] = row["spread_level"]
    return output


@vpc_operation("CreatePlacementGroup", resources=arns((PLACEMENT_GROUP, NEW)))
def create_placement_group(ctx: RequestContext, params: Params) -> Params:
    require(params, "GroupName")
    name, strategy = params["GroupName"], params.get("Strategy") or "cluster"
    if not GROUP_NAME.match(name):
        raise invalid_value(name, "GroupName", "Names are 1 to 255 printable ASCII characters.")
    if strategy not in STRATEGIES:
        raise invalid_value(strategy, "strategy")
    partitions = params.get("PartitionCount")
    if strategy == "partition":
        partitions = partitions or 2
        if not 1 <= partitions <= MAX_PARTITIONS:
            raise invalid_value(partitions, "partitionCount", f"It must be between 1 and {MAX_PARTITIONS}.")
    elif partitions is not None:
        raise InvalidParameterValue("PartitionCount is only valid for the partition strategy.")
    spread_level = params.get("SpreadLevel")
    if strategy == "spread":
        spread_level = spread_level or "rack"
        if spread_level not in ("host", "rack"):
            raise invalid_value(spread_level, "spreadLevel", "Valid values are host and rack.")
    elif spread_level:
        raise InvalidParameterValue("SpreadLevel is only valid for the spread strategy.")
    table = instance_state.placement_groups
    group_id = PLACEMENT_GROUP.new_id()
    with write(ctx.cloud.db) as conn:
        if conn.execute(select(table.c.group_id).where(table.c.account_id == ctx.account_id,
                                                       table.c.group_name == name)).first():
            raise InvalidPlacementGroupDuplicate(f"The Placement Group '{name}' already exists.")
        conn.execute(insert(table).values(group_id=group_id, account_id=ctx.account_id, group_name=name,
                                          strategy=strategy, partition_count=partitions, spread_level=spread_level,
                                          created_at=utcnow()))
        tags = tag_new_resource(conn, ctx.account_id, PLACEMENT_GROUP, group_id, params.get("TagSpecifications"))
        row = conn.execute(select(table).where(table.c.group_id == group_id)).mappings().one()
    return {"PlacementGroup": _group_output(ctx, row, tags)}


@vpc_operation("DescribePlacementGroups", resources=arns((PLACEMENT_GROUP, "GroupIds")))
def describe_placement_groups(ctx: RequestContext, params: Params) -> Params:
    check_names(params.get("Filters"), PLACEMENT_GROUP_FILTERS)
    table = instance_state.placement_groups
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(table).where(table.c.account_id == ctx.account_id)).mappings().all()
        tags = tags_of(conn, ctx.account_id, [r["group_id"] for r in rows])
    names = params.get("GroupNames") or []
    unknown = [n for n in names if n not in {r["group_name"] for r in rows}]
    if unknown:
        raise ServiceError(f"The Placement Group '{unknown[0]}' is unknown.", code="InvalidPlacementGroup.Unknown")
    if names:
        rows = [r for r in rows if r["group_name"] in names]
    items = [_group_output(ctx, r, tags[r["group_id"]]) for r in rows]
    listed, _ = describe(items, params, key="GroupId", ids_param="GroupIds", kind=PLACEMENT_GROUP,
                         fields=PLACEMENT_GROUP_FILTERS)
    return {"PlacementGroups": listed}


@vpc_operation("DeletePlacementGroup", resources=arns((PLACEMENT_GROUP, NEW)))
def delete_placement_group(ctx: RequestContext, params: Params) -> Params:
    require(params, "GroupName")
    table, instances = instance_state.placement_groups, instance_state.instances
    with write(ctx.cloud.db) as conn:
        row = find_group(conn, ctx.account_id, params["GroupName"])
        if conn.execute(select(instances.c.instance_id).where(
                instances.c.placement_group_id == row["group_id"],
                instances.c.state != lifecycle.TERMINATED)).first():
            raise InvalidPlacementGroupInUse(f"The placement group '{row['group_name']}' is in use and may not be "
                                             "deleted.")
        conn.execute(table.delete().where(table.c.group_id == row["group_id"]))
        conn.execute(update(instances).where(instances.c.placement_group_id == row["group_id"])
                     .values(placement_group_id=None, partition_number=None))
        drop_tags(conn, [row["group_id"]])
    return {}


# --- Dedicated Hosts -----------------------------------------------------------------------------------------------


def _host_type_check(row: RowMapping, instance_type: str) -> bool:
    family = instance_type.split(".", 1)[0]
    return row["instance_type"] == instance_type if row["instance_type"] else row["instance_family"] == family


def dedicated_hosts_for_launch(conn: Connection, account: str, instance_type: str, host_id: str | None
                               ) -> tuple[tuple[str, str], ...]:
    """(dedicated host id, backing agent host) pairs a ``tenancy=host`` launch may use."""
    table = instance_state.dedicated_hosts
    if host_id:
        row = conn.execute(select(table).where(table.c.host_id == host_id, table.c.account_id == account,
                                               table.c.state == "available")).mappings().first()
        if row is None:
            raise DEDICATED_HOST.missing([host_id])
        if not _host_type_check(row, instance_type):
            raise InvalidParameterValue(f"Instance type {instance_type} is not supported by Dedicated Host "
                                        f"{host_id} ({row['instance_type'] or row['instance_family']}).")
        return ((row["host_id"], row["physical_host_id"]),)
    rows = conn.execute(select(table).where(table.c.account_id == account, table.c.state == "available",
                                            table.c.auto_placement == "on")).mappings().all()
    return tuple((r["host_id"], r["physical_host_id"]) for r in rows if _host_type_check(r, instance_type))


@vpc_operation("AllocateHosts", resources=arns((DEDICATED_HOST, NEW)))
def allocate_hosts(ctx: RequestContext, params: Params) -> Params:
    require(params, "AvailabilityZone")
    zone = params["AvailabilityZone"]
    if zone not in ctx.cloud.config.availability_zones:
        raise InvalidParameterValue(f"Invalid availability zone: [{zone}]")
    instance_type, family = params.get("InstanceType"), params.get("InstanceFamily")
    if bool(instance_type) == bool(family):
        raise MissingParameter("Specify either InstanceType or InstanceFamily.")
    if instance_type:
        instance_types.lookup(instance_type)
    elif not any(name.split(".")[0] == family for name in instance_types.CATALOGUE):
        raise invalid_value(family, "InstanceFamily")
    quantity = params.get("Quantity") or 1
    auto_placement = params.get("AutoPlacement") or "off"
    table = instance_state.dedicated_hosts
    allocated = []
    with write(ctx.cloud.db) as conn:
        token = params.get("ClientToken")
        if token:
            again = [r[0] for r in conn.execute(select(table.c.host_id).where(table.c.account_id == ctx.account_id,
                                                                              table.c.client_token == token))]
            if again:
                return {"HostIds": again}
        idle = [h for h in scheduler_hosts(conn, ctx.cloud.config)
                if h.zone == zone and h.up and h.can_run and not h.guests and h.dedicated_host_id is None]
        if len(idle) < quantity:
            raise InsufficientHostCapacity(f"Insufficient capacity: {len(idle)} idle host(s) in {zone}, "
                                           f"{quantity} requested.")
        for host in idle[:quantity]:
            host_id = DEDICATED_HOST.new_id()
            conn.execute(insert(table).values(
                host_id=host_id, account_id=ctx.account_id, availability_zone=zone, instance_type=instance_type,
                instance_family=family, auto_placement=auto_placement,
                host_recovery=params.get("HostRecovery") or "off", state="available",
                physical_host_id=host.host_id, client_token=token, allocated_at=utcnow()))
            tag_new_resource(conn, ctx.account_id, DEDICATED_HOST, host_id,
                             params.get("TagSpecifications"))
            allocated.append(host_id)
    return {"HostIds": allocated}


def _host_output(conn: Connection, config: Config, row: RowMapping, hosts: dict[str, scheduler.Host],
                 tags: list[dict[str, str]]) -> Params:
    physical = hosts.get(row["physical_host_id"])
    instances = instance_state.instances
    running = conn.execute(select(instances.c.instance_id, instances.c.instance_type, instances.c.account_id).where(
        instances.c.dedicated_host_id == row["host_id"],
        instances.c.state.in_(lifecycle.HOLDS_CAPACITY))).all()
    output: Params = {
        "HostId": row["host_id"], "AutoPlacement": row["auto_placement"], "AvailabilityZone": row["availability_zone"],
        "HostRecovery": row["host_recovery"], "State": row["state"], "AllocationTime": row["allocated_at"],
        "OwnerId": row["account_id"], "AllowsMultipleInstanceTypes": "off" if row["instance_type"] else "on",
        "Instances": [{"InstanceId": i, "InstanceType": t, "OwnerId": o} for i, t, o in running], "Tags": tags,
        "HostProperties": {"InstanceType": row["instance_type"] or "", "InstanceFamily": row["instance_family"]
                           or row["instance_type"].split(".")[0],
                           "Sockets": 1, "Cores": physical.vcpus if physical else 0,
                           "TotalVCpus": int(physical.vcpus * config.cpu_overcommit_ratio) if physical else 0},
    }
    if row["client_token"]:
        output["ClientToken"] = row["client_token"]
    if row["released_at"]:
        output["ReleaseTime"] = row["released_at"]
    if physical is not None and row["state"] == "available":
        used = sum(g.vcpus for g in physical.guests)
        total = int(physical.vcpus * config.cpu_overcommit_ratio)
        available: Params = {"AvailableVCpus": max(0, total - used)}
        if row["instance_type"]:
            size = instance_types.guest_size(instance_types.lookup(row["instance_type"]), config)
            request = scheduler.Request(row["account_id"], size.vcpus, size.memory_mib)
            fits = _how_many(physical, request, capacity(config))
            available["AvailableInstanceCapacity"] = [{"InstanceType": row["instance_type"], "AvailableCapacity": fits,
                                                       "TotalCapacity": fits + len(running)}]
        output["AvailableCapacity"] = available
    return output


def _how_many(host: scheduler.Host, request: scheduler.Request, cap: scheduler.Capacity) -> int:
    """How many more instances of the request's size fit on ``host`` (the scheduler's own arithmetic)."""
    cpu = host.vcpus * cap.cpu_ratio - sum(g.vcpus for g in host.guests)
    memory = (host.memory_mib - cap.reserved_memory_mib) * cap.ram_ratio - sum(
        g.memory_mib + cap.overhead_mib for g in host.guests)
    return max(0, int(min(cpu // max(1, request.vcpus), memory // (request.memory_mib + cap.overhead_mib))))


@vpc_operation("DescribeHosts", resources=arns((DEDICATED_HOST, "HostIds")))
def describe_hosts(ctx: RequestContext, params: Params) -> Params:
    table = instance_state.dedicated_hosts
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(table).where(table.c.account_id == ctx.account_id)).mappings().all()
        hosts = {h.host_id: h for h in scheduler_hosts(conn, ctx.cloud.config)}
        tags = tags_of(conn, ctx.account_id, [r["host_id"] for r in rows])
        items = [_host_output(conn, ctx.cloud.config, r, hosts, tags[r["host_id"]]) for r in rows]
    listed, token = describe(items, params, key="HostId", ids_param="HostIds", kind=DEDICATED_HOST,
                             filters_param="Filter", page_limits=(5, 500), fields=HOST_FILTERS)
    return listing("Hosts", listed, token)


@vpc_operation("ReleaseHosts", resources=arns((DEDICATED_HOST, "HostIds")))
def release_hosts(ctx: RequestContext, params: Params) -> Params:
    require(params, "HostIds")
    table, instances = instance_state.dedicated_hosts, instance_state.instances
    successful: list[str] = []
    unsuccessful: list[dict[str, Any]] = []
    with write(ctx.cloud.db) as conn:
        for host_id in dict.fromkeys(params["HostIds"]):
            row = conn.execute(select(table).where(table.c.host_id == host_id, table.c.account_id == ctx.account_id)
                               ).mappings().first()
            if row is None or row["state"] != "available":
                unsuccessful.append({"ResourceId": host_id, "Error": {
                    "Code": "Client.InvalidHostID.NotFound", "Message": f"The host ID '{host_id}' does not exist"}})
                continue
            if conn.execute(select(instances.c.instance_id).where(
                    instances.c.dedicated_host_id == host_id,
                    instances.c.state != lifecycle.TERMINATED)).first():
                unsuccessful.append({"ResourceId": host_id, "Error": {
                    "Code": "Client.InvalidHost.Occupied",
                    "Message": f"Dedicated host {host_id} has instances and cannot be released."}})
                continue
            conn.execute(update(table).where(table.c.host_id == host_id).values(state="released",
                                                                                released_at=utcnow()))
            successful.append(host_id)
    return {"Successful": successful, "Unsuccessful": unsuccessful}
