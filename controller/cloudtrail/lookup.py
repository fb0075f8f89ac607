"""cloudtrail:LookupEvents over the audit trail, newest first, one attribute filter at most."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from sqlalchemy import and_, or_, select, text

from controller.api import Params, RequestContext
from controller.audit.trail import document_json, events
from controller.cloudtrail.service import api
from controller.errors import error

InvalidLookupAttributesException = error("InvalidLookupAttributesException")
InvalidTimeRangeException = error("InvalidTimeRangeException")
InvalidMaxResultsException = error("InvalidMaxResultsException")
InvalidNextTokenException = error("InvalidNextTokenException")
InvalidEventCategoryException = error("InvalidEventCategoryException")

#: CloudTrail keeps 90 days of management events for LookupEvents.
RETENTION = dt.timedelta(days=90)

_ATTRIBUTE_COLUMNS = {
    "EventId": events.c.event_id,
    "EventName": events.c.event_name,
    "Username": events.c.username,
    "EventSource": events.c.event_source,
    "AccessKeyId": events.c.access_key_id,
}


@api.operation("LookupEvents")
def lookup_events(ctx: RequestContext, params: Params) -> Params:
    ctx.cloud.audit.flush()
    max_results = params.get("MaxResults", 50)
    if not 1 <= max_results <= 50:
        raise InvalidMaxResultsException("MaxResults must be between 1 and 50.")
    if params.get("EventCategory") not in (None, "insight"):
        raise InvalidEventCategoryException("The event category is not valid.")
    now = dt.datetime.now(dt.UTC)
    start = params.get("StartTime") or now - RETENTION
    end = params.get("EndTime") or now
    if start > end:
        raise InvalidTimeRangeException("Start time must be earlier than end time.")
    conditions = [events.c.account_id == ctx.account_id, events.c.event_time >= start, events.c.event_time <= end]
    conditions += _attribute_conditions(params.get("LookupAttributes") or [])
    token = params.get("NextToken")
    if token:
        last_time, last_id = _decode_token(token)
        conditions.append(or_(events.c.event_time < last_time,
                              and_(events.c.event_time == last_time, events.c.event_id < last_id)))
    query = (select(events).where(*conditions).order_by(events.c.event_time.desc(), events.c.event_id.desc())
             .limit(max_results + 1))
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(query).mappings().all()
    result: Params = {"Events": [_event(row) for row in rows[:max_results]]}
    if len(rows) > max_results:
        last = rows[max_results - 1]
        result["NextToken"] = _encode_token(last["event_time"], last["event_id"])
    return result


def _attribute_conditions(attributes: list[dict[str, str]]) -> list[Any]:
    if len(attributes) > 1:
        raise InvalidLookupAttributesException("You cannot specify more than one lookup attribute.")
    conditions = []
    for attribute in attributes:
        key, value = attribute.get("AttributeKey"), attribute.get("AttributeValue", "")
        if key == "ReadOnly":
            if value not in ("true", "false"):
                raise InvalidLookupAttributesException("ReadOnly must be true or false.")
            conditions.append(events.c.read_only == (value == "true"))
        elif key in ("ResourceType", "ResourceName"):
            field = "type" if key == "ResourceType" else "name"
            conditions.append(text(
                "EXISTS (SELECT 1 FROM json_each(audit_events.resources) "
                f"WHERE json_extract(json_each.value, '$.{field}') = :resource_value)").bindparams(
                    resource_value=value))
        elif key in _ATTRIBUTE_COLUMNS:
            conditions.append(_ATTRIBUTE_COLUMNS[key] == value)
        else:
            raise InvalidLookupAttributesException(f"The lookup attribute key {key} is not valid.")
    return conditions


def _event(row: Any) -> Params:
    document = row["document"]
    return {
        "EventId": row["event_id"],
        "EventName": row["event_name"],
        "ReadOnly": str(row["read_only"]).lower(),
        "AccessKeyId": row["access_key_id"],
        "EventTime": row["event_time"],
        "EventSource": row["event_source"],
        "Username": row["username"],
        "Resources": [{"ResourceType": r["type"], "ResourceName": r["name"]} for r in row["resources"]],
        "CloudTrailEvent": document_json(document),
    }


def _encode_token(event_time: dt.datetime, event_id: str) -> str:
    raw = json.dumps([event_time.isoformat(), event_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str) -> tuple[dt.datetime, str]:
    try:
        when, event_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return dt.datetime.fromisoformat(when), event_id
    except (ValueError, TypeError) as exc:
        raise InvalidNextTokenException("A token that is not valid was specified.") from exc
