"""Lambda invoke latency, throughput and cold start for a Python hello-world, against the physical limit.

Cloudlet starts with its agent (functions run in bubblewrap sandboxes on this host), one ``python3.11``
function answers ``{"hello": "world"}``, and boto3 invokes it, measured side by side with two peers in
the same run:

- the physical limit: an already running Python process that holds the same handler and answers each
  event over a Unix socket (one keep-alive connection per client): what one warm invocation must cost
  at least on this machine, with no API, no routing and no Runtime API in between;
- the API alone: the same boto3 client's round trip to STS GetCallerIdentity on the same Cloudlet,
  which separates what the API path costs (HTTP, SigV4, IAM, audit) from what running a function adds.

Warm: p50/p99 with one client, invocations per second with ``--threads`` clients. Cold: the function's
configuration changes (a new revision, so no warm environment can serve it) and the first invoke is
timed on the client, with the REPORT line's Init Duration; the peer is starting a Python process that
imports awslambdaric and the handler and answers once. Targets (issue 14): warm p50 within 5 ms of the
physical limit; cold start under 300 ms for a zip function.

    .venv/bin/python bench/bench_lambda.py [--seconds 4] [--threads 4] [--cold 8]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from common import LoadResult, report, run_load

from tests.support import CloudletProcess

HANDLER = """\
def handler(event, context):
    return {"hello": "world"}
"""
EVENT = json.dumps({"name": "bench"}).encode()
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})

# The peer: the handler in a process that is already running, one thread per connection, one line per event.
PEER_SERVER = """
import json, socket, sys, threading
sys.path.insert(0, sys.argv[2])
from app import handler
listener = socket.socket(socket.AF_UNIX)
listener.bind(sys.argv[1])
listener.listen(64)
def serve(connection):
    reader = connection.makefile("rb")
    for line in reader:
        connection.sendall(json.dumps(handler(json.loads(line), None)).encode() + b"\\n")
while True:
    threading.Thread(target=serve, args=(listener.accept()[0],), daemon=True).start()
"""


class UnixPeer:
    """The hello-world handler in a running Python process, reached over a Unix socket."""

    def __init__(self, workdir: Path) -> None:
        self.path = str(workdir / "peer.sock")
        self.proc = subprocess.Popen([sys.executable, "-c", PEER_SERVER, self.path, str(workdir / "src")])
        deadline = time.monotonic() + 10
        while not os.path.exists(self.path):
            if time.monotonic() > deadline:
                raise RuntimeError("the Unix socket peer did not start")
            time.sleep(0.02)

    def make_call(self) -> Callable[[], object]:
        connection = socket.socket(socket.AF_UNIX)
        connection.connect(self.path)
        reader = connection.makefile("rb")

        def call() -> object:
            connection.sendall(EVENT + b"\n")
            return json.loads(reader.readline())
        return call

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def zip_of(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def create_function(cloud: CloudletProcess, name: str) -> None:
    iam, lam = cloud.client("iam"), cloud.client("lambda")
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler",
                        Code={"ZipFile": zip_of(HANDLER)}, MemorySize=512)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    deadline = time.monotonic() + 60
    while True:  # the agent registers its function runner a moment after `cloudlet up` is ready
        try:
            lam.invoke(FunctionName=name, Payload=EVENT)
            return
        except lam.exceptions.ResourceConflictException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def invoke_call(cloud: CloudletProcess, name: str) -> Callable[[], Callable[[], object]]:
    def make() -> Callable[[], object]:
        lam = cloud.client("lambda")

        def call() -> object:
            response = lam.invoke(FunctionName=name, Payload=EVENT)
            payload = response["Payload"].read()
            if "FunctionError" in response:
                raise RuntimeError(f"the function failed: {payload[:300]!r}")
            return payload
        return call
    return make


def sts_call(cloud: CloudletProcess) -> Callable[[], Callable[[], object]]:
    def make() -> Callable[[], object]:
        sts = cloud.client("sts")
        return lambda: sts.get_caller_identity()
    return make


def cold_starts(cloud: CloudletProcess, name: str, rounds: int) -> tuple[list[float], list[float]]:
    """(client-side seconds of each first invoke after a configuration change, Init Durations in seconds)."""
    lam = cloud.client("lambda")
    client_times, init_durations = [], []
    for round_ in range(rounds):
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"ROUND": str(round_)}})
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
        started = time.perf_counter()
        response = lam.invoke(FunctionName=name, Payload=EVENT, LogType="Tail")
        response["Payload"].read()
        client_times.append(time.perf_counter() - started)
        tail = base64.b64decode(response.get("LogResult", "")).decode(errors="replace")
        match = re.search(r"Init Duration: ([\d.]+) ms", tail)
        if match:
            init_durations.append(float(match.group(1)) / 1000)
    return client_times, init_durations


def process_cold_starts(workdir: Path, rounds: int) -> list[float]:
    """The peer's cold start: a new Python process that imports awslambdaric and the handler and answers once."""
    script = textwrap.dedent("""
        import json, sys
        import awslambdaric.bootstrap
        sys.path.insert(0, sys.argv[1])
        from app import handler
        print(json.dumps(handler({}, None)))
    """)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", script, str(workdir / "src")], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each warm measurement")
    parser.add_argument("--threads", type=int, default=4, help="concurrent clients for invocations per second")
    parser.add_argument("--cold", type=int, default=8, help="cold starts to time")
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("bwrap") is None:
        sys.exit("bench_lambda needs root and bubblewrap (functions run in sandboxes on the local agent)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-lambda-"))
    (workdir / "src").mkdir()
    (workdir / "src" / "app.py").write_text(HANDLER)
    peer = UnixPeer(workdir)
    cloud = CloudletProcess(workdir / "data", agent=True, extra_env={"CLOUDLET_LOG": "WARNING"}).start()
    try:
        create_function(cloud, "hello")
        targets: dict[str, Callable[[], Callable[[], object]]] = {
            "Lambda invoke (boto3)": invoke_call(cloud, "hello"),
            "STS GetCallerIdentity (boto3)": sts_call(cloud),
            "Unix socket to a running process": peer.make_call,
        }
        single: dict[str, LoadResult] = {}
        parallel: dict[str, LoadResult] = {}
        print(f"warm, 1 client, {args.seconds:g} s each:")
        for label, make in targets.items():
            single[label] = run_load(make, threads=1, seconds=args.seconds)
            print("  " + single[label].line(label), flush=True)
        print(f"warm, {args.threads} clients:")
        for label, make in targets.items():
            parallel[label] = run_load(make, threads=args.threads, seconds=args.seconds)
            print("  " + parallel[label].line(label), flush=True)
        cold_client, cold_init = cold_starts(cloud, "hello", args.cold)
        peer_cold = process_cold_starts(workdir, args.cold)
    finally:
        cloud.stop()
        peer.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    invoke, api, limit = (single[label].percentile(0.5) for label in targets)
    print("\nwarm p50 (medians of one client):")
    print(f"  Lambda invoke {ms(invoke)}   API alone {ms(api)}   physical limit {ms(limit)}")
    print(f"  overhead over the physical limit {ms(invoke - limit)}   (target < 5 ms: "
          f"{'met' if invoke - limit < 0.005 else 'NOT met'})")
    print(f"  of which the API path {ms(api - limit)}, the function path {ms(invoke - api)}; "
          f"ratio invoke / limit {invoke / limit:.0f}x, invoke / API {invoke / api:.2f}x")
    report("Lambda warm invoke p50, 1 client: overhead over the physical limit (a warm process, Unix socket)",
           (invoke - limit) * 1000, "ms", at_most=5, invoke_p50_ms=invoke * 1000, api_alone_p50_ms=api * 1000,
           limit_p50_ms=limit * 1000)
    rates = [parallel[label].rps for label in targets]
    print(f"  invocations/s with {args.threads} clients: {rates[0]:.0f} (API alone {rates[1]:.0f}, "
          f"limit {rates[2]:.0f}; {rates[0] / rates[1]:.2f}x the API)")
    report(f"Lambda invocations/s, {args.threads} clients: over STS GetCallerIdentity's (the API alone)",
           rates[0] / rates[1], "x", invoke_rps=rates[0], api_alone_rps=rates[1], limit_rps=rates[2])
    client_median = statistics.median(cold_client)
    print(f"\ncold start ({args.cold} new revisions, medians):")
    print(f"  first invoke on the client {ms(client_median)}   Init Duration "
          f"{ms(statistics.median(cold_init)) if cold_init else '    n/a (no Init Duration in REPORT)'}")
    print(f"  peer: a new Python process importing awslambdaric + the handler {ms(statistics.median(peer_cold))}"
          f"   ratio {client_median / statistics.median(peer_cold):.2f}x")
    print(f"  cold start target < 300 ms: {'met' if client_median < 0.3 else 'NOT met'}")
    report("Lambda cold start of a zip function (new revision): first invoke on the client, median",
           client_median * 1000, "ms", at_most=300, rounds=args.cold,
           init_duration_ms=statistics.median(cold_init) * 1000 if cold_init else None,
           peer_process_ms=statistics.median(peer_cold) * 1000)


if __name__ == "__main__":
    main()
