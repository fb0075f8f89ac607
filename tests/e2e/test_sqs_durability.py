"""SQS under concurrency and crashes: consumer processes racing, long-poll wake-ups, SIGKILL during sends."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from tests.support import CloudletProcess, kill_under_load

pytestmark = pytest.mark.e2e


def consume(endpoint: str, region: str, key: str, secret: str, url: str, stop_after_empty: float) -> list[list[str]]:
    """A consumer process: receive (long polls), delete; returns [message id, body, group] per message seen."""
    client = boto3.client("sqs", endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
                          aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))
    seen: list[list[str]] = []
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < stop_after_empty:
        messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                          VisibilityTimeout=120,
                                          MessageSystemAttributeNames=["MessageGroupId"]).get("Messages", [])
        if not messages:
            continue
        idle_since = time.monotonic()
        seen += [[m["MessageId"], m["Body"], m.get("Attributes", {}).get("MessageGroupId", "")] for m in messages]
        client.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    return seen


def race(cloudlet: CloudletProcess, url: str, send: Any, consumers: int = 4) -> tuple[list[str], list[list[str]]]:
    """Start consumer processes, produce with ``send`` meanwhile; (ids sent, what each consumer saw, in order)."""
    creds = cloudlet.root_credentials()
    context = multiprocessing.get_context("spawn")
    with context.Pool(consumers) as pool:
        pending = [pool.apply_async(consume, (cloudlet.endpoint, cloudlet.region, creds.access_key_id,
                                              creds.secret_access_key, url, 4.0)) for _ in range(consumers)]
        sent = send()
        seen = [result.get(timeout=300) for result in pending]
    return sent, seen


@pytest.mark.parametrize("fifo", [False, True])
def test_consumer_processes_never_lose_nor_share_a_message(cloudlet: CloudletProcess, unique: str,
                                                           fifo: bool) -> None:
    sqs = cloudlet.client("sqs")
    name = f"{unique}.fifo" if fifo else unique
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]

    def send() -> list[str]:
        ids = []
        for batch in range(30):
            entries = [{"Id": str(i), "MessageBody": f"{batch}-{i}"} for i in range(10)]
            if fifo:
                entries = [{**e, "MessageGroupId": f"g{i % 3}", "MessageDeduplicationId": f"{batch}-{i}"}
                           for i, e in enumerate(entries)]
            result = sqs.send_message_batch(QueueUrl=url, Entries=entries)
            assert not result["Failed"]
            ids += [entry["MessageId"] for entry in result["Successful"]]
        return ids

    sent, seen = race(cloudlet, url, send)
    received = [message_id for consumer in seen for message_id, _, _ in consumer]
    assert len(received) == len(set(received)), "a message was delivered twice within its visibility window"
    assert sorted(received) == sorted(sent)
    assert sum(1 for consumer in seen if consumer) >= 2, "the consumers did not actually race"
    if fifo:
        for consumer in seen:   # within one consumer a group's messages come in send order
            for group in ("g0", "g1", "g2"):
                order = [tuple(map(int, body.split("-"))) for _, body, g in consumer if g == group]
                assert order == sorted(order)


def test_a_long_poll_returns_as_soon_as_a_message_arrives(cloudlet: CloudletProcess, unique: str) -> None:
    sqs = cloudlet.client("sqs")
    waiter_client = cloudlet.client("sqs", read_timeout=30)
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    started = time.monotonic()
    assert "Messages" not in waiter_client.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    assert time.monotonic() - started >= 1.9          # an empty long poll waits its time out
    latencies = []
    for round_ in range(5):
        arrived: list[float] = []

        def wait(into: list[float] = arrived) -> None:
            messages = waiter_client.receive_message(QueueUrl=url, WaitTimeSeconds=20).get("Messages", [])
            into.append(time.monotonic())
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.5)
        assert not arrived, "the long poll returned before any message was sent"
        sqs.send_message(QueueUrl=url, MessageBody=f"ping {round_}")
        sent_at = time.monotonic()
        thread.join(timeout=25)
        latencies.append(arrived[0] - sent_at)
    assert sorted(latencies)[2] < 0.5, latencies       # no polling interval: the commit wakes the waiter


def test_acknowledged_messages_survive_sigkill(tmp_path: Path) -> None:
    cloud = CloudletProcess(tmp_path / "data").start()
    acknowledged: list[str] = []
    try:
        sqs = cloud.client("sqs")
        url = sqs.create_queue(QueueName="crash")["QueueUrl"]

        def produce(stop: threading.Event) -> None:
            index = 0
            while not stop.is_set():
                try:
                    result = sqs.send_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(i), "MessageBody": f"{index}-{i}"} for i in range(5)])
                    # a response cut short by the kill parses as an empty success: nothing in it was acknowledged
                    acknowledged.extend(entry["MessageId"] for entry in result.get("Successful", []))
                    index += 1
                except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                    return   # the server died under us: what was not acknowledged may be lost

        kill_under_load(cloud, produce, threads=3)
    finally:
        cloud.stop()
    assert len(acknowledged) > 20
    restarted = CloudletProcess(tmp_path / "data").start()
    try:
        sqs = restarted.client("sqs")
        url = sqs.get_queue_url(QueueName="crash")["QueueUrl"]
        stored: set[str] = set()
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300).get(
                "Messages", [])
            if not messages:
                break
            stored.update(message["MessageId"] for message in messages)
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged messages were lost"
    finally:
        restarted.stop()
