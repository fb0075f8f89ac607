"""Multipart uploads: part rules, completion checks, ETags, checksums, copies, listings."""

from __future__ import annotations

import hashlib
import os

import pytest

from controller.s3 import checksums
from controller.s3.multipart import MIN_PART_SIZE
from controller.s3.runtime import runtime
from tests.unit.harness import Clouds, S3Harness

BUCKET = "uploads"


@pytest.fixture
def s3h(clouds: Clouds) -> S3Harness:
    harness = clouds.s3()
    harness.call("CreateBucket", {"Bucket": BUCKET})
    return harness


def start(s3h: S3Harness, key: str, **params) -> str:
    return s3h.call("CreateMultipartUpload", {"Bucket": BUCKET, "Key": key, **params})["UploadId"]


def part(s3h: S3Harness, key: str, upload: str, number: int, data: bytes, **params) -> dict:
    return s3h.call("UploadPart", {"Bucket": BUCKET, "Key": key, "UploadId": upload, "PartNumber": number,
                                   "Body": data, **params})


def complete(s3h: S3Harness, key: str, upload: str, parts: list[dict], **params) -> dict:
    return s3h.call("CompleteMultipartUpload", {"Bucket": BUCKET, "Key": key, "UploadId": upload,
                                                "MultipartUpload": {"Parts": parts}, **params})


def test_complete_joins_parts_without_copying(s3h: S3Harness) -> None:
    data = [os.urandom(MIN_PART_SIZE), os.urandom(MIN_PART_SIZE + 3), os.urandom(1000)]
    upload = start(s3h, "big", ContentType="video/mp4", Metadata={"m": "1"})
    # parts may arrive out of order and be replaced
    etags = {3: part(s3h, "big", upload, 3, data[2])["ETag"], 1: part(s3h, "big", upload, 1, b"junk" * 10)["ETag"]}
    etags[1] = part(s3h, "big", upload, 1, data[0])["ETag"]
    etags[2] = part(s3h, "big", upload, 2, data[1])["ETag"]
    listed = s3h.call("ListParts", {"Bucket": BUCKET, "Key": "big", "UploadId": upload, "MaxParts": 2})
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2] and listed["IsTruncated"]
    blobs_before = set(runtime(s3h.cloud).blobs.list_ids())
    done = complete(s3h, "big", upload, [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)])
    md5s = b"".join(hashlib.md5(d).digest() for d in data)
    assert done["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'
    assert set(runtime(s3h.cloud).blobs.list_ids()) == blobs_before  # the parts became the object
    assert s3h.read(BUCKET, "big") == b"".join(data)
    head = s3h.call("HeadObject", {"Bucket": BUCKET, "Key": "big", "PartNumber": 2})
    assert head["PartsCount"] == 3 and head["ContentLength"] == len(data[1])
    assert head["ContentType"] == "video/mp4" and head["Metadata"] == {"m": "1"}
    second = s3h.call("GetObject", {"Bucket": BUCKET, "Key": "big", "PartNumber": 2})
    assert b"".join(second["Body"]) == data[1]
    cross = s3h.call("GetObject", {"Bucket": BUCKET, "Key": "big",
                                   "Range": f"bytes={MIN_PART_SIZE - 5}-{MIN_PART_SIZE + 4}"})
    assert b"".join(cross["Body"]) == b"".join(data)[MIN_PART_SIZE - 5:MIN_PART_SIZE + 5]
    s3h.refused("ListParts", {"Bucket": BUCKET, "Key": "big", "UploadId": upload}, "NoSuchUpload")


def test_completion_checks(s3h: S3Harness) -> None:
    upload = start(s3h, "checked")
    small = part(s3h, "checked", upload, 1, b"a" * 100)["ETag"]
    last = part(s3h, "checked", upload, 2, b"b" * 100)["ETag"]
    s3h.refused("CompleteMultipartUpload", {"Bucket": BUCKET, "Key": "checked", "UploadId": upload,
                                            "MultipartUpload": {"Parts": [{"PartNumber": 2, "ETag": last},
                                                                          {"PartNumber": 1, "ETag": small}]}},
                "InvalidPartOrder")
    error = s3h.refused("CompleteMultipartUpload", {
        "Bucket": BUCKET, "Key": "checked", "UploadId": upload,
        "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": '"0000"'}]}}, "InvalidPart")
    assert error.extra["PartNumber"] == "1"
    s3h.refused("CompleteMultipartUpload", {
        "Bucket": BUCKET, "Key": "checked", "UploadId": upload,
        "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}]}},
        "EntityTooSmall")
    # a single small part is fine (it is the last one)
    done = complete(s3h, "checked", upload, [{"PartNumber": 1, "ETag": small}])
    assert done["ETag"].endswith('-1"') and s3h.read(BUCKET, "checked") == b"a" * 100
    s3h.refused("UploadPart", {"Bucket": BUCKET, "Key": "checked", "UploadId": upload, "PartNumber": 1,
                               "Body": b"x"}, "NoSuchUpload")
    s3h.refused("UploadPart", {"Bucket": BUCKET, "Key": "checked", "UploadId": "x", "PartNumber": 10001,
                               "Body": b"x"}, "InvalidArgument")


def test_abort_discards_parts(s3h: S3Harness) -> None:
    upload = start(s3h, "gone")
    part(s3h, "gone", upload, 1, b"data")
    s3h.call("AbortMultipartUpload", {"Bucket": BUCKET, "Key": "gone", "UploadId": upload})
    s3h.refused("AbortMultipartUpload", {"Bucket": BUCKET, "Key": "gone", "UploadId": upload}, "NoSuchUpload")
    assert list(runtime(s3h.cloud).blobs.list_ids()) == []


@pytest.mark.parametrize(("algorithm", "checksum_type"), [("CRC32", "COMPOSITE"), ("CRC32C", "FULL_OBJECT"),
                                                          ("SHA256", "COMPOSITE"), ("CRC64NVME", None)])
def test_multipart_checksums(s3h: S3Harness, algorithm: str, checksum_type: str | None) -> None:
    member = checksums.MEMBERS[algorithm]
    data = [os.urandom(MIN_PART_SIZE), os.urandom(777)]
    params = {"ChecksumAlgorithm": algorithm, **({"ChecksumType": checksum_type} if checksum_type else {})}
    upload = start(s3h, "sum", **params)
    parts = []
    for number, chunk in enumerate(data, start=1):
        value = checksums.encode(checksums.digest_of(algorithm, chunk))
        uploaded = part(s3h, "sum", upload, number, chunk, **{member: value})
        assert uploaded[member] == value
        parts.append({"PartNumber": number, "ETag": uploaded["ETag"], member: value})
    done = complete(s3h, "sum", upload, parts)
    head = s3h.call("HeadObject", {"Bucket": BUCKET, "Key": "sum", "ChecksumMode": "ENABLED"})
    if (checksum_type or "FULL_OBJECT") == "FULL_OBJECT":
        assert done[member] == checksums.encode(checksums.digest_of(algorithm, b"".join(data)))
        assert head["ChecksumType"] == "FULL_OBJECT"
    else:
        assert done[member].endswith("-2") and head["ChecksumType"] == "COMPOSITE"
    assert head[member] == done[member]


def test_checksum_type_rules(s3h: S3Harness) -> None:
    s3h.refused("CreateMultipartUpload", {"Bucket": BUCKET, "Key": "k", "ChecksumAlgorithm": "SHA1",
                                          "ChecksumType": "FULL_OBJECT"}, "InvalidRequest")
    s3h.refused("CreateMultipartUpload", {"Bucket": BUCKET, "Key": "k", "ChecksumType": "COMPOSITE"},
                "InvalidRequest")
    upload = start(s3h, "k", ChecksumAlgorithm="CRC32")
    sha1 = checksums.encode(checksums.digest_of("SHA1", b"x"))
    s3h.refused("UploadPart", {"Bucket": BUCKET, "Key": "k", "UploadId": upload, "PartNumber": 1, "Body": b"x",
                               "ChecksumSHA1": sha1}, "InvalidRequest")
    # a part without a checksum gets one computed in the upload's algorithm
    uploaded = part(s3h, "k", upload, 1, b"x")
    assert uploaded["ChecksumCRC32"] == checksums.encode(checksums.digest_of("CRC32", b"x"))


def test_upload_part_copy(s3h: S3Harness) -> None:
    source = os.urandom(MIN_PART_SIZE + 100)
    s3h.put(BUCKET, "source", source)
    upload = start(s3h, "assembled", ServerSideEncryption="AES256")
    first = s3h.call("UploadPartCopy", {"Bucket": BUCKET, "Key": "assembled", "UploadId": upload, "PartNumber": 1,
                                        "CopySource": f"{BUCKET}/source",
                                        "CopySourceRange": f"bytes=0-{MIN_PART_SIZE - 1}"})
    second = s3h.call("UploadPartCopy", {"Bucket": BUCKET, "Key": "assembled", "UploadId": upload, "PartNumber": 2,
                                         "CopySource": f"{BUCKET}/source"})
    s3h.refused("UploadPartCopy", {"Bucket": BUCKET, "Key": "assembled", "UploadId": upload, "PartNumber": 3,
                                   "CopySource": f"{BUCKET}/source", "CopySourceRange": "bytes=0-99999999"},
                "InvalidArgument")
    complete(s3h, "assembled", upload, [{"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
                                        {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]}])
    assert s3h.read(BUCKET, "assembled") == source[:MIN_PART_SIZE] + source
    assert s3h.call("HeadObject", {"Bucket": BUCKET, "Key": "assembled"})["ServerSideEncryption"] == "AES256"


def test_list_multipart_uploads(s3h: S3Harness) -> None:
    uploads = [start(s3h, key) for key in ("logs/a", "logs/b", "x", "x")]
    listed = s3h.call("ListMultipartUploads", {"Bucket": BUCKET, "Delimiter": "/"})
    assert listed["CommonPrefixes"] == [{"Prefix": "logs/"}]
    assert [u["UploadId"] for u in listed["Uploads"]] == uploads[2:]
    page = s3h.call("ListMultipartUploads", {"Bucket": BUCKET, "MaxUploads": 3})
    rest = s3h.call("ListMultipartUploads", {"Bucket": BUCKET, "KeyMarker": page["NextKeyMarker"],
                                             "UploadIdMarker": page["NextUploadIdMarker"]})
    assert [u["UploadId"] for u in page["Uploads"] + rest["Uploads"]] == uploads
