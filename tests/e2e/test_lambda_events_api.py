"""Event invoke configs and SQS event source mappings over HTTP with boto3: read-back, paging and AWS's errors.

These calls configure asynchronous invocation and triggers without running anything, so they use the
controller-only ``cloudlet``; tests/e2e/test_lambda_events.py runs functions through them.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import pytest

from tests.e2e.helpers import Cleanup, Client, allow, denied, document, new_user
from tests.e2e.lambda_helpers import execution_role, zip_of
from tests.support import CloudletProcess

POLL = {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
        "Resource": "*"}
SEND = {"Effect": "Allow", "Action": ["sqs:SendMessage", "sns:Publish"], "Resource": "*"}


@pytest.fixture
def lam(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("lambda")


@pytest.fixture
def sqs(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("sqs")


def function(lam: Client, iam: Client, name: str, *statements: dict[str, Any], **config: Any) -> str:
    role = execution_role(iam, f"{name}-role", *statements)
    return lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler",
                               Code={"ZipFile": zip_of({"app.py": "def handler(e, c):\n    return e\n"})},
                               **config)["FunctionArn"]


def queue_arn(sqs: Client, name: str, **attributes: str) -> str:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def refused(call: Any, code: str, status: int, **params: Any) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**params)
    error = info.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status), error
    return error["Error"]["Message"]


def test_event_invoke_configs_read_back_page_and_refuse(cloudlet: CloudletProcess, lam: Client, iam: Client,
                                                        sqs: Client, unique: str) -> None:
    arn = function(lam, iam, unique, SEND)
    lam.publish_version(FunctionName=unique)
    lam.create_alias(FunctionName=unique, Name="live", FunctionVersion="1")
    failures = queue_arn(sqs, f"{unique}-failures")
    put = lam.put_function_event_invoke_config(FunctionName=unique, MaximumRetryAttempts=0,
                                               MaximumEventAgeInSeconds=3600,
                                               DestinationConfig={"OnFailure": {"Destination": failures}})
    assert put["FunctionArn"] == f"{arn}:$LATEST"
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": failures}}
    got = lam.get_function_event_invoke_config(FunctionName=unique)
    assert {k: got[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")} == {
        "MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 3600, "DestinationConfig": put["DestinationConfig"]}
    updated = lam.update_function_event_invoke_config(FunctionName=unique, MaximumRetryAttempts=2)
    assert (updated["MaximumRetryAttempts"], updated["DestinationConfig"]["OnFailure"]) == (
        2, {"Destination": failures})
    lam.put_function_event_invoke_config(FunctionName=unique, Qualifier="live", MaximumRetryAttempts=1)
    lam.put_function_event_invoke_config(FunctionName=f"{unique}:1", MaximumEventAgeInSeconds=60)
    paged = [config["FunctionArn"] for page in lam.get_paginator("list_function_event_invoke_configs").paginate(
        FunctionName=unique, PaginationConfig={"PageSize": 1}) for config in page["FunctionEventInvokeConfigs"]]
    assert paged == [f"{arn}:$LATEST", f"{arn}:1", f"{arn}:live"]

    # The model's ranges, and Lambda's own checks; a refused call changes nothing.
    unchecked = cloudlet.client("lambda", parameter_validation=False)
    for params in ({"MaximumRetryAttempts": 3}, {"MaximumEventAgeInSeconds": 59},
                   {"MaximumEventAgeInSeconds": 21601}):
        with pytest.raises(botocore.exceptions.ClientError) as info:
            unchecked.put_function_event_invoke_config(FunctionName=unique, **params)
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    other = function(lam, iam, f"{unique}-mute")
    message = refused(lam.put_function_event_invoke_config, "InvalidParameterValueException", 400,
                      FunctionName=f"{unique}-mute", DestinationConfig={"OnSuccess": {"Destination": failures}})
    assert message == "The provided execution role does not have permissions to call SendMessage on SQS"
    refused(lam.put_function_event_invoke_config, "InvalidParameterValueException", 400, FunctionName=unique,
            DestinationConfig={"OnFailure": {"Destination": "arn:aws:events:home-1:123456789012:event-bus/x"}})
    refused(lam.put_function_event_invoke_config, "ResourceNotFoundException", 404, FunctionName=unique,
            Qualifier="9")
    refused(lam.put_function_event_invoke_config, "ResourceNotFoundException", 404, FunctionName=f"{unique}-gone")
    assert lam.get_function_event_invoke_config(FunctionName=unique)["MaximumRetryAttempts"] == 2
    message = refused(lam.get_function_event_invoke_config, "ResourceNotFoundException", 404, FunctionName=other)
    assert message == f"The function {other}:$LATEST doesn't have an EventInvokeConfig"
    refused(lam.update_function_event_invoke_config, "ResourceNotFoundException", 404, FunctionName=other,
            MaximumRetryAttempts=1)
    lam.delete_function_event_invoke_config(FunctionName=unique, Qualifier="live")
    refused(lam.delete_function_event_invoke_config, "ResourceNotFoundException", 404, FunctionName=unique,
            Qualifier="live")
    assert len(lam.list_function_event_invoke_configs(FunctionName=unique)["FunctionEventInvokeConfigs"]) == 2


def test_event_source_mappings_read_back_page_and_refuse(lam: Client, iam: Client, sqs: Client, unique: str) -> None:
    arn = function(lam, iam, unique, POLL)
    function(lam, iam, f"{unique}-blind", {"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "*"})
    function(lam, iam, f"{unique}-slow", POLL, Timeout=120)
    queues = [queue_arn(sqs, f"{unique}-q{n}") for n in range(3)]
    fifo = queue_arn(sqs, f"{unique}.fifo", FifoQueue="true")
    filters = {"Filters": [{"Pattern": json.dumps({"body": {"kind": ["order"]}})}]}
    created = lam.create_event_source_mapping(
        FunctionName=unique, EventSourceArn=queues[0], BatchSize=100, MaximumBatchingWindowInSeconds=5,
        FunctionResponseTypes=["ReportBatchItemFailures"], ScalingConfig={"MaximumConcurrency": 2},
        FilterCriteria=filters, Enabled=False)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (created["State"], created["FunctionArn"], created["EventSourceArn"]) == ("Creating", arn, queues[0])
    assert created["EventSourceMappingArn"].endswith(f":event-source-mapping:{created['UUID']}")
    got = lam.get_event_source_mapping(UUID=created["UUID"])
    assert got["State"] == "Disabled"
    assert (got["BatchSize"], got["MaximumBatchingWindowInSeconds"], got["FunctionResponseTypes"]) == (
        100, 5, ["ReportBatchItemFailures"])
    assert (got["ScalingConfig"], got["FilterCriteria"]) == ({"MaximumConcurrency": 2}, filters)
    enabled = lam.update_event_source_mapping(UUID=created["UUID"], Enabled=True, BatchSize=10)
    assert (enabled["State"], enabled["BatchSize"]) == ("Enabling", 10)
    assert lam.get_event_source_mapping(UUID=created["UUID"])["State"] == "Enabled"
    others = [lam.create_event_source_mapping(FunctionName=f"{arn}", EventSourceArn=queue)["UUID"]
              for queue in queues[1:]]
    paged = [m["UUID"] for page in lam.get_paginator("list_event_source_mappings").paginate(
        FunctionName=unique, PaginationConfig={"PageSize": 2}) for m in page["EventSourceMappings"]]
    assert sorted(paged) == sorted([created["UUID"], *others])
    only = lam.list_event_source_mappings(EventSourceArn=queues[2])["EventSourceMappings"]
    assert [m["UUID"] for m in only] == [others[1]]

    message = refused(lam.create_event_source_mapping, "ResourceConflictException", 409, FunctionName=unique,
                      EventSourceArn=queues[0])
    assert created["UUID"] in message
    message = refused(lam.create_event_source_mapping, "InvalidParameterValueException", 400,
                      FunctionName=f"{unique}-blind", EventSourceArn=queues[0])
    assert message == "The provided execution role does not have permissions to call DeleteMessage on SQS"
    message = refused(lam.create_event_source_mapping, "InvalidParameterValueException", 400,
                      FunctionName=f"{unique}-slow", EventSourceArn=queues[0])
    assert message == "Queue visibility timeout: 30 seconds is less than Function timeout: 120 seconds"
    message = refused(lam.create_event_source_mapping, "InvalidParameterValueException", 400, FunctionName=unique,
                      EventSourceArn=queues[0] + "-none")
    assert "AWS.SimpleQueueService.NonExistentQueue" in message
    for params in ({"EventSourceArn": fifo, "BatchSize": 11}, {"EventSourceArn": queues[1], "BatchSize": 11},
                   {"EventSourceArn": queues[1], "StartingPosition": "LATEST"},
                   {"EventSourceArn": queues[1], "FilterCriteria": {"Filters": [{"Pattern": "[1]"}]}}):
        refused(lam.create_event_source_mapping, "InvalidParameterValueException", 400, FunctionName=unique, **params)
    refused(lam.create_event_source_mapping, "ResourceNotFoundException", 404, FunctionName=f"{unique}-none",
            EventSourceArn=queues[0])
    refused(lam.update_event_source_mapping, "InvalidParameterValueException", 400, UUID=created["UUID"],
            BatchSize=500, MaximumBatchingWindowInSeconds=0)
    assert lam.get_event_source_mapping(UUID=created["UUID"])["BatchSize"] == 10
    assert lam.delete_event_source_mapping(UUID=created["UUID"])["State"] == "Deleting"
    refused(lam.get_event_source_mapping, "ResourceNotFoundException", 404, UUID=created["UUID"])
    refused(lam.delete_event_source_mapping, "ResourceNotFoundException", 404, UUID=created["UUID"])
    for mapping in others:
        lam.delete_event_source_mapping(UUID=mapping)


def test_mapping_calls_carry_the_function_arn_condition(cloudlet: CloudletProcess, lam: Client, iam: Client,
                                                        sqs: Client, cleanup: Cleanup, unique: str) -> None:
    allowed_arn = function(lam, iam, f"{unique}-ok", POLL)
    function(lam, iam, f"{unique}-no", POLL)
    queue = queue_arn(sqs, unique)
    user = new_user(iam, cleanup, unique)
    iam.put_user_policy(UserName=unique, PolicyName="mappings", PolicyDocument=document(allow(
        ["lambda:CreateEventSourceMapping", "lambda:DeleteEventSourceMapping"],
        Condition={"ArnLike": {"lambda:FunctionArn": f"arn:aws:lambda:*:*:function:{unique}-ok"}})))
    scoped = cloudlet.client("lambda", credentials=user)
    created = scoped.create_event_source_mapping(FunctionName=f"{unique}-ok", EventSourceArn=queue)
    assert created["FunctionArn"] == allowed_arn
    code, status, _ = denied(scoped.create_event_source_mapping, FunctionName=f"{unique}-no", EventSourceArn=queue)
    assert (code, status) == ("AccessDeniedException", 403)
    other = lam.create_event_source_mapping(FunctionName=f"{unique}-no", EventSourceArn=queue)["UUID"]
    # Delete is judged on the function the mapping invokes now.
    assert denied(scoped.delete_event_source_mapping, UUID=other)[:2] == ("AccessDeniedException", 403)
    scoped.delete_event_source_mapping(UUID=created["UUID"])
    lam.delete_event_source_mapping(UUID=other)


def test_event_invoke_configs_go_with_what_they_configure(lam: Client, iam: Client, unique: str) -> None:
    function(lam, iam, unique)
    lam.publish_version(FunctionName=unique)
    lam.create_alias(FunctionName=unique, Name="live", FunctionVersion="1")
    for qualifier in ("live", "$LATEST"):
        lam.put_function_event_invoke_config(FunctionName=unique, Qualifier=qualifier, MaximumRetryAttempts=1)
    lam.delete_alias(FunctionName=unique, Name="live")
    assert [config["FunctionArn"].rsplit(":", 1)[-1] for config in
            lam.list_function_event_invoke_configs(FunctionName=unique)["FunctionEventInvokeConfigs"]] == ["$LATEST"]
    lam.delete_function(FunctionName=unique)
    role = iam.get_role(RoleName=f"{unique}-role")["Role"]["Arn"]
    lam.create_function(FunctionName=unique, Runtime="python3.11", Role=role, Handler="app.handler",
                        Code={"ZipFile": zip_of({"app.py": "def handler(e, c):\n    return e\n"})})
    refused(lam.get_function_event_invoke_config, "ResourceNotFoundException", 404, FunctionName=unique)
