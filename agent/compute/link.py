"""The compute agent's calls on the agent RPC: instance reports, AMI file downloads, CreateImage uploads
(the routes of ``controller.hosts.instance_reports``)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
from pathlib import Path
from typing import IO, Any

from agent.wire import API_VERSION


class ControllerLink:
    """The compute agent's calls on the agent RPC (JSON reports, file downloads and uploads)."""

    def __init__(self, host: str, port: int, token: str, host_id: str, timeout: float = 30.0) -> None:
        self.host, self.port, self.token, self.host_id, self.timeout = host, port, token, host_id, timeout

    def _connect(self, method: str, path: str, body: bytes | IO[bytes] | None, headers: dict[str, str]
                 ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        conn.request(method, f"/_cloudlet/agent/{API_VERSION}/hosts/{self.host_id}{path}", body=body,
                     headers={"Authorization": f"Bearer {self.token}", **headers})
        return conn, conn.getresponse()

    def report(self, report: dict[str, Any]) -> dict[str, Any]:
        conn, response = self._connect("POST", "/instances", json.dumps(report).encode(),
                                       {"Content-Type": "application/json"})
        try:
            payload = response.read()
            if response.status >= 300:
                raise OSError(f"instance report refused: HTTP {response.status} {payload[:200]!r}")
            return json.loads(payload or b"{}")
        finally:
            conn.close()

    def download(self, image_id: str, role: str, target: Path) -> None:
        conn, response = self._connect("GET", f"/images/{image_id}/{role}", None, {})
        try:
            if response.status != 200:
                raise OSError(f"cannot download {role} of {image_id}: HTTP {response.status}")
            partial = target.with_name(f".{target.name}.part")
            with partial.open("wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
            os.replace(partial, target)
        finally:
            conn.close()

    def upload_capture(self, image_id: str, path: Path) -> None:
        with path.open("rb") as body:
            conn, response = self._connect("PUT", f"/images/{image_id}/root_disk", body,
                                           {"Content-Type": "application/octet-stream",
                                            "Content-Length": str(path.stat().st_size)})
        try:
            payload = response.read()
            if response.status >= 300:
                raise OSError(f"upload of {image_id} refused: HTTP {response.status} {payload[:200]!r}")
        finally:
            conn.close()
