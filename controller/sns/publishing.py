"""Publish and PublishBatch: a message is checked, stored with one outbox row per subscription it matches,
and acknowledged once that transaction commits; the delivery worker does the rest.

Only the subscriptions confirmed when the message is published get it (nothing is kept for later
subscribers), each through its filter policy. FIFO topics deduplicate for five minutes by
MessageDeduplicationId or by the SHA-256 of the message, and give each message a SequenceNumber
(https://docs.aws.amazon.com/sns/latest/api/API_Publish.html, API_PublishBatch.html).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.sns import (
    delivery_log,
    encryption,
    envelope,
    filter_policy,
    message_rules,
    metrics,
    records,
    subscription_rules,
)
from controller.sns.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    ServiceError,
    TooManyEntriesInBatchRequest,
    invalid,
)
from controller.sns.records import Topic, now_ms
from controller.sns.service import api
from controller.sns.state import OUTBOX_TOPIC
from controller.state import Database

_DEDUP_WINDOW_MS = 5 * 60 * 1000
_BATCH_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_PHONE_RE = re.compile(r"^\+[1-9]\d{1,14}$")
#: FIFO SequenceNumbers are 20-digit numbers that only grow.
_SEQUENCE_BASE = 10 ** 19


def _target_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [params.get("TopicArn") or params.get("TargetArn") or "*"]


def _target_topic(params: dict[str, Any]) -> tuple[str, str]:
    """(ARN, parameter name) of the topic a Publish names by TopicArn or by TargetArn."""
    topic_arn, target_arn = params.get("TopicArn"), params.get("TargetArn")
    if topic_arn and target_arn:
        raise invalid("TopicArn or TargetArn", "Only one of TopicArn or TargetArn may be specified")
    if target_arn:
        if ":endpoint/" in target_arn:
            raise invalid("TargetArn", "No endpoint found for the target arn specified")
        return target_arn, "TargetArn"
    if not topic_arn:
        raise invalid("TopicArn or TargetArn", "no value for required parameter")
    return topic_arn, "TopicArn"


@api.operation("Publish", resources=_target_resources)
def publish(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("PhoneNumber") and not (params.get("TopicArn") or params.get("TargetArn")):
        return _publish_sms(ctx, params)
    arn, parameter = _target_topic(params)
    encryption.check_key(ctx, records.check_topic_arn(arn, parameter))
    with ctx.cloud.db.begin() as conn:
        topic = records.topic(conn, arn, parameter)
        message = _checked(params, topic)
        message_id, sequence_number = store(conn, topic, message)
    metrics.published(ctx.cloud, topic, [message])
    result = {"MessageId": message_id}
    if sequence_number is not None:
        result["SequenceNumber"] = sequence_number
    return result


def _checked(entry: dict[str, Any], topic: Topic) -> dict[str, Any]:
    return message_rules.check_message(entry, fifo=topic.fifo,
                                       content_dedup=topic.attributes.get("ContentBasedDeduplication") == "true")


@api.operation("PublishBatch", resources=lambda ctx, params: [params.get("TopicArn") or "*"])
def publish_batch(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    entries = params.get("PublishBatchRequestEntries") or []
    _check_batch(entries)
    encryption.check_key(ctx, records.check_topic_arn(params["TopicArn"]))
    successful: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    accepted: list[dict[str, Any]] = []
    with ctx.cloud.db.begin() as conn:
        topic = records.topic(conn, params["TopicArn"])
        for entry in entries:
            try:
                message = _checked(entry, topic)
            except ServiceError as exc:
                failed.append({"Id": entry["Id"], "Code": exc.code, "Message": exc.message, "SenderFault": True})
                continue
            message_id, sequence_number = store(conn, topic, message)
            accepted.append(message)
            result = {"Id": entry["Id"], "MessageId": message_id}
            if sequence_number is not None:
                result["SequenceNumber"] = sequence_number
            successful.append(result)
    metrics.published(ctx.cloud, topic, accepted)
    return {"Successful": successful, "Failed": failed}


def _check_batch(entries: list[dict[str, Any]]) -> None:
    if not entries:
        raise EmptyBatchRequest("The batch request doesn't contain any entries.")
    if len(entries) > 10:
        raise TooManyEntriesInBatchRequest("The batch request contains more entries than permissible.")
    ids = [entry.get("Id", "") for entry in entries]
    if any(not _BATCH_ID_RE.match(entry_id) for entry_id in ids):
        raise InvalidBatchEntryId("The Id of a batch entry in a batch request doesn't abide by the specification.")
    if len(set(ids)) != len(ids):
        raise BatchEntryIdsNotDistinct("Two or more batch entries in the request have the same Id.")
    total = 0
    for entry in entries:
        attributes = entry.get("MessageAttributes") or {}
        total += len((entry.get("Message") or "").encode()) + sum(
            len(name.encode()) + len(str(value.get("DataType", "")).encode())
            + len(value.get("BinaryValue") or str(value.get("StringValue") or "").encode())
            for name, value in attributes.items())
    if total > message_rules.MAX_BYTES:
        raise BatchRequestTooLong("The length of all the messages put together is more than the limit.")


def store(conn: Connection, topic: Topic, message: dict[str, Any]) -> tuple[str, str | None]:
    """Store one checked message and its deliveries; (MessageId, SequenceNumber) — a FIFO duplicate
    within five minutes answers with the first message's and is not delivered again."""
    now = now_ms()
    sequence_number = None
    if topic.fifo:
        conn.exec_driver_sql("DELETE FROM sns_deduplication WHERE topic_arn = ? AND expires_at <= ?",
                             (topic.arn, now))
        seen = conn.exec_driver_sql(
            "SELECT message_id, sequence_number FROM sns_deduplication WHERE topic_arn = ? AND dedup_id = ?",
            (topic.arn, message["dedup_id"])).first()
        if seen is not None:
            return seen.message_id, seen.sequence_number
        sequence = conn.exec_driver_sql("UPDATE sns_topics SET sequence = sequence + 1 WHERE arn = ?"
                                        " RETURNING sequence", (topic.arn,)).scalar_one()
        sequence_number = str(_SEQUENCE_BASE + sequence)
    message_id = str(uuid.uuid4())
    if topic.fifo:
        conn.exec_driver_sql(
            "INSERT INTO sns_deduplication (topic_arn, dedup_id, message_id, sequence_number, expires_at)"
            " VALUES (?, ?, ?, ?, ?)", (topic.arn, message["dedup_id"], message_id, sequence_number,
                                        now + _DEDUP_WINDOW_MS))
    document = {**message, "sequence_number": sequence_number, "published_at": now}
    targets = [found.arn for found in records.topic_subscriptions(conn, topic.arn)
               if found.confirmed and _passes_filter(found, document)]
    if targets:
        conn.exec_driver_sql("INSERT INTO sns_messages (message_id, topic_arn, document) VALUES (?, ?, ?)",
                             (message_id, topic.arn, json.dumps(document)))
        conn.exec_driver_sql(
            "INSERT INTO sns_deliveries (message_id, subscription_arn, group_id, due_at, attempts)"
            " VALUES (?, ?, ?, ?, 0)", [(message_id, arn, message["group_id"], now) for arn in targets])
        Database.announce(conn, OUTBOX_TOPIC)
    return message_id, sequence_number


def _passes_filter(found: records.Subscription, message: dict[str, Any]) -> bool:
    text = found.attributes.get("FilterPolicy")
    if not text:
        return True
    return filter_policy.matches(json.loads(text), subscription_rules.filter_scope(found.attributes),
                                 message["attributes"], envelope.payload_for(message, found.protocol))


def _publish_sms(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """A text message straight to a phone number: written to the delivery log (there is no SMS gateway)."""
    phone = params["PhoneNumber"]
    if not _PHONE_RE.match(phone):
        raise invalid("PhoneNumber", f"{phone} does not meet the E164 format")
    message = message_rules.check_message(params, fifo=False, content_dedup=False)
    message_id = str(uuid.uuid4())
    with ctx.cloud.db.begin() as conn:
        delivery_log.record(conn, topic_arn="", subscription_arn=None, protocol="sms", endpoint=phone,
                            message_id=message_id, outcome="delivered", payload=envelope.payload_for(message, "sms"))
    return {"MessageId": message_id}
