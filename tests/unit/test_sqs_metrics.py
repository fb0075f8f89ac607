"""SQS's CloudWatch metrics: the pure datapoint builders, the counters, and a publish on a real Cloud."""

from __future__ import annotations

import base64
import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.cloud import Cloud
from controller.cloudwatch import ingest
from controller.cloudwatch.ingest import Datum, StatisticSet
from controller.config import Config
from controller.sqs import metrics, runtime
from controller.sqs.metrics import Gauges, QueueCounters, Tally
from controller.sqs.records import Queue
from controller.sqs.store import Outgoing
from tests.unit.harness import ACCOUNT, CloudHarness

AT = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
DIMS = (("QueueName", "jobs"),)


def queue(name: str = "jobs", account: str = ACCOUNT, region: str = "us-east-1") -> Queue:
    return Queue(1, account, region, name, f"arn:aws:sqs:{region}:{account}:{name}", False, {}, {}, 0, 0, None)


def outgoing(body: str, attributes: dict[str, dict[str, str]] | None = None) -> Outgoing:
    return Outgoing(body=body, attributes=attributes, system_attributes=None, md5_body="", md5_attributes=None,
                    md5_system=None, delay_seconds=0, sender_id="x")


def by_name(datums: list[Datum]) -> dict[str, Datum]:
    return {datum.metric_name: datum for datum in datums}


def test_the_interval_is_awss_minute_unless_the_knob_asks_for_a_usable_one() -> None:
    assert ingest.interval_from(None) == 60.0
    assert ingest.interval_from("") == 60.0
    assert ingest.interval_from("2") == 2.0
    assert ingest.interval_from("0.5") == 0.5
    assert ingest.interval_from("0") == 60.0
    assert ingest.interval_from("-3") == 60.0
    assert ingest.interval_from("soon") == 60.0


def test_a_queue_publishes_its_gauges_and_zero_counters_when_idle() -> None:
    found = by_name(metrics.queue_datums("jobs", Gauges(3, 2, 1, None), None, AT))
    assert found["ApproximateNumberOfMessagesVisible"] == Datum("ApproximateNumberOfMessagesVisible", DIMS, AT, 3.0,
                                                                unit="Count")
    assert found["ApproximateNumberOfMessagesNotVisible"].value == 2.0
    assert found["ApproximateNumberOfMessagesDelayed"].value == 1.0
    for name in ("NumberOfMessagesSent", "NumberOfMessagesReceived", "NumberOfMessagesDeleted",
                 "NumberOfEmptyReceives"):
        assert found[name].value == 0.0 and found[name].unit == "Count"
    # nothing to measure: no age without a message, no size without a send (as AWS reports them)
    assert "ApproximateAgeOfOldestMessage" not in found
    assert "SentMessageSize" not in found


def test_the_oldest_messages_age_is_in_whole_seconds() -> None:
    sent_at = int(AT.timestamp() * 1000) - 90_500
    found = by_name(metrics.queue_datums("jobs", Gauges(1, 0, 0, sent_at), None, AT))
    age = found["ApproximateAgeOfOldestMessage"]
    assert (age.value, age.unit) == (91.0, "Seconds")


def test_counters_become_sums_and_sizes_a_statistic_set() -> None:
    tally = Tally(sent=3, received=2, deleted=1, empty_receives=4)
    for size in (10, 300, 42):
        tally.sizes.add(size)
    found = by_name(metrics.queue_datums("jobs", None, tally, AT))
    assert "ApproximateNumberOfMessagesVisible" not in found          # a deleted queue: counters only
    assert [found[name].value for name in ("NumberOfMessagesSent", "NumberOfMessagesReceived",
                                           "NumberOfMessagesDeleted", "NumberOfEmptyReceives")] == [3, 2, 1, 4]
    size = found["SentMessageSize"]
    assert size.value is None and size.unit == "Bytes"
    assert size.statistics == StatisticSet(sample_count=3, sum=352, minimum=10, maximum=300)


def test_datums_are_grouped_by_account_and_region() -> None:
    gauges = {(ACCOUNT, "us-east-1", "a"): Gauges(1, 0, 0, None), ("222222222222", "us-east-1", "b"): Gauges(0, 0, 0, None)}
    tallies = {(ACCOUNT, "us-east-1", "gone"): Tally(deleted=2)}
    grouped = metrics.all_datums(gauges, tallies, AT)
    assert set(grouped) == {(ACCOUNT, "us-east-1"), ("222222222222", "us-east-1")}
    names = {dict(datum.dimensions)["QueueName"] for datum in grouped[(ACCOUNT, "us-east-1")]}
    assert names == {"a", "gone"}


def test_message_size_counts_body_and_attributes_as_the_limit_does() -> None:
    assert metrics.message_size(outgoing("héllo")) == 6
    attributes = {"kind": {"DataType": "String", "StringValue": "abc"},
                  "blob": {"DataType": "Binary", "BinaryValue": base64.b64encode(b"\x00\x01\x02\x03").decode()}}
    assert metrics.message_size(outgoing("x", attributes)) == 1 + (4 + 6 + 3) + (4 + 6 + 4)


def test_counters_keep_queues_apart_and_take_leaves_zero() -> None:
    counters = QueueCounters()
    counters.sent(queue("a"), [outgoing("12345"), outgoing("1")])
    counters.received(queue("a"), 2)
    counters.received(queue("a"), 0)
    counters.received(queue("b"), 0)
    counters.deleted((ACCOUNT, "us-east-1", "a"), 2)
    counters.deleted((ACCOUNT, "us-east-1", "b"), 0)
    taken = counters.take()
    a = taken[(ACCOUNT, "us-east-1", "a")]
    assert (a.sent, a.received, a.deleted, a.empty_receives) == (2, 2, 2, 1)
    assert (a.sizes.count, a.sizes.total, a.sizes.minimum, a.sizes.maximum) == (2, 6, 1, 5)
    b = taken[(ACCOUNT, "us-east-1", "b")]
    assert (b.sent, b.received, b.deleted, b.empty_receives) == (0, 0, 0, 1)
    assert counters.take() == {}


def test_counters_lose_nothing_under_concurrent_sends() -> None:
    counters = QueueCounters()

    def send() -> None:
        for _ in range(500):
            counters.sent(queue(), [outgoing("x")])

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counters.take()[(ACCOUNT, "us-east-1", "jobs")].sent == 4000


def test_url_key_names_the_queue_in_the_callers_region() -> None:
    assert metrics.url_key("eu-west-1", f"http://localhost:8773/{ACCOUNT}/jobs") == (ACCOUNT, "eu-west-1", "jobs")


class SqsCloud(CloudHarness):
    service = "sqs"
    host = "localhost:8773"


@pytest.fixture
def sqs(tmp_path: Path) -> Iterator[SqsCloud]:
    harness = SqsCloud(Cloud(Config(data_dir=tmp_path / "data")), ACCOUNT)
    yield harness
    harness.close()


def statistics(sqs: SqsCloud, name: str, queue_name: str, statistic: str = "Sum") -> list[dict[str, Any]]:
    ctx = sqs.context("GetMetricStatistics")
    now = dt.datetime.now(dt.UTC)
    params = {"Namespace": "AWS/SQS", "MetricName": name, "Dimensions": [{"Name": "QueueName", "Value": queue_name}],
              "StartTime": now - dt.timedelta(minutes=10), "EndTime": now + dt.timedelta(minutes=1), "Period": 60,
              "Statistics": [statistic]}
    return sqs.cloud.services["cloudwatch"].operations["GetMetricStatistics"].handler(ctx, params)["Datapoints"]


def total(points: list[dict[str, Any]], statistic: str = "Sum") -> float:
    return sum(point[statistic] for point in points)


def test_a_publish_reads_back_through_get_metric_statistics(sqs: SqsCloud) -> None:
    url = sqs.call("CreateQueue", {"QueueName": "jobs"})["QueueUrl"]
    sqs.call("CreateQueue", {"QueueName": "idle"})
    for body in ("one", "three", "fiver"):
        sqs.call("SendMessage", {"QueueUrl": url, "MessageBody": body})
    sqs.call("SendMessageBatch", {"QueueUrl": url, "Entries": [{"Id": "a", "MessageBody": "ab"},
                                                               {"Id": "b", "MessageBody": "abcd", "DelaySeconds": 600}]})
    [message] = sqs.call("ReceiveMessage", {"QueueUrl": url})["Messages"]
    sqs.call("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]})
    sqs.call("ReceiveMessage", {"QueueUrl": url, "VisibilityTimeout": 60})
    metrics.publish(sqs.cloud, dt.datetime.now(dt.UTC))

    assert total(statistics(sqs, "NumberOfMessagesSent", "jobs")) == 5
    assert total(statistics(sqs, "NumberOfMessagesReceived", "jobs")) == 2
    assert total(statistics(sqs, "NumberOfMessagesDeleted", "jobs")) == 1
    assert total(statistics(sqs, "NumberOfEmptyReceives", "jobs")) == 0
    assert total(statistics(sqs, "ApproximateNumberOfMessagesVisible", "jobs", "Maximum"), "Maximum") == 2
    assert total(statistics(sqs, "ApproximateNumberOfMessagesNotVisible", "jobs", "Maximum"), "Maximum") == 1
    assert total(statistics(sqs, "ApproximateNumberOfMessagesDelayed", "jobs", "Maximum"), "Maximum") == 1
    [size] = statistics(sqs, "SentMessageSize", "jobs", "Maximum")
    assert (size["Maximum"], size["Unit"]) == (5.0, "Bytes")
    assert [point["Minimum"] for point in statistics(sqs, "SentMessageSize", "jobs", "Minimum")] == [2.0]
    assert total(statistics(sqs, "ApproximateNumberOfMessagesVisible", "idle", "Maximum"), "Maximum") == 0
    assert statistics(sqs, "ApproximateAgeOfOldestMessage", "idle", "Maximum") == []

    # the counters started again from zero; an empty receive counts
    sqs.call("ReceiveMessage", {"QueueUrl": sqs.call("GetQueueUrl", {"QueueName": "idle"})["QueueUrl"]})
    metrics.publish(sqs.cloud, dt.datetime.now(dt.UTC))
    assert total(statistics(sqs, "NumberOfMessagesSent", "jobs")) == 5
    assert total(statistics(sqs, "NumberOfEmptyReceives", "idle")) == 1


def test_the_runtime_publishes_on_its_own(sqs: SqsCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "PUBLISH_INTERVAL_SECONDS", 0.1)
    url = sqs.call("CreateQueue", {"QueueName": "dlq"})["QueueUrl"]
    sqs.call("SendMessage", {"QueueUrl": url, "MessageBody": "dead"})
    runtime.start(sqs.cloud)      # SQS's start hook: the sweeper and the publisher
    deadline = time.monotonic() + 10
    while not statistics(sqs, "ApproximateNumberOfMessagesVisible", "dlq", "Maximum"):
        assert time.monotonic() < deadline, "the runtime never published"
        time.sleep(0.05)
    assert statistics(sqs, "ApproximateNumberOfMessagesVisible", "dlq", "Maximum")[0]["Maximum"] == 1
