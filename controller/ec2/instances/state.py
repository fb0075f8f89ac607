"""The tables of EC2 compute: instances and their consoles, key pairs, AMIs, placement.

The VPC side of an instance (its interfaces, addresses, security groups) stays in the VPC tables
(:mod:`controller.ec2.vpc.state`): an instance's network is its ENIs. Here live what the controller
decides and remembers about the machine itself; its EBS volumes are in :mod:`controller.ec2.volumes.state`. The desired state an agent converges to is derived
from ``ec2_instances.state`` (pending/running: run it; stopping/stopped: keep it off; shutting-down:
remove it), so there is no second column that could disagree with what the API shows.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from controller.ec2.vpc.state import ID
from controller.state import JsonText, UtcDateTime, metadata

#: Announced (``Database.announce``) by every committed change of an instance's state, so that what acts on
#: instance states (Auto Scaling's reconciler) hears it at once rather than at its next timed look.
STATES_TOPIC = "ec2.instance-states"

key_pairs = Table(
    "ec2_key_pairs", metadata,
    Column("key_pair_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("key_name", String(255), nullable=False),
    #: rsa | ed25519
    Column("key_type", String(8), nullable=False),
    Column("fingerprint", String(128), nullable=False),
    #: The OpenSSH public key line (``ssh-ed25519 AAAA...``), what the instance's authorized_keys gets.
    Column("public_key", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("account_id", "key_name", name="ec2_key_name_per_account"),
)

images = Table(
    "ec2_images", metadata,
    Column("image_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    #: ``amazon`` for the images the cloud provides (``--owners amazon`` finds them).
    Column("owner_alias", String(16)),
    Column("name", String(128), nullable=False),
    Column("description", String(255)),
    #: pending | available | failed | deregistered
    Column("state", String(16), nullable=False),
    Column("state_reason", String(255)),
    Column("architecture", String(16), nullable=False),
    #: ebs: instances get a persistent root volume (stop/start keep it); instance-store: it dies with them.
    Column("root_device_type", String(16), nullable=False),
    Column("root_device_name", String(32), nullable=False),
    Column("root_snapshot_id", String(ID)),
    Column("root_size_gib", Integer, nullable=False),
    #: direct-kernel (the AMI carries kernel, initrd and command line) | disk (the root disk boots itself)
    Column("boot_mode", String(16), nullable=False),
    Column("cmdline", String(1024), nullable=False),
    #: {"root_disk"|"kernel"|"initrd": {"file", "sha256", "size"[, "virtual_size"]}}, files under the image's
    #: directory in the controller's image store.
    Column("files", JsonText, nullable=False),
    Column("image_location", String(1024)),
    Column("source_instance_id", String(ID)),
    Column("ena_support", Boolean, nullable=False),
    Column("public", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("deregistered_at", UtcDateTime),
    Column("last_launched_at", UtcDateTime),
)
#: AMI names are unique per account among images that still exist (a deregistered one frees its name).
Index("ec2_image_name_per_account", images.c.account_id, images.c.name, unique=True,
      sqlite_where=images.c.state != "deregistered", postgresql_where=images.c.state != "deregistered")

image_launch_permissions = Table(
    "ec2_image_launch_permissions", metadata,
    Column("image_id", String(ID), ForeignKey("ec2_images.image_id"), primary_key=True),
    Column("account_id", String(12), primary_key=True),
)

#: CreateImage requests an agent still has to carry out (copy the instance's root disk and upload it).
image_captures = Table(
    "ec2_image_captures", metadata,
    Column("image_id", String(ID), ForeignKey("ec2_images.image_id"), primary_key=True),
    Column("instance_id", String(ID), nullable=False, index=True),
    Column("no_reboot", Boolean, nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
)

placement_groups = Table(
    "ec2_placement_groups", metadata,
    Column("group_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("group_name", String(255), nullable=False),
    #: cluster | spread | partition
    Column("strategy", String(16), nullable=False),
    Column("partition_count", Integer),
    Column("spread_level", String(8)),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("account_id", "group_name", name="ec2_placement_group_name_per_account"),
)

dedicated_hosts = Table(
    "ec2_dedicated_hosts", metadata,
    Column("host_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("availability_zone", String(64), nullable=False),
    #: Either one instance type, or a family (AllowsMultipleInstanceTypes).
    Column("instance_type", String(32)),
    Column("instance_family", String(32)),
    Column("auto_placement", String(8), nullable=False),
    Column("host_recovery", String(8), nullable=False),
    #: available | released
    Column("state", String(16), nullable=False),
    #: The agent host that backs it, reserved for this account while the dedicated host exists.
    Column("physical_host_id", String(64), nullable=False, index=True),
    Column("client_token", String(64)),
    Column("allocated_at", UtcDateTime, nullable=False),
    Column("released_at", UtcDateTime),
)

instances = Table(
    "ec2_instances", metadata,
    Column("instance_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("reservation_id", String(ID), nullable=False, index=True),
    Column("image_id", String(ID), nullable=False, index=True),
    Column("instance_type", String(32), nullable=False),
    Column("architecture", String(16), nullable=False),
    #: pending | running | stopping | stopped | shutting-down | terminated (see instance_lifecycle)
    Column("state", String(16), nullable=False),
    Column("state_reason_code", String(64)),
    Column("state_reason_message", String(255)),
    Column("state_transition_reason", String(255), nullable=False),
    Column("state_changed_at", UtcDateTime, nullable=False),
    Column("launch_time", UtcDateTime, nullable=False),
    Column("terminated_at", UtcDateTime),
    #: The agent host it runs on (kept while stopped: its root volume lives there).
    Column("host_id", String(64), index=True),
    Column("availability_zone", String(64), nullable=False),
    Column("vpc_id", String(ID), nullable=False),
    Column("subnet_id", String(ID), nullable=False),
    Column("key_name", String(255)),
    Column("public_key", Text),
    Column("user_data", LargeBinary),
    Column("iam_instance_profile_arn", String(1024)),
    Column("iam_instance_profile_id", String(32)),
    Column("iam_association_id", String(ID)),
    Column("placement_group_id", String(ID), index=True),
    Column("partition_number", Integer),
    #: default | dedicated | host
    Column("tenancy", String(16), nullable=False),
    Column("dedicated_host_id", String(ID), index=True),
    Column("affinity", String(8)),
    Column("ami_launch_index", Integer, nullable=False),
    Column("client_token", String(64)),
    Column("disable_api_termination", Boolean, nullable=False),
    Column("disable_api_stop", Boolean, nullable=False),
    #: stop | terminate: what a shutdown from inside the guest does
    Column("shutdown_behavior", String(16), nullable=False),
    Column("ebs_optimized", Boolean, nullable=False),
    Column("monitoring", Boolean, nullable=False),
    Column("root_device_name", String(32), nullable=False),
    Column("root_device_type", String(16), nullable=False),
    #: {"HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint", "InstanceMetadataTags"}
    Column("metadata_options", JsonText, nullable=False),
    #: Bumped by RebootInstances; the agent reboots when it sees a number it has not acted on.
    Column("reboot_serial", Integer, nullable=False, default=0),
    Column("reboot_acknowledged", Integer, nullable=False, default=0),
    #: Bumped by StartInstances: tells the agent a shut-off domain must boot again, even when its guest was
    #: the one that powered it off (a StopInstances shuts guests down through ACPI, which looks the same).
    Column("start_serial", Integer, nullable=False, default=0),
)
Index("ec2_instance_client_token", instances.c.account_id, instances.c.client_token)

instance_consoles = Table(
    "ec2_instance_consoles", metadata,
    Column("instance_id", String(ID), ForeignKey("ec2_instances.instance_id"), primary_key=True),
    #: The last 64 KiB of the serial console, as the agent last reported it.
    Column("output", LargeBinary, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

#: The instance profile role's current temporary credentials (the session token is kept encrypted: IMDS
#: serves it again on every read until the set is rotated).
instance_credentials = Table(
    "ec2_instance_credentials", metadata,
    Column("instance_id", String(ID), ForeignKey("ec2_instances.instance_id"), primary_key=True),
    Column("role_arn", String(1024), nullable=False),
    Column("access_key_id", String(32), nullable=False),
    Column("session_token_encrypted", Text, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

#: Spot instance requests: one per spot instance (RunInstances with the spot market makes one-time requests
#: that are fulfilled at once). ``interruption_*`` are set when an on-demand launch reclaims the instance's
#: capacity: IMDS shows the notice from ``noticed_at``, and at ``interrupt_at`` the instance is stopped or
#: terminated by ``interruption_behavior`` (controller/ec2/instances/spot.py).
spot_requests = Table(
    "ec2_spot_requests", metadata,
    Column("spot_instance_request_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("instance_id", String(ID), index=True),
    #: open | active | closed | cancelled | failed | disabled
    Column("state", String(16), nullable=False),
    Column("status_code", String(64), nullable=False),
    Column("status_message", String(255), nullable=False),
    Column("status_updated_at", UtcDateTime, nullable=False),
    #: one-time | persistent
    Column("request_type", String(16), nullable=False),
    Column("max_price", String(32)),
    #: terminate | stop | hibernate
    Column("interruption_behavior", String(16), nullable=False),
    Column("availability_zone", String(64)),
    Column("instance_type", String(32), nullable=False),
    #: What DescribeSpotInstanceRequests answers as LaunchSpecification (the launch's own parameters).
    Column("launch_specification", JsonText, nullable=False),
    Column("valid_until", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("noticed_at", UtcDateTime),
    Column("interrupt_at", UtcDateTime, index=True),
)
