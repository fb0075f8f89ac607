"""The Invoke operation on a real Cloud, its functions run by the fake runner of test_lambda_invoke_engine."""

from __future__ import annotations

import base64
import json

from tests.unit.test_lambda_invoke_engine import FakeRunner, LambdaCloud, lam, ok, runner

__all__ = ["lam", "runner"]  # the fixtures this module uses, from the engine tests


def test_request_response_answers_the_payload_the_executed_version_and_the_log_tail(
        lam: LambdaCloud, runner: FakeRunner) -> None:
    lam.function("echo")
    output = lam.call("Invoke", {"FunctionName": "echo", "Payload": b'{"a": 1}', "LogType": "Tail"})
    assert output["StatusCode"] == 200 and output["ExecutedVersion"] == "$LATEST"
    assert json.loads(output["Payload"]) == {"echo": '{"a": 1}'} and "FunctionError" not in output
    assert base64.b64decode(output["LogResult"]).decode().endswith("\tDuration: 1.50 ms\n")
    assert "LogResult" not in lam.call("Invoke", {"FunctionName": "echo"})
    assert runner.invocations[1]["payload"] == "{}"  # no payload: the event is the empty object


def test_a_failed_function_is_status_200_with_the_function_error_header(lam: LambdaCloud, runner: FakeRunner) -> None:
    document = json.dumps({"errorMessage": "boom", "errorType": "Exception", "requestId": "r", "stackTrace": []})
    runner.answer = lambda invocation: {**ok(invocation), "status": "function_error", "payload": document,
                                        "function_error": "Unhandled"}
    lam.function("broken")
    output = lam.call("Invoke", {"FunctionName": "broken"})
    assert (output["StatusCode"], output["FunctionError"], output["Payload"]) == (200, "Unhandled", document.encode())


def test_an_alias_or_version_qualifier_runs_that_version(lam: LambdaCloud, runner: FakeRunner) -> None:
    lam.function("versioned")
    version = lam.call("PublishVersion", {"FunctionName": "versioned"})["Version"]
    lam.call("CreateAlias", {"FunctionName": "versioned", "Name": "live", "FunctionVersion": version})
    assert lam.call("Invoke", {"FunctionName": "versioned", "Qualifier": "live"})["ExecutedVersion"] == version
    assert lam.call("Invoke", {"FunctionName": "versioned:live"})["ExecutedVersion"] == version
    assert runner.invocations[0]["version"] == version
    assert runner.invocations[0]["invoked_function_arn"].endswith(":function:versioned:live")


def test_dry_run_and_refused_requests_run_nothing(lam: LambdaCloud, runner: FakeRunner) -> None:
    lam.function("guarded")
    assert lam.call("Invoke", {"FunctionName": "guarded", "InvocationType": "DryRun"}) == {"StatusCode": 204}
    lam.refused("Invoke", {"FunctionName": "guarded", "Payload": b"{nope"}, "InvalidRequestContentException")
    lam.refused("Invoke", {"FunctionName": "missing"}, "ResourceNotFoundException")
    lam.refused("Invoke", {"FunctionName": "guarded", "InvocationType": "DryRun", "Qualifier": "9"},
                "ResourceNotFoundException")
    lam.call("PutFunctionConcurrency", {"FunctionName": "guarded", "ReservedConcurrentExecutions": 0})
    throttled = lam.refused("Invoke", {"FunctionName": "guarded"}, "TooManyRequestsException")
    assert throttled.extra["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert runner.invocations == []


def test_an_event_invocation_is_queued_and_answered_202(lam: LambdaCloud, runner: FakeRunner) -> None:
    lam.function("later")
    assert lam.call("Invoke", {"FunctionName": "later", "InvocationType": "Event", "Payload": b"{}"}) == {
        "StatusCode": 202}
