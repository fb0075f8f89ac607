"""The keys SendSSHPublicKey pushed: one row per push, read by the instance's metadata service until it expires.

A row is never updated: a second push of the same key is a second row with its own expiry, as AWS keeps
each push for its own 60 seconds. Expired rows are deleted by the next push (nothing reads them: the
metadata service filters on ``expires_at``), so the table holds at most a minute of pushes.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from controller.state import UtcDateTime, metadata

managed_keys = Table(
    "eic_managed_keys", metadata,
    Column("key_id", Integer, primary_key=True, autoincrement=True),
    Column("instance_id", String(32), nullable=False),
    Column("os_user", String(32), nullable=False),
    #: The OpenSSH public key line as sent (``ssh-ed25519 AAAA... comment``).
    Column("public_key", Text, nullable=False),
    #: Who pushed it and in which request: the ``#Caller=`` and ``#Request=`` lines of the metadata entry.
    Column("caller_arn", String(2048), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_eic_managed_keys_instance", "instance_id", "expires_at"),
)
