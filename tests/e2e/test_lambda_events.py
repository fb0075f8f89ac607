"""Asynchronous invocation, an SQS trigger and an SNS subscription, with functions running on a real agent.

The cloud is ``functions_cloud``, whose asynchronous retries wait 1 and 2 seconds instead of AWS's minute
and two (``lambda_async_retry_delays`` in cloudlet.json), so the retry path runs in seconds. What the functions saw is read back the way a user would: from the destination
queue's invocation records and from the queues the trigger drained.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e.helpers import Client
from tests.e2e.lambda_helpers import execution_role, needs_functions, python_function
from tests.support import CloudletProcess

pytestmark = needs_functions

SEND = {"Effect": "Allow", "Action": ["sqs:SendMessage", "sns:Publish"], "Resource": "*"}
POLL = {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
        "Resource": "*"}


@pytest.fixture
def lam(functions_cloud: CloudletProcess) -> Client:
    return functions_cloud.client("lambda", read_timeout=120)


@pytest.fixture
def sqs(functions_cloud: CloudletProcess) -> Client:
    return functions_cloud.client("sqs")


@pytest.fixture
def iam(functions_cloud: CloudletProcess) -> Client:
    return functions_cloud.client("iam")


def make_queue(sqs: Client, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def receive(sqs: Client, url: str, want: int, timeout: float) -> list[dict[str, Any]]:
    """Receive and delete messages until ``want`` arrived or ``timeout`` passed."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2,
                                    MessageAttributeNames=["All"]).get("Messages", [])
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        got.extend(batch)
    return got


def test_a_failing_async_invocation_is_retried_twice_then_recorded_in_the_on_failure_queue(
        lam: Client, sqs: Client, iam: Client, unique: str) -> None:
    role = execution_role(iam, f"{unique}-exec", SEND)
    function = python_function(lam, unique, role, """
        def handler(event, context):
            raise ValueError(f"cannot ship order {event['order']}")
    """)
    url, arn = make_queue(sqs, f"{unique}-failures")
    lam.put_function_event_invoke_config(FunctionName=unique,
                                         DestinationConfig={"OnFailure": {"Destination": arn}})
    started = time.monotonic()
    response = lam.invoke(FunctionName=unique, InvocationType="Event", Payload=json.dumps({"order": 7}))
    assert response["StatusCode"] == 202

    [message] = receive(sqs, url, 1, timeout=60)
    # Two retries after 1 s and 2 s: the record cannot come sooner.
    assert time.monotonic() - started >= 3
    record = json.loads(message["Body"])
    assert record["version"] == "1.0"
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == f"{function['FunctionArn']}:$LATEST"
    assert record["requestPayload"] == {"order": 7}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "cannot ship order 7"


def test_an_sqs_trigger_processes_1000_messages_and_leaves_only_the_reported_failures(
        lam: Client, sqs: Client, iam: Client, unique: str) -> None:
    role = execution_role(iam, f"{unique}-exec", POLL)
    python_function(lam, unique, role, """
        def handler(event, context):
            failures = [{"itemIdentifier": record["messageId"]} for record in event["Records"]
                        if int(record["body"]) % 97 == 0]
            return {"batchItemFailures": failures}
    """, Timeout=5)
    dlq_url, dlq_arn = make_queue(sqs, f"{unique}-dlq")
    url, arn = make_queue(sqs, unique, VisibilityTimeout="5", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
    for start in range(0, 1000, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(n)}
                                                      for n in range(start, start + 10)])
    mapping = lam.create_event_source_mapping(FunctionName=unique, EventSourceArn=arn, BatchSize=100,
                                              MaximumBatchingWindowInSeconds=1,
                                              FunctionResponseTypes=["ReportBatchItemFailures"])
    try:
        # The reported failures come back after their visibility timeout and, received once already,
        # move to the dead-letter queue; everything else was deleted after its batch.
        dead = receive(sqs, dlq_url, 11, timeout=120)
        assert sorted(int(message["Body"]) for message in dead) == list(range(0, 1000, 97))
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        assert counts == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
    finally:
        lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_an_sns_topic_invokes_its_subscribed_function_with_the_sns_event(
        functions_cloud: CloudletProcess, lam: Client, sqs: Client, iam: Client, unique: str) -> None:
    sns = functions_cloud.client("sns")
    role = execution_role(iam, f"{unique}-exec", SEND)
    function = python_function(lam, unique, role, """
        def handler(event, context):
            return event
    """)
    url, arn = make_queue(sqs, f"{unique}-done")
    lam.put_function_event_invoke_config(FunctionName=unique, DestinationConfig={"OnSuccess": {"Destination": arn}})
    topic = sns.create_topic(Name=unique)["TopicArn"]
    lam.add_permission(FunctionName=unique, StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic)
    subscription = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function["FunctionArn"],
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
    sns.publish(TopicArn=topic, Message="hello function", Subject="greeting",
                MessageAttributes={"color": {"DataType": "String", "StringValue": "red"}})

    [message] = receive(sqs, url, 1, timeout=60)
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "Success"
    [event] = record["responsePayload"]["Records"]
    assert (event["EventSource"], event["EventVersion"], event["EventSubscriptionArn"]) == (
        "aws:sns", "1.0", subscription)
    assert (event["Sns"]["TopicArn"], event["Sns"]["Subject"], event["Sns"]["Message"]) == (
        topic, "greeting", "hello function")
    assert event["Sns"]["MessageAttributes"] == {"color": {"Type": "String", "Value": "red"}}
    assert event["Sns"]["Signature"] and event["Sns"]["SigningCertUrl"] and event["Sns"]["UnsubscribeUrl"]
