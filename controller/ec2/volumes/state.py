"""The tables of EBS: volumes, their attachments, snapshots, modifications and the account defaults.

A volume lives in one zone and, its data being a qcow2 file in one agent's storage pool, on one host of
that zone (``host_id``). Its stored ``state`` is what the volume itself is (creating, available,
deleting, error); the API's ``in-use`` is derived from the attachments, so the two can never disagree.
Root volumes are volumes too: RunInstances creates them with an ``is_root`` attachment.

``ec2_instance_volumes``, the table of earlier controllers (root volumes as attachment rows carrying
their size and type), is turned into rows of these tables once at start (:func:`migrate_legacy`).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    insert,
    inspect,
    text,
)

from controller.ec2.vpc.state import ID
from controller.state import JsonText, UtcDateTime, metadata, utcnow

volumes = Table(
    "ec2_volumes", metadata,
    Column("volume_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("availability_zone", String(64), nullable=False),
    #: The agent host whose storage pool keeps the file (the instance's host for a root volume).
    Column("host_id", String(64), index=True),
    Column("size_gib", Integer, nullable=False),
    #: gp2 | gp3 | io1 | io2 | st1 | sc1 | standard
    Column("volume_type", String(16), nullable=False),
    #: Provisioned IOPS and throughput (MiB/s) where the type has them (gp2's IOPS are its baseline).
    Column("iops", Integer),
    Column("throughput", Integer),
    Column("encrypted", Boolean, nullable=False),
    Column("kms_key_arn", String(2048)),
    #: The KMS data key that encrypts the volume, as KMS's ciphertext (never the plaintext).
    Column("data_key", LargeBinary),
    #: The volume id KMS bound the data key to (``aws:ebs:id``): this volume's, or the first volume's of the
    #: snapshot it was restored from (the restored data is encrypted with that same key).
    Column("key_context", String(ID)),
    Column("snapshot_id", String(ID)),
    Column("multi_attach", Boolean, nullable=False, default=False),
    #: creating | available | deleting | error (``in-use`` is derived from the attachments)
    Column("state", String(16), nullable=False),
    Column("fault", String(255)),
    Column("auto_enable_io", Boolean, nullable=False, default=False),
    Column("client_token", String(64)),
    Column("create_time", UtcDateTime, nullable=False),
)
Index("ec2_volume_client_token", volumes.c.account_id, volumes.c.client_token)

attachments = Table(
    "ec2_volume_attachments", metadata,
    Column("volume_id", String(ID), ForeignKey("ec2_volumes.volume_id"), primary_key=True),
    Column("instance_id", String(ID), ForeignKey("ec2_instances.instance_id"), primary_key=True, index=True),
    Column("device_name", String(32), nullable=False),
    #: attaching | attached | detaching (a detached attachment is no row)
    Column("state", String(16), nullable=False),
    Column("delete_on_termination", Boolean, nullable=False),
    Column("is_root", Boolean, nullable=False),
    Column("attach_time", UtcDateTime, nullable=False),
    UniqueConstraint("instance_id", "device_name", name="ec2_one_volume_per_device"),
)

snapshots = Table(
    "ec2_snapshots", metadata,
    Column("snapshot_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    #: The volume it was taken of (kept after that volume is deleted, as AWS shows it).
    Column("volume_id", String(ID), nullable=False),
    Column("volume_size_gib", Integer, nullable=False),
    Column("description", String(255), nullable=False),
    #: pending | completed | error
    Column("state", String(16), nullable=False),
    Column("state_message", String(255)),
    Column("encrypted", Boolean, nullable=False),
    Column("kms_key_arn", String(2048)),
    #: The volume's data key (KMS ciphertext): the snapshot is LUKS with the same key, as its volume was.
    Column("data_key", LargeBinary),
    Column("key_context", String(ID)),
    #: The host that takes it (the volume's host); None once it is stored.
    Column("host_id", String(64), index=True),
    #: The snapshot's qcow2 in the snapshot blob store, and its size in bytes.
    Column("blob_id", String(64)),
    Column("data_size", Integer),
    Column("source_snapshot_id", String(ID)),
    Column("start_time", UtcDateTime, nullable=False),
    Column("completion_time", UtcDateTime),
)

#: createVolumePermission: an account id, or ``all`` for a public snapshot.
snapshot_permissions = Table(
    "ec2_snapshot_permissions", metadata,
    Column("snapshot_id", String(ID), ForeignKey("ec2_snapshots.snapshot_id"), primary_key=True),
    Column("grantee", String(12), primary_key=True),
)

#: The latest ModifyVolume of each volume (what DescribeVolumesModifications shows).
modifications = Table(
    "ec2_volume_modifications", metadata,
    Column("volume_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("original_size", Integer, nullable=False),
    Column("original_type", String(16), nullable=False),
    Column("original_iops", Integer),
    Column("original_throughput", Integer),
    Column("original_multi_attach", Boolean, nullable=False),
    Column("target_size", Integer, nullable=False),
    Column("target_type", String(16), nullable=False),
    Column("target_iops", Integer),
    Column("target_throughput", Integer),
    Column("target_multi_attach", Boolean, nullable=False),
    Column("start_time", UtcDateTime, nullable=False),
    #: When the host reported the new size, or the request time when the size did not change (None: still
    #: modifying).
    Column("reached_at", UtcDateTime),
    #: Start times of the volume's modifications in the last 24 hours (AWS allows four).
    Column("recent_starts", JsonText, nullable=False),
)

#: EnableEbsEncryptionByDefault / ModifyEbsDefaultKmsKeyId, per account (no row: off, alias/aws/ebs).
encryption_defaults = Table(
    "ec2_ebs_encryption_defaults", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("kms_key_id", String(2048)),
)


def migrate_legacy(conn: Connection) -> int:
    """Turn the rows of the pre-EBS ``ec2_instance_volumes`` table into volumes and attachments, then drop
    it; returns how many volumes were carried over (0 when the table is not there)."""
    if not inspect(conn).has_table("ec2_instance_volumes"):
        return 0
    rows = conn.execute(text(
        "SELECT v.volume_id, v.instance_id, v.account_id, v.device_name, v.size_gib, v.volume_type, "
        "v.delete_on_termination, v.is_root, v.snapshot_id, v.attach_time, i.availability_zone, i.host_id, i.state "
        "FROM ec2_instance_volumes v JOIN ec2_instances i ON i.instance_id = v.instance_id")).mappings().all()
    now = utcnow()
    carried = 0
    for row in rows:
        conn.execute(insert(volumes).values(
            volume_id=row["volume_id"], account_id=row["account_id"], availability_zone=row["availability_zone"],
            host_id=row["host_id"], size_gib=row["size_gib"], volume_type=row["volume_type"], encrypted=False,
            snapshot_id=row["snapshot_id"], multi_attach=False, state="available", auto_enable_io=False,
            create_time=now))
        if row["state"] != "terminated":
            conn.execute(insert(attachments).values(
                volume_id=row["volume_id"], instance_id=row["instance_id"], device_name=row["device_name"],
                state="attached", delete_on_termination=bool(row["delete_on_termination"]),
                is_root=bool(row["is_root"]), attach_time=now))
        carried += 1
    conn.execute(text("DROP TABLE ec2_instance_volumes"))
    return carried
