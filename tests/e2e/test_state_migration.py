"""A data dir made by the release before Alembic (git's revision before ``controller/state/migrations``
existed, run from its own source tree) is upgraded in place by this controller: stamped as the baseline,
migrated to the newest revision, and everything the old release stored reads back through boto3."""

from __future__ import annotations

import io
import shutil
import sqlite3
import subprocess
import tarfile
from pathlib import Path

import pytest

from controller.state import schema
from tests import postgres_lab
from tests.support import REPO, CloudletProcess

pytestmark = pytest.mark.skipif(postgres_lab.test_clouds_on_postgres(),
                                reason="the release before the migrations kept its state in SQLite only")


def release_before_alembic() -> str | None:
    """The commit before the one that added the migrations, or None without git history (a shallow copy)."""
    if shutil.which("git") is None:
        return None
    added = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%H", "--diff-filter=A", "--",
                            "controller/state/migrations/env.py"], capture_output=True, text=True)
    return f"{added.stdout.strip()}^" if added.returncode == 0 and added.stdout.strip() else None


@pytest.fixture(scope="module")
def old_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    revision = release_before_alembic()
    if revision is None:
        pytest.skip("no git history of the migrations here (the test needs the release before them)")
    tree = tmp_path_factory.mktemp("release-before-alembic")
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", revision, "controller", "agent"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    assert not (tree / "controller" / "state" / "migrations").exists()
    return tree


def test_an_old_data_dir_is_upgraded_in_place_and_its_data_reads_back(old_release: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    old = CloudletProcess(data_dir, repo=old_release).start()
    try:
        s3, sqs, iam, ec2, sns = (old.client(name) for name in ("s3", "sqs", "iam", "ec2", "sns"))
        s3.create_bucket(Bucket="made-by-the-old-release")
        s3.put_object(Bucket="made-by-the-old-release", Key="kept.txt", Body=b"old bytes")
        queue_url = sqs.create_queue(QueueName="old-queue")["QueueUrl"]
        sqs.send_message(QueueUrl=queue_url, MessageBody="sent before the upgrade")
        user_id = iam.create_user(UserName="old-user")["User"]["UserId"]
        vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        topic_arn = sns.create_topic(Name="old-topic")["TopicArn"]
    finally:
        old.stop()
    with sqlite3.connect(data_dir / "state.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "alembic_version" not in tables and "s3_buckets" in tables

    new = CloudletProcess(data_dir).start()
    try:
        assert new.client("s3").get_object(Bucket="made-by-the-old-release", Key="kept.txt")["Body"].read() == \
            b"old bytes"
        messages = new.client("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
        assert [m["Body"] for m in messages] == ["sent before the upgrade"]
        assert new.client("iam").get_user(UserName="old-user")["User"]["UserId"] == user_id
        assert [v["CidrBlock"] for v in new.client("ec2").describe_vpcs(VpcIds=[vpc_id])["Vpcs"]] == ["10.42.0.0/16"]
        assert topic_arn in [t["TopicArn"] for t in new.client("sns").list_topics()["Topics"]]
        new.client("s3").put_object(Bucket="made-by-the-old-release", Key="new.txt", Body=b"after")
    finally:
        new.stop()
    with sqlite3.connect(data_dir / "state.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(schema.HEAD,)]
