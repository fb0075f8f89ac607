"""Queue operations: create, find, list, read and change attributes, purge, delete.

CreateQueue is idempotent as SQS documents it: the same name with the same attributes returns the
existing URL, a different value for an attribute it names is ``QueueAlreadyExists``, and a name
deleted less than 60 seconds ago is ``QueueDeletedRecently``
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.iam import policy
from controller.sqs import queue_attributes, records, redrive
from controller.sqs.errors import (
    InvalidParameterValue,
    PurgeQueueInProgress,
    QueueDeletedRecently,
    QueueNameExists,
    invalid_value,
    no_such_queue,
)
from controller.sqs.paging import next_token, token_name
from controller.sqs.records import Queue, now_ms, queue_arn, queue_url, url_resources
from controller.sqs.service import api
from controller.sqs.store import topic
from controller.state import Database

_RECENT_DELETE_MS = 60_000
_PURGE_INTERVAL_MS = 60_000


def _created_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [queue_arn(ctx.region, ctx.account_id, params.get("QueueName", ""))]


def _named_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    owner = params.get("QueueOwnerAWSAccountId") or ctx.account_id
    return [queue_arn(ctx.region, owner, params.get("QueueName", ""))]


@api.operation("CreateQueue", resources=_created_resources)
def create_queue(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["QueueName"]
    given = params.get("Attributes") or {}
    fifo_name = name.endswith(".fifo")
    records.check_name(name, fifo_name)
    fifo, attributes = queue_attributes.creation_attributes(given, fifo_name=fifo_name)
    _check_policy(attributes)
    tags = params.get("tags") or {}
    check_tags(tags)
    now = now_ms()
    with ctx.cloud.db.begin() as conn:
        existing = records.find(conn, ctx.cloud, ctx.region, ctx.account_id, name)
        if existing is not None:
            different = queue_attributes.first_difference(existing.attributes, given, fifo=existing.fifo)
            if different is not None:
                raise QueueNameExists(f"A queue already exists with the same name and a different value for "
                                      f"attribute {different}")
            return {"QueueUrl": queue_url(ctx, ctx.account_id, name)}
        deleted = conn.exec_driver_sql(
            "SELECT deleted_at FROM sqs_deleted_names WHERE account_id = ? AND region = ? AND name = ?",
            (ctx.account_id, ctx.region, name)).scalar()
        if deleted is not None and now - deleted < _RECENT_DELETE_MS:
            raise QueueDeletedRecently("You must wait 60 seconds after deleting a queue before you can create "
                                       "another with the same name.")
        arn = queue_arn(ctx.region, ctx.account_id, name)
        redrive.check_settings(conn, ctx, arn, fifo, attributes)
        conn.exec_driver_sql(
            "INSERT INTO sqs_queues (account_id, region, name, arn, fifo, attributes, tags, created_at, modified_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ctx.account_id, ctx.region, name, arn, fifo, json.dumps(attributes), json.dumps(tags),
             now // 1000, now // 1000))
    ctx.audit_resources.append(arn)
    return {"QueueUrl": queue_url(ctx, ctx.account_id, name)}


def _check_policy(attributes: dict[str, str]) -> None:
    text = attributes.get("Policy")
    if text:
        try:
            policy.validate_policy(text, kind="resource")
        except policy.PolicyError as exc:
            raise queue_attributes.invalid("Policy", str(exc)) from None


def check_tags(tags: dict[str, str]) -> None:
    if len(tags) > 50:
        raise InvalidParameterValue("Too many tags added for queue. The maximum number of tags is 50.")
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            raise InvalidParameterValue(f"Tag key {key} is invalid: keys are 1 to 128 characters and must not "
                                        "start with aws:.")
        if len(value) > 256:
            raise InvalidParameterValue(f"Tag value of {key} is longer than 256 characters.")


@api.operation("GetQueueUrl", resources=_named_resources)
def get_queue_url(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    owner = params.get("QueueOwnerAWSAccountId") or ctx.account_id
    with ctx.cloud.db.read() as conn:
        queue = records.find(conn, ctx.cloud, ctx.region, owner, params["QueueName"])
    if queue is None:
        raise no_such_queue()
    return {"QueueUrl": queue_url(ctx, owner, queue.name)}


@api.operation("ListQueues")
def list_queues(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    prefix = params.get("QueueNamePrefix") or ""
    limit = params.get("MaxResults")
    if limit is not None and not 1 <= limit <= 1000:
        raise invalid_value("MaxResults", limit, "MaxResults must be an integer between 1 and 1000.")
    after = token_name(params.get("NextToken"))
    # The prefix is a range of the (account, region, name) index: names sort by their UTF-8 bytes, and
    # every name starting with the prefix sorts below it followed by the highest code point.
    with ctx.cloud.db.read() as conn:
        names = [row[0] for row in conn.exec_driver_sql(
            "SELECT name FROM sqs_queues WHERE account_id = ? AND region = ? AND name > ? AND name >= ?"
            " AND name < ? ORDER BY name LIMIT ?",
            (ctx.account_id, ctx.region, after, prefix, prefix + "\U0010ffff", (limit or 1000) + 1))]
    page = names[:limit or 1000]
    result: dict[str, Any] = {}
    if page:
        result["QueueUrls"] = [queue_url(ctx, ctx.account_id, name) for name in page]
    if limit is not None and len(names) > len(page):
        result["NextToken"] = next_token(page[-1])
    return result


@api.operation("GetQueueAttributes", resources=url_resources)
def get_queue_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = queue_attributes.requested_names(params.get("AttributeNames") or [])
    with ctx.cloud.db.read() as conn:
        queue = records.by_url(conn, ctx, params["QueueUrl"])
        counters = _counters(conn, queue, now_ms()) if any(n.startswith("Approximate") for n in names) else {}
    values = {**queue.attributes, **counters, "CreatedTimestamp": str(queue.created_at),
              "LastModifiedTimestamp": str(queue.modified_at), "QueueArn": queue.arn}
    if queue.fifo:
        values["FifoQueue"] = "true"
    attributes = {name: values[name] for name in names if name in values}
    return {"Attributes": attributes} if attributes else {}


def _counters(conn: Connection, queue: Queue, now: int) -> dict[str, str]:
    visible, in_flight, delayed = conn.exec_driver_sql(
        "SELECT COUNT(CASE WHEN visible_at <= ? THEN 1 END), COUNT(CASE WHEN visible_at > ? AND receive_count > 0"
        " THEN 1 END), COUNT(CASE WHEN visible_at > ? AND receive_count = 0 THEN 1 END)"
        " FROM sqs_messages WHERE queue_id = ?",
        (now, now, now, queue.queue_id)).one()
    return {"ApproximateNumberOfMessages": str(visible), "ApproximateNumberOfMessagesNotVisible": str(in_flight),
            "ApproximateNumberOfMessagesDelayed": str(delayed)}


@api.operation("SetQueueAttributes", resources=url_resources)
def set_queue_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    changes = params.get("Attributes") or {}
    with ctx.cloud.db.begin() as conn:
        queue = records.by_url(conn, ctx, params["QueueUrl"])
        attributes = queue_attributes.apply_changes(queue.attributes, changes, fifo=queue.fifo)
        _check_policy(attributes)
        redrive.check_settings(conn, ctx, queue.arn, queue.fifo, attributes)
        save_attributes(conn, ctx, queue, attributes)
        # a shorter delay or visibility may make messages receivable: wake the queue's long polls
        Database.announce(conn, topic(queue.queue_id))
    return {}


def save_attributes(conn: Connection, ctx: RequestContext, queue: Queue, attributes: dict[str, str]) -> None:
    records.changed(conn)
    conn.exec_driver_sql("UPDATE sqs_queues SET attributes = ?, modified_at = ? WHERE queue_id = ?",
                         (json.dumps(attributes), now_ms() // 1000, queue.queue_id))


@api.operation("DeleteQueue", resources=url_resources)
def delete_queue(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        queue = records.by_url(conn, ctx, params["QueueUrl"])
        records.changed(conn)
        conn.exec_driver_sql("DELETE FROM sqs_messages WHERE queue_id = ?", (queue.queue_id,))
        conn.exec_driver_sql("DELETE FROM sqs_deduplication WHERE queue_id = ?", (queue.queue_id,))
        conn.exec_driver_sql("DELETE FROM sqs_queues WHERE queue_id = ?", (queue.queue_id,))
        conn.exec_driver_sql(
            "INSERT OR REPLACE INTO sqs_deleted_names (account_id, region, name, deleted_at) VALUES (?, ?, ?, ?)",
            (queue.account_id, queue.region, queue.name, now_ms()))
        Database.announce(conn, topic(queue.queue_id))
    return {}


@api.operation("PurgeQueue", resources=url_resources)
def purge_queue(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = now_ms()
    with ctx.cloud.db.begin() as conn:
        queue = records.by_url(conn, ctx, params["QueueUrl"])
        if queue.purged_at is not None and now - queue.purged_at < _PURGE_INTERVAL_MS:
            raise PurgeQueueInProgress(f"Only one PurgeQueue operation on {queue.name} is allowed every 60 seconds.")
        conn.exec_driver_sql("DELETE FROM sqs_messages WHERE queue_id = ? AND sent_at <= ?", (queue.queue_id, now))
        conn.exec_driver_sql("UPDATE sqs_queues SET purged_at = ? WHERE queue_id = ?", (now, queue.queue_id))
        records.changed(conn)
    return {}
