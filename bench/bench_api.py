"""API throughput and latency: Cloudlet vs moto's server, same boto3 client, same machine, same run.

Measures requests/s and p50/p99 of ``sts get-caller-identity`` and ``ec2 describe-availability-zones``
over keep-alive connections, for each HTTP server Cloudlet can run on, and moto's server as the peer.
Prints the throughput ratio and p99 comparison. Target: >= 2x moto's throughput with equal or lower p99.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig
from common import LoadResult, MotoServer, run_load

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support import CloudletProcess  # noqa: E402

CALLS = {
    "sts get-caller-identity": ("sts", lambda client: client.get_caller_identity()),
    "ec2 describe-availability-zones": ("ec2", lambda client: client.describe_availability_zones()),
}


def client_factory(endpoint: str, service: str, key: str, secret: str, region: str):
    session = boto3.session.Session()

    def make():
        client = session.client(service, endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
                                aws_secret_access_key=secret,
                                config=BotoConfig(retries={"max_attempts": 0}, max_pool_connections=1))
        return client

    return make


def bound_call(make_client, op):
    """A factory of zero-argument calls, each with a client (and keep-alive connection) of its own."""

    def make():
        client = make_client()
        return lambda: op(client)

    return make


def measure(endpoint: str, key: str, secret: str, region: str, *, threads: int, seconds: float,
            rounds: int) -> dict[str, LoadResult]:
    results = {}
    for label, (service, op) in CALLS.items():
        make_client = client_factory(endpoint, service, key, secret, region)
        best: list[LoadResult] = []
        for _ in range(rounds):
            best.append(run_load(bound_call(make_client, op), threads=threads, seconds=seconds))
        best.sort(key=lambda r: r.rps)
        results[label] = best[len(best) // 2]  # the median round
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", default="cheroot,waitress")
    args = parser.parse_args()

    moto = MotoServer()
    try:
        moto_results = measure(moto.endpoint, "testing", "testing", "us-east-1", threads=args.threads,
                               seconds=args.seconds, rounds=args.rounds)
    finally:
        moto.stop()
    for server in args.servers.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            cloud = CloudletProcess(Path(tmp) / "data", extra_env={"CLOUDLET_HTTP_SERVER": server,
                                                                   "CLOUDLET_LOG": "WARNING"}).start()
            try:
                creds = cloud.root_credentials()
                ours = measure(cloud.endpoint, creds.access_key_id, creds.secret_access_key, cloud.region,
                               threads=args.threads, seconds=args.seconds, rounds=args.rounds)
            finally:
                cloud.stop()
        print(f"\n== Cloudlet on {server} vs moto ({args.threads} keep-alive clients, median of "
              f"{args.rounds} x {args.seconds:.0f}s, {os.cpu_count()} cores shared with the clients)")
        for label in CALLS:
            ours_r, moto_r = ours[label], moto_results[label]
            print(ours_r.line(f"cloudlet {label}"))
            print(moto_r.line(f"moto     {label}"))
            print(f"   ratio: {ours_r.rps / moto_r.rps:.2f}x throughput, p99 "
                  f"{ours_r.percentile(0.99) / moto_r.percentile(0.99):.2f}x of moto's")


if __name__ == "__main__":
    main()
