"""The PostgreSQL state store's adaptation of the services' SQLite-flavoured SQL (``controller/state/postgres.py``),
and, on a real cluster, its functions and its writer lock."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from controller.state import Database, postgres, upsert
from tests import postgres_lab

TABLES = MetaData()
PAIRS = Table("pairs", TABLES, Column("a", String, primary_key=True), Column("b", Integer, primary_key=True),
              Column("note", String), Column("count", Integer))


def test_placeholders_become_psycopgs_and_a_literal_percent_is_doubled() -> None:
    sql = "SELECT * FROM t WHERE a = ? AND b LIKE 'x%' AND c = '?' AND d IN (?, ?)"
    assert postgres.translate(sql, True, TABLES) == \
        "SELECT * FROM t WHERE a = %s AND b LIKE 'x%%' AND c = '?' AND d IN (%s, %s)"
    assert postgres.translate(sql, False, TABLES) == sql  # SQLAlchemy's own statements: left alone


def test_insert_or_ignore_and_or_replace_become_on_conflict_clauses() -> None:
    assert postgres.translate("INSERT OR IGNORE INTO pairs (a, b) VALUES (?, ?)", True, TABLES) == \
        "INSERT INTO pairs (a, b) VALUES (%s, %s) ON CONFLICT DO NOTHING"
    assert postgres.translate("INSERT OR REPLACE INTO pairs (a, b, note, count) VALUES (?, ?, ?, ?) RETURNING a",
                              True, TABLES) == (
        "INSERT INTO pairs (a, b, note, count) VALUES (%s, %s, %s, %s) ON CONFLICT (a, b) "
        "DO UPDATE SET note = EXCLUDED.note, count = EXCLUDED.count RETURNING a")


def test_one_upsert_statement_compiles_for_both_engines() -> None:
    statement = upsert(PAIRS).values(a="x", b=1, note="n").on_conflict_do_update(
        index_elements=[PAIRS.c.a, PAIRS.c.b], set_={"note": "n"})
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        assert "ON CONFLICT (a, b) DO UPDATE SET note" in str(statement.compile(dialect=dialect))


@pytest.fixture(scope="module")
def store() -> Iterator[Database]:
    if postgres_lab.server_binaries() is None:
        pytest.skip("PostgreSQL is not installed")
    db = Database(postgres_lab.shared_cluster().create_database("cloudlet_unit"))
    db.create_schema()
    yield db
    db.close()


GLOBS = [("i-0abc", "i-0*"), ("i-0abc", "i-?abc"), ("i-0abc", "i-[0-9]abc"), ("i-xabc", "i-[0-9]abc"),
         ("a.b", "a.b"), ("axb", "a.b"), ("a[b", "a[[]b"), ("a*b", "a[*]b"), ("aXb", "a[*]b"), ("AB", "ab"),
         ("i-1", "i-[^0]"), ("i-0", "i-[^0]"), ("a$b(c)", "a$b(c)")]


@pytest.mark.postgres
def test_glob_matches_as_sqlites_does(store: Database) -> None:
    with sqlite3.connect(":memory:") as lite:
        expected = [bool(lite.execute("SELECT ? GLOB ?", (value, pattern)).fetchone()[0]) for value, pattern in GLOBS]
    with store.read() as conn:
        found = [conn.exec_driver_sql("SELECT glob(?, ?)", (pattern, value)).scalar() for value, pattern in GLOBS]
    assert found == expected


@pytest.mark.postgres
def test_json_functions_read_json_text_as_sqlites_do(store: Database) -> None:
    document = '{"RedrivePolicy": "{\\"deadLetterTargetArn\\": \\"arn:dlq\\"}", "Retention": "345600"}'
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT json_extract(json_extract(?, '$.RedrivePolicy'), "
                                    "'$.deadLetterTargetArn')", (document,)).scalar() == "arn:dlq"
        assert conn.exec_driver_sql("SELECT CAST(json_extract(?, '$.Retention') AS INTEGER) + 1",
                                    (document,)).scalar() == 345601
        assert [row[0] for row in conn.exec_driver_sql("SELECT CAST(value AS INTEGER) FROM json_each(?)",
                                                       ("[3, 1, 2]",))] == [3, 1, 2]


@pytest.mark.postgres
def test_writers_take_turns_and_readers_do_not_wait(store: Database) -> None:
    """A second writer (another controller's, here another engine's) starts only once the first committed."""
    other = Database(store.url)
    first_in, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with store.begin():
            order.append("first begins")
            first_in.set()
            release.wait(5)
            order.append("first commits")

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with other.read() as conn:  # a reader is not held up by the writer
        conn.execute(select(1)).scalar()
    order.append("read done")
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    with other.begin():
        order.append("second begins")
    thread.join()
    other.close()
    assert order == ["first begins", "read done", "first commits", "second begins"]
    assert time.monotonic() - started >= 0.25


@pytest.mark.postgres
def test_the_bus_carries_topics_between_processes_and_survives_a_lost_connection(store: Database) -> None:
    from controller.state.postgres_bus import PostgresBus

    heard: list[str] = []
    sender, receiver = PostgresBus(store.url, lambda topic: None), PostgresBus(store.url, heard.append)
    try:
        sender.publish(["s3:buckets", "iam"])
        receiver.sync()  # its own marker comes back after everything sent before it
        assert sorted(heard) == ["iam", "s3:buckets"]
        sender.sync()
        with store.read() as conn:  # the server drops both buses' listening connections
            dropped = conn.exec_driver_sql(
                "WITH listeners AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND query = 'LISTEN cloudlet_state') SELECT COUNT(*) FROM listeners WHERE pg_terminate_backend(pid)"
            ).scalar()
        assert dropped == 2
        started = time.monotonic()
        while "after" not in heard and time.monotonic() - started < 10:
            sender.publish(["after"])
            time.sleep(0.3)
        assert "after" in heard
        receiver.sync()
    finally:
        sender.close()
        receiver.close()
