"""Session Manager's binary AgentMessage: the frame every byte of a session travels in, both directions.

Pure encode/decode so the layout can be tested byte by byte. Big-endian, a 116-byte header after its own
length field, as AWS's agent, session-manager-plugin and the ssm-session npm client write it:

    @0 HeaderLength u32 (116)   @4 MessageType 32 bytes   @36 SchemaVersion u32   @40 CreatedDate u64 (ms)
    @48 SequenceNumber i64      @56 Flags u64             @64 MessageId 16 bytes  @80 PayloadDigest 32 bytes
    @112 PayloadType u32        @116 PayloadLength u32    @120 Payload
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

HEADER_LENGTH = 116
SCHEMA_VERSION = 1
MESSAGE_TYPE_SIZE = 32
_HEADER = struct.Struct(">I32sIQqQ16s32sII")  # everything up to the payload: 120 bytes

INPUT_STREAM_DATA = "input_stream_data"
OUTPUT_STREAM_DATA = "output_stream_data"
ACKNOWLEDGE = "acknowledge"
CHANNEL_CLOSED = "channel_closed"

# PayloadType values.
OUTPUT, ERROR, SIZE, PARAMETER = 1, 2, 3, 4
HANDSHAKE_REQUEST, HANDSHAKE_RESPONSE, HANDSHAKE_COMPLETE = 5, 6, 7
FLAG, STDERR, EXIT_CODE = 10, 11, 12
#: AWS's Flags value for acknowledge messages (data messages carry 0).
ACK_FLAGS = 3

# Flag payloads: AWS sends a big-endian uint32; names are accepted too (see :func:`flag_name`).
FLAG_NAMES = {1: "DisconnectToPort", 2: "TerminateSession", 3: "ConnectToPortError"}


class AgentMessageError(ValueError):
    """Bytes that are not an AgentMessage: too short, or lengths that do not add up."""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class AgentMessage:
    message_type: str
    sequence_number: int
    payload_type: int
    payload: bytes
    message_id: uuid.UUID = field(default_factory=uuid.uuid4)
    flags: int = 0
    created_date: int = field(default_factory=now_ms)  # epoch milliseconds
    schema_version: int = SCHEMA_VERSION


def swap_uuid_halves(raw: bytes) -> bytes:
    """AWS stores a MessageId with its two 8-byte halves swapped (Java's least/most significant bits order);
    the swap is its own inverse, so it both encodes and decodes."""
    return raw[8:16] + raw[0:8]


def encode(message: AgentMessage) -> bytes:
    """The wire bytes of ``message``: MessageType space-padded on the right, the payload's raw SHA-256."""
    message_type = message.message_type.encode("ascii")
    if len(message_type) > MESSAGE_TYPE_SIZE:
        raise AgentMessageError(f"message type {message.message_type!r} is longer than {MESSAGE_TYPE_SIZE}")
    digest = hashlib.sha256(message.payload).digest()
    header = _HEADER.pack(HEADER_LENGTH, message_type.ljust(MESSAGE_TYPE_SIZE, b" "), message.schema_version,
                          message.created_date, message.sequence_number, message.flags,
                          swap_uuid_halves(message.message_id.bytes), digest, message.payload_type,
                          len(message.payload))
    return header + message.payload


def decode(data: bytes) -> AgentMessage:
    """Parses wire bytes. The digest is not checked: the ssm-session npm client writes the first 32 hex
    characters of it instead of the raw bytes, and the websocket already guarantees integrity."""
    if len(data) < _HEADER.size:
        raise AgentMessageError(f"an agent message is at least {_HEADER.size} bytes, got {len(data)}")
    (header_length, message_type, schema_version, created_date, sequence_number, flags, message_id, _digest,
     payload_type, _) = _HEADER.unpack_from(data)
    if not HEADER_LENGTH <= header_length <= len(data) - 4:
        raise AgentMessageError(f"header length {header_length} does not fit a {len(data)}-byte message")
    # PayloadType ends and PayloadLength starts where HeaderLength says, so a longer header still parses.
    (payload_type,) = struct.unpack_from(">I", data, header_length - 4)
    (payload_length,) = struct.unpack_from(">I", data, header_length)
    start = header_length + 4
    if start + payload_length > len(data):
        raise AgentMessageError(f"payload length {payload_length} runs past the {len(data)}-byte message")
    return AgentMessage(
        message_type=message_type.strip(b" \x00").decode("ascii", errors="replace"),
        sequence_number=sequence_number, payload_type=payload_type,
        payload=bytes(data[start:start + payload_length]),
        message_id=uuid.UUID(bytes=swap_uuid_halves(message_id)), flags=flags, created_date=created_date,
        schema_version=schema_version)


def acknowledgement(acknowledged: AgentMessage) -> AgentMessage:
    """The ``acknowledge`` answer to a client's message, with the acknowledged sequence number (AWS's
    session-manager-plugin retransmits anything not acknowledged)."""
    content = {"AcknowledgedMessageType": acknowledged.message_type,
               "AcknowledgedMessageId": str(acknowledged.message_id),
               "AcknowledgedMessageSequenceNumber": acknowledged.sequence_number,
               "IsSequentialMessage": True}
    return AgentMessage(ACKNOWLEDGE, acknowledged.sequence_number, 0, json.dumps(content).encode(),
                        flags=ACK_FLAGS)


def flag_name(payload: bytes) -> str:
    """A Flag payload's name: AWS sends a big-endian uint32 (1, 2, 3); a text name is accepted as well."""
    if len(payload) == 4:
        return FLAG_NAMES.get(struct.unpack(">I", payload)[0], "")
    return payload.decode("utf-8", errors="replace").strip().strip('"')


def json_payload(message: AgentMessage) -> dict[str, Any]:
    """A JSON payload (size, acknowledge, channel_closed), or {} when it is not a JSON object."""
    try:
        parsed = json.loads(message.payload or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
