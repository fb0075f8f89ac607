"""SQS's per-cloud machinery: the queue cache, the long-poll signals and the background sweeper.

Long polls wait on the queue's counter (:class:`controller.state.signals.KeyedSignals`): a send announces
``sqs:<queue id>`` on its transaction (``Database.announce``) and the signal wakes that queue's waiters once
the commit is durable, in whichever process of the cloud they wait, so a waiting ReceiveMessage answers
within milliseconds of the send and no thread spins. The sweeper removes what time alone retires: messages
past their queue's retention period, FIFO deduplication ids older than five minutes, and the memory of names
deleted more than a minute ago.

Every process that serves SQS (the primary and each API worker) makes a runtime on first use; only the
primary's start hook starts its background parts (the sweeper, the metrics publisher, message move tasks).
A worker's runtime runs one thread of its own instead, which hands its metric counts to the primary's
publisher every few seconds (``metrics.flush``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from controller.cloudwatch import ingest
from controller.sqs import metrics
from controller.sqs.records import QUEUES_TOPIC, QueueCache, now_ms
from controller.sqs.store import DEDUPLICATION_MS, topic
from controller.state import Database
from controller.state.committer import GroupCommitter
from controller.state.signals import KeyedSignals

log = logging.getLogger(__name__)

_SWEEP_SECONDS = 30.0
_create_lock = threading.Lock()


class SqsRuntime:
    """Everything SQS keeps per cloud besides its tables."""

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self.signals: KeyedSignals[int] = KeyedSignals(cloud.db, topic)
        #: every hot-path write (send, receive, delete, visibility) goes through it: one fsync for many
        self.committer: GroupCommitter = cloud.writer
        self.queues = QueueCache()
        cloud.db.subscribe(QUEUES_TOPIC, self.queues.forget)
        self.stopping = threading.Event()
        self._sweeper: threading.Thread | None = None
        #: message move tasks running in this process (the primary only), by task handle, under ``move_lock``
        self.move_workers: dict[str, threading.Thread] = {}
        self.move_lock = threading.Lock()
        #: sends, receives and deletes since the last CloudWatch publish (controller/sqs/metrics.py)
        self.counters = metrics.QueueCounters()
        self._publisher = ingest.Publisher(cloud, metrics.publish, "sqs-metrics")
        #: an API worker's counts reach the primary's publisher through the state store
        self._flusher: ingest.Publisher | None = None
        if not cloud.primary:
            self._flusher = ingest.Publisher(cloud, lambda cloud, _now: metrics.flush(cloud, self.counters),
                                             "sqs-metrics-flush", interval=metrics.flush_seconds)
            self._flusher.start()

    def start_sweeper(self) -> None:
        if self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep_forever, name="sqs-sweeper", daemon=True)
            self._sweeper.start()
            self._publisher.start()

    def _sweep_forever(self) -> None:
        while not self.stopping.wait(_SWEEP_SECONDS):
            if not self.cloud.leadership.leading:  # one controller sweeps (controller/state/leadership.py)
                continue
            try:
                sweep(self.cloud.db, now_ms())
            except Exception:  # the next round tries again; a sweep must never stop the worker
                log.exception("SQS sweep failed")

    def close(self) -> None:
        self.stopping.set()
        self.signals.close()
        self._publisher.stop()
        if self._flusher is not None:
            self._flusher.stop()
        with self.move_lock:  # no task starts once ``stopping`` is set (move_tasks.launch_pending)
            workers = [self._sweeper, *self.move_workers.values()]
        for worker in workers:
            if worker is not None:
                worker.join(timeout=5)


def sweep(db: Database, now: int) -> None:
    """Delete expired messages, deduplication ids and deleted-name records, in one short transaction."""
    with db.begin() as conn:
        conn.exec_driver_sql(
            "DELETE FROM sqs_messages WHERE seq IN (SELECT m.seq FROM sqs_messages m JOIN sqs_queues q"
            " ON q.queue_id = m.queue_id WHERE m.sent_at + 1000 * CAST(json_extract(q.attributes,"
            " '$.MessageRetentionPeriod') AS INTEGER) <= ?)", (now,))
        conn.exec_driver_sql("DELETE FROM sqs_deduplication WHERE expires_at <= ?", (now,))
        conn.exec_driver_sql("DELETE FROM sqs_deleted_names WHERE deleted_at <= ?", (now - DEDUPLICATION_MS,))


def runtime(cloud: Any) -> SqsRuntime:
    """The cloud's SQS runtime, made on first use."""
    existing = cloud.sqs_runtime
    if existing is not None:
        return existing
    with _create_lock:
        if cloud.sqs_runtime is None:
            cloud.sqs_runtime = SqsRuntime(cloud)
        return cloud.sqs_runtime


def start(cloud: Any) -> None:
    """Start hook: the sweeper, and the message move tasks a restart interrupted."""
    runtime(cloud).start_sweeper()


def stop(cloud: Any) -> None:
    rt, cloud.sqs_runtime = cloud.sqs_runtime, None
    if rt is not None:
        rt.close()
