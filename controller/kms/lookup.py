"""What other services ask of KMS (contract B): resolve a key, make a data key, open a blob.

EBS, S3, SQS, SNS call these "as the service on behalf of the caller": the calling service has
already authorized its own action, so IAM is not asked again here, but the key's state always
applies (a disabled key answers DisabledException, one pending deletion KMSInvalidStateException).
Errors are :class:`controller.errors.ServiceError` subclasses with KMS's codes; a caller rewords
them where AWS does (S3 answers ``KMS.DisabledException``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from controller.api import RequestContext
from controller.iam.enforce import check_action
from controller.kms import ciphers, policies, records

if TYPE_CHECKING:
    from controller.cloud import Cloud

DATA_KEY_BYTES = 32


@dataclass(frozen=True)
class DataKey:
    """A fresh data key: use ``plaintext`` and forget it, store ``ciphertext`` next to the data."""

    plaintext: bytes
    ciphertext: bytes
    key_arn: str


def resolve_key(cloud: Cloud, account_id: str, key_ref: str) -> str:
    """The ARN of the key that a key id, key ARN, alias name or alias ARN names.

    ``alias/aws/<service>`` makes that AWS managed key on first use. NotFoundException otherwise.
    """
    return records.resolve(cloud, account_id, cloud.config.region, key_ref)["arn"]


def generate_data_key(cloud: Cloud, account_id: str, key_ref: str, context: dict[str, str]) -> DataKey:
    """A 32-byte data key and its blob under the key, bound to ``context`` (GenerateDataKey AES_256)."""
    row = records.resolve(cloud, account_id, cloud.config.region, key_ref)
    ciphers.check_encryption_key(records.Region.of(cloud, cloud.config.region), row, "GenerateDataKey")
    plaintext = os.urandom(DATA_KEY_BYTES)
    return DataKey(plaintext, ciphers.encrypt(cloud, row, plaintext, context), row["arn"])


def decrypt(cloud: Cloud, account_id: str, ciphertext: bytes, context: dict[str, str]) -> bytes:
    """The plaintext of a blob made by :func:`generate_data_key` (or Encrypt) with the same context."""
    _, plaintext = ciphers.decrypt(cloud, records.Region.of(cloud, cloud.config.region), account_id, ciphertext,
                                   context)
    return plaintext


def authorize_use(ctx: RequestContext, action: str, key_arn: str, context: dict[str, str]) -> None:
    """Raise AccessDeniedException unless the caller of ``ctx`` (a request to another service) may have
    that service use the key for it.

    AWS evaluates such a call as the caller's own ``action`` on the key, with ``kms:ViaService`` naming
    the calling service (``s3.<region>.amazonaws.com``): that is what the AWS managed keys' policies
    require, and what lets a key policy allow a key's use through one service only. Services that
    act for a caller (S3's SSE-KMS) call this before :func:`generate_data_key` or :func:`decrypt`.
    """
    keys: dict[str, object] = {"kms:ViaService": policies.via_service(ctx.service, ctx.region),
                               "kms:CallerAccount": ctx.account_id,
                               "kms:EncryptionContextKeys": sorted(context),
                               **{f"kms:EncryptionContext:{key}": value for key, value in context.items()}}
    as_kms = replace(ctx, service="kms", operation=action.split(":", 1)[1], condition_keys=keys, audit_resources=[])
    check_action(as_kms, action, [key_arn])
