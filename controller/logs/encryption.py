"""Log groups encrypted under a KMS key (CreateLogGroup's kmsKeyId, AssociateKmsKey, DisassociateKmsKey).

A group's events are sealed (AES-GCM) with a data key that KMS made under the group's key, bound to
the encryption context ``{"aws:logs:arn": <group ARN>}`` as CloudWatch Logs binds it
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html). Only the data
key's KMS blob is stored, so reading and writing ask KMS to open it, once per call: a disabled or
deleted key stops both, as on AWS. Associating another key makes a new data key for new events;
events already stored keep theirs and stay readable while their key can be used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, insert, select, update

from controller.errors import ServiceError
from controller.kms import lookup as kms
from controller.logs import errors
from controller.logs.records import group_arn
from controller.logs.state import group_keys, groups

_NONCE = 12

#: What one stored message becomes: ``(message, sealed, key_id)``, plaintext or sealed.
Sealed = tuple[str | None, bytes | None, int | None]


def context(group: dict[str, Any]) -> dict[str, str]:
    return {"aws:logs:arn": group_arn(group["region"], group["account_id"], group["name"])}


def _unusable(key_arn: str, exc: ServiceError) -> ServiceError:
    return errors.InvalidParameterException(
        f"The KMS key {key_arn} of the log group cannot be used: {exc.code}: {exc.message}")


def prepare_key(cloud: Any, account_id: str, region: str, name: str, key_ref: str) -> tuple[str, bytes]:
    """The key's ARN and a new data key's KMS blob for group ``name``: asked of KMS before the caller's
    write transaction (KMS writes too: managed keys, rotation), so an unusable key changes nothing."""
    arn = group_arn(region, account_id, name)
    try:
        key_arn = kms.resolve_key(cloud, account_id, key_ref)
    except ServiceError:
        raise errors.InvalidParameterException(
            f"Specified KMS key {key_ref} does not exist or is not allowed to be used with LogGroup {arn}"
        ) from None
    try:
        made = kms.generate_data_key(cloud, account_id, key_arn, {"aws:logs:arn": arn})
    except ServiceError as exc:
        raise _unusable(key_arn, exc) from None
    return key_arn, made.ciphertext


def install_key(conn: Connection, group_id: int, prepared: tuple[str, bytes] | None) -> None:
    """Encrypt the group's new events under the prepared key from now on (None: stop encrypting them)."""
    key_arn, key_id = None, None
    if prepared is not None:
        key_arn = prepared[0]
        key_id = conn.execute(insert(group_keys).values(
            group_id=group_id, kms_key_arn=key_arn, data_key=prepared[1])).inserted_primary_key[0]
    conn.execute(update(groups).where(groups.c.group_id == group_id).values(kms_key_id=key_arn, key_id=key_id))


class KeyRing:
    """The data keys one call opened, each asked of KMS once (outside any write transaction)."""

    def __init__(self, cloud: Any, group: dict[str, Any]) -> None:
        self.cloud = cloud
        self.group = group
        self._opened: dict[int, AESGCM] = {}

    def cipher(self, key_id: int) -> AESGCM:
        if key_id not in self._opened:
            with self.cloud.db.read() as conn:
                row = conn.execute(select(group_keys).where(group_keys.c.key_id == key_id)).mappings().one()
            try:
                plaintext = kms.decrypt(self.cloud, self.group["account_id"], row["data_key"],
                                        context(self.group))
            except ServiceError as exc:
                raise _unusable(row["kms_key_arn"], exc) from None
            self._opened[key_id] = AESGCM(plaintext)
        return self._opened[key_id]

    def sealer(self) -> Callable[[str], Sealed]:
        """How the group stores a new message now: sealed under its current key, or as it is."""
        key_id = self.group.get("key_id")
        if key_id is None:
            return lambda message: (message, None, None)
        cipher = self.cipher(key_id)

        def seal(message: str) -> Sealed:
            nonce = os.urandom(_NONCE)
            return None, nonce + cipher.encrypt(nonce, message.encode("utf-8"), None), key_id
        return seal

    def message(self, row: Any) -> str:
        """The text of a stored event row (``message``, ``sealed``, ``key_id`` columns)."""
        if row.sealed is None:
            return row.message
        sealed = bytes(row.sealed)
        return self.cipher(row.key_id).decrypt(sealed[:_NONCE], sealed[_NONCE:], None).decode("utf-8")
