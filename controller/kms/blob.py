"""The ciphertext blob Encrypt and GenerateDataKey return, and how it binds the encryption context.

AWS's blobs are opaque; Cloudlet's are a small versioned binary that names what decrypting needs,
so Decrypt finds the key without being told and a rotated key still opens old blobs::

    b"CKB" | format version (1 byte) | key id length (1 byte) | key id (ASCII) |
    material version (4 bytes, big-endian) | nonce (12 bytes) | AES-256-GCM ciphertext and tag

The header and the canonical encryption context are the AES-GCM additional data: a blob whose
header was edited, or opened with another context, fails authentication. Pure functions over
bytes; the cipher is ``cryptography``'s AES-GCM.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"CKB"
FORMAT_VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
_MATERIAL_VERSION = struct.Struct(">I")


class BlobError(ValueError):
    """The bytes are not a blob this cloud made, or they do not open with this key and context."""


@dataclass(frozen=True)
class Blob:
    """A parsed ciphertext blob."""

    key_id: str
    material_version: int
    nonce: bytes
    sealed: bytes

    @property
    def header(self) -> bytes:
        key_id = self.key_id.encode("ascii")
        return (MAGIC + bytes([FORMAT_VERSION, len(key_id)]) + key_id
                + _MATERIAL_VERSION.pack(self.material_version) + self.nonce)

    def to_bytes(self) -> bytes:
        return self.header + self.sealed


def context_bytes(context: Mapping[str, str] | None) -> bytes:
    """The encryption context in one canonical form: the same pairs in any order give the same bytes."""
    return json.dumps(dict(sorted((context or {}).items())), separators=(",", ":"), ensure_ascii=False
                      ).encode("utf-8")


def parse(data: bytes) -> Blob:
    """Read a blob's header, or raise :class:`BlobError` when ``data`` is not one."""
    if len(data) < len(MAGIC) + 2 or not data.startswith(MAGIC) or data[len(MAGIC)] != FORMAT_VERSION:
        raise BlobError("not a ciphertext blob of this cloud")
    id_length = data[len(MAGIC) + 1]
    start = len(MAGIC) + 2
    end = start + id_length
    sealed_at = end + _MATERIAL_VERSION.size + NONCE_BYTES
    if len(data) < sealed_at + TAG_BYTES:
        raise BlobError("ciphertext blob is truncated")
    try:
        key_id = data[start:end].decode("ascii")
    except UnicodeDecodeError as exc:
        raise BlobError("ciphertext blob names no key") from exc
    (material_version,) = _MATERIAL_VERSION.unpack_from(data, end)
    return Blob(key_id, material_version, data[end + _MATERIAL_VERSION.size:sealed_at], data[sealed_at:])


def seal(material: bytes, key_id: str, material_version: int, plaintext: bytes,
         context: Mapping[str, str] | None) -> bytes:
    """Encrypt ``plaintext`` under one version of a key's material, bound to ``context``."""
    unsealed = Blob(key_id, material_version, os.urandom(NONCE_BYTES), b"")
    sealed = AESGCM(material).encrypt(unsealed.nonce, plaintext, unsealed.header + context_bytes(context))
    return unsealed.header + sealed


def unseal(material: bytes, blob: Blob, context: Mapping[str, str] | None) -> bytes:
    """The plaintext of ``blob``, or :class:`BlobError` for a wrong key, material or context."""
    try:
        return AESGCM(material).decrypt(blob.nonce, blob.sealed, blob.header + context_bytes(context))
    except InvalidTag as exc:
        raise BlobError("ciphertext does not authenticate with this key and encryption context") from exc
