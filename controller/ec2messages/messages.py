"""GetMessages, AcknowledgeMessage, SendReply and FailMessage: how an agent takes Run Command's work and answers.

An agent long-polls GetMessages for its own machine (its role session is named after it, see
:func:`controller.ssm.registration.calling_instance`) for up to :data:`LONG_POLL_SECONDS`; a queued message
wakes it at once (:class:`controller.state.signals.KeyedSignals`). A message handed out stays invisible for the
poll's visibility timeout, and comes back if the agent never acknowledges it (it crashed before it began).
Acknowledging a command's message marks its invocation ``InProgress``; the agent's replies then carry its
status and output (:func:`controller.ssm.commands.record_reply`). Each poll also counts as the agent's ping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, select, update

from controller.api import Params, RequestContext
from controller.ec2messages.service import api
from controller.errors import error
from controller.ssm import commands
from controller.ssm.fleet_state import invocations, managed_instances, messages
from controller.ssm.registration import calling_instance
from controller.ssm.sessions import agent_payload
from controller.state.signals import KeyedSignals

InvalidMessageId = error("InvalidMessageId")
ValidationException = error("ValidationException")

LONG_POLL_SECONDS = 20.0
#: A wait never sleeps longer than this between reads, so a message queued by another process is found too.
_RECHECK_SECONDS = 2.0
DEFAULT_VISIBILITY_SECONDS = 10
MAX_MESSAGES = 10


def _start(cloud: Any) -> None:
    cloud.agent_message_signals = KeyedSignals(cloud.db, commands.agent_topic)


def _stop(cloud: Any) -> None:
    if cloud.agent_message_signals is not None:
        cloud.agent_message_signals.close()


api.on_start.append(_start)
api.on_stop.append(_stop)


def _iso(value: float) -> str:
    return dt.datetime.fromtimestamp(value, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _take(ctx: RequestContext, destination: str, visibility: int) -> list[Params]:
    """The destination's visible messages, hidden for ``visibility`` seconds; the call also counts as a ping."""
    now = time.time()

    def take(conn: Connection) -> list[RowMapping]:
        calling_instance(ctx, conn, destination)
        conn.execute(update(managed_instances).where(managed_instances.c.instance_id == destination)
                     .values(last_ping_at=now))
        commands.settle_expired(conn, now)
        rows = conn.execute(select(messages).where(
            messages.c.destination == destination, messages.c.acknowledged == 0, messages.c.visible_at <= now)
            .order_by(messages.c.created_at).limit(MAX_MESSAGES)).mappings().all()
        if rows:
            conn.execute(update(messages).where(messages.c.message_id.in_([row["message_id"] for row in rows]))
                         .values(visible_at=now + visibility))
        return list(rows)

    taken = []
    for row in ctx.cloud.writer.run(take):
        payload = agent_payload(ctx, row["topic"], row["payload"])
        taken.append({"MessageId": row["message_id"], "Destination": destination, "Topic": row["topic"],
                      "CreatedDate": _iso(row["created_at"]), "Payload": payload,
                      "PayloadDigest": hashlib.sha256(payload.encode()).hexdigest()})
    return taken


@api.operation("GetMessages")
def get_messages(ctx: RequestContext, params: Params) -> Params:
    destination = params["Destination"]
    visibility = params.get("VisibilityTimeoutInSeconds", DEFAULT_VISIBILITY_SECONDS)
    signals: KeyedSignals[str] = ctx.cloud.agent_message_signals
    deadline = time.monotonic() + LONG_POLL_SECONDS
    while True:
        seen = signals.version(destination)
        found = _take(ctx, destination, visibility)
        remaining = deadline - time.monotonic()
        if found or remaining <= 0 or signals.closed:
            break
        signals.wait(destination, seen, min(remaining, _RECHECK_SECONDS))
    return {"Destination": destination, "MessagesRequestId": params["MessagesRequestId"], "Messages": found,
            "MessagesDate": _iso(time.time())}


def _own_message(ctx: RequestContext, conn: Connection, message_id: str) -> RowMapping:
    """The message, when it is for the calling agent's machine."""
    row = conn.execute(select(messages).where(messages.c.message_id == message_id)).mappings().first()
    if row is None:
        raise InvalidMessageId(f"Message {message_id} does not exist or was already answered.")
    calling_instance(ctx, conn, row["destination"])
    return row


def _invocation(conn: Connection, message_id: str) -> RowMapping | None:
    return conn.execute(select(invocations).where(invocations.c.message_id == message_id)).mappings().first()


@api.operation("AcknowledgeMessage")
def acknowledge_message(ctx: RequestContext, params: Params) -> Params:
    now = time.time()

    def acknowledge(conn: Connection) -> None:
        message = _own_message(ctx, conn, params["MessageId"])
        if ".startSession." in message["topic"]:   # the agent now opens the data channel: nothing to answer
            conn.execute(delete(messages).where(messages.c.message_id == message["message_id"]))
        else:
            conn.execute(update(messages).where(messages.c.message_id == message["message_id"])
                         .values(acknowledged=1))
        conn.execute(update(invocations).where(invocations.c.message_id == message["message_id"],
                                               invocations.c.status == "Pending")
                     .values(status="InProgress", status_details="In Progress", delivered_at=now))

    ctx.cloud.writer.run(acknowledge)
    return {}


@api.operation("SendReply")
def send_reply(ctx: RequestContext, params: Params) -> Params:
    try:
        payload = json.loads(params["Payload"])
        document_status = payload["DocumentStatus"]
        plugins = payload.get("RuntimeStatus") or {}
        plugin = next(iter(plugins.values()), {}) if isinstance(plugins, dict) else {}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValidationException("Payload must be a JSON object with a DocumentStatus.") from None
    ctx.cloud.writer.run(lambda conn: _answer(ctx, conn, params["MessageId"], document_status,
                                              plugin if isinstance(plugin, dict) else {}))
    return {"ReplyId": params["ReplyId"]}


def _answer(ctx: RequestContext, conn: Connection, message_id: str, document_status: str,
            plugin: dict[str, Any]) -> None:
    """Record the agent's answer to a message: its invocation's progress, or a cancel notice done with."""
    message = _own_message(ctx, conn, message_id)
    invocation = _invocation(conn, message["message_id"])
    if invocation is None:        # a cancel notice: answered, so done
        conn.execute(delete(messages).where(messages.c.message_id == message["message_id"]))
    else:
        commands.record_reply(conn, invocation, document_status, plugin, time.time(), ctx.region)


@api.operation("FailMessage")
def fail_message(ctx: RequestContext, params: Params) -> Params:
    failure = {"StandardError": f"The agent could not handle the command: {params['FailureType']}."}
    ctx.cloud.writer.run(lambda conn: _answer(ctx, conn, params["MessageId"], "Failed", failure))
    return {}
