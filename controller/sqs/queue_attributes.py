"""Queue attributes: defaults, what CreateQueue and SetQueueAttributes accept, what reads return (pure).

Ranges and wording follow the SetQueueAttributes and CreateQueue API references
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html).
Values are kept as the strings SQS reads back. Cross-queue checks (the dead-letter target exists,
its RedriveAllowPolicy lets this queue in) need the database and live in ``redrive.py``.
"""

from __future__ import annotations

import json
from typing import Any

from controller.sqs.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValue,
    ServiceError,
)

_RANGES: dict[str, tuple[int, int]] = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, 262_144),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
STANDARD_DEFAULTS: dict[str, str] = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "262144",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS: dict[str, str] = {
    **STANDARD_DEFAULTS,
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
_FIFO_ONLY = frozenset({"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"})
_CHOICES: dict[str, tuple[str, ...]] = {
    "SqsManagedSseEnabled": ("true", "false"),
    "ContentBasedDeduplication": ("true", "false"),
    "DeduplicationScope": ("messageGroup", "queue"),
    "FifoThroughputLimit": ("perQueue", "perMessageGroupId"),
}
_FREE_TEXT = frozenset({"Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId"})
SETTABLE = frozenset(_RANGES) | frozenset(_CHOICES) | _FREE_TEXT
#: Attributes only reads return (counters and facts SQS keeps).
READ_ONLY = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
             "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn")
READABLE = SETTABLE | frozenset(READ_ONLY) | {"FifoQueue"}


def unknown(name: str) -> ServiceError:
    return InvalidAttributeName(f"Unknown Attribute {name}.")


def invalid(name: str, detail: str = "") -> ServiceError:
    return InvalidAttributeValue(f"Invalid value for the parameter {name}.{(' Reason: ' + detail) if detail else ''}")


def creation_attributes(given: dict[str, str], *, fifo_name: bool) -> tuple[bool, dict[str, str]]:
    """(is FIFO, the queue's attributes) for CreateQueue; raises SQS's error for a bad attribute."""
    fifo_flag = given.get("FifoQueue")
    if fifo_flag is not None and fifo_flag not in ("true", "false"):
        raise invalid("FifoQueue")
    fifo = fifo_flag == "true"
    if fifo != fifo_name:
        if fifo:
            raise InvalidParameterValue("The name of a FIFO queue can only include alphanumeric characters, "
                                        "hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
        raise InvalidParameterValue("Can only include alphanumeric characters, hyphens, or underscores. "
                                    "1 to 80 in length")
    attributes = dict(FIFO_DEFAULTS if fifo else STANDARD_DEFAULTS)
    changes = {name: value for name, value in given.items() if name != "FifoQueue"}
    return fifo, apply_changes(attributes, changes, fifo=fifo)


def apply_changes(current: dict[str, str], changes: dict[str, str], *, fifo: bool) -> dict[str, str]:
    """``current`` with ``changes`` applied (SetQueueAttributes), every value checked first."""
    result = dict(current)
    for name, value in changes.items():
        if name == "FifoQueue":
            if not fifo or value != "true":
                raise invalid(name, "Modifying queue type is not supported.")
            continue
        if name not in SETTABLE or (name in _FIFO_ONLY and not fifo):
            raise unknown(name)
        result[name] = normalized(name, value)
    for name in ("Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId"):
        if result.get(name) == "":
            del result[name]
    if "KmsMasterKeyId" in changes and "KmsMasterKeyId" in result:
        result["SqsManagedSseEnabled"] = "false"
        result.setdefault("KmsDataKeyReusePeriodSeconds", "300")
    elif changes.get("SqsManagedSseEnabled") == "true":
        result.pop("KmsMasterKeyId", None)
        result.pop("KmsDataKeyReusePeriodSeconds", None)
    return result


def normalized(name: str, value: str) -> str:
    """The value as SQS keeps it; raises InvalidAttributeValue when it is out of range or malformed."""
    if name in _RANGES:
        low, high = _RANGES[name]
        try:
            number = int(value)
        except ValueError:
            raise invalid(name) from None
        if not low <= number <= high:
            raise invalid(name)
        return str(number)
    if name in _CHOICES:
        if value not in _CHOICES[name]:
            raise invalid(name)
        return value
    if name == "Policy":
        return _json_text(name, value) if value else ""
    if name == "RedrivePolicy":
        return _redrive_policy(value) if value else ""
    if name == "RedriveAllowPolicy":
        return _redrive_allow_policy(value) if value else ""
    return value


def _json_object(name: str, value: str) -> dict[str, Any]:
    try:
        document = json.loads(value)
    except ValueError:
        raise invalid(name, "failed to parse JSON.") from None
    if not isinstance(document, dict):
        raise invalid(name, "the value must be a JSON object.")
    return document


def _json_text(name: str, value: str) -> str:
    _json_object(name, value)
    return value


def _redrive_policy(value: str) -> str:
    document = _json_object("RedrivePolicy", value)
    target = document.get("deadLetterTargetArn")
    count = document.get("maxReceiveCount")
    if not isinstance(target, str) or not target:
        raise invalid("RedrivePolicy", "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
    if count is None:
        raise invalid("RedrivePolicy", "Redrive policy does not contain mandatory attribute: maxReceiveCount.")
    try:
        number = int(count)
    except (TypeError, ValueError):
        raise invalid("RedrivePolicy", "Invalid value for maxReceiveCount: "
                      f"{count}, valid values are from 1 to 1000 both inclusive.") from None
    if not 1 <= number <= 1000:
        raise invalid("RedrivePolicy", f"Invalid value for maxReceiveCount: {count}, valid values are from 1 to "
                      "1000 both inclusive.")
    extra = set(document) - {"deadLetterTargetArn", "maxReceiveCount"}
    if extra:
        raise invalid("RedrivePolicy", f"Only following attributes are supported: [deadLetterTargetArn, "
                      f"maxReceiveCount], found {sorted(extra)}.")
    return json.dumps({"deadLetterTargetArn": target, "maxReceiveCount": number}, separators=(",", ":"))


def _redrive_allow_policy(value: str) -> str:
    document = _json_object("RedriveAllowPolicy", value)
    permission = document.get("redrivePermission")
    sources = document.get("sourceQueueArns")
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise invalid("RedriveAllowPolicy", "redrivePermission must be one of allowAll, denyAll, byQueue.")
    if permission == "byQueue":
        if not isinstance(sources, list) or not sources or not all(isinstance(arn, str) for arn in sources):
            raise invalid("RedriveAllowPolicy", "sourceQueueArns must be a non-empty list when redrivePermission "
                          "is byQueue.")
        if len(sources) > 10:
            raise invalid("RedriveAllowPolicy", "sourceQueueArns can list at most 10 queues.")
    elif sources is not None:
        raise invalid("RedriveAllowPolicy", "sourceQueueArns is only allowed when redrivePermission is byQueue.")
    extra = set(document) - {"redrivePermission", "sourceQueueArns"}
    if extra:
        raise invalid("RedriveAllowPolicy", f"Unknown attributes {sorted(extra)}.")
    return json.dumps(document, separators=(",", ":"))


def first_difference(existing: dict[str, str], given: dict[str, str], *, fifo: bool) -> str | None:
    """The first attribute CreateQueue names whose value differs from the existing queue's, if any."""
    for name, value in given.items():
        if name == "FifoQueue":
            if (value == "true") != fifo:
                return name
            continue
        wanted = normalized(name, value) if name in SETTABLE else value
        if existing.get(name, "") != wanted:
            return name
    return None


def requested_names(names: list[str]) -> list[str]:
    """The attribute names a read asks for (``All`` expands); InvalidAttributeName for an unknown one."""
    for name in names:
        if name != "All" and name not in READABLE:
            raise unknown(name)
    if "All" in names:
        return sorted(READABLE)
    return list(dict.fromkeys(names))


def redrive_target(attributes: dict[str, str]) -> tuple[str, int] | None:
    """(dead-letter queue ARN, maxReceiveCount) of a queue with a RedrivePolicy."""
    text = attributes.get("RedrivePolicy")
    if not text:
        return None
    document = json.loads(text)
    return document["deadLetterTargetArn"], int(document["maxReceiveCount"])
