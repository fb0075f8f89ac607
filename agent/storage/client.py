"""The storage agent's calls on the agent RPC (contract C): the volumes report and snapshot images.

- ``POST /hosts/<id>/volumes``: ``{"complete": true, "volumes": {...}, "snapshots": {...}}``;
- ``PUT /hosts/<id>/snapshots/<snap id>``: a snapshot's standalone qcow2, streamed from its file;
- ``GET /hosts/<id>/snapshots/<snap id>``: the same image back, for a volume restored from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.client import HostLink
from agent.contract.reports import VolumesReport


class StorageLink(HostLink):
    """HTTP calls with the agent's bearer token; failures raise OSError naming the call."""

    def __init__(self, host: str, port: int, token: str, host_id: str, timeout: float = 60.0) -> None:
        super().__init__(host, port, token, host_id, timeout)

    def report(self, report: dict[str, Any]) -> None:
        self._post_message("/volumes", VolumesReport, report, "volume report")

    def download_snapshot(self, snapshot_id: str, target: Path) -> None:
        """The snapshot's image into ``target`` (written next to it first, then renamed)."""
        self._download(f"/snapshots/{snapshot_id}", target, snapshot_id)

    def upload_snapshot(self, snapshot_id: str, image: Path) -> int:
        """Stream a snapshot's image to the controller; returns its size in bytes."""
        return self._upload(f"/snapshots/{snapshot_id}", image, snapshot_id)
