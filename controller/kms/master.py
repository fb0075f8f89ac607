"""The cloud's KMS master key: it wraps every key's material, and lives outside the state database.

The master key is 32 random bytes in a file of mode 0600 (``kms_master_key_file`` in cloudlet.json,
``DATA_DIR/kms-master.key`` by default), created on first start. A copy of ``state.db`` without that
file holds no usable key material. Each version of a KMS key's material is wrapped with AES-256-GCM,
the key id and version as additional data, so a wrapped value moved to another key does not open.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from controller.cloud import Cloud

MASTER_KEY_BYTES = 32
_NONCE_BYTES = 12


def master_key_path(cloud: Cloud) -> Path:
    configured = cloud.config.kms_master_key_file
    return Path(configured) if configured else cloud.config.data_dir / "kms-master.key"


def ensure_master_key(cloud: Cloud) -> None:
    """Create the master key file (0600) if the cloud has none yet: KMS's start hook."""
    path = master_key_path(cloud)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of the cloud made it first
        return
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(MASTER_KEY_BYTES))
        f.flush()
        os.fsync(f.fileno())


def master_key(cloud: Cloud) -> bytes:
    """The master key's bytes (read from its file on each use: nothing secret stays in a module)."""
    ensure_master_key(cloud)
    data = master_key_path(cloud).read_bytes()
    if len(data) != MASTER_KEY_BYTES:
        raise RuntimeError(f"{master_key_path(cloud)} is not a {MASTER_KEY_BYTES}-byte KMS master key")
    return data


def _label(key_id: str, version: int) -> bytes:
    return f"{key_id}/{version}".encode()


def wrap(master: bytes, key_id: str, version: int, material: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, material, _label(key_id, version))


def unwrap(master: bytes, key_id: str, version: int, wrapped: bytes) -> bytes:
    return AESGCM(master).decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _label(key_id, version))
