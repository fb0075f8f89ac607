"""Requests botocore serializes correctly, then broken a little: the classic mutation fuzzer.

A well-formed body cut short, with a byte flipped or a metacharacter of its format
inserted, stresses the parsers (form, JSON, XML) far more than random bytes, which are
refused at the first character. Pure: builds :class:`~tests.fuzz.raw.RawCase` values only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from botocore.model import OperationModel
from botocore.serialize import create_serializer
from hypothesis import strategies as st

from tests.fuzz.raw import RawCase

INSERTS: tuple[bytes, ...] = (b"<", b">", b"&", b"\x00", b"\xff", b'"', b"{", b"}", b"[", b"]", b",", b":", b"=",
                              b"&&", b"%", b"%zz", b"]]>", b"<!--", b"<?xml", b"\\u", b"\\ud800", b"1e999", b"null",
                              b".member.", b".1.", b"&Action=", b"</Tagging>", b"<a>" * 50)


def serialized(operation: OperationModel, params: dict[str, Any]) -> RawCase | None:
    """The request botocore's serializer makes of ``params`` (None if it cannot, or streams a body)."""
    protocol = operation.service_model.metadata["protocol"]
    try:
        request = create_serializer(protocol, include_validation=False).serialize_to_request(params, operation)
    except Exception:  # noqa: BLE001  (hostile values botocore will not write)
        return None
    body = request["body"]
    if isinstance(body, dict):
        body = urlencode(body).encode()
    elif isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    elif not isinstance(body, bytes):
        return None
    target = request["url_path"]
    query = request["query_string"]
    if query:
        target += ("&" if "?" in target else "?") + (query if isinstance(query, str) else urlencode(query, doseq=True))
    headers = tuple((name, str(value)) for name, value in request["headers"].items())
    return RawCase(f"mutated {operation.name}", request["method"], target, body, headers)


def has_document_body(operation: OperationModel) -> bool:
    """True when the request body is a document of the protocol (form, JSON, XML), not data or nothing."""
    shape = operation.input_shape
    if operation.service_model.metadata["protocol"] in ("query", "ec2", "json"):
        return True
    if shape is None:
        return False
    payload = shape.serialization.get("payload")
    if payload:
        return shape.members[payload].type_name == "structure"
    return any("location" not in member.serialization for member in shape.members.values())


def mutated(body: bytes) -> st.SearchStrategy[bytes]:
    """``body`` truncated, with a byte replaced, with a format metacharacter inserted, or doubled."""
    size = len(body)
    options = [
        st.integers(0, size).map(lambda cut: body[:cut]),
        st.tuples(st.integers(0, size), st.sampled_from(INSERTS)).map(
            lambda edit: body[:edit[0]] + edit[1] + body[edit[0]:]),
        st.just(body + body),
    ]
    if size:
        options.append(st.tuples(st.integers(0, size - 1), st.integers(0, 255)).map(
            lambda edit: body[:edit[0]] + bytes([edit[1]]) + body[edit[0] + 1:]))
    return st.one_of(options)
