"""Object operations: PUT, GET, HEAD, DELETE (one or a batch), tagging, ACLs, attributes.

Writes stream the body into a new blob first and commit metadata after, in one write
transaction that re-reads the bucket (versioning may have changed, the bucket may be
gone) and the key's current version (conditional writes are decided there, not before
the upload). Reads take their metadata and lease the blobs from the blob guard, so an
overwrite that commits while a GET is streaming, in any process, never pulls the data from under it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, update

from controller.api import Params, RequestContext
from controller.errors import ServiceError
from controller.iam.enforce import check_action
from controller.s3 import catalog, checksums, engine
from controller.s3.access import (
    acl_grants,
    acl_output,
    bucket_resource,
    object_resource,
    read_resource,
    requested_acl,
)
from controller.s3.bucket_features import object_lock_of
from controller.s3.common import (
    check_encryption_params,
    checksum_members,
    encryption_members,
    header_members,
    read_bucket,
    read_encryption,
    system_headers,
    write_encryption,
)
from controller.s3.conditions import ByteRange, check_read_conditions, check_write_conditions, parse_range
from controller.s3.errors import (
    MALFORMED_XML,
    InvalidArgument,
    InvalidRequest,
    MalformedACLError,
    MalformedXML,
    NotImplementedError_,
)
from controller.s3.naming import (
    MAX_OBJECT_TAGS,
    check_key,
    check_storage_class,
    check_tags,
    check_user_metadata,
    object_arn,
    parse_tagging_header,
    tag_set,
)
from controller.s3.runtime import S3Runtime, runtime
from controller.s3.service import api
from controller.s3.state import objects
from controller.s3.storage import Lease
from controller.state import utcnow

Record = dict[str, Any]


def version_output(bucket: Record, version_id: str) -> dict[str, str]:
    """``x-amz-version-id`` is sent once a bucket has had versioning, ``null`` included."""
    return {"VersionId": version_id} if bucket["versioning"] or version_id != "null" else {}


def commit_object(ctx: RequestContext, rt: S3Runtime, bucket_name: str, key: str, values: Record, *,
                  new_blobs: list[str], inline: dict[str, bytes] | None = None, if_match: str | None = None,
                  if_none_match: str | None = None) -> tuple[str, Record]:
    """Commit a version whose blobs are already durable (and its inline bytes, in the same transaction).

    The new backend blobs go if the commit does not happen.
    """
    def commit(conn: Connection) -> tuple[Record, str, list[str]]:
        bucket = catalog.require_bucket(conn, bucket_name)
        if if_match is not None or if_none_match is not None:
            check_write_conditions(key, catalog.current_etag(conn, bucket_name, key), if_match=if_match,
                                   if_none_match=if_none_match)
        catalog.put_inline(conn, inline or {})
        return bucket, *catalog.commit_version(conn, bucket, key, values)

    try:
        bucket, version_id, discarded = ctx.cloud.writer.run(commit)  # concurrent PUTs share one commit
    except BaseException:
        rt.blobs.delete(new_blobs)
        raise
    rt.guard.discard(discarded)
    ctx.audit_resources.append(object_arn(ctx.cloud.config.partition, bucket_name, key))
    return version_id, bucket


def new_object_values(ctx: RequestContext, bucket: Record, params: Params) -> Record:
    """Metadata of a new object from a PUT/CreateMultipartUpload request (everything but its data)."""
    if params.get("WriteOffsetBytes") is not None:
        raise NotImplementedError_("Appending to objects is only supported by S3 Express One Zone.")
    if params.get("ObjectLockMode") or params.get("ObjectLockLegalHoldStatus"):
        with ctx.cloud.db.read() as conn:
            if not object_lock_of(conn, bucket["name"]):
                raise InvalidRequest("Bucket is missing Object Lock Configuration")
        raise NotImplementedError_("Object retention and legal holds are not supported by Cloudlet.")
    # the writer owns what it writes, except: ACLs disabled; BucketOwnerPreferred with the
    # bucket-owner-full-control ACL; anonymous writers (public-read-write buckets), who own nothing
    taken = bucket["ownership"] == "BucketOwnerEnforced" or (
        bucket["ownership"] == "BucketOwnerPreferred" and params.get("ACL") == "bucket-owner-full-control")
    owner_account = bucket["owner_account"] if taken or not ctx.account_id else ctx.account_id
    acl = requested_acl(ctx, params, owner=owner_account, bucket=bucket, on_bucket=False) or "private"
    return dict(owner_account=owner_account, storage_class=check_storage_class(params.get("StorageClass")),
                headers=system_headers(params), user_metadata=check_user_metadata(params.get("Metadata")),
                tags=parse_tagging_header(params.get("Tagging")) or None, acl=acl)


@api.operation("PutObject", resources=object_resource)
def put_object(ctx: RequestContext, params: Params) -> Params:
    rt = runtime(ctx.cloud)
    bucket = read_bucket(ctx, params)
    key = params["Key"]
    check_key(key)
    values = new_object_values(ctx, bucket, params)
    expected = checksums.requested(params)
    object_key = write_encryption(ctx, rt, bucket, params)
    if params.get("IfMatch") is not None or params.get("IfNoneMatch") is not None:
        # Checked again at commit; failing here spares uploading a body that cannot be kept.
        with ctx.cloud.db.read() as conn:
            check_write_conditions(key, catalog.current_etag(conn, bucket["name"], key),
                                   if_match=params.get("IfMatch"), if_none_match=params.get("IfNoneMatch"))
    declared = expected.algorithm if expected else None
    body = engine.as_payload(params.get("Body"), declared=declared, content_md5=params.get("ContentMD5"),
                             expected={declared: checksums.decode(declared, expected.value)}
                             if expected and expected.value else None)
    stored = engine.store(rt, body, declared=declared, object_key=object_key)
    checksum = ({"algorithm": declared, "value": checksums.encode(stored.digests[declared]), "type": "FULL_OBJECT"}
                if declared else None)
    values.update(delete_marker=False, last_modified=utcnow(), size=stored.size, etag=stored.etag,
                  checksum=checksum, encryption=object_key.record if object_key else None,
                  segments=[stored.segment()], parts_count=None)
    version_id, bucket = commit_object(ctx, rt, bucket["name"], key, values, new_blobs=stored.backend_blobs,
                                       inline=stored.inline_blobs, if_match=params.get("IfMatch"),
                                       if_none_match=params.get("IfNoneMatch"))
    return {"ETag": stored.etag, **checksum_members(checksum), **encryption_members(values["encryption"]),
            **version_output(bucket, version_id)}


def _part_range(version: Record, part_number: int) -> ByteRange | None:
    """The bytes of part ``part_number`` of a multipart object (a single PUT is its own part 1)."""
    segments = version["segments"]
    count = version["parts_count"] or 1
    if part_number < 1 or part_number > count:
        raise ServiceError("The requested partnumber is not satisfiable", code="InvalidPartNumber", status=416,
                      PartNumberRequested=str(part_number), ActualPartCount=str(count))
    if version["parts_count"] is None:
        return None
    start = sum(segment["size"] for segment in segments[:part_number - 1])
    size = segments[part_number - 1]["size"]
    return ByteRange(start, start + size - 1, version["size"]) if size else None


def describe(rt: S3Runtime, bucket: Record, version: Record, params: Params) -> tuple[Params, ByteRange | None]:
    """GET/HEAD's output members for a version, after its preconditions; and the range to send."""
    check_read_conditions(etag=version["etag"], last_modified=version["last_modified"],
                          if_match=params.get("IfMatch"), if_none_match=params.get("IfNoneMatch"),
                          if_modified_since=params.get("IfModifiedSince"),
                          if_unmodified_since=params.get("IfUnmodifiedSince"))
    check_encryption_params(version["encryption"], params)
    part_number = params.get("PartNumber")
    output: Params = {}
    if part_number is not None:
        if params.get("Range"):
            raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")
        byte_range = _part_range(version, part_number)
        output["PartsCount"] = version["parts_count"] or 1
    else:
        byte_range = parse_range(params.get("Range"), version["size"])
    output.update(header_members(version["headers"], params))
    output.update(LastModified=version["last_modified"], ETag=version["etag"], AcceptRanges="bytes",
                  ContentLength=byte_range.length if byte_range else version["size"])
    if byte_range is not None:
        output["ContentRange"] = byte_range.content_range
    if version["storage_class"] != "STANDARD":
        output["StorageClass"] = version["storage_class"]
    if version["user_metadata"]:
        output["Metadata"] = version["user_metadata"]
    if version["tags"]:
        output["TagCount"] = len(version["tags"])
    if params.get("ChecksumMode") == "ENABLED" and (byte_range is None or part_number is not None):
        output.update(_checksum_output(version, part_number))
    output.update(encryption_members(version["encryption"]))
    output.update(version_output(bucket, version["version_id"]))
    return output, byte_range


def _checksum_output(version: Record, part_number: int | None) -> dict[str, str]:
    checksum = version["checksum"]
    if not checksum:
        return {}
    if part_number is not None and version["parts_count"]:
        part_checksum = version["segments"][part_number - 1].get("checksum")
        return {checksums.MEMBERS[checksum["algorithm"]]: part_checksum} if part_checksum else {}
    return checksum_members(checksum)


def _read_version(ctx: RequestContext, rt: S3Runtime,
                  params: Params) -> tuple[Record, Record, dict[str, bytes], Lease]:
    """The bucket, the version a GET reads, its inline bytes and its leased blobs (release them when done)."""
    bucket = read_bucket(ctx, params)
    version, inline, leased = engine.lease_version(rt, params["Bucket"], params["Key"],
                                                   params.get("VersionId"))
    return bucket, version, inline, leased


@api.operation("GetObject", resources=read_resource)
def get_object(ctx: RequestContext, params: Params) -> Params:
    rt = runtime(ctx.cloud)
    bucket, version, inline, leased = _read_version(ctx, rt, params)
    try:
        output, byte_range = describe(rt, bucket, version, params)
        object_key = read_encryption(ctx, rt, version["encryption"], params)
        chunks = engine.read(rt, version["segments"], object_key, byte_range, inline)
        output["Body"] = engine.LeasedBody(rt, chunks, leased)
    except BaseException:
        rt.guard.release(leased)
        raise
    return output


@api.operation("HeadObject", resources=read_resource, action="s3:GetObject")
def head_object(ctx: RequestContext, params: Params) -> Params:
    rt = runtime(ctx.cloud)
    bucket = read_bucket(ctx, params)
    with ctx.cloud.db.read() as conn:
        version = catalog.readable_version(conn, params["Bucket"], params["Key"], params.get("VersionId"))
    output, _ = describe(rt, bucket, version, params)
    return output


@api.operation("DeleteObject", resources=object_resource)
def delete_object(ctx: RequestContext, params: Params) -> Params:
    rt = runtime(ctx.cloud)
    read_bucket(ctx, params)
    key = params["Key"]
    with ctx.cloud.db.begin() as conn:
        bucket = catalog.require_bucket(conn, params["Bucket"])
        if params.get("IfMatch") is not None:
            check_write_conditions(key, catalog.current_etag(conn, bucket["name"], key),
                                   if_match=params["IfMatch"], if_none_match=None)
        result, discarded = catalog.delete_key(conn, bucket, key, params.get("VersionId"), owner=ctx.account_id,
                                               now=utcnow())
    rt.guard.discard(discarded)
    ctx.audit_resources.append(object_arn(ctx.cloud.config.partition, bucket["name"], key))
    return result


@api.operation("DeleteObjects", resources=bucket_resource, action="s3:DeleteObject", authorize=False)
def delete_objects(ctx: RequestContext, params: Params) -> Params:
    """Up to 1000 deletes in one transaction; each key is authorized (and may fail) on its own."""
    rt = runtime(ctx.cloud)
    request = params.get("Delete") or {}
    entries = request.get("Objects") or []
    if not entries or len(entries) > 1000:
        raise MalformedXML("The XML you provided was not well-formed or did not validate against our published "
                           "schema")
    read_bucket(ctx, params)
    partition = ctx.cloud.config.partition
    allowed: list[Record] = []
    errors: list[Record] = []
    for entry in entries:
        action = "s3:DeleteObjectVersion" if entry.get("VersionId") else "s3:DeleteObject"
        try:
            check_action(ctx, action, [object_arn(partition, params["Bucket"], entry["Key"])], params)
        except ServiceError as exc:
            errors.append(_delete_error(entry, exc))
        else:
            allowed.append(entry)
    deleted: list[Record] = []
    discarded: list[str] = []
    now = utcnow()
    with ctx.cloud.db.begin() as conn:
        bucket = catalog.require_bucket(conn, params["Bucket"])
        for entry in allowed:
            try:
                result, blobs = catalog.delete_key(conn, bucket, entry["Key"], entry.get("VersionId"),
                                                   owner=ctx.account_id, now=now)
            except ServiceError as exc:
                errors.append(_delete_error(entry, exc))
                continue
            discarded += blobs
            deleted.append(_deleted_entry(entry, result))
    rt.guard.discard(discarded)
    ctx.audit_resources.extend(object_arn(partition, params["Bucket"], entry["Key"]) for entry in allowed)
    return {"Deleted": [] if request.get("Quiet") else deleted, "Errors": errors}


def _deleted_entry(entry: Record, result: Record) -> Record:
    deleted: Record = {"Key": entry["Key"]}
    if entry.get("VersionId"):
        deleted["VersionId"] = entry["VersionId"]
        if result.get("DeleteMarker"):
            deleted.update(DeleteMarker=True, DeleteMarkerVersionId=entry["VersionId"])
    elif result.get("DeleteMarker"):
        deleted.update(DeleteMarker=True, DeleteMarkerVersionId=result["VersionId"])
    return deleted


def _delete_error(entry: Record, exc: ServiceError) -> Record:
    error: Record = {"Key": entry["Key"], "Code": exc.code, "Message": exc.message}
    if entry.get("VersionId"):
        error["VersionId"] = entry["VersionId"]
    return error


# --- tagging -----------------------------------------------------------------------------------------------


def _update_version(ctx: RequestContext, params: Params, **values: Any) -> Record:
    """Change a version's mutable metadata (tags, ACL); returns the version as it was."""
    read_bucket(ctx, params)
    with ctx.cloud.db.begin() as conn:
        version = catalog.readable_version(conn, params["Bucket"], params["Key"], params.get("VersionId"))
        if values:
            conn.execute(update(objects).where(objects.c.seq == version["seq"]).values(**values))
    return version


def _version_header(version: Record) -> dict[str, str]:
    return {"VersionId": version["version_id"]} if version["version_id"] != "null" else {}


@api.operation("PutObjectTagging", resources=object_resource)
def put_object_tagging(ctx: RequestContext, params: Params) -> Params:
    tags = check_tags((params.get("Tagging") or {}).get("TagSet") or [], limit=MAX_OBJECT_TAGS)
    return _version_header(_update_version(ctx, params, tags=tags or None))


@api.operation("GetObjectTagging", resources=object_resource)
def get_object_tagging(ctx: RequestContext, params: Params) -> Params:
    version = _update_version(ctx, params)
    return {"TagSet": tag_set(version["tags"]), **_version_header(version)}


@api.operation("DeleteObjectTagging", resources=object_resource)
def delete_object_tagging(ctx: RequestContext, params: Params) -> Params:
    return _version_header(_update_version(ctx, params, tags=None))


# --- ACL ----------------------------------------------------------------------------------------------------


@api.operation("GetObjectAcl", resources=object_resource)
def get_object_acl(ctx: RequestContext, params: Params) -> Params:
    bucket = read_bucket(ctx, params)
    version = _update_version(ctx, params)
    owner = version["owner_account"]
    grants = acl_grants(version["acl"], owner=owner, bucket=bucket, on_bucket=False)
    return {**acl_output(ctx, grants, owner), **_version_header(version)}


@api.operation("PutObjectAcl", resources=object_resource)
def put_object_acl(ctx: RequestContext, params: Params) -> Params:
    bucket = read_bucket(ctx, params)
    with ctx.cloud.db.read() as conn:
        version = catalog.readable_version(conn, params["Bucket"], params["Key"], params.get("VersionId"))
    acl = requested_acl(ctx, params, owner=version["owner_account"], bucket=bucket, on_bucket=False, body=True)
    if acl is None:
        raise MalformedACLError(MALFORMED_XML)
    return _version_header(_update_version(ctx, params, acl=acl))


# --- attributes ---------------------------------------------------------------------------------------------

_ATTRIBUTES = frozenset({"ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"})


@api.operation("GetObjectAttributes", resources=object_resource, action="s3:GetObjectAttributes")
def get_object_attributes(ctx: RequestContext, params: Params) -> Params:
    wanted = set(params.get("ObjectAttributes") or [])
    if not wanted or not wanted <= _ATTRIBUTES:
        raise InvalidArgument("Invalid attribute name specified.", ArgumentName="x-amz-object-attributes",
                              ArgumentValue=",".join(sorted(wanted)))
    bucket = read_bucket(ctx, params)
    with ctx.cloud.db.read() as conn:
        version = catalog.readable_version(conn, params["Bucket"], params["Key"], params.get("VersionId"))
    check_encryption_params(version["encryption"], params)
    output: Params = {"LastModified": version["last_modified"], **version_output(bucket, version["version_id"])}
    if "ETag" in wanted:
        output["ETag"] = version["etag"].strip('"')
    if "StorageClass" in wanted:
        output["StorageClass"] = version["storage_class"]
    if "ObjectSize" in wanted:
        output["ObjectSize"] = version["size"]
    checksum = version["checksum"]
    if "Checksum" in wanted and checksum:
        output["Checksum"] = checksum_members(checksum)
    if "ObjectParts" in wanted and version["parts_count"]:
        output["ObjectParts"] = _object_parts(version, params)
    return output


def _object_parts(version: Record, params: Params) -> Params:
    marker = params.get("PartNumberMarker") or 0
    limit = params.get("MaxParts") or 1000
    algorithm = (version["checksum"] or {}).get("algorithm")
    numbered = list(enumerate(version["segments"], start=1))[marker:]
    page = numbered[:limit]
    parts = []
    for number, segment in page:
        part: Params = {"PartNumber": number, "Size": segment["size"]}
        if algorithm and segment.get("checksum"):
            part[checksums.MEMBERS[algorithm]] = segment["checksum"]
        parts.append(part)
    result: Params = {"TotalPartsCount": version["parts_count"], "PartNumberMarker": marker, "MaxParts": limit,
                      "IsTruncated": len(numbered) > limit, "Parts": parts}
    if page:
        result["NextPartNumberMarker"] = page[-1][0]
    return result
