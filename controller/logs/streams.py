"""Log streams: CreateLogStream, DeleteLogStream, DescribeLogStreams."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select

from controller.api import RequestContext
from controller.logs import errors
from controller.logs.ingest import flush_pending
from controller.logs.records import (
    decode_token,
    encode_token,
    find_group,
    find_stream,
    group_name_of,
    group_resources,
    now_ms,
    stream_arn,
    stream_resources,
    stream_shape,
)
from controller.logs.service import api
from controller.logs.state import events, groups, streams

DEFAULT_LIMIT = 50


@api.operation("CreateLogStream", resources=stream_resources)
def create_log_stream(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        group = find_group(conn, ctx, params["logGroupName"])
        existing = conn.execute(select(streams.c.stream_id).where(
            streams.c.group_id == group["group_id"], streams.c.name == params["logStreamName"])).first()
        if existing is not None:
            raise errors.ResourceAlreadyExistsException("The specified log stream already exists")
        conn.execute(insert(streams).values(group_id=group["group_id"], name=params["logStreamName"],
                                            created_at=now_ms()))
    ctx.audit_resources.append(stream_arn(ctx.region, ctx.account_id, group["name"], params["logStreamName"]))
    return {}


@api.operation("DeleteLogStream", resources=stream_resources)
def delete_log_stream(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    flush_pending(ctx.cloud)
    with ctx.cloud.db.begin() as conn:
        group = find_group(conn, ctx, params["logGroupName"])
        stream = find_stream(conn, group["group_id"], params["logStreamName"])
        if group["deletion_protection"]:
            raise errors.protected("log stream of a log group")
        conn.execute(delete(streams).where(streams.c.stream_id == stream["stream_id"]))
        _forget_bytes(conn, group["group_id"], stream["stream_id"])
    return {}


def _forget_bytes(conn: Any, group_id: int, stream_id: int) -> None:
    """Recount the group's storedBytes once a stream and its events are gone."""
    total = conn.execute(select(func.coalesce(func.sum(events.c.size), 0)).where(
        events.c.group_id == group_id)).scalar_one()
    conn.execute(groups.update().where(groups.c.group_id == group_id).values(stored_bytes=total))


@api.operation("DescribeLogStreams", resources=group_resources)
def describe_log_streams(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    order_by = params.get("orderBy") or "LogStreamName"
    prefix = params.get("logStreamNamePrefix")
    if prefix and order_by == "LastEventTime":
        raise errors.InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
    descending = bool(params.get("descending"))
    limit = params.get("limit") or DEFAULT_LIMIT
    name = group_name_of(ctx, params)
    flush_pending(ctx.cloud)
    with ctx.cloud.db.read() as conn:
        group = find_group(conn, ctx, name)
        query = select(streams).where(streams.c.group_id == group["group_id"])
        if prefix:
            query = query.where(func.substr(streams.c.name, 1, len(prefix)) == prefix)
        rows = [dict(row) for row in conn.execute(query).mappings()]

    def key(row: dict[str, Any]) -> tuple[int, str]:
        return (row["last_event_at"] or 0 if order_by == "LastEventTime" else 0, row["name"])

    rows.sort(key=key, reverse=descending)
    if params.get("nextToken"):
        position, after = decode_token(params["nextToken"], 2)
        if not position.lstrip("-").isdigit():
            raise errors.bad_token()
        boundary = (int(position), after)
        rows = [row for row in rows if (key(row) < boundary if descending else key(row) > boundary)]
    answer: dict[str, Any] = {"logStreams": [stream_shape(row, group) for row in rows[:limit]]}
    if len(rows) > limit:
        answer["nextToken"] = encode_token(*key(rows[limit - 1]))
    return answer
