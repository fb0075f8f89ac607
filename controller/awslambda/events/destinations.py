"""Where asynchronous invocation records go: an SQS queue, an SNS topic or another function.

At AWS the function's execution role sends destination records and dead-letter messages
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html): the role's policies,
and the target's own policy, must allow ``sqs:SendMessage``, ``sns:Publish`` or ``lambda:InvokeFunction``.
PutFunctionEventInvokeConfig checks it up front (:func:`check_destination`), and every send checks it
again (:func:`send`), since the role may have changed since. A queue receives the record as a message
sent by the role's session; a topic gets it published; a function gets it as an asynchronous event.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import Connection

from controller.api import ResourceInfo
from controller.awslambda import lookup
from controller.awslambda.errors import InvalidParameterValueException, LambdaError
from controller.awslambda.events import async_queue
from controller.awslambda.events.role_access import role_allows, role_context
from controller.errors import ServiceError
from controller.sns import encryption, message_rules, publishing
from controller.sns import records as sns_records
from controller.sqs import records as sqs_records
from controller.sqs import sending, store
from controller.sqs.runtime import runtime as sqs_runtime

Cloud = Any

#: Destination service -> (IAM action, the call and service AWS name in their refusal).
ACTIONS = {"sqs": ("sqs:SendMessage", "SendMessage on SQS"), "sns": ("sns:Publish", "Publish on SNS"),
           "lambda": ("lambda:InvokeFunction", "InvokeFunction on Lambda")}
#: Destinations AWS accepts that no service here serves yet.
_UNSERVED = {"events": "EventBridge", "s3": "S3"}


class DestinationRefused(ServiceError):
    """A record the destination did not take (gone, not permitted, refused by its service)."""

    code = "DestinationRefused"


def service_of(arn: str) -> str | None:
    """The service a destination ARN names (``sqs``, ``sns``, ``lambda``), None when it is no ARN of one."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[4].isdigit():
        return None
    return parts[2] if parts[2] in ACTIONS else None


def check_destination(cloud: Cloud, role_arn: str, arn: str) -> None:
    """Refuse a destination ARN as PutFunctionEventInvokeConfig does: malformed, or not sendable by the role."""
    service = service_of(arn)
    if service is None:
        parts = arn.split(":")
        unserved = _UNSERVED.get(parts[2]) if len(parts) > 2 else None
        if unserved:
            raise InvalidParameterValueException(f"The destination ARN {arn} is invalid: {unserved} destinations "
                                                 "are not served by this cloud (use SQS, SNS or Lambda).")
        raise InvalidParameterValueException(f"The destination ARN {arn} is invalid.")
    action, verb = ACTIONS[service]
    if not role_allows(cloud, role_arn, action, arn, _resource_info(cloud, service, arn)):
        raise InvalidParameterValueException(f"The provided execution role does not have permissions to call {verb}")


def _resource_info(cloud: Cloud, service: str, arn: str) -> ResourceInfo:
    """The destination's owner, policy and tags, as IAM needs them (the ARN's account when it does not exist)."""
    owner = arn.split(":")[4]
    if service == "lambda":
        try:
            target = lookup.resolve_target(cloud, owner, arn, None)
        except LambdaError:
            return ResourceInfo(owner_account=owner)
        qualifier = target.invoked_arn[len(target.function_arn) + 1:] or None
        document = lookup.policy_document(cloud, owner, target.function_name, qualifier)
        return ResourceInfo(owner_account=owner, policy=json.dumps(document) if document else None)
    with cloud.db.read() as conn:
        found = sqs_records.find_by_arn(conn, cloud, arn) if service == "sqs" else sns_records.find_topic(conn, arn)
    if found is None:
        return ResourceInfo(owner_account=owner)
    return ResourceInfo(owner_account=found.account_id, policy=found.attributes.get("Policy"), tags=found.tags)


def send(cloud: Cloud, role_arn: str, arn: str, body: str, attributes: dict[str, dict[str, str]] | None = None,
         ) -> None:
    """Send ``body`` (with SQS/SNS message ``attributes``) to the destination as the execution role;
    DestinationRefused when it does not take it."""
    service = service_of(arn)
    if service is None:
        raise DestinationRefused(f"The destination ARN {arn} is invalid.")
    action, verb = ACTIONS[service]
    if not role_allows(cloud, role_arn, action, arn, _resource_info(cloud, service, arn)):
        raise DestinationRefused(f"The execution role does not have permissions to call {verb} ({arn}).")
    try:
        if service == "sqs":
            _to_queue(cloud, role_arn, arn, body, attributes)
        elif service == "sns":
            _to_topic(cloud, role_arn, arn, body, attributes)
        else:
            target = lookup.resolve_target(cloud, arn.split(":")[4], arn, None)
            async_queue.enqueue(cloud, target, body.encode("utf-8"), str(uuid.uuid4()))
    except DestinationRefused:
        raise
    except ServiceError as refused:
        raise DestinationRefused(f"{arn} refused the record: {refused.code}: {refused.message}") from None


def _to_queue(cloud: Cloud, role_arn: str, arn: str, body: str, attributes: dict[str, dict[str, str]] | None,
              ) -> None:
    ctx = role_context(cloud, role_arn)
    sender_id = ctx.principal.user_id if ctx is not None else ""

    def enqueue(conn: Connection) -> None:
        queue = sqs_records.find_by_arn(conn, cloud, arn)
        if queue is None:
            raise DestinationRefused(f"The destination queue {arn} does not exist.")
        params: dict[str, Any] = {"MessageBody": body, "MessageAttributes": attributes or None}
        if queue.fifo:
            params["MessageGroupId"] = "lambda"
            params["MessageDeduplicationId"] = str(uuid.uuid4())
        message = sending.prepare(queue, params, sender_id=sender_id)
        store.enqueue(conn, queue, [message], sqs_records.now_ms())
        sqs_runtime(cloud).counters.sent(queue, [message])  # NumberOfMessagesSent counts it, as on AWS

    sqs_runtime(cloud).committer.run(enqueue)


def _to_topic(cloud: Cloud, role_arn: str, arn: str, body: str, attributes: dict[str, dict[str, str]] | None,
              ) -> None:
    ctx = role_context(cloud, role_arn)
    if ctx is None:
        raise DestinationRefused(f"The execution role {role_arn} no longer exists.")
    encryption.check_key(ctx, arn)
    with cloud.db.begin() as conn:
        topic = sns_records.topic(conn, arn)
        entry: dict[str, Any] = {"Message": body, "MessageAttributes": attributes or {}}
        if topic.fifo:
            entry["MessageGroupId"] = "lambda"
            entry["MessageDeduplicationId"] = str(uuid.uuid4())
        message = message_rules.check_message(entry, fifo=topic.fifo, content_dedup=False)
        publishing.store(conn, topic, message)
