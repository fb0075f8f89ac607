"""The controller's state store: SQLite (WAL, the embedded default) or PostgreSQL, through SQLAlchemy Core.

Every service declares its tables on the one shared :data:`metadata` in its own
``state.py`` module; :class:`Database` brings the schema up to date at start (``state/schema.py``: the
tables and indexes a store lacks, then Alembic's migrations). Writes run in short transactions (``with db.begin() as
conn:``), one writer at a time: SQLite's ``BEGIN IMMEDIATE`` (plus a file lock that queues the processes of
one machine), PostgreSQL's transaction-scoped advisory lock (``state/postgres.py``), which queues the
writers of every controller process on the database, on any machine. Readers never wait for the writer (WAL,
MVCC). ``synchronous=FULL`` (SQLite) and PostgreSQL's default ``fsync`` make every acknowledged write
survive a crash of the process or of the machine.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, MetaData, Table, create_engine, event, types
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.engine import BindTyping, Engine

from controller.state import postgres

if TYPE_CHECKING:
    from controller.state.bus import Bus
    from controller.state.postgres_bus import PostgresBus

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


def upsert(table: Table) -> Insert:
    """``INSERT ... ON CONFLICT`` for either engine: PostgreSQL's construct, which SQLite's compiler renders too
    (the same syntax since SQLite 3.24; SQLite's own construct does not compile for PostgreSQL)."""
    return postgresql.insert(table)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def database_url(location: Path | str) -> str:
    """The SQLAlchemy URL of a state store given as a URL (``postgresql+psycopg://...``) or a SQLite file."""
    text = str(location)
    return text if "://" in text else f"sqlite:///{Path(text)}"


class Database:
    """One state store shared by all services of a controller (and by every controller process on it)."""

    def __init__(self, location: Path | str) -> None:
        self.url = database_url(location)
        self.postgres = self.url.startswith("postgresql")
        #: The SQLite file (None on PostgreSQL).
        self.path = Path(self.url.removeprefix("sqlite:///")) if not self.postgres else None
        #: Callbacks of this process per topic, run after a transaction that announced the topic commits.
        self._subscribers: dict[str, list[Callable[[], None]]] = {}
        #: What ends this process's long polls (:meth:`end_waits`).
        self._wait_enders: list[Callable[[], None]] = []
        #: This process's writers queue here rather than in SQLite's busy handler, which polls a locked
        #: database with sleeps growing to 100 ms: under concurrent writes that was the p99 (bench_api).
        self._writer = threading.RLock()
        #: And the writers of every process of a SQLite cloud (API workers, ``cloudlet account create``) queue
        #: on this file's ``flock``, which the kernel hands over in order, for the same reason. (PostgreSQL's
        #: writers queue on the database's advisory lock instead.)
        self._write_lock_fd = (None if self.path is None else
                               os.open(f"{self.path}.writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        #: The other processes of the cloud, once :meth:`join_bus` is called (``cloudlet up --workers``).
        self.bus: Bus | PostgresBus | None = None
        self._snapshot = {"isolation_level": "REPEATABLE READ"} if self.postgres else {}
        if self.postgres:
            self.engine: Engine = create_engine(self.url, pool_size=8, max_overflow=24, pool_pre_ping=True,
                                                supports_native_boolean=False)
            # No ``::TYPE`` casts on bound values: PostgreSQL infers them from the columns, and psycopg sends an
            # int as the smallest integer type that holds it (a cast to INTEGER overflowed BIGINT columns).
            self.engine.dialect.bind_typing = BindTyping.NONE
            event.listen(self.engine, "connect", lambda dbapi, _record: postgres.configure_connection(dbapi, metadata))
            event.listen(self.engine, "begin", _lock_writer)
        else:
            self.engine = create_engine(self.url, pool_size=8, max_overflow=16,
                                        connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(self.engine, "connect", _configure_sqlite)
            event.listen(self.engine, "begin", _begin_immediate)

    def create_schema(self) -> None:
        """Bring the store's schema up to date: every table and index that the imported service modules
        declared and the store lacks, then Alembic's migrations (``state/schema.py``)."""
        logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines say nothing an operator needs
        from controller.state import schema

        schema.upgrade(self, metadata)

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
        if self.postgres:
            from controller.state.postgres_bus import PostgresBus

            self.bus = PostgresBus(self.url, self._hear)
            return
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
        """A read-only connection (WAL and MVCC readers never block the writer), whose statements all see one
        snapshot, as SQLite's read transaction does (PostgreSQL's REPEATABLE READ; its default READ COMMITTED
        would let a later statement see a commit an earlier one did not)."""
        with self.engine.connect().execution_options(cloudlet_readonly=True, **self._snapshot) as conn:
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
        if self._write_lock_fd is not None:
            os.close(self._write_lock_fd)


@contextmanager
def _flocked(fd: int | None) -> Iterator[None]:
    if fd is None:
        yield
        return
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


def _lock_writer(conn: Connection) -> None:
    # PostgreSQL's counterpart of BEGIN IMMEDIATE: the writer lock before the transaction reads anything.
    if not conn.get_execution_options().get("cloudlet_readonly", False):
        postgres.take_writer_lock(conn)
