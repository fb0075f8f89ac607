"""Attempts on hosts that stopped answering: failed over as AWS fails a job whose instance went away.

A host whose agent has not been heard from within ``controller.hosts.state.HEARTBEAT_TIMEOUT`` (a container
instance whose ECS agent has not polled within ``container_instances.SILENCE_MS``, or that is gone) is down: the
dispatcher already places nothing there, and each of its attempts now ends FAILED with AWS's reason (an
EC2 environment's "Host EC2 (instance ...) terminated.", Fargate's task-retirement reason), counted as a
failed attempt so the job's retry strategy decides whether it runs again. The attempt row goes, so its vCPUs
and memory count against nothing any more.

Should the host come back, its section no longer lists those attempts: its agent stops and removes their
containers, and their reports, naming an attempt the controller no longer places there, settle nothing
(``controller.batch.reports``), so a leftover never reports into a newer attempt of the same job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, select

from controller.batch import attempts, container_instances, jobs_settle, jobs_state, lifecycle
from controller.batch import state as batch_state
from controller.batch.jobs_state import jobs
from controller.hosts import generation
from controller.hosts.state import host_records

#: The stoppedReason ECS gives a Fargate task whose underlying host is replaced or retired
#: (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-maintenance.html).
FARGATE_REASON = "ECS is performing maintenance on the underlying infrastructure hosting the task"


def reason(host_id: str, environment_type: str) -> str:
    """The status reason of an attempt whose host went away (pure)."""
    if environment_type.startswith("FARGATE"):
        return FARGATE_REASON
    return f"Host EC2 (instance {host_id}) terminated."


def lost(placed: Iterable[tuple[str, str]], up_hosts: set[str]) -> list[str]:
    """The job ids of placed ``(job id, host id)`` attempts whose host is not up (pure)."""
    return [job_id for job_id, host_id in placed if host_id not in up_hosts]


def lost_attempts(conn: Connection) -> list[Any]:
    """The placed attempts (``job_id``, ``host_id``, ``environment_arn``) whose host (or container instance) is
    down or gone."""
    up = {host.host_id for host in host_records(conn) if host.state == "up"}
    up |= container_instances.live_ids(conn, jobs_state.now_ms())
    placed = conn.execute(select(attempts.attempts.c.job_id, attempts.attempts.c.host_id,
                                 attempts.attempts.c.environment_arn)).all()
    gone = set(lost(((row.job_id, row.host_id) for row in placed), up))
    return [row for row in placed if row.job_id in gone]


def fail_lost_attempts(conn: Connection, now: int) -> int:
    """Fail every attempt placed on a host that is down or gone; how many, in the caller's transaction."""
    found = lost_attempts(conn)
    if not found:
        return 0
    types = _environment_types(conn)
    for row in found:
        job = conn.execute(select(jobs).where(jobs.c.job_id == row.job_id)).mappings().first()
        if job is not None and job["status"] in (lifecycle.STARTING, lifecycle.RUNNING):
            jobs_settle.attempt_ended(conn, job, None, None, now,
                                      status_reason=reason(row.host_id, types.get(row.environment_arn, "")))
        conn.execute(delete(attempts.attempts).where(attempts.attempts.c.job_id == row.job_id))
        conn.execute(delete(attempts.log_marks).where(attempts.log_marks.c.job_id == row.job_id))
    generation.bump(conn)
    return len(found)


def _environment_types(conn: Connection) -> dict[str, Any]:
    return {row["arn"]: str((row["document"].get("computeResources") or {}).get("type") or "")
            for row in conn.execute(select(batch_state.compute_environments)).mappings()}
