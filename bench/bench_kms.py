"""KMS and SSE-KMS: Cloudlet vs moto's server, and SSE-KMS vs SSE-S3 within Cloudlet, in one run.

Workloads: requests/s and p50/p99 of KMS Encrypt (1 KiB with an encryption context), Decrypt of that
blob and GenerateDataKey (AES_256), with 4 concurrent boto3 clients, against Cloudlet and moto (the
peer: it keeps keys in memory and does no policy evaluation, so Cloudlet's figure is what key
policies, grants, wrapped material and audit cost). Then the median time of a 1 MiB S3 PUT and GET
under SSE-KMS and under SSE-S3 on Cloudlet: the ratio is what asking KMS for each object costs.

    .venv/bin/python bench/bench_kms.py [--seconds 3] [--threads 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig
from common import MotoServer, median, report, run_load

from tests.support import CloudletProcess

MiB = 1024 * 1024


def _factory(endpoint: str, service: str, key: str, secret: str, region: str):
    session = boto3.session.Session()

    def make():
        return session.client(service, endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
                              aws_secret_access_key=secret,
                              config=BotoConfig(retries={"max_attempts": 0}, max_pool_connections=1))

    return make


def kms_workloads(make_client, seconds: float, threads: int) -> dict[str, tuple[float, float, float]]:
    """(req/s, p50 ms, p99 ms) of Encrypt, Decrypt and GenerateDataKey on one fresh key."""
    admin = make_client()
    key_id = admin.create_key(Description="bench")["KeyMetadata"]["KeyId"]
    context = {"purpose": "bench"}
    blob = admin.encrypt(KeyId=key_id, Plaintext=os.urandom(1024), EncryptionContext=context)["CiphertextBlob"]
    calls = {
        "Encrypt 1 KiB": lambda c: c.encrypt(KeyId=key_id, Plaintext=b"x" * 1024, EncryptionContext=context),
        "Decrypt": lambda c: c.decrypt(CiphertextBlob=blob, EncryptionContext=context),
        "GenerateDataKey": lambda c: c.generate_data_key(KeyId=key_id, KeySpec="AES_256"),
    }
    results = {}
    for label, call in calls.items():
        def bound(call=call):
            client = make_client()
            return lambda: call(client)
        load = run_load(bound, threads=threads, seconds=seconds)
        results[label] = (load.rps, load.percentile(0.5) * 1000, load.percentile(0.99) * 1000)
    return results


def sse_medians(s3, kms, rounds: int) -> dict[str, float]:
    """Median seconds of a 1 MiB PUT and GET under SSE-KMS (a customer key) and SSE-S3."""
    s3.create_bucket(Bucket="bench-sse")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    body = os.urandom(MiB)
    modes = {"SSE-KMS": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_id},
             "SSE-S3": {"ServerSideEncryption": "AES256"}}
    times: dict[str, list[float]] = {f"{mode} {op}": [] for mode in modes for op in ("PUT", "GET")}
    for _ in range(rounds):
        for mode, extra in modes.items():
            started = time.perf_counter()
            s3.put_object(Bucket="bench-sse", Key=mode, Body=body, **extra)
            times[f"{mode} PUT"].append(time.perf_counter() - started)
            started = time.perf_counter()
            s3.get_object(Bucket="bench-sse", Key=mode)["Body"].read()
            times[f"{mode} GET"].append(time.perf_counter() - started)
    return {label: median(values) for label, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cloud = CloudletProcess(Path(tmp) / "data").start()
        moto = MotoServer()
        try:
            creds = cloud.root_credentials()
            ours = kms_workloads(_factory(cloud.endpoint, "kms", creds.access_key_id, creds.secret_access_key,
                                          cloud.region), args.seconds, args.threads)
            peer = kms_workloads(_factory(moto.endpoint, "kms", "testing", "testing", "us-east-1"),
                                 args.seconds, args.threads)
            sse = sse_medians(cloud.client("s3"), cloud.client("kms"), args.rounds)
        finally:
            moto.stop()
            cloud.stop()
    print(f"{'KMS (' + str(args.threads) + ' clients)':<22} {'Cloudlet req/s':>15} {'moto req/s':>11} {'ratio':>6}"
          f" {'p99 ms ours/moto':>18}")
    for label, (rps, p50, p99) in ours.items():
        peer_rps, peer_p50, peer_p99 = peer[label]
        print(f"{label:<22} {rps:15.0f} {peer_rps:11.0f} {rps / peer_rps:6.2f} {p99:9.2f}/{peer_p99:.2f}")
        report(f"KMS {label}, {args.threads} clients: req/s over moto's", rps / peer_rps, "x",
               cloudlet_rps=round(rps), moto_rps=round(peer_rps), cloudlet_p50_ms=p50, moto_p50_ms=peer_p50,
               cloudlet_p99_ms=p99, moto_p99_ms=peer_p99)
    for op in ("PUT", "GET"):
        kms_time, s3_time = sse[f"SSE-KMS {op}"], sse[f"SSE-S3 {op}"]
        print(f"1 MiB {op}: SSE-KMS median {kms_time * 1000:.2f} ms, SSE-S3 {s3_time * 1000:.2f} ms, "
              f"ratio {kms_time / s3_time:.2f}")
        report(f"S3 1 MiB {op}: median time under SSE-KMS over SSE-S3's", kms_time / s3_time, "x",
               sse_kms_ms=kms_time * 1000, sse_s3_ms=s3_time * 1000)


if __name__ == "__main__":
    main()
