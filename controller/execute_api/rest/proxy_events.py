"""The Lambda proxy integration (AWS_PROXY) of REST APIs: the event API Gateway sends and how the function's
answer becomes the HTTP response. Pure.

The event is API Gateway's REST proxy event: ``resource`` (the resource path template), ``path`` (the request
path without the stage), single and multi-value headers and query strings, path parameters, stage variables,
the body (base64 with ``isBase64Encoded`` when its Content-Type is one of the API's binaryMediaTypes) and the
``requestContext`` (with ``identity`` and the authorizer's findings). The answer must be a JSON object with
``statusCode`` and a string ``body``; anything else is a malformed answer, which API Gateway turns into 502.
"""

from __future__ import annotations

import base64
import fnmatch
import json
from typing import Any

from controller.execute_api.request import InvokeResponse


class MalformedAnswer(Exception):
    """The function's answer is not a Lambda proxy response."""


def is_binary(content_type: str, binary_media_types: list[str]) -> bool:
    """Whether a Content-Type (or Accept) value names one of the API's binary media types (``*/*``, ``image/*``
    wildcards included, as API Gateway matches them)."""
    kinds = [part.split(";", 1)[0].strip().lower() for part in content_type.split(",") if part.strip()]
    return any(fnmatch.fnmatchcase(kind, pattern.lower()) for kind in kinds for pattern in binary_media_types)


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def event(*, resource: str, path: str, method: str, headers: list[tuple[str, str]], query: list[tuple[str, str]],
          path_parameters: dict[str, str], stage_variables: dict[str, str], body: bytes,
          binary_media_types: list[str], request_context: dict[str, Any]) -> dict[str, Any]:
    """The proxy event. ``headers`` as sent (a name may repeat); ``request_context`` complete (built by the
    pipeline: it is also what mapping templates see as ``$context``)."""
    multi_headers = _grouped(headers)
    multi_query = _grouped(query)
    content_type = next((v for n, v in headers if n.lower() == "content-type"), "")
    encoded = bool(body) and is_binary(content_type, binary_media_types)
    text: str | None
    if not body:
        text = None
    elif encoded:
        text = base64.b64encode(body).decode()
    else:
        text = body.decode("utf-8", "replace")
    return {
        "resource": resource, "path": path, "httpMethod": method,
        "headers": {n: v[-1] for n, v in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {n: v[-1] for n, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None, "stageVariables": stage_variables or None,
        "requestContext": request_context, "body": text, "isBase64Encoded": encoded,
    }


def _status(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedAnswer(f"statusCode {value!r} is not an integer")
    try:
        status = int(value)
    except ValueError as exc:
        raise MalformedAnswer(f"statusCode {value!r} is not an integer") from exc
    if not 100 <= status <= 599:
        raise MalformedAnswer(f"statusCode {status} is not an HTTP status")
    return status


def _headers(answer: dict[str, Any]) -> list[tuple[str, str]]:
    single = answer.get("headers") or {}
    multi = answer.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedAnswer("headers and multiValueHeaders must be objects")
    out: list[tuple[str, str]] = []
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedAnswer(f"multiValueHeaders.{name} must be a list")
        out.extend((str(name), _text(v)) for v in values)
    covered = {name.lower() for name in multi}
    out.extend((str(name), _text(v)) for name, v in single.items() if name.lower() not in covered)
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def response(payload: bytes, *, accept: str, binary_media_types: list[str]) -> InvokeResponse:
    """The HTTP response a proxy answer describes; MalformedAnswer when it is not one.

    A base64 body is decoded when the response's Content-Type or the request's Accept header is a binary
    media type of the API (as API Gateway does); otherwise the base64 text itself is the body.
    """
    try:
        answer = json.loads(payload)
    except ValueError as exc:
        raise MalformedAnswer("the function's answer is not JSON") from exc
    if not isinstance(answer, dict):
        raise MalformedAnswer("the function's answer is not a JSON object")
    if "statusCode" not in answer:
        raise MalformedAnswer("the answer has no statusCode")
    status = _status(answer["statusCode"])
    headers = _headers(answer)
    body = answer.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedAnswer("body must be a string")
    data = (body or "").encode()
    if answer.get("isBase64Encoded") and body:
        content_type = next((v for n, v in headers if n.lower() == "content-type"), "")
        if is_binary(content_type, binary_media_types) or is_binary(accept, binary_media_types):
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError as exc:
                raise MalformedAnswer("isBase64Encoded is true but the body is not base64") from exc
    if not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return InvokeResponse(status, headers, data)
