"""The pollers of one SQS event source mapping: receive a batch, invoke the function, delete what succeeded.

As Lambda's SQS pollers do (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html), each poller
receives up to BatchSize messages under the queue's visibility timeout, waiting up to
MaximumBatchingWindowInSeconds (from the first message) for a fuller batch, and invokes the function
synchronously with the SQS event. On success the batch is deleted; on a function error nothing is, and
the messages come back when their visibility timeout ends (and reach the queue's dead-letter queue
after maxReceiveCount receives); with ReportBatchItemFailures only the reported items stay. Records
no filter keeps are deleted without an invocation. A batch is cut to fit Invoke's 6 MB payload; the
messages left out are made visible again at once.

Messages are claimed and deleted through SQS's own store functions (``controller.sqs.receiving``) in its
group committer, like ReceiveMessage and DeleteMessage, and a poller wakes on the queue's send signal,
so a message sent to an idle queue is picked up within milliseconds and an idle poller costs nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from controller.awslambda.events import event_filters, sqs_records, state
from controller.awslambda.invoke import engine
from controller.awslambda.lookup import resolve_target
from controller.errors import ServiceError
from controller.sqs import receiving
from controller.sqs import records as sqs_records_store
from controller.sqs.receiving import Received
from controller.sqs.records import Queue

log = logging.getLogger(__name__)
Cloud = Any

#: Invoke's synchronous payload limit, which a batch's event must fit.
MAX_EVENT_BYTES = 6 * 1024 * 1024
#: Pollers per mapping unless ScalingConfig.MaximumConcurrency says fewer (2 cores serve everything here).
DEFAULT_POLLERS = 3
#: How long an idle poller sleeps between looks when no send wakes it, and after a failure.
_IDLE_SECONDS = 1.0


@dataclass(frozen=True)
class MappingSpec:
    """What the pollers of one enabled mapping need."""

    uuid: str
    account_id: str
    region: str
    function_arn: str
    queue_arn: str
    batch_size: int
    window_seconds: int
    report_failures: bool
    pollers: int
    filters: dict[str, Any] | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> MappingSpec:
        config = row["config"]
        limit = (config.get("ScalingConfig") or {}).get("MaximumConcurrency")
        return cls(uuid=row["uuid"], account_id=row["account_id"], region=row["region"],
                   function_arn=row["function_arn"], queue_arn=row["event_source_arn"],
                   batch_size=config["BatchSize"], window_seconds=config["MaximumBatchingWindowInSeconds"],
                   report_failures="ReportBatchItemFailures" in (config.get("FunctionResponseTypes") or []),
                   pollers=min(DEFAULT_POLLERS, limit) if limit else DEFAULT_POLLERS,
                   filters=config.get("FilterCriteria") or None)


def fit_payload(records: list[dict[str, Any]], limit: int = MAX_EVENT_BYTES) -> int:
    """How many of ``records`` (at least one) fit in one event of at most ``limit`` bytes."""
    size = len(b'{"Records": []}')
    for count, record in enumerate(records):
        size += len(json.dumps(record).encode("utf-8")) + 2
        if size > limit:
            return max(1, count)
    return len(records)


class MappingPoller:
    """The poller threads of one mapping."""

    def __init__(self, cloud: Cloud, spec: MappingSpec) -> None:
        self.cloud = cloud
        self.spec = spec
        self._stop = threading.Event()
        self._last_result = ""
        self._threads = [threading.Thread(target=self._loop, name=f"lambda-sqs-{spec.uuid[:8]}-{n}", daemon=True)
                         for n in range(spec.pollers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def _sqs(self) -> Any:
        """SQS's runtime while it serves (None once it stopped: the pollers then wait for their own stop)."""
        runtime = self.cloud.sqs_runtime
        return None if runtime is None or runtime.stopping.is_set() else runtime

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                gathered = self._gather()
                if gathered is not None:
                    self._run(*gathered)
            except Exception:
                log.exception("Lambda SQS poller of mapping %s failed; retrying", self.spec.uuid)
                self._stop.wait(_IDLE_SECONDS)

    def _gather(self) -> tuple[Queue, list[Received]] | None:
        """A batch: up to BatchSize messages, waiting up to the batching window for more once one arrived."""
        sqs = self._sqs()
        if sqs is None:
            self._stop.wait(_IDLE_SECONDS)
            return None
        with self.cloud.db.read() as conn:
            queue = sqs_records_store.find_by_arn(conn, self.cloud, self.spec.queue_arn)
        if queue is None:
            self._note(f"PROBLEM: the queue {self.spec.queue_arn} does not exist.")
            self._stop.wait(_IDLE_SECONDS * 5)
            return None
        received: list[Received] = []
        deadline = 0.0

        def claim(conn: Connection) -> tuple[list[Received], int | None]:
            current = sqs_records_store.find_by_arn(conn, self.cloud, queue.arn)
            if current is None or current.queue_id != queue.queue_id:
                return [], None
            now = sqs_records_store.now_ms()
            got = receiving.claim(conn, self.cloud, current, self.spec.batch_size - len(received),
                                  current.int_attribute("VisibilityTimeout"), now)
            return got, None if got else receiving.next_visible(conn, current, now)

        while not self._stop.is_set():
            seen = sqs.signals.version(queue.queue_id)
            got, next_visible = sqs.committer.run(claim)
            if got and not received:
                deadline = time.monotonic() + self.spec.window_seconds
            received.extend(got)
            left = deadline - time.monotonic()
            if len(received) >= self.spec.batch_size or (received and left <= 0) or sqs.stopping.is_set():
                break
            wait = left if received else _IDLE_SECONDS
            if next_visible is not None:
                wait = min(wait, max(0.0, (next_visible - sqs_records_store.now_ms()) / 1000))
            sqs.signals.wait(queue.queue_id, seen, wait)
        return (queue, received) if received else None

    def _run(self, queue: Queue, batch: list[Received]) -> None:
        """Invoke the function with one batch and delete what it processed."""
        spec = self.spec
        records = [sqs_records.sqs_record(message, queue_arn=queue.arn, region=spec.region, fifo=queue.fifo)
                   for message in batch]
        kept = [record for record in records if event_filters.keeps(spec.filters, record)]
        kept_ids = {record["messageId"] for record in kept}
        filtered_out = [record["receiptHandle"] for record in records if record["messageId"] not in kept_ids]
        fits = fit_payload(kept)
        kept, released = kept[:fits], kept[fits:]
        self._settle(queue, filtered_out, [record["receiptHandle"] for record in released])
        if not kept:
            return
        payload = json.dumps({"Records": kept}).encode("utf-8")
        try:
            target = resolve_target(self.cloud, spec.account_id, spec.function_arn, None)
            invocation = engine.run(self.cloud, target, payload)
        except ServiceError as problem:    # throttled, no host, function gone: the batch comes back later
            log.warning("Lambda SQS mapping %s: %s: %s", spec.uuid, problem.code, problem.message)
            self._note(f"PROBLEM: Function call failed: {problem.code}: {problem.message}")
            self._stop.wait(_IDLE_SECONDS)
            return
        failed = sqs_records.failed_items(invocation.payload, [record["messageId"] for record in kept],
                                          function_error=invocation.function_error is not None,
                                          report_failures=spec.report_failures)
        done = [record["receiptHandle"] for record in kept if record["messageId"] not in failed]
        self._settle(queue, done, [])
        self._note("OK" if not invocation.function_error else "PROBLEM: Function call failed")

    def _settle(self, queue: Queue, delete: list[str], release: list[str]) -> None:
        """Delete processed messages, and make those left out of a batch visible again, in one transaction."""
        sqs = self._sqs()
        if sqs is None or not (delete or release):
            return

        def settle(conn: Connection) -> None:
            receiving.delete(conn, [receiving.parse_handle(handle) for handle in delete])
            now = sqs_records_store.now_ms()
            for handle in release:
                receiving.set_visibility(conn, queue, receiving.parse_handle(handle), now)

        sqs.committer.run(settle)

    def _note(self, result: str) -> None:
        """Keep the mapping's last processing result (written only when it changes)."""
        if result == self._last_result:
            return
        self._last_result = result
        t = state.event_source_mappings
        with self.cloud.db.begin() as conn:
            conn.execute(t.update().where(t.c.uuid == self.spec.uuid).values(last_result=result))
