"""EBS attachments on the compute side without VMs: the disk XML of a capped, encrypted volume (pure), and
the instances reconciler converging attachments on the in-memory driver and reporting them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from agent.compute.domain_xml import backup_disk_xml, disk_xml, parse_domain_xml
from agent.compute.memory import InMemoryComputeDriver
from agent.compute.service import InstancesReconciler
from agent.compute.spec import IoTune, VolumeSpec
from agent.compute.vpc_plug import VpcPlugger
from agent.contract.naming import volume_of_serial, volume_secret_uuid, volume_serial

VOLUME = "vol-0123456789abcdef0"
SECRET = "0c8e3f7a-51d2-4b6e-8f0a-2d9c4e6b7a13"


def test_a_capped_encrypted_volume_disk_carries_iotune_and_its_secret() -> None:
    xml = disk_xml(VolumeSpec(VOLUME, Path("/pool/v.qcow2"), iotune=IoTune(3000, 125 << 20), secret_uuid=SECRET),
                   "vdc")
    disk = ET.fromstring(xml)
    assert disk.findtext("iotune/total_iops_sec") == "3000"
    assert disk.findtext("iotune/total_bytes_sec") == str(125 << 20)
    secret = disk.find("source/encryption[@format='luks']/secret")
    assert secret is not None and secret.get("uuid") == SECRET and secret.get("type") == "passphrase"
    described = parse_domain_xml(f"<domain><name>i-1</name><devices>{xml}</devices></domain>").disks[0]
    assert described.iotune == IoTune(3000, 125 << 20) and described.serial == volume_serial(VOLUME)


def test_an_uncapped_plain_volume_has_neither() -> None:
    disk = ET.fromstring(disk_xml(VolumeSpec(VOLUME, Path("/pool/v.qcow2")), "vdb"))
    assert disk.find("iotune") is None and disk.find("source/encryption") is None
    assert parse_domain_xml(f"<domain><devices>{ET.tostring(disk, encoding='unicode')}</devices></domain>"
                            ).disks[0].iotune == IoTune()


def test_a_live_copy_of_an_encrypted_volume_is_encrypted_with_the_same_secret() -> None:
    element = ET.fromstring(backup_disk_xml("vdc", Path("/pool/.snapshots/snap.qcow2"), SECRET))
    assert element.get("name") == "vdc" and element.find("driver").get("type") == "qcow2"
    assert element.find("target/encryption/secret").get("uuid") == SECRET
    assert ET.fromstring(backup_disk_xml("vdb", Path("/c.qcow2"), None)).find("target/encryption") is None


def test_serials_and_secret_uuids_name_volumes() -> None:
    assert volume_of_serial(volume_serial(VOLUME)) == VOLUME
    assert volume_of_serial("ephemeral0") is None
    assert volume_secret_uuid(Path("/pool/a.qcow2")) == volume_secret_uuid(Path("/pool/a.qcow2"))
    assert volume_secret_uuid(Path("/pool/a.qcow2")) != volume_secret_uuid(Path("/pool/b.qcow2"))


class RecordingLink:
    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    def report(self, report: dict[str, Any]) -> dict[str, Any]:
        self.reports.append(report)
        return {}


def instance(instance_id: str, volumes: list[dict[str, Any]], state: str = "running") -> dict[str, Any]:
    return {"instance_id": instance_id, "state": state, "vcpus": 1, "memory_mib": 256, "instance_type": "t3.micro",
            "image_id": "ami-1", "root_disk": {"volume_id": "vol-0000000000000000" + instance_id[-1],
                                               "size_bytes": 1 << 30, "delete_on_termination": True},
            "instance_store": [], "nics": [], "volumes": volumes}


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Any]:
    """An AMI view whose files are on this host (the reconciler caches them)."""
    from tests.unit.harness import fake_qcow2

    (tmp_path / "ami").mkdir()
    fake_qcow2(tmp_path / "ami" / "root.qcow2")
    import hashlib

    digest = hashlib.sha256((tmp_path / "ami" / "root.qcow2").read_bytes()).hexdigest()
    return {"ami-1": {"image_id": "ami-1", "boot_mode": "disk", "files": {
        "root_disk": {"path": str(tmp_path / "ami" / "root.qcow2"), "file": "root.qcow2", "sha256": digest,
                      "virtual_size": 1 << 30}}}}


def test_the_reconciler_attaches_moves_retunes_and_reports_volumes(tmp_path: Path, images: dict[str, Any]) -> None:
    driver = InMemoryComputeDriver()
    link = RecordingLink()
    reconciler = InstancesReconciler(lambda: driver, VpcPlugger("cl-test-", "cloudlet:test:"), tmp_path / "compute",
                                     link, watch_interval=3600)  # type: ignore[arg-type]
    try:
        pool = tmp_path / "compute" / "volumes"
        pool.mkdir(parents=True)
        (pool / f"{VOLUME}.qcow2").write_bytes(b"QFI\xfb")
        first, second = "i-0000000000000000a", "i-0000000000000000b"
        gp3 = {"volume_id": VOLUME, "device_name": "/dev/sdf", "iops": 3000, "throughput_mibps": 125,
               "encryption_key": "a2V5"}
        reconciler.reconcile({"instances": [instance(first, [gp3]), instance(second, [])], "images": images})
        attached = {v.volume_id: v for v in driver.attached_volumes(first)}
        assert attached[VOLUME].iotune == IoTune(3000, 125 << 20)
        assert driver.secrets == {str(pool / f"{VOLUME}.qcow2"): "a2V5"}
        assert link.reports[-1]["volumes"] == {first: [VOLUME], second: []}

        capped = {**gp3, "iops": 500, "throughput_mibps": None}
        reconciler.reconcile({"instances": [instance(first, []), instance(second, [capped])], "images": images})
        assert VOLUME not in {v.volume_id for v in driver.attached_volumes(first)}
        moved = {v.volume_id: v for v in driver.attached_volumes(second)}
        assert moved[VOLUME].iotune == IoTune(500, None)
        assert link.reports[-1]["volumes"] == {first: [], second: [VOLUME]}

        reconciler.reconcile({"instances": [instance(first, []), instance(second, [])], "images": images})
        assert link.reports[-1]["volumes"] == {first: [], second: []}
        assert driver.secrets == {}  # no instance here wants the encrypted volume any more
    finally:
        reconciler.close()
