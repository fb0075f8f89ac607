"""Lambda payloads of HTTP APIs: the 1.0 and 2.0 events, and how answers (2.0's simplified form too) are read."""

from __future__ import annotations

import base64
import json

import pytest

from controller.apigatewayv2.lambda_payloads import (
    BadAnswer,
    Incoming,
    event_v1,
    event_v2,
    response_v1,
    response_v2,
)


def _incoming(**changes: object) -> Incoming:
    values: dict = dict(
        method="POST", raw_path="/prod/items/7", raw_query="a=1&a=2&b=x", query=[("a", "1"), ("a", "2"), ("b", "x")],
        headers=[("content-type", "application/json"), ("cookie", "s=1; t=2"), ("x-m", "one"), ("x-m", "two")],
        body=b'{"k": 1}', source_ip="10.0.0.9", user_agent="curl/8", route_key="POST /items/{id}",
        stage="prod", api_id="abcdefghij", account_id="111111111111",
        domain_name="abcdefghij.execute-api.home-1.amazonaws.com", request_id="rid", time_epoch_ms=1_700_000_000_000,
        path_parameters={"id": "7"}, stage_variables={"env": "prod"},
        authorizer={"jwt": {"claims": {"sub": "u1"}, "scopes": ["read"]}})
    values.update(changes)
    return Incoming(**values)


def test_event_v2_joins_repeats_moves_cookies_and_names_the_route() -> None:
    event = event_v2(_incoming())
    assert event["version"] == "2.0" and event["routeKey"] == "POST /items/{id}"
    assert event["rawPath"] == "/prod/items/7" and event["rawQueryString"] == "a=1&a=2&b=x"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["headers"]["x-m"] == "one,two" and "cookie" not in event["headers"]
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["pathParameters"] == {"id": "7"} and event["stageVariables"] == {"env": "prod"}
    assert event["body"] == '{"k": 1}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {"method": "POST", "path": "/prod/items/7", "protocol": "HTTP/1.1",
                               "sourceIp": "10.0.0.9", "userAgent": "curl/8"}
    assert context["authorizer"] == {"jwt": {"claims": {"sub": "u1"}, "scopes": ["read"]}}
    assert context["domainPrefix"] == "abcdefghij" and context["time"] == "14/Nov/2023:22:13:20 +0000"


def test_event_v2_omits_what_is_absent_and_base64_encodes_binary() -> None:
    event = event_v2(_incoming(query=[], raw_query="", headers=[("content-type", "image/png")], body=b"\x89PNG",
                               path_parameters={}, stage_variables={}, authorizer=None))
    assert {"queryStringParameters", "pathParameters", "stageVariables", "cookies"}.isdisjoint(event)
    assert "authorizer" not in event["requestContext"]
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b"\x89PNG"
    assert "body" not in event_v2(_incoming(body=b""))


def test_event_v1_has_the_rest_proxy_shape() -> None:
    event = event_v1(_incoming())
    assert event["version"] == "1.0" and event["resource"] == "/items/{id}" and event["httpMethod"] == "POST"
    assert event["headers"]["x-m"] == "two" and event["multiValueHeaders"]["x-m"] == ["one", "two"]
    assert event["queryStringParameters"] == {"a": "2", "b": "x"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert event["requestContext"]["authorizer"] == {"claims": {"sub": "u1"}, "scopes": ["read"]}
    assert event["requestContext"]["identity"]["sourceIp"] == "10.0.0.9"
    empty = event_v1(_incoming(query=[], path_parameters={}, stage_variables={}))
    assert empty["queryStringParameters"] is None and empty["pathParameters"] is None


def test_response_v2_structured_and_simplified() -> None:
    full = response_v2(json.dumps({"statusCode": 201, "headers": {"x-a": "b"}, "cookies": ["c=1", "d=2"],
                                   "body": base64.b64encode(b"\x00\x01").decode(),
                                   "isBase64Encoded": True}).encode())
    assert full.status == 201 and full.body == b"\x00\x01"
    assert ("x-a", "b") in full.headers and [v for n, v in full.headers if n == "set-cookie"] == ["c=1", "d=2"]
    simple = response_v2(b'{"message": "hi"}')
    assert simple.status == 200 and json.loads(simple.body) == {"message": "hi"}
    assert ("content-type", "application/json") in simple.headers
    assert response_v2(b'"Hello from Lambda!"').body == b"Hello from Lambda!"
    assert response_v2(b"[1, 2]").body == b"[1, 2]"


@pytest.mark.parametrize("payload", [b"not json", b'{"statusCode": "abc"}', b'{"statusCode": 99}',
                                     b'{"statusCode": 200, "headers": []}',
                                     b'{"statusCode": 200, "body": "%%%", "isBase64Encoded": true}'])
def test_response_v2_malformed(payload: bytes) -> None:
    with pytest.raises(BadAnswer):
        response_v2(payload)


def test_response_v1_needs_status_and_merges_multi_value_headers() -> None:
    answer = response_v1(json.dumps({"statusCode": 200, "headers": {"a": "1", "b": "2"},
                                     "multiValueHeaders": {"b": ["3", "4"]}, "body": "ok"}).encode())
    assert answer.status == 200 and answer.body == b"ok"
    assert sorted(answer.headers) == [("a", "1"), ("b", "3"), ("b", "4")]
    with pytest.raises(BadAnswer):
        response_v1(b'{"message": "hi"}')
