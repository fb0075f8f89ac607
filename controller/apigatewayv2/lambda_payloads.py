"""The events HTTP APIs send Lambda functions (payload formats 1.0 and 2.0) and how their answers are read.

Pure, over an :class:`Incoming` request: format 2.0 joins repeated headers and query values with commas,
moves cookies to ``cookies`` and reads a function's answer in the simplified form too (any JSON without
``statusCode`` is a 200 ``application/json`` body); format 1.0 is the REST API's proxy event and must answer
``statusCode``. A malformed answer is :class:`BadAnswer` (the gateway's 500 Internal Server Error).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

from controller.execute_api.request import InvokeResponse

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
               "application/x-www-form-urlencoded", "+json", "+xml")


class BadAnswer(Exception):
    """The function's answer is not one API Gateway can turn into an HTTP response."""


@dataclass(frozen=True)
class Incoming:
    """What the events are made of: the request, the route it matched and the authorizer's findings."""

    method: str
    raw_path: str                       # as requested, with the stage prefix of a named stage
    raw_query: str
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]      # lower-case names, repeated as sent
    body: bytes
    source_ip: str
    user_agent: str
    route_key: str
    stage: str
    api_id: str
    account_id: str
    domain_name: str
    request_id: str
    time_epoch_ms: int
    path_parameters: dict[str, str] = field(default_factory=dict)
    stage_variables: dict[str, str] = field(default_factory=dict)
    #: What the authorizer found, as format 2.0 shows it: ``{"jwt": {"claims", "scopes"}}`` or ``{"lambda": {...}}``
    authorizer: dict[str, Any] | None = None


def _body(request: Incoming) -> tuple[str | None, bool]:
    """The body as the event carries it: text when it is text, else base64 (isBase64Encoded)."""
    if not request.body:
        return None, False
    content_type = dict(request.headers).get("content-type", "").lower()
    if any(kind in content_type for kind in _TEXT_TYPES) or not content_type:
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode(), True


def _request_time(epoch_ms: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def event_v2(request: Incoming) -> dict[str, Any]:
    """The payload format 2.0 event."""
    headers = {name: ",".join(values) for name, values in _grouped(
        [(n, v) for n, v in request.headers if n != "cookie"]).items()}
    cookies = [part.strip() for n, v in request.headers if n == "cookie" for part in v.split(";") if part.strip()]
    body, encoded = _body(request)
    context: dict[str, Any] = {
        "accountId": request.account_id, "apiId": request.api_id, "domainName": request.domain_name,
        "domainPrefix": request.domain_name.split(".", 1)[0],
        "http": {"method": request.method, "path": request.raw_path, "protocol": "HTTP/1.1",
                 "sourceIp": request.source_ip, "userAgent": request.user_agent},
        "requestId": request.request_id, "routeKey": request.route_key, "stage": request.stage,
        "time": _request_time(request.time_epoch_ms), "timeEpoch": request.time_epoch_ms}
    if request.authorizer is not None:
        context["authorizer"] = request.authorizer
    event: dict[str, Any] = {"version": "2.0", "routeKey": request.route_key, "rawPath": request.raw_path,
                             "rawQueryString": request.raw_query, "headers": headers}
    if cookies:
        event["cookies"] = cookies
    if request.query:
        event["queryStringParameters"] = {n: ",".join(v) for n, v in _grouped(request.query).items()}
    event["requestContext"] = context
    if body is not None:
        event["body"] = body
    if request.path_parameters:
        event["pathParameters"] = request.path_parameters
    event["isBase64Encoded"] = encoded
    if request.stage_variables:
        event["stageVariables"] = request.stage_variables
    return event


def event_v1(request: Incoming) -> dict[str, Any]:
    """The payload format 1.0 event (the REST API proxy event's shape, as HTTP APIs fill it)."""
    grouped_headers = _grouped(request.headers)
    grouped_query = _grouped(request.query)
    body, encoded = _body(request)
    resource = request.route_key.partition(" ")[2] or request.route_key
    authorizer = request.authorizer
    if authorizer is not None and "jwt" in authorizer:
        authorizer = {"claims": authorizer["jwt"]["claims"], "scopes": authorizer["jwt"]["scopes"] or None}
    return {
        "version": "1.0", "resource": resource, "path": request.raw_path, "httpMethod": request.method,
        "headers": {n: v[-1] for n, v in grouped_headers.items()}, "multiValueHeaders": grouped_headers,
        "queryStringParameters": {n: v[-1] for n, v in grouped_query.items()} or None,
        "multiValueQueryStringParameters": grouped_query or None,
        "requestContext": {
            "accountId": request.account_id, "apiId": request.api_id, "authorizer": authorizer,
            "domainName": request.domain_name, "domainPrefix": request.domain_name.split(".", 1)[0],
            "extendedRequestId": request.request_id, "httpMethod": request.method,
            "identity": {"accessKey": None, "accountId": None, "caller": None, "cognitoAuthenticationProvider":
                         None, "cognitoAuthenticationType": None, "cognitoIdentityId": None,
                         "cognitoIdentityPoolId": None, "principalOrgId": None, "sourceIp": request.source_ip,
                         "user": None, "userAgent": request.user_agent, "userArn": None},
            "path": request.raw_path, "protocol": "HTTP/1.1", "requestId": request.request_id,
            "requestTime": _request_time(request.time_epoch_ms), "requestTimeEpoch": request.time_epoch_ms,
            "resourceId": request.route_key, "resourcePath": resource, "stage": request.stage},
        "pathParameters": request.path_parameters or None, "stageVariables": request.stage_variables or None,
        "body": body, "isBase64Encoded": encoded}


def _status(value: Any) -> int:
    try:
        status = int(value)
    except (TypeError, ValueError) as exc:
        raise BadAnswer(f"statusCode {value!r} is not a number") from exc
    if not 100 <= status <= 599:
        raise BadAnswer(f"statusCode {status} is not an HTTP status")
    return status


def _decoded_body(answer: dict[str, Any]) -> bytes:
    body = answer.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        body = json.dumps(body)
    if answer.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise BadAnswer("isBase64Encoded is true but the body is not base64") from exc
    return body.encode()


def _headers(answer: dict[str, Any], *, multi: bool) -> list[tuple[str, str]]:
    headers = answer.get("headers")
    headers = {} if headers is None else headers
    if not isinstance(headers, dict):
        raise BadAnswer("headers must be an object")
    result = [(str(name), str(value)) for name, value in headers.items()]
    if multi:
        multi_headers = answer.get("multiValueHeaders")
        multi_headers = {} if multi_headers is None else multi_headers
        if not isinstance(multi_headers, dict):
            raise BadAnswer("multiValueHeaders must be an object")
        result = [(n, v) for n, v in result if n.lower() not in {k.lower() for k in multi_headers}]
        result += [(str(n), str(v)) for n, values in multi_headers.items() for v in values]
    return result


def response_v2(payload: bytes) -> InvokeResponse:
    """A format 2.0 answer: the structured form (with ``statusCode``) or any JSON as a 200 body."""
    try:
        answer = json.loads(payload) if payload.strip() else None
    except ValueError as exc:
        raise BadAnswer("the function's answer is not JSON") from exc
    if not isinstance(answer, dict) or "statusCode" not in answer:
        body = answer if isinstance(answer, str) else json.dumps(answer)
        return InvokeResponse(200, [("content-type", "application/json")], body.encode())
    headers = _headers(answer, multi=False)
    cookies = answer.get("cookies") or []
    if not isinstance(cookies, list):
        raise BadAnswer("cookies must be a list")
    headers += [("set-cookie", str(cookie)) for cookie in cookies]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("content-type", "application/json"))
    return InvokeResponse(_status(answer["statusCode"]), headers, _decoded_body(answer))


def response_v1(payload: bytes) -> InvokeResponse:
    """A format 1.0 answer: an object with ``statusCode`` (headers, multiValueHeaders, body, base64)."""
    try:
        answer = json.loads(payload)
    except ValueError as exc:
        raise BadAnswer("the function's answer is not JSON") from exc
    if not isinstance(answer, dict) or "statusCode" not in answer:
        raise BadAnswer("a payload format 1.0 answer must be an object with statusCode")
    return InvokeResponse(_status(answer["statusCode"]), _headers(answer, multi=True), _decoded_body(answer))
