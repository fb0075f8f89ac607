"""Log groups and streams as the API names them: ARNs, lookups by name or identifier, output shapes.

A log group's ARN is ``arn:aws:logs:<region>:<account>:log-group:<name>``; DescribeLogGroups shows
it with a trailing ``:*`` in ``arn`` (the form IAM policies use for everything in the group) and
without it in ``logGroupArn``, as AWS does. A stream's is the group's followed by ``:log-stream:<name>``.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from sqlalchemy import Connection, select

from controller.api import RequestContext
from controller.logs import errors
from controller.logs.state import groups, streams

DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def group_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:logs:{region}:{account_id}:log-group:{name}"


def stream_arn(region: str, account_id: str, group: str, stream: str) -> str:
    return f"{group_arn(region, account_id, group)}:log-stream:{stream}"


def group_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    """The log group an operation acts on, for IAM, in the ``log-group:<name>:*`` form that group-level
    actions are granted on (the form DescribeLogGroups' ``arn`` shows); ``*`` when the request names none."""
    name = group_name_of(ctx, params, required=False)
    return [f"{group_arn(ctx.region, ctx.account_id, name)}:*"] if name else ["*"]


def stream_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    name = group_name_of(ctx, params, required=False)
    stream = params.get("logStreamName")
    if not name or not stream:
        return ["*"]
    return [stream_arn(ctx.region, ctx.account_id, name, stream)]


def group_name_of(ctx: RequestContext, params: dict[str, Any], *, required: bool = True) -> str:
    """The group a request names by ``logGroupName`` or ``logGroupIdentifier`` (a name or an ARN).

    Exactly one of the two may be given; an ARN of another account or region names no group here.
    """
    name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
    if name and identifier:
        raise errors.InvalidParameterException(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if identifier and identifier.startswith("arn:"):
        parts = identifier.split(":", 6)
        if len(parts) < 7 or parts[2] != "logs" or parts[5] != "log-group":
            raise errors.InvalidParameterException(f"Invalid logGroupIdentifier: {identifier}")
        if parts[3] != ctx.region or parts[4] != ctx.account_id:
            raise errors.no_such_group()
        identifier = parts[6].removesuffix(":*")
    chosen = name or identifier
    if not chosen and required:
        raise errors.InvalidParameterException("Should provide either logGroupName or logGroupIdentifier.")
    return chosen or ""


def find_group(conn: Connection, ctx: RequestContext, name: str) -> dict[str, Any]:
    """The caller's group ``name`` in the request's region, or ResourceNotFoundException."""
    row = conn.execute(select(groups).where(
        groups.c.account_id == ctx.account_id, groups.c.region == ctx.region,
        groups.c.name == name)).mappings().first()
    if row is None:
        raise errors.no_such_group()
    return dict(row)


def find_stream(conn: Connection, group_id: int, name: str) -> dict[str, Any]:
    row = conn.execute(select(streams).where(streams.c.group_id == group_id,
                                             streams.c.name == name)).mappings().first()
    if row is None:
        raise errors.no_such_stream()
    return dict(row)


def group_shape(row: dict[str, Any]) -> dict[str, Any]:
    """A LogGroup as DescribeLogGroups returns it."""
    arn = group_arn(row["region"], row["account_id"], row["name"])
    shape: dict[str, Any] = {
        "logGroupName": row["name"], "creationTime": row["created_at"], "metricFilterCount": 0,
        "arn": f"{arn}:*", "logGroupArn": arn, "storedBytes": row["stored_bytes"],
        "logGroupClass": row["log_group_class"], "deletionProtectionEnabled": row["deletion_protection"],
    }
    if row["retention_days"] is not None:
        shape["retentionInDays"] = row["retention_days"]
    if row["kms_key_id"]:
        shape["kmsKeyId"] = row["kms_key_id"]
    return shape


def stream_shape(row: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    """A LogStream as DescribeLogStreams returns it (storedBytes is 0, as AWS has reported since 2019)."""
    shape: dict[str, Any] = {
        "logStreamName": row["name"], "creationTime": row["created_at"],
        "arn": stream_arn(group["region"], group["account_id"], group["name"], row["name"]),
        "storedBytes": 0,
    }
    if row["first_event_at"] is not None:
        shape.update(firstEventTimestamp=row["first_event_at"], lastEventTimestamp=row["last_event_at"],
                     lastIngestionTime=row["last_ingestion_at"],
                     uploadSequenceToken=sequence_token(row["stream_id"], row["last_ingestion_at"]))
    return shape


def sequence_token(stream_id: int, ingested_at: int | None) -> str:
    """A token shaped like AWS's: PutLogEvents no longer checks it, so it only has to look the part."""
    return f"{stream_id:020d}{ingested_at or 0:036d}"


def retention_floor(group: dict[str, Any], now: int) -> int:
    """The oldest timestamp the group still keeps (0 when it keeps everything)."""
    days = group["retention_days"]
    return now - days * DAY_MS if days else 0


def encode_token(*parts: object) -> str:
    """An opaque paging token (base64 of the position it resumes after)."""
    return base64.urlsafe_b64encode("/".join(str(part) for part in parts).encode()).decode()


def decode_token(token: str, count: int) -> list[str]:
    """The ``count`` parts of a token made by :func:`encode_token`, or InvalidParameterException."""
    try:
        parts = base64.urlsafe_b64decode(token.encode()).decode().split("/", count - 1)
    except (binascii.Error, UnicodeError, ValueError):
        raise errors.bad_token() from None
    if len(parts) != count or any("\x00" in part for part in parts):  # no name holds a NUL: not a token of ours
        raise errors.bad_token()
    return parts
