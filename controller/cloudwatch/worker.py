"""CloudWatch's background worker: the alarm evaluator and the retention sweeper, once per cloud process.

One loop thread (``cloud.cloudwatch_worker``, started and stopped by the package's hooks) evaluates
alarms every ``EVALUATE_SECONDS`` and soon after datapoints or alarms are written (they announce
:data:`~controller.cloudwatch.state.METRICS_TOPIC`), and sweeps old datapoints every ``SWEEP_SECONDS``.
Alarm actions run on a small pool so a slow action never delays evaluation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from controller.cloudwatch import evaluation, retention
from controller.cloudwatch.state import ALARMS_TOPIC, METRICS_TOPIC
from controller.state.committer import GroupCommitter

log = logging.getLogger(__name__)
EVALUATE_SECONDS = 10.0
SWEEP_SECONDS = 300.0
#: How long the loop lets a burst of writes gather before it evaluates.
SETTLE_SECONDS = 0.2


class CloudWatchWorker:
    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self.memory = evaluation.Memory()
        #: Datapoints of concurrent PutMetricData calls and ingests share one transaction and one fsync.
        self.committer: GroupCommitter = cloud.writer
        self._wake = threading.Event()
        self._stopping = False
        self._swept_at = 0.0
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cloudwatch-action")
        self._thread = threading.Thread(target=self._run, name="cloudwatch-evaluator", daemon=True)

    def start(self) -> None:
        self.cloud.db.subscribe(METRICS_TOPIC, self.notify)
        self.cloud.db.subscribe(ALARMS_TOPIC, self._wake.set)
        self.cloud.leadership.on_elected(self._wake.set)
        self._thread.start()

    def notify(self) -> None:
        """Data or alarms changed: evaluate soon."""
        self.memory.data_version += 1
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=30)
        self._pool.shutdown(wait=True, cancel_futures=False)

    def submit(self, work: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            try:
                work(*args)
            except Exception:
                log.exception("CloudWatch background work failed")
        if self._stopping:
            run()
        else:
            self._pool.submit(run)

    def _run(self) -> None:
        while not self._stopping:
            try:
                if self.cloud.leadership.leading:  # one controller evaluates (controller/state/leadership.py)
                    self._evaluate_and_sweep()
            except Exception:
                log.exception("CloudWatch evaluation failed; retrying")
            self._wake.wait(EVALUATE_SECONDS)
            if self._stopping:
                break
            time.sleep(SETTLE_SECONDS)
            self._wake.clear()

    def _evaluate_and_sweep(self) -> None:
        evaluation.run_pass(self.cloud, self.memory)
        if time.monotonic() - self._swept_at >= SWEEP_SECONDS:
            self._swept_at = time.monotonic()
            retention.sweep(self.cloud)


def start(cloud: Any) -> None:
    """The package's start hook: one worker per cloud."""
    if cloud.cloudwatch_worker is None:
        cloud.cloudwatch_worker = CloudWatchWorker(cloud)
        cloud.cloudwatch_worker.start()


def stop(cloud: Any) -> None:
    worker = cloud.cloudwatch_worker
    if worker is not None:
        worker.stop()
        cloud.cloudwatch_worker = None
