"""StartSession, ResumeSession, TerminateSession and DescribeSessions: Session Manager's shells and port forwards.

StartSession checks that the target's agent is online (TargetNotConnected otherwise), records the session, and
queues a ``startSession`` message on the agent's channel carrying the data channel's StreamUrl and the agent's
token; the caller gets the same StreamUrl and a token of its own. Both ends then meet on the data-channel
listener (:mod:`controller.ssmmessages`). IAM authorizes ``ssm:StartSession`` on the instance and on the session
document, so policies can scope shells by instance tags; Resume and Terminate are authorized on the session's
ARN, whose id begins with the caller's name (AWS's ``session/${aws:username}-*`` pattern works). Sessions are
audited as every call is. The account's session preferences (the ``SSM-SessionManagerRunShell`` document's
``inputs``: logging to S3 or CloudWatch Logs, timeouts, the user to run as) travel to the agent with the
session, which applies them with the machine's role, as AWS's agent does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import time
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import insert, select, update

from controller.api import Params, RequestContext
from controller.errors import error
from controller.ssm import names
from controller.ssm.commands import queue_message, topic
from controller.ssm.document_state import session_preferences
from controller.ssm.fleet_state import managed_instances, sessions
from controller.ssm.instance_information import ping_status
from controller.ssm.registration import instance_arn
from controller.ssm.service import api
from controller.ssmmessages.channels import SessionChannels

InvalidDocument = error("InvalidDocument")
TargetNotConnected = error("TargetNotConnected")
DoesNotExistException = error("DoesNotExistException")
InvalidFilterKey = error("InvalidFilterKey")

SHELL_DOCUMENT = "SSM-SessionManagerRunShell"
#: The documents a session may run, and the parameters each takes (name -> required).
DOCUMENTS: dict[str, dict[str, bool]] = {
    SHELL_DOCUMENT: {},
    "AWS-StartPortForwardingSession": {"portNumber": True, "localPortNumber": False},
    "AWS-StartPortForwardingSessionToRemoteHost": {"host": True, "portNumber": True, "localPortNumber": False},
}
ACTIVE = ("Connecting", "Connected", "Disconnected", "Terminating")
HISTORY = ("Terminated", "Failed")
_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_.@=,-]")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def write_status(cloud: Any, session_id: str, status: str) -> None:
    """Record a data channel's end coming or going; a finished session stays finished."""
    values: dict[str, Any] = {"status": status}
    if status in HISTORY:
        values["ended_at"] = time.time()
    with cloud.db.begin() as conn:
        conn.execute(update(sessions).where(sessions.c.session_id == session_id, sessions.c.status.notin_(HISTORY))
                     .values(**values))


def _as_reached(ctx: RequestContext, stream_url: str) -> str:
    """A data channel's URL in the caller's own terms: a caller that reached the API by AWS's names (through
    the agents' relay, from a VPC or the lab Internet) reaches the channel at ``ssmmessages.<region>.<domain>``
    the same way, which the relay carries to the listener; any other caller at the listener itself."""
    public_suffix = f".{ctx.region}.{ctx.cloud.config.service_domain}"
    if not ctx.host.split(":", 1)[0].endswith(public_suffix):
        return stream_url
    stream = urlsplit(stream_url)
    scheme = "wss" if ctx.secure_transport else "ws"
    return urlunsplit((scheme, f"ssmmessages{public_suffix}", stream.path, stream.query, ""))


def agent_payload(ctx: RequestContext, topic_name: str, payload: str) -> str:
    """A message's payload as the calling agent must read it: a startSession's StreamUrl as it reaches it."""
    if ".startSession." not in topic_name:
        return payload
    body = json.loads(payload)
    reached = _as_reached(ctx, body["StreamUrl"])
    if reached == body["StreamUrl"]:
        return payload
    body["StreamUrl"] = reached
    return json.dumps(body)


def _start(cloud: Any) -> None:
    """The relay, and the sessions a previous run left open ended: their data channels lived in its memory and
    closed with it (their agents ended them then)."""
    cloud.session_channels = SessionChannels(partial(write_status, cloud))
    with cloud.db.begin() as conn:
        conn.execute(update(sessions).where(sessions.c.status.in_(ACTIVE))
                     .values(status="Terminated", ended_at=time.time()))


api.on_start.append(_start)


def _document_arn(ctx: RequestContext, name: str) -> str:
    account = "" if name.startswith("AWS-") else ctx.account_id
    return f"arn:{ctx.cloud.config.partition}:ssm:{ctx.region}:{account}:document/{name}"


def session_arn(ctx: RequestContext, session_id: str) -> str:
    return f"arn:{ctx.cloud.config.partition}:ssm:{ctx.region}:{ctx.account_id}:session/{session_id}"


def _start_resources(ctx: RequestContext, params: Params) -> list[str]:
    return [instance_arn(ctx, params["Target"]), _document_arn(ctx, params.get("DocumentName", SHELL_DOCUMENT))]


def _check_parameters(document: str, parameters: dict[str, list[str]]) -> None:
    accepted = DOCUMENTS[document]
    unknown = sorted(set(parameters) - set(accepted))
    missing = sorted(name for name, required in accepted.items() if required and not parameters.get(name))
    if unknown or missing:
        problem = f"unknown parameter {unknown[0]}" if unknown else f"missing parameter {missing[0]}"
        raise names.ValidationException(f"Document {document} cannot run with these parameters: {problem}.")
    port = (parameters.get("portNumber") or ["1"])[0]
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise names.ValidationException(f"portNumber must be a port from 1 to 65535, not {port!r}.")


def _stream_url(ctx: RequestContext, session_id: str) -> str:
    """The listener's URL of the session's data channel (the agent's message carries it as it is)."""
    channels: SessionChannels = ctx.cloud.session_channels
    return f"{channels.url}/v1/data-channel/{session_id}?role=publish_subscribe"


@api.operation("StartSession", resources=_start_resources)
def start_session(ctx: RequestContext, params: Params) -> Params:
    target, document = params["Target"], params.get("DocumentName", SHELL_DOCUMENT)
    if document not in DOCUMENTS:
        raise InvalidDocument(f"Document {document} does not exist or is not a Session document.")
    parameters = params.get("Parameters", {})
    _check_parameters(document, parameters)
    now = time.time()
    owner_name = ctx.principal.session_name or ctx.principal.name or ctx.account_id
    session_id = f"{_NAME_CHARACTERS.sub('', owner_name)[:70] or 'session'}-{secrets.token_hex(9)[:17]}"
    client_token, agent_token = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    stream_url = _stream_url(ctx, session_id)
    with ctx.cloud.db.begin() as conn:
        instance = conn.execute(select(managed_instances).where(
            managed_instances.c.instance_id == target, managed_instances.c.account_id == ctx.account_id,
            managed_instances.c.region == ctx.region)).mappings().first()
        if instance is None or ping_status(instance, now) != "Online":
            raise TargetNotConnected(f"{target} is not connected.")
        conn.execute(insert(sessions).values(
            session_id=session_id, account_id=ctx.account_id, region=ctx.region, target=target,
            document_name=document, parameters=parameters, owner=ctx.principal.arn, reason=params.get("Reason"),
            status="Connecting", started_at=now, client_token_digest=token_digest(client_token),
            agent_token_digest=token_digest(agent_token)))
        # The agent gets the account's session preferences with the session, as AWS's does: where to log the
        # session, its timeouts, the user to run the shell as.
        preferences = session_preferences(conn, ctx.account_id, ctx.region) if document == SHELL_DOCUMENT else {}
        queue_message(conn, f"aws.ssm.session.{session_id}", target, topic("startSession", ctx.region),
                      {"SessionId": session_id, "DocumentName": document, "Parameters": parameters,
                       "Inputs": preferences, "StreamUrl": stream_url, "TokenValue": agent_token}, now)
    ctx.audit_resources.append(session_arn(ctx, session_id))
    return {"SessionId": session_id, "TokenValue": client_token, "StreamUrl": _as_reached(ctx, stream_url)}


def _own_session(ctx: RequestContext, conn: Any, session_id: str) -> Any:
    return conn.execute(select(sessions).where(sessions.c.session_id == session_id,
                                               sessions.c.account_id == ctx.account_id,
                                               sessions.c.region == ctx.region)).mappings().first()


def _session_resource(ctx: RequestContext, params: Params) -> list[str]:
    return [session_arn(ctx, params["SessionId"])]


@api.operation("ResumeSession", resources=_session_resource)
def resume_session(ctx: RequestContext, params: Params) -> Params:
    token = secrets.token_urlsafe(48)
    with ctx.cloud.db.begin() as conn:
        row = _own_session(ctx, conn, params["SessionId"])
        if row is None or row["status"] in HISTORY:
            raise DoesNotExistException(f"Session with id {params['SessionId']} does not exist or has ended.")
        conn.execute(update(sessions).where(sessions.c.session_id == row["session_id"])
                     .values(client_token_digest=token_digest(token)))
    return {"SessionId": row["session_id"], "TokenValue": token,
            "StreamUrl": _as_reached(ctx, _stream_url(ctx, row["session_id"]))}


@api.operation("TerminateSession", resources=_session_resource)
def terminate_session(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        row = _own_session(ctx, conn, params["SessionId"])
        if row is not None and row["status"] not in HISTORY:
            conn.execute(update(sessions).where(sessions.c.session_id == row["session_id"])
                         .values(status="Terminated", ended_at=time.time()))
    if row is not None:
        ctx.cloud.session_channels.terminate(row["session_id"], row["target"])
    return {"SessionId": params["SessionId"]}   # AWS answers the same for a session that is already gone


def _session_output(row: Any) -> Params:
    item: Params = {"SessionId": row["session_id"], "Target": row["target"], "Status": row["status"],
                    "StartDate": row["started_at"], "DocumentName": row["document_name"], "Owner": row["owner"],
                    "OutputUrl": {}, "MaxSessionDuration": "1440"}
    if row["ended_at"] is not None:
        item["EndDate"] = row["ended_at"]
    if row["reason"]:
        item["Reason"] = row["reason"]
    return item


_FILTER_COLUMNS = {"Target": "target", "Owner": "owner", "Status": "status", "SessionId": "session_id"}
_FILTER_KEYS = ("InvokedAfter", "InvokedBefore", "AccessType", *_FILTER_COLUMNS)


def _filter_matches(row: Any, key: str, value: str) -> bool:
    if key in ("InvokedAfter", "InvokedBefore"):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise names.ValidationException(f"The {key} filter needs an ISO 8601 time, not {value!r}.") from None
        return row["started_at"] >= moment if key == "InvokedAfter" else row["started_at"] <= moment
    if key == "AccessType":
        return value == "Standard"
    return row[_FILTER_COLUMNS[key]] == value


@api.operation("DescribeSessions")
def describe_sessions(ctx: RequestContext, params: Params) -> Params:
    for item in params.get("Filters", []):
        if item["key"] not in _FILTER_KEYS:
            raise InvalidFilterKey(f"The filter key {item['key']} is not valid. Valid keys: {', '.join(_FILTER_KEYS)}.")
    states = ACTIVE if params["State"] == "Active" else HISTORY
    size = names.check_max_results(params.get("MaxResults"), 200, default=20)
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(sessions).where(
            sessions.c.account_id == ctx.account_id, sessions.c.region == ctx.region, sessions.c.status.in_(states))
            .order_by(sessions.c.started_at.desc(), sessions.c.session_id)).mappings().all()
    matched = [row for row in rows if all(_filter_matches(row, item["key"], item["value"])
                                          for item in params.get("Filters", []))]
    page, token = names.page_in_order(matched, params.get("NextToken"), size, lambda row: row["session_id"])
    output: Params = {"Sessions": [_session_output(row) for row in page]}
    if token:
        output["NextToken"] = token
    return output

