"""Contract A: how SNS (and later other AWS services) put a message into a queue.

SNS never touches SQS's tables: it calls :func:`deliver`, which acts as the service principal
``sns.amazonaws.com`` would at AWS. The queue's policy must allow ``sqs:SendMessage`` to that
principal, even for a topic of the queue's own account (AWS requires it: a queue without such a
statement receives nothing from a topic), with ``aws:SourceArn`` and ``aws:SourceAccount`` set so
the usual ``ArnEquals aws:SourceArn`` conditions work.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from controller.errors import ServiceError
from controller.iam import policy
from controller.sqs import records, sending, store
from controller.sqs.errors import AccessDenied
from controller.sqs.runtime import runtime

SNS_PRINCIPAL = "sns.amazonaws.com"
#: The SenderId messages from SNS carry (the principal id SNS sends as at AWS).
SNS_SENDER_ID = "AIDAIT2UOQQY3AUEKVGXU"


def deliver(cloud: Any, queue_arn: str, body: str, attributes: dict[str, dict], *, source_arn: str,
            source_account: str, group_id: str | None = None, dedup_id: str | None = None) -> str:
    """Enqueue one message as SNS does, after the queue policy allows it; returns the SQS MessageId.

    ``attributes`` is in SQS's MessageAttributeValue shape. Raises ServiceError with SQS's own codes:
    ``AWS.SimpleQueueService.NonExistentQueue`` (no such queue), ``AccessDenied`` (the policy does not
    allow the topic), ``InvalidParameterValue`` / ``InvalidMessageContents`` (too big, bad attributes).
    """
    params: dict[str, Any] = {"MessageBody": body, "MessageAttributes": attributes or None}
    if group_id is not None:
        params["MessageGroupId"] = group_id
    if dedup_id is not None:
        params["MessageDeduplicationId"] = dedup_id

    def enqueue(conn: Connection) -> str:
        queue = records.find_by_arn(conn, cloud, queue_arn)
        if queue is None:
            raise ServiceError("The specified queue does not exist.", code="AWS.SimpleQueueService.NonExistentQueue")
        if not service_may_send(queue, SNS_PRINCIPAL, source_arn, source_account):
            raise AccessDenied(f"Access to the resource {queue.arn} is denied: its policy does not allow "
                               f"{SNS_PRINCIPAL} to send messages from {source_arn}.")
        message = sending.prepare(queue, params, sender_id=SNS_SENDER_ID)
        [sent] = store.enqueue(conn, queue, [message], records.now_ms())
        runtime(cloud).counters.sent(queue, [message])
        return sent.message_id

    return runtime(cloud).committer.run(enqueue)


def service_may_send(queue: records.Queue, service: str, source_arn: str, source_account: str) -> bool:
    """Whether the queue policy allows ``service`` (a service principal) sqs:SendMessage from ``source_arn``."""
    text = queue.attributes.get("Policy")
    if not text:
        return False
    try:
        queue_policy = policy.parse_policy(text, policy_id="queue policy", source_type="resource")
    except policy.PolicyError:
        return False
    request = policy.EvaluationRequest(
        action="sqs:SendMessage", resource=queue.arn, principal_arn=service, principal_account="",
        resource_account=queue.account_id, require_resource_policy=True, default_region=queue.region,
        context={"aws:SourceArn": source_arn, "aws:SourceAccount": source_account,
                 "aws:PrincipalServiceName": service, "aws:SecureTransport": "true"})
    return policy.evaluate(request, policy.PolicySet(resource=[queue_policy])).decision == policy.ALLOWED


