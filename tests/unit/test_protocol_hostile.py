"""Input no SDK sends, found by the API fuzzer: each is the client's mistake (a 4xx), never a crash."""

from __future__ import annotations

import json

import pytest
from botocore.parsers import create_parser

from controller.errors import ServiceError
from controller.protocol import (
    HttpRequest,
    load_service_model,
    parse_request,
    serialize_error,
    serialize_response,
)
from controller.protocol.json_protocol import dump_json
from controller.protocol.shapes import compiled_pattern
from controller.protocol.xmlcodec import escape_attribute, escape_text

TARGET = "AWSOrganizationsV20161128.ListAccounts"


def organizations_call(body: bytes) -> HttpRequest:
    return HttpRequest("POST", "/", headers={"x-amz-target": TARGET, "content-type": "application/x-amz-json-1.1"},
                       body=body)


def refusal(body: bytes) -> ServiceError:
    operation = load_service_model("organizations").operation_model("ListAccounts")
    with pytest.raises(ServiceError) as caught:
        parse_request(operation, organizations_call(body))
    return caught.value


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,           # deeper than Python's parser recurses
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"MaxResults": NaN}', b'{"MaxResults": Infinity}', b'{"MaxResults": -Infinity}',  # not JSON (RFC 8259)
])
def test_unparseable_json_is_a_serialization_error(body: bytes) -> None:
    error = refusal(body)
    assert (error.code, error.status) == ("SerializationException", 400)


@pytest.mark.parametrize("body", [b'{"MaxResults": 1e999}', b'{"MaxResults": 1.5}', b'{"NextToken": "\\ud800"}'])
def test_values_that_parse_but_are_not_of_the_type_are_refused(body: bytes) -> None:
    error = refusal(body)
    assert error.status == 400 and error.code in ("SerializationException", "InvalidInputException")


def test_a_lone_surrogate_in_output_is_still_valid_json() -> None:
    assert json.loads(dump_json({"a": "x\ud800é"})) == {"a": "x\ud800é"}
    assert dump_json({"a": "é"}) == '{"a":"é"}'.encode()


def test_control_characters_are_written_as_references_as_s3_does() -> None:
    assert escape_text("a\x15b\r\n\t<&") == "a&#x15;b&#xD;\n\t&lt;&amp;"
    assert escape_attribute("\x01\n\"") == "&#x1;&#xA;&quot;"
    assert escape_text("\ud800") == "\ufffd"


def test_xml_response_echoing_hostile_input_is_utf8() -> None:
    operation = load_service_model("s3").operation_model("ListBuckets")
    response = serialize_response(operation, {"Buckets": [], "Prefix": "\x15\ud800<"}, "rid")
    body = bytes(response.body)
    assert b"<Prefix>&#x15;\xef\xbf\xbd&lt;</Prefix>" in body


@pytest.mark.parametrize("service", ["sts", "ec2", "s3"])
def test_errors_echoing_control_characters_stay_parseable(service: str) -> None:
    """An XML error quoting a client's control character spells it out, so botocore still reads the code."""
    model = load_service_model(service)
    error = ServiceError("Value 'a\x18b' at 'name' is bad <x>", code="ValidationError", Key="k\x01")
    response = serialize_error(model, error, "rid")
    parsed = create_parser(model.metadata["protocol"]).parse(
        {"status_code": response.status, "headers": response.headers, "body": response.body}, None)
    assert parsed["Error"]["Code"] == "ValidationError"
    assert parsed["Error"]["Message"] == "Value 'a\\u0018b' at 'name' is bad <x>"


@pytest.mark.parametrize(("name", "valid"), [("alice", True), ("a.b+c=d,e@f-g_h", True), ("ü", False),
                                              ("名前", False), ("a b", False)])
def test_name_patterns_are_ascii_as_in_aws_java_regexes(name: str, valid: bool) -> None:
    pattern = compiled_pattern(load_service_model("iam").shape_for("userNameType"))
    assert pattern is not None and bool(pattern.fullmatch(name)) is valid
