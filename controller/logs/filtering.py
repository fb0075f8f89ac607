"""FilterLogEvents: a group's events across streams, in timestamp order, that match a filter pattern.

Events come interleaved from every chosen stream (``interleaved`` is how AWS has always answered
since 2019), from ``startTime`` through ``endTime`` inclusive. One call scans at most
:data:`MAX_SCANNED` events: when it stops early (scan budget, ``limit`` or 1 MB of messages) it
answers a ``nextToken`` that resumes right after the last event it looked at, possibly with no
events at all, as AWS does; a ``nextToken`` is absent only when the search reached the end.
``aws logs tail --follow`` (AWS CLI v2) relies on exactly that: it pages to the end, then polls again
with ``startTime`` set to the newest timestamp it printed and drops events whose ``eventId`` it saw.
``searchedLogStreams`` is an empty list, as AWS has returned since May 2020. ``logStreamNames`` that
name no stream of the group answer ResourceNotFoundException, as AWS does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from controller.api import RequestContext
from controller.logs import errors
from controller.logs.encryption import KeyRing
from controller.logs.events import MAX_EVENTS, MAX_RESPONSE_BYTES, after_position, event_position
from controller.logs.filter_pattern import FilterPatternError, compile_pattern
from controller.logs.ingest import flush_pending
from controller.logs.records import (
    decode_token,
    encode_token,
    find_group,
    group_name_of,
    group_resources,
    now_ms,
    retention_floor,
)
from controller.logs.service import api
from controller.logs.state import events, streams

MAX_SCANNED = 100_000
_CHUNK = 2_000


@api.operation("FilterLogEvents", resources=group_resources)
def filter_log_events(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = group_name_of(ctx, params)
    names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
    if names and prefix:
        raise errors.InvalidParameterException(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
    try:
        matches = compile_pattern(params.get("filterPattern"))
    except FilterPatternError:
        raise errors.InvalidParameterException("Invalid filter pattern") from None
    limit = params.get("limit") or MAX_EVENTS
    resume = _resume_position(params.get("nextToken"))
    flush_pending(ctx.cloud)
    with ctx.cloud.db.read() as conn:
        group = find_group(conn, ctx, name)
        chosen = select(streams.c.stream_id, streams.c.name).where(streams.c.group_id == group["group_id"])
        if names:
            chosen = chosen.where(streams.c.name.in_(names))
        if prefix:
            chosen = chosen.where(func.substr(streams.c.name, 1, len(prefix)) == prefix)
        stream_names = dict(conn.execute(chosen).all())
        if names and not stream_names:
            raise errors.no_such_stream()
        query = select(events.c.seq, events.c.stream_id, events.c.timestamp, events.c.message, events.c.sealed,
                       events.c.key_id, events.c.ingested_at, events.c.size).where(
            events.c.group_id == group["group_id"],
            events.c.timestamp >= max(retention_floor(group, now_ms()), params.get("startTime") or 0))
        if names or prefix:
            query = query.where(events.c.stream_id.in_(list(stream_names)))
        if params.get("endTime") is not None:
            query = query.where(events.c.timestamp <= params["endTime"])
        ring = KeyRing(ctx.cloud, group)
        found, last_seen, exhausted = _scan(conn, query, resume, matches, limit, ring)
    answer: dict[str, Any] = {
        "events": [{"logStreamName": stream_names[row.stream_id], "timestamp": row.timestamp,
                    "message": message, "ingestionTime": row.ingested_at,
                    "eventId": event_position(row.timestamp, row.seq)} for row, message in found],
        "searchedLogStreams": [],
    }
    if not exhausted and last_seen is not None:
        answer["nextToken"] = encode_token(*last_seen)
    return answer


def _scan(conn: Any, query: Any, resume: tuple[int, int] | None, matches: Any, limit: int,
          ring: KeyRing) -> tuple[list[tuple[Any, str]], tuple[int, int] | None, bool]:
    """Matching rows (with their messages) after ``resume``, the position of the last row looked at, and
    whether the end was reached."""
    found: list[tuple[Any, str]] = []
    size = scanned = 0
    position = resume
    while scanned < MAX_SCANNED:
        page = query.where(after_position(position)) if position is not None else query
        rows = conn.execute(page.order_by(events.c.timestamp, events.c.seq).limit(_CHUNK)).all()
        for row in rows:
            scanned += 1
            message = ring.message(row)
            if matches(message):
                if len(found) == limit or (found and size + row.size > MAX_RESPONSE_BYTES):
                    return found, position, False
                found.append((row, message))
                size += row.size
            position = (row.timestamp, row.seq)
        if len(rows) < _CHUNK:
            return found, position, True
    return found, position, False


def _resume_position(token: str | None) -> tuple[int, int] | None:
    if not token:
        return None
    timestamp, seq = decode_token(token, 2)
    if not (timestamp.isdigit() and seq.isdigit()):
        raise errors.bad_token()
    return int(timestamp), int(seq)
