"""The ``instances`` section of a host's desired document (``agent.contract.instances``), read from the
EC2 tables.

A pure read, run on every long-poll wake-up: the instances placed on the host and not terminated, their
type scaled for the homelab (``instance_types.guest_size``), root disk, instance store, interfaces, plugged
EBS volumes (contract C: device, I/O caps, LUKS passphrase), reboot/start counters, pending CreateImage
captures, the live migrations the host takes part in (``incoming``, ``migrate_to``:
``controller.ec2.instances.migrations``), the stopped instances' disks it sends or fetches (``send_disk``,
``disk_from``: ``controller.ec2.instances.disk_moves``), and each AMI's files.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, or_, select

from agent.contract.codec import to_json
from agent.contract.instances import (
    DesiredInstance,
    ImageCapture,
    InstanceNic,
    InstancesSection,
    InstanceStoreDisk,
    MigrationTarget,
    RootDisk,
)
from controller.config import Config
from controller.ec2.instances import disk_moves, image_store, instance_types, lifecycle, migrations
from controller.ec2.instances import state as instance_state
from controller.ec2.volumes import records
from controller.ec2.volumes.desired_volumes import instance_volumes
from controller.ec2.volumes.encryption import KmsView
from controller.ec2.vpc import state
from controller.hosts.desired import HostContext
from controller.state import Database

GIB = 1 << 30


def _by_instance(rows: list[Any]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row["instance_id"], []).append(row)
    return grouped


def host_instances(conn: Connection, config: Config, host_id: str, db: Database | None = None) -> InstancesSection:
    """The section for ``host_id`` (see the module docstring); ``db`` lets KMS open encrypted volumes' keys
    (without it, encrypted volumes are left out)."""
    instances = instance_state.instances
    arriving = migrations.incoming(conn, host_id)
    leaving = migrations.outgoing_targets(conn, host_id)
    sending, fetching = disk_moves.sending(conn, host_id), disk_moves.fetching(conn, host_id)
    rows = conn.execute(select(instances).where(or_(instances.c.host_id == host_id,
                                                    instances.c.instance_id.in_(arriving)),
                                                instances.c.state != lifecycle.TERMINATED)
                        .order_by(instances.c.instance_id)).mappings().all()
    ids = [r["instance_id"] for r in rows]
    eni = state.network_interfaces
    nics = _by_instance(conn.execute(select(eni.c.instance_id, eni.c.device_index, eni.c.mac_address,
                                            eni.c.network_interface_id, eni.c.vpc_id, eni.c.subnet_id)
                                     .where(eni.c.instance_id.in_(ids)).order_by(eni.c.device_index)).mappings().all())
    roots = records.root_volumes(conn, ids)
    plugged = instance_volumes(conn, KmsView(db, config) if db is not None else None, ids)
    captures = instance_state.image_captures
    pending = _by_instance(conn.execute(select(captures).where(captures.c.instance_id.in_(ids))).mappings().all())
    images = instance_state.images
    image_rows = {r["image_id"]: r for r in conn.execute(select(images).where(
        images.c.image_id.in_({r["image_id"] for r in rows}))).mappings()}
    section = []
    for row in rows:
        instance_id = row["instance_id"]
        instance_type = instance_types.lookup(row["instance_type"])
        size = instance_types.guest_size(instance_type, config)
        image = image_rows[row["image_id"]]
        root = roots.get(instance_id)
        store_bytes = (instance_type.instance_store_gb // instance_type.instance_store_disks * 1_000_000_000
                       if instance_type.instance_store_disks else 0)
        section.append(DesiredInstance(
            instance_id=instance_id, state=lifecycle.wanted(row["state"]), instance_type=instance_type.name,
            vcpus=size.vcpus, memory_mib=size.memory_mib, image_id=row["image_id"],
            root_disk=RootDisk(
                volume_id=root["volume_id"] if root else f"vol-{instance_id[2:]}",
                size_bytes=root["size_gib"] * GIB if root else image["files"]["root_disk"]["virtual_size"],
                delete_on_termination=root["delete_on_termination"] if root else True),
            instance_store=[InstanceStoreDisk(f"ephemeral{i}", store_bytes)
                            for i in range(instance_type.instance_store_disks)],
            nics=[InstanceNic(n["device_index"], n["mac_address"], n["network_interface_id"], n["vpc_id"],
                              n["subnet_id"]) for n in nics.get(instance_id, [])],
            reboot_serial=row["reboot_serial"], start_serial=row["start_serial"],
            captures=[ImageCapture(c["image_id"], c["no_reboot"]) for c in pending.get(instance_id, [])],
            volumes=plugged[instance_id], incoming=instance_id in arriving,
            migrate_to=MigrationTarget(**leaving[instance_id]) if instance_id in leaving else None,
            send_disk=instance_id in sending, disk_from=fetching.get(instance_id)))
    return InstancesSection(instances=section, images={
        image_id: image_store.agent_view(config, image_id, dict(row)) for image_id, row in image_rows.items()
        if row["files"]})


def instances_section(ctx: HostContext) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return to_json(host_instances(conn, ctx.config, ctx.host_id, ctx.db))

