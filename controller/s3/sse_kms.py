"""SSE-KMS: objects whose data key comes from KMS (``x-amz-server-side-encryption: aws:kms``).

Like SSE-S3 each object (or multipart upload) gets its own 256-bit data key and its data is
encrypted by the same streaming engine (AES-256-CTR per segment, so range GETs decrypt only what
they send). What differs is who holds the key: KMS makes the data key under the customer's key (or
the account's AWS managed ``aws/s3`` key) and S3 stores only KMS's ciphertext blob, bound to the
encryption context ``{"aws:s3:arn": <object ARN>}`` (the bucket ARN with an S3 Bucket Key) plus the
request's own context. Each read asks KMS to decrypt it again, so a key that is disabled, pending
deletion or deleted makes the object unreadable at once.

KMS is called for the requester, as AWS does: the requester must be allowed ``kms:GenerateDataKey``
(writes) or ``kms:Decrypt`` (reads) on the key through S3 (``kms:ViaService``). KMS's refusals
become S3's errors: ``KMS.DisabledException``, ``KMS.KMSInvalidStateException``,
``KMS.NotFoundException`` (400) and ``AccessDenied`` (403).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from controller.api import Params, RequestContext
from controller.errors import ServiceError
from controller.kms import lookup
from controller.s3.crypto import ObjectKey
from controller.s3.errors import InvalidArgument
from controller.s3.naming import bucket_arn, object_arn

SSE_KMS = "aws:kms"
#: The AWS managed key S3 uses when the request and the bucket name no key.
DEFAULT_KEY = "alias/aws/s3"


def request_context(encoded: str | None) -> dict[str, str]:
    """The ``x-amz-server-side-encryption-context`` header: base64 of a JSON object of strings (pure)."""
    if not encoded:
        return {}
    try:
        decoded = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        decoded = None
    if not isinstance(decoded, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in decoded.items()):
        raise InvalidArgument("The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 "
                              "string holding JSON which represents a string-string map",
                              ArgumentName="x-amz-server-side-encryption-context", ArgumentValue=encoded)
    if any(key.startswith("aws:") for key in decoded):
        raise InvalidArgument("Encryption context keys cannot start with aws:",
                              ArgumentName="x-amz-server-side-encryption-context")
    return decoded


def kms_error(error: ServiceError) -> ServiceError:
    """KMS's refusal as S3 answers it: ``KMS.<code>`` (400), or a 403 AccessDenied for a denied caller."""
    if error.code == "AccessDeniedException":
        return ServiceError(error.message, code="AccessDenied", status=403)
    return ServiceError(error.message, code=f"KMS.{error.code}", status=400)


def new_kms_key(ctx: RequestContext, bucket: dict[str, Any], key: str, params: Params,
                default: dict[str, Any] | None) -> ObjectKey:
    """A data key from KMS for a new object (or upload) under the request's key, else the bucket's default."""
    key_ref = params.get("SSEKMSKeyId") or (default or {}).get("KMSMasterKeyID") or DEFAULT_KEY
    bucket_key = params.get("BucketKeyEnabled")
    if bucket_key is None:
        bucket_key = bool((default or {}).get("BucketKeyEnabled"))
    partition = ctx.cloud.config.partition
    own = request_context(params.get("SSEKMSEncryptionContext"))
    scope = bucket_arn(partition, bucket["name"]) if bucket_key else object_arn(partition, bucket["name"], key)
    context = {**own, "aws:s3:arn": scope}
    try:
        key_arn = lookup.resolve_key(ctx.cloud, bucket["owner_account"], key_ref)
        lookup.authorize_use(ctx, "kms:GenerateDataKey", key_arn, context)
        data_key = lookup.generate_data_key(ctx.cloud, bucket["owner_account"], key_arn, context)
    except ServiceError as error:
        raise kms_error(error) from None
    record = {"mode": SSE_KMS, "key_arn": data_key.key_arn,
              "blob": base64.b64encode(data_key.ciphertext).decode("ascii"), "context": context,
              "bucket_key": bool(bucket_key)}
    if own:
        record["request_context"] = params["SSEKMSEncryptionContext"]
    return ObjectKey(data_key.plaintext, record)


def open_kms_key(ctx: RequestContext, record: dict[str, Any]) -> ObjectKey:
    """The data key of a stored SSE-KMS object or upload, decrypted by KMS for the requester."""
    try:
        lookup.authorize_use(ctx, "kms:Decrypt", record["key_arn"], record["context"])
        data_key = lookup.decrypt(ctx.cloud, ctx.account_id, base64.b64decode(record["blob"]), record["context"])
    except ServiceError as error:
        raise kms_error(error) from None
    return ObjectKey(data_key, record)


def kms_members(record: dict[str, Any]) -> dict[str, Any]:
    """What responses echo about an SSE-KMS object: algorithm, key ARN, Bucket Key, and the request's context."""
    members: dict[str, Any] = {"ServerSideEncryption": SSE_KMS, "SSEKMSKeyId": record["key_arn"]}
    if record.get("bucket_key"):
        members["BucketKeyEnabled"] = True
    if record.get("request_context"):
        members["SSEKMSEncryptionContext"] = record["request_context"]
    return members
