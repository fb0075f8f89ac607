"""Encrypting under a KMS key and opening its ciphertext blobs: shared by the API and other services.

The checks AWS makes before any cryptography are here too, so Encrypt, GenerateDataKey and an S3
upload under SSE-KMS all answer alike: the key must be a symmetric encryption key (else
InvalidKeyUsageException) in the Enabled state (else DisabledException, or KMSInvalidStateException
while it waits for deletion). A blob that is not this cloud's, or that does not open with the given
encryption context, is InvalidCiphertextException, as AWS says it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import RowMapping

from controller.kms import blob, records
from controller.kms.errors import IncorrectKeyException, InvalidCiphertextException, InvalidKeyUsageException
from controller.state import utcnow

if TYPE_CHECKING:
    from controller.cloud import Cloud


def check_encryption_key(where: records.Region, row: RowMapping, operation: str) -> None:
    """Raise AWS's error unless ``row`` may encrypt or decrypt now."""
    records.usable(where, row, utcnow())
    if row["key_usage"] != "ENCRYPT_DECRYPT" or row["key_spec"] != records.SYMMETRIC:
        raise InvalidKeyUsageException(
            f"{row['arn']} key usage is {row['key_usage']} which is not valid for {operation}.")


def encrypt(cloud: Cloud, row: RowMapping, plaintext: bytes, context: Mapping[str, str] | None) -> bytes:
    """A ciphertext blob of ``plaintext`` under the key's newest material, bound to ``context``."""
    records.rotate_if_due(cloud, row, utcnow())
    with cloud.db.read() as conn:
        version, material = records.material(cloud, conn, row["key_id"])
    return blob.seal(material, row["key_id"], version, plaintext, context)


def open_blob(data: bytes) -> blob.Blob:
    try:
        return blob.parse(data)
    except blob.BlobError:
        raise InvalidCiphertextException("") from None


def decrypt(cloud: Cloud, where: records.Region, account_id: str, data: bytes, context: Mapping[str, str] | None,
            *, operation: str = "Decrypt", expected_key: RowMapping | None = None) -> tuple[RowMapping, bytes]:
    """The key a blob names and its plaintext; ``expected_key`` (Decrypt's KeyId) must be that key.

    A blob whose key has been deleted answers NotFoundException (``account_id``, the caller's, names it
    once its row is gone).
    """
    parsed = open_blob(data)
    with cloud.db.read() as conn:
        row = conn.execute(records.state.keys.select().where(records.state.keys.c.key_id == parsed.key_id)
                           ).mappings().first()
        if row is None or records.key_state(row, utcnow()) is None:
            raise records.key_gone(where, account_id, parsed.key_id, row)
        if expected_key is not None and expected_key["key_id"] != row["key_id"]:
            raise IncorrectKeyException("The key ID in the request does not identify a KMS key that can perform "
                                        "this operation.")
        check_encryption_key(where, row, operation)
        try:
            _, material = records.material(cloud, conn, row["key_id"], parsed.material_version)
        except LookupError:
            raise InvalidCiphertextException("") from None
    try:
        return row, blob.unseal(material, parsed, context)
    except blob.BlobError:
        raise InvalidCiphertextException("") from None
