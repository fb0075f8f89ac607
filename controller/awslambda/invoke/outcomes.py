"""What a function runner's answer becomes at the API: AWS's payload limits, error documents and log tail.

The runner reports how an invocation ended (``agent.contract.functions.FunctionResult.status``); the caller sees what
Lambda shows (https://docs.aws.amazon.com/lambda/latest/dg/invocation-sync.html): a status 200 with the
function's response, or 200 with ``X-Amz-Function-Error: Unhandled`` and an error document when the
function failed, timed out or its runtime died; only a throttle is an API error (429). Pure functions.
"""

from __future__ import annotations

import datetime as dt
import json

from agent.contract.functions import FunctionResult
from controller.awslambda.errors import TooManyRequestsException

#: Synchronous payload limits, as Lambda enforces them: a request must be smaller than 6 MiB, a response may
#: be 100 bytes longer (the figure in AWS's own error message).
SYNC_REQUEST_LIMIT = 6 * 1024 * 1024
SYNC_RESPONSE_LIMIT = SYNC_REQUEST_LIMIT + 100
#: Asynchronous (``Event``) invocations take at most 1 MiB.
ASYNC_REQUEST_LIMIT = 1024 * 1024
#: ``LogType=Tail`` returns the last 4 KB of the invocation's log.
LOG_TAIL_BYTES = 4096
UNHANDLED = "Unhandled"

#: Throttle reasons (the model's ThrottleReason enum).
RESERVED_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT = "ConcurrentInvocationLimitExceeded"


def throttled(reason: str) -> TooManyRequestsException:
    """Lambda's 429 for an invocation over a concurrency limit (``Rate Exceeded.``, Type User, the Reason)."""
    return TooManyRequestsException("Rate Exceeded.", Reason=reason)


def log_tail(lines: list[list]) -> str:
    """The last :data:`LOG_TAIL_BYTES` of the invocation's log text (a character cut in two is dropped)."""
    text = "".join(line[1] if str(line[1]).endswith("\n") else f"{line[1]}\n" for line in lines)
    data = text.encode("utf-8")[-LOG_TAIL_BYTES:]
    return data.decode("utf-8", "ignore")


def _timestamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _document(**members: str) -> bytes:
    return json.dumps(members, separators=(",", ":")).encode("utf-8")


def timeout_document(request_id: str, timeout_s: int, at: dt.datetime) -> bytes:
    """``{"errorMessage": "<time> <request id> Task timed out after 3.00 seconds"}``, as Lambda writes it."""
    return _document(errorMessage=f"{_timestamp(at)} {request_id} Task timed out after {timeout_s:.2f} seconds")


def exit_document(request_id: str, out_of_memory: bool) -> bytes:
    """The document of an environment whose runtime died: killed for its memory, or exited."""
    if out_of_memory:
        return _document(errorType="Runtime.OutOfMemory",
                         errorMessage=f"RequestId: {request_id} Error: Runtime exited with error: signal: killed")
    return _document(errorType="Runtime.ExitError",
                     errorMessage=f"RequestId: {request_id} Error: Runtime exited without providing a reason")


def response_too_large_document() -> bytes:
    return _document(errorMessage=f"Response payload size exceeded maximum allowed payload size "
                                  f"({SYNC_RESPONSE_LIMIT} bytes).", errorType="Function.ResponseSizeTooLarge")


def response_of(result: FunctionResult, *, timeout_s: int, memory_mb: int,
                now: dt.datetime | None = None) -> tuple[bytes, str | None]:
    """(payload, X-Amz-Function-Error) of a runner's answer; raises TooManyRequestsException when throttled.

    The runner writes AWS's documents for timeouts, crashes and init errors; one it left empty gets the
    document Lambda writes, so a caller never sees an empty error.
    """
    payload = (result.payload or "").encode("utf-8")
    status = result.status
    if status == "throttled":
        raise throttled(ACCOUNT_LIMIT)
    if status == "ok":
        if len(payload) > SYNC_RESPONSE_LIMIT:
            return response_too_large_document(), UNHANDLED
        return payload, None
    if payload.strip():
        return payload, result.function_error or UNHANDLED
    if status == "timeout":
        return timeout_document(result.request_id, timeout_s, now or dt.datetime.now(dt.UTC)), UNHANDLED
    return exit_document(result.request_id, out_of_memory=result.max_memory_mb >= memory_mb), UNHANDLED
