"""The console's sessions, kept in the state database.

A session lives here rather than in memory because any process of the cloud may serve the next page (the
primary and its API workers are separate processes), and a restart must not sign everyone out. The cookie
carries a random 256-bit token; only its SHA-256 is stored, so a copy of the database signs no one in. The
temporary credentials sign-in issued are kept encrypted with the cloud's secret box (``cloud.secrets``):
the console needs the session token to prove, like a signed call does, that the credentials still hold,
and the whole set to hand back to ``sign_out``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Boolean, Column, String, Table, delete, insert, select

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


@dataclass(frozen=True)
class StoredSession:
    """A live console session: sign-in's answer, and the token every POST of its pages must carry."""

    token_hash: str
    csrf_token: str
    signed_in: ConsoleSession


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(db: Database, box: SecretBox, signed_in: ConsoleSession) -> str:
    """Store a session for ``signed_in`` and return the cookie's token (never stored as such). Expired
    sessions of anyone are dropped in the same transaction, so the table holds live sessions only."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with db.begin() as conn:
        conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))
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
    with db.read() as conn:
        row = conn.execute(select(console_sessions).where(
            console_sessions.c.token_hash == hash_token(token))).mappings().first()
    if row is None or row["expires_at"] <= (now or utcnow()):
        return None
    signed_in = ConsoleSession(
        account_id=row["account_id"], principal_arn=row["principal_arn"], user_name=row["user_name"],
        access_key_id=row["access_key_id"], secret_access_key=box.decrypt(row["secret_encrypted"]),
        session_token=box.decrypt(row["session_token_encrypted"]), expiration=row["expires_at"],
        password_reset_required=row["password_reset_required"], mfa_authenticated=row["mfa_authenticated"])
    return StoredSession(token_hash=row["token_hash"], csrf_token=row["csrf_token"], signed_in=signed_in)


def remove(db: Database, token_hash: str) -> None:
    """Forget a session (sign-out): its cookie signs no one in from now on, in every process."""
    with db.begin() as conn:
        conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == token_hash))
