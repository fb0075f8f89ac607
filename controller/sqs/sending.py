"""Turning one SendMessage input (or batch entry, or SNS delivery) into a message ready to store.

Checks run in the order SQS applies them, so a message with several problems gets the error SQS
would name first; a refused message changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from controller.sqs import message_rules
from controller.sqs.errors import InvalidParameterValue, MissingParameter, invalid_value
from controller.sqs.records import Queue
from controller.sqs.store import Outgoing

_TOKEN_RE = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}$")


def prepare(queue: Queue, params: dict[str, Any], sender_id: str) -> Outgoing:
    """The message ``params`` (a SendMessage input or batch entry) describes; raises SQS's error."""
    body = params.get("MessageBody")
    if body is None:
        raise MissingParameter("The request must contain the parameter MessageBody.")
    message_rules.check_body(body)
    attributes = params.get("MessageAttributes") or None
    system_attributes = params.get("MessageSystemAttributes") or None
    message_rules.check_attributes(attributes)
    message_rules.check_attributes(system_attributes, system=True)
    message_rules.check_size(body, attributes, queue.int_attribute("MaximumMessageSize"))
    delay = params.get("DelaySeconds")
    group_id = params.get("MessageGroupId")
    dedup_id = params.get("MessageDeduplicationId")
    if queue.fifo:
        if delay is not None:
            raise invalid_value("DelaySeconds", delay, "The request include parameter that is not valid for this "
                                "queue type.")
        if group_id is None:
            raise MissingParameter("The request must contain the parameter MessageGroupId.")
        _check_token("MessageGroupId", group_id)
        if dedup_id is None:
            if queue.attributes.get("ContentBasedDeduplication") != "true":
                raise InvalidParameterValue("The queue should either have ContentBasedDeduplication enabled or "
                                            "MessageDeduplicationId provided explicitly")
            dedup_id = hashlib.sha256(body.encode("utf-8")).hexdigest()
        else:
            _check_token("MessageDeduplicationId", dedup_id)
        delay = int(queue.attributes["DelaySeconds"])
    else:
        if dedup_id is not None:
            raise invalid_value("MessageDeduplicationId", dedup_id, "The request include parameter that is not "
                                "valid for this queue type.")
        if group_id is not None:
            _check_token("MessageGroupId", group_id)
        if delay is None:
            delay = int(queue.attributes["DelaySeconds"])
        elif not 0 <= delay <= 900:
            raise invalid_value("DelaySeconds", delay, "DelaySeconds must be >= 0 and <= 900.")
    return Outgoing(
        body=body, attributes=message_rules.stored_attributes(attributes),
        system_attributes=message_rules.stored_attributes(system_attributes),
        md5_body=message_rules.md5_hex(body), md5_attributes=message_rules.md5_of_attributes(attributes),
        md5_system=message_rules.md5_of_attributes(system_attributes), delay_seconds=delay, sender_id=sender_id,
        group_id=group_id, dedup_id=dedup_id)


def _check_token(name: str, value: str) -> None:
    if not _TOKEN_RE.match(value):
        raise invalid_value(name, value, f"{name} can only include alphanumeric and punctuation characters. "
                            "1 to 128 in length.")


def sent_result(message: Outgoing, message_id: str, sequence_number: str | None) -> dict[str, Any]:
    """SendMessage's output (a batch entry adds its Id)."""
    result: dict[str, Any] = {"MessageId": message_id, "MD5OfMessageBody": message.md5_body}
    if message.md5_attributes:
        result["MD5OfMessageAttributes"] = message.md5_attributes
    if message.md5_system:
        result["MD5OfMessageSystemAttributes"] = message.md5_system
    if sequence_number is not None:
        result["SequenceNumber"] = sequence_number
    return result
