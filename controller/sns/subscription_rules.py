"""What Subscribe and SetSubscriptionAttributes accept: protocols, endpoints and subscription attributes.

Endpoint forms follow the Subscribe reference (https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html);
filter policies are checked by ``filter_policy.validate``. Pure functions.
"""

from __future__ import annotations

import json
import re

from controller.sns import delivery_policy, filter_policy
from controller.sns.errors import InvalidParameter, invalid

PROTOCOLS = ("http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose")
#: Subscriptions these protocols make wait for the endpoint's owner to confirm them.
CONFIRMED_BY_ENDPOINT = ("http", "https", "email", "email-json")
#: Endpoints owned by an account: confirmed at once when the subscriber owns them.
ACCOUNT_ENDPOINTS = ("sqs", "lambda", "firehose")
SETTABLE = ("DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy",
            "SubscriptionRoleArn", "ReplayPolicy")
_RAW_PROTOCOLS = ("http", "https", "sqs", "firehose")
_SCOPES = ("MessageAttributes", "MessageBody")
_SQS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(?:\.fifo)?$")
_LAMBDA_ARN_RE = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}"
                            r"(?::(?:\$LATEST|[A-Za-z0-9_-]{1,128}))?$")
_FIREHOSE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:firehose:[a-z0-9-]+:\d{12}:deliverystream/[A-Za-z0-9_.-]{1,64}$")
_APPLICATION_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:endpoint/[A-Za-z0-9_]+/[^/]+/[0-9a-f-]+$")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_RE = re.compile(r"^\+?[1-9]\d{1,14}$")
_HTTP_RE = re.compile(r"^(https?)://[^\s/?#]+[^\s]*$", re.IGNORECASE)


def check_endpoint(protocol: str, endpoint: str, *, fifo_topic: bool) -> None:
    """Refuse an endpoint that does not fit its protocol, or a protocol the topic cannot deliver to."""
    if protocol not in PROTOCOLS:
        raise invalid(f"Amazon SNS does not support this protocol string: {protocol}")
    if fifo_topic and protocol != "sqs":
        raise invalid("Protocol", f"FIFO topics deliver to SQS queues only, not to {protocol} endpoints")
    if protocol in ("http", "https"):
        match = _HTTP_RE.match(endpoint)
        if match is None or match.group(1).lower() != protocol:
            raise invalid("Endpoint must match the specified protocol")
    elif protocol in ("email", "email-json"):
        if not _EMAIL_RE.match(endpoint):
            raise invalid("Email address")
    elif protocol == "sms":
        if not _PHONE_RE.match(endpoint.replace("-", "").replace(" ", "")):
            raise InvalidParameter(f"Invalid SMS endpoint: {endpoint}")   # AWS's wording, without the prefix
    elif protocol == "sqs":
        if not _SQS_ARN_RE.match(endpoint):
            raise invalid("SQS endpoint ARN")
        if endpoint.endswith(".fifo") and not fifo_topic:
            raise invalid("Invalid parameter: Endpoint", "FIFO SQS Queues can not be subscribed to standard SNS "
                                                        "topics")
    elif protocol == "lambda":
        if not _LAMBDA_ARN_RE.match(endpoint):
            raise invalid("Lambda endpoint ARN")
    elif protocol == "firehose":
        if not _FIREHOSE_ARN_RE.match(endpoint):
            raise invalid("Firehose endpoint ARN")
    elif not _APPLICATION_ARN_RE.match(endpoint):
        raise invalid("Endpoint", f"Endpoint does not exist for endpoint arn {endpoint}")


def endpoint_account(protocol: str, endpoint: str) -> str:
    """The account that owns an ARN endpoint (SQS, Lambda, Firehose); "" for the others."""
    return endpoint.split(":")[4] if protocol in ACCOUNT_ENDPOINTS else ""


def check_attributes(protocol: str, attributes: dict[str, str], *, fifo_topic: bool) -> dict[str, str]:
    """The subscription's attributes as stored, each checked; InvalidParameter names the first bad one."""
    stored: dict[str, str] = {}
    for name, value in attributes.items():
        stored[name] = check_attribute(protocol, name, value, fifo_topic=fifo_topic)
    check_filter_policy(stored)
    if protocol == "firehose" and not stored.get("SubscriptionRoleArn"):
        raise invalid("Attributes", "SubscriptionRoleArn is required for firehose subscriptions")
    return {name: value for name, value in stored.items() if value != ""}


def check_attribute(protocol: str, name: str, value: str, *, fifo_topic: bool) -> str:
    if name not in SETTABLE:
        raise invalid("AttributeName")
    if name == "RawMessageDelivery":
        if value.lower() not in ("true", "false"):
            raise invalid("Attributes", f"RawMessageDelivery: Invalid value [{value}]. Must be true or false.")
        if protocol not in _RAW_PROTOCOLS and value.lower() == "true":
            raise invalid("Attributes", f"Delivery protocol [{protocol}] does not support raw message delivery.")
        return value.lower()
    if name == "FilterPolicyScope" and value not in _SCOPES:
        raise invalid("Attributes", f"FilterPolicyScope: Invalid value [{value}]. Please use either MessageBody "
                                    "or MessageAttributes")
    if name == "RedrivePolicy" and value:
        _check_redrive_policy(value, fifo_topic)
    if name == "DeliveryPolicy" and value:
        if protocol not in ("http", "https"):
            raise invalid("DeliveryPolicy", f"Delivery policy is not supported for protocol {protocol}")
        try:
            delivery_policy.parse(value, topic=False)
        except delivery_policy.PolicyInvalid as exc:
            raise invalid(f"DeliveryPolicy: {exc}") from None
    if name == "SubscriptionRoleArn" and value and not _ROLE_ARN_RE.match(value):
        raise invalid("SubscriptionRoleArn", "must be an IAM role ARN")
    if name == "ReplayPolicy" and value:
        raise invalid("ReplayPolicy", "message replay needs an archive policy on a FIFO topic, which Cloudlet "
                                      "does not archive")
    return value


def check_filter_policy(attributes: dict[str, str]) -> None:
    """The filter policy, if any, against its scope (MessageAttributes unless set)."""
    text = attributes.get("FilterPolicy")
    if text:
        try:
            filter_policy.validate(text, attributes.get("FilterPolicyScope") or "MessageAttributes")
        except ValueError as exc:
            raise invalid(f"FilterPolicy: {exc}") from None


def _check_redrive_policy(text: str, fifo_topic: bool) -> None:
    try:
        target = json.loads(text)["deadLetterTargetArn"]
    except (ValueError, KeyError, TypeError):
        raise invalid("RedrivePolicy: failed to parse JSON or deadLetterTargetArn missing.") from None
    if not isinstance(target, str) or not _SQS_ARN_RE.match(target):
        raise invalid("RedrivePolicy: deadLetterTargetArn is an invalid arn")
    if fifo_topic != target.endswith(".fifo"):
        raise invalid("RedrivePolicy", "the dead-letter queue of a subscription to a FIFO topic must be a FIFO "
                                       "queue, and of a standard topic a standard queue")


def filter_scope(attributes: dict[str, str]) -> str:
    return attributes.get("FilterPolicyScope") or "MessageAttributes"
