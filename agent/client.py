"""The agent's side of the controller RPC: small JSON calls over HTTP with a bearer token."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from agent.wire import API_VERSION, DesiredState, Heartbeat, HostRegistration, from_json, to_json


class ControllerError(OSError):
    """The controller answered, but not with success; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


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
            if exc.status == 404:
                return False
            raise
        return True

    def desired(self, host_id: str, generation: int, digest: str, wait: float) -> DesiredState:
        """The host's desired document, waiting up to ``wait`` seconds while it is still ``generation``
        (``changed`` False when ``digest`` is still current). ControllerError 404: register again."""
        query = urlencode({"generation": generation, "digest": digest, "wait": f"{wait:g}"})
        data = self._call("GET", f"/hosts/{host_id}/desired?{query}", timeout=self.timeout + wait)
        return from_json(DesiredState, data)

    def release(self, host_id: str) -> None:
        """Ask the controller to answer this host's pending long-polls now (the agent is stopping)."""
        self._call("POST", f"/hosts/{host_id}/release", {})

    def metadata(self, host_id: str, eni_id: str) -> dict[str, Any] | None:
        """The instance metadata of the interface ``eni_id`` (None when the controller has none)."""
        try:
            return self._call("GET", f"/hosts/{host_id}/metadata?{urlencode({'eni': eni_id})}")
        except ControllerError as exc:
            if exc.status == 404:
                return None
            raise

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              timeout: float | None = None) -> dict[str, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        try:
            conn.request(method, f"/_cloudlet/agent/{API_VERSION}{path}",
                         body=json.dumps(body) if body is not None else None,
                         headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            if response.status >= 300:
                raise ControllerError(f"{method} {path}: HTTP {response.status} {payload[:200]!r}", response.status)
            return json.loads(payload) if payload else {}
        finally:
            conn.close()
