"""SNS's ``lambda`` protocol: a topic's message becomes an asynchronous invocation of the subscribed function.

SNS invokes the function asynchronously (https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html) as
``sns.amazonaws.com``, which the function's resource policy must allow for the topic (AddPermission
with ``--principal sns.amazonaws.com --source-arn <topic>``), even within one account. The event is
AWS's SNS event: one record whose ``Sns`` member is the signed notification, with Lambda's spelling of
``SigningCertUrl`` and ``UnsubscribeUrl``, ``Subject`` null when there is none and ``MessageAttributes``
always present. A refusal (no such function, no permission) is a client-side failure SNS does not retry.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from controller.awslambda.errors import LambdaError
from controller.awslambda.events import async_queue
from controller.awslambda.lookup import resolve_target, service_may_invoke
from controller.errors import ServiceError

Cloud = Any
SNS_PRINCIPAL = "sns.amazonaws.com"
#: The notification's members in the order Lambda's SNS event lists them, with Lambda's names.
_RENAMED = {"SigningCertURL": "SigningCertUrl", "UnsubscribeURL": "UnsubscribeUrl"}
_ORDER = ("Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion", "Signature",
          "SigningCertUrl", "UnsubscribeUrl", "MessageAttributes")


def sns_event(subscription_arn: str, notification: dict[str, Any]) -> dict[str, Any]:
    """The event a function receives for one SNS notification."""
    renamed = {_RENAMED.get(name, name): value for name, value in notification.items()}
    renamed.setdefault("Subject", None)
    renamed.setdefault("MessageAttributes", {})
    sns = {name: renamed[name] for name in _ORDER if name in renamed}
    sns.update({name: value for name, value in renamed.items() if name not in sns})
    return {"Records": [{"EventVersion": "1.0", "EventSubscriptionArn": subscription_arn, "EventSource": "aws:sns",
                         "Sns": sns}]}


def deliver(cloud: Cloud, subscription: dict[str, Any], notification: dict[str, Any], payload: str) -> None:
    """SNS's handler for ``lambda`` subscriptions (contract G): queue the function's asynchronous event."""
    endpoint, topic_arn = subscription["endpoint"], subscription["topic_arn"]
    parts = endpoint.split(":")
    try:
        target = resolve_target(cloud, parts[4] if len(parts) > 4 else "", endpoint, None)
    except LambdaError as refused:
        raise ServiceError(f"Lambda refused the delivery to {endpoint}: {refused.message}",
                           code=refused.code) from None
    if not service_may_invoke(cloud, target, SNS_PRINCIPAL, topic_arn, topic_arn.split(":")[4]):
        raise ServiceError(f"The resource policy of {target.invoked_arn} does not allow {SNS_PRINCIPAL} to invoke "
                           f"it from {topic_arn}.", code="AccessDeniedException")
    event = sns_event(subscription["subscription_arn"], notification)
    async_queue.enqueue(cloud, target, json.dumps(event).encode("utf-8"), str(uuid.uuid4()))
