"""The Batch agent's report: ``POST /_cloudlet/agent/v1/hosts/<id>/batch``.

An agent reports, per attempt it runs, its transitions and its new log lines
(``agent.contract.reports.BatchReport``)::

    {"attempts": [{"job_id": "...", "attempt": 1, "state": "RUNNING" | "SUCCEEDED" | "FAILED",
                   "started_at": ms, "stopped_at": ms, "exit_code": 0, "reason": "...",
                   "logs": [[ms, "line", end], ...]}]}

``end`` is the agent's offset in the attempt's log file just past the line (older agents send pairs):
lines at or below what was ingested are skipped, so a report sent again after a lost answer adds nothing.

Log lines go to CloudWatch Logs group ``/aws/batch/job`` under the attempt's stream (created as AWS does, on
first write). RUNNING feeds ``jobs_settle.attempt_started``; an end feeds ``jobs_settle.attempt_ended``
(retries and dependants follow there) and removes the attempt row, so its capacity is free again. A report
for an attempt the controller no longer places on this host (a duplicate after an agent restart, an attempt
of a job ended meanwhile) only ships its logs. The answer lists the attempts the agent may now remove.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from sqlalchemy import Connection, delete, select

from agent.contract.reports import BatchAttemptReport, BatchReport
from controller.batch import attempts, job_enis, jobs_settle, jobs_state, lifecycle
from controller.batch.jobs_state import jobs
from controller.hosts import generation
from controller.hosts.rpc import blueprint, read_message
from controller.logs import ingest

ENDED = ("SUCCEEDED", "FAILED")
#: The agent's reason for an attempt stopped for its timeout (``agent.batch.podman.TIMEOUT_REASON``).
TIMEOUT_REASON = lifecycle.TIMED_OUT
#: Container reasons (the ``container.reason`` AWS shows) as opposed to the attempt's statusReason.
CONTAINER_REASONS = ("OutOfMemoryError",)


@blueprint.post("/hosts/<host_id>/batch")
def report_batch(host_id: str) -> Any:
    cloud = current_app.config["CLOUD"]
    done = []
    for item in read_message(BatchReport).attempts:
        with cloud.db.begin() as conn:
            placed = conn.execute(select(attempts.attempts).where(
                attempts.attempts.c.job_id == item.job_id)).mappings().first()
            ours = placed is not None and placed["host_id"] == host_id and placed["attempt"] == item.attempt
            if ours and item.logs:
                ship_logs(cloud, conn, placed, item.logs)
            if ours:
                settle(conn, placed, item)
        if item.state in ENDED:
            done.append({"job_id": item.job_id, "attempt": item.attempt})
    return jsonify(ok=True, done=done)


def unseen(lines: list[list[Any]], ingested_to: int) -> list[list[Any]]:
    """The lines past ``ingested_to`` (pure); lines without an offset (an older agent's) always count."""
    return [line for line in lines if len(line) < 3 or line[2] > ingested_to]


def ship_logs(cloud: Any, conn: Connection, placed: Any, lines: list[list[Any]]) -> None:
    """Append the attempt's new lines to its stream and move its mark, in the report's transaction."""
    marks = attempts.log_marks
    key = (marks.c.job_id == placed["job_id"]) & (marks.c.attempt == placed["attempt"])
    ingested_to = conn.execute(select(marks.c.ingested_to).where(key)).scalar() or 0
    fresh = unseen(lines, ingested_to)
    if not fresh:
        return
    ingest.append(cloud, account_id=placed["account_id"], group=attempts.LOG_GROUP,
                  stream=placed["spec"]["log_stream_name"], events=[(int(line[0]), str(line[1])) for line in fresh])
    ends = [line[2] for line in fresh if len(line) == 3]
    if ends:
        conn.execute(delete(marks).where(marks.c.job_id == placed["job_id"]))
        conn.execute(marks.insert().values(job_id=placed["job_id"], attempt=placed["attempt"],
                                           ingested_to=max(ends)))


def settle(conn: Connection, placed: Any, item: BatchAttemptReport) -> None:
    """Feed one reported transition to the job's lifecycle, in the report's transaction."""
    row = conn.execute(select(jobs).where(jobs.c.job_id == item.job_id)).mappings().first()
    now = jobs_state.now_ms()
    stream = placed["spec"]["log_stream_name"]
    if row is not None and row["status"] == lifecycle.STARTING and (item.state == "RUNNING" or item.started_at):
        jobs_settle.attempt_started(conn, row, item.started_at or now, stream,
                                    job_enis.described(placed["spec"].get("network")))
        row = conn.execute(select(jobs).where(jobs.c.job_id == item.job_id)).mappings().first()
    if item.state not in ENDED:
        return
    if row is not None and row["status"] in (lifecycle.STARTING, lifecycle.RUNNING):
        reason = item.reason
        container_reason = reason if reason and reason.startswith(CONTAINER_REASONS) else None
        jobs_settle.attempt_ended(conn, row, item.exit_code, container_reason,
                                  item.stopped_at or now, timed_out=reason == TIMEOUT_REASON,
                                  status_reason=None if container_reason else reason)
    conn.execute(delete(attempts.attempts).where(attempts.attempts.c.job_id == item.job_id))
    conn.execute(delete(attempts.log_marks).where(attempts.log_marks.c.job_id == item.job_id))
    generation.bump(conn)
