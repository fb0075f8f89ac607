"""The revision counter of every host's desired document, and the wake-up for agents waiting on it.

Any write that can change what some host should run bumps a counter in the same transaction:
VPC writes bump ``ec2_network_generation`` (``controller.ec2.state.write``); everything else
(instances, host registrations...) calls :func:`bump` here. The *generation* an agent sees is the
sum of all registered counters, so it moves whenever any of them does and never goes back.

Agents long-poll ``GET /hosts/<id>/desired?generation=N``; :class:`GenerationWatch` parks those
requests until the generation differs from ``N``. It reads the counters from the database rather
than relying on in-process notifications, so a write committed by another process (``cloudlet netns
attach`` writes the state directly) wakes agents too. It reads only while at least one request waits
(one tiny query per interval for all of them), and :meth:`GenerationWatch.kick` wakes waiters at once
(a host releasing its long-poll on shutdown).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable

from sqlalchemy import Column, Connection, Integer, Table, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from controller.state import Database, metadata

log = logging.getLogger(__name__)

#: How often a watch re-reads the counters while requests wait (the worst-case added latency).
POLL_INTERVAL = 0.05

host_generation = Table(
    "host_generation", metadata,
    Column("singleton", Integer, primary_key=True),
    Column("generation", Integer, nullable=False),
)

GenerationSource = Callable[[Connection], int]


def bump(conn: Connection) -> None:
    """Count one change affecting some host's document; call it inside the writing transaction. Waiting
    agents of this process are woken as soon as it commits (other processes' within a poll interval)."""
    statement = sqlite_insert(host_generation).values(singleton=1, generation=1)
    conn.execute(statement.on_conflict_do_update(
        index_elements=[host_generation.c.singleton], set_={"generation": host_generation.c.generation + 1}))
    Database.after_commit(conn, kick_all)


def _own_counter(conn: Connection) -> int:
    return int(conn.execute(select(host_generation.c.generation)).scalar() or 0)


def _ec2_counter(conn: Connection) -> int:
    from controller.ec2.state import current_generation

    return current_generation(conn)


_sources: dict[str, GenerationSource] = {"hosts": _own_counter, "ec2-network": _ec2_counter}


def current(conn: Connection) -> int:
    """The generation now: the sum of every counter."""
    return sum(source(conn) for source in _sources.values())


class GenerationWatch:
    """Lets request threads wait for the generation to move; one per database (see :func:`watch_for`)."""

    def __init__(self, db: Database, interval: float = POLL_INTERVAL) -> None:
        self.db = db
        self.interval = interval
        self._condition = threading.Condition()
        self._generation: int | None = None
        self._waiters = 0
        self._kicks = 0
        self._poller: threading.Thread | None = None

    def current(self) -> int:
        with self.db.read() as conn:
            value = current(conn)
        with self._condition:
            if value != self._generation:
                self._generation = value
                self._condition.notify_all()
        return value

    def wait(self, known: int, timeout: float) -> int:
        """Block until the generation differs from ``known``, :meth:`kick` is called, or ``timeout``
        passes; returns the generation then."""
        deadline = time.monotonic() + timeout
        generation = self.current()
        with self._condition:
            kicks = self._kicks
            self._waiters += 1
            self._ensure_poller()
            try:
                while generation == known and kicks == self._kicks:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
                    generation = self._generation if self._generation is not None else generation
            finally:
                self._waiters -= 1
            kicked = kicks != self._kicks
        return self.current() if kicked else generation

    def kick(self) -> None:
        """Wake every waiter now (they re-check what they wait for and usually answer)."""
        with self._condition:
            self._kicks += 1
            self._condition.notify_all()

    def _ensure_poller(self) -> None:
        if self._poller is None or not self._poller.is_alive():
            self._poller = threading.Thread(target=self._poll, name="generation-watch", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        while True:
            with self._condition:
                if self._waiters == 0:
                    self._poller = None
                    return
            try:
                self.current()
            except Exception:  # a transient database error (locked, I/O) must not kill the watch
                log.exception("reading the host generation failed; retrying")
            time.sleep(self.interval)


_watches: weakref.WeakKeyDictionary[Database, GenerationWatch] = weakref.WeakKeyDictionary()
_watches_lock = threading.Lock()


def kick_all() -> None:
    """Wake the waiters of every watch of this process (a counter just moved)."""
    with _watches_lock:
        watches = list(_watches.values())
    for watch in watches:
        watch.kick()


def watch_for(db: Database) -> GenerationWatch:
    """The watch of ``db`` (created on first use; several clouds in one process each get their own)."""
    with _watches_lock:
        watch = _watches.get(db)
        if watch is None:
            watch = _watches[db] = GenerationWatch(db)
        return watch
