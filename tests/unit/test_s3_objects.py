"""Object operations through the real storage engine: data, metadata, versions, copies, encryption."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import zlib

import pytest
from sqlalchemy import select

from controller.s3 import checksums
from controller.s3.runtime import referenced_blobs, runtime
from controller.s3.state import inline_blobs
from tests.unit.harness import Clouds, S3Harness


@pytest.fixture
def s3h(clouds: Clouds) -> S3Harness:
    return clouds.s3()


@pytest.fixture
def bucket(s3h: S3Harness) -> str:
    s3h.call("CreateBucket", {"Bucket": "objects"})
    return "objects"


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def sse_c(key: bytes, prefix: str = "") -> dict[str, str]:
    return {f"{prefix}SSECustomerAlgorithm": "AES256", f"{prefix}SSECustomerKey": base64.b64encode(key).decode(),
            f"{prefix}SSECustomerKeyMD5": b64md5(key)}


def test_put_get_head_with_metadata(s3h: S3Harness, bucket: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    put = s3h.put(bucket, "dir/file.bin", data, ContentType="application/x-test", CacheControl="max-age=60",
                  Metadata={"Color": "blue"}, ContentMD5=b64md5(data), Tagging="a=1&b=2",
                  StorageClass="STANDARD_IA", ContentEncoding="aws-chunked")
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"' and "VersionId" not in put
    head = s3h.call("HeadObject", {"Bucket": bucket, "Key": "dir/file.bin"})
    assert head["ContentLength"] == len(data) and head["ContentType"] == "application/x-test"
    assert head["Metadata"] == {"color": "blue"} and head["TagCount"] == 2
    assert head["StorageClass"] == "STANDARD_IA" and "ContentEncoding" not in head
    assert s3h.read(bucket, "dir/file.bin") == data
    got = s3h.call("GetObject", {"Bucket": bucket, "Key": "dir/file.bin", "Range": "bytes=1048570-1048585",
                                 "ResponseContentType": "text/plain"})
    assert b"".join(got["Body"]) == data[1048570:1048586]
    assert got["ContentRange"] == f"bytes 1048570-1048585/{len(data)}" and got["ContentType"] == "text/plain"
    assert s3h.call("GetObjectTagging", {"Bucket": bucket, "Key": "dir/file.bin"})["TagSet"][0] == {
        "Key": "a", "Value": "1"}


def test_bad_digests_leave_nothing_behind(s3h: S3Harness, bucket: str) -> None:
    error = s3h.refused("PutObject", {"Bucket": bucket, "Key": "k", "Body": b"abc", "ContentMD5": b64md5(b"abd")},
                        "BadDigest")
    assert error.status == 400
    s3h.refused("PutObject", {"Bucket": bucket, "Key": "k", "Body": b"abc", "ContentMD5": "nope"}, "InvalidDigest")
    crc = checksums.encode(zlib.crc32(b"xyz").to_bytes(4, "big"))
    s3h.refused("PutObject", {"Bucket": bucket, "Key": "k", "Body": b"abc", "ChecksumCRC32": crc}, "BadDigest")
    s3h.refused("HeadObject", {"Bucket": bucket, "Key": "k"}, "NoSuchKey")
    rt = runtime(s3h.cloud)
    assert set(rt.blobs.list_ids()) == referenced_blobs(s3h.cloud) == set()


def test_checksums_are_stored_and_returned_when_asked(s3h: S3Harness, bucket: str) -> None:
    data = b"checksummed"
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    put = s3h.put(bucket, "c", data, ChecksumSHA256=sha)
    assert put["ChecksumSHA256"] == sha and put["ChecksumType"] == "FULL_OBJECT"
    assert "ChecksumSHA256" not in s3h.call("HeadObject", {"Bucket": bucket, "Key": "c"})
    head = s3h.call("HeadObject", {"Bucket": bucket, "Key": "c", "ChecksumMode": "ENABLED"})
    assert head["ChecksumSHA256"] == sha
    ranged = s3h.call("GetObject", {"Bucket": bucket, "Key": "c", "Range": "bytes=0-1", "ChecksumMode": "ENABLED"})
    assert "ChecksumSHA256" not in ranged


def test_conditional_requests(s3h: S3Harness, bucket: str) -> None:
    etag = s3h.put(bucket, "cond", b"v1")["ETag"]
    s3h.refused("PutObject", {"Bucket": bucket, "Key": "cond", "Body": b"v2", "IfNoneMatch": "*"},
                "PreconditionFailed")
    s3h.put(bucket, "fresh", b"new", IfNoneMatch="*")
    s3h.refused("PutObject", {"Bucket": bucket, "Key": "cond", "Body": b"v2", "IfMatch": '"nope"'},
                "PreconditionFailed")
    s3h.put(bucket, "cond", b"v2", IfMatch=etag)
    assert s3h.read(bucket, "cond") == b"v2"
    not_modified = s3h.refused("GetObject", {"Bucket": bucket, "Key": "cond",
                                             "IfNoneMatch": f'"{hashlib.md5(b"v2").hexdigest()}"'}, "NotModified")
    assert not_modified.status == 304 and "ETag" in not_modified.headers
    s3h.refused("GetObject", {"Bucket": bucket, "Key": "cond", "IfMatch": etag}, "PreconditionFailed")
    s3h.refused("GetObject", {"Bucket": bucket, "Key": "cond", "Range": "bytes=10-"}, "InvalidRange")
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    s3h.refused("HeadObject", {"Bucket": bucket, "Key": "cond", "IfModifiedSince": future}, "NotModified")


def test_versioning_lifecycle_of_a_key(s3h: S3Harness, bucket: str) -> None:
    s3h.put(bucket, "doc", b"unversioned")
    s3h.call("PutBucketVersioning", {"Bucket": bucket, "VersioningConfiguration": {"Status": "Enabled"}})
    v2 = s3h.put(bucket, "doc", b"second")["VersionId"]
    v3 = s3h.put(bucket, "doc", b"third")["VersionId"]
    assert v2 != v3 != "null"
    assert s3h.read(bucket, "doc") == b"third"
    assert s3h.read(bucket, "doc", VersionId="null") == b"unversioned"
    assert s3h.read(bucket, "doc", VersionId=v2) == b"second"
    marker = s3h.call("DeleteObject", {"Bucket": bucket, "Key": "doc"})
    assert marker["DeleteMarker"] is True
    error = s3h.refused("GetObject", {"Bucket": bucket, "Key": "doc"}, "NoSuchKey")
    assert error.headers["x-amz-delete-marker"] == "true"
    s3h.refused("GetObject", {"Bucket": bucket, "Key": "doc", "VersionId": marker["VersionId"]}, "MethodNotAllowed")
    listed = s3h.call("ListObjectVersions", {"Bucket": bucket})
    assert [v["VersionId"] for v in listed["Versions"]] == [v3, v2, "null"]
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [(marker["VersionId"], True)]
    assert s3h.call("ListObjectsV2", {"Bucket": bucket})["KeyCount"] == 0
    # removing the delete marker brings the newest version back
    removed = s3h.call("DeleteObject", {"Bucket": bucket, "Key": "doc", "VersionId": marker["VersionId"]})
    assert removed["DeleteMarker"] is True
    assert s3h.read(bucket, "doc") == b"third"
    s3h.call("DeleteObject", {"Bucket": bucket, "Key": "doc", "VersionId": v3})
    assert s3h.read(bucket, "doc") == b"second"
    # suspended: new writes replace the null version only
    s3h.call("PutBucketVersioning", {"Bucket": bucket, "VersioningConfiguration": {"Status": "Suspended"}})
    assert s3h.put(bucket, "doc", b"suspended")["VersionId"] == "null"
    versions = s3h.call("ListObjectVersions", {"Bucket": bucket})["Versions"]
    assert [v["VersionId"] for v in versions] == ["null", v2]


def test_version_listing_pages(s3h: S3Harness, bucket: str) -> None:
    s3h.call("PutBucketVersioning", {"Bucket": bucket, "VersioningConfiguration": {"Status": "Enabled"}})
    ids = {key: [s3h.put(bucket, key, key.encode() + bytes([i]))["VersionId"] for i in range(3)]
           for key in ("a", "b")}
    seen = []
    params: dict = {"Bucket": bucket, "MaxKeys": 2}
    while True:
        page = s3h.call("ListObjectVersions", params)
        seen += [(v["Key"], v["VersionId"]) for v in page["Versions"]]
        if not page["IsTruncated"]:
            break
        params.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])
    assert seen == [("a", v) for v in reversed(ids["a"])] + [("b", v) for v in reversed(ids["b"])]


def test_listing_v1_v2_through_the_store(s3h: S3Harness, bucket: str) -> None:
    for key in ["a", "b/1", "b/2", "c d", "é"]:
        s3h.put(bucket, key, b"x")
    v2 = s3h.call("ListObjectsV2", {"Bucket": bucket, "Delimiter": "/", "MaxKeys": 2, "EncodingType": "url"})
    assert [c["Key"] for c in v2["Contents"]] == ["a"] and v2["CommonPrefixes"] == [{"Prefix": "b/"}]
    rest = s3h.call("ListObjectsV2", {"Bucket": bucket, "Delimiter": "/", "EncodingType": "url",
                                      "ContinuationToken": v2["NextContinuationToken"]})
    assert [c["Key"] for c in rest["Contents"]] == ["c%20d", "%C3%A9"] and not rest["IsTruncated"]
    v1 = s3h.call("ListObjects", {"Bucket": bucket, "Prefix": "b/", "Marker": "b/1"})
    assert [c["Key"] for c in v1["Contents"]] == ["b/2"] and v1["Contents"][0]["Owner"]["ID"]
    after = s3h.call("ListObjectsV2", {"Bucket": bucket, "StartAfter": "b/2", "FetchOwner": True})
    assert [c["Key"] for c in after["Contents"]] == ["c d", "é"] and "Owner" in after["Contents"][0]
    s3h.refused("ListObjectsV2", {"Bucket": bucket, "ContinuationToken": "!!"}, "InvalidArgument")


def test_delete_objects_batch(s3h: S3Harness, bucket: str) -> None:
    for key in ("x1", "x2"):
        s3h.put(bucket, key, b"x")
    result = s3h.call("DeleteObjects", {"Bucket": bucket, "Delete": {"Objects": [
        {"Key": "x1"}, {"Key": "x2"}, {"Key": "missing"}, {"Key": "x1", "VersionId": ""}]}})
    assert [d["Key"] for d in result["Deleted"]] == ["x1", "x2", "missing"]
    assert [e["Code"] for e in result["Errors"]] == ["InvalidArgument"]
    assert s3h.call("ListObjectsV2", {"Bucket": bucket})["KeyCount"] == 0
    quiet = s3h.call("DeleteObjects", {"Bucket": bucket, "Delete": {"Objects": [{"Key": "y"}], "Quiet": True}})
    assert quiet["Deleted"] == []


def test_copy_object_directives_and_sources(s3h: S3Harness, bucket: str) -> None:
    s3h.call("CreateBucket", {"Bucket": "copies"})
    s3h.put(bucket, "src", b"source data", ContentType="text/plain", Metadata={"k": "v"}, Tagging="t=1")
    copied = s3h.call("CopyObject", {"Bucket": "copies", "Key": "dst", "CopySource": f"{bucket}/src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"source data").hexdigest()}"'
    head = s3h.call("HeadObject", {"Bucket": "copies", "Key": "dst"})
    assert (head["ContentType"], head["Metadata"], head["TagCount"]) == ("text/plain", {"k": "v"}, 1)
    s3h.call("CopyObject", {"Bucket": "copies", "Key": "dst2", "CopySource": f"/{bucket}/src",
                            "MetadataDirective": "REPLACE", "Metadata": {"new": "1"}, "ContentType": "x/y",
                            "TaggingDirective": "REPLACE", "Tagging": "u=2"})
    head = s3h.call("HeadObject", {"Bucket": "copies", "Key": "dst2"})
    assert (head["ContentType"], head["Metadata"]) == ("x/y", {"new": "1"})
    assert s3h.call("GetObjectTagging", {"Bucket": "copies", "Key": "dst2"})["TagSet"] == [{"Key": "u",
                                                                                            "Value": "2"}]
    s3h.refused("CopyObject", {"Bucket": bucket, "Key": "src", "CopySource": f"{bucket}/src"}, "InvalidRequest")
    s3h.refused("CopyObject", {"Bucket": "copies", "Key": "d3", "CopySource": f"{bucket}/src",
                               "CopySourceIfNoneMatch": copied["CopyObjectResult"]["ETag"]}, "PreconditionFailed")
    s3h.refused("CopyObject", {"Bucket": "copies", "Key": "d3", "CopySource": f"{bucket}/none"}, "NoSuchKey")
    # the copy is independent of its source
    s3h.call("DeleteObject", {"Bucket": bucket, "Key": "src"})
    assert s3h.read("copies", "dst") == b"source data"


def test_copy_by_version_and_into_encryption(s3h: S3Harness, bucket: str) -> None:
    s3h.call("PutBucketVersioning", {"Bucket": bucket, "VersioningConfiguration": {"Status": "Enabled"}})
    first = s3h.put(bucket, "v", b"first")["VersionId"]
    s3h.put(bucket, "v", b"second")
    out = s3h.call("CopyObject", {"Bucket": bucket, "Key": "restored", "CopySource": f"{bucket}/v?versionId={first}",
                                  "ServerSideEncryption": "AES256"})
    assert out["CopySourceVersionId"] == first and out["ServerSideEncryption"] == "AES256"
    assert s3h.read(bucket, "restored") == b"first"


def test_sse_c_round_trip_with_ranges(s3h: S3Harness, bucket: str) -> None:
    key = os.urandom(32)
    data = os.urandom(100_000)
    put = s3h.put(bucket, "secret", data, **sse_c(key))
    assert put["SSECustomerKeyMD5"] == b64md5(key)
    assert s3h.read(bucket, "secret", **sse_c(key)) == data
    part = s3h.call("GetObject", {"Bucket": bucket, "Key": "secret", "Range": "bytes=33333-44444", **sse_c(key)})
    assert b"".join(part["Body"]) == data[33333:44445]
    s3h.refused("GetObject", {"Bucket": bucket, "Key": "secret"}, "InvalidRequest")
    s3h.refused("HeadObject", {"Bucket": bucket, "Key": "secret", **sse_c(os.urandom(32))}, "AccessDenied")
    # copying needs the source key, and may re-encrypt under SSE-S3
    s3h.call("CopyObject", {"Bucket": bucket, "Key": "plain", "CopySource": f"{bucket}/secret",
                            **sse_c(key, "CopySource"), "ServerSideEncryption": "AES256"})
    assert s3h.read(bucket, "plain") == data


@pytest.mark.parametrize("repeat", [100, 5000])  # stored inline, and as a blob
def test_stored_bytes_are_encrypted(s3h: S3Harness, bucket: str, repeat: int) -> None:
    marker = b"find-me-in-plaintext" * repeat
    s3h.put(bucket, "enc", marker, ServerSideEncryption="AES256")
    s3h.put(bucket, "clear", marker)
    rt = runtime(s3h.cloud)
    contents = [b"".join(rt.blobs.read(blob)) for blob in rt.blobs.list_ids()]
    with s3h.cloud.db.read() as conn:
        contents += [data for (data,) in conn.execute(select(inline_blobs.c.data))]
    assert len(contents) == 2 and sum(marker in content for content in contents) == 1
    assert s3h.read(bucket, "enc") == marker


def test_object_acl_and_attributes(s3h: S3Harness, bucket: str) -> None:
    s3h.put(bucket, "pub", b"x", ACL="public-read")
    grants = s3h.call("GetObjectAcl", {"Bucket": bucket, "Key": "pub"})["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)
    s3h.call("PutObjectAcl", {"Bucket": bucket, "Key": "pub", "ACL": "private"})
    assert len(s3h.call("GetObjectAcl", {"Bucket": bucket, "Key": "pub"})["Grants"]) == 1
    attributes = s3h.call("GetObjectAttributes", {"Bucket": bucket, "Key": "pub",
                                                  "ObjectAttributes": ["ETag", "ObjectSize", "StorageClass"]})
    assert attributes["ObjectSize"] == 1 and not attributes["ETag"].startswith('"')


def test_overwrite_while_reading_keeps_the_stream_whole(s3h: S3Harness, bucket: str) -> None:
    old = os.urandom(3 * 1024 * 1024)
    s3h.put(bucket, "hot", old)
    body = s3h.call("GetObject", {"Bucket": bucket, "Key": "hot"})["Body"]
    chunks = iter(body)
    first = next(chunks)
    s3h.put(bucket, "hot", b"new")
    s3h.call("DeleteObject", {"Bucket": bucket, "Key": "hot"})
    assert first + b"".join(chunks) == old

    assert list(runtime(s3h.cloud).blobs.list_ids()) == []
