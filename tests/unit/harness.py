"""Calling service operations as plain functions against a real :class:`Cloud` in a temporary directory.

One harness for every in-process service test. Each harness wraps a real Cloud (the composition root
the server runs, with every per-cloud slot, cache and runtime), so a test sees what a request would see;
:meth:`CloudHarness.call` runs an operation as an account's root (or any principal) exactly as the
gateway would after authorization, and :meth:`CloudHarness.refused` asserts the service's error.

The per-service conveniences sit in small subclasses: :class:`VpcCloud` (VPC operations, a stand-in
for RunInstances' primary interface, :func:`snapshot`), :class:`InstanceCloud` (fake agent hosts, a
built-in AMI made of a hand-written qcow2 header, agent reports) and :class:`S3Harness` (bodies as
bytes, ``put``/``read``). :class:`Clouds` makes them for one test and closes every Cloud after it (the
``clouds`` fixture in ``tests/unit/conftest.py``).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest

from agent.compute.link import ControllerLink
from agent.contract.hosts import HostRegistration
from controller.api import Principal, RequestContext
from controller.cloud import Cloud
from controller.config import Config
from controller.ec2.instances import actions, images
from controller.ec2.instances.lifecycle import Observation
from controller.ec2.vpc import eni_records, state
from controller.errors import ServiceError
from controller.hosts import state as hosts_state
from controller.state import Database

#: The accounts VPC tests act as: plain ids, since VPC handlers never look an account up.
ACCOUNT = "111111111111"
OTHER_ACCOUNT = "222222222222"
GIB = 1 << 30


def root(account: str) -> Principal:
    """The root user of ``account``, as the gateway authenticates it."""
    return Principal(account_id=account, arn=f"arn:aws:iam::{account}:root", kind="root", user_id=account)


class CloudHarness:
    """A real Cloud whose ``service`` operations a test calls directly, as ``account``'s root by default."""

    service: ClassVar[str]
    request_id: ClassVar[str] = "test"
    host: ClassVar[str] = ""

    def __init__(self, cloud: Cloud, account: str) -> None:
        self.cloud = cloud
        self.account = account
        self.closed = False

    @property
    def db(self) -> Database:
        return self.cloud.db

    @property
    def config(self) -> Config:
        return self.cloud.config

    def context(self, operation: str, principal: Principal | None = None) -> RequestContext:
        return RequestContext(cloud=self.cloud, service=self.service, operation=operation,
                              request_id=self.request_id, region=self.cloud.config.region,
                              principal=principal or root(self.account), host=self.host)

    def call(self, operation: str, params: dict[str, Any] | None = None, *, account: str | None = None,
             principal: Principal | None = None) -> dict[str, Any]:
        ctx = self.context(operation, principal or (root(account) if account else None))
        return self.cloud.services[self.service].operations[operation].handler(ctx, self.prepare(params or {}))

    def prepare(self, params: dict[str, Any]) -> dict[str, Any]:
        """The input as the protocol layer hands it over (S3 turns bodies into streams)."""
        return params

    def refused(self, operation: str, params: dict[str, Any], code: str, **kwargs: Any) -> ServiceError:
        """Call an operation that must fail with ``code``; returns the error for more checks."""
        with pytest.raises(ServiceError) as excinfo:
            self.call(operation, params, **kwargs)
        assert excinfo.value.code == code, f"{excinfo.value.code}: {excinfo.value.message}"
        return excinfo.value

    def close(self) -> None:
        """Stop the Cloud (every service's stop hook, then its stores); a second close does nothing."""
        if not self.closed:
            self.closed = True
            self.cloud.close()


class VpcCloud(CloudHarness):
    """VPC operations as plain account ids (no accounts are made: VPC handlers never look one up)."""

    service = "ec2"

    def launch(self, subnet_id: str, instance_id: str, *, account: str = ACCOUNT, **options: Any) -> str:
        """Stand in for RunInstances: the instance's primary interface, as the instance code makes it."""
        with state.write(self.db) as conn:
            return eni_records.create_primary_interface(conn, self.config, account, subnet_id=subnet_id,
                                                       instance_id=instance_id, **options)


SNAPSHOT_CALLS = ("DescribeVpcs", "DescribeSubnets", "DescribeRouteTables", "DescribeInternetGateways",
                  "DescribeEgressOnlyInternetGateways", "DescribeNatGateways", "DescribeAddresses",
                  "DescribeSecurityGroups", "DescribeNetworkAcls", "DescribeNetworkInterfaces",
                  "DescribeVpcPeeringConnections", "DescribeTags")


def snapshot(cloud: CloudHarness, account: str = ACCOUNT) -> dict[str, Any]:
    """Everything the account can see in its VPCs, to show that a refused call changed nothing."""
    return {operation: cloud.call(operation, account=account) for operation in SNAPSHOT_CALLS}


def fake_qcow2(path: Path, virtual_size: int = GIB) -> None:
    """A file with a qcow2 header (magic, version 3, no backing file, ``virtual_size``) and some payload."""
    header = b"QFI\xfb" + (3).to_bytes(4, "big") + bytes(16) + virtual_size.to_bytes(8, "big")
    path.write_bytes(header + bytes(4096 - len(header)))


def write_manifest(directory: Path, name: str = "cloudlet-tiny") -> Path:
    """A built image (the controller only reads the qcow2 header and copies bytes, so no QEMU is needed)."""
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


class InstanceCloud(CloudHarness):
    """EC2 instances as a member account, with fake agent hosts registered as they would register themselves."""

    service = "ec2"

    def __init__(self, cloud: Cloud, management: str, account: str) -> None:
        super().__init__(cloud, account)
        self.management = management
        self.hosts: list[str] = []

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
        return actions.apply_report(self.cloud, host_id, observations, complete=complete,
                                             consoles=extra.get("consoles"), reboots=extra.get("reboots"))


def agent_link(ic: InstanceCloud, port: int, host_id: str, token: str | None = None) -> ControllerLink:
    """A compute agent's RPC client for ``host_id`` against ``ic``'s controller listening on ``port``."""
    return ControllerLink("127.0.0.1", port, token or ic.cloud.agent_token, host_id)


class S3Harness(CloudHarness):
    """S3 as the management account ``owner``; ``other_account`` is a second account of the same cloud."""

    service = "s3"
    request_id = "req-test"
    host = "127.0.0.1:8773"

    def __init__(self, cloud: Cloud, account: str, other_account: str) -> None:
        super().__init__(cloud, account)
        self.other_account = other_account

    def prepare(self, params: dict[str, Any]) -> dict[str, Any]:
        if isinstance(params.get("Body"), bytes):
            return {**params, "Body": io.BytesIO(params["Body"])}
        return params

    def read(self, bucket: str, key: str, **params: Any) -> bytes:
        output = self.call("GetObject", {"Bucket": bucket, "Key": key, **params})
        return b"".join(output["Body"])

    def put(self, bucket: str, key: str, body: bytes, **params: Any) -> dict[str, Any]:
        return self.call("PutObject", {"Bucket": bucket, "Key": key, "Body": body, **params})


class IamCloud(CloudHarness):
    """IAM as the management account ``owner`` (email ``owner@example.com``), a real account of the cloud."""

    service = "iam"


class CloudProcess(CloudHarness):
    """One process of a cloud served by several: its Cloud, calling any service's operations."""

    service = "iam"

    def on(self, service: str, operation: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.service = service
        return self.call(operation, params)


H = TypeVar("H", bound=CloudHarness)


class Clouds:
    """Makes harnesses for one test, each on a real Cloud in its own data dir, and closes them all after it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.made: list[CloudHarness] = []

    def _data_dir(self) -> Path:
        return self.tmp_path / ("data" if not self.made else f"data-{len(self.made) + 1}")

    def _keep(self, harness: H) -> H:
        self.made.append(harness)
        return harness

    def vpc(self, **settings: Any) -> VpcCloud:
        """A cloud for VPC operations as :data:`ACCOUNT` (or :data:`OTHER_ACCOUNT`)."""
        return self._keep(VpcCloud(Cloud(Config(data_dir=self._data_dir(), **settings)), ACCOUNT))

    def instances(self, **settings: Any) -> InstanceCloud:
        """A cloud with a management and a member account and a built-in tiny AMI; no hosts yet."""
        images_dir = self.tmp_path / "built-images"
        write_manifest(images_dir / "tiny")
        cloud = Cloud(Config(data_dir=self._data_dir(), builtin_images_dir=str(images_dir), **settings))
        management = cloud.credentials.create_account("cloudlet", "root@cloudlet.local", is_management=True)
        account = cloud.credentials.create_account("member", "member@cloudlet.local")
        images.register_builtin_images(cloud)  # what EC2's start hook does in `cloudlet up`
        return self._keep(InstanceCloud(cloud, management, account))

    def s3(self, *, data_dir: Path | None = None, **settings: Any) -> S3Harness:
        """A cloud with accounts ``owner`` (management) and ``other``; ``data_dir`` reopens one (a restart)."""
        cloud = Cloud(Config(data_dir=data_dir or self._data_dir(), **settings))
        account = cloud.credentials.create_account("owner", "owner@example.com", is_management=True)
        other = cloud.credentials.create_account("other", "other@example.com")
        return self._keep(S3Harness(cloud, account, other))

    def iam(self, **settings: Any) -> IamCloud:
        """A cloud for IAM operations as the management account ``owner``."""
        cloud = Cloud(Config(data_dir=self._data_dir(), **settings))
        account = cloud.credentials.create_account("owner", "owner@example.com", is_management=True)
        return self._keep(IamCloud(cloud, account))

    def primary_and_worker(self) -> tuple[CloudProcess, CloudProcess]:
        """The primary and an API worker of one cloud (``cloudlet up --workers``), both on its state bus.

        Both live in this process, so the worker's bus socket takes a name of its own (the real ones are
        named by pid); a write committed in one is heard by the other as the real processes hear it.
        """
        data_dir = self._data_dir()
        primary = Cloud(Config(data_dir=data_dir))
        account = primary.credentials.create_account("cloudlet", "root@cloudlet.local", is_management=True)
        worker = Cloud(Config(data_dir=data_dir), primary=False)
        primary.db.join_bus(data_dir / "run" / "bus")
        worker.db.join_bus(data_dir / "run" / "bus", name="worker")
        return self._keep(CloudProcess(primary, account)), self._keep(CloudProcess(worker, account))

    def close(self) -> None:
        for harness in reversed(self.made):
            harness.close()
