"""Invocation's pure parts: alias routing, concurrency slots, host stickiness, and AWS's result shapes."""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
from collections import Counter

import pytest

from agent.contract.functions import FunctionResult
from controller.awslambda.errors import (
    InvalidRequestContentException,
    RequestTooLargeException,
    TooManyRequestsException,
)
from controller.awslambda.invoke import outcomes, payloads
from controller.awslambda.invoke.invoker import Concurrency
from controller.awslambda.invoke.routing import pick_version
from controller.awslambda.invoke.runners import choose_host

REQUEST_ID = "9b0c7c4e-1111-4c1e-9f65-0d1b2c3d4e5f"


def result(status: str, payload: str = "", **fields: object) -> FunctionResult:
    values: dict = dict(request_id=REQUEST_ID, status=status, payload=payload, function_error=None, log=[],
                        log_stream="2026/12/04/[$LATEST]abc", cold=False, duration_ms=1.0, billed_ms=1,
                        max_memory_mb=40)
    values.update(fields)
    return FunctionResult(**values)


# --- routing ----------------------------------------------------------------------------------------------------


def test_a_single_route_is_taken_without_drawing() -> None:
    class NoDraws(random.Random):
        def choices(self, *args: object, **kwargs: object) -> list:  # type: ignore[override]
            raise AssertionError("drew for a single route")

    assert pick_version((("$LATEST", 1.0),), NoDraws()) == "$LATEST"


def test_weighted_routes_split_near_their_weights() -> None:
    rng = random.Random(7)
    counts = Counter(pick_version((("1", 0.9), ("2", 0.1)), rng) for _ in range(10_000))
    assert set(counts) == {"1", "2"}
    assert 0.08 < counts["2"] / 10_000 < 0.12


def test_a_zero_weight_route_is_never_picked_and_all_zero_falls_back_to_the_primary() -> None:
    rng = random.Random(1)
    assert {pick_version((("3", 1.0), ("4", 0.0)), rng) for _ in range(500)} == {"3"}
    assert pick_version((("3", 0.0), ("4", 0.0)), rng) == "3"


# --- concurrency ------------------------------------------------------------------------------------------------


def test_reserved_concurrency_zero_throttles_every_invocation_with_the_reserved_reason() -> None:
    slots = Concurrency()
    with pytest.raises(TooManyRequestsException) as caught, slots.slot("111111111111", "arn:f", 0):
        pass
    assert caught.value.status == 429
    assert caught.value.extra == {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User"}
    assert caught.value.message == "Rate Exceeded."


def test_reserved_concurrency_admits_that_many_at_once_and_frees_slots_after_each() -> None:
    slots = Concurrency()
    with slots.slot("111111111111", "arn:f", 2), slots.slot("111111111111", "arn:f", 2):
        assert slots.in_flight("arn:f") == 2
        with pytest.raises(TooManyRequestsException), slots.slot("111111111111", "arn:f", 2):
            pass
        with slots.slot("111111111111", "arn:other", None):  # another function is not held back
            pass
    assert slots.in_flight("arn:f") == 0
    with slots.slot("111111111111", "arn:f", 2):
        assert slots.in_flight("arn:f") == 1


def test_a_failed_invocation_frees_its_slot() -> None:
    slots = Concurrency()
    with pytest.raises(RuntimeError), slots.slot("111111111111", "arn:f", 1):
        raise RuntimeError("runner gone")
    assert slots.in_flight("arn:f") == 0


def test_the_account_limit_throttles_with_the_account_reason() -> None:
    slots = Concurrency(account_limit=1)
    with slots.slot("111111111111", "arn:f", None):
        with pytest.raises(TooManyRequestsException) as caught, slots.slot("111111111111", "arn:g", None):
            pass
        with slots.slot("222222222222", "arn:h", None):  # another account has its own limit
            pass
    assert caught.value.extra["Reason"] == "ConcurrentInvocationLimitExceeded"


# --- hosts ------------------------------------------------------------------------------------------------------


def test_a_version_sticks_to_its_host_while_it_is_up_and_moves_when_it_is_gone() -> None:
    runners = {"h-a": "http://a", "h-b": "http://b", "h-c": "http://c"}
    first = choose_host(runners, "arn:f:1", None)
    assert choose_host(runners, "arn:f:1", None) == first  # stable without state
    other = next(h for h in runners if h != first)
    assert choose_host(runners, "arn:f:1", other) == other  # sticky wins over the hash
    remaining = {h: u for h, u in runners.items() if h != other}
    assert choose_host(remaining, "arn:f:1", other) in remaining
    spread = {choose_host(runners, f"arn:f{i}:1", None) for i in range(50)}
    assert spread == set(runners)


# --- outcomes ---------------------------------------------------------------------------------------------------


def test_a_success_passes_the_response_through() -> None:
    assert outcomes.response_of(result("ok", '{"n": 1}'), timeout_s=3, memory_mb=128) == (b'{"n": 1}', None)


def test_a_response_over_the_limit_becomes_the_size_error_with_status_unhandled() -> None:
    payload, error = outcomes.response_of(result("ok", '"' + "A" * outcomes.SYNC_RESPONSE_LIMIT + '"'),
                                          timeout_s=3, memory_mb=128)
    assert error == "Unhandled"
    assert json.loads(payload) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge"}


def test_a_handler_error_keeps_the_runtimes_document() -> None:
    document = json.dumps({"errorMessage": "boom", "errorType": "ValueError", "requestId": REQUEST_ID,
                           "stackTrace": ['  File "/var/task/app.py", line 2, in handler\n']})
    assert outcomes.response_of(result("function_error", document, function_error="Unhandled"),
                                timeout_s=3, memory_mb=128) == (document.encode(), "Unhandled")


def test_a_timeout_without_a_document_gets_lambdas_wording() -> None:
    at = dt.datetime(2026, 12, 4, 19, 0, 0, 123456, tzinfo=dt.UTC)
    payload, error = outcomes.response_of(result("timeout"), timeout_s=3, memory_mb=128, now=at)
    assert error == "Unhandled"
    assert json.loads(payload) == {
        "errorMessage": f"2026-12-04T19:00:00.123Z {REQUEST_ID} Task timed out after 3.00 seconds"}


def test_a_crash_at_the_memory_limit_is_out_of_memory_and_below_it_an_exit_error() -> None:
    oom, _ = outcomes.response_of(result("crashed", max_memory_mb=128), timeout_s=3, memory_mb=128)
    assert json.loads(oom) == {"errorType": "Runtime.OutOfMemory", "errorMessage":
                               f"RequestId: {REQUEST_ID} Error: Runtime exited with error: signal: killed"}
    exited, error = outcomes.response_of(result("crashed", max_memory_mb=30), timeout_s=3, memory_mb=128)
    assert json.loads(exited)["errorType"] == "Runtime.ExitError"
    assert error == "Unhandled"


def test_a_runner_throttle_is_a_429() -> None:
    with pytest.raises(TooManyRequestsException) as caught:
        outcomes.response_of(result("throttled"), timeout_s=3, memory_mb=128)
    assert caught.value.extra["Reason"] == "ConcurrentInvocationLimitExceeded"


def test_the_log_tail_is_the_last_4_kb_of_the_log_text() -> None:
    lines = [[1, f"line {i:05d} " + "x" * 90] for i in range(100)] + [[2, "REPORT RequestId: r\tDuration: 1 ms\n"]]
    tail = outcomes.log_tail(lines)
    assert len(tail.encode()) == 4096
    assert tail.endswith("REPORT RequestId: r\tDuration: 1 ms\n")
    assert "line 00099" in tail and "line 00000" not in tail
    assert base64.b64decode(base64.b64encode(tail.encode())).decode() == tail


def test_the_log_tail_never_splits_a_character() -> None:
    tail = outcomes.log_tail([[1, "é" * 3000]])
    assert tail.encode().decode() == tail and len(tail.encode()) <= 4096


# --- what Invoke accepts ----------------------------------------------------------------------------------------


def test_an_empty_payload_is_the_empty_object_and_json_passes_unchanged() -> None:
    assert payloads.check_payload(b"", asynchronous=False) == b"{}"
    assert payloads.check_payload(b'  "text" ', asynchronous=False) == b'  "text" '


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b'{"a": 1} trailing'])
def test_a_payload_that_is_not_json_is_invalid_request_content(body: bytes) -> None:
    with pytest.raises(InvalidRequestContentException) as caught:
        payloads.check_payload(body, asynchronous=False)
    assert caught.value.status == 400
    assert caught.value.message.startswith("Could not parse request body into json: Could not parse payload into json")


def test_payload_limits_are_6_mib_synchronous_and_1_mib_asynchronous() -> None:
    at_limit = b'"' + b"x" * (outcomes.SYNC_REQUEST_LIMIT - 2) + b'"'
    assert payloads.check_payload(at_limit, asynchronous=False) == at_limit
    with pytest.raises(RequestTooLargeException) as caught:
        payloads.check_payload(at_limit + b" ", asynchronous=False)
    assert caught.value.status == 413
    assert caught.value.message == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    with pytest.raises(RequestTooLargeException):
        payloads.check_payload(b'"' + b"x" * outcomes.ASYNC_REQUEST_LIMIT + b'"', asynchronous=True)


def test_a_client_context_is_base64_of_a_json_object_within_3583_bytes() -> None:
    document = {"custom": {"tenant": "a"}}
    encoded = base64.b64encode(json.dumps(document).encode()).decode()
    assert json.loads(payloads.client_context_json(encoded) or "") == document
    assert payloads.client_context_json(None) is None
    for bad in ("not base64!", base64.b64encode(b"[1, 2]").decode(), base64.b64encode(b"\xff").decode()):
        with pytest.raises(InvalidRequestContentException):
            payloads.client_context_json(bad)
    too_long = base64.b64encode(json.dumps({"k": "v" * 2700}).encode()).decode()
    assert len(too_long) > 3583
    with pytest.raises(InvalidRequestContentException):
        payloads.client_context_json(too_long)
