"""Helpers the S3 operations share: bucket lookup, owners, system metadata, encryption choice."""

from __future__ import annotations

import datetime as dt
from typing import Any

from controller.api import Params, RequestContext
from controller.s3 import checksums
from controller.s3.chunked import stored_content_encoding
from controller.s3.crypto import SSE_C, SSE_S3, ObjectKey, customer_key, new_object_key, open_object_key
from controller.s3.errors import (
    AccessDenied,
    InvalidArgument,
    InvalidRequest,
    NotImplementedError_,
    no_such_bucket,
)
from controller.s3.naming import canonical_user_id
from controller.s3.runtime import S3Runtime, runtime
from controller.s3.sse_kms import SSE_KMS, kms_members, new_kms_key, open_kms_key

Record = dict[str, Any]

#: System metadata S3 stores with an object and returns on GET/HEAD, by model member.
SYSTEM_HEADERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage",
                  "Expires", "WebsiteRedirectLocation")
#: GET's ``response-*`` query overrides, by the member they override.
RESPONSE_OVERRIDES = {"ResponseContentType": "ContentType", "ResponseCacheControl": "CacheControl",
                      "ResponseContentDisposition": "ContentDisposition",
                      "ResponseContentEncoding": "ContentEncoding", "ResponseContentLanguage": "ContentLanguage",
                      "ResponseExpires": "Expires"}
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
#: Request members that only an SSE-KMS write may carry.
KMS_MEMBERS = ("SSEKMSKeyId", "SSEKMSEncryptionContext")


def read_bucket(ctx: RequestContext, params: Params) -> Record:
    """The request's bucket (NoSuchBucket if none), honouring ``x-amz-expected-bucket-owner``.

    The row comes from the bucket cache: shared, never to be changed. Writes that
    depend on the bucket's state re-read it in their own transaction.
    """
    bucket = runtime(ctx.cloud).bucket(params["Bucket"])
    if bucket is None:
        raise no_such_bucket(params["Bucket"])
    check_expected_owner(bucket, params)
    return bucket


def check_expected_owner(bucket: Record, params: Params, member: str = "ExpectedBucketOwner") -> None:
    expected = params.get(member)
    if expected and expected != bucket["owner_account"]:
        raise AccessDenied("Access Denied")


def owner(ctx: RequestContext, account_id: str) -> dict[str, str]:
    """An S3 ``Owner``: the account's canonical id and display name."""
    account = ctx.cloud.credentials.get_account(account_id) if account_id else None
    return {"ID": canonical_user_id(account_id), "DisplayName": (account or {}).get("name") or account_id}


def system_headers(params: Params) -> dict[str, Any]:
    """The system metadata of a PUT/CreateMultipartUpload/CopyObject request, as stored."""
    headers: dict[str, Any] = {}
    for member in SYSTEM_HEADERS:
        value = params.get(member)
        if value is None:
            continue
        if member == "ContentEncoding":
            value = stored_content_encoding(value)
            if value is None:
                continue
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        headers[member] = value
    headers.setdefault("ContentType", DEFAULT_CONTENT_TYPE)
    return headers


def header_members(headers: dict[str, Any] | None, params: Params | None = None) -> dict[str, Any]:
    """Stored system metadata as output members, with GET's ``response-*`` overrides applied."""
    members = dict(headers or {})
    if "Expires" in members and isinstance(members["Expires"], str):
        members["Expires"] = dt.datetime.fromisoformat(members["Expires"])
    for override, member in RESPONSE_OVERRIDES.items():
        if params and params.get(override) is not None:
            members[member] = params[override]
    return members


def checksum_members(checksum: Record | None) -> dict[str, str]:
    """``ChecksumCRC32``... and ``ChecksumType`` output members of a stored checksum."""
    if not checksum:
        return {}
    return {checksums.MEMBERS[checksum["algorithm"]]: checksum["value"], "ChecksumType": checksum["type"]}


def write_encryption(ctx: RequestContext, rt: S3Runtime, bucket: Record, params: Params) -> ObjectKey | None:
    """The encryption a new object (or upload) gets: asked for by the request, else the bucket default."""
    customer = customer_key(params)
    requested = params.get("ServerSideEncryption")
    if customer is not None:
        if requested:
            raise InvalidArgument("Server Side Encryption with Customer provided key is incompatible with the "
                                  "encryption method specified", ArgumentName="x-amz-server-side-encryption",
                                  ArgumentValue=requested)
        return new_object_key(SSE_C, master_key=rt.master_key, customer=customer)
    defaults = None
    if requested is None:
        rules = (bucket.get("encryption") or {}).get("Rules") or []
        defaults = {**(rules[0].get("ApplyServerSideEncryptionByDefault") or {}),
                    "BucketKeyEnabled": rules[0].get("BucketKeyEnabled")} if rules else None
        requested = (defaults or {}).get("SSEAlgorithm")
    if requested != SSE_KMS and any(params.get(member) for member in KMS_MEMBERS):
        raise InvalidArgument("Server Side Encryption with AWS KMS managed key requires HTTP header "
                              "x-amz-server-side-encryption : aws:kms", ArgumentName="x-amz-server-side-encryption",
                              ArgumentValue=str(requested))
    if requested is None:
        return None
    check_sse_algorithm(requested)
    if requested == SSE_KMS:
        return new_kms_key(ctx, bucket, params["Key"], params, defaults)
    return new_object_key(SSE_S3, master_key=rt.master_key)


def check_sse_algorithm(algorithm: str) -> None:
    if algorithm == "aws:kms:dsse":
        raise NotImplementedError_("Dual-layer SSE-KMS is not supported by Cloudlet; it supports SSE-KMS (aws:kms), "
                                   "SSE-S3 (AES256) and SSE-C.")
    if algorithm not in (SSE_S3, SSE_KMS):
        raise InvalidArgument("The encryption method specified is not supported",
                              ArgumentName="x-amz-server-side-encryption", ArgumentValue=algorithm)


def read_encryption(ctx: RequestContext, rt: S3Runtime, record: Record | None, params: Params, prefix: str = "",
                    ) -> ObjectKey | None:
    """The data key to read a stored version or upload with (SSE-C needs the request's key, ``prefix`` for
    copies; SSE-KMS asks KMS for the requester)."""
    if record and record["mode"] == SSE_KMS:
        check_encryption_params(record, params, prefix)
        return open_kms_key(ctx, record)
    return open_object_key(record, master_key=rt.master_key, customer=customer_key(params, prefix))


def check_encryption_params(record: Record | None, params: Params, prefix: str = "") -> None:
    """What reads check without opening any key: SSE-C parameters only where the object is SSE-C, and right."""
    if record and record["mode"] == SSE_C:
        customer = customer_key(params, prefix)
        open_object_key(record, master_key=b"", customer=customer)
    elif customer_key(params, prefix) is not None:
        raise InvalidRequest("The encryption parameters are not applicable to this object.")


def encryption_members(record: Record | None) -> dict[str, Any]:
    """What responses echo about stored encryption, without unwrapping any key."""
    if not record:
        return {}
    if record["mode"] == SSE_C:
        return {"SSECustomerAlgorithm": "AES256", "SSECustomerKeyMD5": record["key_md5"]}
    if record["mode"] == SSE_KMS:
        return kms_members(record)
    return {"ServerSideEncryption": SSE_S3}
