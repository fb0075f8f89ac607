"""One stream's events: PutLogEvents and GetLogEvents.

GetLogEvents pages with two tokens, as AWS does: ``nextForwardToken`` (``f/<position>/s``) resumes
after the last event returned, ``nextBackwardToken`` (``b/<position>/s``) before the first one. A
token's position is the event's ``(timestamp, seq)`` written as 56 digits. At the end of the stream
the answer is empty and carries back the very token that was sent, which is how clients (and
``aws logs get-log-events`` paging) know to stop. Without a token, ``startFromHead`` picks the first
events (true) or the last ones (false, the default).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select

from controller.api import RequestContext
from controller.logs import errors
from controller.logs.encryption import KeyRing
from controller.logs.ingest import check_batch, flush_pending, store_events
from controller.logs.records import (
    find_group,
    find_stream,
    group_name_of,
    now_ms,
    retention_floor,
    sequence_token,
    stream_resources,
)
from controller.logs.service import api
from controller.logs.state import events

MAX_EVENTS = 10_000
MAX_RESPONSE_BYTES = 1_048_576
_SEQ_DIGITS = 37


def event_position(timestamp: int, seq: int) -> str:
    """An event's place in its stream or group as 56 digits (also FilterLogEvents' eventId)."""
    return f"{timestamp:019d}{seq:0{_SEQ_DIGITS}d}"


def parse_position(digits: str) -> tuple[int, int]:
    if len(digits) != 19 + _SEQ_DIGITS or not digits.isdigit():
        raise errors.bad_token()
    return int(digits[:19]), int(digits[19:])


@api.operation("PutLogEvents", resources=stream_resources)
def put_log_events(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    batch = [(event["timestamp"], event["message"]) for event in params["logEvents"]]
    with ctx.cloud.db.read() as conn:
        group = find_group(conn, ctx, params["logGroupName"])
    seal = KeyRing(ctx.cloud, group).sealer()   # KMS first: it must not run inside the write below
    now = now_ms()
    with ctx.cloud.db.begin() as conn:
        group = find_group(conn, ctx, params["logGroupName"])
        stream = find_stream(conn, group["group_id"], params["logStreamName"])
        verdict = check_batch(batch, now, group["retention_days"])
        store_events(conn, group, stream, batch[verdict.start:verdict.stop], now, seal)
    answer: dict[str, Any] = {"nextSequenceToken": sequence_token(stream["stream_id"], now)}
    if verdict.rejected:
        answer["rejectedLogEventsInfo"] = verdict.rejected
    return answer


@api.operation("GetLogEvents", resources=stream_resources)
def get_log_events(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = group_name_of(ctx, params)
    limit = params.get("limit") or MAX_EVENTS
    direction, position = _token(params.get("nextToken"))
    flush_pending(ctx.cloud)
    with ctx.cloud.db.read() as conn:
        group = find_group(conn, ctx, name)
        stream = find_stream(conn, group["group_id"], params["logStreamName"])
        floor = max(retention_floor(group, now_ms()), params.get("startTime") or 0)
        query = select(events.c.seq, events.c.timestamp, events.c.message, events.c.sealed, events.c.key_id,
                       events.c.ingested_at, events.c.size).where(
            events.c.stream_id == stream["stream_id"], events.c.timestamp >= floor)
        if params.get("endTime") is not None:
            query = query.where(events.c.timestamp < params["endTime"])
        forward = direction == "f" if direction else bool(params.get("startFromHead"))
        if position is not None:
            query = query.where(after_position(position) if forward else before_position(position))
        order = ((events.c.timestamp, events.c.seq) if forward
                 else (events.c.timestamp.desc(), events.c.seq.desc()))
        rows = _within_bytes(conn.execute(query.order_by(*order).limit(limit)).all())
    if not forward:
        rows.reverse()
    if rows:
        first = event_position(rows[0].timestamp, rows[0].seq)
        last = event_position(rows[-1].timestamp, rows[-1].seq)
    else:
        first = last = event_position(*(position or (params.get("startTime") or 0, 0)))
    ring = KeyRing(ctx.cloud, group)
    return {
        "events": [{"timestamp": row.timestamp, "message": ring.message(row), "ingestionTime": row.ingested_at}
                   for row in rows],
        "nextForwardToken": f"f/{last}/s",
        "nextBackwardToken": f"b/{first}/s",
    }


def _token(token: str | None) -> tuple[str | None, tuple[int, int] | None]:
    if not token:
        return None, None
    parts = token.split("/")
    if len(parts) != 3 or parts[0] not in ("f", "b") or parts[2] != "s":
        raise errors.bad_token()
    return parts[0], parse_position(parts[1])


def after_position(position: tuple[int, int]) -> Any:
    timestamp, seq = position
    return or_(events.c.timestamp > timestamp, and_(events.c.timestamp == timestamp, events.c.seq > seq))


def before_position(position: tuple[int, int]) -> Any:
    timestamp, seq = position
    return or_(events.c.timestamp < timestamp, and_(events.c.timestamp == timestamp, events.c.seq < seq))


def _within_bytes(rows: list[Any]) -> list[Any]:
    """The leading rows whose messages fit in one response (1 MB), at least one."""
    total = 0
    for index, row in enumerate(rows):
        total += row.size
        if total > MAX_RESPONSE_BYTES and index:
            return list(rows[:index])
    return list(rows)
