"""The console's sessions, kept in the state database.

A session lives here rather than in memory because any process of the cloud may serve the next page (the
primary and its API workers are separate processes), and a restart must not sign everyone out. The cookie
carries a random 256-bit token; only its SHA-256 is stored, so a copy of the database signs no one in. The
temporary credentials sign-in issued are kept encrypted with the cloud's secret box (``cloud.secrets``):
the console needs the session token to prove, like a signed call does, that the credentials still hold,
and the whole set to hand back to ``sign_out``.

A session that switched role (``console/role_switch.py``) has a row in ``console_roles`` beside it: the
role session's credentials, encrypted the same way, while the session acts as the role, and the last
:data:`HISTORY_LENGTH` roles switched to, for quick switching. A table of its own rather than columns of
``console_sessions``, because ``create_all`` does not add columns to a table an older release made.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Boolean, Column, Connection, String, Table, delete, insert, select, update

from controller.auth.console_session import ConsoleSession
from controller.auth.secrets import SecretBox
from controller.state import Database, UtcDateTime, metadata, utcnow

console_sessions = Table(
    "console_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("csrf_token", String(64), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("principal_arn", String(2048), nullable=False),
    Column("user_name", String(128), nullable=False),
    Column("access_key_id", String(32), nullable=False),
    Column("secret_encrypted", String, nullable=False),
    Column("session_token_encrypted", String, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
    Column("password_reset_required", Boolean, nullable=False),
    Column("mfa_authenticated", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

#: How many roles a session remembers for quick switching (AWS's console shows five).
HISTORY_LENGTH = 5

console_roles = Table(
    "console_roles", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("history", String, nullable=False),          # JSON list of RoleChoice, the latest first
    Column("account_id", String(12)),                   # the rest is NULL while acting as the signed-in user
    Column("role_name", String(512)),
    Column("display_name", String(64)),
    Column("colour", String(16)),
    Column("principal_arn", String(2048)),
    Column("access_key_id", String(32)),
    Column("secret_encrypted", String),
    Column("session_token_encrypted", String),
    Column("expires_at", UtcDateTime),
)


@dataclass(frozen=True)
class RoleChoice:
    """A role as the switch-role form names it: what the history keeps and the header shows."""

    account_id: str
    role_name: str
    display_name: str
    colour: str


@dataclass(frozen=True)
class ActiveRole:
    """The role a session acts as: AssumeRole's credentials of the role session."""

    choice: RoleChoice
    principal_arn: str          # arn:aws:sts::<acct>:assumed-role/<role>/<user>
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: dt.datetime


@dataclass(frozen=True)
class StoredSession:
    """A live console session: sign-in's answer, the token every POST of its pages must carry, and the
    role it switched to, if any, with the roles it switched to lately."""

    token_hash: str
    csrf_token: str
    signed_in: ConsoleSession
    role: ActiveRole | None = None
    history: tuple[RoleChoice, ...] = ()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(db: Database, box: SecretBox, signed_in: ConsoleSession) -> str:
    """Store a session for ``signed_in`` and return the cookie's token (never stored as such). Expired
    sessions of anyone are dropped in the same transaction, so the table holds live sessions only."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with db.begin() as conn:
        conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))
        conn.execute(delete(console_roles).where(
            console_roles.c.token_hash.not_in(select(console_sessions.c.token_hash))))
        conn.execute(insert(console_sessions).values(
            token_hash=hash_token(token), csrf_token=secrets.token_urlsafe(32),
            account_id=signed_in.account_id, principal_arn=signed_in.principal_arn,
            user_name=signed_in.user_name,
            access_key_id=signed_in.access_key_id, secret_encrypted=box.encrypt(signed_in.secret_access_key),
            session_token_encrypted=box.encrypt(signed_in.session_token), expires_at=signed_in.expiration,
            password_reset_required=signed_in.password_reset_required,
            mfa_authenticated=signed_in.mfa_authenticated, created_at=now))
    return token


def find(db: Database, box: SecretBox, token: str, now: dt.datetime | None = None) -> StoredSession | None:
    """The live session of a cookie's token; None for an unknown, deleted or expired one."""
    if not token:
        return None
    token_hash = hash_token(token)
    with db.read() as conn:
        row = conn.execute(select(console_sessions).where(
            console_sessions.c.token_hash == token_hash)).mappings().first()
        roles = conn.execute(select(console_roles).where(
            console_roles.c.token_hash == token_hash)).mappings().first()
    if row is None or row["expires_at"] <= (now or utcnow()):
        return None
    signed_in = ConsoleSession(
        account_id=row["account_id"], principal_arn=row["principal_arn"], user_name=row["user_name"],
        access_key_id=row["access_key_id"], secret_access_key=box.decrypt(row["secret_encrypted"]),
        session_token=box.decrypt(row["session_token_encrypted"]), expiration=row["expires_at"],
        password_reset_required=row["password_reset_required"], mfa_authenticated=row["mfa_authenticated"])
    if roles is None:
        return StoredSession(token_hash=token_hash, csrf_token=row["csrf_token"], signed_in=signed_in)
    return StoredSession(token_hash=token_hash, csrf_token=row["csrf_token"], signed_in=signed_in,
                         role=_active_role(box, roles), history=_history(roles["history"]))


def _active_role(box: SecretBox, row: Mapping[str, Any]) -> ActiveRole | None:
    if row["access_key_id"] is None:
        return None
    choice = RoleChoice(account_id=row["account_id"], role_name=row["role_name"],
                        display_name=row["display_name"], colour=row["colour"])
    return ActiveRole(choice=choice, principal_arn=row["principal_arn"], access_key_id=row["access_key_id"],
                      secret_access_key=box.decrypt(row["secret_encrypted"]),
                      session_token=box.decrypt(row["session_token_encrypted"]), expiration=row["expires_at"])


def _history(stored: str) -> tuple[RoleChoice, ...]:
    return tuple(RoleChoice(**choice) for choice in json.loads(stored))


def enter_role(db: Database, box: SecretBox, token_hash: str, role: ActiveRole) -> None:
    """Make the session act as ``role``, which becomes the first of its history (once, however often used)."""
    values = {"account_id": role.choice.account_id, "role_name": role.choice.role_name,
              "display_name": role.choice.display_name, "colour": role.choice.colour,
              "principal_arn": role.principal_arn, "access_key_id": role.access_key_id,
              "secret_encrypted": box.encrypt(role.secret_access_key),
              "session_token_encrypted": box.encrypt(role.session_token), "expires_at": role.expiration}
    same = (role.choice.account_id, role.choice.role_name)
    with db.begin() as conn:
        stored = _stored_history(conn, token_hash)
        history = [role.choice] + [c for c in stored if (c.account_id, c.role_name) != same]
        remembered = json.dumps([asdict(choice) for choice in history[:HISTORY_LENGTH]])
        if conn.execute(update(console_roles).where(console_roles.c.token_hash == token_hash).values(
                history=remembered, **values)).rowcount == 0:
            conn.execute(insert(console_roles).values(token_hash=token_hash, history=remembered, **values))


def leave_role(db: Database, token_hash: str) -> None:
    """Make the session act as the signed-in user again (its history stays)."""
    with db.begin() as conn:
        conn.execute(update(console_roles).where(console_roles.c.token_hash == token_hash).values(
            account_id=None, role_name=None, display_name=None, colour=None, principal_arn=None,
            access_key_id=None, secret_encrypted=None, session_token_encrypted=None, expires_at=None))


def _stored_history(conn: Connection, token_hash: str) -> tuple[RoleChoice, ...]:
    stored = conn.execute(select(console_roles.c.history).where(
        console_roles.c.token_hash == token_hash)).scalar()
    return _history(stored) if stored is not None else ()


def remove(db: Database, token_hash: str) -> None:
    """Forget a session (sign-out): its cookie signs no one in from now on, in every process."""
    with db.begin() as conn:
        conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == token_hash))
        conn.execute(delete(console_roles).where(console_roles.c.token_hash == token_hash))
