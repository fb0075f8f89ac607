"""Topic attributes: which ones SNS lets a caller set, their checks, and what GetTopicAttributes shows.

Attribute names and values follow the SetTopicAttributes reference
(https://docs.aws.amazon.com/sns/latest/api/API_SetTopicAttributes.html); FifoTopic is fixed at
creation. Pure functions over the attribute dict stored with the topic.
"""

from __future__ import annotations

import json
import re

from controller.iam import policy
from controller.sns import delivery_policy
from controller.sns.errors import invalid
from controller.sns.records import default_policy

_FEEDBACK_PROTOCOLS = ("Application", "Firehose", "HTTP", "Lambda", "SQS")
_FEEDBACK = {f"{protocol}{kind}" for protocol in _FEEDBACK_PROTOCOLS
             for kind in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn")}
SETTABLE = {"DeliveryPolicy", "DisplayName", "Policy", "SignatureVersion", "TracingConfig", "KmsMasterKeyId",
            "ContentBasedDeduplication", "ArchivePolicy", "FifoThroughputScope", *_FEEDBACK}
_FIFO_ONLY = ("ContentBasedDeduplication", "ArchivePolicy", "FifoThroughputScope")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


def creation_attributes(given: dict[str, str], *, fifo: bool, arn: str, account_id: str) -> dict[str, str]:
    """The attributes of a new topic: the defaults, then ``given`` (FifoTopic already taken out)."""
    attributes = {"Policy": default_policy(arn, account_id), "DisplayName": ""}
    if fifo:
        attributes["ContentBasedDeduplication"] = "false"
    for name, value in given.items():
        attributes[name] = check(name, value, fifo=fifo)
    return attributes


def check(name: str, value: str, *, fifo: bool) -> str:
    """``value`` as stored, if SNS accepts it for attribute ``name``; InvalidParameter otherwise."""
    if name not in SETTABLE:
        raise invalid("AttributeName")
    if name in _FIFO_ONLY and not fifo:
        raise invalid("Attributes", f"{name} is only valid for FIFO topics")
    if name == "Policy":
        return _check_policy(value)
    if name == "DeliveryPolicy":
        if value:
            try:
                delivery_policy.parse(value, topic=True)
            except delivery_policy.PolicyInvalid as exc:
                raise invalid(f"DeliveryPolicy: {exc}") from None
        return value
    if name == "DisplayName" and len(value) > 100:
        raise invalid("DisplayName", "must be at most 100 characters")
    if name == "SignatureVersion" and value not in ("1", "2"):
        raise invalid("SignatureVersion", f"Invalid value [{value}]. Must be 1 or 2.")
    if name == "TracingConfig" and value not in ("PassThrough", "Active"):
        raise invalid("TracingConfig", f"Invalid value [{value}]. Must be PassThrough or Active.")
    if name == "ContentBasedDeduplication":
        return _boolean(name, value)
    if name == "FifoThroughputScope" and value not in ("Topic", "MessageGroup"):
        raise invalid("FifoThroughputScope", f"Invalid value [{value}]. Must be Topic or MessageGroup.")
    if name == "ArchivePolicy" and value:
        _check_archive_policy(value)
    if name.endswith("RoleArn") and value and not _ROLE_ARN_RE.match(value):
        raise invalid(name, "must be an IAM role ARN")
    if name.endswith("SampleRate") and not (value.isdigit() and 0 <= int(value) <= 100):
        raise invalid(name, "must be an integer from 0 to 100")
    return value


def _check_policy(text: str) -> str:
    try:
        policy.validate_policy(text, kind="resource")
    except policy.PolicyError as exc:
        raise invalid("Policy", str(exc)) from None
    return text


def _check_archive_policy(text: str) -> None:
    try:
        days = json.loads(text)["MessageRetentionPeriod"]
    except (ValueError, KeyError, TypeError):
        raise invalid("ArchivePolicy", "must be a JSON object with MessageRetentionPeriod") from None
    if not isinstance(days, int) or not 1 <= days <= 365:
        raise invalid("ArchivePolicy", "MessageRetentionPeriod must be from 1 to 365 days")


def _boolean(name: str, value: str) -> str:
    if value.lower() not in ("true", "false"):
        raise invalid(name, f"Invalid value [{value}]. Must be true or false.")
    return value.lower()


def is_true(value: str | None) -> bool:
    return (value or "").lower() == "true"


def first_difference(stored: dict[str, str], given: dict[str, str]) -> str | None:
    """The first attribute CreateTopic names with a value other than the existing topic's."""
    for name, value in given.items():
        if name == "FifoTopic":
            continue
        if stored.get(name, "") != value and not (name == "ContentBasedDeduplication" and
                                                  stored.get(name) == value.lower()):
            return name
    return None


def readable(attributes: dict[str, str], *, arn: str, owner: str, fifo: bool, counts: dict[str, int],
             ) -> dict[str, str]:
    """Everything GetTopicAttributes answers: the stored attributes, the counters and the derived ones."""
    shown = {name: value for name, value in attributes.items() if value != "" or name == "DisplayName"}
    effective = delivery_policy.DEFAULT_EFFECTIVE
    if attributes.get("DeliveryPolicy"):
        effective = json.loads(attributes["DeliveryPolicy"])
    shown.update({"TopicArn": arn, "Owner": owner, "EffectiveDeliveryPolicy": json.dumps(effective),
                  "SubscriptionsConfirmed": str(counts["confirmed"]), "SubscriptionsPending": str(counts["pending"]),
                  "SubscriptionsDeleted": str(counts["deleted"])})
    if fifo:
        shown["FifoTopic"] = "true"
    return shown


def fifo_requested(given: dict[str, str]) -> bool:
    value = given.get("FifoTopic")
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise invalid("FifoTopic", f"Invalid value [{value}]. Must be true or false.")
    return value.lower() == "true"
