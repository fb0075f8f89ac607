"""Lifecycle hooks: Put/Describe/DeleteLifecycleHook, CompleteLifecycleAction, RecordLifecycleActionHeartbeat,
and the waits they put instances in (Pending:Wait, Terminating:Wait).

While an instance waits, its row keeps one entry per hook of the transition (token, deadline, result); the
reconciler moves it on once every hook has a result or timed out (DefaultResult). A hook with a notification
target gets AWS's message on SNS or SQS, sent as the hook's role.
https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import delete, insert, select, update

from controller.api import RequestContext
from controller.autoscaling import records, state
from controller.autoscaling.errors import LimitExceeded, ValidationError
from controller.autoscaling.records import Group
from controller.autoscaling.service import api
from controller.awslambda.events.role_access import role_session
from controller.service_calls import ServiceCallError, call

log = logging.getLogger(__name__)
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
MAX_HOOKS = 50
DEFAULT_HEARTBEAT = 3600
MAX_GLOBAL = 172800


def store_hook(conn: Any, group: Group, params: dict[str, Any]) -> None:
    """Create or replace a hook (PutLifecycleHook's rules: a new hook needs its transition)."""
    name = params["LifecycleHookName"]
    existing = conn.execute(select(state.hooks.c.document).where(
        state.hooks.c.group_arn == group.arn, state.hooks.c.name == name)).first()
    document = dict(existing[0]) if existing else {"LifecycleHookName": name,
                                                   "AutoScalingGroupName": group.name,
                                                   "HeartbeatTimeout": DEFAULT_HEARTBEAT, "DefaultResult": "ABANDON"}
    for member in ("LifecycleTransition", "NotificationTargetARN", "RoleARN", "NotificationMetadata",
                   "HeartbeatTimeout", "DefaultResult"):
        if params.get(member) is not None:
            document[member] = params[member]
    if document.get("LifecycleTransition") not in (LAUNCHING, TERMINATING):
        raise ValidationError(f"Invalid Lifecycle Transition: {document.get('LifecycleTransition')}"
                              if document.get("LifecycleTransition") else
                              "Lifecycle Transition must be specified when creating a lifecycle hook")
    if document["DefaultResult"] not in ("CONTINUE", "ABANDON"):
        raise ValidationError(f"Invalid value for DefaultResult: {document['DefaultResult']}")
    if not 30 <= document["HeartbeatTimeout"] <= 7200:
        raise ValidationError("HeartbeatTimeout must be between 30 and 7200")
    if document.get("NotificationTargetARN") and not document.get("RoleARN"):
        raise ValidationError("RoleARN is required when NotificationTargetARN is specified")
    document["GlobalTimeout"] = min(MAX_GLOBAL, 100 * document["HeartbeatTimeout"])
    if existing:
        conn.execute(update(state.hooks).where(state.hooks.c.group_arn == group.arn, state.hooks.c.name == name)
                     .values(document=document))
    else:
        count = len(conn.execute(select(state.hooks.c.name).where(state.hooks.c.group_arn == group.arn)).all())
        if count >= MAX_HOOKS:
            raise LimitExceeded(f"Lifecycle hook limit of {MAX_HOOKS} exceeded")
        conn.execute(insert(state.hooks).values(group_arn=group.arn, name=name, document=document))


def hooks_for(conn: Any, group_arn: str, transition: str) -> list[dict[str, Any]]:
    return [row[0] for row in conn.execute(select(state.hooks.c.document).where(state.hooks.c.group_arn == group_arn))
            if row[0]["LifecycleTransition"] == transition]


def enter_wait(conn: Any, group: Group, row: Any, transition: str) -> list[dict[str, Any]] | None:
    """Put an instance into the transition's wait if the group has hooks for it: the notifications to send
    (after the commit); None when there is no hook and the instance moves straight on."""
    found = hooks_for(conn, group.arn, transition)
    if not found:
        return None
    at = records.now()
    waits = {hook["LifecycleHookName"]: {"token": str(uuid.uuid4()), "deadline": at + hook["HeartbeatTimeout"],
                                         "global": at + hook["GlobalTimeout"], "result": None,
                                         "default": hook["DefaultResult"]} for hook in found}
    wait_state = "Pending:Wait" if transition == LAUNCHING else "Terminating:Wait"
    records.set_instance(conn, row["instance_id"], lifecycle_state=wait_state, hooks=waits)
    if row["activity_id"] and transition == LAUNCHING:
        records.update_activity(conn, row["activity_id"], status_code="MidLifecycleAction", progress=40)
    return [{"hook": hook, "token": waits[hook["LifecycleHookName"]]["token"], "instance_id": row["instance_id"],
             "group": group.name, "account_id": group.account_id, "transition": transition}
            for hook in found if hook.get("NotificationTargetARN")]


def wait_outcome(waits: dict[str, Any], now: float) -> str | None:
    """CONTINUE or ABANDON once every hook answered or timed out (any ABANDON wins), else None (pure)."""
    results = []
    for wait in waits.values():
        result = wait.get("result")
        if result is None and now >= min(wait["deadline"], wait["global"]):
            result = wait["default"]
        if result is None:
            return None
        results.append(result)
    return "ABANDON" if "ABANDON" in results else "CONTINUE"


def notify(cloud: Any, notices: list[dict[str, Any]]) -> None:
    """Send each hook's message to its SNS topic or SQS queue as the hook's role (failures are logged)."""
    for notice in notices:
        hook = notice["hook"]
        target = hook["NotificationTargetARN"]
        message = json.dumps({
            "Origin": "EC2" if notice["transition"] == LAUNCHING else "AutoScalingGroup",
            "Destination": "AutoScalingGroup" if notice["transition"] == LAUNCHING else "EC2",
            "Service": "AWS Auto Scaling", "Time": records.iso(records.now()), "AccountId": notice["account_id"],
            "RequestId": str(uuid.uuid4()), "LifecycleTransition": notice["transition"],
            "AutoScalingGroupName": notice["group"], "EC2InstanceId": notice["instance_id"],
            "LifecycleActionToken": notice["token"], "LifecycleHookName": hook["LifecycleHookName"],
            **({"NotificationMetadata": hook["NotificationMetadata"]} if hook.get("NotificationMetadata") else {})})
        principal = role_session(cloud, hook["RoleARN"], "AutoScaling")
        if principal is None:
            log.warning("lifecycle hook %s: role %s is gone", hook["LifecycleHookName"], hook["RoleARN"])
            continue
        try:
            if ":sns:" in target:
                call(cloud, principal, "sns", "Publish", {"TopicArn": target, "Message": message},
                     invoked_by="autoscaling.amazonaws.com")
            elif ":sqs:" in target:
                parts = target.split(":")
                url = call(cloud, principal, "sqs", "GetQueueUrl", {"QueueName": parts[5],
                                                                    "QueueOwnerAWSAccountId": parts[4]},
                           invoked_by="autoscaling.amazonaws.com")["QueueUrl"]
                call(cloud, principal, "sqs", "SendMessage", {"QueueUrl": url, "MessageBody": message},
                     invoked_by="autoscaling.amazonaws.com")
        except ServiceCallError as failure:
            log.warning("lifecycle hook %s: notifying %s failed: %s", hook["LifecycleHookName"], target, failure)


@api.operation("PutLifecycleHook", resources=records.group_resources)
def put_lifecycle_hook(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        store_hook(conn, records.require_group(conn, ctx, params["AutoScalingGroupName"]), params)
    return {}


@api.operation("DescribeLifecycleHooks", resources=records.group_resources)
def describe_lifecycle_hooks(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = params.get("LifecycleHookNames") or []
    with ctx.cloud.db.read() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        documents = [row[0] for row in conn.execute(select(state.hooks.c.document).where(
            state.hooks.c.group_arn == group.arn).order_by(state.hooks.c.name))]
    return {"LifecycleHooks": [document for document in documents
                               if not names or document["LifecycleHookName"] in names]}


@api.operation("DeleteLifecycleHook", resources=records.group_resources)
def delete_lifecycle_hook(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["LifecycleHookName"]
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        gone = conn.execute(delete(state.hooks).where(state.hooks.c.group_arn == group.arn,
                                                      state.hooks.c.name == name)).rowcount
        if not gone:
            raise ValidationError(f"No Lifecycle Hook found with name {name} for group {group.name}")
    return {}


def _waiting(conn: Any, ctx: RequestContext, params: dict[str, Any]) -> tuple[Group, Any, dict[str, Any]]:
    """The group, instance row and hook wait a Complete/Heartbeat call names (by token or instance id)."""
    group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
    name, token, instance_id = params["LifecycleHookName"], params.get("LifecycleActionToken"), params.get("InstanceId")
    if not token and not instance_id:
        raise ValidationError("Either InstanceId or LifecycleActionToken must be specified")
    if conn.execute(select(state.hooks.c.name).where(state.hooks.c.group_arn == group.arn,
                                                     state.hooks.c.name == name)).first() is None:
        raise ValidationError(f"No Lifecycle Hook found with name {name} for group {group.name}")
    for row in records.group_instances(conn, group.arn):
        wait = (row["hooks"] or {}).get(name)
        if wait is None or not row["lifecycle_state"].endswith(":Wait"):
            continue
        if (token and wait["token"] == token) or (not token and row["instance_id"] == instance_id):
            return group, row, wait
    if token:
        raise ValidationError(f"No active Lifecycle Action found with token {token}")
    raise ValidationError(f"No active Lifecycle Action found with instance ID {instance_id}")


@api.operation("CompleteLifecycleAction", resources=records.group_resources)
def complete_lifecycle_action(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    result = params["LifecycleActionResult"]
    if result not in ("CONTINUE", "ABANDON"):
        raise ValidationError(f"Invalid value for LifecycleActionResult: {result}")
    with ctx.cloud.db.begin() as conn:
        _, row, wait = _waiting(conn, ctx, params)
        waits = dict(row["hooks"])
        waits[params["LifecycleHookName"]] = {**wait, "result": result}
        records.set_instance(conn, row["instance_id"], hooks=waits)
    return {}


@api.operation("RecordLifecycleActionHeartbeat", resources=records.group_resources)
def record_lifecycle_action_heartbeat(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        group, row, wait = _waiting(conn, ctx, params)
        hook = conn.execute(select(state.hooks.c.document).where(
            state.hooks.c.group_arn == group.arn, state.hooks.c.name == params["LifecycleHookName"])).scalar_one()
        waits = dict(row["hooks"])
        waits[params["LifecycleHookName"]] = {**wait, "deadline": min(wait["global"],
                                                                      records.now() + hook["HeartbeatTimeout"])}
        records.set_instance(conn, row["instance_id"], hooks=waits)
    return {}


@api.operation("DescribeLifecycleHookTypes", authorize=False)
def describe_lifecycle_hook_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"LifecycleHookTypes": [LAUNCHING, TERMINATING]}
