"""The ``volumes`` section of a host's desired document (``agent.contract.volumes``), and each instance's
attached volumes.

Contract C between the controller and the storage agent: the section lists every volume whose file
the host's pool must hold (made blank, restored from ``snapshot_id``, grown to ``size_bytes``; a file
not listed is deleted), root volumes of the host's instances included, and the snapshots the agent
must take and upload. The ``instances`` section gives each instance the non-root volumes to plug in
(:func:`instance_volumes`). EC2 declares this section before ``instances``, so a volume's file exists
before the compute agent attaches it. Encrypted volumes carry their KMS data key (base64) as the LUKS
passphrase; while KMS refuses it (key disabled or pending deletion) a volume that has no file yet is
not made and no instance gets it plugged in. A pure read, run on every long-poll wake-up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, select

from agent.contract.codec import to_json
from agent.contract.instances import VolumeAttachment
from agent.contract.volumes import DesiredSnapshot, DesiredVolume, VolumesSection
from controller.ec2.volumes import encryption, records, rules
from controller.ec2.volumes.state import attachments, snapshots, volumes
from controller.hosts.desired import HostContext

GIB = 1 << 30


class _Keys:
    """Each encrypted volume's passphrase, asked of KMS once per document."""

    def __init__(self, view: encryption.KmsView | None) -> None:
        self.view = view
        self.found: dict[str, str | None] = {}

    def of(self, row: RowMapping) -> str | None:
        if row["data_key"] is None or self.view is None:
            return None
        volume_id = row["volume_id"]
        if volume_id not in self.found:
            self.found[volume_id] = encryption.passphrase(self.view, row["account_id"],
                                                          row["key_context"] or volume_id, row["data_key"])
        return self.found[volume_id]


def _caps(row: RowMapping) -> tuple[int | None, int | None]:
    return rules.io_caps(row["volume_type"], row["size_gib"], row["iops"], row["throughput"])


def host_volumes(conn: Connection, keys: _Keys, host_id: str) -> VolumesSection:
    pending = conn.execute(select(snapshots.c.snapshot_id, snapshots.c.volume_id).where(
        snapshots.c.host_id == host_id, snapshots.c.state == "pending").order_by(snapshots.c.snapshot_id)).all()
    busy = {volume_id for _, volume_id in pending}
    rows = conn.execute(select(volumes).where(volumes.c.host_id == host_id).order_by(volumes.c.volume_id)
                        ).mappings().all()
    listed = []
    for row in rows:
        keep = row["state"] in (records.CREATING, records.AVAILABLE) or (
            row["state"] == records.DELETING and row["volume_id"] in busy)
        if not keep:
            continue
        key = keys.of(row)
        if row["encrypted"] and key is None and row["state"] == records.CREATING:
            continue  # nothing to make while KMS refuses the key
        iops, throughput = _caps(row)
        listed.append(DesiredVolume(
            volume_id=row["volume_id"], size_bytes=row["size_gib"] * GIB,
            snapshot_id=row["snapshot_id"] if row["state"] == records.CREATING else None,
            encryption_key=key, encrypted=bool(row["encrypted"]), iops=iops, throughput_mibps=throughput))
    return VolumesSection(volumes=listed, snapshots=[DesiredSnapshot(s, v) for s, v in pending])


def volumes_section(ctx: HostContext) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return to_json(host_volumes(conn, _Keys(encryption.KmsView(ctx.db, ctx.config)), ctx.host_id))


def instance_volumes(conn: Connection, view: encryption.KmsView | None,
                     instance_ids: list[str]) -> dict[str, list[VolumeAttachment]]:
    """The non-root volumes each instance should have plugged in (attaching or attached), by device; ``view``
    opens encrypted volumes' keys (None: encrypted volumes are left out)."""
    keys = _Keys(view)
    found: dict[str, list[VolumeAttachment]] = {i: [] for i in instance_ids}
    if not instance_ids:
        return found
    rows = conn.execute(select(volumes, attachments.c.instance_id, attachments.c.device_name)
                        .join(attachments, attachments.c.volume_id == volumes.c.volume_id)
                        .where(attachments.c.instance_id.in_(instance_ids), ~attachments.c.is_root,
                               attachments.c.state.in_([records.ATTACHING, records.ATTACHED]))
                        .order_by(attachments.c.device_name)).mappings().all()
    for row in rows:
        key = keys.of(row)
        if row["encrypted"] and key is None:
            continue  # the key is disabled or pending deletion: the volume cannot be opened
        iops, throughput = _caps(row)
        found[row["instance_id"]].append(VolumeAttachment(row["volume_id"], row["device_name"], iops, throughput, key))
    return found
