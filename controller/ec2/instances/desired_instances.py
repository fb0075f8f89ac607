"""The ``instances`` section of a host's desired document: what its compute agent must run.

For every instance placed on the host and not yet terminated: what the agent must make of it
(``running``, ``stopped``, or ``terminated`` while it is shutting down), its guest size (the type scaled
for the homelab), root disk, instance store, every attached network interface in device index order (MAC,
ENI, and the VPC and subnet whose bridge takes the tap: one attached or detached while the instance runs is
hot-plugged or unplugged by the agent, one changed while it is stopped is there at the next start), the
non-root EBS volumes to plug in (contract C: device, I/O caps, LUKS passphrase), the reboot and start
requests (counters: the agent acts once per new number) and CreateImage captures it must carry out, the
live migrations it takes part in (``incoming``, ``migrate_to``: ``controller.ec2.instances.migrations``), and
how to get each AMI's files. ``agent.compute.service`` consumes it. A pure read, run on every long-poll
wake-up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, or_, select

from controller.config import Config
from controller.ec2.instances import image_store, instance_types, lifecycle, migrations
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


def host_instances(conn: Connection, config: Config, host_id: str, db: Database | None = None) -> dict[str, Any]:
    """The section for ``host_id`` (see the module docstring); ``db`` lets KMS open encrypted volumes' keys
    (without it, encrypted volumes are left out)."""
    instances = instance_state.instances
    arriving = migrations.incoming(conn, host_id)
    leaving = migrations.outgoing_targets(conn, host_id)
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
        section.append({
            "instance_id": instance_id, "state": lifecycle.wanted(row["state"]),
            "instance_type": instance_type.name, "vcpus": size.vcpus, "memory_mib": size.memory_mib,
            "image_id": row["image_id"],
            "root_disk": {
                # An instance-store root has no volume of its own: it is named after the instance.
                "volume_id": root["volume_id"] if root else f"vol-{instance_id[2:]}",
                "size_bytes": root["size_gib"] * GIB if root else image["files"]["root_disk"]["virtual_size"],
                "delete_on_termination": root["delete_on_termination"] if root else True},
            "instance_store": [{"name": f"ephemeral{i}",
                                "size_bytes": instance_type.instance_store_gb // instance_type.instance_store_disks
                                * 1_000_000_000} for i in range(instance_type.instance_store_disks)],
            "nics": [{"device_index": n["device_index"], "mac": n["mac_address"],
                      "interface_id": n["network_interface_id"], "vpc_id": n["vpc_id"], "subnet_id": n["subnet_id"]}
                     for n in nics.get(instance_id, [])],
            "reboot_serial": row["reboot_serial"], "start_serial": row["start_serial"],
            "captures": [{"image_id": c["image_id"], "no_reboot": c["no_reboot"]} for c in pending.get(instance_id, [])],
            "volumes": plugged[instance_id],
            **({"incoming": True} if instance_id in arriving else {}),
            **({"migrate_to": leaving[instance_id]} if instance_id in leaving else {}),
        })
    return {"instances": section,
            "images": {image_id: image_store.agent_view(config, image_id, dict(row))
                       for image_id, row in image_rows.items() if row["files"]}}


def instances_section(ctx: HostContext) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return host_instances(conn, ctx.config, ctx.host_id, ctx.db)

