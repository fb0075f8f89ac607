"""Two controllers on one PostgreSQL database, as behind a load balancer: the same transitions raced through
both endpoints at once leave no lost and no doubled state (the writer lock of ``controller/state/postgres.py``),
and what one controller commits is what the other answers (LISTEN/NOTIFY: ``state/postgres_bus.py``).

Each controller has its own data dir, sharing what a multi-controller deployment shares: the database, the
secret keys (copied, as the ansible roles deploy them) and S3's object data directory (shared storage)."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests import postgres_lab
from tests.support import TEST_BUILTIN_IMAGES, CloudletProcess

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(postgres_lab.server_binaries() is None, reason="PostgreSQL is not installed")]

#: The files of a data dir that every controller of one cloud must share.
SHARED_SECRETS = ("secret.key", "agent.token", "kms-master.key")


def start_controllers(root: Path, url: str) -> tuple[CloudletProcess, CloudletProcess]:
    """Two started controllers of one cloud on the database ``url``, with data dirs under ``root``."""
    first_dir, second_dir = root / "first", root / "second"
    shared_s3 = root / "s3-objects"
    for data_dir in (first_dir, second_dir):
        data_dir.mkdir()
        (data_dir / "cloudlet.json").write_text(json.dumps({
            "database_url": url, "builtin_images_dir": str(TEST_BUILTIN_IMAGES), "s3_data_dir": str(shared_s3),
            "workers": 1}))
    first = CloudletProcess(first_dir).start()
    second = CloudletProcess(second_dir)
    try:
        for name in SHARED_SECRETS:
            if (first_dir / name).exists():
                shutil.copy2(first_dir / name, second_dir / name)
        second.start()
    except BaseException:
        first.stop()
        raise
    return first, second


@pytest.fixture(scope="module")
def controllers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CloudletProcess, CloudletProcess]]:
    url = postgres_lab.shared_cluster().create_database("cloudlet_race")
    first, second = start_controllers(tmp_path_factory.mktemp("two-controllers"), url)
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` at once (released together), each result or the ClientError it raised."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        try:
            return call()
        except ClientError as error:
            return error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def codes(outcomes: list[Any]) -> list[str]:
    return sorted(o.response["Error"]["Code"] if isinstance(o, ClientError) else "ok" for o in outcomes)


def test_both_controllers_serve_one_cloud(controllers: tuple[CloudletProcess, CloudletProcess]) -> None:
    first, second = controllers
    assert first.account_id == second.account_id
    bucket = f"pg-seen-{uuid.uuid4().hex[:8]}"
    first.client("s3").create_bucket(Bucket=bucket)
    first.client("s3").put_object(Bucket=bucket, Key="k", Body=b"from the first")
    assert second.client("s3").get_object(Bucket=bucket, Key="k")["Body"].read() == b"from the first"


def test_one_bucket_name_raced_through_both_endpoints_is_created_once(
        controllers: tuple[CloudletProcess, CloudletProcess]) -> None:
    clients = [cloud.client("s3") for cloud in controllers]
    bucket = f"pg-race-{uuid.uuid4().hex[:8]}"
    outcomes = race([lambda s3=clients[i % 2]: s3.create_bucket(Bucket=bucket) for i in range(8)])
    assert codes(outcomes) == ["BucketAlreadyOwnedByYou"] * 7 + ["ok"]
    for s3 in clients:
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]].count(bucket) == 1


def test_versions_written_through_both_endpoints_are_all_kept(
        controllers: tuple[CloudletProcess, CloudletProcess]) -> None:
    clients = [cloud.client("s3") for cloud in controllers]
    bucket = f"pg-versions-{uuid.uuid4().hex[:8]}"
    clients[0].create_bucket(Bucket=bucket)
    clients[1].put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    outcomes = race([lambda i=i: clients[i % 2].put_object(Bucket=bucket, Key="same", Body=f"v{i}".encode())
                     for i in range(12)])
    assert codes(outcomes) == ["ok"] * 12
    versions = clients[1].list_object_versions(Bucket=bucket)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == sorted(o["VersionId"] for o in outcomes)
    assert [v["IsLatest"] for v in versions].count(True) == 1


def test_an_iam_user_raced_through_both_endpoints_is_created_once(
        controllers: tuple[CloudletProcess, CloudletProcess]) -> None:
    clients = [cloud.client("iam") for cloud in controllers]
    name = f"pg-user-{uuid.uuid4().hex[:8]}"
    outcomes = race([lambda iam=clients[i % 2]: iam.create_user(UserName=name) for i in range(8)])
    assert codes(outcomes) == ["EntityAlreadyExists"] * 7 + ["ok"]
    assert clients[1].get_user(UserName=name)["User"]["UserId"] == next(
        o for o in outcomes if not isinstance(o, ClientError))["User"]["UserId"]


def test_the_vpc_quota_holds_across_both_endpoints(controllers: tuple[CloudletProcess, CloudletProcess]) -> None:
    """CreateVpc reads the account's count and inserts: raced without a writer lock, both would pass."""
    clients = [cloud.client("ec2") for cloud in controllers]
    existing = len(clients[0].describe_vpcs()["Vpcs"])
    room = 5 - existing  # vpcs_per_account, AWS's default quota
    outcomes = race([lambda ec2=clients[i % 2]: ec2.create_vpc(CidrBlock="10.9.0.0/16") for i in range(room + 4)])
    try:
        assert codes(outcomes) == ["VpcLimitExceeded"] * 4 + ["ok"] * room
        assert len(clients[1].describe_vpcs()["Vpcs"]) == 5
    finally:
        for outcome in outcomes:
            if not isinstance(outcome, ClientError):
                clients[0].delete_vpc(VpcId=outcome["Vpc"]["VpcId"])


def test_queue_messages_through_both_endpoints_are_received_exactly_once(
        controllers: tuple[CloudletProcess, CloudletProcess]) -> None:
    clients = [cloud.client("sqs") for cloud in controllers]
    url = clients[0].create_queue(QueueName=f"pg-race-{uuid.uuid4().hex[:8]}",
                                  Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    bodies = [f"message-{n}" for n in range(120)]
    race([lambda part=part: [clients[part % 2].send_message(QueueUrl=url, MessageBody=body)
                             for body in bodies[part::6]] for part in range(6)])
    received: list[str] = []
    lock = threading.Lock()

    def drain(sqs: Any) -> None:
        empty = 0
        while empty < 2:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            empty = 0 if messages else empty + 1
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            with lock:
                received.extend(message["Body"] for message in messages)

    race([lambda sqs=clients[i % 2]: drain(sqs) for i in range(6)])
    assert sorted(received) == sorted(bodies)
