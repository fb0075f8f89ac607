"""Hosts: the columns added after the table first shipped (underlay address, function runner, tunnel
listener, schedulable), for a data dir an older controller made.

Until Alembic this was ``controller/hosts/state.py``'s own check of SQLite's ``PRAGMA table_info`` at each
registration; it is a migration now, and runs on either engine.

Revision ID: 0002_host_columns
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_host_columns"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

_ADDED = (sa.Column("underlay_ip", sa.String(45)), sa.Column("functions_url", sa.String(255)),
          sa.Column("tunnel_url", sa.String(255)),
          sa.Column("schedulable", sa.Integer, nullable=False, server_default="1"))


def upgrade() -> None:
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("hosts")}
    for column in _ADDED:
        if column.name not in present:
            op.add_column("hosts", column)
