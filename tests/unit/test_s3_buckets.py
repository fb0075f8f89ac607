"""Bucket operations and subresources, called as plain functions."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.unit.harness import Clouds, S3Harness


@pytest.fixture
def s3h(clouds: Clouds) -> S3Harness:
    return clouds.s3()


def test_bucket_namespace_is_global(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "shared-name"})
    error = s3h.refused("CreateBucket", {"Bucket": "shared-name"}, "BucketAlreadyOwnedByYou")
    assert error.status == 409 and error.extra["BucketName"] == "shared-name"
    s3h.refused("CreateBucket", {"Bucket": "shared-name"}, "BucketAlreadyExists", account=s3h.other_account)
    s3h.refused("CreateBucket", {"Bucket": "Bad_Name"}, "InvalidBucketName")


def test_location_constraint(s3h: S3Harness) -> None:
    region = s3h.cloud.config.region
    s3h.call("CreateBucket", {"Bucket": "located", "CreateBucketConfiguration": {"LocationConstraint": region}})
    assert s3h.call("GetBucketLocation", {"Bucket": "located"}) == {"LocationConstraint": region}
    s3h.refused("CreateBucket", {"Bucket": "elsewhere",
                                 "CreateBucketConfiguration": {"LocationConstraint": "eu-west-3"}},
                "IllegalLocationConstraintException")
    assert s3h.call("HeadBucket", {"Bucket": "located"})["BucketRegion"] == region


def test_list_buckets_shows_own_buckets_in_pages(s3h: S3Harness) -> None:
    for name in ("pb-a", "pb-b", "pb-c"):
        s3h.call("CreateBucket", {"Bucket": name})
    s3h.call("CreateBucket", {"Bucket": "pb-other"}, account=s3h.other_account)
    listed = s3h.call("ListBuckets", {"Prefix": "pb-"})
    assert [b["Name"] for b in listed["Buckets"]] == ["pb-a", "pb-b", "pb-c"]
    assert listed["Owner"]["DisplayName"] == "owner"
    first = s3h.call("ListBuckets", {"MaxBuckets": 2})
    second = s3h.call("ListBuckets", {"MaxBuckets": 2, "ContinuationToken": first["ContinuationToken"]})
    assert [b["Name"] for b in first["Buckets"] + second["Buckets"]] == ["pb-a", "pb-b", "pb-c"]
    assert "ContinuationToken" not in second


def test_delete_only_empty_buckets(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "full"})
    s3h.put("full", "k", b"x")
    s3h.refused("DeleteBucket", {"Bucket": "full"}, "BucketNotEmpty")
    s3h.call("DeleteObject", {"Bucket": "full", "Key": "k"})
    upload = s3h.call("CreateMultipartUpload", {"Bucket": "full", "Key": "m"})
    s3h.refused("DeleteBucket", {"Bucket": "full"}, "BucketNotEmpty")
    s3h.call("AbortMultipartUpload", {"Bucket": "full", "Key": "m", "UploadId": upload["UploadId"]})
    s3h.call("DeleteBucket", {"Bucket": "full"})
    s3h.refused("HeadBucket", {"Bucket": "full"}, "NoSuchBucket")


def test_versioned_bucket_with_delete_markers_is_not_empty(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "vers"})
    s3h.call("PutBucketVersioning", {"Bucket": "vers", "VersioningConfiguration": {"Status": "Enabled"}})
    s3h.put("vers", "k", b"x")
    s3h.call("DeleteObject", {"Bucket": "vers", "Key": "k"})
    s3h.refused("DeleteBucket", {"Bucket": "vers"}, "BucketNotEmpty")


def test_tagging_cors_encryption_round_trip(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "conf"})
    s3h.refused("GetBucketTagging", {"Bucket": "conf"}, "NoSuchTagSet")
    s3h.call("PutBucketTagging", {"Bucket": "conf", "Tagging": {"TagSet": [{"Key": "team", "Value": "a"}]}})
    assert s3h.call("GetBucketTagging", {"Bucket": "conf"})["TagSet"] == [{"Key": "team", "Value": "a"}]
    s3h.call("DeleteBucketTagging", {"Bucket": "conf"})
    s3h.refused("GetBucketTagging", {"Bucket": "conf"}, "NoSuchTagSet")

    s3h.refused("GetBucketCors", {"Bucket": "conf"}, "NoSuchCORSConfiguration")
    rules = [{"AllowedMethods": ["GET"], "AllowedOrigins": ["https://*.example.com"], "MaxAgeSeconds": 60}]
    s3h.call("PutBucketCors", {"Bucket": "conf", "CORSConfiguration": {"CORSRules": rules}})
    assert s3h.call("GetBucketCors", {"Bucket": "conf"})["CORSRules"] == rules
    s3h.refused("PutBucketCors", {"Bucket": "conf", "CORSConfiguration": {"CORSRules": [
        {"AllowedMethods": ["PATCH"], "AllowedOrigins": ["*"]}]}}, "InvalidRequest")

    s3h.refused("GetBucketEncryption", {"Bucket": "conf"}, "ServerSideEncryptionConfigurationNotFoundError")
    encryption = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    s3h.call("PutBucketEncryption", {"Bucket": "conf", "ServerSideEncryptionConfiguration": encryption})
    assert s3h.put("conf", "secret", b"data")["ServerSideEncryption"] == "AES256"
    assert s3h.read("conf", "secret") == b"data"
    s3h.refused("PutBucketEncryption", {"Bucket": "conf", "ServerSideEncryptionConfiguration": {"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse"}}]}}, "NotImplemented")
    kms_default = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"},
                              "BucketKeyEnabled": True}]}
    s3h.call("PutBucketEncryption", {"Bucket": "conf", "ServerSideEncryptionConfiguration": kms_default})
    assert s3h.call("GetBucketEncryption", {"Bucket": "conf"})["ServerSideEncryptionConfiguration"] == kms_default
    written = s3h.put("conf", "kms-secret", b"kms data")
    assert written["ServerSideEncryption"] == "aws:kms" and written["BucketKeyEnabled"] is True
    assert written["SSEKMSKeyId"] == s3h.call("HeadObject", {"Bucket": "conf", "Key": "kms-secret"})["SSEKMSKeyId"]
    assert s3h.read("conf", "kms-secret") == b"kms data"


def test_versioning_states(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "vstate"})
    assert s3h.call("GetBucketVersioning", {"Bucket": "vstate"}) == {}
    s3h.call("PutBucketVersioning", {"Bucket": "vstate", "VersioningConfiguration": {"Status": "Suspended"}})
    assert s3h.call("GetBucketVersioning", {"Bucket": "vstate"}) == {"Status": "Suspended"}
    s3h.refused("PutBucketVersioning", {"Bucket": "vstate", "VersioningConfiguration": {"Status": "On"}},
                "MalformedXML")


def test_policy_validation_and_status(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "pol"})
    s3h.refused("GetBucketPolicy", {"Bucket": "pol"}, "NoSuchBucketPolicy")
    public = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                      "Resource": "arn:aws:s3:::pol/*"}]}
    s3h.call("PutBucketPolicy", {"Bucket": "pol", "Policy": json.dumps(public)})
    assert json.loads(s3h.call("GetBucketPolicy", {"Bucket": "pol"})["Policy"]) == public
    assert s3h.call("GetBucketPolicyStatus", {"Bucket": "pol"})["PolicyStatus"]["IsPublic"] is True
    wrong_bucket = {**public, "Statement": [{**public["Statement"][0], "Resource": "arn:aws:s3:::other/*"}]}
    s3h.refused("PutBucketPolicy", {"Bucket": "pol", "Policy": json.dumps(wrong_bucket)}, "MalformedPolicy")
    no_principal = {**public, "Statement": [{k: v for k, v in public["Statement"][0].items() if k != "Principal"}]}
    s3h.refused("PutBucketPolicy", {"Bucket": "pol", "Policy": json.dumps(no_principal)}, "MalformedPolicy")
    s3h.refused("PutBucketPolicy", {"Bucket": "pol", "Policy": "{not json"}, "MalformedPolicy")
    s3h.call("PutPublicAccessBlock", {"Bucket": "pol", "PublicAccessBlockConfiguration": {"BlockPublicPolicy": True}})
    s3h.refused("PutBucketPolicy", {"Bucket": "pol", "Policy": json.dumps(public)}, "AccessDenied")
    block = s3h.call("GetPublicAccessBlock", {"Bucket": "pol"})["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
                     "RestrictPublicBuckets": False}
    s3h.call("DeleteBucketPolicy", {"Bucket": "pol"})
    s3h.refused("GetBucketPolicy", {"Bucket": "pol"}, "NoSuchBucketPolicy")


def test_bucket_acls(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "acl-b", "ACL": "public-read"})
    grants = s3h.call("GetBucketAcl", {"Bucket": "acl-b"})["Grants"]
    assert {g["Permission"] for g in grants} == {"FULL_CONTROL", "READ"}
    owner_grant = grants[0]
    s3h.call("PutBucketAcl", {"Bucket": "acl-b", "AccessControlPolicy": {
        "Owner": {"ID": owner_grant["Grantee"]["ID"]}, "Grants": [owner_grant]}})
    assert len(s3h.call("GetBucketAcl", {"Bucket": "acl-b"})["Grants"]) == 1
    s3h.call("PutPublicAccessBlock", {"Bucket": "acl-b", "PublicAccessBlockConfiguration": {"BlockPublicAcls": True}})
    s3h.refused("PutBucketAcl", {"Bucket": "acl-b", "ACL": "public-read"}, "AccessDenied")
    s3h.refused("PutBucketAcl", {"Bucket": "acl-b", "ACL": "everyone"}, "InvalidArgument")


def test_expected_bucket_owner(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "owned"})
    s3h.call("HeadBucket", {"Bucket": "owned", "ExpectedBucketOwner": s3h.account})
    s3h.refused("HeadBucket", {"Bucket": "owned", "ExpectedBucketOwner": s3h.other_account}, "AccessDenied")


def test_lifecycle_configuration_is_validated_and_stored(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "life"})
    s3h.refused("GetBucketLifecycleConfiguration", {"Bucket": "life"}, "NoSuchLifecycleConfiguration")
    midnight = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    rules = [{"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Date": midnight}},
             {"ID": "tmp", "Status": "Enabled", "Filter": {}, "AbortIncompleteMultipartUpload":
              {"DaysAfterInitiation": 1}}]
    s3h.call("PutBucketLifecycleConfiguration", {"Bucket": "life", "LifecycleConfiguration": {"Rules": rules}})
    assert s3h.call("GetBucketLifecycleConfiguration", {"Bucket": "life"})["Rules"] == rules
    noon = [{**rules[0], "Expiration": {"Date": midnight.replace(hour=12)}}]
    s3h.refused("PutBucketLifecycleConfiguration", {"Bucket": "life", "LifecycleConfiguration": {"Rules": noon}},
                "InvalidArgument")
    no_action = [{"ID": "x", "Status": "Enabled", "Filter": {}}]
    s3h.refused("PutBucketLifecycleConfiguration",
                {"Bucket": "life", "LifecycleConfiguration": {"Rules": no_action}}, "InvalidArgument")
    s3h.call("DeleteBucketLifecycle", {"Bucket": "life"})
    s3h.refused("GetBucketLifecycleConfiguration", {"Bucket": "life"}, "NoSuchLifecycleConfiguration")
