"""Multipart uploads: create, upload (or copy) parts, list, complete, abort.

Each part is a blob of its own. Completing an upload writes no data: the new object's
segments are the chosen parts' blobs in order (GET streams across them), its ETag the
MD5 of the parts' MD5s with ``-N``, and its checksum the composite (checksum of part
checksums) or, for CRCs asked as ``FULL_OBJECT``, the whole object's CRC combined from
the parts' CRCs. Parts not named in the completion are discarded with it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select

from controller.api import Params, RequestContext
from controller.s3 import catalog, checksums, engine
from controller.s3.access import object_resource
from controller.s3.common import (
    checksum_members,
    encryption_members,
    owner,
    read_bucket,
    read_encryption,
    write_encryption,
)
from controller.s3.conditions import check_write_conditions, parse_copy_range
from controller.s3.copy import copy_bytes, open_source
from controller.s3.crypto import ObjectKey
from controller.s3.errors import (
    BadDigest,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    InvalidRequest,
    MalformedXML,
    no_such_upload,
)
from controller.s3.naming import check_key, new_upload_id, object_arn
from controller.s3.objects import new_object_values, version_output
from controller.s3.paging import check_max_keys
from controller.s3.runtime import S3Runtime, runtime
from controller.s3.service import api
from controller.s3.state import parts, uploads
from controller.state import utcnow

Record = dict[str, Any]
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10000
MAX_PART_SIZE = 5 * 1024**3


def _load_upload(conn: Any, params: Params) -> Record:
    row = conn.execute(select(uploads).where(uploads.c.upload_id == params["UploadId"])).mappings().first()
    if row is None or row["bucket"] != params["Bucket"] or row["key"] != params["Key"]:
        raise no_such_upload(params["UploadId"])
    return dict(row)


def _check_part_number(number: int) -> None:
    if not 1 <= number <= MAX_PARTS:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive",
                              ArgumentName="partNumber", ArgumentValue=str(number))


def _upload_key(ctx: RequestContext, rt: S3Runtime, upload: Record, params: Params) -> ObjectKey | None:
    """The upload's data key; SSE-C uploads need the same customer key on every part, SSE-KMS asks KMS."""
    return read_encryption(ctx, rt, upload["encryption"], params)


def _checksum_type(algorithm: str | None, requested: str | None) -> str | None:
    """COMPOSITE unless FULL_OBJECT is asked for (CRCs only) or implied (CRC64NVME has no composite form)."""
    if algorithm is None:
        if requested:
            raise InvalidRequest("The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm "
                                 "header.")
        return None
    if requested not in (None, "COMPOSITE", "FULL_OBJECT"):
        raise InvalidRequest(f"Value for x-amz-checksum-type header is invalid: {requested}")
    if algorithm == "CRC64NVME":
        if requested == "COMPOSITE":
            raise InvalidRequest("The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
        return "FULL_OBJECT"
    if requested == "FULL_OBJECT" and algorithm not in checksums.CRC_ALGORITHMS:
        raise InvalidRequest(f"The FULL_OBJECT checksum type cannot be used with the {algorithm.lower()} checksum "
                             "algorithm.")
    return requested or "COMPOSITE"


@api.operation("CreateMultipartUpload", resources=object_resource, action="s3:PutObject")
def create_multipart_upload(ctx: RequestContext, params: Params) -> Params:
    rt = runtime(ctx.cloud)
    bucket = read_bucket(ctx, params)
    check_key(params["Key"])
    values = new_object_values(ctx, bucket, params)
    algorithm = (params.get("ChecksumAlgorithm") or "").upper() or None
    if algorithm is not None and algorithm not in checksums.MEMBERS:
        raise InvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid "
                             "types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
    checksum_type = _checksum_type(algorithm, params.get("ChecksumType"))
    object_key = write_encryption(ctx, rt, bucket, params)
    upload_id = new_upload_id()
    with ctx.cloud.db.begin() as conn:
        catalog.require_bucket(conn, bucket["name"])
        conn.execute(insert(uploads).values(
            upload_id=upload_id, bucket=bucket["name"], key=params["Key"], initiated=utcnow(),
            owner_account=values["owner_account"], initiator_arn=ctx.principal.arn,
            initiator_id=ctx.principal.user_id, storage_class=values["storage_class"], headers=values["headers"],
            user_metadata=values["user_metadata"], tags=values["tags"], acl=values["acl"],
            checksum_algorithm=algorithm, checksum_type=checksum_type,
            encryption=object_key.record if object_key else None))
    output: Params = {"Bucket": bucket["name"], "Key": params["Key"], "UploadId": upload_id,
                      **encryption_members(object_key.record if object_key else None)}
    if algorithm:
        output.update(ChecksumAlgorithm=algorithm, ChecksumType=checksum_type)
    return output


def _save_part(ctx: RequestContext, rt: S3Runtime, params: Params, stored: engine.Stored,
               checksum: str | None) -> None:
    """Record a part (replacing one with the same number); its blob goes if the upload is gone."""
    try:
        with ctx.cloud.db.begin() as conn:
            _load_upload(conn, params)
            number = params["PartNumber"]
            old = conn.execute(select(parts.c.blob).where(parts.c.upload_id == params["UploadId"],
                                                          parts.c.part_number == number)).scalar()
            conn.execute(delete(parts).where(parts.c.upload_id == params["UploadId"], parts.c.part_number == number))
            conn.execute(insert(parts).values(
                upload_id=params["UploadId"], part_number=number, blob=stored.blob, size=stored.size,
                etag=stored.etag, md5=stored.md5.hex(), iv=stored.iv, checksum=checksum, last_modified=utcnow()))
    except BaseException:
        rt.blobs.delete([stored.blob])
        raise
    if old is not None:
        rt.guard.discard([old])


@api.operation("UploadPart", resources=object_resource, action="s3:PutObject")
def upload_part(ctx: RequestContext, params: Params) -> Params:
    rt = runtime(ctx.cloud)
    read_bucket(ctx, params)
    _check_part_number(params["PartNumber"])
    with ctx.cloud.db.read() as conn:
        upload = _load_upload(conn, params)
    object_key = _upload_key(ctx, rt, upload, params)
    algorithm = upload["checksum_algorithm"]
    expected = checksums.requested(params)
    declared = expected.algorithm if expected else None
    if declared and algorithm and declared != algorithm:
        raise InvalidRequest(f"Checksum Type mismatch occurred, expected checksum Type: {algorithm.lower()}, "
                             f"actual checksum Type: {declared.lower()}")
    body = engine.as_payload(params.get("Body"), declared=declared, content_md5=params.get("ContentMD5"),
                             expected={declared: checksums.decode(declared, expected.value)}
                             if expected and expected.value else None)
    extra = [algorithm] if algorithm and algorithm != declared else []
    stored = engine.store(rt, body, declared=declared, extra=extra, object_key=object_key, inline_limit=0)
    if stored.size > MAX_PART_SIZE:
        rt.blobs.delete([stored.blob])
        raise InvalidArgument("Part size exceeds the maximum allowed part size of 5 GB", ArgumentName="Body",
                              ArgumentValue=str(stored.size))
    part_algorithm = algorithm or declared
    checksum = checksums.encode(stored.digests[part_algorithm]) if algorithm else None
    _save_part(ctx, rt, params, stored, checksum)
    output: Params = {"ETag": stored.etag, **encryption_members(upload["encryption"])}
    if part_algorithm:
        output[checksums.MEMBERS[part_algorithm]] = checksums.encode(stored.digests[part_algorithm])
    return output


@api.operation("UploadPartCopy", resources=object_resource, action="s3:PutObject")
def upload_part_copy(ctx: RequestContext, params: Params) -> Params:
    rt = runtime(ctx.cloud)
    read_bucket(ctx, params)
    _check_part_number(params["PartNumber"])
    with ctx.cloud.db.read() as conn:
        upload = _load_upload(conn, params)
    object_key = _upload_key(ctx, rt, upload, params)
    source = open_source(ctx, rt, params)
    try:
        size = source.version["size"]
        byte_range = parse_copy_range(params["CopySourceRange"], size) if params.get("CopySourceRange") else None
        if (byte_range.length if byte_range else size) > MAX_PART_SIZE:
            raise InvalidRequest("The specified copy source is larger than the maximum allowable size for a copy "
                                 "source: 5368709120")
        algorithm = upload["checksum_algorithm"]
        stored = copy_bytes(rt, source, byte_range, object_key, [algorithm] if algorithm else [], inline_limit=0)
    finally:
        rt.guard.release(source.leased)
    checksum = checksums.encode(stored.digests[algorithm]) if algorithm else None
    _save_part(ctx, rt, params, stored, checksum)
    result: Params = {"ETag": stored.etag, "LastModified": utcnow()}
    if algorithm:
        result[checksums.MEMBERS[algorithm]] = checksum
    output: Params = {"CopyPartResult": result, **encryption_members(upload["encryption"])}
    if source.version["version_id"] != "null":
        output["CopySourceVersionId"] = source.version["version_id"]
    return output


def _chosen_parts(upload: Record, requested: list[Record], stored: dict[int, Record]) -> list[Record]:
    """The parts a completion names, checked for order, existence, ETag, checksum and size."""
    if not requested:
        raise MalformedXML("The XML you provided was not well-formed or did not validate against our published "
                           "schema")
    chosen: list[Record] = []
    previous = 0
    member = checksums.MEMBERS.get(upload["checksum_algorithm"] or "")
    for entry in requested:
        number = entry.get("PartNumber")
        if number is None or number <= previous:
            raise InvalidPartOrder("The list of parts was not in ascending order. Parts must be ordered by part "
                                   "number.", UploadId=upload["upload_id"])
        previous = number
        part = stored.get(number)
        etag = (entry.get("ETag") or "").strip().strip('"')
        claimed = entry.get(member) if member else None
        if part is None or etag != part["etag"].strip('"') or (claimed and claimed != part["checksum"]):
            raise InvalidPart("One or more of the specified parts could not be found.  The part may not have been "
                              "uploaded, or the specified entity tag may not match the part's entity tag.",
                              UploadId=upload["upload_id"], PartNumber=str(number), ETag=entry.get("ETag", ""))
        chosen.append(part)
    for part in chosen[:-1]:
        if part["size"] < MIN_PART_SIZE:
            raise EntityTooSmall("Your proposed upload is smaller than the minimum allowed size",
                                 ProposedSize=str(part["size"]), MinSizeAllowed=str(MIN_PART_SIZE),
                                 PartNumber=str(part["part_number"]), ETag=part["etag"])
    return chosen


def _object_checksum(upload: Record, chosen: list[Record], params: Params) -> Record | None:
    algorithm = upload["checksum_algorithm"]
    if algorithm is None or any(part["checksum"] is None for part in chosen):
        return None
    digests = [checksums.decode(algorithm, part["checksum"]) for part in chosen]
    if upload["checksum_type"] == "FULL_OBJECT":
        value = checksums.encode(checksums.full_object(
            algorithm, [(digest, part["size"]) for digest, part in zip(digests, chosen, strict=True)]))
        claimed = params.get(checksums.MEMBERS[algorithm])
        if claimed and claimed != value:
            raise BadDigest(f"The {algorithm.lower()} you specified did not match the calculated checksum.")
    else:
        value = checksums.composite(algorithm, digests)
    return {"algorithm": algorithm, "value": value, "type": upload["checksum_type"]}


@api.operation("CompleteMultipartUpload", resources=object_resource, action="s3:PutObject")
def complete_multipart_upload(ctx: RequestContext, params: Params) -> Params:
    rt = runtime(ctx.cloud)
    read_bucket(ctx, params)
    requested = (params.get("MultipartUpload") or {}).get("Parts") or []
    key = params["Key"]
    with ctx.cloud.db.begin() as conn:
        bucket = catalog.require_bucket(conn, params["Bucket"])
        upload = _load_upload(conn, params)
        stored = {row["part_number"]: dict(row) for row in conn.execute(
            select(parts).where(parts.c.upload_id == upload["upload_id"])).mappings()}
        chosen = _chosen_parts(upload, requested, stored)
        size = sum(part["size"] for part in chosen)
        if params.get("MpuObjectSize") is not None and params["MpuObjectSize"] != size:
            raise InvalidRequest(f"The provided 'x-amz-mp-object-size' header value {params['MpuObjectSize']} does "
                                 f"not match what was computed: {size}")
        if params.get("IfMatch") is not None or params.get("IfNoneMatch") is not None:
            check_write_conditions(key, catalog.current_etag(conn, bucket["name"], key),
                                   if_match=params.get("IfMatch"), if_none_match=params.get("IfNoneMatch"))
        checksum = _object_checksum(upload, chosen, params)
        etag = checksums.multipart_etag([bytes.fromhex(part["md5"]) for part in chosen])
        segments = [{"blob": part["blob"], "size": part["size"], "iv": part["iv"], "etag": part["etag"],
                     "checksum": part["checksum"]} for part in chosen]
        values = dict(delete_marker=False, last_modified=utcnow(), owner_account=upload["owner_account"],
                      size=size, etag=etag, storage_class=upload["storage_class"], headers=upload["headers"],
                      user_metadata=upload["user_metadata"], tags=upload["tags"], acl=upload["acl"],
                      checksum=checksum, encryption=upload["encryption"], segments=segments,
                      parts_count=len(chosen))
        version_id, discarded = catalog.commit_version(conn, bucket, key, values)
        used = {part["blob"] for part in chosen}
        discarded += [part["blob"] for part in stored.values() if part["blob"] not in used]
        conn.execute(delete(parts).where(parts.c.upload_id == upload["upload_id"]))
        conn.execute(delete(uploads).where(uploads.c.upload_id == upload["upload_id"]))
    rt.guard.discard(discarded)
    ctx.audit_resources.append(object_arn(ctx.cloud.config.partition, bucket["name"], key))
    host = ctx.host or f"{ctx.cloud.config.host}:{ctx.cloud.config.port}"
    output: Params = {"Location": f"http://{host}/{bucket['name']}/{key}", "Bucket": bucket["name"], "Key": key,
                      "ETag": etag, **checksum_members(checksum), **encryption_members(upload["encryption"]),
                      **version_output(bucket, version_id)}
    return output


@api.operation("AbortMultipartUpload", resources=object_resource)
def abort_multipart_upload(ctx: RequestContext, params: Params) -> Params:
    rt = runtime(ctx.cloud)
    read_bucket(ctx, params)
    with ctx.cloud.db.begin() as conn:
        upload = _load_upload(conn, params)
        blobs = [blob for (blob,) in conn.execute(select(parts.c.blob).where(parts.c.upload_id == upload["upload_id"]))]
        conn.execute(delete(parts).where(parts.c.upload_id == upload["upload_id"]))
        conn.execute(delete(uploads).where(uploads.c.upload_id == upload["upload_id"]))
    rt.guard.discard(blobs)
    return {}


@api.operation("ListParts", resources=object_resource, action="s3:ListMultipartUploadParts")
def list_parts(ctx: RequestContext, params: Params) -> Params:
    read_bucket(ctx, params)
    marker = params.get("PartNumberMarker") or 0
    if marker < 0:
        raise InvalidArgument("Argument part-number-marker must be an integer between 0 and 2147483647",
                              ArgumentName="part-number-marker", ArgumentValue=str(marker))
    limit = check_max_keys(params.get("MaxParts"), name="max-parts")
    with ctx.cloud.db.read() as conn:
        upload = _load_upload(conn, params)
        rows = conn.execute(select(parts).where(parts.c.upload_id == upload["upload_id"],
                                                parts.c.part_number > marker)
                            .order_by(parts.c.part_number).limit(limit + 1)).mappings().all()
    truncated = len(rows) > limit
    rows = rows[:limit]
    member = checksums.MEMBERS.get(upload["checksum_algorithm"] or "")
    listed = []
    for row in rows:
        part: Params = {"PartNumber": row["part_number"], "LastModified": row["last_modified"], "ETag": row["etag"],
                        "Size": row["size"]}
        if member and row["checksum"]:
            part[member] = row["checksum"]
        listed.append(part)
    output: Params = {
        "Bucket": upload["bucket"], "Key": upload["key"], "UploadId": upload["upload_id"],
        "PartNumberMarker": marker, "MaxParts": limit, "IsTruncated": truncated, "Parts": listed,
        "Initiator": {"ID": upload["initiator_arn"], "DisplayName": upload["initiator_id"]},
        "Owner": owner(ctx, upload["owner_account"]), "StorageClass": upload["storage_class"]}
    if rows:
        output["NextPartNumberMarker"] = rows[-1]["part_number"]
    if upload["checksum_algorithm"]:
        output.update(ChecksumAlgorithm=upload["checksum_algorithm"], ChecksumType=upload["checksum_type"])
    return output
