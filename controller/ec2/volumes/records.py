"""Volume and attachment rows, and what other parts of EC2 need of them.

RunInstances creates root and launch-time volumes through :func:`insert_volume` and :func:`attach`;
termination releases them (:func:`release_instance_volumes`); DescribeInstances reads its
BlockDeviceMappings from :func:`block_device_mappings`; CreateImage its root size from :func:`root_size`.
The EBS operations build their outputs with :func:`volume_outputs`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, insert, select, update

from controller.config import Config
from controller.ec2.ids import VOLUME
from controller.ec2.instances import state as instance_state
from controller.ec2.regions import zone_id
from controller.ec2.tags import drop_tags, owned_by_account, register_taggable, tags_of
from controller.ec2.volumes import rules
from controller.ec2.volumes.state import attachments, modifications, volumes
from controller.hosts.state import host_records

register_taggable(VOLUME, owned_by_account(volumes, "volume_id"))

CREATING, AVAILABLE, IN_USE, DELETING, ERROR = "creating", "available", "in-use", "deleting", "error"
ATTACHING, ATTACHED, DETACHING = "attaching", "attached", "detaching"


def choose_host(conn: Connection, zone: str, account: str) -> str | None:
    """The host of ``zone`` whose pool takes a new volume of ``account``.

    A volume attaches only to instances of its own host, so an account's volumes gather where its
    instances of the zone run, then where its other volumes are; a first volume goes to the host with the
    fewest volumes (then by id). Up hosts come first; a down host of the zone when none is up (the volume
    waits for it); None when the zone has no host.
    """
    hosts = [h for h in host_records(conn) if h.zone == zone]
    if not hosts:
        return None
    ids = [h.host_id for h in hosts]

    def per_host(table: Any, *where: Any) -> dict[str, int]:
        return dict(conn.execute(select(table.c.host_id, func.count()).where(table.c.host_id.in_(ids), *where)
                                 .group_by(table.c.host_id)).all())

    instances = instance_state.instances
    running = per_host(instances, instances.c.account_id == account, instances.c.state != "terminated")
    owned = per_host(volumes, volumes.c.account_id == account)
    total = per_host(volumes)
    return min(hosts, key=lambda h: (h.state != "up", -running.get(h.host_id, 0), -owned.get(h.host_id, 0),
                                     total.get(h.host_id, 0), h.host_id)).host_id


def insert_volume(conn: Connection, *, volume_id: str, account: str, zone: str, host_id: str | None,
                  spec: rules.VolumeSpec, state: str, now: dt.datetime, snapshot_id: str | None = None,
                  encrypted: bool = False, kms_key_arn: str | None = None, data_key: bytes | None = None,
                  key_context: str | None = None, client_token: str | None = None) -> None:
    conn.execute(insert(volumes).values(
        volume_id=volume_id, account_id=account, availability_zone=zone, host_id=host_id, size_gib=spec.size_gib,
        volume_type=spec.volume_type, iops=spec.iops, throughput=spec.throughput, encrypted=encrypted,
        kms_key_arn=kms_key_arn, data_key=data_key, key_context=key_context, snapshot_id=snapshot_id, multi_attach=spec.multi_attach,
        state=state, auto_enable_io=False, client_token=client_token, create_time=now))


def attach(conn: Connection, volume_id: str, instance_id: str, device: str, *, state: str,
           delete_on_termination: bool, is_root: bool, now: dt.datetime) -> None:
    conn.execute(insert(attachments).values(
        volume_id=volume_id, instance_id=instance_id, device_name=device, state=state,
        delete_on_termination=delete_on_termination, is_root=is_root, attach_time=now))


def fetch(conn: Connection, account: str, volume_id: str | None) -> RowMapping:
    """The caller's volume (a deleted one is gone), or InvalidVolume.NotFound / InvalidVolumeID.Malformed."""
    row = None
    if volume_id and VOLUME.well_formed(volume_id):
        row = conn.execute(select(volumes).where(volumes.c.volume_id == volume_id,
                                                 volumes.c.account_id == account)).mappings().first()
    if row is None:
        raise VOLUME.missing([volume_id or ""])
    return row


def attachments_of(conn: Connection, volume_ids: Sequence[str]) -> dict[str, list[RowMapping]]:
    found: dict[str, list[RowMapping]] = {v: [] for v in volume_ids}
    if volume_ids:
        for row in conn.execute(select(attachments).where(attachments.c.volume_id.in_(list(volume_ids)))
                                .order_by(attachments.c.attach_time, attachments.c.instance_id)).mappings():
            found[row["volume_id"]].append(row)
    return found


def api_state(row: RowMapping, attached: Sequence[RowMapping]) -> str:
    """The State DescribeVolumes shows: ``in-use`` while any attachment exists, else the stored state."""
    return IN_USE if attached and row["state"] not in (DELETING, ERROR) else row["state"]


def attachment_output(row: RowMapping) -> dict[str, Any]:
    return {"AttachTime": row["attach_time"], "Device": row["device_name"], "InstanceId": row["instance_id"],
            "State": row["state"], "VolumeId": row["volume_id"],
            "DeleteOnTermination": row["delete_on_termination"]}


def volume_outputs(conn: Connection, config: Config, account: str, rows: Sequence[RowMapping]
                   ) -> list[dict[str, Any]]:
    """DescribeVolumes items for ``rows`` (in bulk: one query per table)."""
    ids = [r["volume_id"] for r in rows]
    attached = attachments_of(conn, ids)
    tags = tags_of(conn, account, ids)
    zones = {name: zone_id(config.region, index) for index, name in enumerate(config.availability_zones, start=1)}
    return [volume_output(r, attached[r["volume_id"]], tags[r["volume_id"]], zones.get(r["availability_zone"], ""))
            for r in rows]


def volume_output(row: RowMapping, attached: Sequence[RowMapping], tags: list[dict[str, str]],
                  zone: str) -> dict[str, Any]:
    output: dict[str, Any] = {
        "VolumeId": row["volume_id"], "Size": row["size_gib"], "AvailabilityZone": row["availability_zone"],
        "AvailabilityZoneId": zone, "Operator": {"Managed": False},
        "State": api_state(row, attached), "CreateTime": row["create_time"], "VolumeType": row["volume_type"],
        "Encrypted": row["encrypted"], "SnapshotId": row["snapshot_id"] or "",
        "Attachments": [attachment_output(a) for a in attached], "MultiAttachEnabled": row["multi_attach"],
        "FastRestored": False, "Tags": tags}
    iops = rules.shown_iops(row["volume_type"], row["size_gib"], row["iops"])
    if iops is not None:
        output["Iops"] = iops
    if row["throughput"] is not None:
        output["Throughput"] = row["throughput"]
    if row["kms_key_arn"]:
        output["KmsKeyId"] = row["kms_key_arn"]
    return output


# --- what instances need -------------------------------------------------------------------------------------


def block_device_mappings(conn: Connection, instance_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Each instance's BlockDeviceMappings as DescribeInstances shows them, by device name."""
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in instance_ids}
    if instance_ids:
        for row in conn.execute(select(attachments).where(attachments.c.instance_id.in_(list(instance_ids)))
                                .order_by(attachments.c.device_name)).mappings():
            found[row["instance_id"]].append({"DeviceName": row["device_name"], "Ebs": {
                "AttachTime": row["attach_time"], "DeleteOnTermination": row["delete_on_termination"],
                "Status": row["state"], "VolumeId": row["volume_id"]}})
    return found


def root_volumes(conn: Connection, instance_ids: Sequence[str]) -> dict[str, RowMapping]:
    """Each instance's root volume row joined with its attachment (instances with an EBS root only)."""
    if not instance_ids:
        return {}
    rows = conn.execute(select(volumes, attachments.c.instance_id, attachments.c.delete_on_termination,
                               attachments.c.device_name)
                        .join(attachments, attachments.c.volume_id == volumes.c.volume_id)
                        .where(attachments.c.instance_id.in_(list(instance_ids)), attachments.c.is_root)).mappings()
    return {r["instance_id"]: r for r in rows}


def instance_exists(conn: Connection, account: str, instance_id: str) -> bool:
    """Whether the caller has this instance (not terminated)."""
    table = instance_state.instances
    return conn.execute(select(table.c.instance_id).where(
        table.c.instance_id == instance_id, table.c.account_id == account, table.c.state != "terminated")
    ).first() is not None


def instance_attachments(conn: Connection, instance_id: str) -> list[RowMapping]:
    """The instance's attachments, by device name."""
    return conn.execute(select(attachments).where(attachments.c.instance_id == instance_id)
                        .order_by(attachments.c.device_name)).mappings().all()


def root_size(conn: Connection, instance_id: str) -> int | None:
    """The size in GiB of the instance's root volume (None for an instance-store root)."""
    row = root_volumes(conn, [instance_id]).get(instance_id)
    return None if row is None else row["size_gib"]


def set_delete_on_termination(conn: Connection, instance_id: str, device: str | None, value: bool) -> bool:
    """ModifyInstanceAttribute's BlockDeviceMapping: False when no volume is attached at ``device``."""
    result = conn.execute(update(attachments).where(attachments.c.instance_id == instance_id,
                                                    attachments.c.device_name == device)
                          .values(delete_on_termination=value))
    return result.rowcount > 0


def release_instance_volumes(conn: Connection, instance_id: str) -> None:
    """A terminated instance's volumes: those marked DeleteOnTermination are deleted (their files go with
    the host's next document), the others become available volumes, the root one included."""
    rows = conn.execute(select(attachments).where(attachments.c.instance_id == instance_id)).mappings().all()
    conn.execute(delete(attachments).where(attachments.c.instance_id == instance_id))
    doomed = [r["volume_id"] for r in rows if r["delete_on_termination"]]
    if doomed:
        others = {r[0] for r in conn.execute(select(attachments.c.volume_id).where(
            attachments.c.volume_id.in_(doomed)))}  # a Multi-Attach volume still used elsewhere stays
        conn.execute(update(volumes).where(volumes.c.volume_id.in_([v for v in doomed if v not in others]))
                     .values(state=DELETING))


def restoring_from(conn: Connection, snapshot_id: str) -> list[str]:
    """The volumes still being made from ``snapshot_id`` (their hosts read its data)."""
    return [r[0] for r in conn.execute(select(volumes.c.volume_id).where(
        volumes.c.snapshot_id == snapshot_id, volumes.c.state == CREATING).order_by(volumes.c.volume_id))]


def forget_volume(conn: Connection, volume_id: str) -> None:
    """Remove a deleted volume's rows once its host no longer has its file."""
    conn.execute(delete(modifications).where(modifications.c.volume_id == volume_id))
    conn.execute(delete(attachments).where(attachments.c.volume_id == volume_id))
    conn.execute(delete(volumes).where(volumes.c.volume_id == volume_id))
    drop_tags(conn, [volume_id])
