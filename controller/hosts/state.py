"""The hosts table and the queries the scheduler and operators need."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, Integer, String, Table, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from agent.wire import Heartbeat, HostRecord, HostRegistration
from controller.state import Database, JsonText, UtcDateTime, metadata, utcnow

#: A host that has not sent a heartbeat for this long is considered down.
HEARTBEAT_TIMEOUT = dt.timedelta(seconds=30)

hosts = Table(
    "hosts", metadata,
    Column("host_id", String(64), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("zone", String(32), nullable=False, index=True),
    Column("vcpus", Integer, nullable=False),
    Column("memory_mib", Integer, nullable=False),
    Column("disk_gib", Integer, nullable=False),
    Column("hypervisor", String(16), nullable=False),
    Column("agent_version", String(32), nullable=False),
    Column("capabilities", JsonText, nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("last_heartbeat", UtcDateTime, nullable=False),
    Column("load", String(16)),
    Column("free_memory_mib", Integer),
)


def register(db: Database, reg: HostRegistration) -> None:
    now = utcnow()
    values = dict(host_id=reg.host_id, hostname=reg.hostname, zone=reg.zone, vcpus=reg.vcpus,
                  memory_mib=reg.memory_mib, disk_gib=reg.disk_gib, hypervisor=reg.hypervisor,
                  agent_version=reg.agent_version, capabilities=reg.capabilities, registered_at=now,
                  last_heartbeat=now)
    statement = sqlite_insert(hosts).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[hosts.c.host_id], set_={k: v for k, v in values.items() if k != "registered_at"})
    with db.begin() as conn:
        conn.execute(statement)


def heartbeat(db: Database, beat: Heartbeat) -> bool:
    """Record a heartbeat; False when the host is unknown (the agent must register again)."""
    with db.begin() as conn:
        result = conn.execute(update(hosts).where(hosts.c.host_id == beat.host_id).values(
            last_heartbeat=utcnow(), load=f"{beat.load:.2f}", free_memory_mib=beat.free_memory_mib))
    return result.rowcount == 1


def list_hosts(db: Database, now: dt.datetime | None = None) -> list[HostRecord]:
    now = now or utcnow()
    with db.read() as conn:
        rows = conn.execute(select(hosts).order_by(hosts.c.zone, hosts.c.host_id)).mappings().all()
    return [_record(row, now) for row in rows]


def _record(row: Any, now: dt.datetime) -> HostRecord:
    alive = now - row["last_heartbeat"] < HEARTBEAT_TIMEOUT
    return HostRecord(host_id=row["host_id"], hostname=row["hostname"], zone=row["zone"], vcpus=row["vcpus"],
                      memory_mib=row["memory_mib"], disk_gib=row["disk_gib"], hypervisor=row["hypervisor"],
                      state="up" if alive else "down", last_heartbeat=row["last_heartbeat"].isoformat())
