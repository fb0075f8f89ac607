"""SendMessage(Batch) and ReceiveMessage, with long polling.

A send is one transaction (a batch of ten too: one fsync) and is acknowledged only once committed,
so an acknowledged message survives a crash (``synchronous=FULL``). ReceiveMessage with
WaitTimeSeconds > 0 waits on the queue's signal (``controller.state.signals``) and answers as soon as a
send commits, or when the earliest delayed or in-flight message becomes visible.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.sqs import batches, message_rules, receiving, records, sending, store
from controller.sqs.errors import BatchRequestTooLong, ServiceError, invalid_value
from controller.sqs.receiving import Received
from controller.sqs.records import Queue, now_ms, url_resources
from controller.sqs.runtime import runtime
from controller.sqs.service import api

MAX_WAIT_SECONDS = 20
_SYSTEM_ATTRIBUTES = ("SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
                      "SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader",
                      "DeadLetterQueueSourceArn")


@api.operation("SendMessage", resources=url_resources)
def send_message(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    def send(conn: Connection) -> dict[str, Any]:
        queue = records.by_url(conn, ctx, params["QueueUrl"])
        message = sending.prepare(queue, params, ctx.principal.user_id)
        [sent] = store.enqueue(conn, queue, [message], now_ms())
        runtime(ctx.cloud).counters.sent(queue, [message])
        return sending.sent_result(message, sent.message_id, sent.sequence_number)

    return runtime(ctx.cloud).committer.run(send)


@api.operation("SendMessageBatch", resources=url_resources, action="sqs:SendMessage")
def send_message_batch(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    entries = params.get("Entries") or []
    batches.check_entries(entries, "SendMessageBatchRequestEntry")
    total = sum(message_rules.message_size(entry.get("MessageBody") or "", entry.get("MessageAttributes"))
                for entry in entries)
    if total > message_rules.MAX_MESSAGE_BYTES:
        raise BatchRequestTooLong(f"Batch requests cannot be longer than {message_rules.MAX_MESSAGE_BYTES} bytes. "
                                  f"You have sent {total} bytes.")

    def send(conn: Connection) -> dict[str, Any]:
        queue = records.by_url(conn, ctx, params["QueueUrl"])
        ready, failed = [], []
        for entry in entries:
            try:
                ready.append((entry["Id"], sending.prepare(queue, entry, ctx.principal.user_id)))
            except ServiceError as refused:
                failed.append(message_rules.error_entry(entry["Id"], refused))
        sent = store.enqueue(conn, queue, [message for _, message in ready], now_ms())
        runtime(ctx.cloud).counters.sent(queue, [message for _, message in ready])
        successful = [{"Id": entry_id, **sending.sent_result(message, result.message_id, result.sequence_number)}
                      for (entry_id, message), result in zip(ready, sent, strict=True)]
        return {"Successful": successful, "Failed": failed}

    return runtime(ctx.cloud).committer.run(send)


@api.operation("ReceiveMessage", resources=url_resources)
def receive_message(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    limit = params.get("MaxNumberOfMessages")
    if limit is None:
        limit = 1
    elif not 1 <= limit <= 10:
        raise invalid_value("MaxNumberOfMessages", limit, "Must be between 1 and 10, if provided.")
    wait = params.get("WaitTimeSeconds")
    if wait is not None and not 0 <= wait <= MAX_WAIT_SECONDS:
        raise invalid_value("WaitTimeSeconds", wait, "Must be >= 0 and <= 20, if provided.")
    visibility = params.get("VisibilityTimeout")
    if visibility is not None and not 0 <= visibility <= 43_200:
        raise invalid_value("VisibilityTimeout", visibility, "Must be >= 0 and <= 43200, if provided.")
    queue = records.cached_by_url(ctx, params["QueueUrl"])
    if queue is None:
        with ctx.cloud.db.read() as conn:
            queue = records.by_url(conn, ctx, params["QueueUrl"])
    if wait is None:
        wait = queue.int_attribute("ReceiveMessageWaitTimeSeconds")
    if visibility is None:
        visibility = queue.int_attribute("VisibilityTimeout")
    received = _receive(ctx, queue, limit, visibility, wait)
    runtime(ctx.cloud).counters.received(queue, len(received))
    system_names = set(params.get("AttributeNames") or []) | set(params.get("MessageSystemAttributeNames") or [])
    attribute_names = params.get("MessageAttributeNames") or []
    messages = [_message(queue, message, system_names, attribute_names) for message in received]
    return {"Messages": messages} if messages else {}


def _receive(ctx: RequestContext, queue: Queue, limit: int, visibility: int, wait: int) -> list[Received]:
    rt = runtime(ctx.cloud)
    deadline = time.monotonic() + wait

    def claim(conn: Connection) -> tuple[list[Received], int | None]:
        current = records.find_by_arn(conn, ctx.cloud, queue.arn)
        if current is None or current.queue_id != queue.queue_id:
            return [], None
        now = now_ms()
        received = receiving.claim(conn, ctx.cloud, current, limit, visibility, now)
        return received, None if received else receiving.next_visible(conn, current, now)

    while True:
        seen = rt.signals.version(queue.queue_id)
        received, next_visible = rt.committer.run(claim)
        left = deadline - time.monotonic()
        if received or left <= 0 or rt.stopping.is_set() or rt.signals.closed:
            return received
        # no polling: a commit that announces the queue wakes us, or the moment a delayed or
        # in-flight message becomes visible again (which no commit announces)
        if next_visible is not None:
            left = min(left, max(0.0, (next_visible - now_ms()) / 1000))
        rt.signals.wait(queue.queue_id, seen, left)


def _message(queue: Queue, message: Received, system_names: set[str], attribute_names: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {"MessageId": message.message_id, "ReceiptHandle": message.receipt_handle,
                              "MD5OfBody": message.md5_body, "Body": message.body}
    system = _system_attributes(queue, message, system_names)
    if system:
        result["Attributes"] = system
    selected = message_rules.select_attributes(message.message_attributes, attribute_names)
    if selected:
        attributes = message_rules.returned_attributes(selected)
        result["MessageAttributes"] = attributes
        result["MD5OfMessageAttributes"] = message_rules.md5_of_attributes(attributes)
    return result


def _system_attributes(queue: Queue, message: Received, names: set[str]) -> dict[str, str]:
    if not names:
        return {}
    wanted = _SYSTEM_ATTRIBUTES if "All" in names else [name for name in _SYSTEM_ATTRIBUTES if name in names]
    values = {
        "SenderId": message.sender_id,
        "SentTimestamp": str(message.sent_at),
        "ApproximateReceiveCount": str(message.receive_count),
        "ApproximateFirstReceiveTimestamp": str(message.first_received_at),
    }
    if queue.fifo:
        values["SequenceNumber"] = store.sequence_number(message.seq)
        values["MessageDeduplicationId"] = message.dedup_id or ""
    if message.group_id is not None:
        values["MessageGroupId"] = message.group_id
    trace = (message.system_attributes or {}).get("AWSTraceHeader")
    if trace is not None:
        values["AWSTraceHeader"] = trace["StringValue"]
    if message.dead_letter_source:
        values["DeadLetterQueueSourceArn"] = message.dead_letter_source
    return {name: values[name] for name in wanted if name in values}
