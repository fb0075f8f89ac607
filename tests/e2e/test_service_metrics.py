"""The cloud's own services publish their CloudWatch metrics, read back with plain boto3: SQS's queue depth
and counters (and an alarm on a dead-letter queue's depth going to ALARM), SNS's publish counts.

The server publishes every 2 s instead of AWS's minute (``CLOUDLET_METRICS_INTERVAL_SECONDS``), so the tests
wait seconds, not minutes, for the datapoints.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e
Client = Any


@pytest.fixture(scope="module")
def fast_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    """A ``cloudlet up`` whose services publish their metrics every 2 seconds."""
    data_dir: Path = tmp_path_factory.mktemp("service-metrics") / "data"
    process = CloudletProcess(data_dir, extra_env={"CLOUDLET_METRICS_INTERVAL_SECONDS": "2"}).start()
    try:
        yield process
    finally:
        process.stop()


def eventually(probe: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """``probe()``'s first truthy answer, waiting up to ``timeout`` seconds for it."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def window() -> dict[str, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return {"StartTime": now - dt.timedelta(minutes=5), "EndTime": now + dt.timedelta(minutes=1)}


def latest_maximum(cw: Client, namespace: str, name: str, dims: list[dict[str, str]]) -> float | None:
    points = cw.get_metric_statistics(Namespace=namespace, MetricName=name, Dimensions=dims, Period=60,
                                      Statistics=["Maximum"], **window())["Datapoints"]
    return max(points, key=lambda point: point["Timestamp"])["Maximum"] if points else None


def total(cw: Client, namespace: str, name: str, dims: list[dict[str, str]]) -> float:
    points = cw.get_metric_statistics(Namespace=namespace, MetricName=name, Dimensions=dims, Period=60,
                                      Statistics=["Sum"], **window())["Datapoints"]
    return sum(point["Sum"] for point in points)


def test_queue_depth_and_counters_read_back(fast_cloud: CloudletProcess, unique: str) -> None:
    sqs, cw = fast_cloud.client("sqs"), fast_cloud.client("cloudwatch")
    name = f"work-{unique}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for index in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"job {index}")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x" * 100}])
    [received] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=300)["Messages"]
    dims = [{"Name": "QueueName", "Value": name}]

    eventually(lambda: latest_maximum(cw, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dims) == 3,
               "3 visible messages in AWS/SQS")
    assert latest_maximum(cw, "AWS/SQS", "ApproximateNumberOfMessagesNotVisible", dims) == 1
    assert latest_maximum(cw, "AWS/SQS", "ApproximateNumberOfMessagesDelayed", dims) == 0
    assert total(cw, "AWS/SQS", "NumberOfMessagesSent", dims) == 4
    assert total(cw, "AWS/SQS", "NumberOfMessagesReceived", dims) == 1
    assert latest_maximum(cw, "AWS/SQS", "SentMessageSize", dims) == 100
    assert latest_maximum(cw, "AWS/SQS", "ApproximateAgeOfOldestMessage", dims) is not None

    # GetMetricData reads the same series
    data = cw.get_metric_data(MetricDataQueries=[{"Id": "visible", "MetricStat": {
        "Metric": {"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible", "Dimensions": dims},
        "Period": 60, "Stat": "Maximum"}}], **window())["MetricDataResults"]
    assert data[0]["StatusCode"] == "Complete" and 3.0 in data[0]["Values"]

    # a delete shows up in the next publishes, and the metrics are listed
    sqs.delete_message(QueueUrl=url, ReceiptHandle=received["ReceiptHandle"])
    eventually(lambda: total(cw, "AWS/SQS", "NumberOfMessagesDeleted", dims) == 1, "the delete counted")
    listed = {metric["MetricName"] for metric in cw.list_metrics(Namespace="AWS/SQS", Dimensions=dims)["Metrics"]}
    assert {"ApproximateNumberOfMessagesVisible", "NumberOfMessagesSent", "NumberOfEmptyReceives"} <= listed


def test_an_alarm_on_a_dead_letter_queues_depth_goes_to_alarm(fast_cloud: CloudletProcess, unique: str) -> None:
    sqs, cw = fast_cloud.client("sqs"), fast_cloud.client("cloudwatch")
    dlq_name = f"dlq-{unique}"
    dlq_url = sqs.create_queue(QueueName=dlq_name)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=f"src-{unique}", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})})["QueueUrl"]
    alarm = f"dlq-depth-{unique}"
    dims = [{"Name": "QueueName", "Value": dlq_name}]
    cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/SQS", MetricName="ApproximateNumberOfMessagesVisible",
                        Dimensions=dims, Statistic="Maximum", Period=10, EvaluationPeriods=1, Threshold=0.0,
                        ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching")
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)      # the first receive
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # the second moves it to the dead-letter queue

    eventually(lambda: latest_maximum(cw, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dims) == 1,
               "the dead letter in AWS/SQS")

    def state() -> str | None:
        [item] = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
        return item["StateValue"] if item["StateValue"] == "ALARM" else None

    # alarms look at complete periods (10 s, a high-resolution alarm): the one the dead letter arrived in ends first
    eventually(state, "the alarm on the dead-letter queue to go to ALARM", timeout=60)


def test_topic_publishes_read_back(fast_cloud: CloudletProcess, unique: str) -> None:
    sns, cw = fast_cloud.client("sns"), fast_cloud.client("cloudwatch")
    name = f"news-{unique}"
    topic = sns.create_topic(Name=name)["TopicArn"]
    sns.publish(TopicArn=topic, Message="hello")
    sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "a", "Message": "hello again"}])
    dims = [{"Name": "TopicName", "Value": name}]
    eventually(lambda: total(cw, "AWS/SNS", "NumberOfMessagesPublished", dims) == 2, "2 publishes in AWS/SNS")
    assert latest_maximum(cw, "AWS/SNS", "PublishSize", dims) == len("hello again")
