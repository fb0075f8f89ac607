"""Topic operations: create, delete, attributes, listing, tags and permissions.

CreateTopic is idempotent as AWS documents: the same name with the same attributes and tags returns
the existing ARN, different ones are refused; DeleteTopic of a topic that does not exist succeeds
(https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html, API_DeleteTopic.html).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.sns import records, topic_attributes
from controller.sns.errors import ResourceNotFound, TagLimitExceeded, invalid
from controller.sns.records import TOPIC_ACTIONS, Topic, now_ms, topic_arn, topic_resources
from controller.sns.service import api

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_FIFO_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,251}\.fifo$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_PAGE = 100
_MAX_TAGS = 50


def _created_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [topic_arn(ctx, params.get("Name", ""))]


def _tagged_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [params.get("ResourceArn") or "*"]


@api.operation("CreateTopic", resources=_created_resources)
def create_topic(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    given = dict(params.get("Attributes") or {})
    fifo = topic_attributes.fifo_requested(given)
    given.pop("FifoTopic", None)
    if fifo and not _FIFO_NAME_RE.match(name):
        raise invalid("Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase "
                      "ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters "
                      "long.")
    if not fifo and not _NAME_RE.match(name):
        raise invalid("Topic Name")
    tags = _tag_dict(params.get("Tags") or [])
    arn = topic_arn(ctx, name)
    attributes = topic_attributes.creation_attributes(given, fifo=fifo, arn=arn, account_id=ctx.account_id)
    with ctx.cloud.db.begin() as conn:
        existing = records.find_topic(conn, arn)
        if existing is not None:
            if existing.fifo != fifo or topic_attributes.first_difference(existing.attributes, given):
                raise invalid("Attributes", "Topic already exists with different attributes")
            if tags and tags != existing.tags:
                raise invalid("Tags", "Topic already exists with different tags")
            return {"TopicArn": arn}
        conn.exec_driver_sql(
            "INSERT INTO sns_topics (arn, account_id, region, name, fifo, attributes, tags, subscriptions_deleted,"
            " sequence, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?)",
            (arn, ctx.account_id, ctx.region, name, fifo, json.dumps(attributes), json.dumps(tags), now_ms()))
    ctx.audit_resources.append(arn)
    return {"TopicArn": arn}


@api.operation("DeleteTopic", resources=topic_resources)
def delete_topic(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = records.check_topic_arn(params["TopicArn"])
    with ctx.cloud.db.begin() as conn:
        conn.exec_driver_sql("DELETE FROM sns_deliveries WHERE message_id IN "
                             "(SELECT message_id FROM sns_messages WHERE topic_arn = ?)", (arn,))
        for table in ("sns_messages", "sns_subscriptions", "sns_deduplication"):
            conn.exec_driver_sql(f"DELETE FROM {table} WHERE topic_arn = ?", (arn,))
        conn.exec_driver_sql("DELETE FROM sns_topics WHERE arn = ?", (arn,))
    return {}


@api.operation("GetTopicAttributes", resources=topic_resources)
def get_topic_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        topic = records.topic(conn, params["TopicArn"])
        counts = subscription_counts(conn, topic)
    return {"Attributes": topic_attributes.readable(topic.attributes, arn=topic.arn, owner=topic.account_id,
                                                    fifo=topic.fifo, counts=counts)}


def subscription_counts(conn: Connection, topic: Topic) -> dict[str, int]:
    confirmed, pending = conn.exec_driver_sql(
        "SELECT COUNT(CASE WHEN confirmed = 1 THEN 1 END), COUNT(CASE WHEN confirmed = 0 THEN 1 END)"
        " FROM sns_subscriptions WHERE topic_arn = ?", (topic.arn,)).one()
    return {"confirmed": confirmed, "pending": pending, "deleted": topic.subscriptions_deleted}


@api.operation("SetTopicAttributes", resources=topic_resources)
def set_topic_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["AttributeName"]
    value = params.get("AttributeValue") or ""
    with ctx.cloud.db.begin() as conn:
        topic = records.topic(conn, params["TopicArn"])
        stored = topic_attributes.check(name, value, fifo=topic.fifo)
        if name == "Policy" and not stored:
            stored = records.default_policy(topic.arn, topic.account_id)
        save_attributes(conn, topic, {**topic.attributes, name: stored})
    return {}


def save_attributes(conn: Connection, topic: Topic, attributes: dict[str, str]) -> None:
    conn.exec_driver_sql("UPDATE sns_topics SET attributes = ? WHERE arn = ?", (json.dumps(attributes), topic.arn))


@api.operation("ListTopics")
def list_topics(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    after = decode_token(params.get("NextToken"))
    with ctx.cloud.db.read() as conn:
        arns = [row[0] for row in conn.exec_driver_sql(
            "SELECT arn FROM sns_topics WHERE account_id = ? AND region = ? AND arn > ? ORDER BY arn LIMIT ?",
            (ctx.account_id, ctx.region, after, _PAGE + 1))]
    result: dict[str, Any] = {"Topics": [{"TopicArn": arn} for arn in arns[:_PAGE]]}
    if len(arns) > _PAGE:
        result["NextToken"] = encode_token(arns[_PAGE - 1])
    return result


def encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(after.encode()).decode()


def decode_token(token: str | None) -> str:
    """Where a page starts: after the key the previous page's NextToken names."""
    if not token:
        return ""
    try:
        after = base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError:
        raise invalid("NextToken") from None
    if "\x00" in after:  # no ARN holds a NUL: this service made no such token
        raise invalid("NextToken")
    return after


# -- tags ----------------------------------------------------------------------------------------
def _tag_dict(tags: list[dict[str, str]]) -> dict[str, str]:
    result: dict[str, str] = {}
    for tag in tags:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            raise invalid("Tags", f"Tag key {key} is invalid: keys are 1 to 128 characters and must not start "
                                  "with aws:")
        if len(value) > 256:
            raise invalid("Tags", f"Tag value of {key} is longer than 256 characters")
        result[key] = value
    if len(result) > _MAX_TAGS:
        raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")
    return result


def _tagged_topic(conn: Connection, arn: str) -> Topic:
    found = records.find_topic(conn, arn)
    if found is None:
        raise ResourceNotFound("Resource does not exist")
    return found


@api.operation("TagResource", resources=_tagged_resources)
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    added = _tag_dict(params["Tags"])
    with ctx.cloud.db.begin() as conn:
        topic = _tagged_topic(conn, params["ResourceArn"])
        tags = {**topic.tags, **added}
        if len(tags) > _MAX_TAGS:
            raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")
        conn.exec_driver_sql("UPDATE sns_topics SET tags = ? WHERE arn = ?", (json.dumps(tags), topic.arn))
    return {}


@api.operation("UntagResource", resources=_tagged_resources)
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        topic = _tagged_topic(conn, params["ResourceArn"])
        tags = {k: v for k, v in topic.tags.items() if k not in set(params["TagKeys"])}
        conn.exec_driver_sql("UPDATE sns_topics SET tags = ? WHERE arn = ?", (json.dumps(tags), topic.arn))
    return {}


@api.operation("ListTagsForResource", resources=_tagged_resources)
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        topic = _tagged_topic(conn, params["ResourceArn"])
    return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(topic.tags.items())]}


# -- permissions ---------------------------------------------------------------------------------
@api.operation("AddPermission", resources=topic_resources)
def add_permission(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    label = params["Label"]
    if not _LABEL_RE.match(label):
        raise invalid("Label")
    accounts, actions = params["AWSAccountId"], params["ActionName"]
    if not accounts or not actions:
        raise invalid("AWSAccountId" if not accounts else "ActionName")
    if any(action not in TOPIC_ACTIONS for action in actions):
        raise invalid("Policy statement action out of service scope!")
    if any(not re.fullmatch(r"\d{12}", account) for account in accounts):
        raise invalid("AWSAccountId")
    partition = ctx.cloud.config.partition
    principals = [f"arn:{partition}:iam::{account}:root" for account in accounts]
    with ctx.cloud.db.begin() as conn:
        topic = records.topic(conn, params["TopicArn"])
        document = json.loads(topic.attributes["Policy"])
        statements = document.setdefault("Statement", [])
        if any(statement.get("Sid") == label for statement in statements):
            raise invalid("Statement already exists")
        statements.append({"Sid": label, "Effect": "Allow",
                           "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                           "Action": [f"SNS:{action}" for action in actions], "Resource": topic.arn})
        save_attributes(conn, topic, {**topic.attributes, "Policy": json.dumps(document, separators=(",", ":"))})
    return {}


@api.operation("RemovePermission", resources=topic_resources)
def remove_permission(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        topic = records.topic(conn, params["TopicArn"])
        document = json.loads(topic.attributes["Policy"])
        document["Statement"] = [s for s in document.get("Statement", []) if s.get("Sid") != params["Label"]]
        save_attributes(conn, topic, {**topic.attributes, "Policy": json.dumps(document, separators=(",", ":"))})
    return {}
