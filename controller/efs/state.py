"""EFS's tables: file systems, their mount targets and access points, and account preferences.

A mount target's network side (its ENI, address, security groups) belongs to EC2 and is reached only
through ``controller.ec2.vpc.eni_records``; the row here keeps the ENI's id with the address and MAC
it was given, which the ``efs`` host section hands to the agent. Lifecycle states that change with
time alone (``creating`` -> ``available``) are computed from ``created_at`` (``records.py``), so no
job has to run on time.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from controller.state import JsonText, UtcDateTime, metadata

file_systems = Table(
    "efs_file_systems", metadata,
    Column("file_system_id", String(32), primary_key=True),
    #: creation order, for paging (Marker)
    Column("seq", Integer, nullable=False, unique=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("region", String(32), nullable=False),
    Column("creation_token", String(64), nullable=False),
    Column("performance_mode", String(16), nullable=False),
    Column("throughput_mode", String(16), nullable=False),
    Column("provisioned_mibps", Float),
    #: when the throughput mode last changed or provisioned throughput last went down (the 24-hour rule)
    Column("throughput_restricted_at", UtcDateTime),
    Column("encrypted", Boolean, nullable=False),
    Column("kms_key_arn", String(256)),
    #: One Zone file systems only
    Column("availability_zone", String(64)),
    Column("backup_status", String(16), nullable=False),
    Column("lifecycle_policies", JsonText, nullable=False, default=list),
    Column("policy", Text),
    Column("replication_overwrite_protection", String(16), nullable=False, default="ENABLED"),
    Column("tags", JsonText, nullable=False, default=list),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("account_id", "region", "creation_token"),
)

mount_targets = Table(
    "efs_mount_targets", metadata,
    Column("mount_target_id", String(32), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("file_system_id", String(32), ForeignKey("efs_file_systems.file_system_id"), nullable=False,
           index=True),
    Column("account_id", String(12), nullable=False),
    Column("vpc_id", String(40), nullable=False),
    Column("subnet_id", String(40), nullable=False),
    Column("availability_zone", String(64), nullable=False),
    Column("network_interface_id", String(40), nullable=False, unique=True),
    Column("ip_address", String(64), nullable=False),
    Column("mac_address", String(17), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    #: one mount target per zone per file system (MountTargetConflict)
    UniqueConstraint("file_system_id", "availability_zone"),
)

access_points = Table(
    "efs_access_points", metadata,
    Column("access_point_id", String(32), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("file_system_id", String(32), ForeignKey("efs_file_systems.file_system_id"), nullable=False,
           index=True),
    Column("account_id", String(12), nullable=False),
    Column("client_token", String(64), nullable=False),
    Column("posix_user", JsonText),
    Column("root_directory", JsonText, nullable=False),
    Column("tags", JsonText, nullable=False, default=list),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("account_id", "client_token"),
)

#: PutAccountPreferences: the id length of new file systems and mount targets.
account_preferences = Table(
    "efs_account_preferences", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("resource_id_type", String(16), nullable=False),
)
