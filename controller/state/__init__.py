"""The controller's state store: SQLite (WAL) through SQLAlchemy Core.

Every service declares its tables on the one shared :data:`metadata` in its own
``state.py`` module; :class:`Database` creates them all at start. Writes run in short
transactions (``with db.begin() as conn:``); SQLite's WAL lets readers proceed while
one writer commits. ``synchronous=FULL`` makes every acknowledged write survive a
crash of the process or of the machine.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, MetaData, create_engine, event, inspect, types
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from controller.state.bus import Bus

metadata = MetaData()
_AFTER_COMMIT = "cloudlet_after_commit"
_ANNOUNCED = "cloudlet_announced"
_DATABASE = "cloudlet_database"


class EncodedJson(str):
    """JSON text already encoded, which a :class:`JsonText` column stores as it is (the audit trail encodes
    each event once, for its crash journal and its row)."""


class JsonText(types.TypeDecorator):
    """A JSON document stored as compact text (SQLite has no native JSON column)."""

    impl = types.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if isinstance(value, EncodedJson):
            return str(value)
        return None if value is None else json.dumps(value, separators=(",", ":"), default=str)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(value)


class UtcDateTime(types.TypeDecorator):
    """Timestamps stored as ISO-8601 text in UTC and always returned timezone-aware."""

    impl = types.String(32)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store")
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def process_result_value(self, value: str | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return dt.datetime.fromisoformat(value)  # 40x faster than strptime; "Z" gives an aware UTC time


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Database:
    """One SQLite database file shared by all services of a controller."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        #: Callbacks of this process per topic, run after a transaction that announced the topic commits.
        self._subscribers: dict[str, list[Callable[[], None]]] = {}
        #: What ends this process's long polls (:meth:`end_waits`).
        self._wait_enders: list[Callable[[], None]] = []
        #: This process's writers queue here rather than in SQLite's busy handler, which polls a locked
        #: database with sleeps growing to 100 ms: under concurrent writes that was the p99 (bench_api).
        self._writer = threading.RLock()
        #: And the writers of every process of the cloud (API workers, ``cloudlet account create``) queue on
        #: this file's ``flock``, which the kernel hands over in order, for the same reason.
        self._write_lock_fd = os.open(f"{self.path}.writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        #: The other processes of the cloud, once :meth:`join_bus` is called (``cloudlet up --workers``).
        self.bus: Bus | None = None
        self.engine: Engine = create_engine(
            f"sqlite:///{self.path}", pool_size=8, max_overflow=16,
            connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(self.engine, "connect", _configure_sqlite)
        event.listen(self.engine, "begin", _begin_immediate)

    def create_schema(self) -> None:
        """Create every table and index that the imported service modules declared; an index added by a newer
        release is created in a state store an older one made (``create_all`` skips existing tables whole).

        A new store (no table yet) is made in one pass without asking SQLite about each of its ~180 tables and
        ~160 indexes first: that took half of the time of a new cloud's schema (every test cloud is one)."""
        with self.engine.begin() as conn:  # BEGIN IMMEDIATE: another process making the store waits for this one
            if not inspect(conn).get_table_names():
                metadata.create_all(conn, checkfirst=False)
                return
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            for table in metadata.sorted_tables:
                for index in table.indexes:
                    index.create(conn, checkfirst=True)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction, committed on exit (rolled back on an exception).

        Callbacks registered with :meth:`after_commit` run once the commit is durable, so
        in-memory caches are invalidated only when readers can no longer see old rows.
        """
        callbacks: list[Callable[[], None]] = []
        topics: set[str] = set()
        with self._writer, _flocked(self._write_lock_fd), self.engine.begin() as conn:
            conn.info[_AFTER_COMMIT] = callbacks
            conn.info[_ANNOUNCED] = topics
            conn.info[_DATABASE] = self
            try:
                yield conn
            finally:
                del conn.info[_AFTER_COMMIT], conn.info[_ANNOUNCED], conn.info[_DATABASE]
        for callback in callbacks:
            callback()
        if topics:
            self.broadcast(*topics)

    @staticmethod
    def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
        """Run ``callback`` after ``conn``'s transaction commits (at once outside :meth:`begin`)."""
        pending = conn.info.get(_AFTER_COMMIT)
        if pending is None:
            callback()
        else:
            pending.append(callback)

    def subscribe(self, topic: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every committed transaction, of any process of the cloud, that announces
        ``topic`` (and on every :meth:`broadcast` of it)."""
        self._subscribers.setdefault(topic, []).append(callback)

    @staticmethod
    def announce(conn: Connection, topic: str) -> None:
        """Wake ``topic``'s subscribers in every process once ``conn``'s transaction (a :meth:`begin`) has
        committed: this process's at once, the others' before the commit's answer leaves (``state/bus.py``)."""
        announced = conn.info.get(_ANNOUNCED)
        if announced is not None:
            announced.add(topic)

    def broadcast(self, *topics: str) -> None:
        """Wake ``topics``' subscribers in every process now: for a change already committed, or one that
        lives outside the database."""
        for topic in topics:
            self._hear(topic)
        if self.bus is not None:
            self.bus.publish(topics)

    def join_bus(self, folder: Path, name: str | None = None) -> None:
        """Hear the announcements of the other processes serving this cloud, and send them ours."""
        from controller.state.bus import Bus

        self.bus = Bus(folder, self._hear, name)

    def sync(self) -> None:
        """Hear what other processes have announced so far: a request calls this before reading any cache."""
        if self.bus is not None:
            self.bus.sync()

    def _hear(self, topic: str) -> None:
        for callback in self._subscribers.get(topic, ()):
            callback()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection (WAL readers never block the writer)."""
        with self.engine.connect().execution_options(cloudlet_readonly=True) as conn:
            yield conn

    def on_end_waits(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on :meth:`end_waits`: what a long poll waits on (commits announcing a topic) stops
        coming, so its waiters must answer with what they have."""
        self._wait_enders.append(callback)

    def end_waits(self) -> None:
        """End every long poll of this process for good. A stopping process calls it before its HTTP servers
        stop: their threads would otherwise sit in a 20-second poll past the servers' shutdown timeout, and
        ``cloudlet up`` took that long to exit on Ctrl-C."""
        for callback in self._wait_enders:
            callback()

    def close(self) -> None:
        self.end_waits()
        if self.bus is not None:
            self.bus.close()
        self.engine.dispose()
        os.close(self._write_lock_fd)


@contextmanager
def _flocked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is off: SQLAlchemy's "begin" event issues BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(conn: Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so two writers never deadlock
    # upgrading from read to write; read-only work goes through Database.read().
    readonly = conn.get_execution_options().get("cloudlet_readonly", False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
