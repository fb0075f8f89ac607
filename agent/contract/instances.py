"""The ``instances`` section of a host's desired document: what its compute agent must run.

One :class:`DesiredInstance` per instance placed on the host and not yet terminated: what to make of it
(``state``: ``running``, ``stopped``, or ``terminated`` while it shuts down), its guest size, root disk,
instance store, network interfaces in device index order (one added or removed while the instance runs is
hot-plugged), the non-root EBS volumes to plug in, the reboot and start requests (counters: the agent acts
once per new number), the CreateImage captures to carry out and the live migrations it takes part in
(``incoming``, ``migrate_to``: ``controller.ec2.instances.migrations``) and the moves of a stopped instance's disk
(``send_disk``, ``disk_from``: ``controller.ec2.instances.disk_moves``); and, in ``images``, how to get the files of
each AMI those instances use. Built by ``controller.ec2.instances.desired_instances``, made real by
``agent.compute.service``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RootDisk:
    #: An instance-store root has no volume of its own: it is named after the instance.
    volume_id: str
    size_bytes: int
    delete_on_termination: bool = True


@dataclass
class InstanceStoreDisk:
    """One instance store disk (``ephemeral0``...), made blank at first start."""

    name: str
    size_bytes: int


@dataclass
class InstanceNic:
    """A network interface: its tap goes onto the bridge of ``subnet_id`` in ``vpc_id`` (the network section)."""

    device_index: int
    mac: str
    interface_id: str
    vpc_id: str
    subnet_id: str


@dataclass
class ImageCapture:
    """A pending CreateImage of this instance: the agent uploads a copy of the root disk."""

    image_id: str
    no_reboot: bool = False


@dataclass
class VolumeAttachment:
    """A non-root EBS volume to plug in: I/O caps (None: uncapped) and, when encrypted, its LUKS passphrase."""

    volume_id: str
    device_name: str = ""
    iops: int | None = None
    throughput_mibps: int | None = None
    encryption_key: str | None = None


@dataclass(frozen=True)
class MigrationTarget:
    """Where an instance goes, as the target host advertised it at registration."""

    host_id: str
    #: How this host's libvirtd reaches the target's (peer-to-peer migration).
    libvirt_uri: str
    #: The address the target's QEMU takes the memory and disk stream on.
    address: str
    #: The target's compute directory (its ``instances/`` and image cache live under it).
    compute_dir: str
    #: The target driver's owner tag: the migrated domain must carry it to be adopted there.
    owner: str


#: The header an instance disk's upload (``PUT /hosts/<id>/instance-disks/<instance>``) carries its sha256 in.
DISK_SHA256_HEADER = "X-Cloudlet-Sha256"


@dataclass(frozen=True)
class StagedDisk:
    """A stopped instance's root overlay, moved from another host and staged on the controller: the agent
    downloads it (``GET /hosts/<id>/instance-disks/<instance>``), checks it against ``sha256`` and rebases it
    onto its own copy of the AMI before it defines the domain."""

    sha256: str
    size_bytes: int
    #: The host it was uploaded from (for the logs).
    source_host_id: str = ""


@dataclass
class DesiredInstance:
    instance_id: str
    state: str
    instance_type: str
    vcpus: int
    memory_mib: int
    image_id: str
    root_disk: RootDisk
    instance_store: list[InstanceStoreDisk] = field(default_factory=list)
    nics: list[InstanceNic] = field(default_factory=list)
    reboot_serial: int = 0
    start_serial: int = 0
    captures: list[ImageCapture] = field(default_factory=list)
    volumes: list[VolumeAttachment] = field(default_factory=list)
    #: Live migration (``agent.compute.migration``): arriving from another host, or leaving to one.
    incoming: bool = False
    migrate_to: MigrationTarget | None = None
    #: Cold move of a stopped instance (``cloudlet host drain``): on the source, upload the root overlay now;
    #: on the target, the staged overlay to fetch before the domain is defined here.
    send_disk: bool = False
    disk_from: StagedDisk | None = None


@dataclass
class ImageView:
    """How an agent gets an AMI: boot facts and, per file role (``root_disk``, ``kernel``, ``initrd``), its
    record (``file``, ``sha256``, ``virtual_size``...) with ``path`` on the controller's machine (read when the
    agent shares it, downloaded from ``GET /hosts/<id>/images/<ami>/<role>`` otherwise)."""

    image_id: str
    boot_mode: str
    files: dict[str, dict[str, Any]]
    cmdline: str = ""


@dataclass
class InstancesSection:
    instances: list[DesiredInstance] = field(default_factory=list)
    images: dict[str, ImageView] = field(default_factory=dict)
