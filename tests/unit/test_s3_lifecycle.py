"""Lifecycle rules: filters and due dates (pure), and sweeps over real buckets."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from controller.s3.lifecycle import due, rule_matches, sweep
from controller.s3.runtime import runtime
from controller.s3.state import inline_blobs
from tests.unit.harness import Clouds, S3Harness

DAY = 60.0  # a lifecycle "day" in these tests, in seconds


@pytest.fixture
def s3h(clouds: Clouds) -> S3Harness:
    return clouds.s3(s3_lifecycle_day_seconds=DAY)


def later(days: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=days * DAY + 1)


def keys(s3h: S3Harness, bucket: str) -> list[str]:
    return [c["Key"] for c in s3h.call("ListObjectsV2", {"Bucket": bucket}).get("Contents", [])]


def test_filters() -> None:
    rule = {"Filter": {"And": {"Prefix": "logs/", "Tags": [{"Key": "t", "Value": "1"}],
                               "ObjectSizeGreaterThan": 10}}}
    assert rule_matches(rule, "logs/a", 11, {"t": "1"})
    assert not rule_matches(rule, "logs/a", 10, {"t": "1"})
    assert not rule_matches(rule, "logs/a", 11, {"t": "2"})
    assert not rule_matches(rule, "other", 11, {"t": "1"})
    assert rule_matches({"Prefix": ""}, "anything", 0, None)
    assert rule_matches({"Filter": {"Tag": {"Key": "k", "Value": "v"}}}, "x", 0, {"k": "v"})


def test_real_days_round_up_to_midnight() -> None:
    created = dt.datetime(2024, 1, 1, 15, 0, tzinfo=dt.UTC)
    assert not due(created, {"Days": 1}, dt.datetime(2024, 1, 2, 23, 59, tzinfo=dt.UTC), 86400)
    assert due(created, {"Days": 1}, dt.datetime(2024, 1, 3, 0, 0, tzinfo=dt.UTC), 86400)
    assert due(created, {"Date": created}, created, 86400)


def test_expiration_in_an_unversioned_bucket(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "exp"})
    for key in ("logs/1", "logs/2", "keep/1"):
        s3h.put("exp", key, b"x")
    s3h.call("PutBucketLifecycleConfiguration", {"Bucket": "exp", "LifecycleConfiguration": {"Rules": [
        {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 1}},
        {"ID": "off", "Status": "Disabled", "Filter": {}, "Expiration": {"Days": 1}}]}})
    rt = runtime(s3h.cloud)
    assert sweep(rt, later(0.5)) == 0
    assert sweep(rt, later(1)) == 2
    assert keys(s3h, "exp") == ["keep/1"]
    with s3h.cloud.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(inline_blobs)).scalar() == 1


def test_versioned_expiration_and_noncurrent_cleanup(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "vexp"})
    s3h.call("PutBucketVersioning", {"Bucket": "vexp", "VersioningConfiguration": {"Status": "Enabled"}})
    for body in (b"1", b"2", b"3"):
        s3h.put("vexp", "doc", body)
    s3h.call("PutBucketLifecycleConfiguration", {"Bucket": "vexp", "LifecycleConfiguration": {"Rules": [
        {"ID": "all", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 2},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1},
         "Transitions": [{"Days": 1, "StorageClass": "GLACIER_IR"}]}]}})
    rt = runtime(s3h.cloud)
    sweep(rt, later(1))
    versions = s3h.call("ListObjectVersions", {"Bucket": "vexp"})
    # the oldest noncurrent version went, one newer noncurrent is kept; the current one changed class
    assert len(versions["Versions"]) == 2
    assert versions["Versions"][0]["StorageClass"] == "GLACIER_IR"
    sweep(rt, later(2))
    versions = s3h.call("ListObjectVersions", {"Bucket": "vexp"})
    assert len(versions["DeleteMarkers"]) == 1 and keys(s3h, "vexp") == []


def test_expired_delete_markers_and_stale_uploads(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "markers"})
    s3h.call("PutBucketVersioning", {"Bucket": "markers", "VersioningConfiguration": {"Status": "Enabled"}})
    version = s3h.put("markers", "k", b"x")["VersionId"]
    s3h.call("DeleteObject", {"Bucket": "markers", "Key": "k"})
    s3h.call("DeleteObject", {"Bucket": "markers", "Key": "k", "VersionId": version})
    upload = s3h.call("CreateMultipartUpload", {"Bucket": "markers", "Key": "u"})["UploadId"]
    s3h.call("UploadPart", {"Bucket": "markers", "Key": "u", "UploadId": upload, "PartNumber": 1, "Body": b"p"})
    s3h.call("PutBucketLifecycleConfiguration", {"Bucket": "markers", "LifecycleConfiguration": {"Rules": [
        {"ID": "m", "Status": "Enabled", "Filter": {}, "Expiration": {"ExpiredObjectDeleteMarker": True},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]}})
    rt = runtime(s3h.cloud)
    assert sweep(rt, later(1)) == 2
    assert s3h.call("ListObjectVersions", {"Bucket": "markers"}).get("DeleteMarkers") == []
    assert s3h.call("ListMultipartUploads", {"Bucket": "markers"})["Uploads"] == []
    assert list(rt.blobs.list_ids()) == []
    s3h.call("DeleteBucket", {"Bucket": "markers"})
