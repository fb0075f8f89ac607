"""SQS's machinery: group commit (a failing job undoes only its own writes) and the long-poll signals."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection

from controller.sqs.store import topic
from controller.state import Database
from controller.state.committer import GroupCommitter
from controller.state.signals import KeyedSignals


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "state.db")
    with database.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    yield database
    database.close()


def values(db: Database) -> list[int]:
    with db.read() as conn:
        return sorted(row[0] for row in conn.exec_driver_sql("SELECT x FROM t"))


def test_concurrent_jobs_commit_together_and_a_failing_job_undoes_only_itself(db: Database) -> None:
    committer = GroupCommitter(db)
    results: dict[int, object] = {}

    def job(value: int) -> None:
        def work(conn: Connection) -> int:
            conn.exec_driver_sql("INSERT INTO t VALUES (?)", (value,))
            if value % 3 == 0:
                raise ValueError(f"job {value} refuses")
            return value * 10
        try:
            results[value] = committer.run(work)
        except ValueError as exc:
            results[value] = str(exc)

    threads = [threading.Thread(target=job, args=(value,)) for value in range(1, 13)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    committer.close()
    assert values(db) == [v for v in range(1, 13) if v % 3]
    assert results == {v: (f"job {v} refuses" if v % 3 == 0 else v * 10) for v in range(1, 13)}
    with pytest.raises(RuntimeError):
        committer.run(lambda conn: None)


def test_a_signal_wakes_a_waiter_when_the_announcing_transaction_commits(db: Database) -> None:
    signals = KeyedSignals(db, topic)
    seen = signals.version(7)
    assert not signals.wait(7, seen, 0.05)                # nothing announced: the timeout
    woke: list[float] = []
    waiter = threading.Thread(target=lambda: (signals.wait(7, seen, 5), woke.append(time.monotonic())))
    waiter.start()
    with db.begin() as conn:
        Database.announce(conn, "sqs:7")
        Database.announce(conn, "sqs:8")                   # another queue's topic: no one listens
        time.sleep(0.2)
        assert not woke                                     # not before the commit
    committed = time.monotonic()
    waiter.join(timeout=5)
    assert woke and woke[0] - committed < 1
    assert signals.version(7) == seen + 1


def test_closing_the_signals_releases_every_long_poll(db: Database) -> None:
    signals = KeyedSignals(db, topic)
    seen = signals.version(1)
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (signals.wait(1, seen, 30), done.set()))
    waiter.start()
    signals.close()
    assert done.wait(5)
