"""What Publish and PublishBatch accept: message, subject, structure, attributes, FIFO ids, the size limit.

Limits and wording follow the Publish reference and the message attribute page
(https://docs.aws.amazon.com/sns/latest/api/API_Publish.html,
https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html): 256 KiB for the message and its
attributes together; attribute types String, String.Array, Number and Binary (with an optional custom
``.suffix``); Number within ±10^9 with five decimals. Pure functions: the result is the message as
stored for delivery.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from controller.sns.errors import ParameterValueInvalid, invalid

MAX_BYTES = 262_144
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_FIFO_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")
_SUBJECT_RE = re.compile(r"^[\x20-\x7e]+$")
_NUMBER_LIMIT = Decimal(10) ** 9


def check_message(entry: dict[str, Any], *, fifo: bool, content_dedup: bool) -> dict[str, Any]:
    """The message to store, from one Publish input or PublishBatch entry; InvalidParameter when refused."""
    text = entry.get("Message")
    if not text:
        raise invalid("Empty message")
    subject = entry.get("Subject")
    if subject is not None and (not 1 <= len(subject) <= 100 or not _SUBJECT_RE.match(subject)
                                or subject[0].isspace()):
        raise invalid("Subject")
    structure = entry.get("MessageStructure")
    if structure is not None:
        _check_structure(structure, text)
    attributes = check_attributes(entry.get("MessageAttributes") or {})
    if message_size(text, attributes) > MAX_BYTES:
        raise invalid("Message too long")
    group_id, dedup_id = _fifo_ids(entry, fifo=fifo, content_dedup=content_dedup)
    if fifo and dedup_id is None:
        dedup_id = hashlib.sha256(text.encode()).hexdigest()
    return {"message": text, "subject": subject, "structure": structure, "attributes": attributes,
            "group_id": group_id, "dedup_id": dedup_id}


def _check_structure(structure: str, text: str) -> None:
    if structure != "json":
        raise invalid("MessageStructure")
    try:
        per_protocol = json.loads(text)
    except ValueError:
        raise invalid("Message Structure - JSON message body failed to parse") from None
    if not isinstance(per_protocol, dict) or "default" not in per_protocol:
        raise invalid("Message Structure - No default entry in JSON message body")
    if not all(isinstance(value, str) for value in per_protocol.values()):
        raise invalid("Message Structure - JSON message body values must be strings")


def _fifo_ids(entry: dict[str, Any], *, fifo: bool, content_dedup: bool) -> tuple[str | None, str | None]:
    group_id, dedup_id = entry.get("MessageGroupId"), entry.get("MessageDeduplicationId")
    if not fifo:
        if dedup_id is not None:
            raise invalid("MessageDeduplicationId", "The request includes MessageDeduplicationId parameter that "
                                                    "is not valid for this topic type")
        if group_id is not None:
            raise invalid("MessageGroupId", "The request includes MessageGroupId parameter that is not valid for "
                                            "this topic type")
        return None, None
    if not group_id:
        raise invalid("The MessageGroupId parameter is required for FIFO topics")
    if not _FIFO_ID_RE.match(group_id):
        raise invalid("MessageGroupId", "The MessageGroupId can contain up to 128 alphanumeric and punctuation "
                                        "characters")
    if dedup_id is None and not content_dedup:
        raise invalid("The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId "
                      "provided explicitly")
    if dedup_id is not None and not _FIFO_ID_RE.match(dedup_id):
        raise invalid("MessageDeduplicationId", "The MessageDeduplicationId can contain up to 128 alphanumeric "
                                                "and punctuation characters")
    return group_id, dedup_id


def check_attributes(attributes: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Message attributes in SNS's shape, each checked; binary values as base64 text for storage."""
    checked: dict[str, dict[str, str]] = {}
    for name, value in attributes.items():
        _check_name(name)
        data_type = value.get("DataType") or ""
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise ParameterValueInvalid(f"The message attribute '{name}' has an invalid message attribute type, "
                                        "the set of supported type prefixes is Binary, Number, and String.")
        if base == "Binary":
            binary = value.get("BinaryValue")
            if not binary:
                raise ParameterValueInvalid(f"The message attribute '{name}' with type 'Binary' must contain "
                                            "non-empty message attribute value.")
            data = binary if isinstance(binary, bytes) else str(binary).encode()
            checked[name] = {"DataType": data_type, "BinaryValue": base64.b64encode(data).decode()}
            continue
        text = value.get("StringValue")
        if text is None or text == "":
            raise ParameterValueInvalid(f"The message attribute '{name}' with type '{base}' must contain non-empty "
                                        "message attribute value.")
        if base == "Number":
            _check_number(name, text)
        if data_type == "String.Array":
            _check_array(name, text)
        checked[name] = {"DataType": data_type, "StringValue": text}
    return checked


def _check_name(name: str) -> None:
    if (not _NAME_RE.match(name) or name.startswith(("AWS.", "Amazon.")) or name.startswith(".")
            or name.endswith(".") or ".." in name):
        raise ParameterValueInvalid(f"The message attribute name '{name}' is invalid: names are up to 256 "
                                    "letters, digits, '_', '-' and '.', without '..', a leading or trailing '.', "
                                    "or the prefixes 'AWS.' and 'Amazon.'.")


def _check_number(name: str, text: str) -> None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ParameterValueInvalid(f"Could not cast message attribute '{name}' value to number.") from None
    if not number.is_finite() or abs(number) > _NUMBER_LIMIT:
        raise ParameterValueInvalid(f"The message attribute '{name}' has a value outside the range "
                                    "-10^9 to 10^9.")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -5:
        raise ParameterValueInvalid(f"The message attribute '{name}' has a value with more than 5 digits after "
                                    "the decimal point.")


def _check_array(name: str, text: str) -> None:
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if not isinstance(values, list) or any(isinstance(v, dict | list) for v in values):
        raise ParameterValueInvalid(f"The message attribute '{name}' with type 'String.Array' must be a JSON "
                                    "array of strings, numbers, true, false or null.")


def message_size(text: str, attributes: dict[str, dict[str, str]]) -> int:
    """Bytes counted against the 256 KiB limit: the message and each attribute's name, type and value."""
    size = len(text.encode())
    for name, value in attributes.items():
        content = base64.b64decode(value["BinaryValue"]) if "BinaryValue" in value else value["StringValue"].encode()
        size += len(name.encode()) + len(value["DataType"].encode()) + len(content)
    return size
