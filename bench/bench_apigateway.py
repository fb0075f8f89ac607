"""API Gateway invoke URLs: what the gateway adds over calling the backend directly, in the same run.

1. HTTP proxy. A threaded HTTP/1.1 keep-alive backend in its own process on 127.0.0.1 (so it does not share
   the clients' GIL) answers every GET with the same 100-byte JSON. Three targets are loaded alternately,
   round after round, so a slow moment of the machine hits them all alike:
   - the backend called directly (the floor: one HTTP exchange on loopback);
   - a REST API (``apigateway``): resource ``/{proxy+}``, method ANY, HTTP_PROXY integration to the
     backend, deployed to stage ``prod``: ``{endpoint}/_cloudlet/execute-api/{api}/prod/{path}``;
   - an HTTP API (``apigatewayv2``): route ``ANY /{proxy+}``, HTTP_PROXY integration, ``$default`` stage
     with auto-deploy: ``{endpoint}/_cloudlet/execute-api/{api}/{path}`` (no stage segment).
   Each client is closed-loop on its own urllib3 keep-alive connection, with 1 client and ``--threads``
   clients. The gateway's added latency is its p50 minus the direct p50; the issue's target is under 2 ms.
2. Lambda proxy. A REST API's ``GET /hello`` with an AWS_PROXY integration to a python3.11 function, against
   boto3 ``lambda.invoke`` of the same function. The two paths differ in both ends: Invoke has boto3's
   client-side work (signing, parsing) and the server's SigV4 check, the gateway path a plain GET but the
   proxy event to build and the proxy answer to read; the ratio is what a caller sees. Needs root and
   bubblewrap (functions run in sandboxes on the local agent); skipped with the reason printed otherwise.

Answers that are not 2xx with the expected body (warm-up calls included) are counted and shown, never
hidden: their rounds are still timed (an error is often faster than a served answer, which would flatter
the gateway), so read the error column first.

    .venv/bin/python bench/bench_apigateway.py [--seconds 2] [--threads 4] [--rounds 3] [--no-lambda]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import urllib3
from common import LoadResult, report, run_load

from tests.e2e.lambda_helpers import execution_role, python_function
from tests.support import CloudletProcess, wait_for

PAYLOAD_PATH = "/items/42"
#: The backend's answer: a fixed JSON document of exactly 100 bytes.
BODY = json.dumps({"ok": True, "pad": "x" * 80}, separators=(",", ":")).encode()
assert len(BODY) == 100, len(BODY)

BACKEND = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = sys.argv[1].encode()
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive: the gateway's pool and the direct clients reuse connections
    disable_nagle_algorithm = True  # no 40 ms stall of Nagle against the client's delayed ACK
    wbufsize = -1                   # status, headers and body in one write (flushed after each request)
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 128
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

HANDLER = """\
import json

def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"hello": "world"})}
"""
EVENT = json.dumps({"name": "bench"}).encode()
HELLO = json.dumps({"hello": "world"}).encode()


class Backend:
    """The HTTP backend in a process of its own; ``url`` is its base URL."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", BACKEND, BODY.decode()], stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@dataclass
class Errors:
    """Non-2xx answers per target (counted by every client thread), with the first few kept to show."""

    counts: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, label: str, what: str) -> None:
        with self.lock:
            self.counts[label] = self.counts.get(label, 0) + 1
            kept = self.samples.setdefault(label, [])
            if len(kept) < 3:
                kept.append(what)


#: A target of the load: given its label and the run's error tally, the factory of its clients (run_load's).
Target = Callable[[str, Errors], Callable[[], Callable[[], object]]]


def http_target(url: str, expect: bytes) -> Target:
    """Clients of ``url``, each with one keep-alive connection, counting as errors the non-2xx answers and
    the bodies other than ``expect`` (a gateway that answers fast but wrong must not look good)."""
    split = urlsplit(url)
    path = split.path + (f"?{split.query}" if split.query else "")

    def target(label: str, errors: Errors) -> Callable[[], Callable[[], object]]:
        def make() -> Callable[[], object]:
            pool = urllib3.HTTPConnectionPool(split.hostname, split.port, maxsize=1, block=True,
                                              retries=False, timeout=urllib3.Timeout(total=30))

            def call() -> object:
                answer = pool.request("GET", path)
                if not 200 <= answer.status < 300 or answer.data != expect:
                    errors.add(label, f"{answer.status} {answer.data[:200]!r}")
                return answer.data
            return call
        return make
    return target


def invoke_target(cloud: CloudletProcess, name: str) -> Target:
    """boto3 clients invoking ``name`` synchronously; a function error counts as an error."""
    def target(label: str, errors: Errors) -> Callable[[], Callable[[], object]]:
        def make() -> Callable[[], object]:
            lam = cloud.client("lambda")

            def call() -> object:
                response = lam.invoke(FunctionName=name, Payload=EVENT)
                payload = response["Payload"].read()
                if "FunctionError" in response:
                    errors.add(label, f"FunctionError {payload[:200]!r}")
                return payload
            return call
        return make
    return target


def invoke_url(cloud: CloudletProcess, api_id: str, path: str) -> str:
    return f"{cloud.endpoint}/_cloudlet/execute-api/{api_id}{path}"


def rest_http_proxy(cloud: CloudletProcess, backend: str) -> str:
    """A REST API forwarding ``/{proxy+}`` (any method) to the backend, deployed to ``prod``; its API id."""
    apigw = cloud.client("apigateway")
    api_id = apigw.create_rest_api(name="bench-http-proxy")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    proxy = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
    apigw.put_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY", authorizationType="NONE",
                     requestParameters={"method.request.path.proxy": True})
    apigw.put_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="HTTP_PROXY",
                          integrationHttpMethod="ANY", uri=backend + "/{proxy}",
                          requestParameters={"integration.request.path.proxy": "method.request.path.proxy"})
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    return api_id


def http_api_proxy(cloud: CloudletProcess, backend: str) -> str:
    """An HTTP API forwarding ``ANY /{proxy+}`` to the backend on its auto-deployed ``$default`` stage."""
    v2 = cloud.client("apigatewayv2")
    api_id = v2.create_api(Name="bench-http-proxy", ProtocolType="HTTP")["ApiId"]
    integration = v2.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
                                        IntegrationUri=backend + "/{proxy}",
                                        PayloadFormatVersion="1.0")["IntegrationId"]
    v2.create_route(ApiId=api_id, RouteKey="ANY /{proxy+}", Target=f"integrations/{integration}")
    v2.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    return api_id


def lambda_proxy(cloud: CloudletProcess, name: str) -> str:
    """A python3.11 function and a REST API whose ``GET /hello`` calls it through AWS_PROXY; the API id."""
    iam, lam, apigw = cloud.client("iam"), cloud.client("lambda"), cloud.client("apigateway")
    wait_for(lambda: any("registered" in line and "lambda-functions" in line for line in cloud.output),
             timeout=60, what="the agent's function runner to register")
    role = execution_role(iam, f"{name}-role")
    arn = python_function(lam, name, role, HANDLER, MemorySize=512)["FunctionArn"]
    api_id = apigw.create_rest_api(name="bench-lambda-proxy")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    hello = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="hello")["id"]
    apigw.put_method(restApiId=api_id, resourceId=hello, httpMethod="GET", authorizationType="NONE")
    uri = f"arn:aws:apigateway:{cloud.region}:lambda:path/2015-03-31/functions/{arn}/invocations"
    apigw.put_integration(restApiId=api_id, resourceId=hello, httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=uri)
    lam.add_permission(FunctionName=name, StatementId="apigateway", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{cloud.region}:{cloud.account_id}:{api_id}/*")
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    return api_id


def median_rounds(targets: dict[str, Target], errors: Errors, *, threads: int, seconds: float,
                  rounds: int) -> dict[str, LoadResult]:
    """Each target's median round by throughput, the targets loaded alternately within every round."""
    makers = {label: target(label, errors) for label, target in targets.items()}
    runs: dict[str, list[LoadResult]] = {label: [] for label in targets}
    for _ in range(rounds):
        for label, make in makers.items():
            runs[label].append(run_load(make, threads=threads, seconds=seconds))
    return {label: sorted(results, key=lambda r: r.rps)[len(results) // 2] for label, results in runs.items()}


def ms(seconds: float) -> float:
    return seconds * 1000


def measure(part: str, targets: dict[str, Target],
            args: argparse.Namespace) -> dict[int, tuple[dict[str, LoadResult], Errors]]:
    """Load ``targets`` with 1 client then ``--threads``; print each table (ratios over the first target) with
    the errors seen, and return the median rounds and the errors by client count."""
    floor = next(iter(targets))
    measured = {}
    for threads in dict.fromkeys((1, args.threads)):
        errors = Errors()
        results = median_rounds(targets, errors, threads=threads, seconds=args.seconds, rounds=args.rounds)
        base = results[floor]
        print(f"\n{part}, {threads} client{'s' if threads > 1 else ''} (median of {args.rounds} rounds x "
              f"{args.seconds:g} s; ratios over {floor}):")
        print(f"  {'target':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'x rps':>7} "
              f"{'+p50 ms':>8}")
        for label, result in results.items():
            added = result.percentile(0.5) - base.percentile(0.5)
            extra = "" if label == floor else f" {result.rps / base.rps:7.3f} {ms(added):8.2f}"
            print(f"  {label:<34} {result.rps:8.0f} {ms(result.percentile(0.5)):8.2f} "
                  f"{ms(result.percentile(0.99)):8.2f} {errors.counts.get(label, 0):7d}{extra}")
        for label, count in errors.counts.items():
            samples = "; ".join(errors.samples[label])
            print(f"  ERRORS {label}: {count} answers not 2xx with the expected body, e.g. {samples}")
        for label in results:
            if errors.counts.get(label):
                print(f"  ({label}: its figures time error answers too)")
        sys.stdout.flush()
        measured[threads] = results, errors
    return measured


def bench_http_proxy(cloud: CloudletProcess, backend: Backend, args: argparse.Namespace) -> None:
    rest_id, http_id = rest_http_proxy(cloud, backend.url), http_api_proxy(cloud, backend.url)
    direct_label = "direct to the backend"
    measured = measure("HTTP proxy", {
        direct_label: http_target(backend.url + PAYLOAD_PATH, BODY),
        "REST API HTTP_PROXY (prod)": http_target(invoke_url(cloud, rest_id, "/prod" + PAYLOAD_PATH), BODY),
        "HTTP API HTTP_PROXY ($default)": http_target(invoke_url(cloud, http_id, PAYLOAD_PATH), BODY),
    }, args)
    single, errors = measured[1]
    direct = single[direct_label].percentile(0.5)
    print("\ngateway overhead at p50, 1 client (the target, issue 18: < 2 ms):")
    for label, result in single.items():
        if label == direct_label:
            continue
        added = result.percentile(0.5) - direct
        verdict = "NOT met (errors)" if errors.counts.get(label) else "met" if added < 0.002 else "NOT met"
        print(f"  {label:<34} +{ms(added):.2f} ms   {verdict}")
        report(f"API Gateway {label}, 1 client: p50 added over the backend called directly", ms(added), "ms",
               at_most=2, gateway_p50_ms=ms(result.percentile(0.5)), direct_p50_ms=ms(direct),
               error_answers=errors.counts.get(label, 0))
        if errors.counts.get(label):  # error answers are not served ones: NOT met, whatever the p50
            report(f"API Gateway {label}, 1 client: answers not 2xx with the expected body",
                   errors.counts[label], "", at_most=0)
    if args.threads == 1:
        return
    parallel, errors = measured[args.threads]
    direct_rps = parallel[direct_label].rps
    for label, result in parallel.items():
        if label != direct_label:
            report(f"API Gateway {label}, {args.threads} clients: req/s over the backend called directly",
                   result.rps / direct_rps, "x", gateway_rps=result.rps, direct_rps=direct_rps,
                   error_answers=errors.counts.get(label, 0))


def bench_lambda_proxy(cloud: CloudletProcess, args: argparse.Namespace) -> None:
    api_id = lambda_proxy(cloud, "bench-hello")
    invoke_label, gateway_label = "lambda.invoke (boto3)", "REST API AWS_PROXY GET /hello"
    measured = measure("Lambda proxy", {
        invoke_label: invoke_target(cloud, "bench-hello"),
        gateway_label: http_target(invoke_url(cloud, api_id, "/prod/hello"), HELLO),
    }, args)
    single, errors = measured[1]
    invoke, gateway = single[invoke_label], single[gateway_label]
    invoke_p50, gateway_p50 = ms(invoke.percentile(0.5)), ms(gateway.percentile(0.5))
    report(f"API Gateway {gateway_label} (Lambda proxy), 1 client: p50 added over {invoke_label}",
           gateway_p50 - invoke_p50, "ms", gateway_p50_ms=gateway_p50, invoke_p50_ms=invoke_p50,
           gateway_rps=gateway.rps, invoke_rps=invoke.rps, error_answers=dict(errors.counts))


def lambda_missing(args: argparse.Namespace) -> str | None:
    """Why the Lambda part cannot run here, or None."""
    if args.no_lambda:
        return "--no-lambda"
    if os.geteuid() != 0:
        return "needs root (functions run in sandboxes on the local agent)"
    if shutil.which("bwrap") is None:
        return "needs bubblewrap (apt install bubblewrap)"
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each round of each target")
    parser.add_argument("--threads", type=int, default=4, help="concurrent clients for the parallel runs")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per target; the median one is reported")
    parser.add_argument("--no-lambda", action="store_true", help="skip the Lambda proxy part")
    args = parser.parse_args()
    missing = lambda_missing(args)
    workdir = Path(tempfile.mkdtemp(prefix="bench-apigateway-"))
    backend = Backend()
    cloud = CloudletProcess(workdir / "data", agent=missing is None).start()
    try:
        bench_http_proxy(cloud, backend, args)
        if missing is None:
            bench_lambda_proxy(cloud, args)
        else:
            print(f"\nLambda proxy: skipped ({missing})")
    finally:
        cloud.stop()
        backend.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
