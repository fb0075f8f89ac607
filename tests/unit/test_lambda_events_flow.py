"""Async invocation, SQS triggers and SNS subscriptions in-process: a real started Cloud (worker, pollers, SQS,
SNS, IAM) and the fake function runner of tests/unit/test_lambda_invoke_engine.py standing in for the agent.

Only the runner is a stand-in: it answers each ``FunctionInvocation`` as the test's handler would. Every
step on the controller's side (queueing, retries, destinations as the execution role, receiving and deleting
through SQS's store, SNS's delivery) is the real code. tests/e2e/test_lambda_events.py runs the same flows
with functions on a real agent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.awslambda.events import async_queue, invoke_config, sns_source
from controller.awslambda.lookup import resolve_target
from controller.cloud import Cloud
from controller.config import Config
from controller.errors import ServiceError
from tests.e2e.lambda_helpers import LAMBDA_TRUST, zip_of
from tests.unit.test_lambda_invoke_engine import FakeRunner, LambdaCloud, ok

SEND_ANYWHERE = {"Effect": "Allow", "Action": ["sqs:*", "sns:Publish", "lambda:InvokeFunction"], "Resource": "*"}


class EventsCloud(LambdaCloud):
    def op(self, service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        ctx = self.context(operation)
        ctx.service = service
        return self.cloud.services[service].operations[operation].handler(ctx, params)

    def role(self, name: str, *statements: dict[str, Any]) -> str:
        arn = self.op("iam", "CreateRole", {"RoleName": name, "AssumeRolePolicyDocument": LAMBDA_TRUST})["Role"]["Arn"]
        if statements:
            self.op("iam", "PutRolePolicy", {"RoleName": name, "PolicyName": "inline", "PolicyDocument": json.dumps(
                {"Version": "2012-10-17", "Statement": list(statements)})})
        return arn

    def create(self, name: str, role_arn: str, **config: Any) -> None:
        self.call("CreateFunction", {"FunctionName": name, "Runtime": "python3.11", "Role": role_arn,
                                     "Handler": "app.handler", "Code": {"ZipFile": zip_of({"app.py": "x = 1\n"})},
                                     **config})

    def queue(self, name: str, **attributes: str) -> tuple[str, str]:
        url = self.op("sqs", "CreateQueue", {"QueueName": name, "Attributes": attributes})["QueueUrl"]
        arn = self.op("sqs", "GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["QueueArn"]})
        return url, arn["Attributes"]["QueueArn"]

    def drain(self, url: str, want: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Receive (and delete) messages until ``want`` arrived or ``timeout`` passed."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(got) < want and time.monotonic() < deadline:
            batch = self.op("sqs", "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1,
                                                      "MessageAttributeNames": ["All"]}).get("Messages", [])
            for message in batch:
                self.op("sqs", "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]})
            got.extend(batch)
        return got


def failing(invocation: dict[str, Any]) -> dict[str, Any]:
    return {**ok(invocation), "status": "function_error", "function_error": "Unhandled",
            "payload": json.dumps({"errorMessage": "boom", "errorType": "Exception", "stackTrace": []})}


def events_config(data_dir: Path) -> Config:
    """Retries 50 ms and 100 ms apart, and no built-in AMIs: the start hooks would otherwise copy every image
    under images/out into each test's data dir (hundreds of MB, seconds a test) for tests launching none."""
    return Config(data_dir=data_dir, lambda_async_retry_delays=[0.05, 0.1],
                  builtin_images_dir=str(data_dir.parent / "no-built-images"))


@pytest.fixture
def events(tmp_path: Path) -> Iterator[EventsCloud]:
    cloud = Cloud(events_config(tmp_path / "data"))
    account = cloud.credentials.create_account("owner", "owner@example.com", is_management=True)
    harness = EventsCloud(cloud, account)
    cloud.start()
    yield harness
    harness.close()


@pytest.fixture
def runner(events: EventsCloud) -> Iterator[FakeRunner]:
    made = FakeRunner(events.cloud.agent_token)
    events.register_runner("h-runner", made.url)
    yield made
    made.close()


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_failing_event_is_retried_then_recorded_in_the_on_failure_queue(events: EventsCloud,
                                                                          runner: FakeRunner) -> None:
    runner.answer = failing
    events.create("fails", events.role("fails-role", SEND_ANYWHERE))
    url, arn = events.queue("failures")
    events.call("PutFunctionEventInvokeConfig", {"FunctionName": "fails", "MaximumRetryAttempts": 1,
                                                 "DestinationConfig": {"OnFailure": {"Destination": arn}}})
    target = resolve_target(events.cloud, events.account, "fails", None)
    async_queue.enqueue(events.cloud, target, b'{"order": 7}', "req-async-1")

    [message] = events.drain(url, 1)
    record = json.loads(message["Body"])
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {"requestId": "req-async-1", "functionArn": f"{target.function_arn}:$LATEST",
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 2}
    assert record["requestPayload"] == {"order": 7}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorMessage"] == "boom"
    # One first attempt and one retry, with the same request id; then the event is gone.
    assert [sent["request_id"] for sent in runner.invocations] == ["req-async-1", "req-async-1"]
    wait_for(lambda: queued(events) == 0)


def queued(events: EventsCloud) -> int:
    with events.db.read() as conn:
        return conn.exec_driver_sql("SELECT COUNT(*) FROM lambda_async_events").scalar()


def test_success_goes_to_the_on_success_topic_and_failure_without_destination_to_the_dead_letter_queue(
        events: EventsCloud, runner: FakeRunner) -> None:
    role = events.role("both-role", SEND_ANYWHERE)
    topic = events.op("sns", "CreateTopic", {"Name": "done"})["TopicArn"]
    done_url, done_arn = events.queue("done-queue")
    events.op("sqs", "SetQueueAttributes", {"QueueUrl": done_url, "Attributes": {"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                "Action": "sqs:SendMessage", "Resource": done_arn}]})}})
    events.op("sns", "Subscribe", {"TopicArn": topic, "Protocol": "sqs", "Endpoint": done_arn,
                                   "Attributes": {"RawMessageDelivery": "true"}})
    dlq_url, dlq_arn = events.queue("dead-letters")
    events.create("works", role, DeadLetterConfig={"TargetArn": dlq_arn})
    events.call("PutFunctionEventInvokeConfig", {"FunctionName": "works", "MaximumRetryAttempts": 0,
                                                 "DestinationConfig": {"OnSuccess": {"Destination": topic}}})
    works = resolve_target(events.cloud, events.account, "works", None)
    async_queue.enqueue(events.cloud, works, b'{"ok": true}', "req-ok")
    [published] = events.drain(done_url, 1)
    record = json.loads(published["Body"])
    assert record["requestContext"]["condition"] == "Success" and record["requestPayload"] == {"ok": True}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}

    runner.answer = failing
    async_queue.enqueue(events.cloud, works, b'{"ok": false}', "req-bad")
    wait_for(lambda: len(runner.invocations) == 2)
    # MaximumRetryAttempts 0 and no on-failure destination: the function's dead-letter queue gets the event.
    [dead] = events.drain(dlq_url, 1)
    assert dead["Body"] == '{"ok": false}'
    assert dead["MessageAttributes"]["RequestID"]["StringValue"] == "req-bad"
    assert dead["MessageAttributes"]["ErrorCode"]["StringValue"] == "200"
    assert dead["MessageAttributes"]["ErrorMessage"]["StringValue"] == "boom"


def test_a_throttled_event_waits_with_backoff_without_using_its_retries(events: EventsCloud,
                                                                        runner: FakeRunner) -> None:
    events.create("held", events.role("held-role"))
    events.call("PutFunctionConcurrency", {"FunctionName": "held", "ReservedConcurrentExecutions": 0})
    events.call("PutFunctionEventInvokeConfig", {"FunctionName": "held", "MaximumRetryAttempts": 0})
    async_queue.enqueue(events.cloud, resolve_target(events.cloud, events.account, "held", None), b"{}", "r-held")
    wait_for(lambda: throttles(events) >= 2)
    assert runner.invocations == []
    events.call("DeleteFunctionConcurrency", {"FunctionName": "held"})
    wait_for(lambda: runner.invocations)
    assert runner.invocations[0]["request_id"] == "r-held"
    wait_for(lambda: queued(events) == 0)


def throttles(events: EventsCloud) -> int:
    with events.db.read() as conn:
        return conn.exec_driver_sql("SELECT COALESCE(MAX(throttles), 0) FROM lambda_async_events").scalar()


def test_a_function_destination_gets_the_record_as_an_asynchronous_event(events: EventsCloud,
                                                                        runner: FakeRunner) -> None:
    runner.answer = lambda invocation: (failing if invocation["function_arn"].endswith(":first") else ok)(invocation)
    events.create("first", events.role("first-role", SEND_ANYWHERE))
    events.create("second", events.role("second-role"))
    second = resolve_target(events.cloud, events.account, "second", None).function_arn
    events.call("PutFunctionEventInvokeConfig", {"FunctionName": "first", "MaximumRetryAttempts": 0,
                                                 "DestinationConfig": {"OnFailure": {"Destination": second}}})
    async_queue.enqueue(events.cloud, resolve_target(events.cloud, events.account, "first", None), b"[1, 2]", "r-1")
    wait_for(lambda: len(runner.invocations) == 2)
    handed_on = runner.invocations[1]
    assert handed_on["function_arn"] == second
    record = json.loads(handed_on["payload"])
    assert (record["requestContext"]["requestId"], record["requestPayload"]) == ("r-1", [1, 2])
    with events.db.begin() as conn:
        invoke_config.forget(conn, events.account, events.config.region, "first")
    events.refused("GetFunctionEventInvokeConfig", {"FunctionName": "first"}, "ResourceNotFoundException")


def test_event_invoke_configs_read_back_and_refuse_what_aws_refuses(events: EventsCloud) -> None:
    events.create("cfg", events.role("cfg-role"))
    events.call("PublishVersion", {"FunctionName": "cfg"})
    _, queue_arn = events.queue("cfg-queue")
    put = events.call("PutFunctionEventInvokeConfig", {"FunctionName": "cfg", "MaximumRetryAttempts": 0,
                                                       "MaximumEventAgeInSeconds": 3600})
    function_arn = resolve_target(events.cloud, events.account, "cfg", None).function_arn
    assert put["FunctionArn"] == f"{function_arn}:$LATEST"
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    assert events.call("GetFunctionEventInvokeConfig", {"FunctionName": "cfg"}) == put
    updated = events.call("UpdateFunctionEventInvokeConfig", {"FunctionName": "cfg", "MaximumRetryAttempts": 2})
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (2, 3600)
    events.call("PutFunctionEventInvokeConfig", {"FunctionName": "cfg", "Qualifier": "1"})
    listed = events.call("ListFunctionEventInvokeConfigs", {"FunctionName": "cfg"})["FunctionEventInvokeConfigs"]
    assert [item["FunctionArn"] for item in listed] == [f"{function_arn}:$LATEST", f"{function_arn}:1"]
    page = events.call("ListFunctionEventInvokeConfigs", {"FunctionName": "cfg", "MaxItems": 1})
    assert len(page["FunctionEventInvokeConfigs"]) == 1 and page["NextMarker"] == "1"

    # The role may not send to the queue: refused, and nothing changed.
    refused = events.refused("PutFunctionEventInvokeConfig", {
        "FunctionName": "cfg", "DestinationConfig": {"OnFailure": {"Destination": queue_arn}}},
        "InvalidParameterValueException")
    assert refused.message == "The provided execution role does not have permissions to call SendMessage on SQS"
    events.refused("PutFunctionEventInvokeConfig", {
        "FunctionName": "cfg", "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:s3:::bucket"}}},
        "InvalidParameterValueException")
    assert events.call("GetFunctionEventInvokeConfig", {"FunctionName": "cfg"}) == updated
    events.refused("PutFunctionEventInvokeConfig", {"FunctionName": "cfg", "Qualifier": "7"},
                   "ResourceNotFoundException")
    events.refused("PutFunctionEventInvokeConfig", {"FunctionName": "nope"}, "ResourceNotFoundException")
    events.call("DeleteFunctionEventInvokeConfig", {"FunctionName": "cfg"})
    gone = events.refused("GetFunctionEventInvokeConfig", {"FunctionName": "cfg"}, "ResourceNotFoundException")
    assert gone.message == f"The function {function_arn}:$LATEST doesn't have an EventInvokeConfig"
    events.refused("UpdateFunctionEventInvokeConfig", {"FunctionName": "cfg", "MaximumRetryAttempts": 1},
                   "ResourceNotFoundException")
    events.refused("DeleteFunctionEventInvokeConfig", {"FunctionName": "cfg"}, "ResourceNotFoundException")


def test_an_sqs_trigger_deletes_processed_messages_and_leaves_reported_failures(events: EventsCloud,
                                                                              runner: FakeRunner) -> None:
    def partial(invocation: dict[str, Any]) -> dict[str, Any]:
        records = json.loads(invocation["payload"])["Records"]
        failures = [{"itemIdentifier": r["messageId"]} for r in records if int(r["body"]) % 7 == 0]
        return {**ok(invocation), "payload": json.dumps({"batchItemFailures": failures})}

    runner.answer = partial
    poll = {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*"}
    events.create("consumer", events.role("consumer-role", poll), Timeout=1)
    _, dlq_arn = events.queue("consumer-dlq")
    dlq_url = events.op("sqs", "GetQueueUrl", {"QueueName": "consumer-dlq"})["QueueUrl"]
    url, arn = events.queue("work", VisibilityTimeout="1", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
    for start in range(0, 200, 10):
        events.op("sqs", "SendMessageBatch", {"QueueUrl": url, "Entries": [
            {"Id": str(n), "MessageBody": str(n)} for n in range(start, start + 10)]})
    mapping = events.call("CreateEventSourceMapping", {
        "FunctionName": "consumer", "EventSourceArn": arn, "BatchSize": 50, "MaximumBatchingWindowInSeconds": 1,
        "FunctionResponseTypes": ["ReportBatchItemFailures"]})
    assert mapping["State"] == "Creating"

    dead = events.drain(dlq_url, 29, timeout=30)
    assert sorted(int(message["Body"]) for message in dead) == list(range(0, 200, 7))
    assert events.drain(url, 1, timeout=1.5) == []
    seen = [record for sent in runner.invocations for record in json.loads(sent["payload"])["Records"]]
    assert {int(record["body"]) for record in seen} == set(range(200))
    assert all(len(json.loads(sent["payload"])["Records"]) <= 50 for sent in runner.invocations)
    first = seen[0]
    assert (first["eventSource"], first["eventSourceARN"], first["awsRegion"]) == ("aws:sqs", arn, events.config.region)
    events.call("DeleteEventSourceMapping", {"UUID": mapping["UUID"]})


def test_mappings_read_back_and_refuse_what_aws_refuses(events: EventsCloud) -> None:
    poll = {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*"}
    events.create("mapped", events.role("mapped-role", poll))
    events.create("blind", events.role("blind-role", {"Effect": "Allow", "Action": "sqs:ReceiveMessage",
                                                      "Resource": "*"}))
    events.create("slow", events.role("slow-role", poll), Timeout=60)
    _, arn = events.queue("source")
    _, fifo_arn = events.queue("source.fifo", FifoQueue="true")
    created = events.call("CreateEventSourceMapping", {"FunctionName": "mapped", "EventSourceArn": arn,
                                                       "Enabled": False})
    function_arn = resolve_target(events.cloud, events.account, "mapped", None).function_arn
    assert (created["BatchSize"], created["MaximumBatchingWindowInSeconds"], created["FunctionArn"]) == (
        10, 0, function_arn)
    got = events.call("GetEventSourceMapping", {"UUID": created["UUID"]})
    assert got == {**created, "State": "Disabled"}
    enabled = events.call("UpdateEventSourceMapping", {"UUID": created["UUID"], "Enabled": True, "BatchSize": 500,
                                                       "MaximumBatchingWindowInSeconds": 5})
    assert (enabled["State"], enabled["BatchSize"]) == ("Enabling", 500)
    assert events.call("GetEventSourceMapping", {"UUID": created["UUID"]})["State"] == "Enabled"
    assert [m["UUID"] for m in events.call("ListEventSourceMappings", {"FunctionName": "mapped"})[
        "EventSourceMappings"]] == [created["UUID"]]
    assert events.call("ListEventSourceMappings", {"EventSourceArn": fifo_arn})["EventSourceMappings"] == []

    conflict = events.refused("CreateEventSourceMapping", {"FunctionName": "mapped", "EventSourceArn": arn},
                              "ResourceConflictException")
    assert created["UUID"] in conflict.message
    window = events.refused("CreateEventSourceMapping", {"FunctionName": "mapped", "EventSourceArn": fifo_arn,
                                                         "BatchSize": 11}, "InvalidParameterValueException")
    assert "FIFO" in window.message
    bare = dict(FunctionName="slow", EventSourceArn=arn)
    assert "visibility timeout" in events.refused("CreateEventSourceMapping", bare,
                                                  "InvalidParameterValueException").message
    denied = events.refused("CreateEventSourceMapping", {"FunctionName": "blind", "EventSourceArn": arn},
                            "InvalidParameterValueException")
    assert denied.message == "The provided execution role does not have permissions to call DeleteMessage on SQS"
    for params in ({"FunctionName": "mapped", "EventSourceArn": arn, "BatchSize": 100},
                   {"FunctionName": "mapped", "EventSourceArn": arn, "StartingPosition": "LATEST"},
                   {"FunctionName": "mapped", "EventSourceArn": f"{arn}-missing"},
                   {"FunctionName": "mapped", "EventSourceArn": "arn:aws:kinesis:home-1:111111111111:stream/s"},
                   {"FunctionName": "mapped"}):
        events.refused("CreateEventSourceMapping", params, "InvalidParameterValueException")
    events.refused("CreateEventSourceMapping", {"FunctionName": "ghost", "EventSourceArn": arn},
                   "ResourceNotFoundException")
    assert len(events.call("ListEventSourceMappings", {})["EventSourceMappings"]) == 1
    deleted = events.call("DeleteEventSourceMapping", {"UUID": created["UUID"]})
    assert deleted["State"] == "Deleting"
    events.refused("GetEventSourceMapping", {"UUID": created["UUID"]}, "ResourceNotFoundException")


def test_an_sns_topic_invokes_a_function_its_policy_lets_sns_invoke(events: EventsCloud, runner: FakeRunner) -> None:
    events.create("listener", events.role("listener-role"))
    topic = events.op("sns", "CreateTopic", {"Name": "news"})["TopicArn"]
    function_arn = resolve_target(events.cloud, events.account, "listener", None).function_arn
    subscription = events.op("sns", "Subscribe", {"TopicArn": topic, "Protocol": "lambda",
                                                  "Endpoint": function_arn})["SubscriptionArn"]
    # Without a function policy for SNS the delivery is refused (not retried): nothing runs.
    events.op("sns", "Publish", {"TopicArn": topic, "Message": "first"})
    time.sleep(0.5)
    assert runner.invocations == []
    events.call("AddPermission", {"FunctionName": "listener", "StatementId": "sns", "Action": "lambda:InvokeFunction",
                                  "Principal": "sns.amazonaws.com", "SourceArn": topic})
    events.op("sns", "Publish", {"TopicArn": topic, "Message": "second", "Subject": "hello", "MessageAttributes": {
        "color": {"DataType": "String", "StringValue": "red"}}})
    wait_for(lambda: runner.invocations)
    [record] = json.loads(runner.invocations[0]["payload"])["Records"]
    assert (record["EventSource"], record["EventSubscriptionArn"]) == ("aws:sns", subscription)
    sns = record["Sns"]
    assert (sns["Type"], sns["TopicArn"], sns["Subject"], sns["Message"]) == ("Notification", topic, "hello", "second")
    assert sns["MessageAttributes"] == {"color": {"Type": "String", "Value": "red"}}
    assert sns["Signature"] and sns["SigningCertUrl"] and sns["UnsubscribeUrl"]


def test_sns_refusals_are_client_errors(events: EventsCloud) -> None:
    facts = {"endpoint": f"arn:aws:lambda:{events.config.region}:{events.account}:function:none",
             "topic_arn": f"arn:aws:sns:{events.config.region}:{events.account}:t", "subscription_arn": "s"}
    with pytest.raises(ServiceError) as refused:
        sns_source.deliver(events.cloud, facts, {"Type": "Notification"}, "x")
    assert refused.value.code == "ResourceNotFoundException"
    assert events.cloud.sns_delivery_protocols["lambda"] is sns_source.deliver



def test_queued_events_survive_a_restart(tmp_path: Path) -> None:
    first = Cloud(events_config(tmp_path / "data"))
    account = first.credentials.create_account("owner", "owner@example.com", is_management=True)
    before = EventsCloud(first, account)
    first.start()
    before.create("durable", before.role("durable-role"))
    # No function host yet: the event waits (as a system error, with backoff) and the cloud stops.
    async_queue.enqueue(first, resolve_target(first, account, "durable", None), b'{"n": 1}', "r-durable")
    wait_for(lambda: throttles(before) >= 1)
    before.close()

    second = Cloud(events_config(tmp_path / "data"))
    after = EventsCloud(second, account)
    made = FakeRunner(second.agent_token)
    try:
        after.register_runner("h-later", made.url)
        second.start()
        wait_for(lambda: made.invocations)
        assert (made.invocations[0]["request_id"], made.invocations[0]["payload"]) == ("r-durable", '{"n": 1}')
        wait_for(lambda: queued(after) == 0)
    finally:
        made.close()
        after.close()
