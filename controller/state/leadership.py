"""One leader among the controller processes of a cloud: the one that runs the background workers.

Requests can go to any controller on the state store, but the cloud's background work (alarm evaluation,
Auto Scaling's reconciler, Batch's dispatcher, SNS's outbox, SQS's sweeper, S3's lifecycle...) must run in one
process at a time, or two would act on the same row at once (and twice). On SQLite there is one controller
process, which always leads (:class:`SoleLeader`). On PostgreSQL the controllers elect one with a
session-level advisory lock (:data:`LEADER_LOCK`): each campaigns on a connection of its own, and the one whose
``pg_try_advisory_lock`` succeeds leads for as long as that connection lives. The others try again every
:data:`RETRY_SECONDS`. When the leader dies (even ``kill -9``: the kernel closes its socket) PostgreSQL ends
its session and frees the lock, and the next attempt of another controller wins: a takeover within a few
seconds, with no timeout of our own to tune. A leader that loses its connection (the server restarted, the
network broke) no longer holds the lock: it steps down as soon as its next check fails.

Workers ask :attr:`Leadership.leading` at the top of every round and skip the round when they do not lead;
:meth:`Leadership.on_elected` wakes them when this process takes over, so the takeover is not delayed by
a worker's own sleep.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from controller.state.postgres import WRITER_LOCK, conninfo

log = logging.getLogger(__name__)

#: The advisory lock's key (any constant other than the writer lock's).
LEADER_LOCK = WRITER_LOCK + 1
#: How often a follower tries to take the lead, and a leader checks its connection still holds it.
RETRY_SECONDS = 2.0
#: TCP keepalives on the campaign's connection: a leader cut off from the server by the network (no RST)
#: notices within about ten seconds instead of the kernel's two hours. (Ignored on a Unix socket.)
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 4, "keepalives_interval": 2, "keepalives_count": 3,
              "connect_timeout": 5}


class Leadership:
    """Whether this process leads the cloud's background workers now, and who to wake when it starts to."""

    def __init__(self) -> None:
        self._leading = threading.Event()
        self._elected_callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    def on_elected(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time this process becomes the leader (at once if it leads already)."""
        with self._lock:
            self._elected_callbacks.append(callback)
            leading = self.leading
        if leading:
            callback()

    def start(self) -> None:
        """Begin campaigning (the primary controller process, before its start hooks)."""

    def close(self) -> None:
        """Stop leading and campaigning (after the workers stopped)."""
        self._leading.clear()

    def _elect(self) -> None:
        with self._lock:
            self._leading.set()
            callbacks = list(self._elected_callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:  # one worker's failure to wake must not keep the others asleep
                log.exception("leadership: waking a worker failed")

    def _step_down(self) -> None:
        self._leading.clear()


class SoleLeader(Leadership):
    """SQLite's one controller process: it leads from the moment it exists, with nothing to campaign for (a
    worker started without :meth:`Cloud.start`, as the unit tests start them, runs as it always did)."""

    def __init__(self) -> None:
        super().__init__()
        self._elect()


class PostgresLeadership(Leadership):
    """The election on a PostgreSQL store (see the module's docstring)."""

    def __init__(self, url: str, *, retry_seconds: float = RETRY_SECONDS) -> None:
        super().__init__()
        self._conninfo = conninfo(url)
        self._retry_seconds = retry_seconds
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._campaign, name="leadership", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._retry_seconds + 10)
        super().close()

    def _campaign(self) -> None:
        """Connect, try to lead and hold on, until :meth:`close`; a lost connection is made again."""
        while not self._closing.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, **KEEPALIVES) as connection:
                    self._hold(connection)
            except psycopg.Error as exc:
                log.warning("leadership: lost the connection to PostgreSQL (%s); campaigning again", exc)
            if self.leading and not self._closing.is_set():
                log.warning("leadership: this controller no longer runs the background workers")
            self._step_down()
            self._closing.wait(self._retry_seconds)

    def _hold(self, connection: psycopg.Connection) -> None:
        """Try for the lock until won, then check every round that the session holding it is still there."""
        while not self._closing.is_set():
            if self.leading:
                connection.execute("SELECT 1")
            elif attempt(connection):
                log.info("leadership: this controller leads the background workers")
                self._elect()
            self._closing.wait(self._retry_seconds)
        # Closing the connection frees the lock: another controller takes over on its next attempt.


def attempt(connection: psycopg.Connection) -> bool:
    """Whether ``connection``'s session holds the leader lock now (taken if free; never waits)."""
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)).fetchone()
    return bool(row and row[0])


def leadership_for(url: str) -> Leadership:
    """The election a store of ``url`` needs: PostgreSQL's, or none (SQLite's one process leads)."""
    return PostgresLeadership(url) if url.startswith("postgresql") else SoleLeader()
