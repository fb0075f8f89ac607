"""The revision counter of every host's desired document, and the wake-up for agents waiting on it.

Any write that can change what some host should run calls :func:`bump` in the same transaction
(VPC writes through ``controller.ec2.vpc.state.write``, instances, host registrations...). The
*generation* an agent sees is that counter: it moves with every such change and never goes back.

Agents long-poll ``GET /hosts/<id>/desired?generation=N``; :class:`GenerationWatch` parks those
requests until the generation differs from ``N``. It reads the counters from the database rather
than relying on in-process notifications, so a write committed by another process (``cloudlet netns
attach`` writes the state directly) wakes agents too. It reads only while at least one request waits
(one tiny query per interval for all of them); a bump committed by this process wakes them at once,
and so does :meth:`GenerationWatch.release` (a host ending its long-poll on shutdown). The cloud keeps
one watch (``cloud.host_generation``).
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Column, Connection, Integer, Table, select

from controller.state import Database, metadata, upsert

log = logging.getLogger(__name__)

#: How often a watch re-reads the counters while requests wait (the worst-case added latency).
POLL_INTERVAL = 0.05

host_generation = Table(
    "host_generation", metadata,
    Column("singleton", Integer, primary_key=True),
    Column("generation", Integer, nullable=False),
)

#: What a bump announces to the watch of this process (see :meth:`Database.announce`).
TOPIC = "host-generation"


def bump(conn: Connection) -> None:
    """Count one change affecting some host's document; call it inside the writing transaction. Waiting
    agents of this process are woken as soon as it commits (other processes' within a poll interval)."""
    statement = upsert(host_generation).values(singleton=1, generation=1)
    conn.execute(statement.on_conflict_do_update(
        index_elements=[host_generation.c.singleton], set_={"generation": host_generation.c.generation + 1}))
    Database.announce(conn, TOPIC)


def current(conn: Connection) -> int:
    """The generation now."""
    return int(conn.execute(select(host_generation.c.generation)).scalar() or 0)


class GenerationWatch:
    """Lets request threads wait for the generation to move, or for their host to be released."""

    def __init__(self, db: Database, interval: float = POLL_INTERVAL) -> None:
        self.db = db
        self.interval = interval
        self._condition = threading.Condition()
        self._generation: int | None = None
        self._waiters = 0
        self._kicks = 0
        self._releases: dict[str, int] = {}
        self._poller: threading.Thread | None = None
        self._closed = False
        db.subscribe(TOPIC, self.kick)
        db.on_end_waits(self.close)

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

    @property
    def closed(self) -> bool:
        """Whether the process is stopping: every long poll answers now."""
        return self._closed

    def close(self) -> None:
        """End every pending and later long poll (the process is stopping)."""
        self._closed = True
        self.kick()

    def releases(self, host_id: str) -> int:
        """How often ``host_id`` asked to end its pending long-polls (compare before and after a wait)."""
        with self._condition:
            return self._releases.get(host_id, 0)

    def release(self, host_id: str) -> None:
        """End ``host_id``'s pending long-polls now (its agent is shutting down)."""
        with self._condition:
            self._releases[host_id] = self._releases.get(host_id, 0) + 1
        self.kick()

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
