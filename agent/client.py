"""The agent's side of the controller RPC: small JSON calls over HTTP with a bearer token.

Every call an agent makes to the controller goes through this module (``ControllerClient`` for the
agent-wide calls, ``HostLink`` for a host's report and file routes), so the path prefix, the credential
header and the error handling are written once."""

from __future__ import annotations

import http.client
import json
import os
import shutil
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urlsplit

from agent.contract.codec import Message, from_json, to_json
from agent.contract.desired import DesiredState
from agent.contract.hosts import Heartbeat, HostRegistration
from agent.contract.probes import ProbeResult
from agent.contract.reports import BatchReport, ProbesReport
from agent.contract.version import API_VERSION


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

    def report_batch(self, host_id: str, attempts: list[dict[str, Any]]) -> dict[str, Any]:
        """Batch job attempts' transitions and new log lines; the answer names the attempts whose end the
        controller has recorded (their containers may go)."""
        return self._call("POST", f"/hosts/{host_id}/batch", to_json(from_json(BatchReport, {"attempts": attempts})))

    def batch_credentials(self, host_id: str, job_id: str, attempt: int) -> dict[str, Any] | None:
        """A fresh session of the job role of an attempt placed on this host (None when it has none)."""
        try:
            return self._call("GET", f"/hosts/{host_id}/batch/credentials?"
                                     f"{urlencode({'job': job_id, 'attempt': attempt})}")
        except ControllerError as exc:
            if exc.status in (403, 404):
                return None
            raise

    def batch_secrets(self, host_id: str, job_id: str, attempt: int) -> dict[str, Any]:
        """The secrets of an attempt placed on this host, read for it now: ``{"values": {name: value}}``, or
        ``{"reason": "..."}`` when the attempt must fail before it starts; 404 when it is not placed here."""
        return self._call("POST", f"/hosts/{host_id}/batch/secrets", {"job_id": job_id, "attempt": attempt})

    def report_probes(self, host_id: str, results: list[ProbeResult]) -> dict[str, Any]:
        """Reachability Analyzer probes' outcomes; the answer names the probes the controller recorded."""
        return self._call("POST", f"/hosts/{host_id}/probes", to_json(ProbesReport(results)))

    def api_tls(self) -> dict[str, str]:
        """The API relay's TLS material: ``certificate_chain``, ``private_key`` (PEM) and ``ca``."""
        return self._call("GET", "/api-tls")

    def download_code(self, sha256_hex: str, target: Path) -> None:
        """A Lambda package, layer or image archive the controller stores under ``sha256_hex`` into ``target``."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=max(self.timeout, 60.0))
        try:
            conn.request("GET", f"/_cloudlet/agent/{API_VERSION}/functions/code/{sha256_hex}",
                         headers={"Authorization": f"Bearer {self.token}"})
            response = conn.getresponse()
            if response.status != 200:
                raise ControllerError(f"code {sha256_hex}: HTTP {response.status} {response.read()[:200]!r}",
                                      response.status)
            with target.open("wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
        finally:
            conn.close()

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


class HostLink:
    """Calls under one host's agent-RPC routes (``/hosts/<id>/...``) with the agent's bearer token: JSON
    reports and file streams both ways; the compute and storage agents share it. Failures raise OSError
    naming the call."""

    def __init__(self, host: str, port: int, token: str, host_id: str, timeout: float) -> None:
        self.host, self.port, self.token, self.host_id, self.timeout = host, port, token, host_id, timeout

    def _request(self, method: str, path: str, body: bytes | IO[bytes] | None, headers: dict[str, str]
                 ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        conn.request(method, f"/_cloudlet/agent/{API_VERSION}/hosts/{self.host_id}{path}", body=body,
                     headers={"Authorization": f"Bearer {self.token}", **headers})
        return conn, conn.getresponse()

    def _post_json(self, path: str, document: dict[str, Any], what: str) -> dict[str, Any]:
        """POST ``document``; the JSON answer ({} when empty)."""
        conn, response = self._request("POST", path, json.dumps(document).encode(),
                                       {"Content-Type": "application/json"})
        try:
            payload = response.read()
            if response.status >= 300:
                raise OSError(f"{what} refused: HTTP {response.status} {payload[:200]!r}")
            return json.loads(payload or b"{}")
        finally:
            conn.close()

    def _post_message(self, path: str, cls: type[Message], document: dict[str, Any], what: str) -> dict[str, Any]:
        """POST ``document`` as the contract message ``cls``: checked here as the controller will read it (a
        ContractError is this agent's bug, not the controller's), and stamped with this contract version."""
        return self._post_json(path, to_json(from_json(cls, document)), what)

    def _download(self, path: str, target: Path, what: str) -> None:
        """GET a file into ``target`` (written next to it first, then renamed, so no half file is seen)."""
        conn, response = self._request("GET", path, None, {})
        try:
            if response.status != 200:
                raise OSError(f"cannot download {what}: HTTP {response.status} {response.read()[:200]!r}")
            partial = target.with_name(f".{target.name}.part")
            with partial.open("wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
            os.replace(partial, target)
        finally:
            conn.close()

    def _upload(self, path: str, source: Path, what: str, headers: dict[str, str] | None = None) -> int:
        """PUT ``source`` streamed from its file (with ``headers`` besides the usual); returns its size in bytes."""
        size = source.stat().st_size
        with source.open("rb") as body:
            conn, response = self._request("PUT", path, body, {"Content-Type": "application/octet-stream",
                                                               "Content-Length": str(size), **(headers or {})})
        try:
            payload = response.read()
            if response.status >= 300:
                raise OSError(f"upload of {what} refused: HTTP {response.status} {payload[:200]!r}")
        finally:
            conn.close()
        return size
