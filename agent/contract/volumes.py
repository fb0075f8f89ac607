"""The ``volumes`` section of a host's desired document: what the storage agent's pool must hold.

Every volume whose file the host keeps (made blank, restored from ``snapshot_id``, grown to ``size_bytes``;
a file not listed is deleted), root volumes of the host's instances included, and the snapshots the agent
must take and upload. Built by ``controller.ec2.volumes.desired_volumes``, made real by
``agent.storage.service``; answered with a ``reports.VolumesReport``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DesiredVolume:
    volume_id: str
    size_bytes: int
    #: Restore from this snapshot (only while the volume is being created).
    snapshot_id: str | None = None
    #: Base64 of the volume's 32-byte data key: the volume is a LUKS qcow2 whose passphrase is this text.
    encryption_key: str | None = None
    #: Whether EC2 shows the volume encrypted (the agent acts on ``encryption_key`` alone).
    encrypted: bool = False
    iops: int | None = None
    throughput_mibps: int | None = None
    #: The key that opens ``snapshot_id``'s image when it differs from the volume's own (re-encryption); the
    #: agent reads it, and today's controller never sends it (it restores with the volume's own key).
    snapshot_encryption_key: str | None = None


@dataclass(frozen=True)
class DesiredSnapshot:
    """A pending snapshot of ``volume_id`` the agent takes and uploads (``PUT /hosts/<id>/snapshots/<id>``)."""

    snapshot_id: str
    volume_id: str


@dataclass
class VolumesSection:
    volumes: list[DesiredVolume] = field(default_factory=list)
    snapshots: list[DesiredSnapshot] = field(default_factory=list)
