"""SNS deliveries on a real Cloud with its delivery worker: SQS fan-out, filters, FIFO order, the delivery
log, Lambda's hook, dead-letter queues, and an outbox that outlives a restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from controller.cloud import Cloud
from controller.config import Config
from controller.sns import signing, worker
from tests.unit.harness import CloudHarness

ACCOUNT = "111111111111"


class SnsCloud(CloudHarness):
    service = "sns"


class SqsCloud(CloudHarness):
    service = "sqs"
    host = "localhost:8773"


class Pair:
    """SNS and SQS of one cloud whose delivery worker runs."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.sns = SnsCloud(cloud, ACCOUNT)
        self.sqs = SqsCloud(cloud, ACCOUNT)
        worker.start(cloud)

    def topic(self, name: str, **attributes: str) -> str:
        return self.sns.call("CreateTopic", {"Name": name, "Attributes": attributes})["TopicArn"]

    def queue(self, name: str, topic_arn: str, *, allow: bool = True, **attributes: str) -> tuple[str, str]:
        url = self.sqs.call("CreateQueue", {"QueueName": name, "Attributes": attributes})["QueueUrl"]
        queue_arn = self.sqs.call("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["QueueArn"]}
                                  )["Attributes"]["QueueArn"]
        if allow:
            policy = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]}
            self.sqs.call("SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": json.dumps(policy)}})
        return url, queue_arn

    def subscribe(self, topic_arn: str, protocol: str, endpoint: str, **attributes: str) -> str:
        return self.sns.call("Subscribe", {"TopicArn": topic_arn, "Protocol": protocol, "Endpoint": endpoint,
                                           "Attributes": attributes})["SubscriptionArn"]

    def receive(self, url: str, count: int = 10) -> list[dict[str, Any]]:
        assert worker.drain(self.cloud)
        messages = self.sqs.call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": count,
                                                    "MessageAttributeNames": ["All"]}).get("Messages", [])
        return messages

    def log(self) -> list[dict[str, Any]]:
        assert worker.drain(self.cloud)
        with self.cloud.db.read() as conn:
            return [dict(row._mapping) for row in conn.exec_driver_sql(
                "SELECT protocol, endpoint, outcome, detail, payload FROM sns_delivery_log ORDER BY log_id")]


@pytest.fixture
def pair(clouds: Any) -> Pair:
    return Pair(clouds.vpc().cloud)   # the vpc harness closes the cloud (and its worker)


def test_fan_out_to_queues_as_signed_notifications_and_raw(pair: Pair) -> None:
    topic = pair.topic("news")
    urls = []
    for index in range(3):
        url, queue_arn = pair.queue(f"q{index}", topic)
        pair.subscribe(topic, "sqs", queue_arn, **({"RawMessageDelivery": "true"} if index == 2 else {}))
        urls.append(url)
    attributes = {"kind": {"DataType": "String", "StringValue": "greeting"}}
    message_id = pair.sns.call("Publish", {"TopicArn": topic, "Message": "hello", "Subject": "Hi",
                                           "MessageAttributes": attributes})["MessageId"]
    for url in urls[:2]:
        [received] = pair.receive(url)
        document = json.loads(received["Body"])
        assert (document["Type"], document["MessageId"], document["TopicArn"], document["Subject"],
                document["Message"]) == ("Notification", message_id, topic, "Hi", "hello")
        assert document["MessageAttributes"] == {"kind": {"Type": "String", "Value": "greeting"}}
        _, certificate = signing.signing_identity(pair.cloud)
        assert signing.verify(document, certificate.public_bytes(serialization.Encoding.PEM))
        assert "MessageAttributes" not in received
    [raw] = pair.receive(urls[2])
    assert raw["Body"] == "hello"
    assert raw["MessageAttributes"] == attributes


def test_filter_policies_choose_the_subscriptions(pair: Pair) -> None:
    topic = pair.topic("orders")
    books, books_arn = pair.queue("books", topic)
    big, big_arn = pair.queue("big", topic)
    body, body_arn = pair.queue("body", topic)
    pair.subscribe(topic, "sqs", books_arn, RawMessageDelivery="true", FilterPolicy='{"kind": ["book"]}')
    pair.subscribe(topic, "sqs", big_arn, RawMessageDelivery="true",
                   FilterPolicy='{"price": [{"numeric": [">=", 100]}]}')
    pair.subscribe(topic, "sqs", body_arn, RawMessageDelivery="true", FilterPolicyScope="MessageBody",
                   FilterPolicy='{"order": {"region": [{"prefix": "eu-"}]}}')
    def send(message: str, kind: str, price: str) -> None:
        pair.sns.call("Publish", {"TopicArn": topic, "Message": message, "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": kind}, "price": {"DataType": "Number", "StringValue": price}}})
    send('{"order": {"region": "eu-west-1"}}', "book", "5")
    send('{"order": {"region": "us-east-1"}}', "car", "500")
    send("not json", "book", "100")
    assert sorted(m["Body"] for m in pair.receive(books)) == ['not json', '{"order": {"region": "eu-west-1"}}']
    assert sorted(m["Body"] for m in pair.receive(big)) == ["not json", '{"order": {"region": "us-east-1"}}']
    assert [m["Body"] for m in pair.receive(body)] == ['{"order": {"region": "eu-west-1"}}']


def test_only_subscriptions_existing_at_publish_time_receive(pair: Pair) -> None:
    topic = pair.topic("news")
    early, early_arn = pair.queue("early", topic)
    late, late_arn = pair.queue("late", topic)
    pair.subscribe(topic, "sqs", early_arn)
    pair.sns.call("Publish", {"TopicArn": topic, "Message": "first"})
    pair.subscribe(topic, "sqs", late_arn)
    assert len(pair.receive(early)) == 1
    assert pair.receive(late) == []


def test_fifo_topic_to_fifo_queue_keeps_group_order_and_ids(pair: Pair) -> None:
    topic = pair.topic("orders.fifo", FifoTopic="true", ContentBasedDeduplication="true")
    url, queue_arn = pair.queue("orders.fifo", topic, FifoQueue="true")
    pair.subscribe(topic, "sqs", queue_arn, RawMessageDelivery="true")
    for index in range(20):
        pair.sns.call("Publish", {"TopicArn": topic, "Message": f"m{index}", "MessageGroupId": f"g{index % 2}"})
    pair.sns.call("Publish", {"TopicArn": topic, "Message": "m0", "MessageGroupId": "g0"})   # a duplicate
    bodies = []
    for _ in range(10):
        batch = pair.sqs.call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10,
                                                 "AttributeNames": ["All"]}).get("Messages", [])
        if not batch:
            assert worker.drain(pair.cloud)
            continue
        for message in batch:
            bodies.append((message["Attributes"]["MessageGroupId"], message["Body"]))
            pair.sqs.call("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]})
    for group in ("g0", "g1"):
        got = [body for g, body in bodies if g == group]
        assert got == [f"m{i}" for i in range(20) if f"g{i % 2}" == group]


def test_email_sms_and_unserved_lambda_go_to_the_delivery_log(pair: Pair) -> None:
    topic = pair.topic("alerts")
    pair.subscribe(topic, "email", "ops@example.com")
    pair.subscribe(topic, "sms", "+15555550100")
    pair.subscribe(topic, "lambda", f"arn:aws:lambda:home-1:{ACCOUNT}:function:handler")
    [confirmation] = pair.log()
    token = json.loads(confirmation["payload"])["Token"]
    assert json.loads(confirmation["payload"])["Type"] == "SubscriptionConfirmation"
    pair.sns.call("ConfirmSubscription", {"TopicArn": topic, "Token": token})
    pair.sns.call("Publish", {"TopicArn": topic, "Subject": "Disk", "Message": json.dumps(
        {"default": "disk full", "sms": "DISK FULL"}), "MessageStructure": "json"})
    entries = {(e["protocol"], e["outcome"]): e for e in pair.log()[1:]}
    assert entries[("email", "delivered")]["payload"] == "disk full"
    assert entries[("email", "delivered")]["detail"] == "Disk"
    assert entries[("sms", "delivered")]["payload"] == "DISK FULL"
    assert "lambda service has not registered" in entries[("lambda", "failed")]["detail"]


def test_registered_protocols_receive_the_notification(pair: Pair) -> None:
    calls: list[tuple[dict[str, Any], dict[str, Any], str]] = []
    pair.cloud.sns_delivery_protocols["lambda"] = lambda cloud, sub, document, payload: calls.append(
        (sub, document, payload))
    topic = pair.topic("events")
    function = f"arn:aws:lambda:home-1:{ACCOUNT}:function:handler"
    pair.subscribe(topic, "lambda", function)
    pair.sns.call("Publish", {"TopicArn": topic, "Message": "go"})
    assert worker.drain(pair.cloud)
    [(subscription, document, payload)] = calls
    assert (subscription["endpoint"], document["Message"], payload) == (function, "go", "go")


def test_refused_deliveries_go_to_the_dead_letter_queue(pair: Pair) -> None:
    topic = pair.topic("news")
    _, closed_arn = pair.queue("closed", topic, allow=False)
    dlq, dlq_arn = pair.queue("dlq", topic)
    pair.subscribe(topic, "sqs", closed_arn, RawMessageDelivery="true",
                   RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn}))
    pair.sns.call("Publish", {"TopicArn": topic, "Message": "lost?"})
    assert [m["Body"] for m in pair.receive(dlq)] == ["lost?"]
    [entry] = pair.log()
    assert entry["outcome"] == "dead-lettered" and "AccessDenied" in entry["detail"]


def test_acknowledged_messages_are_delivered_after_a_restart(tmp_path: Path) -> None:
    cloud = Cloud(Config(data_dir=tmp_path / "data"))
    sns, sqs = SnsCloud(cloud, ACCOUNT), SqsCloud(cloud, ACCOUNT)
    topic = sns.call("CreateTopic", {"Name": "news"})["TopicArn"]
    url = sqs.call("CreateQueue", {"QueueName": "inbox"})["QueueUrl"]
    queue_arn = f"arn:aws:sqs:home-1:{ACCOUNT}:inbox"
    sqs.call("SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                "Action": "sqs:SendMessage", "Resource": queue_arn}]})}})
    sns.call("Subscribe", {"TopicArn": topic, "Protocol": "sqs", "Endpoint": queue_arn,
                           "Attributes": {"RawMessageDelivery": "true"}})
    sns.call("Publish", {"TopicArn": topic, "Message": "survives"})     # no worker runs: the outbox keeps it
    cloud.close()
    reopened = Cloud(Config(data_dir=tmp_path / "data"))
    try:
        worker.start(reopened)
        assert worker.drain(reopened)
        [message] = SqsCloud(reopened, ACCOUNT).call("ReceiveMessage", {"QueueUrl": url})["Messages"]
        assert message["Body"] == "survives"
    finally:
        reopened.close()


def test_a_queue_of_another_account_is_asked_to_confirm(pair: Pair) -> None:
    topic = pair.topic("news")
    other = SqsCloud(pair.cloud, "222222222222")
    url = other.call("CreateQueue", {"QueueName": "theirs"})["QueueUrl"]
    queue_arn = "arn:aws:sqs:home-1:222222222222:theirs"
    other.call("SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                "Action": "sqs:SendMessage", "Resource": queue_arn}]})}})
    assert pair.subscribe(topic, "sqs", queue_arn) == "pending confirmation"
    pair.sns.call("Publish", {"TopicArn": topic, "Message": "not yet"})
    assert worker.drain(pair.cloud)
    [request] = other.call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10})["Messages"]
    document = json.loads(request["Body"])
    assert document["Type"] == "SubscriptionConfirmation"
    subscription = pair.sns.call("ConfirmSubscription", {"TopicArn": topic, "Token": document["Token"]},
                                 account="222222222222")["SubscriptionArn"]
    pair.sns.call("Publish", {"TopicArn": topic, "Message": "now"})
    assert worker.drain(pair.cloud)
    [delivered] = other.call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10})["Messages"]
    assert json.loads(delivered["Body"])["Message"] == "now"
    assert json.loads(delivered["Body"])["UnsubscribeURL"].endswith(
        "SubscriptionArn=" + subscription.replace(":", "%3A") + "&Version=2010-03-31")
