"""Baseline: the schema of the last release before Alembic, as its service modules declared it.

Nothing to do: a new store is created from the declared tables and stamped with the newest revision, and a
store made before Alembic already has these tables; it is stamped with this revision and migrated from here
(``controller/state/schema.py``).

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass
