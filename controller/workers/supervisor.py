"""The primary's side of the API workers: the Unix socket they relay to, starting them, restarting them.

The workers are new interpreters (``subprocess``), not forks: the primary is threaded and holds open
database connections by then, neither of which survives ``fork`` safely.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from controller.gateway import RELAY_SOURCE_IP, RELAY_TOKEN

log = logging.getLogger(__name__)

#: A worker that dies is started again after this long (so one that cannot start does not spin).
RESTART_DELAY = 1.0
#: How long a stopping worker may finish its requests before it is killed.
STOP_TIMEOUT = 10.0

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def trusting_workers(app: WsgiApp, agent_token: str) -> WsgiApp:
    """``app`` as the primary's Unix socket serves it: a request a worker relayed carries its client's
    address and scheme in headers proven by the agents' token (``relay.py``); every layer of the primary
    (Flask's pages as much as the gateway) then sees them as if the client had connected here."""
    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        token = environ.get("HTTP_" + RELAY_TOKEN.upper().replace("-", "_"), "")
        if token and hmac.compare_digest(token.encode(), agent_token.encode()):
            environ["REMOTE_ADDR"] = environ.get("HTTP_" + RELAY_SOURCE_IP.upper().replace("-", "_"), "")
            environ["wsgi.url_scheme"] = environ.get("HTTP_X_FORWARDED_PROTO", "http")
        return app(environ, start_response)

    return serve


class Supervisor:
    """Keeps ``count`` API worker processes accepting from ``listening`` until :meth:`stop`."""

    def __init__(self, data_dir: Path, listening: socket.socket, count: int, settings: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.count = count
        self._listening = listening
        self._settings = settings
        self._workers: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="api-workers", daemon=True)

    def start(self) -> None:
        self._workers = [self._spawn() for _ in range(self.count)]
        self._thread.start()

    @property
    def pids(self) -> list[int]:
        return [worker.pid for worker in self._workers]

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        for worker in self._workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for worker in self._workers:
            try:
                worker.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("API worker %d did not stop in %.0f s: killed", worker.pid, STOP_TIMEOUT)
                worker.kill()
                worker.wait()

    def _spawn(self) -> subprocess.Popen[bytes]:
        fd = self._listening.fileno()
        argv = [sys.executable, "-m", "controller.workers.process", "--data-dir", str(self.data_dir),
                "--listen-fd", str(fd), "--settings", json.dumps(self._settings), "--parent", str(os.getpid())]
        worker = subprocess.Popen(argv, pass_fds=(fd,), cwd=Path(__file__).resolve().parents[2])
        log.info("API worker %d started", worker.pid)
        return worker

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            for index, worker in enumerate(self._workers):
                code = worker.poll()
                if code is None or self._stopping.is_set():
                    continue
                log.warning("API worker %d ended (exit %s); starting another", worker.pid, code)
                if self._stopping.wait(RESTART_DELAY):
                    return
                self._workers[index] = self._spawn()
