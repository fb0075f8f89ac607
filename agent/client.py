"""The agent's side of the controller RPC: small JSON calls over HTTP with a bearer token."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

from agent.wire import API_VERSION, Heartbeat, HostRegistration, to_json


class ControllerError(OSError):
    """The controller answered, but not with success."""


class ControllerClient:
    def __init__(self, endpoint: str, token: str, timeout: float = 10.0) -> None:
        parts = urlsplit(endpoint)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token = token
        self.timeout = timeout

    def register(self, registration: HostRegistration) -> None:
        self._call("POST", "/hosts", to_json(registration))

    def heartbeat(self, beat: Heartbeat) -> bool:
        """False when the controller no longer knows this host (register again)."""
        try:
            self._call("POST", f"/hosts/{beat.host_id}/heartbeat", to_json(beat))
        except ControllerError as exc:
            if "404" in str(exc):
                return False
            raise
        return True

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, f"/_cloudlet/agent/{API_VERSION}{path}",
                         body=json.dumps(body) if body is not None else None,
                         headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            if response.status >= 300:
                raise ControllerError(f"{method} {path}: HTTP {response.status} {payload[:200]!r}")
            return json.loads(payload) if payload else {}
        finally:
            conn.close()
