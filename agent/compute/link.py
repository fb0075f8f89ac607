"""The compute agent's calls on the agent RPC: instance reports, AMI file downloads, CreateImage uploads, and
stopped instances' disks moving between hosts (the routes of ``controller.hosts.instance_reports``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.client import HostLink
from agent.contract.instances import DISK_SHA256_HEADER
from agent.contract.reports import InstancesReport, MetricsReport


class ControllerLink(HostLink):
    """The compute agent's calls on the agent RPC (JSON reports, file downloads and uploads)."""

    def __init__(self, host: str, port: int, token: str, host_id: str, timeout: float = 30.0) -> None:
        super().__init__(host, port, token, host_id, timeout)

    def report(self, report: dict[str, Any]) -> dict[str, Any]:
        return self._post_message("/instances", InstancesReport, report, "instance report")

    def report_metrics(self, report: dict[str, Any]) -> dict[str, Any]:
        """The running instances' CloudWatch metrics (``agent.compute.metrics``)."""
        return self._post_message("/metrics", MetricsReport, report, "instance metrics")

    def download(self, image_id: str, role: str, target: Path) -> None:
        self._download(f"/images/{image_id}/{role}", target, f"{role} of {image_id}")

    def upload_capture(self, image_id: str, path: Path) -> None:
        self._upload(f"/images/{image_id}/root_disk", path, image_id)

    def upload_instance_disk(self, instance_id: str, path: Path, sha256: str) -> int:
        """A stopped instance's root overlay, leaving this host (``send_disk``); its size in bytes."""
        return self._upload(f"/instance-disks/{instance_id}", path, f"the disk of {instance_id}",
                            {DISK_SHA256_HEADER: sha256})

    def download_instance_disk(self, instance_id: str, target: Path) -> None:
        """A stopped instance's root overlay, staged on the controller for this host (``disk_from``)."""
        self._download(f"/instance-disks/{instance_id}", target, f"the disk of {instance_id}")
