"""Every operation of the served services, both directions, against botocore's own client code.

Requests: a deterministic generator fills each operation's input shape, botocore's client
serializer turns it into HTTP, and ``find_operation`` + ``parse_request`` must give back
that operation and those params. Responses: the generator fills the output shape,
``serialize_response`` renders it, and botocore's client parser must read the same dict.
Errors: every modeled error shape through ``serialize_error`` and botocore's parser.
The last test prints how many operations pass per service.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.handlers import parse_get_bucket_location
from botocore.model import OperationModel, Shape
from botocore.parsers import create_parser
from botocore.response import StreamingBody
from botocore.serialize import create_serializer
from urllib3 import HTTPHeaderDict

from controller.errors import ServiceError
from controller.protocol import (
    HttpRequest,
    find_operation,
    load_service_model,
    parse_request,
    serialize_error,
    serialize_response,
)
from controller.protocol.faults import rules_for
from controller.protocol.models import Member
from controller.protocol.routing import compile_route
from controller.protocol.shapes import compiled_pattern
from controller.protocol.xmlcodec import element_name

SERVICES = ("ec2", "iam", "sts", "s3", "sqs", "sns", "lambda", "cloudtrail", "organizations")
ENDPOINT = "https://cloudlet.test"
WHEN = dt.datetime(2024, 5, 17, 12, 30, 45, tzinfo=dt.UTC)
# Characters that need escaping in XML, JSON, URLs and forms, plus non-ASCII.
TRICKY = "a<b>&'\"c ü€+%/="
HEADER_SAFE = "v<a>&'l ue"
MAX_DEPTH = 10

RESULTS: dict[str, Counter[str]] = {}


# ---------------------------------------------------------------------------------------
# a string that satisfies a regular expression (for the services that enforce patterns)


def _sample_for_pattern(pattern: re.Pattern[str], extra: int) -> str:
    import re._constants as c
    import re._parser as sre_parse

    def pick(items: list[Any]) -> str:
        negate = items and items[0][0] is c.NEGATE
        if negate:
            for candidate in "ab0_-. ":
                if re.fullmatch(f"[{pattern_text_of(items)}]", candidate) is None:
                    return candidate
            return "a"
        for op, av in items:
            if op is c.LITERAL:
                return chr(av)
            if op is c.RANGE:
                low, high = av
                return "a" if low <= ord("a") <= high else chr(low)
            if op is c.CATEGORY:
                return {c.CATEGORY_DIGIT: "0", c.CATEGORY_SPACE: " "}.get(av, "a")
        return "a"

    def pattern_text_of(items: list[Any]) -> str:
        return "".join(re.escape(chr(av)) for op, av in items[1:] if op is c.LITERAL)

    def walk(parsed: Any) -> str:
        out = []
        for op, av in parsed:
            if op is c.LITERAL:
                out.append(chr(av))
            elif op is c.NOT_LITERAL:
                out.append("a" if av != ord("a") else "b")
            elif op is c.ANY:
                out.append("a")
            elif op is c.IN:
                out.append(pick(av))
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
                low, high, sub = av
                count = max(low, 1)
                count = min(count + extra, high) if high is not c.MAXREPEAT else count + extra
                out.append(walk(sub) * count)
            elif op is c.SUBPATTERN:
                out.append(walk(av[-1]))
            elif op is c.BRANCH:
                out.append(walk(av[1][0]))
            elif op is c.CATEGORY:
                out.append(pick([(op, av)]))
        return "".join(out)

    return walk(sre_parse.parse(pattern.pattern, pattern.flags))


# ---------------------------------------------------------------------------------------
# the value generator


class Generator:
    """Deterministic values for shapes: every member filled, lists and maps of two."""

    def __init__(self, service: str, for_input: bool) -> None:
        self.rules = rules_for(service)
        self.for_input = for_input

    def structure(self, shape: Shape, depth: int = 0) -> dict[str, Any]:
        result: dict[str, Any] = {}
        members = shape.members
        if shape.metadata.get("union"):
            members = dict(list(members.items())[:1])
        required = shape.metadata.get("required", [])
        shadowed = shadowed_members(shape)
        for name, member in members.items():
            if name in shadowed:
                continue
            if member.serialization.get("eventstream") and self.for_input:
                continue
            if depth >= MAX_DEPTH and name not in required:
                continue
            location = member.serialization.get("location")
            value = self.value(member, depth + 1, location, name)
            if value is not None:
                result[name] = value
        return result

    def value(self, shape: Shape, depth: int, location: str | None, name: str = "") -> Any:
        kind = shape.type_name
        if location == "statusCode":
            return 200
        if shape.serialization.get("hostLabel"):
            return "route-1"
        if shape.serialization.get("eventstream"):
            return [{event: self.structure(event_shape, depth)} for event, event_shape in shape.members.items()
                    if not event_shape.metadata.get("exception")]
        if kind == "structure":
            if shape.is_document_type:
                return {"doc": [1, "two", {"three": True}]}
            if depth > MAX_DEPTH + 2:
                return None
            value = self.structure(shape, depth)
            return value or None
        if kind == "list":
            item = shape.member
            count = min(2, shape.metadata.get("max", 2))
            items = [self.value(item, depth + 1, None, name) for _ in range(count)]
            items = [entry for entry in items if entry is not None]
            if item.type_name == "string" and len(set(items)) < len(items):
                items = [f"{entry}{index}" if self._string_ok(item, f"{entry}{index}") else entry
                         for index, entry in enumerate(items)]
            return items or None
        if kind == "map":
            if location == "headers":
                return {"color": "blue", "shape-x": HEADER_SAFE}
            keys = []
            for index in range(2):
                key = self.string(shape.key, location, suffix=str(index))
                if key not in keys:
                    keys.append(key)
            values = {key: self.value(shape.value, depth + 1, None, name) for key in keys}
            return {key: item for key, item in values.items() if item is not None} or None
        if kind == "string":
            if shape.serialization.get("jsonvalue"):
                return {"json": ["value", 1]}
            return self.string(shape, location)
        if kind in ("integer", "long"):
            return self._clamp(shape, 7)
        if kind in ("float", "double"):
            return float(self._clamp(shape, 1.5))
        if kind == "boolean":
            return True
        if kind == "timestamp":
            return WHEN
        if kind == "blob":
            return b"\x00\x01bin\xffary" if location is None else b"payload \x00\xff bytes"
        return None

    def _clamp(self, shape: Shape, value: float) -> float:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            value = low
        if high is not None and value > high:
            value = high
        return value

    def _string_ok(self, shape: Shape, text: str) -> bool:
        metadata = shape.metadata
        if "enum" in metadata and text not in metadata["enum"]:
            return False
        if len(text) < metadata.get("min", 0) or len(text) > metadata.get("max", 1 << 30):
            return False
        if self.rules.pattern and "pattern" in metadata:
            compiled = compiled_pattern(shape)
            return compiled is None or compiled.fullmatch(text) is not None
        return True

    def string(self, shape: Shape, location: str | None, suffix: str = "") -> str:
        metadata = shape.metadata
        if "enum" in metadata:
            return metadata["enum"][0]
        base = HEADER_SAFE if location in ("header", "headers") else TRICKY
        for candidate in (base + suffix, "name" + suffix, "a" * max(1, metadata.get("min", 1))):
            if self._string_ok(shape, candidate):
                return candidate
        compiled = compiled_pattern(shape)
        if compiled is not None:
            for extra in range(0, 64):
                candidate = _sample_for_pattern(compiled, extra)
                if self._string_ok(shape, candidate):
                    return candidate
        return ("x" * metadata.get("min", 1))[: metadata.get("max", 1 << 30)]


# ---------------------------------------------------------------------------------------
# normalization: what legitimately differs between the two sides


def shadowed_members(shape: Shape) -> set[str]:
    """Members whose XML element an earlier member already uses (S3's deprecated ``Event``
    next to the flattened ``Events`` list): the wire cannot tell them apart, so neither side
    can round-trip both."""
    seen: set[str] = set()
    shadowed = set()
    for name, member in shape.members.items():
        element = element_name(Member(name, member.serialization.get("name", name), member, None))
        if element in seen:
            shadowed.add(name)
        seen.add(element)
    return shadowed


def drop_shadowed(shape: Shape | None, value: Any) -> Any:
    """``value`` without the members :func:`shadowed_members` names, at any depth."""
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict) and not shape.is_document_type:
        shadowed = shadowed_members(shape)
        return {key: drop_shadowed(shape.members[key], item) if key in shape.members else item
                for key, item in value.items() if key not in shadowed}
    if kind == "list" and isinstance(value, list):
        return [drop_shadowed(shape.member, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: drop_shadowed(shape.value, item) for key, item in value.items()}
    return value


def normalize(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: normalize(item) for key, item in value.items()
                if item is not None and key != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [normalize(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if hasattr(value, "read"):
        return value.read()
    return value


def same(expected: Any, actual: Any) -> bool:
    """Compare, treating a blob that came back as text as its UTF-8 bytes."""
    expected, actual = normalize(expected), normalize(actual)
    return _same(expected, actual)


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bytes) and isinstance(actual, str):
        return expected == actual.encode("utf-8", "surrogateescape") or expected.decode("utf-8", "replace") == actual
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(_same(expected[k], actual[k]) for k in expected)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(_same(e, a) for e, a in zip(expected, actual, strict=True))
    return expected == actual


# ---------------------------------------------------------------------------------------
# botocore client request -> HttpRequest


def to_http_request(service: str, operation: OperationModel, params: dict[str, Any]) -> HttpRequest:
    protocol = operation.service_model.metadata["protocol"]
    serializer = create_serializer(protocol, include_validation=False)
    request_dict = serializer.serialize_to_request(params, operation)
    prepare_request_dict(request_dict, endpoint_url=ENDPOINT)
    prepared = create_request_object(request_dict).prepare()
    url = urlsplit(prepared.url)
    headers = {key.lower(): value.decode() if isinstance(value, bytes) else value
               for key, value in prepared.headers.items()}
    headers.setdefault("host", url.netloc)
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240517/us-east-1/"
                                f"{operation.service_model.signing_name}/aws4_request, SignedHeaders=host, "
                                "Signature=0")
    body = prepared.body
    if body is None:
        body = b""
    elif isinstance(body, str):
        body = body.encode("utf-8")
    elif hasattr(body, "read"):
        body = body.read()
    return HttpRequest(prepared.method, url.path or "/", parse_qsl(url.query, keep_blank_values=True),
                       headers, body, url.query)


def equivalent(chosen: OperationModel, wanted: OperationModel) -> bool:
    """Two operations the wire cannot tell apart (a deprecated one and its successor)."""
    if chosen.name == wanted.name:
        return True
    route_a, route_b = compile_route(chosen), compile_route(wanted)
    return wanted.deprecated and chosen.http == wanted.http and route_a.literal_query == route_b.literal_query


def _cases() -> Iterator[Any]:
    for service in SERVICES:
        model = load_service_model(service)
        for name in model.operation_names:
            yield pytest.param(service, name, id=f"{service}.{name}")


CASES = list(_cases())


@pytest.mark.parametrize(("service", "operation_name"), CASES)
def test_request_roundtrip(service: str, operation_name: str) -> None:
    model = load_service_model(service)
    operation = model.operation_model(operation_name)
    params = Generator(service, for_input=True).structure(operation.input_shape) if operation.input_shape else {}
    request = to_http_request(service, operation, params)
    tally = RESULTS.setdefault(service, Counter())
    chosen = find_operation(model, request)
    assert equivalent(chosen, operation), f"routed to {chosen.name}"
    parsed = drop_shadowed(operation.input_shape, parse_request(operation, request))
    assert same(params, parsed), f"\nsent   {normalize(params)}\nparsed {normalize(parsed)}"
    tally["request"] += 1


class _RawStream:
    """What botocore's EventStream reads chunks from."""

    def __init__(self, chunks: Any) -> None:
        self.chunks = chunks

    def stream(self) -> Iterator[bytes]:
        yield from self.chunks

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("service", "operation_name"), CASES)
def test_response_roundtrip(service: str, operation_name: str) -> None:
    model = load_service_model(service)
    operation = model.operation_model(operation_name)
    shape = operation.output_shape
    output = Generator(service, for_input=False).structure(shape) if shape is not None else {}
    response = serialize_response(operation, output, "req-0001")
    body = response.body
    stream_member = None
    if shape is not None and "payload" in shape.serialization:
        payload = shape.members[shape.serialization["payload"]]
        if payload.serialization.get("eventstream"):
            stream_member = shape.serialization["payload"]
    if stream_member is not None:
        raw: Any = _RawStream(body)
    else:
        raw = body if isinstance(body, bytes) else b"".join(body)
        if operation.has_streaming_output:
            raw = StreamingBody(io.BytesIO(raw), len(raw))
    http_response = {"status_code": response.status, "headers": HTTPHeaderDict(response.headers), "body": raw,
                     "context": {"operation_name": operation.name}}
    parsed = drop_shadowed(shape, create_parser(model.metadata["protocol"]).parse(http_response, shape))
    if (service, operation_name) == ("s3", "GetBucketLocation"):
        parse_get_bucket_location(parsed, SimpleNamespace(raw=True, content=raw))
    if stream_member is not None:
        parsed[stream_member] = list(parsed[stream_member])
    assert parsed["ResponseMetadata"]["RequestId"] == "req-0001"
    assert same(output, parsed), f"\nsent   {normalize(output)}\nparsed {normalize(parsed)}"
    RESULTS.setdefault(service, Counter())["response"] += 1


def _error_cases() -> Iterator[Any]:
    for service in SERVICES:
        model = load_service_model(service)
        for shape in model.error_shapes:
            yield pytest.param(service, shape.name, id=f"{service}.{shape.name}")
        yield pytest.param(service, "SomethingUnmodeled", id=f"{service}.unmodeled")


@pytest.mark.parametrize(("service", "code"), list(_error_cases()))
def test_error_roundtrip(service: str, code: str) -> None:
    model = load_service_model(service)
    operation = model.operation_model(model.operation_names[0])
    error = ServiceError("It went <wrong> & \"badly\"", code=code, status=418)
    response = serialize_error(model, error, "req-0002", operation)
    http_response = {"status_code": response.status, "headers": HTTPHeaderDict(response.headers),
                     "body": response.body, "context": {"operation_name": operation.name}}
    parsed = create_parser(model.metadata["protocol"]).parse(http_response, operation.output_shape)
    shape = model.shape_for(code) if code in model.shape_names else None
    modeled = shape.metadata.get("error", {}) if shape is not None else {}
    expected_code = modeled.get("code", code)
    if model.metadata.get("awsQueryCompatible") is not None and parsed["Error"].get("QueryErrorCode"):
        assert parsed["Error"]["QueryErrorCode"] == code
    else:
        assert parsed["Error"]["Code"] == expected_code
    assert parsed["Error"]["Message"] == error.message
    assert response.status == modeled.get("httpStatusCode", 418)
    assert parsed["ResponseMetadata"]["RequestId"] == "req-0002"
    RESULTS.setdefault(service, Counter())["error"] += 1


def test_zz_roundtrip_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Print the per-service tally (runs last in this module)."""
    with capsys.disabled():
        print("\nprotocol round trips passed (requests / responses / errors of operations):")
        for service in SERVICES:
            model = load_service_model(service)
            tally = RESULTS.get(service, Counter())
            print(f"  {service:14} {tally['request']:4} / {tally['response']:4} of {len(model.operation_names):4}"
                  f" operations, {tally['error']:3} errors")

