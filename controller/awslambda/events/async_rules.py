"""AWS's rules for asynchronous invocation, as pure functions: what follows an attempt, and the records sent.

From https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html and
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html:

- a function error is retried ``MaximumRetryAttempts`` times (0-2, default 2), about a minute before the
  first retry and two before the second (``Config.lambda_async_retry_delays``);
- a throttle (429) or a system error (no host, the function not Active) is retried with exponential
  backoff from one second up to five minutes, and does not count as a retry;
- an event older than ``MaximumEventAgeInSeconds`` (60-21,600, default six hours) is discarded, as is one
  whose retries are exhausted: to the on-failure destination when one is configured, else to the
  function's dead-letter queue;
- a success goes to the on-success destination, if any.

Destination records follow the documented invocation record (version 1.0, ``requestContext``,
``requestPayload``, ``responseContext``, ``responsePayload``); dead-letter messages carry the event
as their body and the ``RequestID``, ``ErrorCode`` and ``ErrorMessage`` attributes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_SECONDS = 21_600
#: Throttles and system errors back off from this up to the cap (seconds).
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0
#: The most of the error message a dead-letter message carries (AWS: 1 KB).
DLQ_MESSAGE_BYTES = 1024

SUCCESS, FUNCTION_ERROR, THROTTLED, GONE = "Success", "FunctionError", "Throttled", "Gone"
RETRIES_EXHAUSTED, EVENT_AGE_EXCEEDED = "RetriesExhausted", "EventAgeExceeded"


@dataclass(frozen=True)
class EventSettings:
    """A function's (or qualifier's) event invoke configuration, with AWS's defaults filled in."""

    max_retries: int = DEFAULT_RETRIES
    max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS
    on_success: str | None = None
    on_failure: str | None = None

    @classmethod
    def of(cls, config: dict[str, Any] | None) -> EventSettings:
        config = config or {}
        destinations = config.get("DestinationConfig") or {}
        retries = config.get("MaximumRetryAttempts")
        age = config.get("MaximumEventAgeInSeconds")
        return cls(max_retries=DEFAULT_RETRIES if retries is None else retries,
                   max_age_seconds=DEFAULT_MAX_AGE_SECONDS if age is None else age,
                   on_success=(destinations.get("OnSuccess") or {}).get("Destination") or None,
                   on_failure=(destinations.get("OnFailure") or {}).get("Destination") or None)


@dataclass(frozen=True)
class Progress:
    """Where an event stands: when it was queued, invocations that ran, throttles met."""

    enqueued_at_ms: int
    attempts: int = 0
    throttles: int = 0


@dataclass(frozen=True)
class Next:
    """What follows: ``retry_at_ms`` set to try again then; else ``condition`` finishes the event
    (Success, RetriesExhausted, EventAgeExceeded, or None when it is dropped without a record)."""

    retry_at_ms: int | None = None
    condition: str | None = None
    progress: Progress = field(default_factory=lambda: Progress(0))


def expired(settings: EventSettings, progress: Progress, now_ms: int) -> bool:
    """Whether the event is older than its maximum age (it is then discarded, not run)."""
    return now_ms - progress.enqueued_at_ms >= settings.max_age_seconds * 1000


def backoff_seconds(throttles: int) -> float:
    """The wait after the ``throttles``-th throttle or system error in a row: 1 s, 2 s, 4 s... up to 5 min."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** max(0, throttles - 1))


def after_attempt(settings: EventSettings, progress: Progress, outcome: str, now_ms: int,
                  retry_delays: list[float]) -> Next:
    """What follows an attempt that ended in ``outcome`` (SUCCESS, FUNCTION_ERROR, THROTTLED or GONE)."""
    expiry = progress.enqueued_at_ms + settings.max_age_seconds * 1000
    if outcome == SUCCESS:
        return Next(condition=SUCCESS, progress=Progress(progress.enqueued_at_ms, progress.attempts + 1,
                                                         progress.throttles))
    if outcome == GONE:
        return Next(progress=progress)
    if outcome == THROTTLED:
        moved = Progress(progress.enqueued_at_ms, progress.attempts, progress.throttles + 1)
        retry_at = now_ms + int(backoff_seconds(moved.throttles) * 1000)
        return Next(retry_at_ms=min(retry_at, expiry), progress=moved)
    ran = Progress(progress.enqueued_at_ms, progress.attempts + 1, 0)
    retries_done = ran.attempts - 1
    if retries_done >= settings.max_retries:
        return Next(condition=RETRIES_EXHAUSTED, progress=ran)
    delay = retry_delays[min(retries_done, len(retry_delays) - 1)] if retry_delays else 0.0
    return Next(retry_at_ms=min(now_ms + int(delay * 1000), expiry), progress=ran)


def iso_timestamp(epoch_ms: int) -> str:
    """``2019-11-14T18:16:05.568Z``, as invocation records write their time."""
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _json_or_text(data: bytes | str) -> Any:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        return json.loads(text)
    except ValueError:
        return text


def qualified_arn(invoked_arn: str, function_arn: str) -> str:
    """The function ARN an invocation record names: qualified, ``$LATEST`` when the caller gave none."""
    return invoked_arn if invoked_arn != function_arn else f"{function_arn}:$LATEST"


def invocation_record(*, request_id: str, function_arn: str, condition: str, invoke_count: int, payload: bytes,
                      result: dict[str, Any] | None, now_ms: int) -> dict[str, Any]:
    """The destination record of one finished event. ``result`` is the last attempt's outcome
    (``statusCode``, ``executedVersion``, ``functionError``, ``payload``), None when none ran."""
    record: dict[str, Any] = {
        "version": "1.0", "timestamp": iso_timestamp(now_ms),
        "requestContext": {"requestId": request_id, "functionArn": function_arn, "condition": condition,
                           "approximateInvokeCount": invoke_count},
        "requestPayload": _json_or_text(payload)}
    if result is not None:
        context: dict[str, Any] = {"statusCode": result["statusCode"], "executedVersion": result["executedVersion"]}
        if result.get("functionError"):
            context["functionError"] = result["functionError"]
        record["responseContext"] = context
        record["responsePayload"] = _json_or_text(result.get("payload") or "")
    return record


def error_message(result: dict[str, Any] | None, condition: str) -> str:
    """What a dead-letter message says went wrong: the function's errorMessage, or why the event was dropped."""
    if result is not None:
        document = _json_or_text(result.get("payload") or "")
        if isinstance(document, dict) and document.get("errorMessage"):
            return str(document["errorMessage"])
    return "Event age exceeded" if condition == EVENT_AGE_EXCEEDED else "Retries exhausted"


def dead_letter_attributes(request_id: str, result: dict[str, Any] | None, condition: str,
                           ) -> dict[str, dict[str, str]]:
    """The message attributes AWS puts on a dead-letter message (SQS/SNS MessageAttributeValue shape)."""
    status = str(result["statusCode"]) if result is not None else "429"
    message = error_message(result, condition).encode("utf-8")[:DLQ_MESSAGE_BYTES].decode("utf-8", "ignore")
    return {"RequestID": {"DataType": "String", "StringValue": request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": status},
            "ErrorMessage": {"DataType": "String", "StringValue": message}}
