"""Shared helpers for the benchmarks: servers to compare against, and latency statistics."""

from __future__ import annotations

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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


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
