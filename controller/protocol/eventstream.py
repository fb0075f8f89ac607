"""Encoding ``application/vnd.amazon.eventstream`` response bodies (S3 Select, Lambda streaming).

An event-stream payload member is a union of event structures; the handler returns an
iterable of ``{"EventName": {...members...}}`` dicts and each becomes one binary message:
``prelude (total length, headers length, CRC) | headers | payload | message CRC``. The
``eventpayload`` member (or else the event's other members, as XML/JSON) is the payload;
``eventheader`` members become typed headers. Messages are produced lazily, one per event.
"""

from __future__ import annotations

import binascii
import datetime as dt
import struct
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.model import Shape

from controller.protocol.json_protocol import dump_json, json_structure, json_value
from controller.protocol.timestamps import coerce_datetime
from controller.protocol.xmlcodec import XmlWriter

_XML = XmlWriter("member")

_TRUE, _FALSE, _INT32, _INT64, _BYTES, _STRING, _TIMESTAMP = 0, 1, 4, 5, 6, 7, 8


def _header(name: str, value: Any, shape: Shape | None = None) -> bytes:
    encoded_name = name.encode("utf-8")
    head = struct.pack(">B", len(encoded_name)) + encoded_name
    kind = shape.type_name if shape is not None else "string"
    if kind == "boolean":
        return head + struct.pack(">B", _TRUE if value else _FALSE)
    if kind == "integer":
        return head + struct.pack(">Bi", _INT32, int(value))
    if kind == "long":
        return head + struct.pack(">Bq", _INT64, int(value))
    if kind == "timestamp":
        moment = coerce_datetime(value)
        millis = int((moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).total_seconds() * 1000)
        return head + struct.pack(">Bq", _TIMESTAMP, millis)
    if kind == "blob":
        data = bytes(value)
        return head + struct.pack(">BH", _BYTES, len(data)) + data
    data = str(value).encode("utf-8")
    return head + struct.pack(">BH", _STRING, len(data)) + data


def encode_message(headers: bytes, payload: bytes) -> bytes:
    """One event-stream message around already-encoded ``headers`` and ``payload``."""
    prelude = struct.pack(">II", 16 + len(headers) + len(payload), len(headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + headers + payload
    return message + struct.pack(">I", binascii.crc32(message))


def _event_payload(event_shape: Shape, value: dict[str, Any], xml: bool, name: str) -> tuple[bytes, str]:
    for member_name, member_shape in event_shape.members.items():
        if member_shape.serialization.get("eventpayload"):
            item = value.get(member_name)
            if member_shape.type_name == "blob":
                return (bytes(item) if item is not None else b""), "application/octet-stream"
            if member_shape.type_name == "string":
                return (item or "").encode("utf-8"), "text/plain"
            if item is None:
                return b"", "application/xml" if xml else "application/json"
            return _structure(member_shape, item, xml, name)
    body = {key: item for key, item in value.items()
            if not event_shape.members[key].serialization.get("eventheader")}
    if not body:
        return b"", "application/xml" if xml else "application/json"
    return _structure(event_shape, body, xml, name)


def _structure(shape: Shape, value: dict[str, Any], xml: bool, name: str) -> tuple[bytes, str]:
    if xml:
        parts: list[str] = []
        _XML.structure(parts, shape, value, name)
        return "".join(parts).encode("utf-8"), "text/xml"
    document = json_structure(shape, value) if shape.type_name == "structure" else json_value(shape, value)
    return dump_json(document), "application/json"


def encode_event_stream(stream_shape: Shape, events: Iterable[dict[str, Any]], xml: bool) -> Iterator[bytes]:
    """The messages of ``events`` (each ``{"EventName": {...}}``) for an event-stream member."""
    for event in events:
        for name, value in event.items():
            event_shape = stream_shape.members[name]
            value = value or {}
            payload, content_type = _event_payload(event_shape, value, xml, name)
            headers = _header(":event-type", name) + _header(":message-type", "event")
            if payload:
                headers += _header(":content-type", content_type)
            for member_name, member_shape in event_shape.members.items():
                if member_shape.serialization.get("eventheader") and value.get(member_name) is not None:
                    headers += _header(member_name, value[member_name], member_shape)
            yield encode_message(headers, payload)
