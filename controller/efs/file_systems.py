"""File systems: CreateFileSystem, DescribeFileSystems, UpdateFileSystem, DeleteFileSystem and
UpdateFileSystemProtection.

A file system is ``creating`` for a moment after CreateFileSystem, then ``available`` (time-driven,
``rules.CREATION_SECONDS``: the agent makes its directory on first need, so nothing waits on a host).
Its data lives on the host the ``efs`` section names (``desired.py``). Encryption records the KMS key
(``alias/aws/elasticfilesystem`` unless given) and refuses a key KMS refuses.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, insert, select, update

from controller.api import Params, RequestContext
from controller.efs import access, records, rules, state
from controller.efs.errors import (
    BadRequest,
    FileSystemAlreadyExists,
    FileSystemInUse,
    FileSystemLimitExceeded,
    UnsupportedAvailabilityZone,
)
from controller.efs.service import api
from controller.errors import ServiceError
from controller.kms.lookup import resolve_key
from controller.state import utcnow

#: File systems per account and region (AWS's default quota).
MAX_FILE_SYSTEMS = 1000
MANAGED_KEY = "alias/aws/elasticfilesystem"


def _kms_key(ctx: RequestContext, params: Params) -> str | None:
    """The key ARN an encrypted file system records; KMS's refusal becomes EFS's BadRequest."""
    if not params.get("Encrypted"):
        if params.get("KmsKeyId"):
            raise BadRequest("KmsKeyId can only be specified when Encrypted is true.")
        return None
    try:
        return resolve_key(ctx.cloud, ctx.account_id, params.get("KmsKeyId") or MANAGED_KEY)
    except ServiceError as exc:
        raise BadRequest(f"The KMS key '{params.get('KmsKeyId')}' cannot be used: {exc.code}: "
                         f"{exc.message}") from None


def _long_ids(conn: Connection, ctx: RequestContext) -> bool:
    table = state.account_preferences
    chosen = conn.execute(select(table.c.resource_id_type).where(
        table.c.account_id == ctx.account_id, table.c.region == ctx.region)).scalar()
    return chosen != "SHORT_ID"


def _check_token_free(conn: Connection, ctx: RequestContext, token: str) -> None:
    """CreationToken makes CreateFileSystem idempotent: a second call names the file system it made."""
    table = state.file_systems
    existing = conn.execute(select(table.c.file_system_id).where(
        table.c.account_id == ctx.account_id, table.c.region == ctx.region, table.c.creation_token == token)).scalar()
    if existing is not None:
        raise FileSystemAlreadyExists(f"File system '{existing}' already exists with creation token '{token}'.",
                                      FileSystemId=existing)


@api.operation("CreateFileSystem", resources=access.new_file_system)
def create_file_system(ctx: RequestContext, params: Params) -> Params:
    token = params["CreationToken"]
    performance = params.get("PerformanceMode") or "generalPurpose"
    throughput = params.get("ThroughputMode") or "bursting"
    provisioned = params.get("ProvisionedThroughputInMibps")
    zone = params.get("AvailabilityZoneName")
    if zone is not None and zone not in ctx.cloud.config.availability_zones:
        raise UnsupportedAvailabilityZone(f"The Availability Zone '{zone}' does not exist in region "
                                          f"'{ctx.region}'.")
    rules.check_new_file_system(performance, throughput, provisioned, one_zone=zone is not None)
    tags = rules.merged_tags([], params.get("Tags") or [])
    backup = params.get("Backup")
    backup_status = "ENABLED" if (backup if backup is not None else zone is not None) else "DISABLED"
    table = state.file_systems
    with ctx.cloud.db.read() as conn:
        _check_token_free(conn, ctx, token)
    key_arn = _kms_key(ctx, params)  # before the write: KMS may make its managed key in a transaction of its own
    with records.write(ctx.cloud.db) as conn:
        count = conn.execute(select(func.count()).where(table.c.account_id == ctx.account_id,
                                                        table.c.region == ctx.region)).scalar() or 0
        if count >= MAX_FILE_SYSTEMS:
            raise FileSystemLimitExceeded(f"The account already has {MAX_FILE_SYSTEMS} file systems.")
        _check_token_free(conn, ctx, token)
        file_system_id = records.new_id("fs", _long_ids(conn, ctx))
        conn.execute(insert(table).values(
            file_system_id=file_system_id, seq=records.next_seq(conn, table), account_id=ctx.account_id,
            region=ctx.region, creation_token=token, performance_mode=performance, throughput_mode=throughput,
            provisioned_mibps=provisioned, encrypted=key_arn is not None, kms_key_arn=key_arn,
            availability_zone=zone, backup_status=backup_status, lifecycle_policies=[], tags=tags,
            created_at=utcnow()))
        row = records.file_system(conn, ctx, file_system_id)
    ctx.audit_resources.append(records.file_system_arn(ctx, file_system_id))
    return records.file_system_output(ctx, row, 0, "creating")


@api.operation("DescribeFileSystems", resources=access.file_system_of("FileSystemId"))
def describe_file_systems(ctx: RequestContext, params: Params) -> Params:
    file_system_id, token = params.get("FileSystemId"), params.get("CreationToken")
    if file_system_id and token:
        raise BadRequest("Specify either FileSystemId or CreationToken, not both.")
    table, targets = state.file_systems, state.mount_targets
    with ctx.cloud.db.read() as conn:
        if file_system_id:
            rows = [records.file_system(conn, ctx, file_system_id)]
        else:
            query = select(table).where(table.c.account_id == ctx.account_id, table.c.region == ctx.region)
            if token:
                query = query.where(table.c.creation_token == token)
            rows = list(conn.execute(query.order_by(table.c.seq)).mappings())
        chunk, next_marker = rules.page(rows, lambda r: r["seq"], params.get("Marker"), params.get("MaxItems"), 100)
        counts = dict(conn.execute(select(targets.c.file_system_id, func.count()).where(
            targets.c.file_system_id.in_([r["file_system_id"] for r in chunk]))
            .group_by(targets.c.file_system_id)).all())
    now = utcnow()
    result: Params = {"FileSystems": [
        records.file_system_output(ctx, r, counts.get(r["file_system_id"], 0),
                                   rules.life_cycle_state(r["created_at"], now)) for r in chunk]}
    if params.get("Marker"):
        result["Marker"] = params["Marker"]
    if next_marker:
        result["NextMarker"] = next_marker
    return result


@api.operation("UpdateFileSystem", resources=access.file_system_of("FileSystemId"))
def update_file_system(ctx: RequestContext, params: Params) -> Params:
    table = state.file_systems
    with ctx.cloud.db.begin() as conn:
        row = records.available_file_system(conn, ctx, params["FileSystemId"])
        mode, mibps, restricted_at = rules.updated_throughput(
            row["throughput_mode"], row["provisioned_mibps"], row["throughput_restricted_at"],
            row["performance_mode"], params.get("ThroughputMode"), params.get("ProvisionedThroughputInMibps"),
            utcnow())
        conn.execute(update(table).where(table.c.file_system_id == row["file_system_id"]).values(
            throughput_mode=mode, provisioned_mibps=mibps, throughput_restricted_at=restricted_at))
        row = records.file_system(conn, ctx, row["file_system_id"])
        count = records.mount_target_count(conn, row["file_system_id"])
    return records.file_system_output(ctx, row, count, "available")


@api.operation("UpdateFileSystemProtection", resources=access.file_system_of("FileSystemId"))
def update_file_system_protection(ctx: RequestContext, params: Params) -> Params:
    """Replication overwrite protection is recorded (there is no replication to protect here)."""
    table = state.file_systems
    with ctx.cloud.db.begin() as conn:
        row = records.available_file_system(conn, ctx, params["FileSystemId"])
        value = params.get("ReplicationOverwriteProtection") or row["replication_overwrite_protection"]
        if value == "REPLICATING":
            raise BadRequest("ReplicationOverwriteProtection can be set to ENABLED or DISABLED only.")
        conn.execute(update(table).where(table.c.file_system_id == row["file_system_id"])
                     .values(replication_overwrite_protection=value))
    return {"ReplicationOverwriteProtection": value}


@api.operation("DeleteFileSystem", resources=access.file_system_of("FileSystemId"))
def delete_file_system(ctx: RequestContext, params: Params) -> Params:
    """Refused while mount targets exist (FileSystemInUse); its access points go with it, and the host
    holding its data removes the data once the section no longer lists it."""
    with records.write(ctx.cloud.db) as conn:
        row = records.file_system(conn, ctx, params["FileSystemId"])
        count = records.mount_target_count(conn, row["file_system_id"])
        if count:
            raise FileSystemInUse(f"File system '{row['file_system_id']}' has {count} mount target(s); delete "
                                  "them first.")
        conn.execute(delete(state.access_points).where(state.access_points.c.file_system_id == row["file_system_id"]))
        conn.execute(delete(state.file_systems).where(state.file_systems.c.file_system_id == row["file_system_id"]))
    return {}
