"""Asking an endpoint's owner to confirm a new subscription.

HTTP/S endpoints get the signed SubscriptionConfirmation POSTed (``http_delivery.send_confirmation``,
on the delivery worker's pool so Subscribe never waits for the endpoint); a queue of another account
receives it as a message (its owner confirms with the token in it); email confirmations, and those
no service can carry yet, are written to the delivery log, where the token can be read.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from controller.errors import ServiceError
from controller.sns import delivery_log, dispatch, envelope, http_delivery
from controller.sns.records import Subscription, Topic, now_ms
from controller.sns.signing import sign
from controller.sqs import delivery as sqs_delivery


def request(cloud: Any, topic: Topic, subscription: Subscription) -> None:
    """Send (or log) the confirmation request of a pending subscription."""
    if subscription.protocol in ("http", "https"):
        facts = dispatch.subscription_facts(subscription, topic)
        if cloud.sns_worker is not None:
            cloud.sns_worker.submit(http_delivery.send_confirmation, cloud, facts)
        _log(cloud, topic, subscription, "HTTP confirmation request sent", "")
        return
    version = topic.attributes.get("SignatureVersion") or "1"
    document = envelope.ordered(sign(cloud, envelope.confirmation(
        message_id=str(uuid.uuid4()), topic_arn=topic.arn, token=subscription.token or "",
        endpoint_url=cloud.config.endpoint_url, signature_version=version, now_ms=now_ms()), version))
    detail = "confirmation request"
    if subscription.protocol == "sqs":
        try:
            sqs_delivery.deliver(cloud, subscription.endpoint, json.dumps(document), {}, source_arn=topic.arn,
                                 source_account=topic.account_id)
            detail = "confirmation request sent to the queue"
        except ServiceError as exc:
            detail = f"the queue refused the confirmation request: {exc.code}: {exc.message}"
    _log(cloud, topic, subscription, detail, json.dumps(document))


def _log(cloud: Any, topic: Topic, subscription: Subscription, detail: str, payload: str) -> None:
    with cloud.db.begin() as conn:
        delivery_log.record(conn, topic_arn=topic.arn, subscription_arn=subscription.arn,
                            protocol=subscription.protocol, endpoint=subscription.endpoint, message_id=None,
                            outcome="confirmation", detail=detail, payload=payload)
