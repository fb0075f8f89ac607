"""FIFO queues over boto3: group ordering, a group blocked while in flight, deduplication, sequence numbers.

https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.helpers import denied
from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def sqs(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("sqs")


def fifo_queue(sqs: Any, name: str, **attributes: str) -> str:
    return sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true", **attributes})["QueueUrl"]


def test_messages_of_a_group_come_in_order_and_block_while_in_flight(sqs: Any, unique: str) -> None:
    url = fifo_queue(sqs, unique)
    for index in range(6):
        group = "a" if index % 2 == 0 else "b"
        sqs.send_message(QueueUrl=url, MessageBody=f"{group}{index}", MessageGroupId=group,
                         MessageDeduplicationId=str(index))
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=30)["Messages"]
    assert [m["Body"] for m in first] == ["a0", "a2"]          # as many of one group as it can, in order
    second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)["Messages"]
    assert [m["Body"] for m in second] == ["b1", "b3", "b5"]    # group a is blocked: a4 waits for a0 and a2
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                    for i, m in enumerate(first)])
    [last] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert last["Body"] == "a4"


def test_a_returned_message_comes_back_before_the_rest_of_its_group(sqs: Any, unique: str) -> None:
    url = fifo_queue(sqs, unique)
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": f"m{i}", "MessageGroupId": "g", "MessageDeduplicationId": str(i)}
        for i in range(3)])
    [first] = sqs.receive_message(QueueUrl=url)["Messages"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                MessageSystemAttributeNames=["ApproximateReceiveCount", "SequenceNumber"])["Messages"]
    assert [m["Body"] for m in again] == ["m0", "m1", "m2"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    numbers = [int(m["Attributes"]["SequenceNumber"]) for m in again]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3


def test_deduplication_by_id_and_by_content(sqs: Any, unique: str) -> None:
    url = fifo_queue(sqs, unique)
    first = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d")
    again = sqs.send_message(QueueUrl=url, MessageBody="other body", MessageGroupId="g",
                             MessageDeduplicationId="d")
    assert again["MessageId"] == first["MessageId"] and again["SequenceNumber"] == first["SequenceNumber"]
    assert denied(sqs.send_message, QueueUrl=url, MessageBody="x", MessageGroupId="g")[0] == "InvalidParameterValue"
    by_content = fifo_queue(sqs, f"{unique}-c", ContentBasedDeduplication="true")
    one = sqs.send_message(QueueUrl=by_content, MessageBody="same", MessageGroupId="g")
    two = sqs.send_message(QueueUrl=by_content, MessageBody="same", MessageGroupId="h")
    three = sqs.send_message(QueueUrl=by_content, MessageBody="different", MessageGroupId="g")
    assert one["MessageId"] == two["MessageId"] != three["MessageId"]
    messages = sqs.receive_message(QueueUrl=by_content, MaxNumberOfMessages=10,
                                   MessageSystemAttributeNames=["MessageDeduplicationId", "MessageGroupId"])["Messages"]
    assert sorted(m["Body"] for m in messages) == ["different", "same"]
    # a deleted message's id still deduplicates for five minutes
    for message in messages:
        sqs.delete_message(QueueUrl=by_content, ReceiptHandle=message["ReceiptHandle"])
    assert sqs.send_message(QueueUrl=by_content, MessageBody="same", MessageGroupId="g")["MessageId"] == \
        one["MessageId"]
    assert "Messages" not in sqs.receive_message(QueueUrl=by_content)


def test_deduplication_scope_message_group(sqs: Any, unique: str) -> None:
    url = fifo_queue(sqs, unique, DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    a = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="a", MessageDeduplicationId="d")
    b = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="b", MessageDeduplicationId="d")
    assert a["MessageId"] != b["MessageId"]
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 2


@pytest.mark.parametrize(("extra", "code"), [
    ({"MessageDeduplicationId": "d"}, "MissingParameter"),
    ({"MessageGroupId": "g", "MessageDeduplicationId": "d", "DelaySeconds": 5}, "InvalidParameterValue"),
    ({"MessageGroupId": "g" * 129, "MessageDeduplicationId": "d"}, "InvalidParameterValue"),
    ({"MessageGroupId": "g", "MessageDeduplicationId": "bad id"}, "InvalidParameterValue"),
])
def test_fifo_send_rules(sqs: Any, unique: str, extra: dict[str, Any], code: str) -> None:
    url = fifo_queue(sqs, unique)
    assert denied(sqs.send_message, QueueUrl=url, MessageBody="x", **extra)[0] == code


def test_a_fifo_receipt_handle_expires_with_its_receive(sqs: Any, unique: str) -> None:
    url = fifo_queue(sqs, unique, ContentBasedDeduplication="true")
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    [first] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    [second] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)["Messages"]
    code, _, message = denied(sqs.delete_message, QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert code == "InvalidParameterValue" and "expired" in message
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])[
        "Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_fifo_dead_letter_queue(sqs: Any, unique: str) -> None:
    dlq = fifo_queue(sqs, f"{unique}-dlq")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = fifo_queue(sqs, unique, ContentBasedDeduplication="true", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
    sqs.send_message(QueueUrl=url, MessageBody="first", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="second", MessageGroupId="g")
    [message] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    assert message["Body"] == "first"
    [next_one] = sqs.receive_message(QueueUrl=url)["Messages"]     # "first" moved away, the group goes on
    assert next_one["Body"] == "second"
    [dead] = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["MessageGroupId"])["Messages"]
    assert (dead["Body"], dead["Attributes"]["MessageGroupId"]) == ("first", "g")
