"""The hosts' function runners as the controller reaches them: which host runs a version, and the HTTP to it.

A function version sticks to the host that ran it last while that host is up, so its warm execution
environments get reused (a cold start costs the runtime's start and the handler's imports); a version seen
for the first time goes to a host picked by a stable hash of its name, spreading versions over hosts. Each
runner is reached over keep-alive HTTP/1.1 connections kept in a small pool (``http.client``), so a warm
invocation costs one request on an open socket, not a TCP handshake.
"""

from __future__ import annotations

import http.client
import json
import threading
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from agent.contract.version import TOKEN_HEADER

#: Idle connections kept per runner (more are opened under load and closed after use).
IDLE_PER_RUNNER = 8


class RunnerUnreachable(Exception):
    """The runner could not be asked: ``refused`` when nothing was sent, so another host may be tried."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


def choose_host(runners: dict[str, str], key: str, sticky: str | None) -> str:
    """The host (of ``runners``: host id -> url) a version named ``key`` runs on: its sticky host while that
    one is up, else one picked by a stable hash of ``key``."""
    if sticky in runners:
        return sticky
    hosts = sorted(runners)
    return hosts[zlib.crc32(key.encode("utf-8")) % len(hosts)]


class RunnerClient:
    """Sticky host choices and pooled connections to the runners of one cloud."""

    def __init__(self, token_for: Callable[[str], str]) -> None:
        #: A host's agent credential (the cloud-wide token, or a joined host's own), by host id.
        self._token_for = token_for
        self._lock = threading.Lock()
        self._idle: dict[str, list[http.client.HTTPConnection]] = {}
        self._sticky: dict[str, str] = {}

    def host_for(self, runners: dict[str, str], key: str) -> str:
        with self._lock:
            host = choose_host(runners, key, self._sticky.get(key))
            self._sticky[key] = host
            return host

    def forget(self, key: str) -> None:
        """Drop ``key``'s sticky host (it failed), so the next invocation picks again."""
        with self._lock:
            self._sticky.pop(key, None)

    def invoke(self, host_id: str, url: str, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """POST ``message`` to ``host_id``'s runner at ``<url>/invoke`` and return its JSON answer;
        RunnerUnreachable if none."""
        body = json.dumps(message).encode("utf-8")
        token = self._token_for(host_id)
        connection, reused = self._take(url, timeout)
        while True:
            try:
                status, data, closing = self._exchange(connection, url, body, timeout, token)
                break
            except (OSError, http.client.HTTPException) as problem:
                connection.close()
                if not (reused and isinstance(problem, ConnectionResetError | BrokenPipeError)):
                    raise RunnerUnreachable(f"the function runner at {url} did not answer: {problem!r}",
                                            refused=isinstance(problem, ConnectionRefusedError)) from None
                # A pooled socket the runner closed while it sat idle: the request never reached it.
                connection, reused = self._open(url, timeout), False
        self._give_back(url, connection, closing)
        if status != 200:
            raise RunnerUnreachable(f"the function runner at {url} answered HTTP {status}: {data[:200]!r}")
        try:
            return json.loads(data)
        except ValueError:
            raise RunnerUnreachable(f"the function runner at {url} answered something that is not JSON") from None

    def _exchange(self, connection: http.client.HTTPConnection, url: str, body: bytes,
                  timeout: float, token: str) -> tuple[int, bytes, bool]:
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        path = urlsplit(url).path.rstrip("/") + "/invoke"
        connection.request("POST", path, body, {"Content-Type": "application/json",
                                                TOKEN_HEADER: f"Bearer {token}"})
        response = connection.getresponse()
        data = response.read()
        return response.status, data, response.will_close

    def _open(self, url: str, timeout: float) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)

    def _take(self, url: str, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(url)
            if idle:
                return idle.pop(), True
        return self._open(url, timeout), False

    def _give_back(self, url: str, connection: http.client.HTTPConnection, closing: bool) -> None:
        with self._lock:
            idle = self._idle.setdefault(url, [])
            if not closing and len(idle) < IDLE_PER_RUNNER:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            pools, self._idle = self._idle, {}
        for idle in pools.values():
            for connection in idle:
                connection.close()
