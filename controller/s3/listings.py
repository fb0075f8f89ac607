"""Listing operations: ListObjects (v1), ListObjectsV2, ListObjectVersions, ListMultipartUploads.

The paging, prefix and delimiter logic is :mod:`controller.s3.paging` (pure); this
module binds it to the state store and renders each operation's output members.
"""

from __future__ import annotations

from typing import Any

from controller.api import Params, RequestContext
from controller.s3 import catalog
from controller.s3.access import bucket_resource, list_resource
from controller.s3.common import owner, read_bucket
from controller.s3.errors import InvalidArgument
from controller.s3.paging import (
    AFTER_KEY,
    check_max_keys,
    decode_token,
    encode_token,
    entry_name,
    list_page,
    url_encoder,
)
from controller.s3.service import api

Record = dict[str, Any]


def _content(ctx: RequestContext, row: Any, encode: Any, *, with_owner: bool) -> Record:
    item: Record = {"Key": encode(row.key), "LastModified": row.last_modified, "ETag": row.etag, "Size": row.size,
                    "StorageClass": row.storage_class}
    if row.checksum:
        item["ChecksumAlgorithm"] = [row.checksum["algorithm"]]
        item["ChecksumType"] = row.checksum["type"]
    if with_owner:
        item["Owner"] = owner(ctx, row.owner_account)
    return item


def _common_members(params: Params, encode: Any) -> Params:
    output: Params = {"Name": params["Bucket"], "Prefix": encode(params.get("Prefix") or "")}
    if params.get("Delimiter"):
        output["Delimiter"] = encode(params["Delimiter"])
    if params.get("EncodingType"):
        output["EncodingType"] = params["EncodingType"]
    return output


@api.operation("ListObjects", resources=list_resource, action="s3:ListBucket")
def list_objects(ctx: RequestContext, params: Params) -> Params:
    read_bucket(ctx, params)
    encode = url_encoder(params.get("EncodingType"))
    max_keys = check_max_keys(params.get("MaxKeys"))
    with ctx.cloud.db.read() as conn:
        page = list_page(catalog.current_objects(conn, params["Bucket"]), prefix=params.get("Prefix") or "",
                         delimiter=params.get("Delimiter"), marker=params.get("Marker"), max_keys=max_keys)
    output = _common_members(params, encode)
    output.update(Marker=encode(params.get("Marker") or ""), MaxKeys=max_keys, IsTruncated=page.truncated,
                  Contents=[_content(ctx, row, encode, with_owner=True) for row in page.rows],
                  CommonPrefixes=[{"Prefix": encode(prefix)} for prefix in page.prefixes])
    if page.truncated and params.get("Delimiter") and page.last is not None:
        output["NextMarker"] = encode(entry_name(page.last))
    return output


@api.operation("ListObjectsV2", resources=list_resource, action="s3:ListBucket")
def list_objects_v2(ctx: RequestContext, params: Params) -> Params:
    read_bucket(ctx, params)
    encode = url_encoder(params.get("EncodingType"))
    max_keys = check_max_keys(params.get("MaxKeys"))
    token = params.get("ContinuationToken")
    if token is not None and not token:
        raise InvalidArgument("The continuation token provided is incorrect", ArgumentName="continuation-token",
                              ArgumentValue=token)
    marker = decode_token(token) if token else params.get("StartAfter")
    with ctx.cloud.db.read() as conn:
        page = list_page(catalog.current_objects(conn, params["Bucket"]), prefix=params.get("Prefix") or "",
                         delimiter=params.get("Delimiter"), marker=marker, max_keys=max_keys)
    output = _common_members(params, encode)
    output.update(MaxKeys=max_keys, IsTruncated=page.truncated, KeyCount=len(page.entries),
                  Contents=[_content(ctx, row, encode, with_owner=bool(params.get("FetchOwner")))
                            for row in page.rows],
                  CommonPrefixes=[{"Prefix": encode(prefix)} for prefix in page.prefixes])
    if token:
        output["ContinuationToken"] = token
    if params.get("StartAfter"):
        output["StartAfter"] = encode(params["StartAfter"])
    if page.truncated and page.last is not None:
        output["NextContinuationToken"] = encode_token(entry_name(page.last))
    return output


@api.operation("ListObjectVersions", resources=list_resource, action="s3:ListBucketVersions")
def list_object_versions(ctx: RequestContext, params: Params) -> Params:
    read_bucket(ctx, params)
    encode = url_encoder(params.get("EncodingType"))
    max_keys = check_max_keys(params.get("MaxKeys"))
    key_marker = params.get("KeyMarker")
    version_marker = params.get("VersionIdMarker")
    if version_marker and not key_marker:
        raise InvalidArgument("A version-id marker cannot be specified without a key marker.",
                              ArgumentName="version-id-marker", ArgumentValue=version_marker)
    with ctx.cloud.db.read() as conn:
        rank: int | str | None = AFTER_KEY
        if key_marker and version_marker:
            rank = catalog.version_marker_position(conn, params["Bucket"], key_marker, version_marker).rank
        page = list_page(catalog.all_versions(conn, params["Bucket"]), prefix=params.get("Prefix") or "",
                         delimiter=params.get("Delimiter"), marker=key_marker, marker_rank=rank, max_keys=max_keys)
    versions, markers = [], []
    for row in page.rows:
        item: Record = {"Key": encode(row.key), "VersionId": row.version_id, "IsLatest": row.is_latest,
                        "LastModified": row.last_modified, "Owner": owner(ctx, row.owner_account)}
        if row.delete_marker:
            markers.append(item)
            continue
        item.update(ETag=row.etag, Size=row.size, StorageClass=row.storage_class)
        if row.checksum:
            item.update(ChecksumAlgorithm=[row.checksum["algorithm"]], ChecksumType=row.checksum["type"])
        versions.append(item)
    output = _common_members(params, encode)
    output.update(KeyMarker=encode(key_marker or ""), VersionIdMarker=version_marker or "", MaxKeys=max_keys,
                  IsTruncated=page.truncated, Versions=versions, DeleteMarkers=markers,
                  CommonPrefixes=[{"Prefix": encode(prefix)} for prefix in page.prefixes])
    last = page.last
    if page.truncated and last is not None:
        output["NextKeyMarker"] = encode(entry_name(last))
        if not isinstance(last, str):
            output["NextVersionIdMarker"] = last.version_id
    return output


@api.operation("ListMultipartUploads", resources=bucket_resource, action="s3:ListBucketMultipartUploads")
def list_multipart_uploads(ctx: RequestContext, params: Params) -> Params:
    read_bucket(ctx, params)
    encode = url_encoder(params.get("EncodingType"))
    max_uploads = check_max_keys(params.get("MaxUploads"), name="max-uploads")
    key_marker = params.get("KeyMarker")
    upload_marker = params.get("UploadIdMarker")
    # upload ids sort in creation order within a key: the marker itself is the position
    rank = upload_marker if key_marker and upload_marker else AFTER_KEY
    with ctx.cloud.db.read() as conn:
        page = list_page(catalog.pending_uploads(conn, params["Bucket"]), prefix=params.get("Prefix") or "",
                         delimiter=params.get("Delimiter"), marker=key_marker, marker_rank=rank,
                         max_keys=max_uploads)
    listed = []
    for row in page.rows:
        item: Record = {"UploadId": row.upload_id, "Key": encode(row.key), "Initiated": row.initiated,
                        "StorageClass": row.storage_class, "Owner": owner(ctx, row.owner_account),
                        "Initiator": {"ID": row.initiator_arn, "DisplayName": row.initiator_id}}
        if row.checksum_algorithm:
            item.update(ChecksumAlgorithm=row.checksum_algorithm, ChecksumType=row.checksum_type)
        listed.append(item)
    output: Params = {"Bucket": params["Bucket"], "KeyMarker": encode(key_marker or ""),
                      "UploadIdMarker": upload_marker or "", "MaxUploads": max_uploads,
                      "IsTruncated": page.truncated, "Uploads": listed,
                      "CommonPrefixes": [{"Prefix": encode(prefix)} for prefix in page.prefixes],
                      "Prefix": encode(params.get("Prefix") or "")}
    if params.get("Delimiter"):
        output["Delimiter"] = encode(params["Delimiter"])
    if params.get("EncodingType"):
        output["EncodingType"] = params["EncodingType"]
    last = page.last
    if page.truncated and last is not None:
        output["NextKeyMarker"] = encode(entry_name(last))
        if not isinstance(last, str):
            output["NextUploadIdMarker"] = last.upload_id
    return output

