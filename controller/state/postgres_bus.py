"""Announcements between the controller processes on one PostgreSQL database, through LISTEN/NOTIFY.

The counterpart of ``state/bus.py`` (Unix datagrams between the processes of one machine) for controllers
that share a PostgreSQL store from any number of machines: each process LISTENs on :data:`CHANNEL` on a
connection of its own, and publishes a commit's topics with ``pg_notify`` once the commit is durable.

PostgreSQL delivers notifications to a listener in the order they were sent, and a sender's notification
after its commit. :meth:`PostgresBus.sync` builds "read your writes from any process" on that: it sends a
marker of its own and waits until its listener hears it back, so every topic published before the marker
(every commit the client saw acknowledged elsewhere) has been heard first.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable

import psycopg

from controller.state.postgres import conninfo

log = logging.getLogger(__name__)

CHANNEL = "cloudlet_state"
#: How long :meth:`PostgresBus.sync` waits for its marker before it gives up (a lost listener connection).
SYNC_TIMEOUT = 5.0
#: How long the listener waits before it connects again after losing its connection.
RECONNECT_SECONDS = 1.0


class PostgresBus:
    """This process's end of the bus; ``hear(topic)`` runs for each topic another process published."""

    def __init__(self, url: str, hear: Callable[[str], None]) -> None:
        self._hear = hear
        self._me = uuid.uuid4().hex
        self._conninfo = conninfo(url)
        self._listener = psycopg.connect(self._conninfo, autocommit=True)
        self._listener.execute(f"LISTEN {CHANNEL}")
        self._sender = psycopg.connect(self._conninfo, autocommit=True)
        self._send_lock = threading.Lock()
        self._heard = threading.Condition()
        self._markers_sent = 0
        self._markers_heard = 0
        self._closing = False
        self._thread = threading.Thread(target=self._listen, name="state-bus-pg", daemon=True)
        self._thread.start()

    def publish(self, topics: Iterable[str]) -> None:
        """Send ``topics`` to every other process on the database (each hears them once)."""
        names = sorted(set(topics))
        if names:
            self._notify("\n".join([f"topics {self._me}", *names]))

    def sync(self) -> None:
        """Hear every topic already published to this process (see the module's docstring)."""
        with self._heard:
            self._markers_sent += 1
            wanted = self._markers_sent
        self._notify(f"marker {self._me}")
        with self._heard:
            if not self._heard.wait_for(lambda: self._markers_heard >= wanted or self._closing, SYNC_TIMEOUT):
                log.warning("state bus: no answer from PostgreSQL in %.0f s; reading what this process has",
                            SYNC_TIMEOUT)

    def close(self) -> None:
        with self._heard:
            self._closing = True
            self._heard.notify_all()
        self._notify(f"closing {self._me}")  # wakes this process's listener, which then returns
        self._thread.join(timeout=5)
        for connection in (self._listener, self._sender):
            connection.close()

    def _notify(self, payload: str) -> None:
        with self._send_lock:
            try:
                self._sender.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
            except psycopg.OperationalError:  # the server restarted: one reconnect, then the caller's error
                self._sender = psycopg.connect(self._conninfo, autocommit=True)
                self._sender.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    def _listen(self) -> None:
        """Hear notifications until :meth:`close`; a lost connection (the server restarted) is made again."""
        while not self._closing:
            try:
                if self._hear_until_closed():
                    return
            except psycopg.OperationalError as exc:
                log.warning("state bus: lost PostgreSQL's notifications (%s); listening again", exc)
            with self._heard:  # markers sent before the loss will never come back: release their waiters
                self._markers_heard = self._markers_sent
                self._heard.notify_all()
            time.sleep(RECONNECT_SECONDS)
            with contextlib.suppress(psycopg.OperationalError):
                self._listener = psycopg.connect(self._conninfo, autocommit=True)
                self._listener.execute(f"LISTEN {CHANNEL}")

    def _hear_until_closed(self) -> bool:
        """Deliver what arrives; True once this process's own ``closing`` came back."""
        for notification in self._listener.notifies():
            kind, _, rest = notification.payload.partition(" ")
            sender, _, body = rest.partition("\n")
            if sender != self._me:
                if kind == "topics":
                    self._deliver(body.split("\n"))
                continue
            if kind == "closing":
                return True
            if kind == "marker":
                with self._heard:
                    self._markers_heard += 1
                    self._heard.notify_all()
        return False

    def _deliver(self, topics: list[str]) -> None:
        for topic in topics:
            try:
                self._hear(topic)
            except Exception:  # one subscriber's failure must not stop the others hearing
                log.exception("state bus: hearing %r failed", topic)
