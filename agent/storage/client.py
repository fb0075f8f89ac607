"""The storage agent's calls on the agent RPC (contract C): the volumes report and snapshot images.

- ``POST /hosts/<id>/volumes``: ``{"complete": true, "volumes": {...}, "snapshots": {...}}``;
- ``PUT /hosts/<id>/snapshots/<snap id>``: a snapshot's standalone qcow2, streamed from its file;
- ``GET /hosts/<id>/snapshots/<snap id>``: the same image back, for a volume restored from it.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
from pathlib import Path
from typing import IO, Any

from agent.wire import API_VERSION

CHUNK = 1 << 20


class StorageLink:
    """HTTP calls with the agent's bearer token; failures raise OSError naming the call."""

    def __init__(self, host: str, port: int, token: str, host_id: str, timeout: float = 60.0) -> None:
        self.host, self.port, self.token, self.host_id, self.timeout = host, port, token, host_id, timeout

    def _request(self, method: str, path: str, body: bytes | IO[bytes] | None, headers: dict[str, str]
                 ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        conn.request(method, f"/_cloudlet/agent/{API_VERSION}/hosts/{self.host_id}{path}", body=body,
                     headers={"Authorization": f"Bearer {self.token}", **headers})
        return conn, conn.getresponse()

    def report(self, report: dict[str, Any]) -> None:
        conn, response = self._request("POST", "/volumes", json.dumps(report).encode(),
                                       {"Content-Type": "application/json"})
        try:
            payload = response.read()
            if response.status >= 300:
                raise OSError(f"volume report refused: HTTP {response.status} {payload[:200]!r}")
        finally:
            conn.close()

    def download_snapshot(self, snapshot_id: str, target: Path) -> None:
        """The snapshot's image into ``target`` (written next to it first, then renamed)."""
        conn, response = self._request("GET", f"/snapshots/{snapshot_id}", None, {})
        try:
            if response.status != 200:
                raise OSError(f"cannot download {snapshot_id}: HTTP {response.status} {response.read()[:200]!r}")
            work = target.with_name(f".{target.name}.download")
            with work.open("wb") as out:
                shutil.copyfileobj(response, out, CHUNK)
            os.replace(work, target)
        finally:
            conn.close()

    def upload_snapshot(self, snapshot_id: str, image: Path) -> int:
        """Stream a snapshot's image to the controller; returns its size in bytes."""
        size = image.stat().st_size
        with image.open("rb") as body:
            conn, response = self._request("PUT", f"/snapshots/{snapshot_id}", body,
                                           {"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        try:
            payload = response.read()
            if response.status >= 300:
                raise OSError(f"upload of {snapshot_id} refused: HTTP {response.status} {payload[:200]!r}")
        finally:
            conn.close()
        return size
