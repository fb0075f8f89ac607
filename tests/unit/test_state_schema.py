"""The state store's schema: an index a newer release declares reaches a store an older release created, and
DescribeInstances' tag filters read the tagged ids through it rather than every instance of the account."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from sqlalchemy import select

import controller.ec2.instances.state as instance_state
from controller.ec2.instances import views
from controller.ec2.vpc import state as vpc_state
from controller.state import Database


def test_an_index_missing_from_an_older_store_is_created_at_start(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Database(path).create_schema()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX ec2_tags_by_key")  # as a store made before the index existed
    Database(path).create_schema()
    with sqlite3.connect(path) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"ec2_tags_by_key", "ec2_tags_by_resource"} <= names


def test_a_tag_filter_reads_instances_by_id_from_the_tag_index(tmp_path: Path) -> None:
    database = Database(tmp_path / "state.db")
    database.create_schema()
    table, tags = instance_state.instances, vpc_state.tags
    query = select(table.c.instance_id).where(
        views.visible(table, "123456789012", dt.timedelta(hours=1), by_account=False),
        views._sql_filter(table, "123456789012", "tag:batch", ["7"])).order_by(table.c.instance_id).limit(101)
    with database.read() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(query.compile(conn, compile_kwargs={"literal_binds": True})))]
    assert any(tags.name in step and "ec2_tags_by_key" in step for step in plan), plan
    assert any(step.startswith(f"SEARCH {table.name}") and "(instance_id=?)" in step for step in plan), plan
    assert not any("account_id" in step and table.name in step for step in plan), plan
