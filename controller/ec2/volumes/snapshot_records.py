"""Which snapshots an account sees and may restore, including the root snapshots of AMIs.

A snapshot is visible to its owner, to the accounts its createVolumePermission names, and to everyone
when it is public (``all``). The root snapshot of an EBS-backed AMI is a snapshot too, as in AWS (its
data is the image's root disk in the image store): it belongs to the image's owner, is public when the
image is, cannot be deleted while the image exists (InvalidSnapshot.InUse), and volumes can be created
from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, RowMapping, or_, select

from controller.config import Config
from controller.ec2.ids import SNAPSHOT
from controller.ec2.instances import image_store
from controller.ec2.instances import state as instance_state
from controller.ec2.volumes.state import snapshot_permissions, snapshots

#: The VolumeId AWS shows for a snapshot that was not taken of a volume of this region (AMI roots, copies).
NO_VOLUME = "vol-ffffffff"


@dataclass(frozen=True)
class Restorable:
    """What CreateVolume needs of the snapshot it restores."""

    snapshot_id: str
    owner: str
    size_gib: int
    state: str
    kms_key_arn: str | None
    data_key: bytes | None
    key_context: str | None
    #: The AMI whose root disk holds the data (None: the data is in the snapshot blob store).
    image_id: str | None = None


def visible_condition(account: str):  # noqa: ANN201  (a SQLAlchemy boolean clause)
    granted = select(snapshot_permissions.c.snapshot_id).where(
        snapshot_permissions.c.grantee.in_([account, "all"]))
    return or_(snapshots.c.account_id == account, snapshots.c.snapshot_id.in_(granted))


def image_snapshots(conn: Connection, account: str | None = None) -> list[RowMapping]:
    """The AMIs that own a root snapshot and still exist (those ``account`` may see, or all)."""
    images = instance_state.images
    query = select(images).where(images.c.root_snapshot_id.is_not(None), images.c.state != "deregistered")
    if account is not None:
        query = query.where(or_(images.c.account_id == account, images.c.public))
    return conn.execute(query).mappings().all()


def restorable(conn: Connection, account: str, snapshot_id: str | None) -> Restorable:
    """A snapshot ``account`` may create a volume from, or InvalidSnapshot.NotFound / Malformed."""
    if snapshot_id and SNAPSHOT.well_formed(snapshot_id):
        row = conn.execute(select(snapshots).where(snapshots.c.snapshot_id == snapshot_id,
                                                   visible_condition(account))).mappings().first()
        if row is not None:
            return Restorable(row["snapshot_id"], row["account_id"], row["volume_size_gib"], row["state"],
                              row["kms_key_arn"] if row["encrypted"] else None, row["data_key"], row["key_context"])
        images = instance_state.images
        image = conn.execute(select(images).where(images.c.root_snapshot_id == snapshot_id,
                                                  images.c.state != "deregistered",
                                                  or_(images.c.account_id == account, images.c.public))
                             ).mappings().first()
        if image is not None:
            state = "completed" if image["state"] == "available" else "pending"
            return Restorable(snapshot_id, image["account_id"], image["root_size_gib"], state, None, None, None,
                              image_id=image["image_id"])
    raise SNAPSHOT.missing([snapshot_id or ""])


def image_using(conn: Connection, snapshot_id: str) -> str | None:
    """The AMI whose root is this snapshot, while the image exists."""
    images = instance_state.images
    return conn.execute(select(images.c.image_id).where(images.c.root_snapshot_id == snapshot_id,
                                                        images.c.state != "deregistered")).scalar()


def snapshot_output(row: RowMapping, tags: list[dict[str, str]]) -> dict[str, Any]:
    """A DescribeSnapshots item of a snapshot row."""
    output: dict[str, Any] = {
        "SnapshotId": row["snapshot_id"], "VolumeId": row["volume_id"], "State": row["state"],
        "StartTime": row["start_time"], "Progress": "100%" if row["state"] == "completed" else "0%",
        "OwnerId": row["account_id"], "Description": row["description"], "VolumeSize": row["volume_size_gib"],
        "Encrypted": row["encrypted"], "StorageTier": "standard", "TransferType": "standard", "Tags": tags}
    if row["state_message"]:
        output["StateMessage"] = row["state_message"]
    if row["kms_key_arn"]:
        output["KmsKeyId"] = row["kms_key_arn"]
    if row["completion_time"] is not None:
        output["CompletionTime"] = row["completion_time"]
    if row["data_size"] is not None:
        output["FullSnapshotSizeInBytes"] = row["data_size"]
    return output


def image_snapshot_output(image: RowMapping) -> dict[str, Any]:
    """The root snapshot of an AMI, as DescribeSnapshots shows it."""
    output: dict[str, Any] = {
        "SnapshotId": image["root_snapshot_id"], "VolumeId": NO_VOLUME,
        "State": "completed" if image["state"] == "available" else "pending", "StartTime": image["created_at"],
        "Progress": "100%" if image["state"] == "available" else "0%", "OwnerId": image["account_id"],
        "Description": f"Created by CreateImage for {image['image_id']}", "VolumeSize": image["root_size_gib"],
        "Encrypted": False, "StorageTier": "standard", "TransferType": "standard", "Tags": []}
    if image["owner_alias"]:
        output["OwnerAlias"] = image["owner_alias"]
    return output


def image_root_disk(conn: Connection, config: Config, image_id: str) -> Path:
    """The file that holds an AMI's root snapshot data (its root disk in the image store)."""
    images = instance_state.images
    files = conn.execute(select(images.c.files).where(images.c.image_id == image_id)).scalar() or {}
    if "root_disk" not in files:
        raise SNAPSHOT.missing([image_id])
    return image_store.image_dir(config, image_id) / files["root_disk"]["file"]
