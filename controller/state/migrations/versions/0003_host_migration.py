"""Hosts: the live migration endpoint a host registers (``cloudlet host drain`` moves guests to it).

Revision ID: 0003_host_migration
Revises: 0002_host_columns
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controller.state import JsonText

revision = "0003_host_migration"
down_revision = "0002_host_columns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "migration" not in {column["name"] for column in sa.inspect(op.get_bind()).get_columns("hosts")}:
        op.add_column("hosts", sa.Column("migration", JsonText))
