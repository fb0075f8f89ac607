"""What a message may hold and the digests SQS returns for it (pure).

boto3 checks ``MD5OfMessageBody`` and ``MD5OfMessageAttributes`` against its own computation and
raises on a mismatch, so the digests follow SQS's algorithm to the byte: attributes sorted by
name, each written as length-prefixed (4 bytes, big-endian) name, data type and value, with a
transport byte between type and value (1 for String and Number, 2 for Binary).
See https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html
"""

from __future__ import annotations

import base64
import hashlib
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from controller.sqs.errors import (
    InvalidMessageContents,
    InvalidParameterValue,
    MissingParameter,
    ServiceError,
)

#: 256 KiB: the largest message, body and attributes together.
MAX_MESSAGE_BYTES = 262_144
MAX_ATTRIBUTES = 10
SYSTEM_ATTRIBUTE_NAMES = frozenset({"AWSTraceHeader"})

_NAME_RE = re.compile(r"^[A-Za-z0-9_\-.]{1,256}$")
_TYPE_RE = re.compile(r"^(String|Number|Binary)(\.[^\s]{1,255})?$")
# XML 1.0's characters: what SQS accepts in a body and in string values.
_INVALID_CHARS_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_VALID_CHARS = "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: dict[str, dict[str, Any]] | None) -> str | None:
    """``MD5OfMessageAttributes`` (or of system attributes) as SQS computes it; None without attributes.

    Binary values are bytes here (as the protocol layer parses them).
    """
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        data_type = value["DataType"]
        _add_field(digest, name.encode("utf-8"))
        _add_field(digest, data_type.encode("utf-8"))
        if data_type.startswith("Binary"):
            digest.update(b"\x02")
            _add_field(digest, _binary(value["BinaryValue"]))
        else:
            digest.update(b"\x01")
            _add_field(digest, value["StringValue"].encode("utf-8"))
    return digest.hexdigest()


def _add_field(digest: Any, data: bytes) -> None:
    digest.update(len(data).to_bytes(4, "big"))
    digest.update(data)


def _binary(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else base64.b64decode(value)


def check_body(body: str) -> None:
    """A body SQS accepts: not empty, only the XML characters."""
    if not body:
        raise MissingParameter("The request must contain the parameter MessageBody.")
    if _INVALID_CHARS_RE.search(body):
        raise InvalidMessageContents(f"Invalid characters found. Valid characters are {_VALID_CHARS}")


def check_attributes(attributes: dict[str, dict[str, Any]] | None, *, system: bool = False) -> None:
    """Message (or system) attributes as SQS validates them; raises its error for the first bad one."""
    if not attributes:
        return
    if not system and len(attributes) > MAX_ATTRIBUTES:
        raise InvalidParameterValue(f"Number of message attributes [{len(attributes)}] exceeds the allowed "
                                    f"maximum [{MAX_ATTRIBUTES}].")
    for name, value in attributes.items():
        if system:
            if name not in SYSTEM_ATTRIBUTE_NAMES:
                raise InvalidParameterValue(f"Message system attribute name '{name}' is invalid.")
            if value.get("DataType") != "String":
                raise InvalidParameterValue(f"Message system attribute '{name}' must be of type String.")
        else:
            _check_name(name)
        _check_value(name, value)


def _check_name(name: str) -> None:
    lowered = name.lower()
    if (not _NAME_RE.match(name) or name.startswith(".") or name.endswith(".") or ".." in name
            or lowered.startswith("aws.") or lowered.startswith("amazon.")):
        raise InvalidParameterValue(
            f"Message (user) attribute '{name}' is invalid. The attribute name can contain only alphanumeric "
            "characters, hyphens, underscores and periods, must not start or end with a period, must not "
            "contain consecutive periods, must not start with 'AWS.' or 'Amazon.', and must be at most 256 "
            "characters long.")


def _check_value(name: str, value: dict[str, Any]) -> None:
    data_type = value.get("DataType") or ""
    if not data_type:
        raise InvalidParameterValue(f"The message attribute '{name}' must contain non-empty message attribute type.")
    if not _TYPE_RE.match(data_type) or len(data_type) > 256:
        raise InvalidParameterValue(f"The type of message (user) attribute '{name}' is invalid. You must use "
                                    "only the following supported type prefixes: Binary, Number, String.")
    if value.get("StringListValues") or value.get("BinaryListValues"):
        raise InvalidParameterValue(f"Message attribute list values in '{name}' are not supported.")
    if data_type.startswith("Binary"):
        if "StringValue" in value:
            raise InvalidParameterValue(f"The message attribute '{name}' with type 'Binary' must use field 'Binary'.")
        if not value.get("BinaryValue"):
            raise InvalidParameterValue(f"The message attribute '{name}' must contain non-empty message "
                                        "attribute value for message attribute type 'Binary'.")
        return
    kind = data_type.split(".", 1)[0]
    if "BinaryValue" in value:
        raise InvalidParameterValue(f"The message attribute '{name}' with type '{kind}' must use field 'String'.")
    text = value.get("StringValue")
    if not text:
        raise InvalidParameterValue(f"The message attribute '{name}' must contain non-empty message attribute "
                                    f"value for message attribute type '{kind}'.")
    if _INVALID_CHARS_RE.search(text):
        raise InvalidMessageContents(f"Invalid characters found in the message attribute '{name}'. Valid "
                                     f"characters are {_VALID_CHARS}")
    if kind == "Number":
        _check_number(name, text)


def _check_number(name: str, text: str) -> None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or len(number.as_tuple().digits) > 38 or abs(number) > Decimal("1e126"):
        raise InvalidParameterValue(f"Could not cast message attribute '{name}' value to number.")


def message_size(body: str, attributes: dict[str, dict[str, Any]] | None) -> int:
    """What counts toward the 256 KiB limit: the body plus every attribute's name, type and value."""
    size = len(body.encode("utf-8"))
    for name, value in (attributes or {}).items():
        size += len(name.encode("utf-8")) + len(value["DataType"].encode("utf-8"))
        if "BinaryValue" in value:
            size += len(_binary(value["BinaryValue"]))
        else:
            size += len(value.get("StringValue", "").encode("utf-8"))
    return size


def check_size(body: str, attributes: dict[str, dict[str, Any]] | None, limit: int) -> int:
    size = message_size(body, attributes)
    if size > limit:
        raise InvalidParameterValue(f"One or more parameters are invalid. Reason: Message must be shorter than "
                                    f"{limit} bytes.")
    return size


def stored_attributes(attributes: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, str]] | None:
    """Attributes as JSON can keep them (binary values base64-encoded); None when there are none."""
    if not attributes:
        return None
    stored = {}
    for name, value in attributes.items():
        if "BinaryValue" in value:
            stored[name] = {"DataType": value["DataType"],
                            "BinaryValue": base64.b64encode(_binary(value["BinaryValue"])).decode("ascii")}
        else:
            stored[name] = {"DataType": value["DataType"], "StringValue": value["StringValue"]}
    return stored


def returned_attributes(stored: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Stored attributes as the output shape wants them (binary values as bytes)."""
    return {name: ({"DataType": value["DataType"], "BinaryValue": base64.b64decode(value["BinaryValue"])}
                   if "BinaryValue" in value else dict(value)) for name, value in stored.items()}


def select_attributes(stored: dict[str, dict[str, str]] | None, wanted: list[str]) -> dict[str, dict[str, str]]:
    """The message attributes a receive asked for: ``All``, ``.*``, ``prefix.*`` or exact names."""
    if not stored or not wanted:
        return {}
    if "All" in wanted or ".*" in wanted:
        return dict(stored)
    prefixes = tuple(name[:-1] for name in wanted if name.endswith(".*"))
    exact = set(wanted)
    return {name: value for name, value in stored.items()
            if name in exact or (prefixes and name.startswith(prefixes))}


def error_entry(entry_id: str, error: ServiceError) -> dict[str, Any]:
    """A batch's ``BatchResultErrorEntry`` for one refused entry."""
    return {"Id": entry_id, "SenderFault": error.sender_fault, "Code": error.code, "Message": error.message}
