"""Subscription operations: subscribe, confirm, unsubscribe, list, and subscription attributes.

A subscription to an endpoint its subscriber owns (an SQS queue or Lambda function of the caller's
account, SMS, mobile push) is confirmed at once; HTTP/S and email endpoints, and queues or functions
of another account, get a confirmation token and stay pending until ConfirmSubscription
(https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html). Subscribe answers
"pending confirmation" for those unless ReturnSubscriptionArn is true.
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.iam.enforce import check_action
from controller.sns import confirmations, delivery_policy, records, subscription_rules
from controller.sns.errors import AuthorizationError, invalid, no_such_topic
from controller.sns.records import Subscription, now_ms, subscription_resources, topic_resources
from controller.sns.service import api
from controller.sns.topics import decode_token, encode_token

_PAGE = 100


@api.operation("Subscribe", resources=topic_resources)
def subscribe(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    protocol, endpoint = params["Protocol"], params.get("Endpoint") or ""
    with ctx.cloud.db.begin() as conn:
        topic = records.topic(conn, params["TopicArn"])
        subscription_rules.check_endpoint(protocol, endpoint, fifo_topic=topic.fifo)
        attributes = subscription_rules.check_attributes(protocol, dict(params.get("Attributes") or {}),
                                                         fifo_topic=topic.fifo)
        existing = conn.exec_driver_sql(
            "SELECT arn FROM sns_subscriptions WHERE topic_arn = ? AND protocol = ? AND endpoint = ?",
            (topic.arn, protocol, endpoint)).scalar()
        if existing is not None:
            found = records.subscription(conn, existing)
            if params.get("Attributes") and found.attributes != attributes:
                raise invalid("Attributes", "Subscription already exists with different attributes")
            return {"SubscriptionArn": _shown_arn(found, params)}
        owner_account = subscription_rules.endpoint_account(protocol, endpoint)
        confirmed = protocol not in subscription_rules.CONFIRMED_BY_ENDPOINT and \
            owner_account in ("", ctx.account_id)
        found = Subscription(arn=f"{topic.arn}:{uuid.uuid4()}", topic_arn=topic.arn, owner=ctx.account_id,
                             protocol=protocol, endpoint=endpoint, confirmed=confirmed,
                             token=None if confirmed else secrets.token_hex(64), authenticated=confirmed,
                             attributes=attributes)
        conn.exec_driver_sql(
            "INSERT INTO sns_subscriptions (arn, topic_arn, owner, protocol, endpoint, confirmed, token,"
            " authenticated, attributes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (found.arn, topic.arn, found.owner, protocol, endpoint, confirmed, found.token, confirmed,
             json.dumps(attributes), now_ms()))
    ctx.audit_resources.append(found.arn)
    if not confirmed:
        confirmations.request(ctx.cloud, topic, found)
    return {"SubscriptionArn": _shown_arn(found, params)}


def _shown_arn(found: Subscription, params: dict[str, Any]) -> str:
    if found.confirmed or params.get("ReturnSubscriptionArn"):
        return found.arn
    return "pending confirmation"


@api.operation("ConfirmSubscription", resources=topic_resources, authorize=False)
def confirm_subscription(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The token is the authority (endpoints confirm with an unsigned GET of the SubscribeURL)."""
    authenticate = str(params.get("AuthenticateOnUnsubscribe") or "").lower() == "true"
    with ctx.cloud.db.begin() as conn:
        topic = records.topic(conn, params["TopicArn"])
        found = records.subscription_by_token(conn, params["Token"])
        if found is None or found.topic_arn != topic.arn:
            raise invalid("Token")
        if authenticate and ctx.principal.kind == "anonymous":
            raise AuthorizationError("AuthenticateOnUnsubscribe requires a signed ConfirmSubscription request")
        conn.exec_driver_sql("UPDATE sns_subscriptions SET confirmed = 1, authenticated = ? WHERE arn = ?",
                             (found.authenticated or authenticate, found.arn))
    return {"SubscriptionArn": found.arn}


@api.operation("Unsubscribe", resources=subscription_resources, authorize=False)
def unsubscribe(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Signed calls are authorized by IAM here; the UnsubscribeURL of a delivery works unsigned, unless
    the subscription was confirmed with AuthenticateOnUnsubscribe."""
    anonymous = ctx.principal.kind == "anonymous"
    if not anonymous:
        check_action(ctx, "sns:Unsubscribe", subscription_resources(ctx, params), params)
    with ctx.cloud.db.begin() as conn:
        found = records.subscription(conn, params["SubscriptionArn"])
        topic = records.find_topic(conn, found.topic_arn)
        topic_owner = topic.account_id if topic is not None else ""
        if anonymous and found.authenticated or not anonymous and ctx.account_id not in (found.owner, topic_owner):
            raise AuthorizationError(f"User: {ctx.principal.arn or 'anonymous'} is not authorized to perform: "
                                     f"SNS:Unsubscribe on resource: {found.arn}")
        forget(conn, found.arn)
        conn.exec_driver_sql("UPDATE sns_topics SET subscriptions_deleted = subscriptions_deleted + 1"
                             " WHERE arn = ?", (found.topic_arn,))
    return {}


def forget(conn: Connection, subscription_arn: str) -> None:
    """Remove a subscription and what it had still to deliver."""
    conn.exec_driver_sql("DELETE FROM sns_deliveries WHERE subscription_arn = ?", (subscription_arn,))
    conn.exec_driver_sql("DELETE FROM sns_subscriptions WHERE arn = ?", (subscription_arn,))


def _listed(found: Subscription) -> dict[str, str]:
    return {"SubscriptionArn": found.arn if found.confirmed else "PendingConfirmation", "Owner": found.owner,
            "Protocol": found.protocol, "Endpoint": found.endpoint, "TopicArn": found.topic_arn}


@api.operation("ListSubscriptions")
def list_subscriptions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    after = decode_token(params.get("NextToken"))
    with ctx.cloud.db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT arn FROM sns_subscriptions WHERE owner = ? AND arn > ? AND arn LIKE ? ORDER BY arn LIMIT ?",
            (ctx.account_id, after, f"arn:%:sns:{ctx.region}:%", _PAGE + 1)).scalars().all()
        page = [records.subscription(conn, arn) for arn in rows[:_PAGE]]
    return _page(page, len(rows) > _PAGE)


@api.operation("ListSubscriptionsByTopic", resources=topic_resources)
def list_subscriptions_by_topic(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    after = decode_token(params.get("NextToken"))
    with ctx.cloud.db.read() as conn:
        topic = records.topic(conn, params["TopicArn"])
        rows = conn.exec_driver_sql(
            "SELECT arn FROM sns_subscriptions WHERE topic_arn = ? AND arn > ? ORDER BY arn LIMIT ?",
            (topic.arn, after, _PAGE + 1)).scalars().all()
        page = [records.subscription(conn, arn) for arn in rows[:_PAGE]]
    return _page(page, len(rows) > _PAGE)


def _page(page: list[Subscription], more: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"Subscriptions": [_listed(found) for found in page]}
    if more:
        result["NextToken"] = encode_token(page[-1].arn)
    return result


@api.operation("GetSubscriptionAttributes", resources=subscription_resources)
def get_subscription_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        found = records.subscription(conn, params["SubscriptionArn"])
        topic = records.find_topic(conn, found.topic_arn)
    if topic is None:
        raise no_such_topic()
    shown = {"SubscriptionArn": found.arn, "TopicArn": found.topic_arn, "Owner": found.owner,
             "Protocol": found.protocol, "Endpoint": found.endpoint,
             "ConfirmationWasAuthenticated": str(found.authenticated).lower(),
             "PendingConfirmation": str(not found.confirmed).lower(), "RawMessageDelivery": "false",
             **found.attributes}
    if found.attributes.get("FilterPolicy"):
        shown["FilterPolicyScope"] = subscription_rules.filter_scope(found.attributes)
    if found.protocol in ("http", "https"):
        retry = delivery_policy.http_retry_policy(topic.attributes.get("DeliveryPolicy"),
                                                  found.attributes.get("DeliveryPolicy"))
        shown["EffectiveDeliveryPolicy"] = json.dumps({"healthyRetryPolicy": retry})
    return {"Attributes": shown}


@api.operation("SetSubscriptionAttributes", resources=subscription_resources)
def set_subscription_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name, value = params["AttributeName"], params.get("AttributeValue") or ""
    with ctx.cloud.db.begin() as conn:
        found = records.subscription(conn, params["SubscriptionArn"])
        fifo = found.topic_arn.endswith(".fifo")
        stored = subscription_rules.check_attribute(found.protocol, name, value, fifo_topic=fifo)
        attributes = {**found.attributes, name: stored}
        subscription_rules.check_filter_policy(attributes)
        attributes = {k: v for k, v in attributes.items() if v != ""}
        conn.exec_driver_sql("UPDATE sns_subscriptions SET attributes = ? WHERE arn = ?",
                             (json.dumps(attributes), found.arn))
    return {}
