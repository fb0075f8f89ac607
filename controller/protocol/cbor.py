"""The ``smithy-rpc-v2-cbor`` protocol, as far as Cloudlet speaks it: its errors.

No served service uses it, but clients of some unserved ones (CloudWatch, CodeBuild...)
send it first, and their calls are still answered in their own protocol. An error is a
CBOR map ``{"__type": code, "message": text}``; only text maps need encoding (RFC 8949).
"""

from __future__ import annotations

from controller.errors import ServiceError
from controller.protocol.http import HttpResponse

PROTOCOL = "smithy-rpc-v2-cbor"
_TEXT, _MAP = 3, 5


def _head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | info]) + length.to_bytes(size, "big")
    raise ValueError("a CBOR item of more than 2**64 bytes")


def encode_text_map(document: dict[str, str]) -> bytes:
    """A CBOR map of text strings to text strings."""
    out = bytearray(_head(_MAP, len(document)))
    for key, value in document.items():
        for text in (key, value):
            data = text.encode("utf-8")
            out += _head(_TEXT, len(data)) + data
    return bytes(out)


def write_cbor_error(error: ServiceError, request_id: str, status: int, query_code: str | None) -> HttpResponse:
    """An rpc-v2-cbor error; query-compatible services add their query code as json ones do."""
    headers = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor", "x-amzn-RequestId": request_id}
    if query_code is not None:
        headers["x-amzn-query-error"] = f"{query_code};{'Sender' if error.sender_fault else 'Receiver'}"
    headers.update(error.headers)
    return HttpResponse(status, headers, encode_text_map({"__type": error.code, "message": error.message}))
