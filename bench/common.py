"""Shared helpers for the benchmarks: servers to compare against, a lean JSON-protocol client, latency
statistics, and :func:`report`, through which every benchmark hands its verdicts to ``make bench``'s summary."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: Where run_all.py collects the verdicts of the benchmark it runs (one JSON object per line).
RESULTS_ENV = "CLOUDLET_BENCH_RESULTS"


def figure(value: float, unit: str) -> str:
    """A measured value for people: three significant digits, whole numbers from 100 up ("22,500 eval/s",
    "3.1x", "42 ms")."""
    number = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return number + unit if unit in ("x", "%", "") else f"{number} {unit}"


def report(row: str, measured: float, unit: str, *, at_least: float | None = None, at_most: float | None = None,
           **details: Any) -> bool | None:
    """One measured figure and its target, for ``make bench``'s summary table and JSON.

    ``row`` names what was measured ("sts get-caller-identity, 8 clients: req/s over moto's"), ``unit`` how
    to read ``measured`` ("x" for a ratio, "ms", "s", "%"...). The target is ``at_least`` or ``at_most``
    (neither: a figure reported for comparison over time, without a verdict). ``details`` (the absolute
    medians behind a ratio, the peer's figures) go to the JSON only. Returns whether the target was met.
    """
    met = None if at_least is None and at_most is None else (
        (at_least is None or measured >= at_least) and (at_most is None or measured <= at_most))
    target = " and ".join(text for text in (f">= {figure(at_least, unit)}" if at_least is not None else "",
                                            f"<= {figure(at_most, unit)}" if at_most is not None else "") if text)
    verdict = {"benchmark": Path(sys.argv[0]).stem, "row": row, "measured": round(measured, 4), "unit": unit,
               "target": target, "met": met, "details": details}
    print(f"  verdict: {row}: {figure(measured, unit)}" + (f" (target {target}: {'met' if met else 'NOT met'})"
                                                             if target else ""), flush=True)
    destination = os.environ.get(RESULTS_ENV)
    if destination:
        with open(destination, "a") as out:
            out.write(json.dumps(verdict, default=str) + "\n")
    return met


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


class MotoServer:
    """moto's server on a loopback port: the peer the API benchmarks are compared with."""

    def __init__(self) -> None:
        self.port = free_port()
        moto = Path(sys.executable).parent / "moto_server"
        self.proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]

    def line(self, label: str) -> str:
        return (f"{label:<34} {self.rps:8.0f} req/s   p50 {self.percentile(0.5) * 1000:6.2f} ms"
                f"   p99 {self.percentile(0.99) * 1000:6.2f} ms")


def run_load(make_call: Callable[[], Callable[[], object]], *, threads: int, seconds: float) -> LoadResult:
    """Run ``threads`` closed-loop clients (each with its own keep-alive connection) for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    calls = [make_call() for _ in range(threads)]
    for call in calls:  # warm up: connection, caches
        for _ in range(5):
            call()
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(threads + 1)

    def client(index: int) -> None:
        call, mine = calls[index], latencies[index]
        barrier.wait()
        while True:
            started = time.perf_counter()
            if started >= stop:
                return
            call()
            mine.append(time.perf_counter() - started)

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    begun = time.perf_counter()
    barrier.wait()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - begun
    flat = [x for part in latencies for x in part]
    return LoadResult(len(flat), elapsed, flat)


def median(values: list[float]) -> float:
    return statistics.median(values)


def env_flag(name: str, default: str) -> str:
    return os.environ.get(name, default)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


class JsonClient:
    """A minimal awsJson1_0 client (SigV4 by hand, one keep-alive connection): botocore's own cost per call
    would be most of what a throughput benchmark measures on 2 cores."""

    def __init__(self, endpoint: str, key: str, secret: str, region: str, *, service: str, target_prefix: str) -> None:
        parts = urlsplit(endpoint)
        self.host = parts.netloc
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.key, self.secret, self.region = key, secret, region
        self.service, self.target_prefix = service, target_prefix
        self._signing_day = ""
        self._signing_key = b""

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params).encode()
        amz_date = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        if day != self._signing_day:
            key = hmac.digest(("AWS4" + self.secret).encode(), day.encode(), "sha256")
            for part in (self.region, self.service, "aws4_request"):
                key = hmac.digest(key, part.encode(), "sha256")
            self._signing_day, self._signing_key = day, key
        target = f"{self.target_prefix}.{operation}"
        canonical = (f"POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:{self.host}\n"
                     f"x-amz-date:{amz_date}\nx-amz-target:{target}\n\n"
                     f"content-type;host;x-amz-date;x-amz-target\n{hashlib.sha256(body).hexdigest()}")
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.digest(self._signing_key, to_sign.encode(), "sha256").hex()
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Date": amz_date, "X-Amz-Target": target,
                   "Authorization": f"AWS4-HMAC-SHA256 Credential={self.key}/{scope}, "
                                    f"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={signature}"}
        self.connection.request("POST", "/", body, headers)
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{operation}: {response.status} {data[:300]!r}")
        return json.loads(data) if data.strip() else {}
