"""API throughput and latency at 8 concurrent client processes: Cloudlet, moto's server and a canned-answer
server, side by side in one run (issue 16 point 5).

Each workload is driven by ``--clients`` processes, each with its own boto3 client over one keep-alive
connection, in a closed loop for ``--seconds``; within every round the servers take turns, and the median
round by requests/s is reported with its p50 and p99. The canned-answer server (bench/canned.py) replays
the very response Cloudlet gave for the workload without doing any work: it is the limit of the harness,
since on 2 cores the clients themselves take much of the CPU.

Workloads: ``sts get-caller-identity``, ``ec2 describe-availability-zones``, ``ec2 describe-instances``
(a page of 100, of an empty account), S3 4 KiB PUT and GET, SQS send and receive (``VisibilityTimeout=0``,
so the queue never runs dry).

Targets (issue 16): at least 3x moto's requests/s on every row, with p99 at or below moto's, and at least
60% of the canned-answer limit. ``--servers cheroot,waitress`` runs Cloudlet on each HTTP server in turn, and
``--workers 1,2`` with each number of API processes (controller/workers/; by default one, then one per core).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from canned import CannedServer, recorder
from common import LoadResult, MotoServer, report

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support import CloudletProcess  # noqa: E402

BUCKET, QUEUE = "bench-api", "bench-api"
PAYLOAD = os.urandom(4096)
MESSAGE = "m" * 100
WARM_UP = 5
RATIO_TARGET, CANNED_SHARE_TARGET = 3.0, 60.0

#: label -> (service, the call: given a client and the server's fixture)
WORKLOADS: dict[str, tuple[str, Callable[[Any, dict[str, str]], object]]] = {
    "sts get-caller-identity": ("sts", lambda c, f: c.get_caller_identity()),
    "ec2 describe-availability-zones": ("ec2", lambda c, f: c.describe_availability_zones()),
    "ec2 describe-instances": ("ec2", lambda c, f: c.describe_instances(MaxResults=100)),
    "s3 put-object 4 KiB": ("s3", lambda c, f: c.put_object(Bucket=BUCKET, Key=f"put-{os.getpid()}", Body=PAYLOAD)),
    "s3 get-object 4 KiB": ("s3", lambda c, f: c.get_object(Bucket=BUCKET, Key="object")["Body"].read()),
    "sqs send-message": ("sqs", lambda c, f: c.send_message(QueueUrl=f["queue_url"], MessageBody=MESSAGE)),
    "sqs receive-message": ("sqs", lambda c, f: c.receive_message(QueueUrl=f["queue_url"], MaxNumberOfMessages=1,
                                                                  VisibilityTimeout=0)),
}


@dataclass(frozen=True)
class Endpoint:
    """A server under load, and how to sign for it."""

    name: str
    url: str
    key: str
    secret: str
    region: str

    def client(self, service: str) -> Any:
        return boto3.session.Session().client(
            service, endpoint_url=self.url, region_name=self.region, aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            config=BotoConfig(retries={"max_attempts": 0}, max_pool_connections=1, s3={"addressing_style": "path"}))


def prepare(endpoint: Endpoint) -> dict[str, str]:
    """The bucket with its 4 KiB object and the queue with a message; the fixture the calls need."""
    s3 = endpoint.client("s3")
    location = {} if endpoint.region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": endpoint.region}}
    s3.create_bucket(Bucket=BUCKET, **location)
    s3.put_object(Bucket=BUCKET, Key="object", Body=PAYLOAD)
    sqs = endpoint.client("sqs")
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody=MESSAGE)
    return {"queue_url": queue_url}


def canned_response(endpoint: Endpoint, workload: str, fixture: dict[str, str]) -> bytes:
    """What ``endpoint`` answers to one call of ``workload``, as bytes to replay."""
    service, call = WORKLOADS[workload]
    client = endpoint.client(service)
    seen, record = recorder()
    client.meta.events.register("after-call", record)
    call(client, fixture)
    return seen["response"]


def _client_process(pipe: Connection) -> None:
    """One load client: for each job, warm up, say ready, wait for "go", run the closed loop, send latencies."""
    clients: dict[tuple[str, str], Any] = {}
    while (job := pipe.recv()) is not None:
        endpoint, workload, fixture, seconds = job
        service, call = WORKLOADS[workload]
        error = ""
        try:
            client = clients.get((endpoint.url, service)) or clients.setdefault(
                (endpoint.url, service), endpoint.client(service))
            for _ in range(WARM_UP):
                call(client, fixture)
        except Exception as exc:  # noqa: BLE001 - reported to the driver, which stops the run
            error = f"{endpoint.name} {workload}: {exc}"
        pipe.send(error or "ready")
        pipe.recv()  # go
        latencies: list[float] = []
        begun = time.perf_counter()
        stop = begun + seconds
        while not error and (started := time.perf_counter()) < stop:
            try:
                call(client, fixture)
            except Exception as exc:  # noqa: BLE001
                error = f"{endpoint.name} {workload}: {exc}"
            latencies.append(time.perf_counter() - started)
        pipe.send((error, latencies, time.perf_counter() - begun))


class ClientProcesses:
    """``count`` load client processes (forked once, reused for every round), each keeping one boto3 client
    (one keep-alive connection) per server and service."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("fork")
        self.pipes: list[Connection] = []
        self.processes = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=_client_process, args=(theirs,), daemon=True)
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    def load(self, endpoint: Endpoint, workload: str, fixture: dict[str, str], seconds: float) -> LoadResult:
        for pipe in self.pipes:
            pipe.send((endpoint, workload, fixture, seconds))
        errors = [answer for answer in (pipe.recv() for pipe in self.pipes) if answer != "ready"]
        for pipe in self.pipes:
            pipe.send("go")
        results = [pipe.recv() for pipe in self.pipes]
        errors += [error for error, _, _ in results if error]
        if errors:
            raise RuntimeError(errors[0])
        latencies = [latency for _, mine, _ in results for latency in mine]
        return LoadResult(len(latencies), max(elapsed for _, _, elapsed in results), latencies)

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for process in self.processes:
            process.join(timeout=10)


def measure(clients: ClientProcesses, cloudlet: Endpoint, moto: Endpoint, workloads: list[str], *, seconds: float,
            rounds: int) -> dict[str, dict[str, LoadResult]]:
    """Per workload, the median round of Cloudlet, moto and the canned-answer server, loaded in turns."""
    fixtures = {cloudlet.name: prepare(cloudlet), moto.name: prepare(moto)}
    found: dict[str, dict[str, LoadResult]] = {}
    for workload in workloads:
        canned_server = CannedServer(canned_response(cloudlet, workload, fixtures[cloudlet.name]))
        canned = Endpoint("canned", canned_server.endpoint, cloudlet.key, cloudlet.secret, cloudlet.region)
        fixtures[canned.name] = fixtures[cloudlet.name]
        runs: dict[str, list[LoadResult]] = {cloudlet.name: [], moto.name: [], canned.name: []}
        try:
            for _ in range(rounds):
                for endpoint in (cloudlet, moto, canned):
                    runs[endpoint.name].append(clients.load(endpoint, workload, fixtures[endpoint.name], seconds))
        finally:
            canned_server.stop()
        found[workload] = {name: sorted(results, key=lambda r: r.rps)[len(results) // 2]
                           for name, results in runs.items()}
        print_rows(workload, found[workload], cloudlet.name, moto.name)
    return found


def print_rows(workload: str, results: dict[str, LoadResult], ours: str, peer: str) -> None:
    print(f"\n{workload}")
    for name, result in results.items():
        print("  " + result.line(name))
    mine, theirs, limit = results[ours], results[peer], results["canned"]
    tail = mine.percentile(0.99) / theirs.percentile(0.99)
    print(f"  {ours}: {mine.rps / theirs.rps:.2f}x moto's req/s, p99 {tail:.2f}x "
          f"moto's, {100 * mine.rps / limit.rps:.0f}% of the canned limit", flush=True)


def verdicts(found: dict[str, dict[str, LoadResult]], ours: str, peer: str, clients: int) -> None:
    for workload, results in found.items():
        mine, theirs, limit = results[ours], results[peer], results["canned"]
        figures = {"cloudlet_rps": round(mine.rps), "moto_rps": round(theirs.rps), "canned_rps": round(limit.rps),
                   "cloudlet_p50_ms": mine.percentile(0.5) * 1000, "moto_p50_ms": theirs.percentile(0.5) * 1000,
                   "cloudlet_p99_ms": mine.percentile(0.99) * 1000, "moto_p99_ms": theirs.percentile(0.99) * 1000}
        report(f"{workload}, {clients} clients ({ours}): req/s over moto's", mine.rps / theirs.rps, "x",
               at_least=RATIO_TARGET, **figures)
        report(f"{workload}, {clients} clients ({ours}): p99 over moto's",
               mine.percentile(0.99) / theirs.percentile(0.99), "x", at_most=1.0)
        report(f"{workload}, {clients} clients ({ours}): share of the canned-answer limit",
               100 * mine.rps / limit.rps, "%", at_least=CANNED_SHARE_TARGET)


def wait_for_processes(endpoint: str, count: int, timeout: float = 60.0) -> None:
    """Until fresh connections reach ``count`` API processes: workers start after ``cloudlet up`` says ready."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(seen)} of {count} API processes answered in {timeout:.0f} s")
        with urllib.request.urlopen(f"{endpoint}/_cloudlet/health") as answer:
            seen.add(json.load(answer)["process"])


def run_cloudlet(args: argparse.Namespace, clients: ClientProcesses, moto: Endpoint, chosen: list[str], server: str,
                 processes: int) -> None:
    """One Cloudlet, on HTTP server ``server`` with ``processes`` API processes, measured against moto."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        (data_dir / "cloudlet.json").write_text(json.dumps({"workers": processes}))
        cloud = CloudletProcess(data_dir, extra_env={"CLOUDLET_HTTP_SERVER": server, "CLOUDLET_LOG": "WARNING"}).start()
        try:
            wait_for_processes(cloud.endpoint, processes)
            creds = cloud.root_credentials()
            ours = Endpoint(f"cloudlet-{server}-{processes}p", cloud.endpoint, creds.access_key_id,
                            creds.secret_access_key, cloud.region)
            print(f"\n== Cloudlet on {server} with {processes} API processes, moto, canned answers: {args.clients} "
                  f"client processes, median of {args.rounds} x {args.seconds:g} s, {os.cpu_count()} cores shared")
            found = measure(clients, ours, moto, chosen, seconds=args.seconds, rounds=args.rounds)
        finally:
            cloud.stop()
    verdicts(found, ours.name, moto.name, args.clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one round of one server")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per workload; the median one is reported")
    parser.add_argument("--servers", default="cheroot", help="HTTP servers to run Cloudlet on, comma-separated")
    parser.add_argument("--workers", default=f"1,{os.cpu_count()}",
                        help="API processes to run Cloudlet with, comma-separated (default: one, and one per core)")
    parser.add_argument("--only", default="", help="run only the workloads whose label has one of these words "
                                                    "(comma-separated, e.g. s3,sqs)")
    args = parser.parse_args()

    words = [word for word in args.only.split(",") if word]
    chosen = [label for label in WORKLOADS if not words or any(word in label for word in words)]
    if not chosen:
        parser.error(f"--only {args.only!r} matches none of: {', '.join(WORKLOADS)}")
    clients = ClientProcesses(args.clients)
    moto_server = MotoServer()
    try:
        moto = Endpoint("moto", moto_server.endpoint, "testing", "testing", "us-east-1")
        for server in args.servers.split(","):
            for processes in dict.fromkeys(int(n) for n in args.workers.split(",")):
                run_cloudlet(args, clients, moto, chosen, server, processes)
    finally:
        moto_server.stop()
        clients.close()


if __name__ == "__main__":
    main()
