"""Log groups: CreateLogGroup, DeleteLogGroup, DescribeLogGroups and their retention policies.

The model's constraints (name length and characters, tag counts, enums) are checked by the protocol
layer, which answers them as InvalidParameterException the way CloudWatch Logs words them; what is
left here is what only the service knows: reserved names, existing groups, KMS keys, retention days.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from controller.api import RequestContext
from controller.logs import errors
from controller.logs.encryption import install_key, prepare_key
from controller.logs.ingest import flush_pending
from controller.logs.records import (
    decode_token,
    encode_token,
    find_group,
    group_arn,
    group_name_of,
    group_resources,
    group_shape,
    now_ms,
)
from controller.logs.retention import sweep_group
from controller.logs.service import api
from controller.logs.state import groups

#: The retention periods PutRetentionPolicy accepts (the Days shape's documented values).
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                  2922, 3288, 3653)
DEFAULT_LIMIT = 50


@api.operation("CreateLogGroup", resources=group_resources)
def create_log_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["logGroupName"]
    if name.lower().startswith("aws/"):
        raise errors.InvalidParameterException("Log groups starting with AWS/ are reserved for AWS.")
    key = params.get("kmsKeyId")
    prepared = prepare_key(ctx.cloud, ctx.account_id, ctx.region, name, key) if key else None
    with ctx.cloud.db.begin() as conn:
        if _exists(conn, ctx, name):
            raise errors.ResourceAlreadyExistsException("The specified log group already exists")
        group_id = conn.execute(insert(groups).values(
            account_id=ctx.account_id, region=ctx.region, name=name, created_at=now_ms(),
            retention_days=None, log_group_class=params.get("logGroupClass") or "STANDARD",
            tags=params.get("tags") or {}, deletion_protection=bool(params.get("deletionProtectionEnabled")),
            stored_bytes=0)).inserted_primary_key[0]
        install_key(conn, group_id, prepared)
    ctx.audit_resources.append(group_arn(ctx.region, ctx.account_id, name))
    return {}


@api.operation("AssociateKmsKey", resources=group_resources)
def associate_kms_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = _kms_target(ctx, params)
    with ctx.cloud.db.read() as conn:
        find_group(conn, ctx, name)
    prepared = prepare_key(ctx.cloud, ctx.account_id, ctx.region, name, params["kmsKeyId"])
    with ctx.cloud.db.begin() as conn:
        install_key(conn, find_group(conn, ctx, name)["group_id"], prepared)
    return {}


@api.operation("DisassociateKmsKey", resources=group_resources)
def disassociate_kms_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        install_key(conn, find_group(conn, ctx, _kms_target(ctx, params))["group_id"], None)
    return {}


def _kms_target(ctx: RequestContext, params: dict[str, Any]) -> str:
    """The group AssociateKmsKey/DisassociateKmsKey name by ``logGroupName`` or a log group ARN."""
    name, resource = params.get("logGroupName"), params.get("resourceIdentifier")
    if bool(name) == bool(resource):
        raise errors.InvalidParameterException(
            "Specify either logGroupName or resourceIdentifier, but not both.")
    if resource:
        if ":log-group:" not in resource:
            raise errors.InvalidParameterException(
                f"Only log group ARNs are supported as resourceIdentifier here: {resource}")
        return group_name_of(ctx, {"logGroupIdentifier": resource})
    return name


def _exists(conn: Connection, ctx: RequestContext, name: str) -> bool:
    return conn.execute(select(groups.c.group_id).where(
        groups.c.account_id == ctx.account_id, groups.c.region == ctx.region,
        groups.c.name == name)).first() is not None


@api.operation("DeleteLogGroup", resources=group_resources)
def delete_log_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        group = find_group(conn, ctx, params["logGroupName"])
        if group["deletion_protection"]:
            raise errors.protected("log group")
        conn.execute(delete(groups).where(groups.c.group_id == group["group_id"]))
    return {}


@api.operation("PutLogGroupDeletionProtection", resources=group_resources)
def put_log_group_deletion_protection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        group = find_group(conn, ctx, group_name_of(ctx, params))
        conn.execute(update(groups).where(groups.c.group_id == group["group_id"]).values(
            deletion_protection=params["deletionProtectionEnabled"]))
    return {}


@api.operation("DescribeLogGroups")
def describe_log_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    prefix, pattern = params.get("logGroupNamePrefix"), params.get("logGroupNamePattern")
    identifiers = params.get("logGroupIdentifiers")
    if prefix and pattern:
        raise errors.InvalidParameterException(
            "LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.")
    if identifiers and (prefix or pattern):
        raise errors.InvalidParameterException(
            "LogGroupIdentifiers is mutually exclusive with LogGroupNamePrefix and LogGroupNamePattern.")
    limit = params.get("limit") or DEFAULT_LIMIT
    query = select(groups).where(groups.c.account_id == ctx.account_id, groups.c.region == ctx.region)
    if prefix:
        query = query.where(func.substr(groups.c.name, 1, len(prefix)) == prefix)
    if pattern:
        query = query.where(func.instr(func.lower(groups.c.name), pattern.lower()) > 0)
    if identifiers:
        query = query.where(groups.c.name.in_([_identifier_name(ctx, item) for item in identifiers]))
    if params.get("logGroupClass"):
        query = query.where(groups.c.log_group_class == params["logGroupClass"])
    if params.get("nextToken"):
        [after] = decode_token(params["nextToken"], 1)
        query = query.where(groups.c.name > after)
    flush_pending(ctx.cloud)
    with ctx.cloud.db.read() as conn:
        rows = [dict(row) for row in conn.execute(query.order_by(groups.c.name).limit(limit + 1)).mappings()]
    answer: dict[str, Any] = {"logGroups": [group_shape(row) for row in rows[:limit]]}
    if len(rows) > limit:
        answer["nextToken"] = encode_token(rows[limit - 1]["name"])
    return answer


def _identifier_name(ctx: RequestContext, identifier: str) -> str:
    if identifier.startswith("arn:"):
        return identifier.split(":log-group:", 1)[-1].removesuffix(":*")
    return identifier


@api.operation("PutRetentionPolicy", resources=group_resources)
def put_retention_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    days = params["retentionInDays"]
    if days not in RETENTION_DAYS:
        allowed = ", ".join(str(value) for value in RETENTION_DAYS)
        raise errors.InvalidParameterException(
            f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{allowed}]")
    with ctx.cloud.db.begin() as conn:
        group = find_group(conn, ctx, params["logGroupName"])
        conn.execute(update(groups).where(groups.c.group_id == group["group_id"]).values(retention_days=days))
        group["retention_days"] = days
        sweep_group(conn, group, now_ms())
    return {}


@api.operation("DeleteRetentionPolicy", resources=group_resources)
def delete_retention_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        group = find_group(conn, ctx, params["logGroupName"])
        conn.execute(update(groups).where(groups.c.group_id == group["group_id"]).values(retention_days=None))
    return {}
