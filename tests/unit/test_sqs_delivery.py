"""Contract A: SNS's way into a queue (controller/sqs/delivery.py), on a real Cloud."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.cloud import Cloud
from controller.config import Config
from controller.errors import ServiceError
from controller.sqs.delivery import deliver
from tests.unit.harness import CloudHarness

ACCOUNT = "111111111111"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:news"


class SqsCloud(CloudHarness):
    service = "sqs"
    host = "localhost:8773"


@pytest.fixture
def sqs(tmp_path: Path) -> Iterator[SqsCloud]:
    harness = SqsCloud(Cloud(Config(data_dir=tmp_path / "data")), ACCOUNT)
    yield harness
    harness.close()


def topic_policy(queue_arn: str, topic_arn: str = TOPIC) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]})


def make_queue(sqs: SqsCloud, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.call("CreateQueue", {"QueueName": name, "Attributes": attributes})["QueueUrl"]
    arn = sqs.call("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["QueueArn"]})["Attributes"]["QueueArn"]
    return url, arn


def test_delivers_when_the_queue_policy_allows_the_topic(sqs: SqsCloud) -> None:
    url, arn = make_queue(sqs, "inbox")
    sqs.call("SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": topic_policy(arn)}})
    message_id = deliver(sqs.cloud, arn, "hello", {"kind": {"DataType": "String", "StringValue": "greeting"}},
                         source_arn=TOPIC, source_account=ACCOUNT)
    [message] = sqs.call("ReceiveMessage", {"QueueUrl": url, "MessageAttributeNames": ["All"]})["Messages"]
    assert message["MessageId"] == message_id
    assert message["Body"] == "hello"
    assert message["MessageAttributes"] == {"kind": {"DataType": "String", "StringValue": "greeting"}}


def test_refuses_without_a_policy_even_in_the_same_account(sqs: SqsCloud) -> None:
    _, arn = make_queue(sqs, "closed")
    with pytest.raises(ServiceError) as excinfo:
        deliver(sqs.cloud, arn, "hello", {}, source_arn=TOPIC, source_account=ACCOUNT)
    assert excinfo.value.code == "AccessDenied"


def test_refuses_another_topic_than_the_policy_names(sqs: SqsCloud) -> None:
    url, arn = make_queue(sqs, "picky")
    sqs.call("SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": topic_policy(arn)}})
    with pytest.raises(ServiceError) as excinfo:
        deliver(sqs.cloud, arn, "hello", {}, source_arn=TOPIC + "-other", source_account=ACCOUNT)
    assert excinfo.value.code == "AccessDenied"


def test_a_missing_queue_is_sqs_non_existent_queue(sqs: SqsCloud) -> None:
    with pytest.raises(ServiceError) as excinfo:
        deliver(sqs.cloud, f"arn:aws:sqs:us-east-1:{ACCOUNT}:gone", "x", {}, source_arn=TOPIC, source_account=ACCOUNT)
    assert excinfo.value.code == "AWS.SimpleQueueService.NonExistentQueue"


def test_fifo_delivery_keeps_group_and_deduplicates(sqs: SqsCloud) -> None:
    url, arn = make_queue(sqs, "orders.fifo", FifoQueue="true")
    sqs.call("SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": topic_policy(arn)}})
    first = deliver(sqs.cloud, arn, "a", {}, source_arn=TOPIC, source_account=ACCOUNT, group_id="g", dedup_id="d1")
    again = deliver(sqs.cloud, arn, "a", {}, source_arn=TOPIC, source_account=ACCOUNT, group_id="g", dedup_id="d1")
    assert first == again
    messages = sqs.call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10,
                                           "MessageSystemAttributeNames": ["MessageGroupId"]})["Messages"]
    assert [m["Attributes"]["MessageGroupId"] for m in messages] == ["g"]


def test_too_big_a_message_is_refused(sqs: SqsCloud) -> None:
    url, arn = make_queue(sqs, "small", MaximumMessageSize="1024")
    sqs.call("SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": topic_policy(arn)}})
    with pytest.raises(ServiceError) as excinfo:
        deliver(sqs.cloud, arn, "x" * 1025, {}, source_arn=TOPIC, source_account=ACCOUNT)
    assert excinfo.value.code == "InvalidParameterValue"
