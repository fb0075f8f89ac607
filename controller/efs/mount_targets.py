"""Mount targets: CreateMountTarget, DescribeMountTargets, DeleteMountTarget and their security groups.

A mount target is an NFS endpoint in one subnet: a requester-managed ENI made through EC2's
``eni_records`` (so its security groups, DescribeNetworkInterfaces and the network section see it like
any ENI), described as AWS shows it ("EFS mount target for fs-... (fsmt-...)"). The rules are AWS's:
one mount target per zone per file system, all of a file system's mount targets in one VPC, a One Zone
file system only in its zone, at most five security groups of the subnet's VPC (the VPC's default group
when none is given). It is ``creating`` for a moment, then ``available`` (time-driven, like file systems).
As on AWS, the caller also needs the EC2 permissions on the interface (``access.require_ec2``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, RowMapping, delete, insert, select

from controller.api import Params, RequestContext
from controller.ec2 import ids, lookups
from controller.ec2.vpc import eni_records
from controller.efs import access, records, rules, state
from controller.efs.errors import (
    BadRequest,
    IncorrectMountTargetState,
    IpAddressInUse,
    MountTargetConflict,
    NoFreeAddressesInSubnet,
    SecurityGroupLimitExceeded,
    SecurityGroupNotFound,
    SubnetNotFound,
)
from controller.efs.service import api
from controller.errors import ServiceError
from controller.state import utcnow

#: Security groups per mount target (AWS's fixed limit).
MAX_SECURITY_GROUPS = 5

#: EC2's refusals of an interface, as EFS words them for a mount target.
_EC2_TO_EFS: dict[str, type[ServiceError]] = {
    "InvalidGroup.NotFound": SecurityGroupNotFound,
    "InvalidGroupId.Malformed": SecurityGroupNotFound,
    "InvalidParameter": SecurityGroupNotFound,  # a group of another VPC
    "SecurityGroupsPerInterfaceLimitExceeded": SecurityGroupLimitExceeded,
    "InvalidIPAddress.InUse": IpAddressInUse,
    "InsufficientFreeAddressesInSubnet": NoFreeAddressesInSubnet,
    "InvalidParameterValue": BadRequest,
}


def _as_efs_error(exc: ServiceError) -> ServiceError:
    kind = _EC2_TO_EFS.get(exc.code)
    return kind(exc.message) if kind is not None else exc


def _subnet(conn: Connection, ctx: RequestContext, subnet_id: str) -> RowMapping:
    row = lookups.find(conn, ids.SUBNET, subnet_id) if ids.SUBNET.well_formed(subnet_id) else None
    if row is None or row["account_id"] != ctx.account_id:
        raise SubnetNotFound(f"The subnet ID '{subnet_id}' does not exist")
    return row


def _check_group_count(groups: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(groups))
    if len(wanted) > MAX_SECURITY_GROUPS:
        raise SecurityGroupLimitExceeded(f"A mount target can have at most {MAX_SECURITY_GROUPS} security groups; "
                                         f"{len(wanted)} were given.")
    return wanted


def _check_placement(conn: Connection, file_system: RowMapping, subnet: RowMapping) -> None:
    """One Zone file systems stay in their zone; one mount target per zone, all in one VPC."""
    zone = subnet["availability_zone"]
    if file_system["availability_zone"] and zone != file_system["availability_zone"]:
        raise BadRequest(f"Subnet {subnet['subnet_id']} is in Availability Zone {zone}, but One Zone file system "
                         f"{file_system['file_system_id']} is in {file_system['availability_zone']}: its mount "
                         "target must be in the file system's Availability Zone.")
    table = state.mount_targets
    for existing in conn.execute(select(table).where(
            table.c.file_system_id == file_system["file_system_id"])).mappings():
        if existing["vpc_id"] != subnet["vpc_id"]:
            raise MountTargetConflict(f"File system {file_system['file_system_id']} has mount targets in "
                                      f"{existing['vpc_id']}; all of its mount targets must be in one VPC.")
        if existing["availability_zone"] == zone:
            raise MountTargetConflict("mount target already exists in this AZ")


@api.operation("CreateMountTarget", resources=access.file_system_of("FileSystemId"))
def create_mount_target(ctx: RequestContext, params: Params) -> Params:
    if (params.get("IpAddressType") or "IPV4_ONLY") != "IPV4_ONLY" or params.get("Ipv6Address"):
        raise BadRequest("Cloudlet's mount targets are IPv4 only: IpAddressType must be IPV4_ONLY.")
    groups = _check_group_count(params.get("SecurityGroups") or [])
    access.require_ec2(ctx, ["ec2:DescribeSubnets", "ec2:DescribeNetworkInterfaces"])
    access.require_ec2(ctx, ["ec2:CreateNetworkInterface"], access.interface_arn(ctx, "*"))
    mount_target_id = records.new_id("fsmt")
    with records.write(ctx.cloud.db) as conn:
        file_system = records.available_file_system(conn, ctx, params["FileSystemId"])
        subnet = _subnet(conn, ctx, params["SubnetId"])
        _check_placement(conn, file_system, subnet)
        try:
            eni_id, address, mac = eni_records.create_service_interface(
                conn, ctx.cloud.config, ctx.account_id, subnet, requester_id=mount_target_id,
                description=f"EFS mount target for {file_system['file_system_id']} ({mount_target_id})",
                group_ids=groups or [eni_records.default_group(conn, subnet["vpc_id"])],
                private_ip=params.get("IpAddress"))
        except ServiceError as exc:
            raise _as_efs_error(exc) from None
        table = state.mount_targets
        conn.execute(insert(table).values(
            mount_target_id=mount_target_id, seq=records.next_seq(conn, table),
            file_system_id=file_system["file_system_id"], account_id=ctx.account_id, vpc_id=subnet["vpc_id"],
            subnet_id=subnet["subnet_id"], availability_zone=subnet["availability_zone"],
            network_interface_id=eni_id, ip_address=address, mac_address=mac, created_at=utcnow()))
        row = records.mount_target(conn, ctx, mount_target_id)
    return records.mount_target_output(row, ctx.region)


@api.operation("DescribeMountTargets", resources=access.described_mount_targets)
def describe_mount_targets(ctx: RequestContext, params: Params) -> Params:
    given = [k for k in ("FileSystemId", "MountTargetId", "AccessPointId") if params.get(k)]
    if len(given) != 1:
        raise BadRequest("Specify exactly one of FileSystemId, MountTargetId or AccessPointId.")
    table = state.mount_targets
    with ctx.cloud.db.read() as conn:
        if params.get("MountTargetId"):
            rows = [records.mount_target(conn, ctx, params["MountTargetId"])]
        else:
            file_system_id = params.get("FileSystemId") or records.access_point(
                conn, ctx, params["AccessPointId"])["file_system_id"]
            records.file_system(conn, ctx, file_system_id)
            rows = list(conn.execute(select(table).where(table.c.file_system_id == file_system_id)
                                     .order_by(table.c.seq)).mappings())
    chunk, next_marker = rules.page(rows, lambda r: r["seq"], params.get("Marker"), params.get("MaxItems"), 10)
    result: Params = {"MountTargets": [records.mount_target_output(r, ctx.region) for r in chunk]}
    if params.get("Marker"):
        result["Marker"] = params["Marker"]
    if next_marker:
        result["NextMarker"] = next_marker
    return result


@api.operation("DescribeMountTargetSecurityGroups", resources=access.mount_target_file_system)
def describe_mount_target_security_groups(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = records.mount_target(conn, ctx, params["MountTargetId"])
        groups = eni_records.interface_group_ids(conn, row["network_interface_id"])
    access.require_ec2(ctx, ["ec2:DescribeNetworkInterfaceAttribute"],
                       access.interface_arn(ctx, row["network_interface_id"]))
    return {"SecurityGroups": groups}


@api.operation("ModifyMountTargetSecurityGroups", resources=access.mount_target_file_system)
def modify_mount_target_security_groups(ctx: RequestContext, params: Params) -> Params:
    """Replaces the groups of the mount target's ENI: the VPC's filtering follows on every host."""
    groups = _check_group_count(params.get("SecurityGroups") or [])
    with ctx.cloud.db.read() as conn:
        interface_id = records.mount_target(conn, ctx, params["MountTargetId"])["network_interface_id"]
    access.require_ec2(ctx, ["ec2:ModifyNetworkInterfaceAttribute"], access.interface_arn(ctx, interface_id))
    with records.write(ctx.cloud.db) as conn:
        row = records.mount_target(conn, ctx, params["MountTargetId"])
        current = rules.life_cycle_state(row["created_at"], utcnow())
        if current != "available":
            raise IncorrectMountTargetState(f"Mount target '{row['mount_target_id']}' is '{current}'; it must be "
                                            "'available'.")
        if not groups:
            raise BadRequest("At least one security group is required.")
        try:
            checked = eni_records.check_groups(conn, ctx.account_id, row["vpc_id"], row["subnet_id"], groups,
                                               MAX_SECURITY_GROUPS)
        except ServiceError as exc:
            raise _as_efs_error(exc) from None
        eni_records.set_groups(conn, row["network_interface_id"], checked)
    return {}


@api.operation("DeleteMountTarget", resources=access.mount_target_file_system)
def delete_mount_target(ctx: RequestContext, params: Params) -> Params:
    """Removes the mount target and its ENI at once (its NFS server stops when the host sees the change)."""
    with ctx.cloud.db.read() as conn:
        interface_id = records.mount_target(conn, ctx, params["MountTargetId"])["network_interface_id"]
    access.require_ec2(ctx, ["ec2:DeleteNetworkInterface"], access.interface_arn(ctx, interface_id))
    with records.write(ctx.cloud.db) as conn:
        row = records.mount_target(conn, ctx, params["MountTargetId"])
        conn.execute(delete(state.mount_targets).where(state.mount_targets.c.mount_target_id == row["mount_target_id"]))
        eni_records.delete_interface(conn, row["network_interface_id"])
    return {}
