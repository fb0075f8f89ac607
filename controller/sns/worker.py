"""The delivery worker: drains the outbox Publish writes, so no endpoint ever slows a Publish down.

One loop thread per cloud (``cloud.sns_worker``, started and stopped by SNS's hooks) wakes when a
Publish commits (``Database.announce``) or a retry falls due, and hands due deliveries to a thread
pool, so a slow HTTP endpoint holds one thread, not the queue behind it. A delivery leaves the outbox
only after its attempt finished (finished ones are removed together, every ``_REMOVE_INTERVAL``), so
whatever a restart interrupts is attempted again: at least once, as AWS delivers. On a FIFO topic a
message group's next delivery to a subscription waits until the one before it is done, which keeps
the group's order into a FIFO queue.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from controller.sns import dispatch, metrics
from controller.sns.dispatch import Pending
from controller.sns.records import now_ms
from controller.sns.state import OUTBOX_TOPIC

log = logging.getLogger(__name__)
#: Delivery threads: they mostly wait (on SQS's group commit, on HTTP endpoints), so several
#: deliveries share each of SQS's transactions.
_THREADS = 64
#: Finished deliveries are removed in one transaction at most this often: each transaction costs an
#: fsync and the write lock SQS's deliveries wait for. (A crash redelivers what finished since.)
_REMOVE_INTERVAL = 0.2
#: How long the loop lets news gather after it woke, so a burst costs one round, not one per delivery.
_SETTLE_SECONDS = 0.003
#: The longest the loop sleeps without news (a commit of another process is seen this late at worst).
_IDLE_SECONDS = 1.0

#: Due deliveries, oldest first, leaving out any whose message group has an earlier one still owed
#: (finished ones, given as a JSON list, are not owed even before their rows are removed).
_DUE = ("SELECT delivery_id, message_id, subscription_arn, attempts FROM sns_deliveries AS d WHERE due_at <= ?"
        " AND (group_id IS NULL OR NOT EXISTS (SELECT 1 FROM sns_deliveries AS e WHERE"
        " e.subscription_arn = d.subscription_arn AND e.group_id = d.group_id AND e.delivery_id < d.delivery_id"
        " AND e.delivery_id NOT IN (SELECT CAST(value AS INTEGER) FROM json_each(?)))) ORDER BY delivery_id LIMIT ?")


class DeliveryWorker:
    """Delivers the outbox of one cloud."""

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._finished: list[int] = []
        self._stopping = False
        self._removed_at = 0.0
        self._pool = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="sns-delivery")
        self._thread = threading.Thread(target=self._run, name="sns-outbox", daemon=True)
        #: the topics' CloudWatch counters and their publisher (controller/sns/metrics.py)
        self.metrics = metrics.TopicMetrics(cloud)

    def start(self) -> None:
        self.cloud.db.subscribe(OUTBOX_TOPIC, self._wake.set)
        self.cloud.leadership.on_elected(self._wake.set)
        self._thread.start()
        self.metrics.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=30)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.metrics.stop()

    def submit(self, work: Any, *args: Any) -> None:
        """Run ``work(*args)`` on the delivery pool (confirmation requests), logging what it raises."""
        def run() -> None:
            try:
                work(*args)
            except Exception:
                log.exception("SNS background work failed")
        if not self._stopping:
            self._pool.submit(run)

    def _run(self) -> None:
        while not self._stopping:
            try:
                timeout = self._dispatch_due()
            except Exception:
                log.exception("SNS delivery loop failed; retrying")
                timeout = _IDLE_SECONDS
            self._wake.wait(timeout)
            time.sleep(_SETTLE_SECONDS)     # let a burst of commits and completions gather into one round
            self._wake.clear()
        self._remove_finished()

    def _dispatch_due(self) -> float:
        """Remove finished deliveries, start due ones; how long to sleep before looking again."""
        with self._lock:
            busy = len(self._in_flight) - len(self._finished)     # running now (finished ones wait for removal)
            finished = json.dumps(self._finished)
        room = _THREADS * 2 - busy
        if room <= 0 or not self.cloud.leadership.leading:
            return _IDLE_SECONDS     # a completion (or this controller's election) wakes the loop
        now = now_ms()
        with self.cloud.db.read() as conn:
            rows = conn.exec_driver_sql(_DUE, (now, finished, len(self._in_flight) + room)).all()
            next_due = conn.exec_driver_sql("SELECT MIN(due_at) FROM sns_deliveries WHERE due_at > ?",
                                            (now,)).scalar()
            with self._lock:
                fresh = [Pending(row.delivery_id, row.message_id, row.subscription_arn, row.attempts)
                         for row in rows if row.delivery_id not in self._in_flight][:room]
                self._in_flight.update(pending.delivery_id for pending in fresh)
            try:
                loaded = dispatch.load(conn, fresh)
            except Exception:
                with self._lock:
                    self._in_flight.difference_update(pending.delivery_id for pending in fresh)
                raise
        for pending, delivery in loaded:
            self._pool.submit(self._attempt, pending, delivery)
        if time.monotonic() - self._removed_at >= _REMOVE_INTERVAL:
            self._remove_finished()
        wait = _IDLE_SECONDS if next_due is None else max(0.0, min(_IDLE_SECONDS, (next_due - now) / 1000))
        with self._lock:
            owed_removal = bool(self._finished)
        return min(wait, _REMOVE_INTERVAL) if owed_removal else wait

    def _attempt(self, pending: Pending, delivery: Any) -> None:
        try:
            retry_in = dispatch.attempt(self.cloud, pending, delivery)
        except Exception:
            log.exception("SNS delivery %s failed unexpectedly; retrying", pending.delivery_id)
            retry_in = _IDLE_SECONDS
        if retry_in is None:
            with self._lock:
                self._finished.append(pending.delivery_id)
        else:
            try:
                with self.cloud.db.begin() as conn:
                    conn.exec_driver_sql("UPDATE sns_deliveries SET attempts = attempts + 1, due_at = ?"
                                         " WHERE delivery_id = ?",
                                         (now_ms() + int(retry_in * 1000), pending.delivery_id))
            finally:
                with self._lock:
                    self._in_flight.discard(pending.delivery_id)
        self._wake.set()

    def _remove_finished(self) -> None:
        """Delete finished deliveries in one transaction, and messages nobody is owed any more."""
        self._removed_at = time.monotonic()
        with self._lock:
            finished, self._finished = self._finished, []
        if not finished:
            return
        marks = ",".join("?" * len(finished))
        try:
            with self.cloud.db.begin() as conn:
                message_ids = conn.exec_driver_sql(
                    f"DELETE FROM sns_deliveries WHERE delivery_id IN ({marks}) RETURNING message_id",
                    tuple(finished)).scalars().all()
                unique = tuple(sorted(set(message_ids)))
                if unique:
                    conn.exec_driver_sql(
                        f"DELETE FROM sns_messages WHERE message_id IN ({','.join('?' * len(unique))}) AND NOT"
                        " EXISTS (SELECT 1 FROM sns_deliveries WHERE sns_deliveries.message_id = "
                        "sns_messages.message_id)", unique)
        except Exception:
            with self._lock:    # try again on the next round; until then they stay in flight
                self._finished.extend(finished)
            raise
        with self._lock:
            self._in_flight.difference_update(finished)


def start(cloud: Any) -> None:
    """SNS's start hook: the cloud's delivery worker, which picks up what a previous run left owed."""
    if cloud.sns_worker is None:
        cloud.sns_worker = DeliveryWorker(cloud)
        cloud.sns_worker.start()


def stop(cloud: Any) -> None:
    if cloud.sns_worker is not None:
        cloud.sns_worker.stop()
        cloud.sns_worker = None


def drain(cloud: Any, timeout: float = 10.0) -> bool:
    """Wait until the outbox holds nothing due (tests and benchmarks use it); whether it emptied in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with cloud.db.read() as conn:
            if conn.exec_driver_sql("SELECT COUNT(*) FROM sns_deliveries WHERE due_at <= ?", (now_ms(),)).scalar() == 0:
                return True
        time.sleep(0.02)
    return False
