"""Where Batch attempts run: the table of placed attempts, the ``batch`` host section built from it, and what
an attempt's section entry says (the agent's ``agent.batch.reconciler`` runs exactly that).

An attempt row exists from the moment the dispatcher moves a job RUNNABLE -> STARTING on a host until the
host's agent reports the attempt ended; its vCPUs and memory count against the host and the compute
environment meanwhile. A TerminateJob of a placed job leaves the row with ``stop_reason`` set: the section
then marks the attempt to be stopped, and the agent's report of its end removes the row.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Column, Connection, Float, Integer, String, Table, Text, select

from controller.batch import lifecycle, volumes
from controller.hosts.desired import HostContext
from controller.state import JsonText, metadata

#: The CloudWatch Logs group every Batch job logs to (AWS's default for the awslogs driver).
LOG_GROUP = "/aws/batch/job"
#: The capability an agent that runs Batch containers registers with.
CAPABILITY = "batch"

attempts = Table(
    "batch_attempts", metadata,
    Column("job_id", String(48), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("host_id", String(64), nullable=False, index=True),
    Column("environment_arn", String(400), nullable=False),
    #: 1 for the first attempt
    Column("attempt", Integer, nullable=False),
    Column("vcpus", Float, nullable=False),
    Column("memory_mib", Integer, nullable=False),
    #: the section entry (see :func:`entry`)
    Column("spec", JsonText, nullable=False),
    #: set once the job was terminated: the agent stops the container with this reason
    Column("stop_reason", Text),
    Column("placed_at", Integer, nullable=False),
)

#: How far into an attempt's log file the controller has ingested (the agent's offset just past the last
#: line): a report the agent sends again, its answer lost, adds no line twice. A table of its own so a
#: state store made before it needs no migration.
log_marks = Table(
    "batch_log_marks", metadata,
    Column("job_id", String(48), primary_key=True),
    Column("attempt", Integer, nullable=False),
    Column("ingested_to", Integer, nullable=False),
)


def requirements(container: Mapping[str, Any]) -> tuple[float, int]:
    """A job container's (vCPUs, memory MiB): resourceRequirements first, the legacy vcpus/memory after."""
    vcpus, memory = container.get("vcpus"), container.get("memory")
    for requirement in container.get("resourceRequirements") or []:
        if requirement.get("type") == "VCPU":
            vcpus = requirement.get("value")
        elif requirement.get("type") == "MEMORY":
            memory = requirement.get("value")
    return float(vcpus or 1), int(memory or 2048)


def log_stream_name(definition_arn: str) -> str:
    """``<jobDefinitionName>/default/<task uuid>``, as AWS names a Batch attempt's stream."""
    name = definition_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]
    return f"{name}/default/{uuid.uuid4().hex}"


def entry(row: Mapping[str, Any], base: Mapping[str, Any], *, queue_name: str, environment_name: str,
          image: Mapping[str, str], attempt: int) -> dict[str, Any]:
    """One attempt as the agent runs it: the job's container (command substituted at submission), Batch's
    variables before the job's own, the resources, the timeout the runner enforces, the log stream, the
    secrets' references, the mounts and the process settings."""
    container = base.get("container") or {}
    vcpus, memory = requirements(container)
    env = {item["name"]: item["value"] for item in lifecycle.batch_environment(
        row["job_id"], queue_name, attempt, row["array_index"])}
    env["AWS_BATCH_CE_NAME"] = environment_name
    env.update({item["name"]: item.get("value", "") for item in container.get("environment") or []})
    timeout = (base.get("timeout") or {}).get("attemptDurationSeconds")
    return {"job_id": row["job_id"], "attempt": attempt, "image": dict(image),
            "command": list(container.get("command") or []), "environment": env, "vcpus": vcpus,
            "memory_mib": memory, "timeout_s": int(timeout) if timeout else None,
            "log_stream_name": log_stream_name(row["definition_arn"]), "stop": None,
            # references only: the agent asks for the values when it starts the attempt (controller.batch.secrets)
            "secrets": [{"name": item["name"], "valueFrom": item["valueFrom"]}
                        for item in container.get("secrets") or []],
            "execution_role_arn": container.get("executionRoleArn"),
            "mounts": volumes.mounts(container), "devices": volumes.devices(container),
            "tmpfs": volumes.tmpfs(container), **process_settings(container)}


def process_settings(container: Mapping[str, Any]) -> dict[str, Any]:
    """What the definition sets about the container's processes (pure): ``user``, a read-only root
    filesystem, ``ulimits`` (as Docker names them), an init process and ``/dev/shm``'s size."""
    linux = container.get("linuxParameters") or {}
    return {"user": container.get("user") or None,
            "read_only_root": bool(container.get("readonlyRootFilesystem")),
            "ulimits": [{"name": item["name"], "soft": int(item["softLimit"]), "hard": int(item["hardLimit"])}
                        for item in container.get("ulimits") or []],
            "init_process": bool(linux.get("initProcessEnabled")),
            "shared_memory_mib": linux.get("sharedMemorySize")}


def on_host(conn: Connection, host_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(attempts).where(attempts.c.host_id == host_id).order_by(attempts.c.job_id))
    return [{**row.spec, "stop": row.stop_reason} for row in rows]


def batch_section(ctx: HostContext) -> dict[str, Any]:
    """The ``batch`` section of a host's desired document: the attempts it runs (a pure read)."""
    with ctx.db.read() as conn:
        return {"attempts": on_host(conn, ctx.host_id)}


def used_per_host(conn: Connection) -> dict[str, tuple[float, int]]:
    used: dict[str, tuple[float, int]] = {}
    for row in conn.execute(select(attempts.c.host_id, attempts.c.vcpus, attempts.c.memory_mib)):
        vcpus, memory = used.get(row.host_id, (0.0, 0))
        used[row.host_id] = (vcpus + row.vcpus, memory + row.memory_mib)
    return used


def used_per_environment(conn: Connection) -> dict[str, float]:
    used: dict[str, float] = {}
    for row in conn.execute(select(attempts.c.environment_arn, attempts.c.vcpus)):
        used[row.environment_arn] = used.get(row.environment_arn, 0.0) + row.vcpus
    return used


def used_per_share(conn: Connection, jobs: Table) -> dict[str, dict[str, float]]:
    """Per queue ARN, the vCPUs each share identifier's placed attempts hold (fair share's usage)."""
    used: dict[str, dict[str, float]] = {}
    query = (select(jobs.c.queue_arn, jobs.c.share_identifier, attempts.c.vcpus)
             .join(jobs, jobs.c.job_id == attempts.c.job_id).where(jobs.c.share_identifier.is_not(None)))
    for queue_arn, share, vcpus in conn.execute(query):
        per_queue = used.setdefault(queue_arn, {})
        per_queue[share] = per_queue.get(share, 0.0) + vcpus
    return used
