"""Bringing a state store's schema up to date at start, with Alembic (``state/migrations/``).

A store gets, in one transaction that holds the writer lock (so two controllers starting together on one
PostgreSQL database take turns; PostgreSQL's DDL is transactional, SQLite's too):

1. the tables and indexes the imported service modules declare that it lacks (``create_all`` never alters
   an existing table, so this only adds: a new service's tables, or a new index);
2. Alembic's migrations from its recorded revision to the newest (:data:`HEAD`), which change what exists.
   A new store is stamped with the newest revision at once (step 1 made it as the code declares it); a
   store made before Alembic was used (tables, no ``alembic_version``) is stamped with the baseline first
   (:data:`BASELINE`: the schema as it stood then) and migrated from there.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, inspect

from controller.state import postgres

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The revision a store made before Alembic is stamped with: the schema of the last release without it.
BASELINE = "0001_baseline"


def alembic_config(conn: Connection | None = None) -> AlembicConfig:
    """Alembic's configuration for the controller's migrations, run on ``conn`` (``migrations/env.py``)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def revision(conn: Connection) -> str | None:
    """The store's recorded Alembic revision (None: made before Alembic, or empty)."""
    return MigrationContext.configure(conn).get_current_revision()


class Store(Protocol):
    """What :func:`upgrade` needs of :class:`controller.state.Database` (which calls it, and which this module
    therefore does not import)."""

    postgres: bool

    def begin(self) -> AbstractContextManager[Connection]: ...


def upgrade(db: Store, metadata: MetaData) -> None:
    """Steps 1 and 2 of the module's docstring for ``metadata``'s tables, in one transaction."""
    with db.begin() as conn:
        if db.postgres:
            postgres.install_functions(conn)
        existing = set(inspect(conn).get_table_names())
        recorded = revision(conn) if "alembic_version" in existing else None
        # A new store (no table yet) is made in one pass without asking the database about each of its ~180
        # tables and ~160 indexes first: that took half of the time of a new cloud's schema.
        metadata.create_all(conn, checkfirst=bool(existing))
        if existing:
            indexes = postgres.index_names(conn) if db.postgres else {row[0] for row in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index'")}
            for table in metadata.sorted_tables:
                for index in table.indexes:
                    if index.name not in indexes:
                        index.create(conn)
        config = alembic_config(conn)
        if not existing:
            command.stamp(config, "head")
            return
        if recorded is None:
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
