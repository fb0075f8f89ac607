"""Pure: Session Manager's AgentMessage, the binary frame a session's client and agent exchange.

Big-endian: HeaderLength (uint32, 116), MessageType (32 bytes of ASCII, space-padded), SchemaVersion (uint32),
CreatedDate (uint64 epoch milliseconds), SequenceNumber (int64), Flags (uint64), MessageId (a UUID with its two
halves swapped), PayloadDigest (SHA-256 of the payload), PayloadType (uint32), PayloadLength (uint32), Payload.
The service only relays these frames; it builds one itself to tell both ends a session was terminated.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
import uuid
from dataclasses import dataclass, field

HEADER_LENGTH = 116
_HEADER = struct.Struct(">I32sIQqQ16s32sII")
CHANNEL_CLOSED = "channel_closed"
OUTPUT_STREAM_DATA = "output_stream_data"
INPUT_STREAM_DATA = "input_stream_data"
ACKNOWLEDGE = "acknowledge"
PAYLOAD_OUTPUT = 1


@dataclass(frozen=True)
class AgentMessage:
    message_type: str
    payload: bytes
    sequence_number: int = 0
    payload_type: int = PAYLOAD_OUTPUT
    flags: int = 0
    message_id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))


def _swapped(raw: bytes) -> bytes:
    return raw[8:16] + raw[0:8]


def encode(message: AgentMessage) -> bytes:
    header = _HEADER.pack(HEADER_LENGTH, message.message_type.encode().ljust(32), 1, message.created_ms,
                          message.sequence_number, message.flags, _swapped(message.message_id.bytes),
                          hashlib.sha256(message.payload).digest(), message.payload_type, len(message.payload))
    return header + message.payload


def decode(frame: bytes) -> AgentMessage:
    """The message in ``frame``; ValueError for a frame too short to hold one. The digest is not checked:
    some clients write a hex prefix there instead of the raw digest."""
    if len(frame) < _HEADER.size:
        raise ValueError(f"an AgentMessage needs at least {_HEADER.size} bytes, got {len(frame)}")
    (_, message_type, _, created_ms, sequence_number, flags, message_id, _, payload_type,
     payload_length) = _HEADER.unpack_from(frame)
    payload = frame[_HEADER.size:_HEADER.size + payload_length]
    return AgentMessage(message_type.decode("ascii", "replace").strip(" \x00"), payload, sequence_number,
                        payload_type, flags, uuid.UUID(bytes=_swapped(message_id)), created_ms)


def channel_closed(session_id: str, destination: str, output: str) -> bytes:
    """The frame that ends a session, as AWS's service sends it when a session is terminated."""
    message_id = uuid.uuid4()
    payload = json.dumps({"MessageType": CHANNEL_CLOSED, "MessageId": str(message_id), "SessionId": session_id,
                          "SchemaVersion": 1, "CreatedDate": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                          "DestinationId": destination, "Output": output}).encode()
    return encode(AgentMessage(CHANNEL_CLOSED, payload, message_id=message_id))
