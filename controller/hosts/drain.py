"""``cloudlet host drain HOST``: move the host's instances to other hosts of its zone.

For each running instance the scheduler picks a target among the zone's other schedulable hosts that
registered a migration endpoint (``agent --migration-uri``), exactly as it places a launch; a migration
request (``controller.ec2.instances.migrations``) then puts the instance in both hosts' documents and the two
agents carry it out (``agent.compute.migration``). The instance keeps its id, private addresses, MACs and
ENIs; its host changes when the target reports the guest running, which also moves its VXLAN forwarding
entries on every host. The command waits for each move and prints one line per instance.

Stopped instances move their disk instead (``controller.ec2.instances.disk_moves``): the source's agent
uploads the root overlay to the controller, the instance then belongs to the target, whose agent downloads
the overlay, rebases it onto its own copy of the AMI and defines the domain, stopped. Their target needs no
migration endpoint. A stopped instance with a non-root EBS volume attached stays (the volume's file lives
in the source host's pool, which nothing copies yet): drain says so, and what to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from controller.config import Config
from controller.ec2.instances import disk_moves, lifecycle, migrations, placement, scheduler
from controller.ec2.instances import state as instance_state
from controller.ec2.volumes.state import attachments
from controller.hosts.state import hosts
from controller.state import Database

#: How long one instance may take to move (a TCG guest's memory and overlay at loopback speed: seconds).
MIGRATION_TIMEOUT = 180.0


@dataclass(frozen=True)
class Move:
    instance_id: str
    target_host_id: str


class NoTarget(Exception):
    """No other host of the zone can take the instance; the message says why."""


def choose_target(conn: Connection, config: Config, row: dict[str, Any], source_host_id: str, *,
                  live: bool = True) -> str:
    """The host the scheduler would place ``row``'s instance on, among the other schedulable hosts of its zone
    (that take live migrations, when ``live``: a stopped instance's disk travels through the controller)."""
    zone = conn.execute(select(hosts.c.zone).where(hosts.c.host_id == source_host_id)).scalar()
    takers = {h for h, endpoint in conn.execute(select(hosts.c.host_id, hosts.c.migration)) if endpoint or not live}
    candidates = [h for h in placement.scheduler_hosts(conn, config, exclude=row["instance_id"])
                  if h.host_id != source_host_id and h.host_id in takers]
    if not candidates and live:
        raise NoTarget(f"no other host in {zone} takes live migrations (start its agent with --migration-uri)")
    if not candidates:
        raise NoTarget(f"no other host in {zone} takes new work (`cloudlet host list` shows them)")
    guest = placement.guest_of(row, config)
    request = scheduler.Request(guest.account_id, guest.vcpus, guest.memory_mib, zones=(zone,),
                                tenancy=guest.tenancy)
    try:
        _zone, placements = scheduler.place(request, candidates, placement.capacity(config))
    except scheduler.NoCapacity as exc:
        raise NoTarget(f"no host in {zone} has room for it: {exc}") from exc
    return placements[0].host_id


def evacuate(db: Database, config: Config, host_id: str, say: Callable[[str], None],
             timeout: float = MIGRATION_TIMEOUT) -> list[str]:
    """Move every running (live) and stopped (its disk) instance of ``host_id`` away, one at a time; the ids
    that could not move."""
    table = instance_state.instances
    with db.read() as conn:
        rows = [dict(r) for r in conn.execute(select(table).where(table.c.host_id == host_id)
                                              .order_by(table.c.instance_id)).mappings()]
    failed = []
    for row in rows:
        instance_id = row["instance_id"]
        if row["state"] == lifecycle.STOPPED:
            if not move_disk(db, config, row, host_id, say, timeout):
                failed.append(instance_id)
            continue
        if row["state"] != lifecycle.RUNNING:
            continue
        try:
            with db.begin() as conn:
                target = choose_target(conn, config, row, host_id)
                migrations.request(conn, instance_id, host_id, target)
        except NoTarget as exc:
            say(f"    {instance_id}: stays: {exc}")
            failed.append(instance_id)
            continue
        say(f"==> {instance_id}: live-migrating to {target}")
        started = time.monotonic()
        if _wait_moved(db, Move(instance_id, target), started + timeout):
            say(f"    {instance_id}: running on {target} ({time.monotonic() - started:.1f} s)")
            continue
        with db.begin() as conn:
            migrations.cancel(conn, instance_id)
        say(f"    {instance_id}: not moved within {timeout:.0f} s; it keeps running on {host_id}. The agents' logs "
            f"say why (`migration of {instance_id}`); run `cloudlet host drain {host_id}` again to retry.")
        failed.append(instance_id)
    return failed


def move_disk(db: Database, config: Config, row: dict[str, Any], host_id: str, say: Callable[[str], None],
              timeout: float = MIGRATION_TIMEOUT) -> bool:
    """Move the stopped instance of ``row`` and its disk to another host of the zone; whether it moved."""
    instance_id = row["instance_id"]
    try:
        with db.begin() as conn:
            volumes = non_root_volumes(conn, instance_id)
            if volumes:
                raise NoTarget(f"EBS volume {', '.join(volumes)} is attached and its file stays on {host_id}: "
                               "detach it and drain again, or terminate the instance")
            target = choose_target(conn, config, row, host_id, live=False)
            disk_moves.request(conn, instance_id, host_id, target)
    except NoTarget as exc:
        say(f"    {instance_id}: stopped, stays: {exc}")
        return False
    say(f"==> {instance_id}: stopped, moving its disk to {target}")
    started = time.monotonic()
    deadline, uploaded = started + timeout, False
    while time.monotonic() < deadline:
        with db.read() as conn:
            move = disk_moves.in_flight(conn, instance_id)
            now_on = conn.execute(select(instance_state.instances.c.host_id)
                                  .where(instance_state.instances.c.instance_id == instance_id)).scalar()
        if move is None:
            if now_on == target:
                say(f"    {instance_id}: stopped on {target} ({time.monotonic() - started:.1f} s)")
                return True
            say(f"    {instance_id}: not moved: it was started or terminated meanwhile; drain again once it "
                "is stopped")
            return False
        if move["size_bytes"] is not None and not uploaded:
            uploaded = True
            say(f"    {instance_id}: its disk ({move['size_bytes'] / (1 << 20):.0f} MiB) is on the controller; "
                f"{target} fetches it")
        time.sleep(0.2)
    with db.begin() as conn:
        given_up = disk_moves.cancel(conn, instance_id)
    if given_up:
        say(f"    {instance_id}: {host_id} did not upload its disk within {timeout:.0f} s; it stays there. The "
            f"agent's log says why (`disk of {instance_id}`); run `cloudlet host drain {host_id}` again to retry.")
    else:
        say(f"    {instance_id}: its disk is staged on the controller but {target} has not fetched it within "
            f"{timeout:.0f} s; it belongs to {target} now, whose agent's log says why (`disk of {instance_id}`).")
    return False


def non_root_volumes(conn: Connection, instance_id: str) -> list[str]:
    """The EBS volumes attached to ``instance_id`` besides its root volume."""
    return list(conn.execute(select(attachments.c.volume_id).where(
        attachments.c.instance_id == instance_id, attachments.c.is_root.is_(False))
        .order_by(attachments.c.device_name)).scalars())


def stopping_here(db: Database, host_id: str) -> list[str]:
    """The instances of ``host_id`` still stopping (drain moves them once they are stopped)."""
    table = instance_state.instances
    with db.read() as conn:
        return list(conn.execute(select(table.c.instance_id).where(
            table.c.host_id == host_id, table.c.state == lifecycle.STOPPING)).scalars())


def _wait_moved(db: Database, move: Move, deadline: float) -> bool:
    table = instance_state.instances
    while time.monotonic() < deadline:
        with db.read() as conn:
            now_on = conn.execute(select(table.c.host_id).where(table.c.instance_id == move.instance_id)).scalar()
            in_flight = migrations.pending(conn, move.instance_id)
        if now_on == move.target_host_id and in_flight is None:
            return True
        time.sleep(0.2)
    return False
