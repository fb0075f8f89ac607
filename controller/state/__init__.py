"""The controller's state store: SQLite (WAL) through SQLAlchemy Core.

Every service declares its tables on the one shared :data:`metadata` in its own
``state.py`` module; :class:`Database` creates them all at start. Writes run in short
transactions (``with db.begin() as conn:``); SQLite's WAL lets readers proceed while
one writer commits. ``synchronous=FULL`` makes every acknowledged write survive a
crash of the process or of the machine.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, create_engine, event, types
from sqlalchemy.engine import Engine

metadata = MetaData()
_AFTER_COMMIT = "cloudlet_after_commit"
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
        #: This process's writers queue here rather than in SQLite's busy handler, which polls a locked
        #: database with sleeps growing to 100 ms: under concurrent writes that was the p99 (bench_api).
        self._writer = threading.RLock()
        self.engine: Engine = create_engine(
            f"sqlite:///{self.path}", pool_size=8, max_overflow=16,
            connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(self.engine, "connect", _configure_sqlite)
        event.listen(self.engine, "begin", _begin_immediate)

    def create_schema(self) -> None:
        """Create every table and index that the imported service modules declared; an index added by a newer
        release is created in a state store an older one made (``create_all`` skips existing tables whole)."""
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
        with self._writer, self.engine.begin() as conn:
            conn.info[_AFTER_COMMIT] = callbacks
            conn.info[_DATABASE] = self
            try:
                yield conn
            finally:
                del conn.info[_AFTER_COMMIT], conn.info[_DATABASE]
        for callback in callbacks:
            callback()

    @staticmethod
    def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
        """Run ``callback`` after ``conn``'s transaction commits (at once outside :meth:`begin`)."""
        pending = conn.info.get(_AFTER_COMMIT)
        if pending is None:
            callback()
        else:
            pending.append(callback)

    def subscribe(self, topic: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every transaction of this process that announces ``topic`` commits."""
        self._subscribers.setdefault(topic, []).append(callback)

    @staticmethod
    def announce(conn: Connection, topic: str) -> None:
        """Wake ``topic``'s subscribers once ``conn``'s transaction (a :meth:`begin`) has committed.

        Only this process's subscribers hear it: other processes see the committed rows when they
        next read (a long-poll re-reads its counter every poll interval).
        """
        db = conn.info.get(_DATABASE)
        if db is not None:
            for callback in db._subscribers.get(topic, ()):
                Database.after_commit(conn, callback)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection (WAL readers never block the writer)."""
        with self.engine.connect().execution_options(cloudlet_readonly=True) as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()


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
