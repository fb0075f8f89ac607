"""Encryption at rest: SSE-S3 (a key the controller holds) and SSE-C (a key the client sends).

Each encrypted object gets its own random 256-bit data key, stored only wrapped
(AES-GCM) under the controller's master key (SSE-S3) or under the customer's key
(SSE-C, which S3 never stores: a GET must bring it again, and a wrong one fails to
unwrap). The data itself is AES-256-CTR with a random 128-bit initial counter per
stored segment: CTR encrypts in place at any offset, so range GETs decrypt only what
they send and uploads stream with no padding and no buffering.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from controller.s3.errors import (
    AccessDenied,
    InvalidArgument,
    InvalidEncryptionAlgorithmError,
    InvalidRequest,
)

SSE_S3 = "AES256"
SSE_C = "SSE-C"
_BLOCK = 16


@dataclass(frozen=True)
class CustomerKey:
    """An SSE-C key as the request sent it: the raw key and its base64 MD5 (echoed in responses)."""

    key: bytes
    md5: str


def customer_key(params: dict[str, Any], prefix: str = "") -> CustomerKey | None:
    """The SSE-C key of a request (``prefix="CopySource"`` for the copy source's), checked as S3 does."""
    algorithm = params.get(f"{prefix}SSECustomerAlgorithm")
    encoded = params.get(f"{prefix}SSECustomerKey")
    md5 = params.get(f"{prefix}SSECustomerKeyMD5")
    if algorithm is None and encoded is None and md5 is None:
        return None
    if algorithm != "AES256":
        raise InvalidEncryptionAlgorithmError("The encryption request you specified is not valid. The valid value "
                                              "is AES256.", ArgumentName="x-amz-server-side-encryption",
                                              ArgumentValue=str(algorithm))
    if not encoded:
        raise InvalidArgument("Requests specifying Server Side Encryption with Customer provided keys must provide "
                              "an appropriate secret key.", ArgumentName="x-amz-server-side-encryption",
                              ArgumentValue="null")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise InvalidArgument("The secret key was invalid for the specified algorithm.",
                              ArgumentName="x-amz-server-side-encryption", ArgumentValue="null")
    actual_md5 = base64.b64encode(hashlib.md5(key).digest()).decode()
    if not md5:
        raise InvalidArgument("Requests specifying Server Side Encryption with Customer provided keys must provide "
                              "the client calculated MD5 of the secret key.",
                              ArgumentName="x-amz-server-side-encryption", ArgumentValue="null")
    if md5 != actual_md5:
        raise InvalidArgument("The calculated MD5 hash of the key did not match the hash that was provided.",
                              ArgumentName="x-amz-server-side-encryption", ArgumentValue="null")
    return CustomerKey(key, md5)


def _wrap(wrapping_key: bytes, data_key: bytes, mode: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(wrapping_key).encrypt(nonce, data_key, f"cloudlet-s3-data-key:{mode}".encode())
    return base64.b64encode(nonce + sealed).decode()


def _unwrap(wrapping_key: bytes, wrapped: str, mode: str) -> bytes | None:
    raw = base64.b64decode(wrapped)
    try:
        return AESGCM(wrapping_key).decrypt(raw[:12], raw[12:], f"cloudlet-s3-data-key:{mode}".encode())
    except InvalidTag:
        return None


@dataclass(frozen=True)
class ObjectKey:
    """An object's unwrapped data key and what is stored about it (``record``, JSON-able)."""

    data_key: bytes
    record: dict[str, str]

    @property
    def mode(self) -> str:
        return self.record["mode"]

    def response_members(self) -> dict[str, str]:
        """What S3 echoes about an object's encryption in PUT/GET/HEAD responses."""
        if self.mode == SSE_C:
            return {"SSECustomerAlgorithm": "AES256", "SSECustomerKeyMD5": self.record["key_md5"]}
        return {"ServerSideEncryption": SSE_S3}


def new_object_key(mode: str, *, master_key: bytes, customer: CustomerKey | None = None) -> ObjectKey:
    """A fresh data key for a new object (or multipart upload), wrapped for storage."""
    data_key = os.urandom(32)
    if mode == SSE_C:
        assert customer is not None
        return ObjectKey(data_key, {"mode": SSE_C, "wrapped": _wrap(customer.key, data_key, SSE_C),
                                    "key_md5": customer.md5})
    return ObjectKey(data_key, {"mode": SSE_S3, "wrapped": _wrap(master_key, data_key, SSE_S3)})


def open_object_key(record: dict[str, str] | None, *, master_key: bytes,
                    customer: CustomerKey | None) -> ObjectKey | None:
    """The data key of a stored object; raises S3's errors when an SSE-C key is missing or wrong."""
    if not record:
        if customer is not None:
            raise InvalidRequest("The encryption parameters are not applicable to this object.")
        return None
    if record["mode"] == SSE_C:
        if customer is None:
            raise InvalidRequest("The object was stored using a form of Server Side Encryption. The correct "
                                 "parameters must be provided to retrieve the object.")
        data_key = _unwrap(customer.key, record["wrapped"], SSE_C)
        if data_key is None:
            raise AccessDenied("The provided customer key does not match the key the object was encrypted with.")
        return ObjectKey(data_key, record)
    if customer is not None:
        raise InvalidRequest("The encryption parameters are not applicable to this object.")
    data_key = _unwrap(master_key, record["wrapped"], SSE_S3)
    if data_key is None:
        raise RuntimeError("SSE-S3 data key does not unwrap with the controller's master key")
    return ObjectKey(data_key, record)


def new_iv() -> str:
    """A random initial counter block for one stored segment (hex, kept in the segment's metadata)."""
    return os.urandom(_BLOCK).hex()


class CtrStream:
    """AES-256-CTR starting at byte ``offset`` of a segment: encrypts and decrypts alike."""

    def __init__(self, data_key: bytes, iv_hex: str, offset: int = 0) -> None:
        block, skip = divmod(offset, _BLOCK)
        counter = (int(iv_hex, 16) + block) % (1 << 128)
        self._cipher = Cipher(algorithms.AES(data_key), modes.CTR(counter.to_bytes(_BLOCK, "big"))).encryptor()
        if skip:
            self._cipher.update(bytes(skip))

    def update(self, data: bytes) -> bytes:
        return self._cipher.update(data)
