"""SQS calls an API worker serves count in CloudWatch once, through the primary's publisher.

Two Clouds over one data dir stand for the primary and an API worker, joined by the state bus as the real
processes are (the approach of ``test_cross_process_caches.py``). The worker flushes its counts into the
state store; the primary's publish adds them to its own and publishes each count exactly once.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.cloudwatch import ingest
from controller.sqs import metrics
from tests.unit.harness import CloudProcess as Process
from tests.unit.harness import Clouds


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[tuple[Process, Process]]:
    """The primary and an API worker of one cloud, both on its bus."""
    clouds = Clouds(tmp_path)
    yield clouds.primary_and_worker()
    clouds.close()


def statistics(process: Process, name: str, queue_name: str, statistic: str = "Sum") -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    return process.on("cloudwatch", "GetMetricStatistics", {
        "Namespace": "AWS/SQS", "MetricName": name, "Dimensions": [{"Name": "QueueName", "Value": queue_name}],
        "StartTime": now - dt.timedelta(minutes=10), "EndTime": now + dt.timedelta(minutes=1), "Period": 60,
        "Statistics": [statistic]})["Datapoints"]


def total(process: Process, name: str, queue_name: str) -> float:
    return sum(point["Sum"] for point in statistics(process, name, queue_name))


def flush(worker: Process) -> None:
    """What the worker's flush thread does every few seconds."""
    metrics.flush(worker.cloud, worker.cloud.sqs_runtime.counters)


def pending_rows(process: Process) -> int:
    with process.db.read() as conn:
        return int(conn.exec_driver_sql("SELECT COUNT(*) FROM sqs_metric_tallies").scalar_one())


def test_a_workers_calls_count_once_beside_the_primarys(processes: tuple[Process, Process]) -> None:
    primary, worker = processes
    url = primary.on("sqs", "CreateQueue", {"QueueName": "jobs"})["QueueUrl"]
    idle = primary.on("sqs", "CreateQueue", {"QueueName": "idle"})["QueueUrl"]
    worker.on("sqs", "SendMessage", {"QueueUrl": url, "MessageBody": "abc"})
    flush(worker)
    # a second flush before the publish adds to the first one's row
    worker.on("sqs", "SendMessageBatch", {"QueueUrl": url, "Entries": [{"Id": "a", "MessageBody": "a"},
                                                                       {"Id": "b", "MessageBody": "abcdefg"}]})
    [message] = worker.on("sqs", "ReceiveMessage", {"QueueUrl": url})["Messages"]
    worker.on("sqs", "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]})
    worker.on("sqs", "ReceiveMessage", {"QueueUrl": idle})
    flush(worker)
    primary.on("sqs", "SendMessage", {"QueueUrl": url, "MessageBody": "abcde"})
    primary.on("sqs", "ReceiveMessage", {"QueueUrl": idle})
    assert pending_rows(primary) == 2

    metrics.publish(primary.cloud, dt.datetime.now(dt.UTC))
    assert pending_rows(primary) == 0
    assert total(primary, "NumberOfMessagesSent", "jobs") == 4
    assert total(primary, "NumberOfMessagesReceived", "jobs") == 1
    assert total(primary, "NumberOfMessagesDeleted", "jobs") == 1
    assert total(primary, "NumberOfEmptyReceives", "jobs") == 0
    assert total(primary, "NumberOfEmptyReceives", "idle") == 2
    [size] = statistics(primary, "SentMessageSize", "jobs", "SampleCount")
    assert size["SampleCount"] == 4
    assert [point["Minimum"] for point in statistics(primary, "SentMessageSize", "jobs", "Minimum")] == [1.0]
    assert [point["Maximum"] for point in statistics(primary, "SentMessageSize", "jobs", "Maximum")] == [7.0]

    # the next round publishes zeros: nothing was counted twice
    flush(worker)
    metrics.publish(primary.cloud, dt.datetime.now(dt.UTC))
    assert total(primary, "NumberOfMessagesSent", "jobs") == 4
    assert total(primary, "NumberOfEmptyReceives", "idle") == 2


def test_a_worker_flushes_what_is_left_when_it_closes(processes: tuple[Process, Process]) -> None:
    primary, worker = processes
    url = primary.on("sqs", "CreateQueue", {"QueueName": "late"})["QueueUrl"]
    worker.on("sqs", "SendMessage", {"QueueUrl": url, "MessageBody": "last words"})
    [flusher] = [thread for thread in threading.enumerate() if thread.name == "sqs-metrics-flush"]
    assert flusher.daemon  # it never keeps the worker's process alive
    worker.close()
    assert not flusher.is_alive()
    metrics.publish(primary.cloud, dt.datetime.now(dt.UTC))
    assert total(primary, "NumberOfMessagesSent", "late") == 1


def test_the_workers_thread_flushes_on_its_own(processes: tuple[Process, Process],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    primary, worker = processes
    monkeypatch.setattr(ingest, "PUBLISH_INTERVAL_SECONDS", 0.2)  # flushes every 50 ms
    url = primary.on("sqs", "CreateQueue", {"QueueName": "soon"})["QueueUrl"]
    worker.on("sqs", "SendMessage", {"QueueUrl": url, "MessageBody": "x"})
    deadline = time.monotonic() + 10
    while pending_rows(primary) == 0:
        assert time.monotonic() < deadline, "the worker never flushed"
        time.sleep(0.02)
    metrics.publish(primary.cloud, dt.datetime.now(dt.UTC))
    assert total(primary, "NumberOfMessagesSent", "soon") == 1
