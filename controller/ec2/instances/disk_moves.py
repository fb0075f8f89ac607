"""Stopped instances moving to another host with their disk (``cloudlet host drain``), one row per move.

A stopped instance has no guest to live-migrate: only its root overlay (the qcow2 over the AMI, which every
host caches) must travel, and it travels through the controller. The steps, each driven by the hosts'
desired documents like everything else:

1. :func:`request`: the source host's entry of the instance carries ``send_disk``; its agent uploads the
   overlay (``PUT /hosts/<source>/instance-disks/<instance>``, sha256 checked) into :func:`staged_path`.
2. :func:`staged`: once the upload is stored, the instance belongs to the target (generation bumped; its
   network interfaces are unplugged while it is stopped, and a start plugs them on its host, now the target). The source's section no longer lists it, so its agent removes the domain and files;
   the target's lists it with ``disk_from``, so its agent downloads the staged overlay, rebases it onto its
   own copy of the AMI, then defines the domain (stopped, or started if a StartInstances came meanwhile).
3. :func:`landed`: the target reports the instance (its domain exists): the move is done, the staged file
   can go (the caller deletes it). A move whose instance was terminated meanwhile ends the same way.

Until step 2 the move can be given up (:func:`cancel`): nothing left the source. After it the staged file is
the instance's only copy until the target has it, so it is kept until :func:`landed`.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import BigInteger, Column, Connection, String, Table, delete, select, update

from agent.contract.instances import StagedDisk
from controller.config import Config
from controller.ec2.instances import lifecycle
from controller.ec2.instances import state as instance_state
from controller.ec2.vpc.state import ID
from controller.hosts import generation
from controller.state import UtcDateTime, metadata, utcnow

disk_moves = Table(
    "ec2_instance_disk_moves", metadata,
    Column("instance_id", String(ID), primary_key=True),
    Column("source_host_id", String(64), nullable=False, index=True),
    Column("target_host_id", String(64), nullable=False, index=True),
    Column("requested_at", UtcDateTime, nullable=False),
    #: Set once the source's upload is stored (the instance then belongs to the target).
    Column("sha256", String(64), nullable=True),
    Column("size_bytes", BigInteger, nullable=True),
)


class NotMovable(Exception):
    """The upload cannot complete the move: no move of the instance from that host waits for it."""


class NoLongerStopped(NotMovable):
    """The instance was started or terminated since the move was asked for: the move must be given up
    (:func:`cancel`)."""


def staged_path(config: Config, instance_id: str) -> Path:
    """Where the controller keeps an instance's overlay between the two hosts."""
    return config.data_dir / "instance-disks" / f"{instance_id}.qcow2"


def request(conn: Connection, instance_id: str, source_host_id: str, target_host_id: str) -> None:
    """Start moving the stopped ``instance_id``; a move not yet uploaded is replaced (a drain run again)."""
    conn.execute(delete(disk_moves).where(disk_moves.c.instance_id == instance_id, disk_moves.c.sha256.is_(None)))
    if conn.execute(select(disk_moves.c.instance_id).where(disk_moves.c.instance_id == instance_id)).first():
        return  # already uploaded: the target is fetching it
    conn.execute(disk_moves.insert().values(instance_id=instance_id, source_host_id=source_host_id,
                                            target_host_id=target_host_id, requested_at=utcnow()))
    generation.bump(conn)


def cancel(conn: Connection, instance_id: str) -> bool:
    """Give up a move whose disk has not left the source yet; False when it has (it can only go on)."""
    removed = conn.execute(delete(disk_moves).where(disk_moves.c.instance_id == instance_id,
                                                    disk_moves.c.sha256.is_(None))).rowcount
    if removed:
        generation.bump(conn)
    return bool(removed)


def in_flight(conn: Connection, instance_id: str) -> dict[str, object] | None:
    """The move of ``instance_id`` (its row), if any."""
    row = conn.execute(select(disk_moves).where(disk_moves.c.instance_id == instance_id)).mappings().first()
    return dict(row) if row is not None else None


def sending(conn: Connection, host_id: str) -> set[str]:
    """The instances whose disk ``host_id`` must upload (``send_disk``)."""
    return set(conn.execute(select(disk_moves.c.instance_id).where(
        disk_moves.c.source_host_id == host_id, disk_moves.c.sha256.is_(None))).scalars())


def fetching(conn: Connection, host_id: str) -> dict[str, StagedDisk]:
    """The staged disks ``host_id`` must download (``disk_from``), by instance."""
    rows = conn.execute(select(disk_moves).where(disk_moves.c.target_host_id == host_id,
                                                 disk_moves.c.sha256.is_not(None))).mappings()
    return {r["instance_id"]: StagedDisk(r["sha256"], r["size_bytes"], r["source_host_id"]) for r in rows}


def staged(conn: Connection, instance_id: str, source_host_id: str, sha256: str, size_bytes: int) -> str:
    """The source's upload is stored: the instance now belongs to the target. Returns the target. Raises :class:`NotMovable` when no move of a stopped instance from that host waits for it."""
    row = conn.execute(select(disk_moves).where(disk_moves.c.instance_id == instance_id,
                                                disk_moves.c.source_host_id == source_host_id,
                                                disk_moves.c.sha256.is_(None))).mappings().first()
    if row is None:
        raise NotMovable(f"no move of {instance_id} from {source_host_id} waits for its disk")
    instances = instance_state.instances
    current = conn.execute(select(instances.c.state, instances.c.host_id)
                           .where(instances.c.instance_id == instance_id)).first()
    if current is None or current.state != lifecycle.STOPPED or current.host_id != source_host_id:
        raise NoLongerStopped(f"{instance_id} is no longer stopped on {source_host_id}: its move is given up")
    target = row["target_host_id"]
    conn.execute(update(disk_moves).where(disk_moves.c.instance_id == instance_id)
                 .values(sha256=sha256, size_bytes=size_bytes))
    conn.execute(update(instances).where(instances.c.instance_id == instance_id).values(host_id=target))
    generation.bump(conn)
    return target


def landed(conn: Connection, host_id: str, present: set[str]) -> list[str]:
    """Of the disks moving to ``host_id``, those done: the instance is ``present`` there (its domain is
    defined on the moved disk) or was terminated meanwhile. Their rows go; the caller deletes their staged
    files. Returns their ids."""
    instances = instance_state.instances
    rows = conn.execute(select(disk_moves.c.instance_id, instances.c.state)
                        .join(instances, instances.c.instance_id == disk_moves.c.instance_id)
                        .where(disk_moves.c.target_host_id == host_id, disk_moves.c.sha256.is_not(None))).all()
    done = sorted(i for i, state in rows if i in present or state == lifecycle.TERMINATED)
    if done:
        conn.execute(delete(disk_moves).where(disk_moves.c.instance_id.in_(done)))
        generation.bump(conn)
    return done
