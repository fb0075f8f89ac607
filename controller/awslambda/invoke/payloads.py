"""What Invoke accepts as an event and a client context, in Lambda's words (pure checks).

https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html: the payload is JSON of at most 6 MiB for a
synchronous invocation and 1 MiB for an asynchronous one; ClientContext is up to 3,583 bytes of base64 of a
JSON object, which the runtime hands the function as ``context.client_context``.
"""

from __future__ import annotations

import base64
import binascii
import json

from controller.awslambda.errors import InvalidRequestContentException, RequestTooLargeException
from controller.awslambda.invoke.outcomes import ASYNC_REQUEST_LIMIT, SYNC_REQUEST_LIMIT

#: The longest ClientContext Lambda takes, base64-encoded.
CLIENT_CONTEXT_LIMIT = 3583


def check_payload(payload: bytes, asynchronous: bool) -> bytes:
    """The event as JSON text (``{}`` when the caller sent none); Lambda's errors for an oversized or non-JSON one."""
    limit, operation = (ASYNC_REQUEST_LIMIT, "InvokeAsync") if asynchronous else (SYNC_REQUEST_LIMIT, "InvokeFunction")
    if len(payload) > limit:
        raise RequestTooLargeException(f"Request must be smaller than {limit} bytes for the {operation} operation")
    if not payload.strip():
        return b"{}"
    try:
        json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as problem:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {problem}") from None
    return payload


def client_context_json(client_context: str | None) -> str | None:
    """The JSON text a base64 ClientContext carries (what the runtime hands the function's context)."""
    if client_context is None:
        return None
    if len(client_context.encode("utf-8")) > CLIENT_CONTEXT_LIMIT:
        raise InvalidRequestContentException(f"Client context must be {CLIENT_CONTEXT_LIMIT} bytes or less "
                                             "when base64-encoded.")
    try:
        text = base64.b64decode(client_context, validate=True).decode("utf-8")
        if not isinstance(json.loads(text), dict):
            raise ValueError("not an object")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequestContentException("Client context must be a valid Base64-encoded JSON object.") from None
    return text
