"""SNS over the wire with boto3 and the AWS CLI: topics, subscriptions, fan-out to SQS, FIFO order,
filters, cross-account access through the topic policy, the delivery log, and an outbox that survives
a SIGKILL of the controller."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from controller.sns import signing
from tests.e2e.helpers import member_account
from tests.support import CloudletProcess

Client = Any


@pytest.fixture
def sns(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("sns")


@pytest.fixture
def sqs(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("sqs")


def make_queue(sqs: Client, name: str, topic_arn: str, **attributes: str) -> tuple[str, str]:
    """A queue whose policy lets the topic send to it (AWS requires it even within one account)."""
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, queue_arn


def receive_all(sqs: Client, url: str, count: int, timeout: float = 15) -> list[dict[str, Any]]:
    """Long-poll until ``count`` messages arrived (deleting them), or the time is up."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    MessageAttributeNames=["All"], AttributeNames=["All"]).get("Messages", [])
        for message in batch:
            got.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return got


def code_of(call: Callable[..., Any], **params: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as excinfo:
        call(**params)
    error = excinfo.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def test_fan_out_to_several_queues_with_signed_envelopes_and_raw(sns: Client, sqs: Client, unique: str) -> None:
    topic = sns.create_topic(Name=f"{unique}-news")["TopicArn"]
    queues = [make_queue(sqs, f"{unique}-q{index}", topic) for index in range(4)]
    for index, (_, queue_arn) in enumerate(queues):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "true"} if index == 3 else {})
    message_id = sns.publish(TopicArn=topic, Message="hello", Subject="Greeting", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "greeting"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})["MessageId"]
    for url, _ in queues[:3]:
        [message] = receive_all(sqs, url, 1)
        document = json.loads(message["Body"])
        assert document["Type"] == "Notification" and document["MessageId"] == message_id
        assert (document["TopicArn"], document["Subject"], document["Message"]) == (topic, "Greeting", "hello")
        assert document["MessageAttributes"]["kind"] == {"Type": "String", "Value": "greeting"}
        assert document["MessageAttributes"]["blob"] == {"Type": "Binary", "Value": "AAE="}
        assert document["UnsubscribeURL"].startswith(sns.meta.endpoint_url)
        with urllib.request.urlopen(document["SigningCertURL"], timeout=10) as answer:   # served unsigned
            assert signing.verify(document, answer.read())
    [raw] = receive_all(sqs, queues[3][0], 1)
    assert raw["Body"] == "hello"
    assert raw["MessageAttributes"]["kind"] == {"StringValue": "greeting", "DataType": "String"}
    assert raw["MessageAttributes"]["blob"] == {"BinaryValue": b"\x00\x01", "DataType": "Binary"}


def test_filter_policies_apply_to_deliveries(sns: Client, sqs: Client, unique: str) -> None:
    topic = sns.create_topic(Name=f"{unique}-orders")["TopicArn"]
    red_url, red = make_queue(sqs, f"{unique}-red", topic)
    eu_url, eu = make_queue(sqs, f"{unique}-eu", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=red, Attributes={
        "RawMessageDelivery": "true", "FilterPolicy": json.dumps({"color": ["red"], "size": [{"numeric": ["<", 10]}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=eu, Attributes={
        "RawMessageDelivery": "true", "FilterPolicyScope": "MessageBody",
        "FilterPolicy": json.dumps({"region": [{"anything-but": {"prefix": "us-"}}]})})
    for body, color, size in (('{"region": "eu-west-1"}', "red", "5"), ('{"region": "us-east-1"}', "red", "50"),
                              ('{"region": "ap-south-1"}', "blue", "1")):
        sns.publish(TopicArn=topic, Message=body, MessageAttributes={
            "color": {"DataType": "String", "StringValue": color}, "size": {"DataType": "Number", "StringValue": size}})
    assert [m["Body"] for m in receive_all(sqs, red_url, 2, timeout=4)] == ['{"region": "eu-west-1"}']
    assert sorted(m["Body"] for m in receive_all(sqs, eu_url, 3, timeout=4)) == [
        '{"region": "ap-south-1"}', '{"region": "eu-west-1"}']


def test_fifo_topic_to_fifo_queue_in_order(sns: Client, sqs: Client, unique: str) -> None:
    topic = sns.create_topic(Name=f"{unique}-orders.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url, queue_arn = make_queue(sqs, f"{unique}-orders.fifo", topic, FifoQueue="true")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    sequence_numbers = []
    for index in range(12):
        answer = sns.publish(TopicArn=topic, Message=f"m{index}", MessageGroupId=f"g{index % 3}",
                             MessageDeduplicationId=f"d{index}")
        sequence_numbers.append(int(answer["SequenceNumber"]))
    sns.publish(TopicArn=topic, Message="again", MessageGroupId="g0", MessageDeduplicationId="d0")  # deduplicated
    assert sequence_numbers == sorted(sequence_numbers)
    messages = receive_all(sqs, url, 12)
    assert len(messages) == 12
    assert receive_all(sqs, url, 1, timeout=2) == []
    for group in ("g0", "g1", "g2"):
        bodies = [m["Body"] for m in messages if m["Attributes"]["MessageGroupId"] == group]
        assert bodies == [f"m{i}" for i in range(12) if f"g{i % 3}" == group]
    assert {m["Attributes"]["MessageDeduplicationId"] for m in messages} == {f"d{i}" for i in range(12)}


def test_errors_over_the_wire(sns: Client, unique: str) -> None:
    topic = sns.create_topic(Name=f"{unique}-errors")["TopicArn"]
    assert code_of(sns.get_topic_attributes, TopicArn=topic + "-none") == ("NotFound", 404, "Topic does not exist")
    assert code_of(sns.publish, TopicArn=topic, Message="x", Subject="") == \
        ("InvalidParameter", 400, "Invalid parameter: Subject")
    assert code_of(sns.subscribe, TopicArn=topic, Protocol="sqs", Endpoint="queue")[0] == "InvalidParameter"
    code, status, _ = code_of(sns.publish, TopicArn=topic, Message="x", MessageAttributes={
        "n": {"DataType": "Number", "StringValue": "NaN-ish"}})
    assert (code, status) == ("ParameterValueInvalid", 400)
    result = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "fine"}, {"Id": "b", "Message": "x", "MessageGroupId": "g"}])
    assert [e["Id"] for e in result["Successful"]] == ["a"]
    assert result["Failed"][0]["Code"] == "InvalidParameter" and result["Failed"][0]["SenderFault"] is True


def test_other_accounts_need_the_topic_policy(sns: Client, sqs: Client, cloudlet: CloudletProcess,
                                              unique: str) -> None:
    topic = sns.create_topic(Name=f"{unique}-shared")["TopicArn"]
    other_account, credentials = member_account(cloudlet, f"{unique}-member")
    other_sns = cloudlet.client("sns", credentials)
    other_sqs = cloudlet.client("sqs", credentials)
    url, queue_arn = make_queue(other_sqs, f"{unique}-theirs", topic)
    code, status, message = code_of(other_sns.subscribe, TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    assert (code, status) == ("AuthorizationError", 403)
    assert "SNS:Subscribe".lower() in message.lower()
    assert code_of(other_sns.publish, TopicArn=topic, Message="x")[0] == "AuthorizationError"
    sns.add_permission(TopicArn=topic, Label="member", AWSAccountId=[other_account],
                       ActionName=["Subscribe", "Publish"])
    subscription = other_sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                                       Attributes={"RawMessageDelivery": "true"})["SubscriptionArn"]
    assert other_sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]["Owner"] == other_account
    other_sns.publish(TopicArn=topic, Message="from the member")
    assert [m["Body"] for m in receive_all(other_sqs, url, 1)] == ["from the member"]
    sns.remove_permission(TopicArn=topic, Label="member")
    assert code_of(other_sns.publish, TopicArn=topic, Message="x")[0] == "AuthorizationError"


def _delivery_log(cloud: CloudletProcess, topic: str) -> list[tuple[str, str, str, str]]:
    return cloud.query_state("SELECT protocol, outcome, detail, payload FROM sns_delivery_log WHERE topic_arn = ?"
                             " ORDER BY log_id", (topic,))  # type: ignore[return-value]


def _wait_for_log(cloud: CloudletProcess, topic: str, count: int) -> list[tuple[str, str, str, str]]:
    deadline = time.monotonic() + 10
    while len(entries := _delivery_log(cloud, topic)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return entries


def test_email_confirmation_by_subscribe_url_and_the_delivery_log(sns: Client, cloudlet: CloudletProcess,
                                                                   unique: str) -> None:
    topic = sns.create_topic(Name=f"{unique}-mail")["TopicArn"]
    answer = sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint="ops@example.com")
    assert answer["SubscriptionArn"] == "pending confirmation"
    [(_, outcome, _, payload)] = _wait_for_log(cloudlet, topic, 1)
    assert outcome == "confirmation"
    with urllib.request.urlopen(json.loads(payload)["SubscribeURL"], timeout=10) as confirmed:  # unsigned, as email
        assert confirmed.status == 200
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert subscription["SubscriptionArn"].startswith(topic + ":")
    sns.publish(TopicArn=topic, Message="disk full", Subject="Alarm")
    entries = _wait_for_log(cloudlet, topic, 2)
    protocol, outcome, detail, payload = entries[1]
    assert (protocol, outcome) == ("email-json", "delivered")
    assert json.loads(payload)["Message"] == "disk full" and json.loads(payload)["Subject"] == "Alarm"


def test_aws_cli_walk_through(cloudlet: CloudletProcess, sqs: Client, unique: str) -> None:
    topic = json.loads(cloudlet.aws("sns", "create-topic", "--name", f"{unique}-cli").stdout)["TopicArn"]
    url, queue_arn = make_queue(sqs, f"{unique}-cli", topic)
    subscription = json.loads(cloudlet.aws(
        "sns", "subscribe", "--topic-arn", topic, "--protocol", "sqs", "--notification-endpoint", queue_arn,
        "--attributes", json.dumps({"FilterPolicy": json.dumps({"level": ["error"]}),
                                    "RawMessageDelivery": "true"})).stdout)["SubscriptionArn"]
    listed = json.loads(cloudlet.aws("sns", "list-subscriptions-by-topic", "--topic-arn", topic).stdout)
    assert [s["SubscriptionArn"] for s in listed["Subscriptions"]] == [subscription]
    for level in ("info", "error"):
        cloudlet.aws("sns", "publish", "--topic-arn", topic, "--message", f"a {level}", "--message-attributes",
                     json.dumps({"level": {"DataType": "String", "StringValue": level}}))
    assert [m["Body"] for m in receive_all(sqs, url, 2, timeout=4)] == ["a error"]
    failed = cloudlet.aws("sns", "get-topic-attributes", "--topic-arn", topic + "x", check=False)
    assert failed.returncode != 0 and "NotFound" in failed.stderr


def test_acknowledged_messages_survive_a_sigkill(tmp_path: Path) -> None:
    cloud = CloudletProcess(tmp_path / "data").start()
    try:
        sns, sqs = cloud.client("sns"), cloud.client("sqs")
        topic = sns.create_topic(Name="durable")["TopicArn"]
        urls = []
        for index in range(3):
            url, queue_arn = make_queue(sqs, f"durable-{index}", topic)
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
            urls.append(url)
        sent = set()
        for batch in range(20):
            entries = [{"Id": str(i), "Message": f"m{batch}-{i}"} for i in range(10)]
            assert len(sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)["Successful"]) == 10
            sent.update(entry["Message"] for entry in entries)
        cloud.stop(signal.SIGKILL)
        [(owed,)] = cloud.query_state("SELECT COUNT(*) FROM sns_deliveries")
        assert owed > 0, "the kill landed after every delivery was done: nothing was left to recover"
        cloud.port = 0   # the killed server's sockets may keep its port a while (see test_s3_durability)
        cloud.start()
        sqs = cloud.client("sqs")
        for url in urls:   # at least once: a delivery the kill interrupted may come twice
            bodies: set[str] = set()
            deadline = time.monotonic() + 60
            while bodies != sent and time.monotonic() < deadline:
                bodies.update(m["Body"] for m in receive_all(sqs, url, 10, timeout=2))
            assert bodies == sent
    finally:
        cloud.stop()
