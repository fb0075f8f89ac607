"""What the compute driver is asked to run: plain, immutable descriptions of instances.

The controller decides everything here (sizes from the instance type, MACs of ENIs, volume ids); the
driver only makes it real. Kept free of libvirt so schedulers, reconcilers and tests can use them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from agent.contract.instances import VolumeAttachment
from agent.contract.volumes import DesiredVolume

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8,17}$")
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class Accelerator(StrEnum):
    """How guests execute; the values are libvirt's domain types (and the host record's hypervisor kind)."""

    KVM = "kvm"
    #: QEMU's TCG emulation: slower, but works where /dev/kvm cannot really run a guest.
    TCG = "qemu"


class BootMode(StrEnum):
    #: The AMI carries a kernel, initrd and command line that QEMU loads directly (no bootloader: faster).
    DIRECT_KERNEL = "direct-kernel"
    #: The root disk boots itself (BIOS and a bootloader inside the image).
    DISK = "disk"


class PowerState(StrEnum):
    """A domain's state as the driver reports it (libvirt's states, folded to what EC2 cares about)."""

    RUNNING = "running"
    #: The guest was asked to power off and is doing so.
    SHUTTING_DOWN = "shutting-down"
    SHUTOFF = "shutoff"
    PAUSED = "paused"
    CRASHED = "crashed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class BootSpec:
    mode: BootMode
    kernel: Path | None = None
    initrd: Path | None = None
    cmdline: str = ""

    def __post_init__(self) -> None:
        if self.mode is BootMode.DIRECT_KERNEL and self.kernel is None:
            raise ValueError("direct kernel boot needs a kernel")


@dataclass(frozen=True)
class RootDiskSpec:
    """The instance's root volume: a qcow2 overlay of ``size_bytes`` on the AMI's cached base image."""

    base_image: Path
    size_bytes: int
    volume_id: str

    def __post_init__(self) -> None:
        if not VOLUME_ID.match(self.volume_id):
            raise ValueError(f"not a volume id: {self.volume_id!r}")


@dataclass(frozen=True)
class NicSpec:
    """One network interface (an ENI attachment): ``device_index`` 0 is the primary interface (eth0)."""

    device_index: int
    mac: str
    interface_id: str

    def __post_init__(self) -> None:
        if not MAC.match(self.mac):
            raise ValueError(f"not a lower-case MAC address: {self.mac!r}")
        if not 0 <= self.device_index <= 0xFF:
            raise ValueError(f"device index out of range: {self.device_index}")


@dataclass(frozen=True)
class IoTune:
    """An EBS volume's performance caps, as libvirt's ``<iotune>`` enforces them (None: no cap)."""

    total_iops_sec: int | None = None
    total_bytes_sec: int | None = None

    @classmethod
    def of(cls, volume: VolumeAttachment | DesiredVolume) -> IoTune:
        """A volume's caps as its section gives them (provisioned IOPS, throughput in MiB/s) as QEMU limits."""
        throughput = volume.throughput_mibps
        return cls(volume.iops or None, throughput * 2**20 if throughput else None)

    def as_libvirt(self) -> dict[str, int]:
        """The parameters of ``setBlockIoTune`` (0 lifts a cap)."""
        return {"total_iops_sec": self.total_iops_sec or 0, "total_bytes_sec": self.total_bytes_sec or 0}


@dataclass(frozen=True)
class VolumeSpec:
    """A block device attached besides the root disk; the guest finds it by serial (the volume id).

    An encrypted volume (a LUKS qcow2) names the libvirt secret holding its passphrase (``secret_uuid``)."""

    volume_id: str
    path: Path
    format: str = "qcow2"
    read_only: bool = False
    iotune: IoTune = IoTune()
    secret_uuid: str | None = None

    def __post_init__(self) -> None:
        if not VOLUME_ID.match(self.volume_id):
            raise ValueError(f"not a volume id: {self.volume_id!r}")
        if self.format not in ("qcow2", "raw"):
            raise ValueError(f"unsupported disk format: {self.format!r}")


@dataclass(frozen=True)
class InstanceSpec:
    """Everything needed to (re)create one instance's domain; the domain is named ``instance_id``."""

    instance_id: str
    vcpus: int
    memory_mib: int
    boot: BootSpec
    root_disk: RootDiskSpec
    nics: tuple[NicSpec, ...] = ()
    #: Volumes attached from the start (block device mappings besides the root).
    volumes: tuple[VolumeSpec, ...] = ()
    image_id: str = ""
    instance_type: str = ""

    def __post_init__(self) -> None:
        if not INSTANCE_ID.match(self.instance_id):
            raise ValueError(f"not an instance id: {self.instance_id!r}")
        if self.vcpus < 1:
            raise ValueError("an instance needs at least one vCPU")
        if self.memory_mib < 64:
            raise ValueError("an instance needs at least 64 MiB of memory")
        indexes = [nic.device_index for nic in self.nics]
        if len(set(indexes)) != len(indexes):
            raise ValueError("two network interfaces share a device index")
        ids = [self.root_disk.volume_id, *(v.volume_id for v in self.volumes)]
        if len(set(ids)) != len(ids):
            raise ValueError("a volume is attached twice")


@dataclass(frozen=True)
class InstanceInfo:
    """What ``get_info`` reports about one instance."""

    instance_id: str
    state: PowerState
    vcpus: int
    memory_mib: int
    cpu_time_ns: int = 0
    #: For a shut-off domain: True when the guest powered itself off (EC2 then marks the instance stopped
    #: rather than restarting it); False after a hard stop, a crash or a host restart.
    stopped_by_guest: bool = False


@dataclass(frozen=True)
class Inventory:
    """What exists on this host, for the reconciler: domains, instance directories and taps."""

    #: Instance id -> info, for every domain this driver owns (running or not).
    domains: dict[str, InstanceInfo] = field(default_factory=dict)
    #: Instance id -> tap names its definition uses.
    domain_taps: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Instance ids that have a directory (root disk, console log) on this host.
    disks: frozenset[str] = frozenset()
    #: Cloudlet taps still in the root namespace (created, never or no longer plugged).
    unplugged_taps: frozenset[str] = frozenset()
    #: Cloudlet taps the network plugger has moved into VPC namespaces.
    plugged_taps: frozenset[str] = frozenset()
    #: Instance id -> the NICs its domain has: what the running guest holds (a NIC whose hot-unplug the guest
    #: has not finished is still there), the definition for a shut-off domain. An instance left out is not
    #: judged (the planner then leaves its NICs alone).
    domain_nics: dict[str, tuple[NicSpec, ...]] = field(default_factory=dict)
    #: Instance id -> the NICs of its definition, where they differ from ``domain_nics`` (a running guest that
    #: still holds a NIC already gone from the definition, or the reverse); left out: the same.
    defined_nics: dict[str, tuple[NicSpec, ...]] = field(default_factory=dict)
