"""Group commit: concurrent writes share one transaction, so they share one fsync.

Every acknowledged write must be on disk (``synchronous=FULL``), and an fsync costs about a
millisecond here, more on a busy disk; one transaction per request would cap a service at a few
hundred calls per second whatever the CPU (SQS's sends, CloudWatch's datapoints). Writes are therefore jobs: the request thread hands its job to
the writer thread and waits; the writer runs every job that is pending in one transaction, each
inside its own SAVEPOINT (a job that raises undoes only its own writes and gets its own error),
commits once, and wakes them all. Nothing is acknowledged before its commit is durable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection

from controller.state import Database

T = TypeVar("T")

#: The most jobs one transaction takes (bounds how long the write lock is held).
MAX_JOBS = 64


class _Job:
    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[Connection], Any]) -> None:
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class GroupCommitter:
    """Runs write jobs for one database, committing concurrent ones together."""

    def __init__(self, db: Database, name: str = "db-writer") -> None:
        self._db = db
        self._name = name
        self._condition = threading.Condition()
        self._pending: list[_Job] = []
        self._thread: threading.Thread | None = None
        self._stopping = False

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` in a transaction and return its result once committed (or raise its error)."""
        job = _Job(work)
        with self._condition:
            if self._stopping:
                raise RuntimeError("the database writer is shutting down")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._pending.append(job)
            self._condition.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def close(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._pending and not self._stopping:
                    self._condition.wait()
                if not self._pending:
                    return
                jobs, self._pending = self._pending[:MAX_JOBS], self._pending[MAX_JOBS:]
            self._commit(jobs)

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            with self._db.begin() as conn:
                for job in jobs:
                    conn.exec_driver_sql("SAVEPOINT job")
                    try:
                        job.result = job.work(conn)
                    except Exception as exc:  # the job's own error: undo its writes only, report it to its caller
                        conn.exec_driver_sql("ROLLBACK TO job")
                        job.error = exc
                    conn.exec_driver_sql("RELEASE job")
        except Exception as exc:  # the transaction itself failed: nothing was committed for anyone
            for job in jobs:
                job.error = job.error or exc
        for job in jobs:
            job.done.set()
