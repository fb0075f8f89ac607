"""SNS's CloudWatch metrics: the pure datapoint builders, the counters, and a publish on a real Cloud."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from controller.cloud import Cloud
from controller.cloudwatch.ingest import Datum, StatisticSet
from controller.config import Config
from controller.sns import metrics, worker
from controller.sns.metrics import Tally, TopicCounters
from controller.sns.records import Topic
from tests.unit.harness import ACCOUNT, CloudHarness

AT = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def topic(name: str = "news", account: str = ACCOUNT) -> Topic:
    return Topic(f"arn:aws:sns:us-east-1:{account}:{name}", account, "us-east-1", name, False, {}, {}, 0, 0)


def by_name(datums: list[Datum]) -> dict[str, Datum]:
    return {datum.metric_name: datum for datum in datums}


def test_an_active_topic_publishes_its_counts_and_sizes() -> None:
    tally = Tally(delivered=4, failed=1)
    for size in (5, 100):
        tally.published += 1
        tally.add_size(size)
    found = by_name(metrics.topic_datums("news", tally, AT))
    dims = (("TopicName", "news"),)
    assert found["NumberOfMessagesPublished"] == Datum("NumberOfMessagesPublished", dims, AT, 2.0, unit="Count")
    assert found["NumberOfNotificationsDelivered"].value == 4.0
    assert found["NumberOfNotificationsFailed"].value == 1.0
    assert found["PublishSize"].statistics == StatisticSet(2, 105, 5, 100)
    assert found["PublishSize"].unit == "Bytes"


def test_a_topic_that_only_delivered_has_no_publish_size() -> None:
    found = by_name(metrics.topic_datums("news", Tally(delivered=1), AT))
    assert "PublishSize" not in found
    assert found["NumberOfMessagesPublished"].value == 0.0


def test_message_size_counts_the_text_and_attributes() -> None:
    message = {"message": "héllo", "attributes": {
        "k": {"DataType": "String", "StringValue": "vv"},
        "b": {"DataType": "Binary", "BinaryValue": base64.b64encode(b"\x01\x02\x03").decode()}}}
    assert metrics.message_size(message) == 6 + (1 + 6 + 2) + (1 + 6 + 3)


def test_counters_group_by_topic_and_take_leaves_zero() -> None:
    counters = TopicCounters()
    counters.published(topic("a"), [3, 7])
    counters.ended(topic("a"), delivered=True)
    counters.ended(topic("a"), delivered=False)
    counters.ended(topic("b", "222222222222"), delivered=True)
    taken = counters.take()
    a = taken[(ACCOUNT, "us-east-1", "a")]
    assert (a.published, a.delivered, a.failed, a.sizes) == (2, 1, 1, [2, 10, 3, 7])
    grouped = metrics.all_datums(taken, AT)
    assert set(grouped) == {(ACCOUNT, "us-east-1"), ("222222222222", "us-east-1")}
    assert counters.take() == {}


def test_hooks_do_nothing_without_a_delivery_worker(tmp_path: Path) -> None:
    cloud = Cloud(Config(data_dir=tmp_path / "data"))
    try:
        metrics.published(cloud, topic(), [{"message": "x", "attributes": {}}])
        metrics.delivery_ended(cloud, topic(), delivered=True)
        metrics.publish(cloud, AT)       # nothing counted, nothing to publish, no error
    finally:
        cloud.close()


class SnsCloud(CloudHarness):
    service = "sns"


class SqsCloud(CloudHarness):
    service = "sqs"
    host = "localhost:8773"


def sum_of(harness: CloudHarness, name: str, topic_name: str, statistic: str = "Sum") -> float | None:
    ctx = harness.context("GetMetricStatistics")
    now = dt.datetime.now(dt.UTC)
    params = {"Namespace": "AWS/SNS", "MetricName": name, "Dimensions": [{"Name": "TopicName", "Value": topic_name}],
              "StartTime": now - dt.timedelta(minutes=10), "EndTime": now + dt.timedelta(minutes=1), "Period": 600,
              "Statistics": [statistic]}
    points = harness.cloud.services["cloudwatch"].operations["GetMetricStatistics"].handler(ctx, params)["Datapoints"]
    return sum(point[statistic] for point in points) if points else None


@pytest.fixture
def cloud(clouds: Any) -> Cloud:
    made = clouds.vpc().cloud      # the harness closes the cloud (and the worker) after the test
    worker.start(made)
    return made


def test_publishes_and_deliveries_read_back_through_get_metric_statistics(cloud: Cloud) -> None:
    sns, sqs = SnsCloud(cloud, ACCOUNT), SqsCloud(cloud, ACCOUNT)
    topic_arn = sns.call("CreateTopic", {"Name": "news"})["TopicArn"]
    url = sqs.call("CreateQueue", {"QueueName": "inbox"})["QueueUrl"]
    queue_arn = sqs.call("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["QueueArn"]})["Attributes"][
        "QueueArn"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]}
    sqs.call("SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": json.dumps(policy)}})
    closed_url = sqs.call("CreateQueue", {"QueueName": "closed"})["QueueUrl"]      # no policy: refuses the topic
    closed_arn = sqs.call("GetQueueAttributes", {"QueueUrl": closed_url, "AttributeNames": ["QueueArn"]})[
        "Attributes"]["QueueArn"]
    for endpoint in (queue_arn, closed_arn):
        sns.call("Subscribe", {"TopicArn": topic_arn, "Protocol": "sqs", "Endpoint": endpoint})
    sns.call("Publish", {"TopicArn": topic_arn, "Message": "hello"})
    sns.call("PublishBatch", {"TopicArn": topic_arn, "PublishBatchRequestEntries": [
        {"Id": "a", "Message": "a longer message"}, {"Id": "b", "Message": "x", "MessageGroupId": "g"}]})     # b: no groups on a standard topic
    assert worker.drain(cloud)
    metrics.publish(cloud, dt.datetime.now(dt.UTC))

    assert sum_of(sns, "NumberOfMessagesPublished", "news") == 2
    assert sum_of(sns, "NumberOfNotificationsDelivered", "news") == 2
    assert sum_of(sns, "NumberOfNotificationsFailed", "news") == 2
    assert sum_of(sns, "PublishSize", "news", "Maximum") == len("a longer message")
    assert sum_of(sns, "PublishSize", "news", "Minimum") == len("hello")
    # SQS counted the topic's deliveries as sends to the queue
    taken = sqs.cloud.sqs_runtime.counters.take()
    assert taken[(ACCOUNT, cloud.config.region, "inbox")].sent == 2, taken
