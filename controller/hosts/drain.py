"""``cloudlet host drain HOST``: live-migrate the host's running instances to other hosts of its zone.

For each running instance the scheduler picks a target among the zone's other schedulable hosts that
registered a migration endpoint (``agent --migration-uri``), exactly as it places a launch; a migration
request (``controller.ec2.instances.migrations``) then puts the instance in both hosts' documents and the two
agents carry it out (``agent.compute.migration``). The instance keeps its id, private addresses, MACs and
ENIs; its host changes when the target reports the guest running, which also moves its VXLAN forwarding
entries on every host. The command waits for each move and prints one line per instance.

Stopped instances are not moved: their disks stay in the source host's compute directory (copying them
through the agents is not built), so drain names them and says what to do (start them first, to have
them live-migrated, or terminate them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from controller.config import Config
from controller.ec2.instances import lifecycle, migrations, placement, scheduler
from controller.ec2.instances import state as instance_state
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


def choose_target(conn: Connection, config: Config, row: dict[str, Any], source_host_id: str) -> str:
    """The host the scheduler would place ``row``'s instance on, among the other schedulable hosts of its zone
    that take live migrations."""
    zone = conn.execute(select(hosts.c.zone).where(hosts.c.host_id == source_host_id)).scalar()
    takers = {h for h, endpoint in conn.execute(select(hosts.c.host_id, hosts.c.migration)) if endpoint}
    candidates = [h for h in placement.scheduler_hosts(conn, config, exclude=row["instance_id"])
                  if h.host_id != source_host_id and h.host_id in takers]
    if not candidates:
        raise NoTarget(f"no other host in {zone} takes live migrations (start its agent with --migration-uri)")
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
    """Live-migrate every running instance of ``host_id`` away, one at a time; the ids that could not move."""
    table = instance_state.instances
    with db.read() as conn:
        rows = [dict(r) for r in conn.execute(select(table).where(table.c.host_id == host_id)
                                              .order_by(table.c.instance_id)).mappings()]
    failed = []
    for row in rows:
        instance_id = row["instance_id"]
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


def stopped_here(db: Database, host_id: str) -> list[str]:
    """The stopped instances whose disks stay on ``host_id`` (not moved by drain)."""
    table = instance_state.instances
    with db.read() as conn:
        return list(conn.execute(select(table.c.instance_id).where(
            table.c.host_id == host_id, table.c.state.in_((lifecycle.STOPPED, lifecycle.STOPPING)))).scalars())


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
