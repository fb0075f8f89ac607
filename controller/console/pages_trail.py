"""The console's CloudTrail pages: event history (LookupEvents) and one event, with why it was denied.

The filters are the ones AWS's console offers, because they are the ones LookupEvents takes: one lookup
attribute at a time (event name, user name, resource name or type, event source, access key, event id,
read-only), a time range (UTC), and the API's NextToken for paging. Times are typed and shown in UTC:
the trail's own zone, so what the page says matches the event documents.

A denied event's page asks ``controller.iam.explanations.explain_event`` why, as the viewer: it shows the
statements that decided, and refuses viewers who may not see them with the service's own error.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from flask import abort, g, render_template, request

from controller.console.app import blueprint, cloud
from controller.console.calls import ServiceCallError
from controller.errors import ServiceError
from controller.iam.explanations import explain_event

PAGE_SIZE = 50
#: LookupEvents' attribute keys, in the order and with the words of AWS's console.
ATTRIBUTES = {
    "EventName": "Event name",
    "Username": "User name",
    "ResourceName": "Resource name",
    "ResourceType": "Resource type",
    "EventSource": "Event source",
    "AccessKeyId": "AWS access key",
    "EventId": "Event ID",
    "ReadOnly": "Read-only",
}
#: Error codes of calls refused for want of permission, across services' protocols.
DENIALS = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                     "Client.UnauthorizedOperation", "UnauthorizedAccess", "AuthorizationError",
                     "AuthorizationErrorException"})
_EVENT_ID = re.compile(r"^[0-9a-fA-F-]{8,64}$")
_TIME_FORMAT = "%Y-%m-%dT%H:%M"


@blueprint.get("/cloudtrail")
def trail() -> tuple[str, int]:
    """Event history, newest first, one page of :data:`PAGE_SIZE`."""
    args = request.args
    values: dict[str, Any] = {"attributes": ATTRIBUTES, "attribute": args.get("attribute", "EventName"),
                              "value": args.get("value", ""), "start": args.get("start", ""),
                              "end": args.get("end", ""), "this_token": args.get("next", ""),
                              "rows": [], "next_token": ""}
    params: dict[str, Any] = {"MaxResults": PAGE_SIZE}
    try:
        params.update(_filters(values))
        if values["this_token"]:
            params["NextToken"] = values["this_token"]
        answer = g.api.call("cloudtrail", "LookupEvents", params)
    except ServiceCallError as refused:
        return render_template("trail_events.html", error=refused, **values), refused.status
    values.update(rows=[_row(event) for event in answer.get("Events", [])], next_token=answer.get("NextToken", ""))
    return render_template("trail_events.html", error=None, **values), 200


@blueprint.get("/cloudtrail/events/<event_id>")
def trail_event(event_id: str) -> tuple[str, int]:
    """One event: its record, and for a denied call, why it was denied."""
    if not _EVENT_ID.match(event_id):
        abort(404)
    try:
        found = g.api.call("cloudtrail", "LookupEvents", {"LookupAttributes": [
            {"AttributeKey": "EventId", "AttributeValue": event_id}], "MaxResults": 1}).get("Events", [])
    except ServiceCallError as refused:
        return render_template("trail_event.html", event_id=event_id, error=refused), refused.status
    if not found:
        abort(404)
    row = _row(found[0])
    values: dict[str, Any] = {"event_id": event_id, "row": row, "error": None, "explanation": None,
                              "explain_error": None}
    if row["denied"]:
        values.update(_explain(event_id))
    return render_template("trail_event.html", **values), 200


def _explain(event_id: str) -> dict[str, Any]:
    """The explanation of a denied event, or the refusal when the viewer may not see it."""
    try:
        return {"explanation": explain_event(cloud(), g.api.principal, event_id)}
    except ServiceError as refused:
        return {"explain_error": refused}


def _filters(values: dict[str, Any]) -> dict[str, Any]:
    """LookupEvents parameters of the form; a time that does not parse is the API's kind of error."""
    params: dict[str, Any] = {}
    if values["value"] and values["attribute"] in ATTRIBUTES:
        params["LookupAttributes"] = [{"AttributeKey": values["attribute"], "AttributeValue": values["value"]}]
    for field, member in (("start", "StartTime"), ("end", "EndTime")):
        if values[field]:
            try:
                params[member] = dt.datetime.strptime(values[field], _TIME_FORMAT).replace(tzinfo=dt.UTC)
            except ValueError:
                raise ServiceCallError("InvalidTimeRangeException",
                                       f"{values[field]} is not a time (YYYY-MM-DDTHH:MM, UTC).", 400) from None
    return params


def _row(event: dict[str, Any]) -> dict[str, Any]:
    """An event as the pages show it: LookupEvents' summary and the parts of its record it leaves out."""
    try:
        record = json.loads(event.get("CloudTrailEvent") or "{}")
    except ValueError:
        record = {}
    error_code = record.get("errorCode", "")
    time = event.get("EventTime")
    return {"id": event["EventId"], "name": event.get("EventName", ""), "user": event.get("Username", ""),
            "source": event.get("EventSource", ""), "time": time.strftime("%Y-%m-%d %H:%M:%S UTC") if time else "",
            "read_only": event.get("ReadOnly", ""), "access_key": event.get("AccessKeyId", ""),
            "resources": event.get("Resources", []), "error_code": error_code,
            "error_message": record.get("errorMessage", ""), "source_ip": record.get("sourceIPAddress", ""),
            "denied": error_code in DENIALS, "record": json.dumps(record, indent=2)}
