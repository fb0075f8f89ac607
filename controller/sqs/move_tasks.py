"""Dead-letter queue redrive: StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask.

A task moves the messages of a dead-letter queue back to the queues they came from (or to
``DestinationArn``) in the background, at most ``MaxNumberOfMessagesPerSecond``. Each step moves
a handful of messages in one transaction, so a moved message is never lost nor doubled. One active task
per source queue
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html).

Tasks run in the cloud's primary process only, whichever process took StartMessageMoveTask: the request
stores the task and announces :data:`TOPIC`, and the primary (subscribed by its start hook) runs every
stored task it is not running yet; so does its start hook, for the tasks a restart interrupted. A task
is cancelled through its row, which the running task reads at each step.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from typing import Any

from controller.api import RequestContext
from controller.sqs import records
from controller.sqs.errors import ResourceNotFoundException, UnsupportedOperation, invalid_value
from controller.sqs.redrive import source_names
from controller.sqs.runtime import SqsRuntime, runtime
from controller.sqs.service import api
from controller.sqs.store import topic
from controller.state import Database

log = logging.getLogger(__name__)

#: The rate when the caller names none ("system optimized" at AWS).
DEFAULT_RATE = 500
_STEP = 10
#: What StartMessageMoveTask announces: the primary process runs the new task.
TOPIC = "sqs:move-tasks"


def _source_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [params.get("SourceArn") or "*"]


def _handle_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    decoded = _decode_handle(params.get("TaskHandle", ""))
    return [decoded[1] if decoded else "*"]


def _decode_handle(handle: str) -> tuple[str, str] | None:
    try:
        document = json.loads(base64.b64decode(handle.encode(), validate=True))
        return str(document["taskId"]), str(document["sourceArn"])
    except (ValueError, KeyError, TypeError):
        return None


@api.operation("StartMessageMoveTask", resources=_source_resources)
def start_message_move_task(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    source_arn = params["SourceArn"]
    destination_arn = params.get("DestinationArn")
    rate = params.get("MaxNumberOfMessagesPerSecond")
    if rate is not None and not 1 <= rate <= 500:
        raise invalid_value("MaxNumberOfMessagesPerSecond", rate, "Must be between 1 and 500.")
    with ctx.cloud.db.begin() as conn:
        source = records.find_by_arn(conn, ctx.cloud, source_arn)
        if source is None or source.account_id != ctx.account_id:
            raise ResourceNotFoundException("The resource that you specified for the SourceArn parameter doesn't "
                                            "exist.")
        if not source_names(conn, source):
            raise invalid_value("SourceArn", source_arn, "Source queue must be configured as a Dead Letter Queue.")
        if destination_arn is not None:
            destination = records.find_by_arn(conn, ctx.cloud, destination_arn)
            if destination is None or destination.account_id != ctx.account_id:
                raise ResourceNotFoundException("The resource that you specified for the DestinationArn parameter "
                                                "doesn't exist.")
            if destination.fifo != source.fifo:
                raise invalid_value("DestinationArn", destination_arn, "The destination queue must be of the same "
                                    "type as the source queue.")
        running = conn.exec_driver_sql("SELECT 1 FROM sqs_move_tasks WHERE source_arn = ? AND status IN"
                                       " ('RUNNING', 'CANCELLING')", (source_arn,)).first()
        if running is not None:
            raise UnsupportedOperation("There is already a task running. Only one active task is allowed for a "
                                       "source queue arn at a given time.")
        to_move = conn.exec_driver_sql("SELECT COUNT(*) FROM sqs_messages WHERE queue_id = ?",
                                       (source.queue_id,)).scalar_one()
        handle = base64.b64encode(json.dumps({"taskId": str(uuid.uuid4()), "sourceArn": source_arn}).encode()).decode()
        conn.exec_driver_sql(
            "INSERT INTO sqs_move_tasks (task_handle, source_arn, destination_arn, max_per_second, status, started_at,"
            " moved, to_move) VALUES (?, ?, ?, ?, 'RUNNING', ?, 0, ?)",
            (handle, source_arn, destination_arn, rate, records.now_ms(), to_move))
        Database.announce(conn, TOPIC)
    return {"TaskHandle": handle}


@api.operation("ListMessageMoveTasks", resources=_source_resources)
def list_message_move_tasks(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    limit = params.get("MaxResults")
    if limit is not None and not 1 <= limit <= 10:
        raise invalid_value("MaxResults", limit, "Must be between 1 and 10.")
    with ctx.cloud.db.read() as conn:
        source = records.find_by_arn(conn, ctx.cloud, params["SourceArn"])
        if source is None or source.account_id != ctx.account_id:
            raise ResourceNotFoundException("The resource that you specified for the SourceArn parameter doesn't "
                                            "exist.")
        rows = conn.exec_driver_sql(
            "SELECT task_handle, status, source_arn, destination_arn, max_per_second, moved, to_move, failure_reason,"
            " started_at FROM sqs_move_tasks WHERE source_arn = ? ORDER BY started_at DESC LIMIT ?",
            (source.arn, limit or 1)).all()
    return {"Results": [_entry(row) for row in rows]}


def _entry(row: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"Status": row[1], "SourceArn": row[2], "ApproximateNumberOfMessagesMoved": row[5],
                             "ApproximateNumberOfMessagesToMove": row[6], "StartedTimestamp": row[8]}
    if row[1] == "RUNNING":
        entry["TaskHandle"] = row[0]
    if row[3]:
        entry["DestinationArn"] = row[3]
    if row[4] is not None:
        entry["MaxNumberOfMessagesPerSecond"] = row[4]
    if row[7]:
        entry["FailureReason"] = row[7]
    return entry


@api.operation("CancelMessageMoveTask", resources=_handle_resources)
def cancel_message_move_task(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    handle = params["TaskHandle"]
    decoded = _decode_handle(handle)
    with ctx.cloud.db.begin() as conn:
        row = conn.exec_driver_sql("SELECT status, moved, source_arn FROM sqs_move_tasks WHERE task_handle = ?",
                                   (handle,)).first()
        source = records.find_by_arn(conn, ctx.cloud, row[2]) if row is not None else None
        if decoded is None or row is None or source is None or source.account_id != ctx.account_id:
            raise ResourceNotFoundException("Task does not exist.")
        if row[0] != "RUNNING":
            raise UnsupportedOperation(f"Only a RUNNING task can be cancelled; this one is {row[0]}.")
        conn.exec_driver_sql("UPDATE sqs_move_tasks SET status = 'CANCELLING' WHERE task_handle = ?", (handle,))
    return {"ApproximateNumberOfMessagesMoved": row[1]}


def resume(cloud: Any) -> None:
    """Start hook (the primary's only): run every task started from now on, and carry on with the tasks a
    restart interrupted."""
    rt = runtime(cloud)
    cloud.db.subscribe(TOPIC, lambda: launch_pending(rt))
    # at once on SQLite; on PostgreSQL when this controller is elected, which takes over a dead leader's tasks
    cloud.leadership.on_elected(lambda: launch_pending(rt))


def launch_pending(rt: SqsRuntime) -> None:
    """Run each active task that no thread of this process runs yet, each in a background thread (in the
    controller that leads the background workers only: controller/state/leadership.py)."""
    if not rt.cloud.leadership.leading:
        return
    with rt.cloud.db.read() as conn:
        handles = [row[0] for row in conn.exec_driver_sql(
            "SELECT task_handle FROM sqs_move_tasks WHERE status IN ('RUNNING', 'CANCELLING')")]
    with rt.move_lock:  # the bus's thread and a request's may both hear of one task
        if rt.stopping.is_set():
            return
        for handle in handles:
            if handle not in rt.move_workers:
                worker = threading.Thread(target=_run, args=(rt, handle), name="sqs-move-task", daemon=True)
                rt.move_workers[handle] = worker
                worker.start()


def _run(rt: SqsRuntime, handle: str) -> None:
    try:
        while not rt.stopping.is_set() and rt.cloud.leadership.leading:
            started = time.monotonic()
            step, rate = _step(rt.cloud, handle)
            if step is None:
                break
            rt.stopping.wait(max(0.0, step / rate - (time.monotonic() - started)))
    except Exception:
        log.exception("SQS message move task failed")
        with rt.cloud.db.begin() as conn:
            conn.exec_driver_sql("UPDATE sqs_move_tasks SET status = 'FAILED', failure_reason = ? WHERE"
                                 " task_handle = ?", ("InternalError", handle))
    finally:
        rt.move_workers.pop(handle, None)


def _step(cloud: Any, handle: str) -> tuple[int | None, int]:
    """Move up to one step of messages; (how many moved, the rate), or (None, _) when the task is over."""
    with cloud.db.begin() as conn:
        task = conn.exec_driver_sql("SELECT status, source_arn, destination_arn, max_per_second, moved, to_move"
                                    " FROM sqs_move_tasks WHERE task_handle = ?", (handle,)).first()
        if task is None or task[0] not in ("RUNNING", "CANCELLING"):
            return None, 1
        status, source_arn, destination_arn, rate, moved, to_move = task
        rate = rate or DEFAULT_RATE
        if status == "CANCELLING":
            _finish(conn, handle, "CANCELLED")
            return None, rate
        source = records.find_by_arn(conn, cloud, source_arn)
        if source is None:
            _finish(conn, handle, "FAILED", "AWS.SimpleQueueService.NonExistentQueue")
            return None, rate
        now = records.now_ms()
        rows = conn.exec_driver_sql(
            "SELECT seq, dead_letter_source FROM sqs_messages WHERE queue_id = ? AND visible_at <= ? ORDER BY seq"
            " LIMIT ?", (source.queue_id, now, min(_STEP, rate, max(to_move - moved, 0)))).all()
        if not rows:
            _finish(conn, handle, "COMPLETED")
            return None, rate
        for seq, origin in rows:
            destination = records.find_by_arn(conn, cloud, destination_arn or origin or "")
            if destination is None:
                _finish(conn, handle, "FAILED", "AWS.SimpleQueueService.NonExistentQueue")
                return None, rate
            conn.exec_driver_sql(
                "UPDATE sqs_messages SET queue_id = ?, visible_at = ?, receive_count = 0, first_received_at = NULL,"
                " received_at = NULL, receipt = NULL, dead_letter_source = NULL WHERE seq = ?",
                (destination.queue_id, now, seq))
            Database.announce(conn, topic(destination.queue_id))
        conn.exec_driver_sql("UPDATE sqs_move_tasks SET moved = moved + ? WHERE task_handle = ?", (len(rows), handle))
        return len(rows), rate


def _finish(conn: Any, handle: str, status: str, reason: str | None = None) -> None:
    conn.exec_driver_sql("UPDATE sqs_move_tasks SET status = ?, failure_reason = ? WHERE task_handle = ?",
                         (status, reason, handle))
