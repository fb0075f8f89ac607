"""Topic and subscription rows as operations use them, their ARNs, and what IAM sees of them.

A topic ARN is ``arn:<partition>:sns:<region>:<account>:<name>``; a subscription's is its topic's
ARN followed by ``:<uuid>``. A topic's policy is evaluated by the IAM engine as a resource policy
(``resource_lookup``), so AWS's default policy (the owner account only) keeps other accounts out
until the policy or AddPermission lets them in.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext, ResourceInfo
from controller.sns.errors import invalid, no_such_subscription, no_such_topic

_TOPIC_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256}(?:\.fifo)?)$")
_SUBSCRIPTION_ARN_RE = re.compile(
    r"^(arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?):[0-9a-f-]{36}$")
#: The actions a topic's default policy and AddPermission may name.
TOPIC_ACTIONS = ("GetTopicAttributes", "SetTopicAttributes", "AddPermission", "RemovePermission", "DeleteTopic",
                 "Subscribe", "ListSubscriptionsByTopic", "Publish")


@dataclass(frozen=True)
class Topic:
    arn: str
    account_id: str
    region: str
    name: str
    fifo: bool
    attributes: dict[str, str]
    tags: dict[str, str]
    subscriptions_deleted: int
    sequence: int


@dataclass(frozen=True)
class Subscription:
    arn: str
    topic_arn: str
    owner: str
    protocol: str
    endpoint: str
    confirmed: bool
    token: str | None
    authenticated: bool
    attributes: dict[str, str]

    @property
    def raw(self) -> bool:
        return self.attributes.get("RawMessageDelivery") == "true"


def now_ms() -> int:
    return int(time.time() * 1000)


def topic_arn(ctx: RequestContext, name: str, account: str | None = None) -> str:
    return f"arn:{ctx.cloud.config.partition}:sns:{ctx.region}:{account or ctx.account_id}:{name}"


def check_topic_arn(arn: str | None, parameter: str = "TopicArn") -> str:
    """The ARN, if it is a well-formed topic ARN; SNS's InvalidParameter otherwise."""
    if not arn or not _TOPIC_ARN_RE.match(arn):
        raise invalid(parameter)
    return arn


def check_subscription_arn(arn: str | None) -> str:
    if not arn:
        raise invalid("SubscriptionArn")
    if not _SUBSCRIPTION_ARN_RE.match(arn):
        elements = len(arn.split(":"))
        reason = f"An ARN must have at least 6 elements, not {elements}" if elements < 6 else "Invalid ARN"
        raise invalid("SubscriptionArn", reason)
    return arn


def topic_of_subscription(subscription_arn: str) -> str:
    return subscription_arn.rsplit(":", 1)[0]


def default_policy(arn: str, account_id: str) -> str:
    """The policy AWS gives every new topic: its own account may do everything on it."""
    return json.dumps({
        "Version": "2008-10-17", "Id": "__default_policy_ID",
        "Statement": [{"Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
                       "Action": [f"SNS:{action}" for action in TOPIC_ACTIONS], "Resource": arn,
                       "Condition": {"StringEquals": {"AWS:SourceOwner": account_id}}}]},
        separators=(",", ":"))


def _topic(row: Any) -> Topic:
    return Topic(arn=row.arn, account_id=row.account_id, region=row.region, name=row.name, fifo=bool(row.fifo),
                 attributes=json.loads(row.attributes), tags=json.loads(row.tags),
                 subscriptions_deleted=row.subscriptions_deleted, sequence=row.sequence)


def find_topic(conn: Connection, arn: str) -> Topic | None:
    row = conn.exec_driver_sql("SELECT * FROM sns_topics WHERE arn = ?", (arn,)).first()
    return _topic(row) if row is not None else None


def topic(conn: Connection, arn: str | None, parameter: str = "TopicArn") -> Topic:
    """The topic ``arn`` names: InvalidParameter for a malformed ARN, NotFound for a missing topic."""
    found = find_topic(conn, check_topic_arn(arn, parameter))
    if found is None:
        raise no_such_topic()
    return found


def _subscription(row: Any) -> Subscription:
    return Subscription(arn=row.arn, topic_arn=row.topic_arn, owner=row.owner, protocol=row.protocol,
                        endpoint=row.endpoint, confirmed=bool(row.confirmed), token=row.token,
                        authenticated=bool(row.authenticated), attributes=json.loads(row.attributes))


def find_subscription(conn: Connection, arn: str) -> Subscription | None:
    row = conn.exec_driver_sql("SELECT * FROM sns_subscriptions WHERE arn = ?", (arn,)).first()
    return _subscription(row) if row is not None else None


def subscription(conn: Connection, arn: str | None) -> Subscription:
    found = find_subscription(conn, check_subscription_arn(arn))
    if found is None:
        raise no_such_subscription()
    return found


def topic_subscriptions(conn: Connection, arn: str) -> list[Subscription]:
    rows = conn.exec_driver_sql("SELECT * FROM sns_subscriptions WHERE topic_arn = ? ORDER BY created_at, arn",
                                (arn,))
    return [_subscription(row) for row in rows]


def subscription_by_token(conn: Connection, token: str) -> Subscription | None:
    row = conn.exec_driver_sql("SELECT * FROM sns_subscriptions WHERE token = ?", (token,)).first()
    return _subscription(row) if row is not None else None


def resource_lookup(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    """What IAM sees of a topic (owner, policy, tags) or of a subscription.

    Either the subscription's owner or its topic's owner may manage a subscription (AWS lets both
    unsubscribe), so a subscription belongs, for IAM, to whichever of the two is calling.
    """
    with ctx.cloud.db.read() as conn:
        if _SUBSCRIPTION_ARN_RE.match(arn):
            found = find_subscription(conn, arn)
            if found is None:
                return None
            topic_owner = arn.split(":")[4]
            owner = ctx.account_id if ctx.account_id in (found.owner, topic_owner) else found.owner
            return ResourceInfo(owner_account=owner)
        found_topic = find_topic(conn, arn)
    if found_topic is None:
        return None
    return ResourceInfo(owner_account=found_topic.account_id, policy=found_topic.attributes.get("Policy"),
                        tags=found_topic.tags)


def subscription_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [params.get("SubscriptionArn") or "*"]


def topic_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [params.get("TopicArn") or "*"]
