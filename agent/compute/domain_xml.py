"""libvirt domain XML for an instance, built from an InstanceSpec (pure: no libvirt, no I/O).

Choices, and why:
- Direct kernel boot of the AMI's kernel/initrd/cmdline when it has one: no bootloader to emulate (an
  uncompressed PVH vmlinux also skips the kernel's decompressor, ~2.8 s per boot under TCG).
- ``<features><acpi/>``: without it libvirt passes -no-acpi, and neither graceful shutdown (ACPI power
  button: StopInstances) nor PCI hot-plug (AttachVolume) works.
- Root disk: a qcow2 overlay on the AMI's read-only cached base; volumes carry their id as ``<serial>``
  (the guest names disks in probe order, so the serial is the only reliable identity) and a user alias
  ``ua-<serial>`` so hot-unplug events can be matched.
- EBS volumes: ``<iotune>`` (total IOPS and bytes per second) makes a volume type's provisioned performance a
  real cap in QEMU; an encrypted volume is a LUKS qcow2 whose ``<encryption>`` names a libvirt secret.
- Network: ``<interface type='ethernet'>`` on a pre-created tap with ``managed='no'`` (host notes,
  pattern A): the agent creates the tap in the root namespace (libvirt looks it up there), starts the
  domain, then the VPC dataplane moves the tap into the VPC's namespace onto the subnet bridge. This keeps
  every VPC's bridges, security groups and NAT inside its own namespace (overlapping CIDRs work), at the
  price of deleting the tap by hand after the domain stops. Names: :mod:`agent.contract.naming`. A NIC
  hot-plugged later (AttachNetworkInterface) is the same element (:func:`interface_xml`); Cloudlet's
  metadata lists every NIC with its ENI (:func:`nic_metadata_xml` rewrites that list when NICs change).
- virtio-rng: a guest generating SSH host keys otherwise waits for entropy.
- Serial console on a pty with a log file (virtlogd): GetConsoleOutput reads the log.
- No USB controller and no balloon: fewer devices for the guest to probe at boot.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from agent.compute.spec import Accelerator, BootMode, InstanceSpec, IoTune, NicSpec, VolumeSpec
from agent.contract.naming import domain_name, domain_uuid, tap_device_index, tap_name, volume_serial

NAMESPACE_URI = "https://cloudlet.invalid/xmlns/compute/1"
NAMESPACE_PREFIX = "cloudlet"
ET.register_namespace(NAMESPACE_PREFIX, NAMESPACE_URI)

ROOT_TARGET = "vda"
#: Memory units libvirt may use in XML, in bytes.
_UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 2**20, "mib": 2**20, "mb": 10**6,
          "g": 2**30, "gib": 2**30, "gb": 10**9}


@dataclass(frozen=True)
class InstancePaths:
    """Where one instance's files live on the host (the directory must be traversable by libvirt-qemu)."""

    directory: Path
    root_disk: Path
    console_log: Path

    @classmethod
    def under(cls, instances_dir: Path, instance_id: str) -> InstancePaths:
        directory = instances_dir / instance_id
        return cls(directory, directory / "root.qcow2", directory / "console.log")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def target_dev(index: int) -> str:
    """virtio disk target names: 0 -> vda, 25 -> vdz, 26 -> vdaa."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("a") + remainder) + letters
    return "vd" + letters


def next_target_dev(used: set[str]) -> str:
    """The first virtio target name not in ``used`` (libvirt wants one per disk, the guest ignores it)."""
    index = 0
    while target_dev(index) in used:
        index += 1
    return target_dev(index)


def _disk(devices: ET.Element, source: Path, fmt: str, target: str, serial: str, read_only: bool = False,
          iotune: IoTune | None = None, secret_uuid: str | None = None) -> None:
    disk = _sub(devices, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type=fmt, discard="unmap")
    source_element = _sub(disk, "source", file=str(source))
    if secret_uuid is not None:
        # A LUKS qcow2: QEMU opens it with the passphrase libvirt keeps in the (ephemeral) secret.
        encryption = _sub(source_element, "encryption", format="luks")
        _sub(encryption, "secret", type="passphrase", uuid=secret_uuid)
    _sub(disk, "target", dev=target, bus="virtio")
    if iotune is not None and (iotune.total_iops_sec or iotune.total_bytes_sec):
        caps = _sub(disk, "iotune")
        if iotune.total_bytes_sec:
            _sub(caps, "total_bytes_sec", str(iotune.total_bytes_sec))
        if iotune.total_iops_sec:
            _sub(caps, "total_iops_sec", str(iotune.total_iops_sec))
    _sub(disk, "serial", serial)
    if read_only:
        _sub(disk, "readonly")
    _sub(disk, "alias", name=f"ua-{serial}")


def _volume_disk(devices: ET.Element, volume: VolumeSpec, target: str) -> None:
    _disk(devices, volume.path, volume.format, target, volume_serial(volume.volume_id), volume.read_only,
          volume.iotune, volume.secret_uuid)


def disk_xml(volume: VolumeSpec, target: str) -> str:
    """The ``<disk>`` element that attaches ``volume`` as ``target`` (for hot-plug)."""
    holder = ET.Element("devices")
    _volume_disk(holder, volume, target)
    return ET.tostring(holder[0], encoding="unicode")


def backup_disk_xml(target: str, copy: Path, secret_uuid: str | None) -> str:
    """One ``<disk>`` of a push-mode ``<domainbackup>``: disk ``target`` copied into the qcow2 ``copy``
    (encrypted with the volume's own secret when it has one, so the copy never holds plaintext)."""
    disk = ET.Element("disk", name=target, type="file")
    copy_element = _sub(disk, "target", file=str(copy))
    if secret_uuid is not None:
        encryption = _sub(copy_element, "encryption", format="luks")
        _sub(encryption, "secret", type="passphrase", uuid=secret_uuid)
    _sub(disk, "driver", type="qcow2")
    return ET.tostring(disk, encoding="unicode")


def _interface(devices: ET.Element, instance_id: str, nic: NicSpec) -> None:
    interface = _sub(devices, "interface", type="ethernet")
    _sub(interface, "mac", address=nic.mac)
    _sub(interface, "target", dev=tap_name(instance_id, nic.device_index), managed="no")
    _sub(interface, "model", type="virtio")


def interface_xml(instance_id: str, nic: NicSpec) -> str:
    """The ``<interface>`` element of one NIC of ``instance_id`` (for hot-plug)."""
    holder = ET.Element("devices")
    _interface(holder, instance_id, nic)
    return ET.tostring(holder[0], encoding="unicode")


def interface_match_xml(mac: str) -> str:
    """The least ``<interface>`` that names one NIC of a domain for a detach: libvirt matches by MAC alone when
    nothing else is given (a live element's alias and PCI address would not match the definition's)."""
    return f"<interface type='ethernet'><mac address='{mac}'/></interface>"


def _nic_marker(marker: ET.Element, nic: NicSpec) -> None:
    ET.SubElement(marker, f"{{{NAMESPACE_URI}}}nic", {
        "index": str(nic.device_index), "interface": nic.interface_id, "mac": nic.mac})


def nic_metadata_xml(description: DomainDescription, instance_id: str, nics: tuple[NicSpec, ...]) -> str:
    """Cloudlet's metadata element of a domain with its NIC list replaced by ``nics`` (for libvirt's
    setMetadata, which wants the element without its namespace: the key and URI are given apart)."""
    marker = ET.Element("instance", {"id": instance_id, "owner": description.owner, "image": description.image,
                                     "type": description.instance_type})
    for nic in sorted(nics, key=lambda n: n.device_index):
        ET.SubElement(marker, "nic", {"index": str(nic.device_index), "interface": nic.interface_id,
                                      "mac": nic.mac})
    return ET.tostring(marker, encoding="unicode")


def domain_xml(spec: InstanceSpec, accelerator: Accelerator, paths: InstancePaths, owner: str) -> str:
    """The persistent definition of ``spec``'s domain, marked as managed by the driver tagged ``owner``."""
    domain = ET.Element("domain", type=accelerator.value)
    _sub(domain, "name", domain_name(spec.instance_id))
    _sub(domain, "uuid", domain_uuid(spec.instance_id))
    metadata = _sub(domain, "metadata")
    marker = ET.SubElement(metadata, f"{{{NAMESPACE_URI}}}instance", {
        "id": spec.instance_id, "owner": owner, "image": spec.image_id, "type": spec.instance_type})
    for nic in spec.nics:
        _nic_marker(marker, nic)  # which ENI each tap carries: power_on re-plugs from the definition alone
    _sub(domain, "memory", str(spec.memory_mib), unit="MiB")
    _sub(domain, "currentMemory", str(spec.memory_mib), unit="MiB")
    _sub(domain, "vcpu", str(spec.vcpus), placement="static")

    os_element = _sub(domain, "os")
    _sub(os_element, "type", "hvm", arch="x86_64", machine="pc")
    if spec.boot.mode is BootMode.DIRECT_KERNEL:
        _sub(os_element, "kernel", str(spec.boot.kernel))
        if spec.boot.initrd is not None:
            _sub(os_element, "initrd", str(spec.boot.initrd))
        _sub(os_element, "cmdline", spec.boot.cmdline)
    else:
        _sub(os_element, "boot", dev="hd")
    features = _sub(domain, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    if accelerator is Accelerator.KVM:
        _sub(domain, "cpu", mode="host-passthrough", check="none")
    _sub(domain, "clock", offset="utc")
    _sub(domain, "on_poweroff", "destroy")
    _sub(domain, "on_reboot", "restart")
    _sub(domain, "on_crash", "destroy")

    devices = _sub(domain, "devices")
    _disk(devices, paths.root_disk, "qcow2", ROOT_TARGET, volume_serial(spec.root_disk.volume_id))
    used = {ROOT_TARGET}
    for volume in spec.volumes:
        target = next_target_dev(used)
        used.add(target)
        _volume_disk(devices, volume, target)
    for nic in sorted(spec.nics, key=lambda n: n.device_index):
        _interface(devices, spec.instance_id, nic)
    serial = _sub(devices, "serial", type="pty")
    _sub(serial, "log", file=str(paths.console_log), append="on")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    rng = _sub(devices, "rng", model="virtio")
    _sub(rng, "backend", "/dev/urandom", model="random")
    _sub(devices, "controller", type="usb", model="none")
    _sub(devices, "memballoon", model="none")
    ET.indent(domain)
    return ET.tostring(domain, encoding="unicode")


@dataclass(frozen=True)
class AttachedDisk:
    serial: str
    target: str
    source: str
    alias: str
    #: The element as XML, as libvirt needs it to detach the device.
    xml: str
    iotune: IoTune = IoTune()


@dataclass(frozen=True)
class AttachedInterface:
    tap: str
    mac: str
    #: libvirt's alias of the live device (``net1``): what its DEVICE_REMOVED event names.
    alias: str = ""


@dataclass(frozen=True)
class DomainDescription:
    """What the agent needs back from a domain's XML (libvirt's own dump, with its defaults filled in)."""

    name: str
    #: The owner tag in Cloudlet's metadata ("" for domains Cloudlet did not define): a driver manages only
    #: domains with its own tag.
    owner: str
    vcpus: int
    memory_mib: int
    interfaces: tuple[AttachedInterface, ...] = ()
    disks: tuple[AttachedDisk, ...] = ()
    #: The network interfaces as the spec gave them (from Cloudlet's metadata).
    nics: tuple[NicSpec, ...] = ()
    image: str = ""
    instance_type: str = ""

    @property
    def taps(self) -> tuple[str, ...]:
        return tuple(interface.tap for interface in self.interfaces)

    @property
    def aliases(self) -> set[str]:
        """Every device alias (disks and interfaces): a device whose alias is gone has left the guest."""
        return {disk.alias for disk in self.disks} | {i.alias for i in self.interfaces if i.alias}

    def interface(self, tap: str) -> AttachedInterface | None:
        return next((interface for interface in self.interfaces if interface.tap == tap), None)

    def nics_present(self) -> tuple[NicSpec, ...]:
        """The NICs the devices of this XML are, by device index (from the tap's name) and MAC, with the ENI
        the metadata names for that index and MAC ("" for one it does not list)."""
        listed = {(nic.device_index, nic.mac): nic.interface_id for nic in self.nics}
        found = []
        for interface in self.interfaces:
            index = tap_device_index(interface.tap)
            if index is not None and interface.mac:
                mac = interface.mac.lower()
                found.append(NicSpec(index, mac, listed.get((index, mac), "")))
        return tuple(sorted(found, key=lambda nic: nic.device_index))

    def disk_by_serial(self, serial: str) -> AttachedDisk | None:
        return next((disk for disk in self.disks if disk.serial == serial), None)


def _memory_mib(element: ET.Element | None) -> int:
    if element is None or not element.text:
        return 0
    unit = element.get("unit", "KiB").lower()
    return int(element.text) * _UNITS[unit] // 2**20


def _cap(disk: ET.Element, path: str) -> int | None:
    text = disk.findtext(path)
    return int(text) if text and int(text) > 0 else None


def parse_domain_xml(xml: str) -> DomainDescription:
    root = ET.fromstring(xml)
    marker = root.find(f"metadata/{{{NAMESPACE_URI}}}instance")
    owner = marker.get("owner", "") if marker is not None else ""
    nics = tuple(NicSpec(int(nic.get("index", "0")), nic.get("mac", ""), nic.get("interface", ""))
                 for nic in (marker.findall(f"{{{NAMESPACE_URI}}}nic") if marker is not None else []))
    vcpu = root.find("vcpu")
    disks = []
    for disk in root.findall("devices/disk"):
        serial = disk.findtext("serial")
        if not serial:
            continue
        source = disk.find("source")
        target = disk.find("target")
        alias = disk.find("alias")
        disks.append(AttachedDisk(
            serial=serial, target=target.get("dev", "") if target is not None else "",
            source=source.get("file", "") if source is not None else "",
            alias=alias.get("name", "") if alias is not None else "",
            xml=ET.tostring(disk, encoding="unicode"),
            iotune=IoTune(_cap(disk, "iotune/total_iops_sec"), _cap(disk, "iotune/total_bytes_sec"))))
    interfaces = []
    for interface in root.findall("devices/interface"):
        target = interface.find("target")
        mac = interface.find("mac")
        alias = interface.find("alias")
        interfaces.append(AttachedInterface(target.get("dev", "") if target is not None else "",
                                            mac.get("address", "") if mac is not None else "",
                                            alias.get("name", "") if alias is not None else ""))
    return DomainDescription(
        name=root.findtext("name", ""), owner=owner,
        vcpus=int(vcpu.text) if vcpu is not None and vcpu.text else 0,
        memory_mib=_memory_mib(root.find("memory")), interfaces=tuple(interfaces),
        disks=tuple(disks), nics=nics, image=marker.get("image", "") if marker is not None else "",
        instance_type=marker.get("type", "") if marker is not None else "")
