"""Cost as the cloud grows (issue 16 point 4): the same calls against a small and a large store, side by side.

The bound: a call's p50 at the large size at most 2x its p50 at the small one. (DescribeInstances at 1,000
and 10,000 instances is bench_ec2_api's.)

- **S3 ListObjectsV2** over buckets of 10,000 and 1,000,000 keys in one cloud: the first page of 1,000, a
  page from the middle (``StartAfter``) and a prefix matching 1,000 keys. A million PUTs through the API
  would take most of an hour, so the keys are committed by Cloudlet's own catalog code
  (``catalog.commit_version``, what a PUT of an empty object commits) into the running cloud's state;
  the listing then goes through the real server. The two buckets' calls are interleaved one by one.
- **IAM evaluation**: ``describe-availability-zones`` as a user with 10 attached policies (one group of 10)
  and as one with 100 (ten groups of 10: IAM's own quotas), interleaved.
- **SQS at 10,000 queues**: ListQueues (a page of 100, and a name prefix), GetQueueUrl and SendMessage
  with 100 queues in the account, then again once 10,000 exist.

    .venv/bin/python bench/bench_growth.py [--keys 10000,1000000] [--queues 100,10000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_enforcement import interleaved, policy_document
from common import JsonClient, percentile, report
from sqlalchemy import select

from controller.s3 import catalog
from controller.s3.state import objects
from controller.state import Database
from tests.support import CloudletProcess, Credentials

GROWTH_BOUND = 2.0
#: Keys committed per transaction while seeding a bucket.
SEED_BATCH = 20_000


def compare(what: str, small: str, large: str, latencies: dict[str, list[float]], sizes: tuple[int, int]) -> None:
    """Print and report the growth of ``what``'s p50 from the ``small`` run to the ``large`` one."""
    low, high = percentile(latencies[small], 0.5), percentile(latencies[large], 0.5)
    print(f"  {what:<46} p50 {low * 1000:7.2f} ms at {sizes[0]:>9,}   {high * 1000:7.2f} ms at {sizes[1]:>9,}"
          f"   {high / low:5.2f}x", flush=True)
    report(f"{what}: p50 at {sizes[1]:,} over at {sizes[0]:,}", high / low, "x", at_most=GROWTH_BOUND,
           small_p50_ms=low * 1000, large_p50_ms=high * 1000, small_p99_ms=percentile(latencies[small], 0.99) * 1000,
           large_p99_ms=percentile(latencies[large], 0.99) * 1000)


# --- S3 -----------------------------------------------------------------------------------------------------------


def seed_bucket(cloud: CloudletProcess, bucket: str, keys: int) -> None:
    """``keys`` empty objects ``key-0000000``... in ``bucket``, committed as a PUT commits them."""
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": cloud.region})
    s3.put_object(Bucket=bucket, Key="key-0000000", Body=b"")
    db = Database(cloud.data_dir / "state.db")
    try:
        with db.read() as conn:
            row = dict(conn.execute(select(objects).where(objects.c.bucket == bucket)).mappings().one())
        values = {name: value for name, value in row.items()
                  if name not in ("seq", "bucket", "key", "version_id", "is_latest")}
        started = time.monotonic()
        for first in range(1, keys, SEED_BATCH):
            with db.begin() as conn:
                for n in range(first, min(keys, first + SEED_BATCH)):
                    catalog.commit_version(conn, {"name": bucket, "versioning": ""}, f"key-{n:07d}", values)
        print(f"  {bucket}: {keys:,} keys committed in {time.monotonic() - started:.0f} s", flush=True)
    finally:
        db.close()


def bench_s3(cloud: CloudletProcess, sizes: tuple[int, int], seconds: float) -> None:
    print(f"== S3 ListObjectsV2 at {sizes[0]:,} and {sizes[1]:,} keys", flush=True)
    buckets = {size: f"growth-{size}" for size in sizes}
    for size, bucket in buckets.items():
        seed_bucket(cloud, bucket, size)
    s3 = cloud.client("s3", max_pool_connections=1)
    cases: dict[str, Callable[[str, int], dict[str, Any]]] = {
        "ListObjectsV2, first page of 1,000": lambda bucket, size: {"Bucket": bucket},
        "ListObjectsV2, a page from the middle": lambda bucket, size: {
            "Bucket": bucket, "StartAfter": f"key-{size // 2:07d}"},
        "ListObjectsV2, a prefix matching 1,000 keys": lambda bucket, size: {
            "Bucket": bucket, "Prefix": f"key-{size // 2:07d}"[:-3]},
    }
    for what, arguments in cases.items():
        calls = {str(size): _listing(s3, arguments(bucket, size)) for size, bucket in buckets.items()}
        compare(what, str(sizes[0]), str(sizes[1]), interleaved(calls, seconds), sizes)


def _listing(s3: Any, arguments: dict[str, Any]) -> Callable[[], object]:
    def call() -> object:
        page = s3.list_objects_v2(**arguments)
        assert page["KeyCount"] == 1000, f"{page['KeyCount']} keys listed: both sizes must be at least 10,000"
        return page

    return call


# --- IAM ----------------------------------------------------------------------------------------------------------


def user_with_policies(cloud: CloudletProcess, name: str, groups: int, per_group: int) -> Credentials:
    """A user in ``groups`` groups of ``per_group`` managed policies each (20 statements a policy)."""
    iam = cloud.client("iam")
    iam.create_user(UserName=name)
    for group_index in range(groups):
        group = f"{name}-g{group_index}"
        iam.create_group(GroupName=group)
        for index in range(per_group):
            number = group_index * per_group + index
            arn = iam.create_policy(PolicyName=f"{name}-p{number}",
                                    PolicyDocument=policy_document(number, 20))["Policy"]["Arn"]
            iam.attach_group_policy(GroupName=group, PolicyArn=arn)
        iam.add_user_to_group(GroupName=group, UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def bench_iam(cloud: CloudletProcess, seconds: float) -> None:
    print("== IAM evaluation: describe-availability-zones as a user with 10 and with 100 policies", flush=True)
    users = {"10": user_with_policies(cloud, "growth-ten", 1, 10),
             "100": user_with_policies(cloud, "growth-hundred", 10, 10)}
    calls = {label: cloud.client("ec2", creds, max_pool_connections=1).describe_availability_zones
             for label, creds in users.items()}
    compare("IAM-evaluated describe-availability-zones", "10", "100", interleaved(calls, seconds), (10, 100))


# --- SQS ----------------------------------------------------------------------------------------------------------


def bench_sqs(cloud: CloudletProcess, sizes: tuple[int, int], seconds: float) -> None:
    print(f"== SQS at {sizes[0]:,} and {sizes[1]:,} queues", flush=True)
    creds = cloud.root_credentials()
    sqs = JsonClient(cloud.endpoint, creds.access_key_id, creds.secret_access_key, cloud.region, service="sqs",
                     target_prefix="AmazonSQS")
    measured: dict[str, dict[str, list[float]]] = {}
    made = 0
    for size in sizes:
        started = time.monotonic()
        while made < size:
            sqs.call("CreateQueue", {"QueueName": f"growth-{made:05d}"})
            made += 1
        print(f"  {size:,} queues ({time.monotonic() - started:.0f} s to create)", flush=True)
        url = sqs.call("GetQueueUrl", {"QueueName": "growth-00005"})["QueueUrl"]
        calls = {
            "ListQueues, a page of 100": lambda: sqs.call("ListQueues", {"MaxResults": 100}),
            "ListQueues, a name prefix": lambda: sqs.call("ListQueues", {"QueueNamePrefix": "growth-0000"}),
            "GetQueueUrl": lambda: sqs.call("GetQueueUrl", {"QueueName": "growth-00005"}),
            "SendMessage": lambda url=url: sqs.call("SendMessage", {"QueueUrl": url, "MessageBody": "x" * 64}),
        }
        for what, latencies in interleaved(calls, seconds).items():
            measured.setdefault(what, {})[str(size)] = latencies
    for what, latencies in measured.items():
        compare(f"SQS {what}", str(sizes[0]), str(sizes[1]), latencies, sizes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", default="10000,1000000", help="the two bucket sizes")
    parser.add_argument("--queues", default="100,10000", help="the two queue counts")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each comparison runs")
    parser.add_argument("--only", default="s3,iam,sqs", help="which parts to run")
    args = parser.parse_args()
    try:
        small_keys, large_keys = (int(n) for n in args.keys.split(","))
        small_queues, large_queues = (int(n) for n in args.queues.split(","))
    except ValueError:
        parser.error("--keys and --queues take two sizes each, the small one first")
    with tempfile.TemporaryDirectory(prefix="cl-bench-growth-") as work:
        cloud = CloudletProcess(Path(work) / "data", extra_env={"CLOUDLET_LOG": "WARNING"}).start()
        try:
            parts = args.only.split(",")
            if "s3" in parts:
                bench_s3(cloud, (small_keys, large_keys), args.seconds)
            if "iam" in parts:
                bench_iam(cloud, args.seconds)
            if "sqs" in parts:
                bench_sqs(cloud, (small_queues, large_queues), args.seconds)
        finally:
            cloud.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
