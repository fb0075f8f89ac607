"""What a process of a cloud caches is cleared by a write another process commits (``cloudlet up --workers``).

Two Clouds over one data dir stand for the primary and an API worker, joined by the state bus as the real
processes are (``Clouds.primary_and_worker``). A write committed in one is seen through the other's caches
as soon as that one has synced, as a request does when it starts (``Database.sync``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.api import Principal
from controller.iam.enforce import evaluate_for
from controller.sqs import move_tasks
from tests.unit.harness import CloudProcess as Process
from tests.unit.harness import Clouds

ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
DENY_SQS = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "sqs:*",
                                                               "Resource": "*"}]})


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[tuple[Process, Process]]:
    """The primary and an API worker of one cloud, both on its bus."""
    clouds = Clouds(tmp_path)
    yield clouds.primary_and_worker()
    clouds.close()


def user_with_key(process: Process, name: str) -> str:
    process.on("iam", "CreateUser", {"UserName": name})
    process.on("iam", "PutUserPolicy", {"UserName": name, "PolicyName": "all", "PolicyDocument": ALLOW_ALL})
    return process.on("iam", "CreateAccessKey", {"UserName": name})["AccessKey"]["AccessKeyId"]


def principal_in(process: Process, key_id: str) -> Principal:
    credential = process.cloud.credentials.resolve(key_id)
    assert credential is not None
    return credential.principal


def may_list_queues(process: Process, principal: Principal) -> bool:
    ctx = process.context("ListQueues", principal)
    return evaluate_for(ctx, "sqs:ListQueues", "*", None).allowed


def test_a_policy_written_in_one_process_is_enforced_by_the_other(processes: tuple[Process, Process]) -> None:
    primary, worker = processes
    key_id = user_with_key(primary, "alice")
    alice = principal_in(worker, key_id)
    assert may_list_queues(worker, alice)  # and the worker now caches alice's policies

    denial = {"UserName": "alice", "PolicyName": "no-sqs", "PolicyDocument": DENY_SQS}
    primary.on("iam", "PutUserPolicy", denial)
    worker.db.sync()
    assert not may_list_queues(worker, alice)

    worker.on("iam", "DeleteUserPolicy", {"UserName": "alice", "PolicyName": "no-sqs"})
    primary.db.sync()
    assert may_list_queues(primary, principal_in(primary, key_id))


def test_a_key_deactivated_or_deleted_in_one_process_stops_working_in_the_other(
        processes: tuple[Process, Process]) -> None:
    primary, worker = processes
    key_id = user_with_key(primary, "bob")
    assert principal_in(worker, key_id).name == "bob"  # cached by the worker

    primary.on("iam", "UpdateAccessKey", {"UserName": "bob", "AccessKeyId": key_id, "Status": "Inactive"})
    worker.db.sync()
    credential = worker.cloud.credentials.resolve(key_id)
    assert credential is not None and credential.status == "Inactive"

    primary.on("iam", "DeleteAccessKey", {"UserName": "bob", "AccessKeyId": key_id})
    worker.db.sync()
    assert worker.cloud.credentials.resolve(key_id) is None


def test_a_queue_changed_in_one_process_is_read_anew_by_the_other(processes: tuple[Process, Process]) -> None:
    primary, worker = processes
    url = primary.on("sqs", "CreateQueue", {"QueueName": "jobs"})["QueueUrl"]
    asked = {"QueueUrl": url, "AttributeNames": ["VisibilityTimeout"]}
    worker.on("sqs", "ReceiveMessage", {"QueueUrl": url})  # the worker's SQS runtime (its queue cache) exists
    assert worker.on("sqs", "GetQueueAttributes", asked)["Attributes"]["VisibilityTimeout"] == "30"

    primary.on("sqs", "SetQueueAttributes", {"QueueUrl": url, "Attributes": {"VisibilityTimeout": "45"}})
    worker.db.sync()
    assert worker.on("sqs", "GetQueueAttributes", asked)["Attributes"]["VisibilityTimeout"] == "45"


def test_a_long_poll_in_one_process_wakes_on_a_send_in_the_other(processes: tuple[Process, Process]) -> None:
    primary, worker = processes
    url = primary.on("sqs", "CreateQueue", {"QueueName": "waits"})["QueueUrl"]
    received: list[dict[str, Any]] = []
    poll = threading.Thread(target=lambda: received.append(
        worker.on("sqs", "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 10})))
    started = time.monotonic()
    poll.start()
    time.sleep(0.3)  # the worker's poll is parked on the queue's signal
    primary.on("sqs", "SendMessage", {"QueueUrl": url, "MessageBody": "wake up"})
    poll.join(timeout=10)
    assert time.monotonic() - started < 5
    assert [message["Body"] for message in received[0]["Messages"]] == ["wake up"]


def test_a_move_task_started_in_a_worker_runs_in_the_primary(processes: tuple[Process, Process]) -> None:
    primary, worker = processes
    move_tasks.resume(primary.cloud)  # the primary's start hook; a worker never runs one
    dlq = primary.on("sqs", "CreateQueue", {"QueueName": "dlq"})["QueueUrl"]
    dlq_arn = primary.on("sqs", "GetQueueAttributes", {"QueueUrl": dlq, "AttributeNames": ["QueueArn"]})[
        "Attributes"]["QueueArn"]
    main = primary.on("sqs", "CreateQueue", {"QueueName": "main", "Attributes": {"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})}})["QueueUrl"]
    main_arn = primary.on("sqs", "GetQueueAttributes", {"QueueUrl": main, "AttributeNames": ["QueueArn"]})[
        "Attributes"]["QueueArn"]
    primary.on("sqs", "SendMessage", {"QueueUrl": dlq, "MessageBody": "again"})

    worker.on("sqs", "StartMessageMoveTask", {"SourceArn": dlq_arn, "DestinationArn": main_arn})
    assert worker.cloud.sqs_runtime is None  # the worker made no runtime, so runs no task
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        [task] = primary.on("sqs", "ListMessageMoveTasks", {"SourceArn": dlq_arn})["Results"]
        if task["Status"] == "COMPLETED":
            break
        time.sleep(0.05)
    assert task["Status"] == "COMPLETED"
    [message] = primary.on("sqs", "ReceiveMessage", {"QueueUrl": main})["Messages"]
    assert message["Body"] == "again"
