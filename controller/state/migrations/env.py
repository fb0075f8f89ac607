"""Alembic's environment for the controller's state store: migrations run on the connection the controller
hands over (``state/schema.py``), inside its transaction, never on a URL of their own."""

from __future__ import annotations

from alembic import context

from controller.state import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the controller's migrations run through controller.state.schema, on its connection")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
context.run_migrations()
