"""Live migrations in flight: which running instance moves from which host to which (``cloudlet host drain``).

A row here puts the instance in two hosts' desired documents at once (``desired_instances``): the source's
entry carries ``migrate_to`` (the target's migration endpoint, from its registration), the target's lists it
as ``incoming`` (prepare disk and taps, start nothing). The instance's own ``host_id`` stays the source's
until the target reports the guest running (:func:`arrived`): then the instance and its network interfaces
move to the target in one transaction and the generation is bumped, so both hosts' VXLAN forwarding
entries and the source's cleanup follow. While the row exists the source's reports of the instance are not
judged (the guest leaving that host is not a disappearance).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, String, Table, delete, select, update

from controller.ec2.instances import state as instance_state
from controller.ec2.vpc import state as vpc_state
from controller.ec2.vpc.state import ID
from controller.hosts import generation
from controller.hosts.state import hosts
from controller.state import UtcDateTime, metadata, utcnow

instance_migrations = Table(
    "ec2_instance_migrations", metadata,
    Column("instance_id", String(ID), primary_key=True),
    Column("source_host_id", String(64), nullable=False, index=True),
    Column("target_host_id", String(64), nullable=False, index=True),
    Column("requested_at", UtcDateTime, nullable=False),
)


def request(conn: Connection, instance_id: str, source_host_id: str, target_host_id: str) -> None:
    """Start moving ``instance_id``; a request already in flight is replaced (a drain run again)."""
    conn.execute(delete(instance_migrations).where(instance_migrations.c.instance_id == instance_id))
    conn.execute(instance_migrations.insert().values(instance_id=instance_id, source_host_id=source_host_id,
                                                     target_host_id=target_host_id, requested_at=utcnow()))
    generation.bump(conn)


def cancel(conn: Connection, instance_id: str) -> None:
    """Give up moving ``instance_id`` (it stays where it runs)."""
    if conn.execute(delete(instance_migrations).where(instance_migrations.c.instance_id == instance_id)).rowcount:
        generation.bump(conn)


def pending(conn: Connection, instance_id: str) -> tuple[str, str] | None:
    """(source host, target host) of the migration of ``instance_id`` in flight, if any."""
    row = conn.execute(select(instance_migrations.c.source_host_id, instance_migrations.c.target_host_id)
                       .where(instance_migrations.c.instance_id == instance_id)).first()
    return (row[0], row[1]) if row is not None else None


def leaving(conn: Connection, host_id: str) -> set[str]:
    """The instances moving away from ``host_id``."""
    return set(conn.execute(select(instance_migrations.c.instance_id)
                            .where(instance_migrations.c.source_host_id == host_id)).scalars())


def outgoing_targets(conn: Connection, host_id: str) -> dict[str, dict[str, Any]]:
    """For each instance leaving ``host_id``: where its agent sends it (the ``migrate_to`` of its entry)."""
    rows = conn.execute(select(instance_migrations.c.instance_id, instance_migrations.c.target_host_id,
                               hosts.c.migration)
                        .join(hosts, hosts.c.host_id == instance_migrations.c.target_host_id)
                        .where(instance_migrations.c.source_host_id == host_id)).all()
    return {instance_id: {"host_id": target, **migration} for instance_id, target, migration in rows if migration}


def incoming(conn: Connection, host_id: str) -> set[str]:
    """The instances on their way to ``host_id``."""
    return set(conn.execute(select(instance_migrations.c.instance_id)
                            .where(instance_migrations.c.target_host_id == host_id)).scalars())


def arrived(conn: Connection, host_id: str, running: set[str]) -> list[str]:
    """Of the instances on their way to ``host_id``, those it reports ``running``: moved to it (the instance
    and its interfaces), their migration done. Returns their ids."""
    done = sorted(incoming(conn, host_id) & running)
    if not done:
        return []
    instances = instance_state.instances
    interfaces = vpc_state.network_interfaces
    conn.execute(update(instances).where(instances.c.instance_id.in_(done)).values(host_id=host_id))
    conn.execute(update(interfaces).where(interfaces.c.instance_id.in_(done)).values(host_id=host_id))
    conn.execute(delete(instance_migrations).where(instance_migrations.c.instance_id.in_(done)))
    generation.bump(conn)
    return done
