"""Accounts and access keys: who may sign requests, and as whom.

Every kind of credential lives in one ``access_keys`` table: an account root's keys,
IAM users' keys (AKIA...) and STS temporary credentials (ASIA... with a session
token and an expiry). A row carries the principal it authenticates as, so resolving
a request's signer is one primary-key lookup, cached in memory. Every write that changes
an existing key (its status, its deletion, a rename of its owner) announces :data:`TOPIC`,
which clears the cache of every process of the cloud once it commits, so a key deleted or
deactivated in one API worker stops working in all of them at once. Secret keys are stored
encrypted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Column, Connection, ForeignKey, String, Table, delete, insert, select, update

from controller.api import Principal
from controller.auth.secrets import SecretBox, new_access_key_id, new_secret_access_key
from controller.state import Database, JsonText, UtcDateTime, metadata, utcnow

accounts = Table(
    "accounts", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(50), nullable=False),
    Column("email", String(64), nullable=False),
    Column("status", String(16), nullable=False, default="ACTIVE"),
    Column("is_management", Boolean, nullable=False, default=False),
    Column("joined_method", String(16), nullable=False, default="CREATED"),
    Column("created_at", UtcDateTime, nullable=False),
)

access_keys = Table(
    "access_keys", metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False, index=True),
    Column("secret_encrypted", String, nullable=False),
    Column("status", String(16), nullable=False, default="Active"),
    #: root | user | assumed-role | federated
    Column("principal_kind", String(16), nullable=False),
    Column("principal_arn", String, nullable=False),
    Column("principal_id", String(128), nullable=False),
    #: user name (users), role name (role sessions); the owner, for listing keys per user
    Column("principal_name", String(128), nullable=False, default="", index=True),
    Column("session_token_hash", String(64)),
    Column("session", JsonText),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("last_used_at", UtcDateTime),
    Column("last_used_service", String(32)),
    Column("last_used_region", String(32)),
)

#: What a transaction changing existing keys announces: every process's credential cache forgets all it holds.
TOPIC = "auth:credentials"


@dataclass(frozen=True)
class Credential:
    """A resolved access key: the secret to verify a signature with, and its principal."""

    access_key_id: str
    secret_access_key: str
    principal: Principal
    status: str
    expires_at: dt.datetime | None
    session_token_hash: str | None

    def is_expired(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def token_matches(self, token: str | None) -> bool:
        """Temporary credentials need their session token; long-term keys must not carry one."""
        if self.session_token_hash is None:
            return not token
        return bool(token) and secrets.compare_digest(hash_token(token), self.session_token_hash)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_account_id() -> str:
    return str(secrets.randbelow(9 * 10**11) + 10**11)


class CredentialStore:
    """Creates, resolves and retires accounts and access keys."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box
        self._cache: dict[str, Credential | None] = {}
        #: Bumped by every clear: a resolve that read its row before a change committed stores nothing.
        self._generation = 0
        self._lock = threading.Lock()
        self._management: str | None = None
        db.subscribe(TOPIC, self._clear)

    # -- accounts -------------------------------------------------------------------------
    def create_account(self, name: str, email: str, *, is_management: bool = False,
                       joined_method: str = "CREATED", conn: Any = None) -> str:
        """Create an account with a fresh 12-digit id and return that id."""
        account_id = new_account_id()
        row = dict(account_id=account_id, name=name, email=email, status="ACTIVE",
                   is_management=is_management, joined_method=joined_method, created_at=utcnow())
        if conn is not None:
            conn.execute(insert(accounts).values(**row))
        else:
            with self.db.begin() as own:
                own.execute(insert(accounts).values(**row))
        return account_id

    def get_account(self, account_id: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute(select(accounts).where(accounts.c.account_id == account_id)).mappings().first()
        return dict(row) if row else None

    def list_accounts(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(select(accounts).order_by(accounts.c.created_at)).mappings().all()
        return [dict(r) for r in rows]

    def management_account(self) -> str | None:
        """The cloud's first account, which owns the organization (cached: it never changes)."""
        if self._management is None:
            with self.db.read() as conn:
                self._management = conn.execute(
                    select(accounts.c.account_id).where(accounts.c.is_management)).scalar()
        return self._management

    # -- keys ---------------------------------------------------------------------------------
    def create_key(self, principal: Principal, *, prefix: str = "AKIA", expires_at: dt.datetime | None = None,
                   session_token: str | None = None, session: dict[str, Any] | None = None,
                   conn: Any = None) -> tuple[str, str]:
        """Issue a key for ``principal``; returns ``(access_key_id, secret_access_key)``.

        The secret is returned once and kept only encrypted.
        """
        access_key_id = new_access_key_id(prefix)
        secret = new_secret_access_key()
        row = dict(
            access_key_id=access_key_id, account_id=principal.account_id,
            secret_encrypted=self.box.encrypt(secret), status="Active",
            principal_kind=principal.kind, principal_arn=principal.arn, principal_id=principal.user_id,
            principal_name=principal.name, session_token_hash=hash_token(session_token) if session_token else None,
            session=session, created_at=utcnow(), expires_at=expires_at)
        if conn is not None:
            conn.execute(insert(access_keys).values(**row))
        else:
            with self.db.begin() as own:
                own.execute(insert(access_keys).values(**row))
        self._forget(access_key_id)
        return access_key_id, secret

    def create_root_key(self, account_id: str) -> tuple[str, str]:
        return self.create_key(root_principal(account_id))

    def resolve(self, access_key_id: str) -> Credential | None:
        """The credential for a key id, or None when no such key exists (cached)."""
        try:
            return self._cache[access_key_id]
        except KeyError:
            pass
        generation = self._generation
        with self.db.read() as conn:
            row = conn.execute(select(access_keys).where(
                access_keys.c.access_key_id == access_key_id)).mappings().first()
        credential = self._credential(row) if row else None
        with self._lock:
            if generation == self._generation:
                if len(self._cache) > 100_000:
                    self._cache.clear()
                self._cache[access_key_id] = credential
        return credential

    def set_status(self, access_key_id: str, status: str, *, conn: Any = None) -> None:
        self._write(update(access_keys).where(access_keys.c.access_key_id == access_key_id)
                    .values(status=status), conn)

    def delete_key(self, access_key_id: str, *, conn: Any = None) -> None:
        self._write(delete(access_keys).where(access_keys.c.access_key_id == access_key_id), conn)

    def keys_of(self, account_id: str, principal_name: str, kind: str = "user") -> list[dict[str, Any]]:
        """Long-term keys of one principal (IAM ListAccessKeys), oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(select(access_keys).where(
                access_keys.c.account_id == account_id, access_keys.c.principal_kind == kind,
                access_keys.c.principal_name == principal_name,
                access_keys.c.session_token_hash.is_(None)).order_by(access_keys.c.created_at)).mappings().all()
        return [dict(r) for r in rows]

    def rename_principal(self, account_id: str, kind: str, old_name: str, new_name: str, new_arn: str,
                         *, conn: Any = None) -> None:
        """Follow an IAM UpdateUser rename, so existing keys sign as the renamed user."""
        self._write(update(access_keys).where(
            access_keys.c.account_id == account_id, access_keys.c.principal_kind == kind,
            access_keys.c.principal_name == old_name).values(principal_name=new_name, principal_arn=new_arn),
            conn)

    @staticmethod
    def record_use(conn: Connection, uses: dict[str, tuple[dt.datetime, str, str]]) -> None:
        """Store "last used" for many keys at once, in the audit writer's transaction of their events."""
        for key_id, (when, service, region) in uses.items():
            conn.execute(update(access_keys).where(access_keys.c.access_key_id == key_id).values(
                last_used_at=when, last_used_service=service, last_used_region=region))

    def purge_expired(self, now: dt.datetime) -> int:
        """Delete temporary credentials that expired more than a day ago."""
        with self.db.begin() as conn:
            result = conn.execute(delete(access_keys).where(
                access_keys.c.expires_at.is_not(None), access_keys.c.expires_at < now - dt.timedelta(days=1)))
            Database.announce(conn, TOPIC)
        return result.rowcount

    # -- internals ------------------------------------------------------------------------
    def _write(self, statement: Any, conn: Any) -> None:
        """Change existing keys in the caller's transaction (or in one of its own), announcing :data:`TOPIC`.

        The caches are cleared once the change is committed (a reader that refilled one from the
        not-yet-committed old row would otherwise keep a stale credential), in every process: the
        announcement reaches the others before the change's answer leaves.
        """
        if conn is not None:
            conn.execute(statement)
            Database.announce(conn, TOPIC)
        else:
            with self.db.begin() as own:
                own.execute(statement)
                Database.announce(own, TOPIC)

    def _clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._cache.clear()

    def _forget(self, access_key_id: str) -> None:
        with self._lock:
            self._cache.pop(access_key_id, None)

    def _credential(self, row: Any) -> Credential:
        session = row["session"] or {}
        principal = Principal(
            account_id=row["account_id"], arn=row["principal_arn"], kind=row["principal_kind"],
            user_id=row["principal_id"], name=row["principal_name"], access_key_id=row["access_key_id"],
            session_name=session.get("session_name", ""), role_arn=session.get("role_arn", ""),
            session_policy=session.get("policy"), session_tags=session.get("tags", {}),
            mfa_authenticated_at=_parse_time(session.get("mfa_authenticated_at")),
            source_identity=session.get("source_identity", ""))
        return Credential(
            access_key_id=row["access_key_id"], secret_access_key=self.box.decrypt(row["secret_encrypted"]),
            principal=principal, status=row["status"], expires_at=row["expires_at"],
            session_token_hash=row["session_token_hash"])


def root_principal(account_id: str) -> Principal:
    return Principal(account_id=account_id, arn=f"arn:aws:iam::{account_id}:root", kind="root",
                     user_id=account_id, name="root")


ANONYMOUS = Principal(account_id="", arn="*", kind="anonymous", user_id="anonymous", name="anonymous")


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
