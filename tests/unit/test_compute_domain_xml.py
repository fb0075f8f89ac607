"""Domain XML from instance specs, and back (pure: no libvirt)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent.compute.domain_xml import (
    NAMESPACE_URI,
    InstancePaths,
    disk_xml,
    domain_xml,
    next_target_dev,
    parse_domain_xml,
    target_dev,
)
from agent.compute.spec import (
    Accelerator,
    BootMode,
    BootSpec,
    InstanceSpec,
    NicSpec,
    RootDiskSpec,
    VolumeSpec,
)
from agent.contract.naming import domain_uuid

INSTANCE = "i-0123456789abcdef0"
OWNER = "0123456789ab"
PATHS = InstancePaths.under(Path("/var/lib/cloudlet/agent/instances"), INSTANCE)
DIRECT = BootSpec(BootMode.DIRECT_KERNEL, Path("/cache/ami-1/kernel"), Path("/cache/ami-1/initrd"),
                  "console=ttyS0 root=/dev/vda rw")


def spec(**changes: object) -> InstanceSpec:
    fields: dict[str, object] = dict(
        instance_id=INSTANCE, vcpus=2, memory_mib=512, boot=DIRECT,
        root_disk=RootDiskSpec(Path("/cache/ami-1/root.qcow2"), 2**30, "vol-00000000000000001"),
        nics=(NicSpec(0, "02:aa:bb:cc:dd:ee", "eni-0000000000000000a"),
              NicSpec(1, "02:aa:bb:cc:dd:ef", "eni-0000000000000000b")),
        volumes=(VolumeSpec("vol-00000000000000002", Path("/volumes/v2.qcow2")),),
        image_id="ami-1", instance_type="t3.small")
    fields.update(changes)
    return InstanceSpec(**fields)  # type: ignore[arg-type]


def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml)


def test_domain_type_follows_the_accelerator() -> None:
    assert parse(domain_xml(spec(), Accelerator.TCG, PATHS, OWNER)).get("type") == "qemu"
    kvm = parse(domain_xml(spec(), Accelerator.KVM, PATHS, OWNER))
    assert kvm.get("type") == "kvm"
    assert kvm.find("cpu").get("mode") == "host-passthrough"
    assert parse(domain_xml(spec(), Accelerator.TCG, PATHS, OWNER)).find("cpu") is None


def test_identity_size_and_metadata() -> None:
    root = parse(domain_xml(spec(), Accelerator.TCG, PATHS, OWNER))
    assert root.findtext("name") == INSTANCE
    assert root.findtext("uuid") == domain_uuid(INSTANCE)
    assert root.findtext("vcpu") == "2"
    assert (root.find("memory").text, root.find("memory").get("unit")) == ("512", "MiB")
    owner = root.find(f"metadata/{{{NAMESPACE_URI}}}instance")
    assert owner is not None
    assert owner.attrib == {"id": INSTANCE, "owner": OWNER, "image": "ami-1", "type": "t3.small"}


def test_direct_kernel_boot_and_disk_boot() -> None:
    os_element = parse(domain_xml(spec(), Accelerator.TCG, PATHS, OWNER)).find("os")
    assert os_element.findtext("kernel") == "/cache/ami-1/kernel"
    assert os_element.findtext("initrd") == "/cache/ami-1/initrd"
    assert os_element.findtext("cmdline") == "console=ttyS0 root=/dev/vda rw"
    assert os_element.find("boot") is None

    disk_boot = parse(domain_xml(spec(boot=BootSpec(BootMode.DISK)), Accelerator.TCG, PATHS, OWNER)).find("os")
    assert disk_boot.find("kernel") is None
    assert disk_boot.find("boot").get("dev") == "hd"


def test_acpi_is_always_on() -> None:
    """Without <acpi/> libvirt passes -no-acpi: no graceful stop, no PCI hot-plug."""
    assert parse(domain_xml(spec(), Accelerator.TCG, PATHS, OWNER)).find("features/acpi") is not None


def test_root_overlay_and_volumes_carry_serials_and_aliases() -> None:
    disks = parse(domain_xml(spec(), Accelerator.TCG, PATHS, OWNER)).findall("devices/disk")
    assert [d.find("source").get("file") for d in disks] == [str(PATHS.root_disk), "/volumes/v2.qcow2"]
    assert [d.find("target").get("dev") for d in disks] == ["vda", "vdb"]
    assert [d.findtext("serial") for d in disks] == ["vol00000000000000001", "vol00000000000000002"]
    assert [d.find("alias").get("name") for d in disks] == ["ua-vol00000000000000001", "ua-vol00000000000000002"]
    assert all(d.find("target").get("bus") == "virtio" and d.find("driver").get("type") == "qcow2" for d in disks)


def test_interfaces_are_unmanaged_taps_named_by_convention() -> None:
    interfaces = parse(domain_xml(spec(), Accelerator.TCG, PATHS, OWNER)).findall("devices/interface")
    assert [i.get("type") for i in interfaces] == ["ethernet", "ethernet"]
    assert [i.find("target").get("dev") for i in interfaces] == ["cl-t0123456700", "cl-t0123456701"]
    assert all(i.find("target").get("managed") == "no" for i in interfaces)
    assert [i.find("mac").get("address") for i in interfaces] == ["02:aa:bb:cc:dd:ee", "02:aa:bb:cc:dd:ef"]
    assert all(i.find("model").get("type") == "virtio" for i in interfaces)


def test_console_log_rng_and_no_extra_devices() -> None:
    devices = parse(domain_xml(spec(), Accelerator.TCG, PATHS, OWNER)).find("devices")
    assert devices.find("serial/log").get("file") == str(PATHS.console_log)
    assert devices.find("console/target").get("type") == "serial"
    assert devices.find("rng").get("model") == "virtio"
    assert devices.find("rng/backend").text == "/dev/urandom"
    assert devices.find("controller[@type='usb']").get("model") == "none"
    assert devices.find("memballoon").get("model") == "none"


def test_target_names() -> None:
    assert [target_dev(i) for i in (0, 1, 25, 26, 27)] == ["vda", "vdb", "vdz", "vdaa", "vdab"]
    assert next_target_dev({"vda", "vdb", "vdd"}) == "vdc"
    assert next_target_dev(set()) == "vda"


def test_hotplug_disk_element() -> None:
    element = ET.fromstring(disk_xml(VolumeSpec("vol-0000000000000000c", Path("/v/c.raw"), format="raw",
                                                read_only=True), "vdc"))
    assert element.tag == "disk"
    assert element.find("driver").get("type") == "raw"
    assert element.find("readonly") is not None
    assert element.findtext("serial") == "vol0000000000000000c"


def test_parse_round_trip() -> None:
    description = parse_domain_xml(domain_xml(spec(), Accelerator.TCG, PATHS, OWNER))
    assert description.name == INSTANCE
    assert description.owner == OWNER
    assert (description.vcpus, description.memory_mib) == (2, 512)
    assert description.taps == ("cl-t0123456700", "cl-t0123456701")
    assert [i.mac for i in description.interfaces] == ["02:aa:bb:cc:dd:ee", "02:aa:bb:cc:dd:ef"]
    assert description.nics == spec().nics  # ENI ids survive in the metadata for power_on's re-plug
    disk = description.disk_by_serial("vol00000000000000002")
    assert disk is not None and disk.target == "vdb" and disk.alias == "ua-vol00000000000000002"
    assert ET.fromstring(disk.xml).tag == "disk"
    assert description.disk_by_serial("vol-nope") is None


def test_parse_libvirt_dump_in_kib_and_foreign_domains() -> None:
    dumped = """<domain type='qemu'><name>someone-elses-vm</name><memory unit='KiB'>262144</memory>
      <vcpu placement='static'>1</vcpu><devices><disk type='file'><target dev='vda'/></disk></devices></domain>"""
    description = parse_domain_xml(dumped)
    assert description.owner == ""
    assert description.memory_mib == 256
    assert description.disks == ()


@pytest.mark.parametrize("changes, message", [
    ({"instance_id": "i-xyz"}, "instance id"),
    ({"vcpus": 0}, "vCPU"),
    ({"memory_mib": 32}, "memory"),
    ({"nics": (NicSpec(0, "02:00:00:00:00:01", "eni-a"), NicSpec(0, "02:00:00:00:00:02", "eni-b"))}, "device index"),
    ({"volumes": (VolumeSpec("vol-00000000000000001", Path("/x")),)}, "attached twice"),
])
def test_spec_validation(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**changes)


def test_part_validation() -> None:
    with pytest.raises(ValueError, match="MAC"):
        NicSpec(0, "02:AA:BB:CC:DD:EE", "eni-a")
    with pytest.raises(ValueError, match="volume id"):
        VolumeSpec("vol-x", Path("/x"))
    with pytest.raises(ValueError, match="format"):
        VolumeSpec("vol-00000000000000001", Path("/x"), format="vmdk")
    with pytest.raises(ValueError, match="kernel"):
        BootSpec(BootMode.DIRECT_KERNEL)
