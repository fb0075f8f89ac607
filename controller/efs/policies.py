"""What a file system records beside its data: lifecycle configuration, backup policy, file system
policy; and the account's preferences and (empty) replication configurations.

The file system policy is checked by the IAM engine's parser when written (InvalidPolicyException with
its message), with the lockout safety check; IAM weighs it on API calls (``access.py``) and
``client_access.py`` evaluates it for NFS clients. Lifecycle transitions and backups
are recorded and read back as written; no data moves between storage classes here.
"""

from __future__ import annotations

import json

from sqlalchemy import RowMapping, select, update

from controller.api import Params, RequestContext, ResourceInfo
from controller.efs import access, records, rules, state
from controller.efs.errors import BadRequest, InvalidPolicyException, PolicyNotFound, ReplicationNotFound
from controller.efs.service import api
from controller.iam import policy as iam_policy
from controller.iam.enforce import would_allow
from controller.state import upsert

#: File system policies, in characters (AWS's limit).
MAX_POLICY_CHARACTERS = 20000
BACKUP_STATUSES = ("ENABLED", "DISABLED")


@api.operation("PutLifecycleConfiguration", resources=access.file_system_of("FileSystemId"))
def put_lifecycle_configuration(ctx: RequestContext, params: Params) -> Params:
    table = state.file_systems
    with ctx.cloud.db.begin() as conn:
        row = records.available_file_system(conn, ctx, params["FileSystemId"])
        policies = rules.check_lifecycle_policies(params["LifecyclePolicies"], row["throughput_mode"])
        conn.execute(update(table).where(table.c.file_system_id == row["file_system_id"])
                     .values(lifecycle_policies=policies))
    return {"LifecyclePolicies": policies}


@api.operation("DescribeLifecycleConfiguration", resources=access.file_system_of("FileSystemId"))
def describe_lifecycle_configuration(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = records.file_system(conn, ctx, params["FileSystemId"])
    return {"LifecyclePolicies": list(row["lifecycle_policies"])}


@api.operation("PutBackupPolicy", resources=access.file_system_of("FileSystemId"))
def put_backup_policy(ctx: RequestContext, params: Params) -> Params:
    status = params["BackupPolicy"]["Status"]
    if status not in BACKUP_STATUSES:
        raise BadRequest(f"BackupPolicy Status must be ENABLED or DISABLED, not {status}.")
    table = state.file_systems
    with ctx.cloud.db.begin() as conn:
        row = records.available_file_system(conn, ctx, params["FileSystemId"])
        conn.execute(update(table).where(table.c.file_system_id == row["file_system_id"]).values(backup_status=status))
    return {"BackupPolicy": {"Status": status}}


@api.operation("DescribeBackupPolicy", resources=access.file_system_of("FileSystemId"))
def describe_backup_policy(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = records.file_system(conn, ctx, params["FileSystemId"])
    return {"BackupPolicy": {"Status": row["backup_status"]}}


def check_file_system_policy(text: str) -> None:
    """What EFS refuses in PutFileSystemPolicy: too long, not a resource policy, actions of other services."""
    if len(text) > MAX_POLICY_CHARACTERS:
        raise InvalidPolicyException(f"The policy is longer than {MAX_POLICY_CHARACTERS} characters.")
    try:
        iam_policy.validate_policy(text, kind="resource")
    except iam_policy.PolicyError as exc:
        raise InvalidPolicyException(str(exc)) from None
    statements = json.loads(text)["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", statement.get("NotAction"))
        for action in actions if isinstance(actions, list) else [actions]:
            if action != "*" and not str(action).lower().startswith("elasticfilesystem:"):
                raise InvalidPolicyException(f"The action {action} is not an elasticfilesystem action.")


def check_lockout(ctx: RequestContext, row: RowMapping, policy: str) -> None:
    """The policy lockout safety check: the new policy must still let the caller call PutFileSystemPolicy."""
    arn = records.file_system_arn(ctx, row["file_system_id"])
    info = ResourceInfo(owner_account=row["account_id"], policy=policy,
                        tags={t["Key"]: t["Value"] for t in row["tags"]})
    if not would_allow(ctx, "elasticfilesystem:PutFileSystemPolicy", arn, info):
        raise InvalidPolicyException("The policy would prevent the principal making this request from making "
                                     "future PutFileSystemPolicy requests on this file system. To set it anyway, "
                                     "set BypassPolicyLockoutSafetyCheck to true.")


@api.operation("PutFileSystemPolicy", resources=access.file_system_of("FileSystemId"))
def put_file_system_policy(ctx: RequestContext, params: Params) -> Params:
    check_file_system_policy(params["Policy"])
    if not params.get("BypassPolicyLockoutSafetyCheck"):
        with ctx.cloud.db.read() as conn:
            check_lockout(ctx, records.file_system(conn, ctx, params["FileSystemId"]), params["Policy"])
    table = state.file_systems
    with records.write(ctx.cloud.db) as conn:
        row = records.available_file_system(conn, ctx, params["FileSystemId"])
        conn.execute(update(table).where(table.c.file_system_id == row["file_system_id"]).values(policy=params["Policy"]))
    return {"FileSystemId": row["file_system_id"], "Policy": params["Policy"]}


@api.operation("DescribeFileSystemPolicy", resources=access.file_system_of("FileSystemId"))
def describe_file_system_policy(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = records.file_system(conn, ctx, params["FileSystemId"])
    if row["policy"] is None:
        raise PolicyNotFound(f"File system '{row['file_system_id']}' has no file system policy.")
    return {"FileSystemId": row["file_system_id"], "Policy": row["policy"]}


@api.operation("DeleteFileSystemPolicy", resources=access.file_system_of("FileSystemId"))
def delete_file_system_policy(ctx: RequestContext, params: Params) -> Params:
    """Back to the default: every NFS client of the VPC may mount, write and act as root."""
    table = state.file_systems
    with records.write(ctx.cloud.db) as conn:
        row = records.available_file_system(conn, ctx, params["FileSystemId"])
        conn.execute(update(table).where(table.c.file_system_id == row["file_system_id"]).values(policy=None))
    return {}


# --- account preferences and replication -------------------------------------------------------------------------


def _preference(resource_id_type: str) -> Params:
    return {"ResourceIdType": resource_id_type, "Resources": ["FILE_SYSTEM", "MOUNT_TARGET"]}


@api.operation("PutAccountPreferences")
def put_account_preferences(ctx: RequestContext, params: Params) -> Params:
    """LONG_ID (17 hex digits, the default) or SHORT_ID (8) for the ids of new file systems."""
    chosen = params["ResourceIdType"]
    table = state.account_preferences
    statement = upsert(table).values(account_id=ctx.account_id, region=ctx.region, resource_id_type=chosen)
    with ctx.cloud.db.begin() as conn:
        conn.execute(statement.on_conflict_do_update(index_elements=[table.c.account_id, table.c.region],
                                                     set_={"resource_id_type": chosen}))
    return {"ResourceIdPreference": _preference(chosen)}


@api.operation("DescribeAccountPreferences")
def describe_account_preferences(ctx: RequestContext, params: Params) -> Params:
    table = state.account_preferences
    with ctx.cloud.db.read() as conn:
        chosen = conn.execute(select(table.c.resource_id_type).where(
            table.c.account_id == ctx.account_id, table.c.region == ctx.region)).scalar()
    return {"ResourceIdPreference": _preference(chosen or "LONG_ID")}


@api.operation("DescribeReplicationConfigurations", resources=access.file_system_of("FileSystemId"))
def describe_replication_configurations(ctx: RequestContext, params: Params) -> Params:
    """Cloudlet has one region per cloud and no replication: none exist (ReplicationNotFound for a file
    system, as AWS answers for one that is not replicated)."""
    if params.get("FileSystemId"):
        with ctx.cloud.db.read() as conn:
            row = records.file_system(conn, ctx, params["FileSystemId"])
        raise ReplicationNotFound(f"No replication configuration found for file system '{row['file_system_id']}'.")
    return {"Replications": []}
