"""The hosts table and the queries the scheduler and operators need."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, Connection, Integer, String, Table, select, update

from agent.contract.hosts import CAPABILITY_FUNCTIONS, Heartbeat, HostRecord, HostRegistration
from controller.config import Config
from controller.hosts import generation
from controller.state import Database, JsonText, UtcDateTime, metadata, upsert, utcnow

#: A host that has not sent a heartbeat for this long is considered down (by default).
HEARTBEAT_TIMEOUT = dt.timedelta(seconds=Config.host_heartbeat_timeout_seconds)
#: This process's timeout: every reader below judges hosts by it. One value per process, set from the
#: config by whatever serves that cloud (:func:`use_heartbeat_timeout`), rather than threaded through the
#: dozens of placement, Batch and tunnel queries that ask whether a host is up.
_heartbeat_timeout = HEARTBEAT_TIMEOUT

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
    #: The VXLAN underlay address (HostRegistration schema 2); other hosts' VTEP lists carry it.
    Column("underlay_ip", String(45)),
    #: Where the host's Lambda function runner takes invocations (HostRegistration schema 3); None without one.
    Column("functions_url", String(255)),
    #: Where the host's agent opens EC2 Instance Connect Endpoint tunnels; None without one.
    Column("tunnel_url", String(255)),
    #: 0 once ``cloudlet host drain`` ran: nothing new is placed there; what runs keeps running.
    Column("schedulable", Integer, nullable=False, server_default="1"),
    #: How other hosts live-migrate guests here (``HostRegistration.migration``); None: this host takes none.
    Column("migration", JsonText),
)

def use_heartbeat_timeout(seconds: float) -> None:
    """Judge hosts by ``seconds`` of silence from now on in this process: ``cloudlet up``, its API workers
    and ``cloudlet host list`` set ``Config.host_heartbeat_timeout_seconds`` here when they load the config."""
    global _heartbeat_timeout
    _heartbeat_timeout = dt.timedelta(seconds=seconds)


def register(db: Database, reg: HostRegistration) -> None:
    """Insert or refresh a host. Other hosts' documents depend on its zone and underlay address (NAT
    placement, VXLAN flooding lists), so a new host or a change of either bumps the generation."""
    now = utcnow()
    values = dict(host_id=reg.host_id, hostname=reg.hostname, zone=reg.zone, vcpus=reg.vcpus,
                  memory_mib=reg.memory_mib, disk_gib=reg.disk_gib, hypervisor=reg.hypervisor,
                  agent_version=reg.agent_version, capabilities=reg.capabilities, registered_at=now,
                  last_heartbeat=now, underlay_ip=reg.underlay_ip, functions_url=reg.functions_url,
                  tunnel_url=reg.tunnel_url, migration=reg.migration)
    statement = upsert(hosts).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[hosts.c.host_id], set_={k: v for k, v in values.items() if k != "registered_at"})
    with db.begin() as conn:
        before = conn.execute(select(hosts.c.zone, hosts.c.underlay_ip)
                              .where(hosts.c.host_id == reg.host_id)).first()
        conn.execute(statement)
        if before is None or tuple(before) != (reg.zone, reg.underlay_ip):
            generation.bump(conn)


def heartbeat(db: Database, beat: Heartbeat) -> bool:
    """Record a heartbeat; False when the host is unknown (the agent must register again)."""
    with db.begin() as conn:
        result = conn.execute(update(hosts).where(hosts.c.host_id == beat.host_id).values(
            last_heartbeat=utcnow(), load=f"{beat.load:.2f}", free_memory_mib=beat.free_memory_mib))
    return result.rowcount == 1


def list_hosts(db: Database, now: dt.datetime | None = None) -> list[HostRecord]:
    with db.read() as conn:
        return host_records(conn, now)


def host_records(conn: Connection, now: dt.datetime | None = None) -> list[HostRecord]:
    """Every registered host (by zone, then id), read in the caller's transaction: the scheduler places
    instances against the same snapshot it writes them into."""
    now = now or utcnow()
    rows = conn.execute(select(hosts).order_by(hosts.c.zone, hosts.c.host_id)).mappings().all()
    return [_record(row, now) for row in rows]


def host_is_up(conn: Connection, host_id: str) -> bool:
    """Whether ``host_id`` is registered and heard from within the heartbeat timeout."""
    seen = conn.execute(select(hosts.c.last_heartbeat).where(hosts.c.host_id == host_id)).scalar()
    return seen is not None and utcnow() - seen < _heartbeat_timeout


def get_host(db: Database, host_id: str, now: dt.datetime | None = None) -> HostRecord | None:
    with db.read() as conn:
        row = conn.execute(select(hosts).where(hosts.c.host_id == host_id)).mappings().first()
    return None if row is None else _record(row, now or utcnow())


def function_runners(db: Database) -> dict[str, str]:
    """host id -> functions_url of every up host that registered a Lambda function runner."""
    now = utcnow()
    with db.read() as conn:
        rows = conn.execute(select(hosts.c.host_id, hosts.c.functions_url, hosts.c.capabilities,
                                   hosts.c.last_heartbeat).where(hosts.c.functions_url.is_not(None))).all()
    return {row.host_id: row.functions_url for row in rows
            if CAPABILITY_FUNCTIONS in (row.capabilities or []) and now - row.last_heartbeat < _heartbeat_timeout}


def tunnel_servers(db: Database) -> dict[str, str]:
    """host id -> tunnel_url of every up host whose agent serves Instance Connect Endpoint tunnels."""
    now = utcnow()
    with db.read() as conn:
        rows = conn.execute(select(hosts.c.host_id, hosts.c.tunnel_url, hosts.c.last_heartbeat)
                            .where(hosts.c.tunnel_url.is_not(None))).all()
    return {row.host_id: row.tunnel_url for row in rows if now - row.last_heartbeat < _heartbeat_timeout}


def _record(row: Any, now: dt.datetime) -> HostRecord:
    alive = now - row["last_heartbeat"] < _heartbeat_timeout
    return HostRecord(host_id=row["host_id"], hostname=row["hostname"], zone=row["zone"], vcpus=row["vcpus"],
                      memory_mib=row["memory_mib"], disk_gib=row["disk_gib"], hypervisor=row["hypervisor"],
                      state="up" if alive else "down", last_heartbeat=row["last_heartbeat"].isoformat(),
                      capabilities=list(row["capabilities"] or []), underlay_ip=row["underlay_ip"],
                      schedulable=bool(row["schedulable"]))


def set_schedulable(db: Database, host_id: str, schedulable: bool) -> bool:
    """Drain (False) or return (True) a host; False when no such host is registered. Placement reads the
    flag, and the hosts' documents do not depend on it, so no generation bump is due."""
    with db.begin() as conn:
        done = conn.execute(update(hosts).where(hosts.c.host_id == host_id).values(schedulable=int(schedulable)))
    return done.rowcount == 1


def forget(db: Database, host_id: str) -> bool:
    """Remove a host's registration (``cloudlet host remove``, once nothing runs there). Other hosts'
    documents list it (VXLAN endpoints, NAT placement), so they are recomputed."""
    with db.begin() as conn:
        done = conn.execute(hosts.delete().where(hosts.c.host_id == host_id))
        if done.rowcount:
            generation.bump(conn)
    return done.rowcount == 1
