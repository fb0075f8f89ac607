"""Console passwords: the one way they are hashed and checked, and the account root user's password.

Passwords are kept only as scrypt hashes (RFC 7914, ``hashlib.scrypt`` of the standard library): a
memory-hard KDF, so a stolen database costs an attacker 16 MiB and tens of milliseconds per guess, and
no new native dependency for a controller that already ships one (argon2id would be a little stronger
against GPUs, but not enough to add a C extension). Each hash carries its own salt and cost parameters
(``scrypt$N$r$p$salt$hash``), so the costs can rise later without invalidating stored passwords.

The root user has no password until the operator sets one (``cloudlet account root-password``); it is
stored beside the account, in :data:`root_passwords`, a table of its own so that a state store made
by an older release gains it without a migration.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import string

from sqlalchemy import Column, Connection, ForeignKey, String, Table, select, update

from controller.state import UtcDateTime, metadata, upsert

#: scrypt's cost: N=2^14, r=8 (16 MiB of memory), p=1, as RFC 7914 and OWASP suggest for interactive logins.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1
_SALT_BYTES, _HASH_BYTES = 16, 32
#: What a password is checked against when there is no hash (an unknown user, no password set): the same
#: work as a real check, so the answer's timing does not tell a wrong name from a wrong password. It hashes
#: a random password nobody kept, and a match would be refused anyway.
_DECOY = "scrypt$16384$8$1$2Da3d1s64M1XXPVcHrohJg==$ZZ/bFjXQ3mParX3AHZNOUUT3/Ac04/x2aKKxjkX8l7M="

root_passwords = Table(
    "account_root_passwords", metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("password_hash", String(256), nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
)


def hash_password(password: str) -> str:
    """A fresh salted scrypt hash of ``password``, in the self-describing form that :func:`verify` reads."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify(password: str, stored: str | None) -> bool:
    """Whether ``password`` is the one ``stored`` hashes; with no hash, spends the same time and says no."""
    try:
        kind, n, r, p, salt, digest = (stored or _DECOY).split("$")
        computed = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:  # a malformed hash never matches
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest)) and kind == "scrypt" and bool(stored)


def generate_password(length: int = 24) -> str:
    """A random password with every character class AWS's policies may ask for."""
    alphabet = string.ascii_letters + string.digits + "!@#$%^&*()_+-=[]{}|'"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (any(c.islower() for c in candidate) and any(c.isupper() for c in candidate)
                and any(c.isdigit() for c in candidate) and any(not c.isalnum() for c in candidate)):
            return candidate


def set_root_password(conn: Connection, account_id: str, password_hash: str, now: dt.datetime) -> None:
    """Set (or replace) the account root user's password hash."""
    statement = upsert(root_passwords).values(account_id=account_id, password_hash=password_hash, set_at=now)
    conn.execute(statement.on_conflict_do_update(index_elements=["account_id"],
                                                 set_={"password_hash": password_hash, "set_at": now}))


def root_password_hash(conn: Connection, account_id: str) -> str | None:
    return conn.execute(select(root_passwords.c.password_hash).where(
        root_passwords.c.account_id == account_id)).scalar()


def root_password_last_used(conn: Connection, account_id: str) -> dt.datetime | None:
    """When the root user last signed in to the console (GetUser's ``PasswordLastUsed``)."""
    return conn.execute(select(root_passwords.c.last_used_at).where(
        root_passwords.c.account_id == account_id)).scalar()


def record_root_sign_in(conn: Connection, account_id: str, now: dt.datetime) -> None:
    conn.execute(update(root_passwords).where(root_passwords.c.account_id == account_id).values(last_used_at=now))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 << 20, dklen=_HASH_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
