"""Calling the EC2 instance operations as plain functions against a real Cloud in a temporary directory.

Shared by the ``test_ec2_instances_*`` unit tests: :func:`make_cloud` builds a :class:`Cloud` (state store,
credentials, secrets) with a management account, fake agent hosts registered as they would register
themselves, and a built-in AMI made of a tiny hand-written qcow2 header (the controller only reads the
header and copies bytes, so no QEMU is needed). :meth:`InstanceCloud.call` runs an operation as an
account's root, :meth:`InstanceCloud.report` plays an agent reporting what it sees.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import controller.ec2 as ec2
from agent.wire import HostRegistration
from controller.api import Principal, RequestContext
from controller.cloud import Cloud
from controller.config import Config
from controller.ec2 import instance_actions
from controller.ec2.instance_lifecycle import Observation
from controller.errors import ServiceError
from controller.hosts import state as hosts_state

GIB = 1 << 30


def fake_qcow2(path: Path, virtual_size: int = GIB) -> None:
    """A file with a qcow2 header (magic, version 3, no backing file, ``virtual_size``) and some payload."""
    header = b"QFI\xfb" + (3).to_bytes(4, "big") + bytes(16) + virtual_size.to_bytes(8, "big")
    path.write_bytes(header + bytes(4096 - len(header)))


def write_manifest(directory: Path, name: str = "cloudlet-tiny") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    fake_qcow2(directory / "root.qcow2")
    (directory / "vmlinux").write_bytes(b"\x7fELF kernel")
    (directory / "initrd.img").write_bytes(b"070701 initrd")

    def entry(file: str) -> dict[str, Any]:
        data = (directory / file).read_bytes()
        return {"file": file, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    manifest = {"schema": "cloudlet-ami/1", "name": name, "architecture": "x86_64", "boot_mode": "direct-kernel",
                "root_disk": {**entry("root.qcow2"), "virtual_size": GIB}, "kernel": entry("vmlinux"),
                "initrd": entry("initrd.img"), "cmdline": "console=ttyS0 root=/dev/vda rw"}
    path = directory / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


@dataclass
class InstanceCloud:
    cloud: Cloud
    management: str
    account: str
    hosts: list[str] = field(default_factory=list)

    @property
    def db(self) -> Any:
        return self.cloud.db

    def call(self, operation: str, params: dict[str, Any] | None = None, *, account: str | None = None
             ) -> dict[str, Any]:
        who = account or self.account
        ctx = RequestContext(cloud=self.cloud, service="ec2", operation=operation, request_id="test",
                             region=self.cloud.config.region,
                             principal=Principal(account_id=who, arn=f"arn:aws:iam::{who}:root", kind="root",
                                                 user_id=who))
        return ec2.api.operations[operation].handler(ctx, params or {})

    def refused(self, operation: str, params: dict[str, Any], code: str, *, account: str | None = None
                ) -> ServiceError:
        with pytest.raises(ServiceError) as excinfo:
            self.call(operation, params, account=account)
        assert excinfo.value.code == code, f"{excinfo.value.code}: {excinfo.value.message}"
        return excinfo.value

    def add_host(self, host_id: str, zone: str = "home-1a", *, vcpus: int = 4, memory_mib: int = 8192,
                 hypervisor: str = "qemu") -> str:
        hosts_state.register(self.db, HostRegistration(
            host_id=host_id, hostname=host_id, zone=zone, vcpus=vcpus, memory_mib=memory_mib, disk_gib=100,
            hypervisor=hypervisor, agent_version="test"))
        self.hosts.append(host_id)
        return host_id

    def tiny_image(self) -> str:
        images = self.call("DescribeImages", {"Owners": ["amazon"]})["Images"]
        return next(i["ImageId"] for i in images if i["Name"].startswith("cloudlet-tiny"))

    def run(self, count: int = 1, **params: Any) -> list[dict[str, Any]]:
        request = {"ImageId": self.tiny_image(), "InstanceType": "t3.micro", "MinCount": count, "MaxCount": count,
                   **params}
        return self.call("RunInstances", request)["Instances"]

    def instance(self, instance_id: str) -> dict[str, Any]:
        reservations = self.call("DescribeInstances", {"InstanceIds": [instance_id]})["Reservations"]
        return reservations[0]["Instances"][0]

    def report(self, host_id: str, seen: dict[str, str], *, complete: bool = True, **extra: Any) -> list[str]:
        """An agent report: instance id -> power state (``running``, ``shutoff``, ``absent``, ``failed``)."""
        observations = {i: Observation(power, stopped_by_guest=extra.get("by_guest", False))
                        for i, power in seen.items()}
        return instance_actions.apply_report(self.cloud, host_id, observations, complete=complete,
                                             consoles=extra.get("consoles"), reboots=extra.get("reboots"))


def make_cloud(tmp_path: Path, **settings: Any) -> InstanceCloud:
    images_dir = tmp_path / "built-images"
    write_manifest(images_dir / "tiny")
    config = Config(data_dir=tmp_path / "data", builtin_images_dir=str(images_dir), **settings)
    cloud = Cloud(config)
    management = cloud.credentials.create_account("cloudlet", "root@cloudlet.local", is_management=True)
    account = cloud.credentials.create_account("member", "member@cloudlet.local")
    return InstanceCloud(cloud, management, account)


@pytest.fixture
def ic(tmp_path: Path) -> Any:
    made = make_cloud(tmp_path)
    made.add_host("h-0000000000000000a", "home-1a")
    made.add_host("h-0000000000000000b", "home-1b")
    yield made
    made.cloud.close()
