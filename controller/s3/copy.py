"""Server-side copies: CopyObject, and the source half of UploadPartCopy.

The caller needs ``s3:GetObject`` on the source (checked here through the IAM
authorizer, the same decision point as every other check) besides ``s3:PutObject`` on
the destination (checked by the gateway). When the bytes can stay as they are (same
encryption key material, no new checksum asked for), a copy clones the source's blobs,
which on the local backend are hard links: a 5 GB copy costs a few metadata writes.
Otherwise the data streams through decryption, hashing and encryption again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.api import Params, RequestContext
from controller.iam.enforce import check_action
from controller.s3 import catalog, checksums, engine
from controller.s3.access import object_resource
from controller.s3.common import (
    check_expected_owner,
    checksum_members,
    encryption_members,
    read_bucket,
    read_encryption,
    write_encryption,
)
from controller.s3.conditions import ByteRange, check_copy_source_conditions
from controller.s3.crypto import SSE_S3, ObjectKey
from controller.s3.errors import InvalidArgument, InvalidRequest, no_such_bucket
from controller.s3.naming import CopySource, check_key, object_arn, parse_copy_source, parse_tagging_header
from controller.s3.objects import commit_object, new_object_values, version_output
from controller.s3.runtime import S3Runtime, runtime
from controller.s3.service import api
from controller.s3.storage import Lease
from controller.state import utcnow

Record = dict[str, Any]
MAX_COPY_SIZE = 5 * 1024**3


@dataclass
class Source:
    """A copy source, read and leased: release ``leased`` once its bytes are copied."""

    location: CopySource
    bucket: Record
    version: Record
    object_key: ObjectKey | None
    inline: dict[str, bytes]
    leased: Lease


def open_source(ctx: RequestContext, rt: S3Runtime, params: Params) -> Source:
    """Parse, authorize and read ``x-amz-copy-source`` with its preconditions and SSE-C key."""
    location = parse_copy_source(params["CopySource"])
    action = "s3:GetObjectVersion" if location.version_id else "s3:GetObject"
    check_action(ctx, action, [object_arn(ctx.cloud.config.partition, location.bucket, location.key)], params)
    bucket = rt.bucket(location.bucket)
    if bucket is None:
        raise no_such_bucket(location.bucket)
    version, inline, leased = engine.lease_version(rt, location.bucket, location.key, location.version_id)
    try:
        check_expected_owner(bucket, params, "ExpectedSourceBucketOwner")
        check_copy_source_conditions(
            etag=version["etag"], last_modified=version["last_modified"],
            if_match=params.get("CopySourceIfMatch"), if_none_match=params.get("CopySourceIfNoneMatch"),
            if_modified_since=params.get("CopySourceIfModifiedSince"),
            if_unmodified_since=params.get("CopySourceIfUnmodifiedSince"))
        object_key = read_encryption(ctx, rt, version["encryption"], params, prefix="CopySource")
    except BaseException:
        rt.guard.release(leased)
        raise
    return Source(location, bucket, version, object_key, inline, leased)


def copy_bytes(rt: S3Runtime, source: Source, byte_range: ByteRange | None, object_key: ObjectKey | None,
               algorithms: list[str], *, inline_limit: int = engine.INLINE_LIMIT) -> engine.Stored:
    """Stream (a range of) the source into a new blob, re-encrypted and hashed."""
    stream = engine.IterStream(engine.read(rt, source.version["segments"], source.object_key, byte_range,
                                           source.inline))
    try:
        return engine.store(rt, stream, extra=algorithms, object_key=object_key, inline_limit=inline_limit)
    finally:
        stream.close()


def _can_clone(source: ObjectKey | None, target: ObjectKey | None) -> bool:
    """Blobs can be shared when both sides are in the clear or both under the controller's key."""
    if source is None or target is None:
        return source is None and target is None
    return source.mode == SSE_S3 and target.mode == SSE_S3


def _directive(params: Params, member: str) -> str:
    value = params.get(member) or "COPY"
    if value not in ("COPY", "REPLACE"):
        header = "x-amz-metadata-directive" if member == "MetadataDirective" else "x-amz-tagging-directive"
        raise InvalidArgument(f"Unknown {header}.", ArgumentName=header, ArgumentValue=value)
    return value


@api.operation("CopyObject", resources=object_resource, action="s3:PutObject")
def copy_object(ctx: RequestContext, params: Params) -> Params:
    rt = runtime(ctx.cloud)
    bucket = read_bucket(ctx, params)
    key = params["Key"]
    check_key(key)
    metadata_directive = _directive(params, "MetadataDirective")
    tagging_directive = _directive(params, "TaggingDirective")
    algorithm = (params.get("ChecksumAlgorithm") or "").upper() or None
    if algorithm is not None and algorithm not in checksums.MEMBERS:
        raise InvalidRequest("Checksum algorithm provided is unsupported.")
    source = open_source(ctx, rt, params)
    new_blobs: list[str] = []
    inline: dict[str, bytes] = {}
    try:
        version = source.version
        if version["size"] > MAX_COPY_SIZE:
            raise InvalidRequest("The specified copy source is larger than the maximum allowable size for a copy "
                                 "source: 5368709120")
        target_key = write_encryption(ctx, rt, bucket, params)
        changes = (params.get("StorageClass"), params.get("ServerSideEncryption"), params.get("SSECustomerKey"),
                   params.get("WebsiteRedirectLocation"), algorithm)
        if (source.location.bucket, source.location.key) == (bucket["name"], key) \
                and metadata_directive == "COPY" and not any(changes):
            raise InvalidRequest("This copy request is illegal because it is trying to copy an object to itself "
                                 "without changing the object's metadata, storage class, website redirect "
                                 "location or encryption attributes.")
        values = _copied_metadata(ctx, bucket, version, params, metadata_directive, tagging_directive)
        existing = version["checksum"]
        if _can_clone(source.object_key, target_key) and (algorithm is None or (
                existing and existing["algorithm"] == algorithm)):
            segments, inline = engine.clone_segments(rt, version["segments"], source.inline)
            new_blobs = catalog.blob_ids({"segments": segments})
            values.update(size=version["size"], etag=version["etag"], checksum=existing, segments=segments,
                          parts_count=version["parts_count"],
                          encryption=version["encryption"] if target_key is not None else None)
        else:
            wanted = algorithm or (existing["algorithm"] if existing else None)
            stored = copy_bytes(rt, source, None, target_key, [wanted] if wanted else [])
            new_blobs, inline = stored.backend_blobs, stored.inline_blobs
            values.update(size=stored.size, etag=stored.etag, segments=[stored.segment()], parts_count=None,
                          checksum={"algorithm": wanted, "value": checksums.encode(stored.digests[wanted]),
                                    "type": "FULL_OBJECT"} if wanted else None,
                          encryption=target_key.record if target_key else None)
    except BaseException:
        rt.blobs.delete(new_blobs)
        raise
    finally:
        rt.guard.release(source.leased)
    values.update(delete_marker=False, last_modified=utcnow())
    version_id, bucket = commit_object(ctx, rt, bucket["name"], key, values, new_blobs=new_blobs, inline=inline,
                                       if_match=params.get("IfMatch"), if_none_match=params.get("IfNoneMatch"))
    result = {"ETag": values["etag"], "LastModified": values["last_modified"], **checksum_members(values["checksum"])}
    output: Params = {"CopyObjectResult": result, **encryption_members(values["encryption"]),
                      **version_output(bucket, version_id)}
    if source.version["version_id"] != "null":
        output["CopySourceVersionId"] = source.version["version_id"]
    return output


def _copied_metadata(ctx: RequestContext, bucket: Record, version: Record, params: Params,
                     metadata_directive: str, tagging_directive: str) -> Record:
    """The destination's metadata: the source's (COPY) or the request's (REPLACE)."""
    if metadata_directive == "REPLACE":
        values = new_object_values(ctx, bucket, params)
    else:
        values = new_object_values(ctx, bucket, {k: v for k, v in params.items()
                                                 if k not in ("Metadata", "Tagging")})
        values.update(headers=version["headers"], user_metadata=version["user_metadata"])
        if not params.get("StorageClass"):
            values["storage_class"] = version["storage_class"]
    if tagging_directive == "COPY":
        values["tags"] = version["tags"]
    else:
        values["tags"] = parse_tagging_header(params.get("Tagging")) or None
    return values
