"""Secret access keys at rest, and new keys in AWS's formats.

The controller keeps every secret access key encrypted in its database with one key
that lives in a file of the data directory. :class:`SecretBox` creates that file on
first use (mode 0600, random Fernet key: AES-128-CBC with an HMAC-SHA256, so a changed
ciphertext is refused, never decrypted to garbage) and refuses to start when anyone
but its owner could read it. Decrypted values are cached in memory because every
signed request needs its signer's secret. Nothing here logs or prints a secret.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import stat
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

#: What AWS access key ids are made of after their four-letter prefix (base32's alphabet).
ACCESS_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_DECRYPTED_CACHE = 4096


class InsecureKeyFileError(PermissionError):
    """The key file can be read by others than its owner, or is not a regular file."""


class SecretDecryptionError(ValueError):
    """A stored secret is not a ciphertext of this key (another data directory's, or tampered with)."""


class SecretBox:
    """Encrypt and decrypt short secrets with the key kept in ``key_path``."""

    def __init__(self, key_path: str | Path) -> None:
        self.key_path = Path(key_path)
        self._fernet = Fernet(_load_or_create_key(self.key_path))
        self._decrypt_cached = lru_cache(maxsize=_DECRYPTED_CACHE)(self._decrypt)

    def __repr__(self) -> str:
        return f"SecretBox({str(self.key_path)!r})"

    def encrypt(self, plaintext: str) -> str:
        """An opaque ASCII token; encrypting the same value twice gives different tokens."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of a token made by :meth:`encrypt` with this key (cached)."""
        return self._decrypt_cached(token)

    def _decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretDecryptionError(f"a stored secret cannot be decrypted with {self.key_path}") from None


def _load_or_create_key(path: Path) -> bytes:
    """Read the key file, or create it atomically (two processes starting at once agree on one key)."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(Fernet.generate_key())
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
                os.link(temporary, path)
        finally:
            temporary.unlink()
    _check_private(path)
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError:
        raise ValueError(f"{path} does not hold a key (32 url-safe base64-encoded bytes)") from None
    return key


def _check_private(path: Path) -> None:
    status = path.stat()
    if not stat.S_ISREG(status.st_mode):
        raise InsecureKeyFileError(f"{path} is not a regular file")
    if status.st_mode & 0o077:
        raise InsecureKeyFileError(
            f"{path} is readable by group or others (mode {stat.S_IMODE(status.st_mode):04o}); "
            f"run 'chmod 600 {path}' and restart")
    if status.st_uid != os.geteuid():
        raise InsecureKeyFileError(f"{path} belongs to another user (uid {status.st_uid})")


def new_access_key_id(prefix: str = "AKIA") -> str:
    """An access key id as AWS makes them: the prefix (AKIA, ASIA...) then 16 of ``[A-Z2-7]``."""
    return prefix + "".join(secrets.choice(ACCESS_KEY_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    """40 characters of base64 (``[A-Za-z0-9+/]``), like AWS's secret access keys: 240 random bits."""
    return base64.b64encode(secrets.token_bytes(30)).decode("ascii")
