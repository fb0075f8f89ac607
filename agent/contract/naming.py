"""The names both sides derive from ids: the controller writes them into documents, the agent makes them.

- Domain name: the instance id itself (``i-0123456789abcdef0``).
- Tap device of a network interface: ``cl-t`` + the first 8 hex digits of the instance id + the device
  index as 2 hex digits, e.g. ``cl-t0123456700`` for eth0 of ``i-0123456789abcdef0`` (14 characters; Linux
  allows 15). Instance ids are random, so 8 hex digits (32 bits) keep a host's taps apart; the driver
  still refuses to spawn over a tap that already exists.
- Guest MAC of an interface: the controller's choice; ``mac_for_interface`` is the convention Cloudlet uses
  (locally administered ``02:`` + 5 bytes of the ENI id), so the same ENI keeps its MAC across hosts.
- Owner tag: 12 hex digits derived from an agent's state directory. A driver manages only domains and
  taps carrying its own tag (domain metadata, tap ifalias ``cloudlet:<owner>:<instance id>``), so a test
  run, a second agent or anything else on the same host is never mistaken for a leftover and destroyed.
- Volume serial: the volume id without its dash (``vol0123456789abcdef0``, 20 characters: virtio-blk's
  limit), which is what EC2 Nitro guests see as the NVMe serial too. The guest finds volumes by serial
  (``/sys/block/vdX/serial``), never by device name (names follow probe order).
- Service port: the bridge-side veth of an ENI a service of the agent sits behind (an EFS mount target, a
  Batch job's ENI): ``s`` + 10 hex digits of the ENI id's digest; the controller puts it in the ENI's
  attachment, the network plan makes it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path

TAP_PREFIX = "cl-t"
TAP_NAME = re.compile(r"^cl-t([0-9a-f]{8})([0-9a-f]{2})$")
_INSTANCE_HEX = re.compile(r"^i-([0-9a-f]{8,17})$")
_RESOURCE_HEX = re.compile(r"^[a-z]+-([0-9a-f]{10,17})$")
#: Namespace of domain UUIDs, so an instance's domain UUID is stable across redefinitions.
_DOMAIN_UUID_NAMESPACE = uuid.UUID("5b0f8a52-2f8e-4d0c-9a55-6c1e7d3b9a10")
_SECRET_UUID_NAMESPACE = uuid.UUID("0c8e3f7a-51d2-4b6e-8f0a-2d9c4e6b7a13")
_VOLUME_SERIAL = re.compile(r"^vol([0-9a-f]{8,17})$")


def digest(key: str, length: int = 10) -> str:
    """A short stable hex digest of ``key``: how names of kernel objects derive from document ids."""
    return hashlib.sha1(key.encode()).hexdigest()[:length]


def service_port(eni_id: str) -> str:
    """The bridge-side name of a service ENI's veth (what the controller puts in its attachment)."""
    return "s" + digest(eni_id)


def owner_tag(state_dir: Path) -> str:
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]


def tap_alias(owner: str, instance_id: str) -> str:
    """The ifalias a tap carries: who made it, for which instance (it survives moves between namespaces)."""
    return f"cloudlet:{owner}:{instance_id}"


def domain_name(instance_id: str) -> str:
    return instance_id


def domain_uuid(instance_id: str) -> str:
    return str(uuid.uuid5(_DOMAIN_UUID_NAMESPACE, instance_id))


def tap_name(instance_id: str, device_index: int = 0) -> str:
    match = _INSTANCE_HEX.match(instance_id)
    if not match:
        raise ValueError(f"not an instance id: {instance_id!r}")
    if not 0 <= device_index <= 0xFF:
        raise ValueError(f"device index out of range: {device_index}")
    return f"{TAP_PREFIX}{match.group(1)[:8]}{device_index:02x}"


def tap_device_index(name: str) -> int | None:
    """The device index a tap name carries (its last two hex digits); None for a name that is not a tap's."""
    match = TAP_NAME.match(name)
    return int(match.group(2), 16) if match else None


def is_tap_name(name: str) -> bool:
    return TAP_NAME.match(name) is not None


def tap_belongs_to(name: str, instance_id: str) -> bool:
    match = TAP_NAME.match(name)
    instance = _INSTANCE_HEX.match(instance_id)
    return bool(match and instance and instance.group(1)[:8] == match.group(1))


def volume_serial(volume_id: str) -> str:
    return volume_id.replace("-", "")


def volume_of_serial(serial: str) -> str | None:
    """The volume id a disk serial stands for (None for a serial that is not a volume's)."""
    match = _VOLUME_SERIAL.match(serial)
    return f"vol-{match.group(1)}" if match else None


def volume_secret_uuid(volume_path: Path) -> str:
    """The UUID of the libvirt secret of an encrypted volume file: stable, one per file."""
    return str(uuid.uuid5(_SECRET_UUID_NAMESPACE, str(volume_path)))


def mac_for_interface(interface_id: str) -> str:
    """``02:`` + the first 10 hex digits of an ENI id: deterministic, locally administered, unicast."""
    match = _RESOURCE_HEX.match(interface_id)
    if not match:
        raise ValueError(f"not a resource id with at least 10 hex digits: {interface_id!r}")
    digits = match.group(1)[:10]
    return "02:" + ":".join(digits[i:i + 2] for i in range(0, 10, 2))
