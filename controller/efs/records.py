"""Finding EFS resources for the caller, their ids and ARNs, the write transaction, and their outputs.

A resource of another account (or region) is reported as missing, exactly like an unknown id. Every
write that changes what a host runs (mount targets, access points, file systems) goes through
:func:`write`, which counts it in the hosts' generation so agents pick the change up.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, RowMapping, Table, func, select

from controller.api import Params, RequestContext
from controller.ec2.regions import _region_code
from controller.efs import rules, state
from controller.efs.errors import (
    AccessPointNotFound,
    FileSystemNotFound,
    IncorrectFileSystemLifeCycleState,
    MountTargetNotFound,
)
from controller.hosts import generation
from controller.state import Database, utcnow


@contextmanager
def write(db: Database) -> Iterator[Connection]:
    """A write transaction that counts a change of what hosts run: their agents wake when it commits."""
    with db.begin() as conn:
        yield conn
        generation.bump(conn)


def next_seq(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.max(table.c.seq))).scalar() or 0) + 1


# --- ids and ARNs -----------------------------------------------------------------------------------------------


def new_id(prefix: str, long_ids: bool = True) -> str:
    """``fs-``/``fsmt-``/``fsap-`` and 17 hex digits (8 for an account that chose SHORT_ID)."""
    return f"{prefix}-{secrets.token_hex(9)[:17 if long_ids else 8]}"


def file_system_arn(ctx: RequestContext, file_system_id: str, account: str | None = None) -> str:
    config = ctx.cloud.config
    return (f"arn:{config.partition}:elasticfilesystem:{ctx.region}:{account or ctx.account_id}:"
            f"file-system/{file_system_id}")


def access_point_arn(ctx: RequestContext, access_point_id: str, account: str | None = None) -> str:
    config = ctx.cloud.config
    return (f"arn:{config.partition}:elasticfilesystem:{ctx.region}:{account or ctx.account_id}:"
            f"access-point/{access_point_id}")


def zone_id(zone: str, region: str) -> str:
    """The zone's id as DescribeAvailabilityZones shows it (``hom1-az1``)."""
    return f"{_region_code(region)}-az{zone_index(zone)}"


def zone_index(zone: str) -> int:
    return ord(zone[-1]) - ord("a") + 1


# --- lookups ------------------------------------------------------------------------------------------------------


def file_system(conn: Connection, ctx: RequestContext, file_system_id: str) -> RowMapping:
    """The caller's file system, or FileSystemNotFound."""
    table = state.file_systems
    row = conn.execute(select(table).where(table.c.file_system_id == file_system_id,
                                           table.c.account_id == ctx.account_id,
                                           table.c.region == ctx.region)).mappings().first()
    if row is None:
        raise FileSystemNotFound(f"File system '{file_system_id}' does not exist.")
    return row


def available_file_system(conn: Connection, ctx: RequestContext, file_system_id: str) -> RowMapping:
    """The caller's file system, which must be ``available`` (IncorrectFileSystemLifeCycleState)."""
    row = file_system(conn, ctx, file_system_id)
    current = rules.life_cycle_state(row["created_at"], utcnow())
    if current != "available":
        raise IncorrectFileSystemLifeCycleState(f"File system '{file_system_id}' is in the '{current}' state; "
                                                "it must be 'available'.")
    return row


def mount_target(conn: Connection, ctx: RequestContext, mount_target_id: str) -> RowMapping:
    table, systems = state.mount_targets, state.file_systems
    row = conn.execute(select(table).join(systems, systems.c.file_system_id == table.c.file_system_id).where(
        table.c.mount_target_id == mount_target_id, table.c.account_id == ctx.account_id,
        systems.c.region == ctx.region)).mappings().first()
    if row is None:
        raise MountTargetNotFound(f"Mount target '{mount_target_id}' does not exist.")
    return row


def access_point(conn: Connection, ctx: RequestContext, access_point_id: str) -> RowMapping:
    table, systems = state.access_points, state.file_systems
    row = conn.execute(select(table).join(systems, systems.c.file_system_id == table.c.file_system_id).where(
        table.c.access_point_id == access_point_id, table.c.account_id == ctx.account_id,
        systems.c.region == ctx.region)).mappings().first()
    if row is None:
        raise AccessPointNotFound(f"Access point '{access_point_id}' does not exist.")
    return row


def mount_target_count(conn: Connection, file_system_id: str) -> int:
    table = state.mount_targets
    return int(conn.execute(select(func.count()).where(table.c.file_system_id == file_system_id)).scalar() or 0)


# --- outputs ------------------------------------------------------------------------------------------------------


def file_system_output(ctx: RequestContext, row: RowMapping, mount_targets: int, state_now: str) -> Params:
    """A FileSystemDescription."""
    now = utcnow()
    result: Params = {
        "OwnerId": row["account_id"], "CreationToken": row["creation_token"],
        "FileSystemId": row["file_system_id"],
        "FileSystemArn": file_system_arn(ctx, row["file_system_id"], row["account_id"]),
        "CreationTime": row["created_at"], "LifeCycleState": state_now, "NumberOfMountTargets": mount_targets,
        "SizeInBytes": {"Value": rules.EMPTY_SIZE_BYTES, "Timestamp": now, "ValueInIA": 0,
                        "ValueInStandard": rules.EMPTY_SIZE_BYTES, "ValueInArchive": 0},
        "PerformanceMode": row["performance_mode"], "Encrypted": row["encrypted"],
        "ThroughputMode": row["throughput_mode"], "Tags": list(row["tags"]),
        "FileSystemProtection": {"ReplicationOverwriteProtection": row["replication_overwrite_protection"]},
    }
    if (name := rules.name_of(row["tags"])) is not None:
        result["Name"] = name
    if row["kms_key_arn"]:
        result["KmsKeyId"] = row["kms_key_arn"]
    if row["provisioned_mibps"] is not None:
        result["ProvisionedThroughputInMibps"] = row["provisioned_mibps"]
    if row["availability_zone"]:
        result["AvailabilityZoneName"] = row["availability_zone"]
        result["AvailabilityZoneId"] = zone_id(row["availability_zone"], row["region"])
    return result


def mount_target_output(row: RowMapping, region: str) -> Params:
    """A MountTargetDescription."""
    return {"OwnerId": row["account_id"], "MountTargetId": row["mount_target_id"],
            "FileSystemId": row["file_system_id"], "SubnetId": row["subnet_id"],
            "LifeCycleState": rules.life_cycle_state(row["created_at"], utcnow()),
            "IpAddress": row["ip_address"], "NetworkInterfaceId": row["network_interface_id"],
            "AvailabilityZoneId": zone_id(row["availability_zone"], region),
            "AvailabilityZoneName": row["availability_zone"], "VpcId": row["vpc_id"]}


def access_point_output(ctx: RequestContext, row: RowMapping) -> Params:
    """An AccessPointDescription (access points are ``available`` as soon as they exist)."""
    result: Params = {
        "ClientToken": row["client_token"], "Tags": list(row["tags"]), "AccessPointId": row["access_point_id"],
        "AccessPointArn": access_point_arn(ctx, row["access_point_id"], row["account_id"]),
        "FileSystemId": row["file_system_id"], "RootDirectory": dict(row["root_directory"]),
        "OwnerId": row["account_id"], "LifeCycleState": "available"}
    if (name := rules.name_of(row["tags"])) is not None:
        result["Name"] = name
    if row["posix_user"]:
        result["PosixUser"] = dict(row["posix_user"])
    return result
