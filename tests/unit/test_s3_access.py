"""Who may do what: canned ACLs, bucket policies and public access blocks, decided by the IAM authorizer."""

from __future__ import annotations

import json

import pytest

from controller.auth.store import ANONYMOUS
from controller.errors import ServiceError
from controller.iam.enforce import check_action
from controller.s3.access import resource_lookup
from controller.s3.bucket_policy import is_public_policy
from tests.unit.harness import Clouds, S3Harness, root

BUCKET = "guarded"


@pytest.fixture
def s3h(clouds: Clouds) -> S3Harness:
    harness = clouds.s3()
    harness.call("CreateBucket", {"Bucket": BUCKET})
    harness.put(BUCKET, "private", b"p")
    harness.put(BUCKET, "public", b"q", ACL="public-read")
    return harness


def allowed(s3h: S3Harness, principal, action: str, resource: str) -> bool:
    ctx = s3h.context("GetObject", principal)
    try:
        check_action(ctx, action, [resource])
    except ServiceError as exc:
        assert exc.code == "AccessDenied"
        return False
    return True


def obj(key: str) -> str:
    return f"arn:aws:s3:::{BUCKET}/{key}"


def test_owner_root_may_do_anything_others_nothing(s3h: S3Harness) -> None:
    assert allowed(s3h, root(s3h.account), "s3:GetObject", obj("private"))
    assert not allowed(s3h, root(s3h.other_account), "s3:GetObject", obj("private"))
    assert not allowed(s3h, ANONYMOUS, "s3:GetObject", obj("private"))


def test_public_read_object_acl_lets_anyone_read_it_only(s3h: S3Harness) -> None:
    assert allowed(s3h, ANONYMOUS, "s3:GetObject", obj("public"))
    assert allowed(s3h, root(s3h.other_account), "s3:GetObject", obj("public"))
    assert not allowed(s3h, ANONYMOUS, "s3:PutObject", obj("public"))
    assert not allowed(s3h, ANONYMOUS, "s3:ListBucket", f"arn:aws:s3:::{BUCKET}")


def test_public_read_bucket_acl_lets_anyone_list(s3h: S3Harness) -> None:
    s3h.call("PutBucketAcl", {"Bucket": BUCKET, "ACL": "public-read"})
    assert allowed(s3h, ANONYMOUS, "s3:ListBucket", f"arn:aws:s3:::{BUCKET}")
    assert not allowed(s3h, ANONYMOUS, "s3:GetObject", obj("private"))


def test_ignore_public_acls(s3h: S3Harness) -> None:
    s3h.call("PutPublicAccessBlock", {"Bucket": BUCKET, "PublicAccessBlockConfiguration": {
        "IgnorePublicAcls": True}})
    assert not allowed(s3h, ANONYMOUS, "s3:GetObject", obj("public"))


def test_bucket_policy_grants_another_account(s3h: S3Harness) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "ReadForPartner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{s3h.other_account}:root"},
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}]}
    s3h.call("PutBucketPolicy", {"Bucket": BUCKET, "Policy": json.dumps(policy)})
    assert allowed(s3h, root(s3h.other_account), "s3:GetObject", obj("private"))
    assert allowed(s3h, root(s3h.other_account), "s3:ListBucket", f"arn:aws:s3:::{BUCKET}")
    assert not allowed(s3h, root(s3h.other_account), "s3:PutObject", obj("x"))
    assert not allowed(s3h, ANONYMOUS, "s3:GetObject", obj("private"))


def test_explicit_deny_in_bucket_policy_binds_the_owner_root(s3h: S3Harness) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}
    s3h.call("PutBucketPolicy", {"Bucket": BUCKET, "Policy": json.dumps(policy)})
    assert not allowed(s3h, root(s3h.account), "s3:DeleteObject", obj("private"))
    assert allowed(s3h, root(s3h.account), "s3:GetObject", obj("private"))


def test_restrict_public_buckets_drops_public_statements_for_outsiders(s3h: S3Harness) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}
    s3h.call("PutBucketPolicy", {"Bucket": BUCKET, "Policy": json.dumps(policy)})
    assert allowed(s3h, ANONYMOUS, "s3:GetObject", obj("private"))
    s3h.call("PutPublicAccessBlock", {"Bucket": BUCKET, "PublicAccessBlockConfiguration": {
        "RestrictPublicBuckets": True}})
    assert not allowed(s3h, ANONYMOUS, "s3:GetObject", obj("private"))


def test_lookup_reports_owner_and_tags(s3h: S3Harness) -> None:
    s3h.call("PutBucketTagging", {"Bucket": BUCKET, "Tagging": {"TagSet": [{"Key": "env", "Value": "prod"}]}})
    info = resource_lookup(s3h.context("HeadBucket", ANONYMOUS), f"arn:aws:s3:::{BUCKET}")
    assert info.owner_account == s3h.account and info.tags == {"env": "prod"} and info.policy is None
    with pytest.raises(ServiceError) as excinfo:  # whoever asks: S3 answers existence before permission
        resource_lookup(s3h.context("HeadBucket", ANONYMOUS), "arn:aws:s3:::no-such-bucket")
    assert excinfo.value.code == "NoSuchBucket"


def test_public_policy_detection() -> None:
    statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    assert is_public_policy(json.dumps({"Statement": [statement]}))
    pinned = {**statement, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
    assert not is_public_policy(json.dumps({"Statement": [pinned]}))
    assert not is_public_policy(json.dumps({"Statement": [{**statement, "Principal": {"AWS": "arn:aws:iam::1:root"}}]}))
