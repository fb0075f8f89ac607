"""JSON bodies, driven by shapes: the ``json`` protocol and rest-json bodies.

Reading checks JSON types against the shape (a string where an integer belongs is the
client's mistake, never a 500) and converts timestamps and base64 blobs; writing converts
back (timestamps as epoch seconds unless ``timestampFormat`` says otherwise).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from controller.errors import ServiceError
from controller.protocol.faults import SQS_QUERY_CODES, InputError
from controller.protocol.http import HttpRequest, HttpResponse
from controller.protocol.models import is_query_compatible, members_of
from controller.protocol.shapes import base64_text
from controller.protocol.timestamps import format_timestamp, parse_timestamp

_JSON_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


def _mismatch(expected: str, value: Any) -> InputError:
    found = _JSON_NAMES.get(type(value), "null")
    return InputError("malformed", f"Expected {expected} but found a JSON {found}.", value=value)


def load_json_body(body: bytes) -> dict[str, Any]:
    """The request's JSON object ({} for an empty body); InputError(``malformed``) otherwise."""
    if not body or not body.strip():
        return {}
    try:
        document = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError("malformed", f"Malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise InputError("malformed", "Malformed JSON: the document is nested too deeply.") from exc
    if not isinstance(document, dict):
        raise _mismatch("an object", document)
    return document


def _reject_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON (RFC 8259), though Python's parser takes them."""
    raise ValueError(f"{name} is not a JSON value")


def read_json_structure(shape: Shape, document: dict[str, Any]) -> dict[str, Any]:
    """The structure's value from a JSON object (members bound to HTTP locations are skipped)."""
    result: dict[str, Any] = {}
    for member in members_of(shape):
        if member.location is not None:
            continue
        raw = document.get(member.wire)
        if raw is None:
            continue
        try:
            result[member.name] = read_json_value(member.shape, raw)
        except InputError as problem:
            raise problem.under(member.name, member.wire) from None
    return result


def read_json_value(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return value
        if not isinstance(value, dict):
            raise _mismatch("an object", value)
        return read_json_structure(shape, value)
    if kind == "list":
        if not isinstance(value, list):
            raise _mismatch("an array", value)
        items = []
        for index, item in enumerate(value, 1):
            try:
                items.append(None if item is None else read_json_value(shape.member, item))
            except InputError as problem:
                raise problem.under(f"{index}.member", str(index)) from None
        return items
    if kind == "map":
        if not isinstance(value, dict):
            raise _mismatch("an object", value)
        result = {}
        for key, item in value.items():
            try:
                result[_unicode_text(key)] = None if item is None else read_json_value(shape.value, item)
            except InputError as problem:
                raise problem.under(key, key) from None
        return result
    return _read_scalar(kind, value)


def _unicode_text(text: str) -> str:
    """The string, if it is Unicode text: ``"\\ud800"`` parses to a lone surrogate, which is not."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError("malformed", "Invalid UTF-16 surrogate in a JSON string.", value=text) from exc
    return text


def _read_scalar(kind: str, value: Any) -> Any:
    if kind == "string":
        if not isinstance(value, str):
            raise _mismatch("a string", value)
        return _unicode_text(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _mismatch("a boolean", value)
        return value
    if kind in ("integer", "long"):
        # 1e999 parses as an infinite float: not an integer, like any other fraction.
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                isinstance(value, float) and not value.is_integer()):
            raise _mismatch("an integer", value)
        return int(value)
    if kind in ("float", "double"):
        if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _mismatch("a number", value)
        return value
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _mismatch("a timestamp", value)
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            raise InputError("malformed", str(exc), value=value) from exc
    if kind == "blob":
        if not isinstance(value, str):
            raise _mismatch("a base64 string", value)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InputError("malformed", "Invalid base64 value.", value=value) from exc
    return value


# ---------------------------------------------------------------------------------------
# writing


def json_structure(shape: Shape, value: dict[str, Any]) -> dict[str, Any]:
    """A structure value as a JSON-ready dict (members bound to HTTP locations are skipped)."""
    result: dict[str, Any] = {}
    for member in members_of(shape):
        if member.location is not None:
            continue
        item = value.get(member.name)
        if item is not None:
            result[member.wire] = json_value(member.shape, item)
    return result


def json_value(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return value if shape.is_document_type else json_structure(shape, value)
    if kind == "list":
        item_shape = shape.member
        return [json_value(item_shape, item) for item in value if item is not None]
    if kind == "map":
        value_shape = shape.value
        return {str(key): json_value(value_shape, item) for key, item in value.items() if item is not None}
    if kind == "string":
        return value if isinstance(value, str) else str(value)
    if kind in ("integer", "long"):
        return int(value)
    if kind in ("float", "double"):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return value if isinstance(value, int | float) and not isinstance(value, bool) else number
    if kind == "boolean":
        return bool(value)
    if kind == "timestamp":
        return format_timestamp(value, shape.serialization.get("timestampFormat", "unixTimestamp"))
    if kind == "blob":
        return base64_text(value)
    return value


def dump_json(document: Any) -> bytes:
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (from a document stored before input was checked) has no UTF-8 form;
        # as an escape it is still valid JSON.
        return json.dumps(document, separators=(",", ":")).encode("ascii")


def content_type(service_model: ServiceModel) -> str:
    return f"application/x-amz-json-{service_model.metadata.get('jsonVersion', '1.0')}"


def read_json_request(operation_model: OperationModel, request: HttpRequest) -> dict[str, Any]:
    shape = operation_model.input_shape
    document = load_json_body(request.body_bytes())
    if shape is None:
        return {}
    return read_json_structure(shape, document)


def write_json_response(operation_model: OperationModel, output: dict[str, Any], request_id: str) -> HttpResponse:
    shape = operation_model.output_shape
    document = json_structure(shape, output) if shape is not None else {}
    headers = {"Content-Type": content_type(operation_model.service_model), "x-amzn-RequestId": request_id}
    return HttpResponse(200, headers, dump_json(document))


def json_error_document(error: ServiceError, error_shape: Shape | None) -> dict[str, Any]:
    """``{"__type": code, "message": ...}`` plus extras, using the error shape's member names."""
    shape_members = error_shape.members if error_shape is not None else {}
    message_key = "Message" if "Message" in shape_members else "message"
    document: dict[str, Any] = {"__type": error_shape.name if error_shape is not None else error.code,
                                message_key: error.message}
    for name, value in error.extra.items():
        if value is None:
            continue
        member = shape_members.get(name)
        if member is not None:
            document[member.serialization.get("name", name)] = json_value(member, value)
        else:
            document[name] = value if isinstance(value, str | int | float | bool) else str(value)
    return document


def write_json_error(service_model: ServiceModel, error: ServiceError, request_id: str, status: int,
                     error_shape: Shape | None) -> HttpResponse:
    """A json-protocol error; query-compatible services (SQS) add their legacy query code."""
    document = json_error_document(error, error_shape)
    headers = {"Content-Type": content_type(service_model), "x-amzn-RequestId": request_id,
               "x-amzn-ErrorType": document["__type"]}
    if is_query_compatible(service_model):
        fault = "Sender" if error.sender_fault else "Receiver"
        headers["x-amzn-query-error"] = f"{query_error_code(service_model, error, error_shape)};{fault}"
    headers.update(error.headers)
    return HttpResponse(status, headers, dump_json(document))


def query_error_code(service_model: ServiceModel, error: ServiceError, error_shape: Shape | None) -> str:
    """The query-protocol code of an error: the model's legacy code, or SQS's from the table."""
    if error_shape is None:
        return error.code
    modeled = error_shape.metadata.get("error", {}).get("code")
    if modeled:
        return modeled
    if is_query_compatible(service_model):
        return SQS_QUERY_CODES.get(error_shape.name, error.code)
    return error.code
