"""Who may use a queue: its policy for IAM, AddPermission/RemovePermission, and its tags.

The queue policy is a resource policy the IAM engine evaluates with the caller's own policies
(``resource_lookup``): another account's caller needs both, a caller of the owner account either.
AddPermission writes statements into that same policy, labelled by their Sid, as SQS does
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_AddPermission.html).
"""

from __future__ import annotations

import json
import re
from typing import Any

from controller.api import RequestContext, ResourceInfo
from controller.sqs import records
from controller.sqs.errors import InvalidParameterValue, OverLimit, invalid_value
from controller.sqs.queues import check_tags, save_attributes
from controller.sqs.records import url_resources
from controller.sqs.service import api

_LABEL_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_MAX_ACTIONS = 7
_SHAREABLE_ACTIONS = frozenset({
    "*", "SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes",
    "GetQueueUrl", "ListDeadLetterSourceQueues", "PurgeQueue", "ListQueueTags", "SendMessageBatch",
    "DeleteMessageBatch", "ChangeMessageVisibilityBatch"})


def resource_lookup(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    """The queue's owner, policy and tags, for IAM; None when no such queue exists."""
    cache = records.cache_of(ctx.cloud)
    queue = cache.peek(arn) if cache is not None else None
    if queue is None:
        with ctx.cloud.db.read() as conn:
            queue = records.find_by_arn(conn, ctx.cloud, arn)
    if queue is None:
        return None
    return ResourceInfo(owner_account=queue.account_id, policy=queue.attributes.get("Policy"), tags=queue.tags)


api.resource_lookup = resource_lookup


@api.operation("AddPermission", resources=url_resources)
def add_permission(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    label = params["Label"]
    accounts = params.get("AWSAccountIds") or []
    actions = params.get("Actions") or []
    if not _LABEL_RE.match(label):
        raise invalid_value("Label", label, "Can only include alphanumeric characters, hyphens, or underscores. "
                            "1 to 80 in length.")
    if not accounts:
        raise InvalidParameterValue("The request must contain the parameter AWSAccountIds.")
    if not actions:
        raise InvalidParameterValue("The request must contain the parameter Actions.")
    if len(actions) > _MAX_ACTIONS:
        raise OverLimit(f"{len(actions)} Actions were found, maximum allowed is {_MAX_ACTIONS}.")
    for action in actions:
        if action not in _SHAREABLE_ACTIONS:
            raise invalid_value("ActionName.1", action, "Only the queue owner is allowed to invoke this action.")
    with ctx.cloud.db.begin() as conn:
        queue = records.by_url(conn, ctx, params["QueueUrl"])
        document = _policy(queue)
        if any(statement.get("Sid") == label for statement in document["Statement"]):
            raise invalid_value("Label", label, "Already exists.")
        document["Statement"].append({
            "Sid": label, "Effect": "Allow",
            "Principal": {"AWS": [f"arn:aws:iam::{account}:root" for account in accounts]},
            "Action": [f"SQS:{action}" for action in actions], "Resource": queue.arn})
        save_attributes(conn, ctx, queue, {**queue.attributes, "Policy": json.dumps(document, separators=(",", ":"))})
    return {}


@api.operation("RemovePermission", resources=url_resources)
def remove_permission(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    label = params["Label"]
    with ctx.cloud.db.begin() as conn:
        queue = records.by_url(conn, ctx, params["QueueUrl"])
        document = _policy(queue)
        kept = [statement for statement in document["Statement"] if statement.get("Sid") != label]
        if len(kept) == len(document["Statement"]):
            raise invalid_value("Label", label, "can't find label on existing policy.")
        attributes = dict(queue.attributes)
        if kept:
            attributes["Policy"] = json.dumps({**document, "Statement": kept}, separators=(",", ":"))
        else:
            attributes.pop("Policy", None)
        save_attributes(conn, ctx, queue, attributes)
    return {}


def _policy(queue: records.Queue) -> dict[str, Any]:
    text = queue.attributes.get("Policy")
    if not text:
        return {"Version": "2012-10-17", "Id": f"{queue.arn}/SQSDefaultPolicy", "Statement": []}
    document = json.loads(text)
    statements = document.get("Statement", [])
    document["Statement"] = statements if isinstance(statements, list) else [statements]
    return document


@api.operation("TagQueue", resources=url_resources)
def tag_queue(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tags = params.get("Tags") or {}
    if not tags:
        raise InvalidParameterValue("The request must contain a non-empty Tags parameter.")
    with ctx.cloud.db.begin() as conn:
        queue = records.by_url(conn, ctx, params["QueueUrl"])
        merged = {**queue.tags, **tags}
        check_tags(merged)
        records.changed(conn)
        conn.exec_driver_sql("UPDATE sqs_queues SET tags = ? WHERE queue_id = ?", (json.dumps(merged), queue.queue_id))
    return {}


@api.operation("UntagQueue", resources=url_resources)
def untag_queue(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    keys = params.get("TagKeys") or []
    if not keys:
        raise InvalidParameterValue("The request must contain a non-empty TagKeys parameter.")
    with ctx.cloud.db.begin() as conn:
        queue = records.by_url(conn, ctx, params["QueueUrl"])
        kept = {key: value for key, value in queue.tags.items() if key not in keys}
        records.changed(conn)
        conn.exec_driver_sql("UPDATE sqs_queues SET tags = ? WHERE queue_id = ?", (json.dumps(kept), queue.queue_id))
    return {}


@api.operation("ListQueueTags", resources=url_resources)
def list_queue_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        queue = records.by_url(conn, ctx, params["QueueUrl"])
    return {"Tags": queue.tags} if queue.tags else {}
