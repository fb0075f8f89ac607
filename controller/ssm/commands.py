"""SendCommand and CancelCommand, and how invocations move as agents take and answer them.

SendCommand resolves its targets once (``InstanceIds``, or ``Targets`` by ``InstanceIds``, ``tag:<key>`` or
``tag-key`` over the account's managed instances), stores one invocation per target, and releases the first
``MaxConcurrency`` of them as messages on the agents' channel (:mod:`controller.ec2messages`). Each finished
invocation releases the next, until the error threshold is passed (:mod:`controller.ssm.command_flow`).
Delivery deadlines need no worker: reads settle invocations no agent took before ``ExpiresAfter``
(:func:`settle_expired`). The document is ``AWS-RunShellScript`` or a Command document of the account's own whose
shell steps :mod:`controller.ssm.command_documents` turns into AWS-RunShellScript's parameters for the agent.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from controller.api import Params, RequestContext
from controller.errors import error
from controller.iam.enforce import check_action
from controller.ssm import command_documents, command_flow, names
from controller.ssm.document_state import command_document
from controller.ssm.fleet_state import commands, invocations, managed_instances, messages
from controller.ssm.instance_information import account_instances, instance_tags
from controller.ssm.registration import InvalidInstanceId, instance_arn
from controller.ssm.service import api
from controller.state import Database

InvalidDocument = command_documents.InvalidDocument
InvalidParameters = command_documents.InvalidParameters
DuplicateInstanceId = error("DuplicateInstanceId")
InvalidCommandId = error("InvalidCommandId")
InvalidTarget = error("InvalidTarget")

DOCUMENT = "AWS-RunShellScript"
PLUGIN = "aws:runShellScript"
_PARAMETERS = {"commands", "workingDirectory", "executionTimeout"}
DEFAULT_DELIVERY_TIMEOUT = 3600
MAX_EXECUTION_TIMEOUT = 172800


def topic(action: str, region: str) -> str:
    return f"aws.ssm.{action}.{region}"


def agent_topic(destination: str) -> str:
    """What a commit announces when it queues a message for ``destination`` (its GetMessages long poll wakes)."""
    return f"ssm-agent:{destination}"


def document_arn(ctx: RequestContext) -> str:
    return f"arn:{ctx.cloud.config.partition}:ssm:{ctx.region}::document/{DOCUMENT}"


def _named_document_arn(ctx: RequestContext, name: str) -> str:
    """The ARN IAM authorizes for SendCommand's DocumentName: AWS's own document, or one of the account's."""
    if name.startswith("arn:") or name == DOCUMENT:
        return name if name.startswith("arn:") else document_arn(ctx)
    return f"arn:{ctx.cloud.config.partition}:ssm:{ctx.region}:{ctx.account_id}:document/{name}"


def _send_resources(ctx: RequestContext, params: Params) -> list[str]:
    return [_named_document_arn(ctx, params["DocumentName"]),
            *(instance_arn(ctx, instance_id) for instance_id in params.get("InstanceIds", []))]


def _shell_work(ctx: RequestContext, params: Params) -> tuple[str, dict[str, list[str]]]:
    """(the document's name, the AWS-RunShellScript parameters the agent runs) for SendCommand's document."""
    name, given = params["DocumentName"], params.get("Parameters", {})
    if name in (DOCUMENT, document_arn(ctx)):
        _check_parameters(given)
        return DOCUMENT, given
    with ctx.cloud.db.read() as conn:
        content = command_document(conn, ctx.account_id, ctx.region, name, params.get("DocumentVersion"))
    if content is None:
        raise InvalidDocument(f"Document {name} does not exist in your account.")
    work = command_documents.shell_work(content, given)
    _check_parameters(work)
    return name.rsplit("document/", 1)[-1], work


def _check_parameters(parameters: dict[str, list[str]]) -> None:
    unknown = sorted(set(parameters) - _PARAMETERS)
    if unknown:
        raise InvalidParameters(f"Parameter \"{unknown[0]}\" is not defined in document {DOCUMENT}.")
    if not parameters.get("commands"):
        raise InvalidParameters(f"Parameter \"commands\" is required by document {DOCUMENT}.")
    timeout = (parameters.get("executionTimeout") or ["3600"])[0]
    if not timeout.isdigit() or not 1 <= int(timeout) <= MAX_EXECUTION_TIMEOUT:
        raise InvalidParameters(f"Parameter \"executionTimeout\" must be a number of seconds from 1 to "
                                f"{MAX_EXECUTION_TIMEOUT}.")


def _targets(ctx: RequestContext, conn: Connection, params: Params) -> list[str]:
    """The managed instances the command goes to, in a stable order."""
    known = {row["instance_id"]: row for row in account_instances(conn, ctx)}
    if params.get("InstanceIds"):
        ids = params["InstanceIds"]
        if len(set(ids)) != len(ids):
            raise DuplicateInstanceId("The instance ids contain duplicates.")
        missing = [instance_id for instance_id in ids if instance_id not in known]
        if missing:
            raise InvalidInstanceId(f"Instances [{', '.join(missing)}] not in a valid state for account "
                                    f"{ctx.account_id}.")
        return list(ids)
    tags = instance_tags(conn, ctx.account_id, known.values())
    chosen = set(known)
    for target in params["Targets"]:
        key, values = target["Key"], target.get("Values", [])
        if key == "InstanceIds":
            chosen &= set(values)
        elif key == "tag-key":
            chosen &= {i for i in chosen if any(value in tags[i] for value in values)}
        elif key.startswith("tag:"):
            chosen &= {i for i in chosen if tags[i].get(key[4:]) in values}
        else:
            raise InvalidTarget(f"Target key {key} is not supported here: use InstanceIds, tag:<key> or tag-key.")
    return sorted(chosen)


@api.operation("SendCommand", resources=_send_resources)
def send_command(ctx: RequestContext, params: Params) -> Params:
    if bool(params.get("InstanceIds")) == bool(params.get("Targets")):
        raise names.ValidationException("Specify either InstanceIds or Targets, not both and not neither.")
    document_name, work = _shell_work(ctx, params)
    for key in ("MaxConcurrency", "MaxErrors"):
        if key in params and not command_flow.valid_threshold(params[key]):
            raise names.ValidationException(f"{key} must be a number or a percentage: {params[key]!r}.")
    now = time.time()
    command_id = str(uuid.uuid4())
    timeout = params.get("TimeoutSeconds", DEFAULT_DELIVERY_TIMEOUT)
    request = {key: params[key] for key in ("Comment", "OutputS3Region", "OutputS3BucketName", "OutputS3KeyPrefix",
                                            "ServiceRoleArn", "NotificationConfig", "CloudWatchOutputConfig")
               if key in params}
    request |= {"DocumentName": document_name, "DocumentVersion": params.get("DocumentVersion", "$DEFAULT"),
                "Parameters": params.get("Parameters", {}), "Work": work, "InstanceIds": params.get("InstanceIds", []),
                "Targets": params.get("Targets", []), "MaxConcurrency": params.get("MaxConcurrency", "50"),
                "MaxErrors": params.get("MaxErrors", "0"), "TimeoutSeconds": timeout}
    with ctx.cloud.db.begin() as conn:
        targets = _targets(ctx, conn, params)
        if params.get("Targets"):
            check_action(ctx, "ssm:SendCommand", [instance_arn(ctx, instance_id) for instance_id in targets])
        conn.execute(insert(commands).values(
            command_id=command_id, account_id=ctx.account_id, region=ctx.region, request=request,
            requested_at=now, expires_at=now + timeout, cancelled=0))
        if targets:
            conn.execute(insert(invocations), [
                {"command_id": command_id, "instance_id": instance_id, "position": position, "status": "Pending",
                 "status_details": "Pending", "response_code": -1, "stdout": "", "stderr": ""}
                for position, instance_id in enumerate(targets)])
        release(conn, command_id, ctx.region, now)
        row = conn.execute(select(commands).where(commands.c.command_id == command_id)).mappings().one()
        output = command_output(conn, row)
    ctx.audit_resources.append(_named_document_arn(ctx, params["DocumentName"]))
    return {"Command": output}


def _invocation_rows(conn: Connection, command_id: str) -> list[RowMapping]:
    return list(conn.execute(select(invocations).where(invocations.c.command_id == command_id)
                             .order_by(invocations.c.position)).mappings())


def _thresholds(request: dict[str, Any], targets: int) -> tuple[int, int]:
    return (command_flow.threshold(request["MaxConcurrency"], targets, at_least_one=True),
            command_flow.threshold(request["MaxErrors"], targets, at_least_one=False))


def release(conn: Connection, command_id: str, region: str, now: float) -> None:
    """Queue the invocations the concurrency and error limits let run now; cancel the rest once errors pass."""
    command = conn.execute(select(commands).where(commands.c.command_id == command_id)).mappings().one()
    rows = _invocation_rows(conn, command_id)
    counts = command_flow.tally([(row["status"], row["status_details"], row["message_id"] is not None)
                                 for row in rows])
    concurrency, max_errors = _thresholds(command["request"], counts.target_count)
    waiting = [row for row in rows if row["message_id"] is None and row["status"] not in command_flow.TERMINAL]
    if command["cancelled"] or counts.errors > max_errors:
        for row in waiting:
            _finish(conn, row, "Cancelled", "Cancelled", now)
        return
    request = command["request"]
    payload_base = {"CommandId": command_id, "DocumentName": request["DocumentName"], "Parameters": request["Work"],
                    **{key: request[key] for key in ("OutputS3BucketName", "OutputS3KeyPrefix", "OutputS3Region")
                       if key in request}}
    for row in waiting[:command_flow.to_release(counts, concurrency, max_errors)]:
        message_id = f"aws.ssm.{command_id}.{row['instance_id']}"
        queue_message(conn, message_id, row["instance_id"], topic("sendCommand", region), payload_base, now)
        conn.execute(update(invocations).where(invocations.c.command_id == command_id,
                                               invocations.c.instance_id == row["instance_id"])
                     .values(message_id=message_id))


def queue_message(conn: Connection, message_id: str, destination: str, message_topic: str,
                  payload: dict[str, Any], now: float) -> None:
    conn.execute(insert(messages).values(
        message_id=message_id, destination=destination, topic=message_topic, payload=json.dumps(payload),
        created_at=now, visible_at=now, acknowledged=0))
    Database.announce(conn, agent_topic(destination))


def _finish(conn: Connection, row: RowMapping, status: str, details: str, now: float, **values: Any) -> None:
    conn.execute(update(invocations).where(invocations.c.command_id == row["command_id"],
                                           invocations.c.instance_id == row["instance_id"])
                 .values(status=status, status_details=details, finished_at=now, **values))
    if row["message_id"] is not None:
        conn.execute(delete(messages).where(messages.c.message_id == row["message_id"]))


def settle_expired(conn: Connection, now: float, command_ids: list[str] | None = None) -> None:
    """Invocations no agent took before their command's ExpiresAfter end ``Delivery Timed Out``."""
    query = select(invocations).join(commands, commands.c.command_id == invocations.c.command_id).where(
        commands.c.expires_at <= now, invocations.c.status == "Pending")
    if command_ids is not None:
        query = query.where(invocations.c.command_id.in_(command_ids))
    for row in conn.execute(query).mappings().all():
        _finish(conn, row, "TimedOut", command_flow.DELIVERY_TIMED_OUT, now)


def record_reply(conn: Connection, row: RowMapping, document_status: str, plugin: dict[str, Any], now: float,
                 region: str) -> None:
    """An agent's reply about invocation ``row``: it is running, or it finished with this output."""
    outcome = command_flow.reply_outcome(document_status)
    if outcome is None or row["status"] in command_flow.TERMINAL:
        return
    status, details = outcome
    if status == "InProgress":
        if row["status"] == "Cancelling":
            return
        conn.execute(update(invocations).where(invocations.c.command_id == row["command_id"],
                                               invocations.c.instance_id == row["instance_id"])
                     .values(status=status, status_details=details, started_at=row["started_at"] or now))
        return
    code = plugin.get("Code", -1)
    _finish(conn, row, status, details, now, started_at=row["started_at"] or now,
            response_code=code if isinstance(code, int) else -1,
            stdout=str(plugin.get("StandardOutput", plugin.get("Output", "")))[:24000],
            stderr=str(plugin.get("StandardError", ""))[:8000],
            output_s3_prefix=plugin.get("OutputS3KeyPrefix"))
    release(conn, row["command_id"], region, now)


def command_output(conn: Connection, row: RowMapping) -> Params:
    """The Command structure: what SendCommand accepted, and where its invocations stand."""
    request = row["request"]
    rows = _invocation_rows(conn, row["command_id"])
    counts = command_flow.tally([(item["status"], item["status_details"], item["message_id"] is not None)
                                 for item in rows])
    _, max_errors = _thresholds(request, counts.target_count)
    status, details = command_flow.command_status(counts, max_errors, bool(row["cancelled"]))
    output = {key: value for key, value in request.items() if key not in ("ServiceRoleArn", "Work")}
    if "ServiceRoleArn" in request:
        output["ServiceRole"] = request["ServiceRoleArn"]
    return output | {
        "CommandId": row["command_id"], "RequestedDateTime": row["requested_at"], "ExpiresAfter": row["expires_at"],
        "Status": status, "StatusDetails": details, "TargetCount": counts.target_count,
        "CompletedCount": counts.completed, "ErrorCount": counts.errors,
        "DeliveryTimedOutCount": counts.delivery_timed_out}


def account_command(conn: Connection, ctx: RequestContext, command_id: str) -> RowMapping:
    row = conn.execute(select(commands).where(commands.c.command_id == command_id,
                                              commands.c.account_id == ctx.account_id,
                                              commands.c.region == ctx.region)).mappings().first()
    if row is None:
        raise InvalidCommandId(f"Command {command_id} does not exist.")
    return row


@api.operation("CancelCommand", resources=lambda ctx, params: [document_arn(ctx)])
def cancel_command(ctx: RequestContext, params: Params) -> Params:
    now = time.time()
    only = set(params.get("InstanceIds", []))
    with ctx.cloud.db.begin() as conn:
        command = account_command(conn, ctx, params["CommandId"])
        if not only:
            conn.execute(update(commands).where(commands.c.command_id == command["command_id"]).values(cancelled=1))
        for row in _invocation_rows(conn, command["command_id"]):
            if row["status"] in command_flow.TERMINAL or (only and row["instance_id"] not in only):
                continue
            if row["message_id"] is None or row["status"] == "Pending":
                _finish(conn, row, "Cancelled", "Cancelled", now)
                continue
            conn.execute(update(invocations).where(invocations.c.command_id == row["command_id"],
                                                   invocations.c.instance_id == row["instance_id"])
                         .values(status="Cancelling", status_details="Cancelling"))
            queue_message(conn, f"aws.ssm.cancel.{uuid.uuid4()}", row["instance_id"], topic("cancelCommand", ctx.region),
                          {"CancelMessageId": row["message_id"], "CommandId": row["command_id"]}, now)
        if not only:
            release(conn, command["command_id"], ctx.region, now)
    return {}


def known_instance(conn: Connection, ctx: RequestContext, instance_id: str) -> bool:
    return conn.execute(select(managed_instances.c.instance_id).where(
        managed_instances.c.instance_id == instance_id,
        managed_instances.c.account_id == ctx.account_id)).first() is not None
