"""What IAM enforcement adds to a simple API call: the same call as an IAM user vs the root user.

The root user of an account skips policy evaluation (nothing can deny it in its own
account without a resource policy); an IAM user's call is evaluated by the policy
engine against its cached policies. Both call ``ec2 describe-availability-zones`` over
one keep-alive connection each, their calls interleaved one by one so load and drift
on the machine hit both alike; a second root client shows the noise floor. Prints the
median and p99 latency of each and the added latency as a ratio. Target: < 10% added.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import percentile, report  # also puts the repository on sys.path

from tests.support import CloudletProcess, Credentials

TARGET_ADDED = 0.10
ROOT, NOISE_FLOOR, ONE_POLICY = "root user", "root user (second client: noise floor)", "IAM user, 1 policy"


def policy_document(index: int, statements: int) -> str:
    """A policy of ``statements`` statements; only the last one of policy 0 allows the measured call."""
    body = [{"Sid": f"S{index}x{n}", "Effect": "Allow", "Action": [f"s3:GetObject{n}", f"sqs:SendMessage{n}"],
             "Resource": f"arn:aws:s3:::bucket-{index}-{n}/*"} for n in range(statements - 1)]
    body.append({"Sid": f"S{index}Describe", "Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"})
    return json.dumps({"Version": "2012-10-17", "Statement": body})


def make_user(cloud: CloudletProcess, name: str, policies: int, statements: int) -> Credentials:
    iam = cloud.client("iam")
    iam.create_user(UserName=name)
    for index in range(policies):
        document = policy_document(index, statements)
        arn = iam.create_policy(PolicyName=f"{name}-p{index}", PolicyDocument=document)["Policy"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def caller(cloud: CloudletProcess, creds: Credentials) -> Callable[[], object]:
    client = cloud.client("ec2", creds, max_pool_connections=1)
    return client.describe_availability_zones


def interleaved(calls: dict[str, Callable[[], object]], seconds: float) -> dict[str, list[float]]:
    """Latencies per caller, their calls interleaved one by one (order rotating), so load and
    drift on the machine hit every caller alike."""
    latencies: dict[str, list[float]] = {label: [] for label in calls}
    order = list(calls.items())
    for _, call in order:  # warm up connections and caches
        for _ in range(20):
            call()
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        for label, call in order:
            started = time.perf_counter()
            call()
            latencies[label].append(time.perf_counter() - started)
        order.append(order.pop(0))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cloud = CloudletProcess(Path(tmp) / "data", extra_env={"CLOUDLET_LOG": "WARNING"}).start()
        try:
            calls = {
                ROOT: caller(cloud, cloud.root_credentials()),
                NOISE_FLOOR: caller(cloud, cloud.root_credentials()),
                ONE_POLICY: caller(cloud, make_user(cloud, "bench-one", 1, 2)),
                "IAM user, 10 policies x 20 statements": caller(cloud, make_user(cloud, "bench-ten", 10, 20)),
            }
            latencies = interleaved(calls, args.seconds)
        finally:
            cloud.stop()
    p50s = {label: percentile(values, 0.5) for label, values in latencies.items()}
    p99s = {label: percentile(values, 0.99) for label, values in latencies.items()}
    added = {label: p50s[label] / p50s[ROOT] - 1 for label in latencies}
    print(f"\n== enforcement overhead on ec2 describe-availability-zones ({len(latencies[ROOT])} calls "
          f"each, interleaved one by one over keep-alive connections)")
    for label in latencies:
        print(f"{label:<40} p50 {p50s[label] * 1000:6.3f} ms   p99 {p99s[label] * 1000:6.3f} ms   "
              f"added p50 {added[label]:+6.1%}   p99 {p99s[label] / p99s[ROOT] - 1:+6.1%}")
        if label not in (ROOT, NOISE_FLOOR):
            report(f"describe-availability-zones as {label}: p50 latency added over the root user's",
                   100 * added[label], "%", at_most=100 * TARGET_ADDED,
                   noise_floor_pct=100 * added[NOISE_FLOOR],
                   user_p50_ms=p50s[label] * 1000, root_p50_ms=p50s[ROOT] * 1000,
                   user_p99_ms=p99s[label] * 1000, root_p99_ms=p99s[ROOT] * 1000)
    one_policy = added[ONE_POLICY]
    verdict = "meets" if one_policy < TARGET_ADDED else "misses"
    print(f"   enforcement adds {one_policy:.1%} to the median call "
          f"({verdict} the < {TARGET_ADDED:.0%} target)")


if __name__ == "__main__":
    main()
