"""The instances that run Batch attempts of EC2, SPOT and UNMANAGED compute environments (ECS's container
instances), and what the dispatcher and the scaler read of them.

A MANAGED environment's scaler records each instance it launches (``launched``) before the instance's agent
registers; an UNMANAGED environment's instances appear when their agent registers with its cluster. An
instance registered and heard from within :data:`SILENCE_MS` is a target the scheduler places attempts on,
by its instance id (the ``host_id`` of ``batch_attempts``); one silent longer is lost (``lost_hosts``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Connection, Integer, String, Table, select

from controller.batch import attempts
from controller.state import metadata

#: How long a registered instance's agent may stay silent (it polls every second or two) before its attempts
#: count as lost with the instance.
SILENCE_MS = 60_000

container_instances = Table(
    "batch_container_instances", metadata,
    Column("instance_id", String(32), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("environment_arn", String(400), nullable=False, index=True),
    #: True for an instance the environment's scaler launched (and so terminates)
    Column("launched", Boolean, nullable=False),
    Column("launched_at", Integer),
    #: the ECS container instance ARN, once the instance's agent registered
    Column("container_instance_arn", String(400)),
    Column("registered_at", Integer),
    Column("vcpus", Integer, nullable=False, default=0),
    Column("memory_mib", Integer, nullable=False, default=0),
    Column("last_seen_at", Integer),
    #: when the instance last became free of attempts (ms); the scaler's idle clock
    Column("idle_since", Integer),
)


def alive(row: Any, now_ms: int) -> bool:
    """Registered and heard from lately (pure)."""
    return row.registered_at is not None and row.last_seen_at is not None and now_ms - row.last_seen_at <= SILENCE_MS


def live_ids(conn: Connection, now_ms: int) -> set[str]:
    return {row.instance_id for row in conn.execute(select(container_instances)) if alive(row, now_ms)}


def of_environment(conn: Connection, environment_arn: str) -> list[Any]:
    return list(conn.execute(select(container_instances).where(
        container_instances.c.environment_arn == environment_arn).order_by(container_instances.c.instance_id)))


def busy_ids(conn: Connection) -> set[str]:
    """Instances with a placed attempt."""
    return {host_id for host_id, in conn.execute(select(attempts.attempts.c.host_id).distinct())}
