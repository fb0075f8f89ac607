"""One delivery attempt: render what the subscription's endpoint receives and hand it over.

SQS queues get the message through contract A (``controller.sqs.delivery.deliver``), HTTP/S endpoints
through ``http_delivery``; protocols another service serves are looked up in the cloud's registry
``cloud.sns_delivery_protocols`` (protocol -> ``handler(cloud, subscription, document, payload)``;
Lambda registers ``lambda``), and email, SMS, mobile push and Firehose deliveries go to the delivery log.

Failures follow AWS's rules (https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html):
a client-side error (the queue is gone, its policy refuses the topic, no such function) is not retried;
a server-side one is, on AWS-managed endpoints by SNS's fixed policy and on HTTP/S by the delivery
policy. A delivery that fails for good goes to the subscription's RedrivePolicy dead-letter queue,
and to the delivery log either way.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from controller.errors import ServiceError
from controller.sns import delivery_log, delivery_policy, envelope, http_delivery, metrics, records
from controller.sns.records import Subscription, Topic
from controller.sns.signing import sign
from controller.sqs import delivery as sqs_delivery

log = logging.getLogger(__name__)
#: The longest an HTTP/S endpoint may take to answer one delivery.
HTTP_TIMEOUT = 15.0
_LOGGED_PROTOCOLS = ("email", "email-json", "sms", "application", "firehose")


@dataclass(frozen=True)
class Pending:
    """One outbox row: a message still owed to a subscription, and how often it was tried."""

    delivery_id: int
    message_id: str
    subscription_arn: str
    attempts: int


@dataclass(frozen=True)
class _Delivery:
    """Everything an attempt renders from: the rows as they were when it was loaded."""

    topic: Topic
    subscription: Subscription
    message: dict[str, Any]
    message_id: str

    @property
    def payload(self) -> str:
        return envelope.payload_for(self.message, self.subscription.protocol)


def load(conn: Connection, due: list[Pending]) -> list[tuple[Pending, _Delivery | None]]:
    """The rows each due delivery renders from, read together (a few queries for a whole round); None
    when nothing is owed any more (unsubscribed, or the topic deleted, since the message was published)."""
    messages = _by_key(conn, "SELECT message_id, document FROM sns_messages WHERE message_id IN",
                       {p.message_id for p in due})
    subscriptions = {arn: records.find_subscription(conn, arn) for arn in {p.subscription_arn for p in due}}
    topics = {arn: records.find_topic(conn, arn)
              for arn in {found.topic_arn for found in subscriptions.values() if found is not None}}
    loaded = []
    for pending in due:
        subscription = subscriptions[pending.subscription_arn]
        topic = topics.get(subscription.topic_arn) if subscription is not None else None
        document = messages.get(pending.message_id)
        if subscription is None or topic is None or document is None or not subscription.confirmed:
            loaded.append((pending, None))
        else:
            loaded.append((pending, _Delivery(topic, subscription, json.loads(document), pending.message_id)))
    return loaded


def _by_key(conn: Connection, query: str, keys: set[str]) -> dict[str, Any]:
    ordered = sorted(keys)
    rows = conn.exec_driver_sql(f"{query} ({','.join('?' * len(ordered))})", tuple(ordered)) if ordered else []
    return {row[0]: row[1] for row in rows}


def attempt(cloud: Any, pending: Pending, delivery: _Delivery | None) -> float | None:
    """Try one delivery; None when it is finished (delivered, dropped, or failed for good), else the
    seconds to wait before the next try."""
    if delivery is None:
        return None
    subscription = delivery.subscription
    protocol = subscription.protocol
    try:
        if protocol == "sqs":
            _to_queue(cloud, delivery, subscription.endpoint)
        elif protocol in ("http", "https"):
            return _to_http(cloud, delivery, pending.attempts)
        elif protocol in cloud.sns_delivery_protocols:
            cloud.sns_delivery_protocols[protocol](cloud, subscription_facts(subscription, delivery.topic),
                                                   notification(cloud, delivery), delivery.payload)
        elif protocol in _LOGGED_PROTOCOLS:
            _to_log(cloud, delivery)
        else:
            raise ServiceError(f"No service delivers to {protocol} endpoints here: the {protocol} service has not "
                               "registered with SNS.", code="EndpointUnavailable")
    except ServiceError as exc:     # client-side: not retried
        fail(cloud, delivery, f"{exc.code}: {exc.message}")
    except Exception as exc:        # server-side: retried by SNS's policy for AWS-managed endpoints
        delay = delivery_policy.managed_retry_delay(pending.attempts + 1)
        log.warning("SNS delivery %s to %s failed, retrying in %s s: %s", pending.message_id,
                    pending.subscription_arn, delay, exc)
        if delay is None:
            fail(cloud, delivery, f"InternalError: {exc}")
        return delay
    else:
        metrics.delivery_ended(cloud, delivery.topic, delivered=True)    # (HTTP/S counts in _to_http)
    return None


def subscription_facts(subscription: Subscription, topic: Topic) -> dict[str, Any]:
    """What a registered protocol handler (and ``http_delivery.send_confirmation``) is told of a subscription."""
    return {"subscription_arn": subscription.arn, "topic_arn": topic.arn, "protocol": subscription.protocol,
            "endpoint": subscription.endpoint, "token": subscription.token, "account_id": subscription.owner,
            "raw": subscription.raw, "signature_version": topic.attributes.get("SignatureVersion") or "1"}


def notification(cloud: Any, delivery: _Delivery) -> dict[str, Any]:
    """The signed notification document of this delivery, in AWS's field order."""
    version = delivery.topic.attributes.get("SignatureVersion") or "1"
    unsigned = envelope.notification(delivery.message, message_id=delivery.message_id, topic_arn=delivery.topic.arn,
                                     text=delivery.payload, subscription_arn=delivery.subscription.arn,
                                     endpoint_url=cloud.config.endpoint_url, signature_version=version)
    return envelope.ordered(sign(cloud, unsigned, version))


def _queue_message(cloud: Any, delivery: _Delivery) -> tuple[str, dict[str, dict[str, Any]]]:
    """(body, SQS message attributes) a queue receives: the raw message and its attributes, or the document."""
    if delivery.subscription.raw:
        return delivery.payload, envelope.sqs_attributes(delivery.message["attributes"])
    return json.dumps(notification(cloud, delivery)), {}


def _to_queue(cloud: Any, delivery: _Delivery, queue_arn: str) -> None:
    body, attributes = _queue_message(cloud, delivery)
    fifo_queue = queue_arn.endswith(".fifo")
    sqs_delivery.deliver(cloud, queue_arn, body, attributes, source_arn=delivery.topic.arn,
                         source_account=delivery.topic.account_id,
                         group_id=delivery.message.get("group_id") if fifo_queue else None,
                         dedup_id=delivery.message.get("dedup_id") if fifo_queue else None)


def _to_http(cloud: Any, delivery: _Delivery, attempts: int) -> float | None:
    subscription = delivery.subscription
    document = notification(cloud, delivery)
    body: dict[str, Any] | str = delivery.payload if subscription.raw else document
    status = http_delivery.deliver_http(cloud, subscription.endpoint, body,
                                        envelope.http_headers(document, subscription.arn, subscription.raw),
                                        HTTP_TIMEOUT)
    verdict = http_delivery.outcome(status)
    if verdict == "delivered":
        metrics.delivery_ended(cloud, delivery.topic, delivered=True)
        return None
    if verdict == "retry":
        policy = delivery_policy.http_retry_policy(delivery.topic.attributes.get("DeliveryPolicy"),
                                                   subscription.attributes.get("DeliveryPolicy"))
        delays = http_delivery.retry_delays(policy)
        if attempts < len(delays):
            return delays[attempts]
    fail(cloud, delivery, f"HTTP status {status or 'none (no answer)'} from {subscription.endpoint}")
    return None


def _to_log(cloud: Any, delivery: _Delivery) -> None:
    subscription = delivery.subscription
    if subscription.protocol == "email-json" or (subscription.protocol == "firehose" and not subscription.raw):
        payload = json.dumps(notification(cloud, delivery))
    else:
        payload = delivery.payload
    with cloud.db.begin() as conn:
        delivery_log.record(conn, topic_arn=delivery.topic.arn, subscription_arn=subscription.arn,
                            protocol=subscription.protocol, endpoint=subscription.endpoint,
                            message_id=delivery.message_id, outcome="delivered",
                            detail=delivery.message.get("subject") or "", payload=payload)


def fail(cloud: Any, delivery: _Delivery, reason: str) -> None:
    """A delivery that failed for good: to the dead-letter queue if the subscription has one; logged."""
    subscription = delivery.subscription
    metrics.delivery_ended(cloud, delivery.topic, delivered=False)
    outcome, detail = "failed", reason
    redrive = subscription.attributes.get("RedrivePolicy")
    if redrive:
        target = json.loads(redrive)["deadLetterTargetArn"]
        try:
            _to_queue(cloud, delivery, target)
            outcome = "dead-lettered"
        except ServiceError as exc:
            detail = f"{reason}; the dead-letter queue {target} refused it too: {exc.code}: {exc.message}"
    with cloud.db.begin() as conn:
        delivery_log.record(conn, topic_arn=delivery.topic.arn, subscription_arn=subscription.arn,
                            protocol=subscription.protocol, endpoint=subscription.endpoint,
                            message_id=delivery.message_id, outcome=outcome, detail=detail,
                            payload=delivery.payload)
