"""Invoke over HTTP with boto3, on a `cloudlet up` whose agent runs the functions (``functions_cloud``).

Each test deploys real code and checks what Lambda's documentation says a caller sees: the response body,
``X-Amz-Function-Error`` and the runtime's error document, the timeout message, the log tail, the version an
alias picked, throttles, and the execution role's credentials working from inside the function.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from typing import Any

import botocore.exceptions
import pytest

from tests.e2e.helpers import Client
from tests.e2e.lambda_helpers import execution_role, invoke_json, needs_functions, python_function, zip_of
from tests.support import CloudletProcess

pytestmark = needs_functions

COUNTER = """
    count = 0

    def handler(event, context):
        global count
        count += 1
        return {"count": count, "event": event}
"""


@pytest.fixture
def lam(functions_cloud: CloudletProcess) -> Client:
    return functions_cloud.client("lambda", read_timeout=120)


@pytest.fixture
def role(functions_cloud: CloudletProcess, unique: str) -> str:
    return execution_role(functions_cloud.client("iam"), f"{unique}-exec")


def test_a_warm_environment_keeps_its_globals_between_invocations(lam: Client, role: str, unique: str) -> None:
    python_function(lam, unique, role, COUNTER)
    counts = []
    for n in range(3):
        response, body = invoke_json(lam, unique, {"n": n})
        assert response["StatusCode"] == 200 and response["ExecutedVersion"] == "$LATEST"
        assert "FunctionError" not in response
        assert body["event"] == {"n": n}
        counts.append(body["count"])
    assert counts == [1, 2, 3]


def test_a_handler_error_answers_200_with_the_runtimes_error_document(lam: Client, role: str, unique: str) -> None:
    python_function(lam, unique, role, """
        def handler(event, context):
            raise ValueError("the event was " + repr(event))
    """)
    response, body = invoke_json(lam, unique, {"a": 1})
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert body["errorMessage"] == "the event was {'a': 1}"
    assert body["errorType"] == "ValueError"
    assert body["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert isinstance(body["stackTrace"], list) and any("app.py" in line for line in body["stackTrace"])


def test_a_timeout_answers_lambdas_timed_out_message(lam: Client, role: str, unique: str) -> None:
    python_function(lam, unique, role, """
        import time

        def handler(event, context):
            time.sleep(10)
    """, Timeout=1)
    response, body = invoke_json(lam, unique)
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z {request_id} Task timed out after 1\.00 seconds",
                        body["errorMessage"]), body


def test_log_type_tail_returns_the_invocations_log_with_its_report_line(lam: Client, role: str, unique: str) -> None:
    python_function(lam, unique, role, """
        def handler(event, context):
            print("hello from", context.function_name)
            return "ok"
    """)
    response, body = invoke_json(lam, unique, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    tail = base64.b64decode(response["LogResult"]).decode()
    assert body == "ok"
    assert len(base64.b64decode(response["LogResult"])) <= 4096
    assert f"START RequestId: {request_id} Version: $LATEST" in tail
    assert f"hello from {unique}" in tail
    assert re.search(rf"REPORT RequestId: {request_id}\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms", tail), tail
    assert "LogResult" not in invoke_json(lam, unique)[0]


def test_an_alias_splits_invocations_between_two_versions_near_its_weights(lam: Client, role: str,
                                                                          unique: str) -> None:
    python_function(lam, unique, role, "def handler(event, context):\n    return 'one'\n")
    one = lam.publish_version(FunctionName=unique)["Version"]
    lam.update_function_code(FunctionName=unique, ZipFile=zip_of({"app.py": "def handler(e, c):\n    return 'two'\n"}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=unique, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    two = lam.publish_version(FunctionName=unique)["Version"]
    lam.create_alias(FunctionName=unique, Name="live", FunctionVersion=one,
                     RoutingConfig={"AdditionalVersionWeights": {two: 0.3}})
    seen: Counter[str] = Counter()
    for _ in range(200):
        response, body = invoke_json(lam, unique, Qualifier="live")
        assert body == {one: "one", two: "two"}[response["ExecutedVersion"]]
        seen[response["ExecutedVersion"]] += 1
    assert set(seen) == {one, two}
    assert 0.2 <= seen[two] / 200 <= 0.4, seen  # 0.3 +- 3 standard deviations of 200 draws
    response, body = invoke_json(lam, f"{unique}:{two}")
    assert (response["ExecutedVersion"], body) == (two, "two")


def test_reserved_concurrency_zero_throttles_every_invocation(lam: Client, role: str, unique: str) -> None:
    python_function(lam, unique, role, COUNTER)
    lam.put_function_concurrency(FunctionName=unique, ReservedConcurrentExecutions=0)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        lam.invoke(FunctionName=unique, Payload=b"{}")
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded" and error["Type"] == "User"
    lam.delete_function_concurrency(FunctionName=unique)
    assert invoke_json(lam, unique)[1]["count"] == 1


def test_the_execution_roles_credentials_reach_cloudlets_s3_from_inside_the_function(
        functions_cloud: CloudletProcess, lam: Client, unique: str) -> None:
    s3 = functions_cloud.client("s3")
    s3.create_bucket(Bucket=unique)
    role = execution_role(functions_cloud.client("iam"), f"{unique}-s3",
                          {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{unique}/*"})
    python_function(lam, unique, role, """
        import boto3

        def handler(event, context):
            boto3.client("s3").put_object(Bucket=event["bucket"], Key="from-lambda", Body=b"written by a function")
            return boto3.client("sts").get_caller_identity()["Arn"]
    """, Timeout=30)
    response, body = invoke_json(lam, unique, {"bucket": unique})
    assert "FunctionError" not in response, body
    assert body == f"arn:aws:sts::{functions_cloud.account_id}:assumed-role/{unique}-s3/{unique}"
    assert s3.get_object(Bucket=unique, Key="from-lambda")["Body"].read() == b"written by a function"


def test_dry_run_checks_the_function_and_runs_nothing(lam: Client, role: str, unique: str) -> None:
    python_function(lam, unique, role, COUNTER)
    response = lam.invoke(FunctionName=unique, InvocationType="DryRun", Payload=b"{}")
    assert response["StatusCode"] == 204 and response["Payload"].read() == b""
    assert invoke_json(lam, unique)[1]["count"] == 1  # the dry run did not run the handler
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName=f"{unique}-missing", InvocationType="DryRun")


def test_an_event_invocation_is_accepted_with_202_and_runs_later(functions_cloud: CloudletProcess, lam: Client,
                                                                 unique: str) -> None:
    s3 = functions_cloud.client("s3")
    s3.create_bucket(Bucket=unique)
    role = execution_role(functions_cloud.client("iam"), f"{unique}-s3",
                          {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{unique}/*"})
    python_function(lam, unique, role, """
        import boto3

        def handler(event, context):
            boto3.client("s3").put_object(Bucket=event["bucket"], Key="async", Body=b"ran")
    """, Timeout=30)
    response = lam.invoke(FunctionName=unique, InvocationType="Event", Payload=json.dumps({"bucket": unique}))
    assert response["StatusCode"] == 202 and response["Payload"].read() == b""
    s3.get_waiter("object_exists").wait(Bucket=unique, Key="async", WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def _refused(call: Any) -> dict[str, Any]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    return caught.value.response


def test_a_payload_that_is_not_json_or_too_large_is_refused_before_running(lam: Client, role: str,
                                                                           unique: str) -> None:
    python_function(lam, unique, role, COUNTER)
    bad = _refused(lambda: lam.invoke(FunctionName=unique, Payload=b"{not json"))
    assert (bad["ResponseMetadata"]["HTTPStatusCode"], bad["Error"]["Code"]) == (400, "InvalidRequestContentException")
    assert bad["Error"]["Message"].startswith("Could not parse request body into json")
    big = _refused(lambda: lam.invoke(FunctionName=unique, Payload=json.dumps("x" * (6 * 1024 * 1024))))
    assert (big["ResponseMetadata"]["HTTPStatusCode"], big["Error"]["Code"]) == (413, "RequestTooLargeException")
    context = _refused(lambda: lam.invoke(FunctionName=unique, Payload=b"{}", ClientContext="not base64!"))
    assert context["Error"]["Code"] == "InvalidRequestContentException"
    assert invoke_json(lam, unique)[1]["count"] == 1  # none of them ran the handler


def test_without_a_function_host_invoke_answers_a_conflict(cloudlet: CloudletProcess, unique: str) -> None:
    lam = cloudlet.client("lambda")
    role = execution_role(cloudlet.client("iam"), f"{unique}-exec")
    lam.create_function(FunctionName=unique, Runtime="python3.11", Role=role, Handler="app.handler",
                        Code={"ZipFile": zip_of({"app.py": COUNTER})})
    refused = _refused(lambda: lam.invoke(FunctionName=unique, Payload=b"{}"))
    assert refused["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert refused["Error"]["Code"] == "ResourceConflictException"
    assert "no host runs Lambda functions" in refused["Error"]["Message"]
