"""What other services may read of the credential store's tables, inside their own transactions.

Organizations lists and names accounts within the transaction that changes its tree, and STS reads
what was stored with a role session's key; :class:`~controller.auth.store.CredentialStore` opens a
transaction of its own per call, so these connection-taking readers are the store's answer for
callers already holding one. Organizations and STS read ``accounts`` and ``access_keys`` only through
these (IAM, which manages access keys, works on ``access_keys`` directly).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from controller.auth.store import access_keys, accounts


def account_exists(conn: Connection, account_id: str) -> bool:
    """Whether the cloud has an account with this id."""
    return conn.execute(select(accounts.c.account_id).where(accounts.c.account_id == account_id)).first() is not None


def account_name(conn: Connection, account_id: str) -> str | None:
    """The account's name (None when there is no such account)."""
    return conn.execute(select(accounts.c.name).where(accounts.c.account_id == account_id)).scalar()


def account_ids(conn: Connection) -> list[str]:
    """The id of every account of the cloud."""
    return list(conn.execute(select(accounts.c.account_id)).scalars())


def all_accounts(conn: Connection) -> list[dict[str, Any]]:
    """Every account's row (id, name, email, status, is_management, joined_method, created_at)."""
    return [dict(row) for row in conn.execute(select(accounts)).mappings()]


def email_taken(conn: Connection, email: str) -> bool:
    """Whether an account already uses this email address (compared case-insensitively, as AWS does)."""
    return conn.execute(select(accounts.c.account_id).where(
        func.lower(accounts.c.email) == email.lower())).first() is not None


def session_of(conn: Connection, access_key_id: str) -> dict[str, Any]:
    """What was stored with a temporary key when it was issued (empty for long-term keys and unknown ids)."""
    return conn.execute(select(access_keys.c.session).where(
        access_keys.c.access_key_id == access_key_id)).scalar() or {}
