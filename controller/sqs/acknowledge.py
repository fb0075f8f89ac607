"""DeleteMessage(Batch) and ChangeMessageVisibility(Batch), by receipt handle.

A receipt handle belongs to one receive. AWS: "you must provide the most recently received
ReceiptHandle for the message (otherwise, the request succeeds, but the message might not be
deleted)" (API_DeleteMessage); a standard queue therefore answers an older handle with success and
keeps the message, while a FIFO queue refuses a handle whose receive is over ("The receipt handle
has expired"), since FIFO's exactly-once processing depends on it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.sqs import batches, message_rules, metrics, receiving, records
from controller.sqs.errors import MessageNotInflight, ReceiptHandleIsInvalid, ServiceError, invalid_value
from controller.sqs.records import Queue, now_ms, url_resources
from controller.sqs.runtime import runtime
from controller.sqs.service import api


@api.operation("DeleteMessage", resources=url_resources)
def delete_message(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    handle = receiving.parse_handle(params["ReceiptHandle"])

    def delete(conn: Connection) -> None:
        _delete(conn, records.by_url(conn, ctx, params["QueueUrl"]), handle, params["ReceiptHandle"], now_ms())

    runtime(ctx.cloud).committer.run(delete)
    runtime(ctx.cloud).counters.deleted(metrics.url_key(ctx.region, params["QueueUrl"]), 1)
    return {}


def _delete(conn: Connection, queue: Queue, handle: receiving.Handle, text: str, now: int) -> None:
    found = receiving.targets(conn, queue, [handle]).get(handle.seq)
    if _deletes(queue, handle, text, found, now):
        receiving.delete(conn, [handle])


def _deletes(queue: Queue, handle: receiving.Handle, text: str, found: receiving.Target | None, now: int) -> bool:
    """Whether deleting by ``handle`` removes the message (a gone message: success, nothing to do)."""
    if found is None:
        return False
    current = found.current(handle)
    if queue.fifo and (not current or found.visible_at <= now):
        raise invalid_value("ReceiptHandle", text, "The receipt handle has expired.")
    return current


@api.operation("DeleteMessageBatch", resources=url_resources, action="sqs:DeleteMessage")
def delete_message_batch(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Every entry's handle is looked up in one query and the deletions are one statement."""
    entries = params.get("Entries") or []
    batches.check_entries(entries, "DeleteMessageBatchRequestEntry")

    def delete(conn: Connection) -> dict[str, Any]:
        queue = records.by_url(conn, ctx, params["QueueUrl"])
        now = now_ms()
        failed, handles = [], {}
        for entry in entries:
            try:
                handle = receiving.parse_handle(entry["ReceiptHandle"])
                if handle.queue_id != queue.queue_id:
                    raise ReceiptHandleIsInvalid(f'The input receipt handle "{entry["ReceiptHandle"]}" is not a '
                                                 "valid receipt handle.")
                handles[entry["Id"]] = handle
            except ServiceError as refused:
                failed.append(message_rules.error_entry(entry["Id"], refused))
        found = receiving.targets(conn, queue, list(handles.values())) if handles else {}
        successful, doomed = [], []
        for entry in entries:
            handle = handles.get(entry["Id"])
            if handle is None:
                continue
            try:
                if _deletes(queue, handle, entry["ReceiptHandle"], found.get(handle.seq), now):
                    doomed.append(handle)
            except ServiceError as refused:
                failed.append(message_rules.error_entry(entry["Id"], refused))
            else:
                successful.append({"Id": entry["Id"]})
        receiving.delete(conn, doomed)
        return {"Successful": successful, "Failed": failed}

    result = runtime(ctx.cloud).committer.run(delete)
    runtime(ctx.cloud).counters.deleted(metrics.url_key(ctx.region, params["QueueUrl"]), len(result["Successful"]))
    return result


@api.operation("ChangeMessageVisibility", resources=url_resources)
def change_message_visibility(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    handle = receiving.parse_handle(params["ReceiptHandle"])

    def change(conn: Connection) -> None:
        _change(conn, records.by_url(conn, ctx, params["QueueUrl"]), handle, params["ReceiptHandle"],
                params["VisibilityTimeout"], now_ms())

    runtime(ctx.cloud).committer.run(change)
    return {}


def _change(conn: Connection, queue: Queue, handle: receiving.Handle, text: str, timeout: int, now: int) -> None:
    if not 0 <= timeout <= 43_200:
        raise invalid_value("VisibilityTimeout", timeout, "Must be >= 0 and <= 43200.")
    found = receiving.targets(conn, queue, [handle]).get(handle.seq)
    if found is None or not found.current(handle):
        raise invalid_value("ReceiptHandle", text, "Message does not exist or is not available for visibility "
                            "timeout change.")
    if found.visible_at <= now:
        raise MessageNotInflight("The message referred to isn't in flight.")
    if found.received_at is not None and now + timeout * 1000 - found.received_at > receiving.MAX_VISIBILITY_MS:
        raise invalid_value("VisibilityTimeout", timeout, "Total VisibilityTimeout for the message is beyond the "
                            "limit [43200 seconds]")
    receiving.set_visibility(conn, queue, handle, now + timeout * 1000)


@api.operation("ChangeMessageVisibilityBatch", resources=url_resources, action="sqs:ChangeMessageVisibility")
def change_message_visibility_batch(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    entries = params.get("Entries") or []
    batches.check_entries(entries, "ChangeMessageVisibilityBatchRequestEntry")
    return _each(ctx, params["QueueUrl"], entries,
                 lambda conn, queue, entry, now: _change(conn, queue, receiving.parse_handle(entry["ReceiptHandle"]),
                                                         entry["ReceiptHandle"], entry.get("VisibilityTimeout", 0),
                                                         now))


def _each(ctx: RequestContext, url: str, entries: list[dict[str, Any]], act: Any) -> dict[str, Any]:
    """Run ``act`` on every entry in one transaction; an entry's error is its own ``Failed`` line."""

    def each(conn: Connection) -> dict[str, Any]:
        successful, failed = [], []
        now = now_ms()
        queue = records.by_url(conn, ctx, url)
        for entry in entries:
            try:
                act(conn, queue, entry, now)
            except ServiceError as refused:
                failed.append(message_rules.error_entry(entry["Id"], refused))
            else:
                successful.append({"Id": entry["Id"]})
        return {"Successful": successful, "Failed": failed}

    return runtime(ctx.cloud).committer.run(each)
