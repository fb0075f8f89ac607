"""The ``smithy-rpc-v2-cbor`` protocol: CBOR bodies (RFC 8949), driven by shapes.

Smithy's RPC v2 protocol posts to ``/service/<Service>/operation/<Operation>`` with the
header ``smithy-protocol: rpc-v2-cbor``; input and output are CBOR maps keyed by member
name. Services moved to it from json or query (CloudWatch, CodeBuild...) and their models
list it first, so SDKs built on Smithy send it. Only the body differs from json: blobs are
byte strings, timestamps are tag 1 epoch seconds, and NaN and the infinities are native
floats. Decoding and encoding are cbor2's; this module checks the decoded values against
the shape (a text string where an integer belongs is the client's mistake, never a 500) and
builds the document botocore's ``RpcV2CBORParser`` reads, which knows no tag but 1.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any

import cbor2
from botocore.model import OperationModel, Shape

from controller.errors import ServiceError
from controller.protocol.faults import InputError
from controller.protocol.http import HttpRequest, HttpResponse
from controller.protocol.models import members_of
from controller.protocol.timestamps import coerce_datetime, format_epoch, to_utc

PROTOCOL = "smithy-rpc-v2-cbor"
CONTENT_TYPE = "application/cbor"
_EPOCH_TAG = 1

#: What a decoded value was on the wire (bool before int: True is an int to Python).
_CBOR_NAMES = {dict: "map", list: "array", str: "text string", bytes: "byte string", bool: "boolean",
               int: "integer", float: "float", dt.datetime: "timestamp"}


def _mismatch(expected: str, value: Any) -> InputError:
    found = next((name for kind, name in _CBOR_NAMES.items() if isinstance(value, kind)), None)
    return InputError("malformed", f"Expected {expected} but found a CBOR {found or 'value of another kind'}.",
                      value=value)


# ---------------------------------------------------------------------------------------
# reading


def load_cbor_body(body: bytes) -> dict[str, Any]:
    """The request's CBOR map ({} for an empty body); InputError(``malformed``) otherwise.

    The body must be exactly one data item: trailing bytes are as malformed as a cut-off item.
    """
    if not body:
        return {}
    stream = io.BytesIO(body)
    try:
        document = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, OverflowError, TypeError) as exc:
        raise InputError("malformed", f"Malformed CBOR: {exc}") from exc
    except RecursionError as exc:
        raise InputError("malformed", "Malformed CBOR: the document is nested too deeply.") from exc
    if stream.tell() != len(body):
        raise InputError("malformed", "Malformed CBOR: unexpected data after the request's map.")
    if not isinstance(document, dict):
        raise _mismatch("a map", document)
    return document


def _absent(value: Any) -> bool:
    """CBOR null and undefined both mean "not set", as botocore's parser takes them."""
    return value is None or value is cbor2.undefined


def read_cbor_structure(shape: Shape, document: dict[Any, Any]) -> dict[str, Any]:
    """The structure's value from a CBOR map keyed by member name (or the member's wire name)."""
    result: dict[str, Any] = {}
    for member in members_of(shape):
        raw = document.get(member.name)
        if _absent(raw) and member.wire != member.name:
            raw = document.get(member.wire)
        if _absent(raw):
            continue
        try:
            result[member.name] = read_cbor_value(member.shape, raw)
        except InputError as problem:
            raise problem.under(member.name, member.name) from None
    return result


def read_cbor_value(shape: Shape, value: Any) -> Any:
    """A decoded CBOR value as the shape's Python value; InputError(``malformed``) when of the wrong kind."""
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return value
        if not isinstance(value, dict):
            raise _mismatch("a map", value)
        return read_cbor_structure(shape, value)
    if kind == "list":
        if not isinstance(value, list | tuple):
            raise _mismatch("an array", value)
        items = []
        for index, item in enumerate(value, 1):
            try:
                items.append(None if _absent(item) else read_cbor_value(shape.member, item))
            except InputError as problem:
                raise problem.under(f"{index}.member", str(index)) from None
        return items
    if kind == "map":
        if not isinstance(value, dict):
            raise _mismatch("a map", value)
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _mismatch("a text string map key", key)
            try:
                result[key] = None if _absent(item) else read_cbor_value(shape.value, item)
            except InputError as problem:
                raise problem.under(key, key) from None
        return result
    return _read_scalar(kind, value)


def _read_scalar(kind: str, value: Any) -> Any:
    if kind == "string":
        if not isinstance(value, str):
            raise _mismatch("a text string", value)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _mismatch("a boolean", value)
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                isinstance(value, float) and not value.is_integer()):
            raise _mismatch("an integer", value)
        return int(value)
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _mismatch("a number", value)
        return value
    if kind == "timestamp":
        return _read_timestamp(value)
    if kind == "blob":
        if not isinstance(value, bytes | bytearray):
            raise _mismatch("a byte string", value)
        return bytes(value)
    return value


def _read_timestamp(value: Any) -> dt.datetime:
    """Tag 1 epoch seconds (cbor2 hands them over as datetimes); a bare number is taken as epoch seconds too."""
    if isinstance(value, dt.datetime):
        return to_utc(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _mismatch("a timestamp", value)
    try:
        return coerce_datetime(value)
    except (ValueError, OverflowError) as exc:
        raise InputError("malformed", f"Invalid timestamp: {value!r}.", value=value) from exc


def read_cbor_request(operation_model: OperationModel, request: HttpRequest) -> dict[str, Any]:
    """The operation's input dict from an rpc-v2-cbor request (an empty body is an empty input)."""
    document = load_cbor_body(request.body_bytes())
    shape = operation_model.input_shape
    if shape is None:
        return {}
    return read_cbor_structure(shape, document)


# ---------------------------------------------------------------------------------------
# writing


def cbor_structure(shape: Shape, value: dict[str, Any]) -> dict[str, Any]:
    """A structure value as a cbor2-ready dict keyed by member name (None members left out)."""
    result: dict[str, Any] = {}
    for member in members_of(shape):
        item = value.get(member.name)
        if item is not None:
            result[member.name] = cbor_value(member.shape, item)
    return result


def cbor_value(shape: Shape, value: Any) -> Any:
    """An output value as cbor2 should encode it for the shape."""
    kind = shape.type_name
    if kind == "structure":
        return value if shape.is_document_type else cbor_structure(shape, value)
    if kind == "list":
        item_shape = shape.member
        return [cbor_value(item_shape, item) for item in value if item is not None]
    if kind == "map":
        value_shape = shape.value
        return {_text(key): cbor_value(value_shape, item) for key, item in value.items() if item is not None}
    if kind == "string":
        return _text(value)
    if kind in ("integer", "long"):
        return int(value)
    if kind in ("float", "double"):
        return float(value)
    if kind == "boolean":
        return bool(value)
    if kind == "timestamp":
        return cbor2.CBORTag(_EPOCH_TAG, float(format_epoch(coerce_datetime(value))))
    if kind == "blob":
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return value


def _text(value: Any) -> str:
    """Text that has a UTF-8 form: a lone surrogate (stored before input was checked) is spelled out."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def dump_cbor(document: Any) -> bytes:
    """The CBOR encoding; floats stay doubles (or half-precision NaN/Infinity), which every client reads."""
    return cbor2.dumps(document)


def _headers(request_id: str) -> dict[str, str]:
    return {"Content-Type": CONTENT_TYPE, "smithy-protocol": "rpc-v2-cbor", "x-amzn-RequestId": request_id}


def write_cbor_response(operation_model: OperationModel, output: dict[str, Any], request_id: str) -> HttpResponse:
    """An rpc-v2-cbor answer: the output map, or no body at all for an operation without output."""
    shape = operation_model.output_shape
    body = b"" if shape is None else dump_cbor(cbor_structure(shape, output))
    return HttpResponse(200, _headers(request_id), body)


def cbor_error_document(error: ServiceError, error_shape: Shape | None) -> dict[str, Any]:
    """``{"__type": code, "message": ...}`` plus the error's extras, typed by the error shape's members."""
    shape_members = error_shape.members if error_shape is not None else {}
    message_key = "Message" if "Message" in shape_members else "message"
    document: dict[str, Any] = {"__type": error_shape.name if error_shape is not None else error.code,
                                message_key: _text(error.message)}
    for name, value in error.extra.items():
        if value is None:
            continue
        member = shape_members.get(name)
        if member is not None:
            document[name] = cbor_value(member, value)
        elif isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value)):
            document[name] = _text(value) if isinstance(value, str) else value
        else:
            document[name] = _text(value)
    return document


def write_cbor_error(error: ServiceError, request_id: str, status: int, query_code: str | None,
                     error_shape: Shape | None = None) -> HttpResponse:
    """An rpc-v2-cbor error; query-compatible services add their query code as json ones do."""
    headers = _headers(request_id)
    if query_code is not None:
        headers["x-amzn-query-error"] = f"{query_code};{'Sender' if error.sender_fault else 'Receiver'}"
    headers.update(error.headers)
    return HttpResponse(status, headers, dump_cbor(cbor_error_document(error, error_shape)))
