"""The asynchronous invocation worker: runs queued events through the invocation engine, with AWS's retries.

One loop thread per cloud wakes when an event is queued (``Database.announce`` of ``ASYNC_TOPIC``) or a
retry falls due, and hands due events to a thread pool, so a slow function holds one thread, not the
queue behind it. An event's row stays until the event is finished (ran and was recorded, or dropped),
so whatever a restart interrupts runs again: at least once, as AWS delivers
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html). What follows an attempt is decided
by the pure ``async_rules``; records go out through ``destinations`` as the execution role.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from controller.awslambda.errors import LambdaError, ResourceNotFoundException
from controller.awslambda.events import async_rules, destinations, invoke_config, state
from controller.awslambda.events.async_queue import now_ms
from controller.awslambda.events.async_rules import EventSettings, Progress
from controller.awslambda.invoke import engine
from controller.awslambda.lookup import Target, load_version, resolve_target
from controller.errors import ServiceError

log = logging.getLogger(__name__)
Cloud = Any

#: Events run at once (each holds a thread while its function runs).
THREADS = 8
#: The longest the loop sleeps without news (another process's commit is seen this late at worst).
_IDLE_SECONDS = 1.0


class AsyncWorker:
    """Runs the asynchronous events of one cloud."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._stopping = False
        self._pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="lambda-async")
        self._thread = threading.Thread(target=self._run, name="lambda-async-queue", daemon=True)

    def start(self) -> None:
        self.cloud.db.subscribe(state.ASYNC_TOPIC, self._wake.set)
        self.cloud.leadership.on_elected(self._wake.set)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=30)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        while not self._stopping:
            try:
                timeout = self._dispatch_due()
            except Exception:
                log.exception("Lambda async loop failed; retrying")
                timeout = _IDLE_SECONDS
            self._wake.wait(timeout)
            self._wake.clear()

    def _dispatch_due(self) -> float:
        """Start the due events there is room for; how long to sleep before looking again."""
        with self._lock:
            room = THREADS * 2 - len(self._in_flight)
            busy = list(self._in_flight)
        if room <= 0 or not self.cloud.leadership.leading:  # one controller invokes (controller/state/leadership.py)
            return _IDLE_SECONDS
        now = now_ms()
        t = state.async_events
        with self.cloud.db.read() as conn:
            rows = conn.execute(select(t).where(t.c.due_at <= now, t.c.event_id.not_in(busy))
                                .order_by(t.c.due_at, t.c.event_id).limit(room)).mappings().all()
            next_due = conn.execute(select(t.c.due_at).where(t.c.due_at > now).order_by(t.c.due_at).limit(1)).scalar()
        with self._lock:
            self._in_flight.update(row["event_id"] for row in rows)
        for row in rows:
            self._pool.submit(self._attempt, dict(row))
        if next_due is None:
            return _IDLE_SECONDS
        return max(0.0, min(_IDLE_SECONDS, (next_due - now) / 1000))

    def _attempt(self, row: dict[str, Any]) -> None:
        try:
            process(self.cloud, row)
        except Exception:
            log.exception("Lambda async event %s failed unexpectedly; retrying", row["request_id"])
            progress = Progress(row["enqueued_at"], row["attempts"], row["throttles"] + 1)
            _reschedule(self.cloud, row["event_id"], progress,
                        now_ms() + int(async_rules.backoff_seconds(progress.throttles) * 1000), row["last_result"])
        finally:
            with self._lock:
                self._in_flight.discard(row["event_id"])
            self._wake.set()


def process(cloud: Cloud, row: dict[str, Any]) -> None:
    """Run one due event once and do what follows: a retry later, a record now, or nothing more."""
    progress = Progress(row["enqueued_at"], row["attempts"], row["throttles"])
    try:
        target = resolve_target(cloud, row["account_id"], row["invoked_arn"], None)
    except LambdaError:     # the function (or its alias or version) is gone: AWS discards its events
        _finish(cloud, row["event_id"])
        return
    settings = invoke_config.settings_for(cloud, target)
    if async_rules.expired(settings, progress, now_ms()):
        conclude(cloud, row, target, settings, async_rules.EVENT_AGE_EXCEEDED, progress, row["last_result"])
        return
    result = row["last_result"]
    try:
        invocation = engine.run(cloud, target, row["payload"], request_id=row["request_id"])
    except ResourceNotFoundException:
        outcome = async_rules.GONE
    except ServiceError as problem:      # throttled, no host, not Active, a key refused: retried with backoff
        log.info("Lambda async event %s not run (%s): retrying", row["request_id"], problem.code)
        outcome = async_rules.THROTTLED
    else:
        outcome = async_rules.FUNCTION_ERROR if invocation.function_error else async_rules.SUCCESS
        result = {"statusCode": 200, "executedVersion": invocation.executed_version,
                  "functionError": invocation.function_error,
                  "payload": invocation.payload.decode("utf-8", "replace")}
    following = async_rules.after_attempt(settings, progress, outcome, now_ms(),
                                          list(cloud.config.lambda_async_retry_delays))
    if following.retry_at_ms is not None:
        _reschedule(cloud, row["event_id"], following.progress, following.retry_at_ms, result)
    elif following.condition is not None:
        conclude(cloud, row, target, settings, following.condition, following.progress, result)
    else:
        _finish(cloud, row["event_id"])


def conclude(cloud: Cloud, row: dict[str, Any], target: Target, settings: EventSettings, condition: str,
             progress: Progress, result: dict[str, Any] | None) -> None:
    """Send a finished event's record where its settings say (on-success / on-failure destination, else the
    function's dead-letter queue for a failure), then forget the event. A refused record is logged and dropped,
    as AWS counts it in DestinationDeliveryFailures."""
    succeeded = condition == async_rules.SUCCESS
    destination = settings.on_success if succeeded else settings.on_failure
    try:
        version = load_version(cloud, target.account_id, target.function_name,
                               (result or {}).get("executedVersion") or target.routes[0][0])
    except LambdaError:
        version = None
    try:
        if version is not None and destination:
            record = async_rules.invocation_record(
                request_id=row["request_id"], function_arn=async_rules.qualified_arn(target.invoked_arn,
                                                                                     target.function_arn),
                condition=condition, invoke_count=progress.attempts, payload=row["payload"], result=result,
                now_ms=now_ms())
            destinations.send(cloud, version.role_arn, destination, json.dumps(record))
        elif version is not None and not succeeded and version.dead_letter_arn:
            destinations.send(cloud, version.role_arn, version.dead_letter_arn,
                              row["payload"].decode("utf-8", "replace"),
                              async_rules.dead_letter_attributes(row["request_id"], result, condition))
    except destinations.DestinationRefused as refused:
        log.warning("Lambda async event %s of %s: record not delivered: %s", row["request_id"],
                    target.invoked_arn, refused.message)
    _finish(cloud, row["event_id"])


def _reschedule(cloud: Cloud, event_id: int, progress: Progress, due_at: int, result: dict[str, Any] | None) -> None:
    t = state.async_events
    with cloud.db.begin() as conn:
        conn.execute(t.update().where(t.c.event_id == event_id).values(
            attempts=progress.attempts, throttles=progress.throttles, due_at=due_at, last_result=result))


def _finish(cloud: Cloud, event_id: int) -> None:
    with cloud.db.begin() as conn:
        conn.execute(state.async_events.delete().where(state.async_events.c.event_id == event_id))
