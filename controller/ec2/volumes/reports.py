"""What agents report about volumes, snapshots and attachments, applied to the EBS tables (contract C).

- the storage report (``POST /hosts/<id>/volumes``): a volume's file made (``creating`` -> ``available``)
  or failed (``error``), its size (a pending ModifyVolume reaches its target), a ``deleting`` volume gone
  from a complete report (its rows go), a snapshot ``completed`` (its data was uploaded first) or failed;
- the compute report's ``volumes`` (``POST /hosts/<id>/instances``): the non-root volumes plugged into
  each instance (:func:`attachments.apply_attachment_report`);
- snapshot data: an upload for a pending snapshot of the host (:func:`store_upload`), and where a host
  reads the snapshot it restores a volume from (:func:`restore_source`).

Each write bumps the hosts' generation only when it changed something a document shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import select, update

from agent.contract.reports import VolumesReport
from controller.ec2.instances import state as instance_state
from controller.ec2.volumes import attachments, modifications, records, snapshot_records, snapshot_store
from controller.ec2.volumes.state import snapshots, volumes
from controller.hosts import generation
from controller.state import utcnow

if TYPE_CHECKING:
    from controller.cloud import Cloud


def apply_storage_report(cloud: Cloud, host_id: str, report: VolumesReport) -> list[str]:
    """Apply a host's storage report; returns the ids of the volumes and snapshots that changed."""
    changed: list[str] = []
    now = utcnow()
    with cloud.db.begin() as conn:
        busy = {r[0] for r in conn.execute(select(snapshots.c.volume_id).where(
            snapshots.c.host_id == host_id, snapshots.c.state == "pending"))}
        for row in conn.execute(select(volumes).where(volumes.c.host_id == host_id)).mappings().all():
            volume_id, seen = row["volume_id"], report.volumes.get(row["volume_id"])
            if seen is None:
                if report.complete and row["state"] == records.DELETING and volume_id not in busy:
                    records.forget_volume(conn, volume_id)
                    changed.append(volume_id)
                continue
            if row["state"] == records.CREATING:
                failed = seen.state == "failed"
                conn.execute(update(volumes).where(volumes.c.volume_id == volume_id).values(
                    state=records.ERROR if failed else records.AVAILABLE,
                    fault=seen.error[:255] if failed else None))
                changed.append(volume_id)
            if seen.size_bytes and modifications.reached(conn, volume_id, seen.size_bytes, now):
                changed.append(volume_id)
        for row in conn.execute(select(snapshots).where(snapshots.c.host_id == host_id,
                                                        snapshots.c.state == "pending")).mappings().all():
            seen = report.snapshots.get(row["snapshot_id"])
            if seen is None:
                continue
            values: dict[str, Any] = {"host_id": None, "completion_time": now}
            if seen.state == "completed" and row["blob_id"]:
                values["state"] = "completed"
            else:
                values["state"] = "error"
                values["state_message"] = (seen.error if seen.state == "failed"
                                           else "The host reported the snapshot done without uploading its data.")
            conn.execute(update(snapshots).where(snapshots.c.snapshot_id == row["snapshot_id"]).values(**values))
            changed.append(row["snapshot_id"])
        if changed:
            generation.bump(conn)
    return changed


def apply_instance_volumes(cloud: Cloud, host_id: str, reported: dict[str, list[str]]) -> int:
    """The volumes plugged into each reported instance of ``host_id``; returns how many attachments changed."""
    instances = instance_state.instances
    with cloud.db.begin() as conn:
        mine = {r[0] for r in conn.execute(select(instances.c.instance_id).where(
            instances.c.host_id == host_id, instances.c.instance_id.in_(list(reported))))}
        changed = attachments.apply_attachment_report(conn, {i: v for i, v in reported.items() if i in mine})
        if changed:
            generation.bump(conn)
    return changed


def store_upload(cloud: Cloud, host_id: str, snapshot_id: str, stream: IO[bytes]) -> bool:
    """Keep the data of a pending snapshot of ``host_id``; False when there is no such snapshot (then
    nothing is kept). A second upload replaces the first."""
    with cloud.db.read() as conn:
        if not _pending_on(conn, host_id, snapshot_id):
            return False
    blob_id, size = snapshot_store.put(cloud, stream)
    with cloud.db.begin() as conn:
        row = _pending_on(conn, host_id, snapshot_id)
        if row is not None:
            conn.execute(update(snapshots).where(snapshots.c.snapshot_id == snapshot_id).values(
                blob_id=blob_id, data_size=size))
    stale = [blob_id] if row is None else [row["blob_id"]] if row["blob_id"] else []
    snapshot_store.discard(cloud, stale)
    return row is not None


def _pending_on(conn: Any, host_id: str, snapshot_id: str) -> Any:
    return conn.execute(select(snapshots).where(snapshots.c.snapshot_id == snapshot_id,
                                                snapshots.c.host_id == host_id,
                                                snapshots.c.state == "pending")).mappings().first()


def restore_source(cloud: Cloud, host_id: str, snapshot_id: str) -> tuple[str, str | Path] | None:
    """Where ``host_id`` reads the snapshot a volume it is creating comes from: ("blob", id) in the snapshot
    store or ("file", path) of an AMI's root disk; None when no volume of that host waits for it."""
    with cloud.db.read() as conn:
        waiting = conn.execute(select(volumes.c.volume_id).where(
            volumes.c.host_id == host_id, volumes.c.snapshot_id == snapshot_id,
            volumes.c.state == records.CREATING)).first()
        if waiting is None:
            return None
        row = conn.execute(select(snapshots.c.blob_id).where(snapshots.c.snapshot_id == snapshot_id)).first()
        if row is not None:
            return ("blob", row[0]) if row[0] else None
        image_id = snapshot_records.image_using(conn, snapshot_id)
        if image_id is None:
            return None
        return "file", snapshot_records.image_root_disk(conn, cloud.config, image_id)
