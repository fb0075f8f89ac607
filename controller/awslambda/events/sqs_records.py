"""The SQS event a function receives, and how its answer says which messages failed (pure).

The event is AWS's (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html): ``Records`` of
``messageId``, ``receiptHandle``, ``body``, ``attributes`` (ApproximateReceiveCount, SentTimestamp,
SenderId, ApproximateFirstReceiveTimestamp, and a FIFO queue's SequenceNumber, MessageGroupId,
MessageDeduplicationId), ``messageAttributes`` in Lambda's camel-case form, ``md5OfBody``,
``eventSource`` ``aws:sqs``, ``eventSourceARN`` and ``awsRegion``.

With ``ReportBatchItemFailures`` the function answers ``{"batchItemFailures": [{"itemIdentifier": id}]}``;
AWS's rules (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html): an empty or
null list or answer is a complete success; an answer that is not JSON, or an item whose identifier is
empty, null, missing or not a message of the batch, fails the whole batch.
"""

from __future__ import annotations

import json
from typing import Any

from controller.sqs.receiving import Received
from controller.sqs.store import sequence_number


def message_attributes(stored: dict[str, dict[str, str]] | None) -> dict[str, dict[str, Any]]:
    """SQS message attributes as Lambda's SQS event spells them."""
    shown: dict[str, dict[str, Any]] = {}
    for name, value in (stored or {}).items():
        entry: dict[str, Any] = {}
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = value["BinaryValue"]
        entry.update({"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]})
        shown[name] = entry
    return shown


def sqs_record(message: Received, *, queue_arn: str, region: str, fifo: bool) -> dict[str, Any]:
    """One record of the SQS event for a received message."""
    attributes = {"ApproximateReceiveCount": str(message.receive_count), "SentTimestamp": str(message.sent_at),
                  "SenderId": message.sender_id,
                  "ApproximateFirstReceiveTimestamp": str(message.first_received_at)}
    if fifo:
        attributes["SequenceNumber"] = sequence_number(message.seq)
        attributes["MessageGroupId"] = message.group_id or ""
        attributes["MessageDeduplicationId"] = message.dedup_id or ""
    trace = (message.system_attributes or {}).get("AWSTraceHeader")
    if trace is not None:
        attributes["AWSTraceHeader"] = trace["StringValue"]
    return {"messageId": message.message_id, "receiptHandle": message.receipt_handle, "body": message.body,
            "attributes": attributes, "messageAttributes": message_attributes(message.message_attributes),
            "md5OfBody": message.md5_body, "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
            "awsRegion": region}


def sqs_event(messages: list[Received], *, queue_arn: str, region: str, fifo: bool) -> dict[str, Any]:
    return {"Records": [sqs_record(message, queue_arn=queue_arn, region=region, fifo=fifo) for message in messages]}


def failed_items(payload: bytes, message_ids: list[str], *, function_error: bool, report_failures: bool,
                 ) -> set[str]:
    """The message ids of a batch that failed (and so stay in the queue) after the function answered."""
    everything = set(message_ids)
    if function_error:
        return everything
    if not report_failures:
        return set()
    text = payload.decode("utf-8", "replace").strip() if payload else ""
    if not text:
        return set()
    try:
        answer = json.loads(text)
    except ValueError:
        return everything
    if answer is None:
        return set()
    if not isinstance(answer, dict):
        return everything
    items = answer.get("batchItemFailures")
    if not items:
        return set()
    if not isinstance(items, list):
        return everything
    failed = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed
