"""ACL grants, stored documents that must never fail a request, and listing markers that are positions."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import update

from controller.api import Principal
from controller.auth.store import ANONYMOUS
from controller.errors import ServiceError
from controller.iam import policy as iam_policy
from controller.iam.enforce import check_action
from controller.s3 import acl, catalog, cors, lifecycle
from controller.s3.access import read_resource, resource_lookup
from controller.s3.naming import canonical_user_id, new_upload_id, new_version_id, version_sequence
from controller.s3.paging import AFTER_KEY, Position, list_page, start_position
from controller.s3.runtime import runtime
from controller.s3.state import buckets, objects
from tests.unit.harness import Clouds, S3Harness, root

BUCKET = "fidelity"
ALL_USERS = acl.GROUP_URIS["AllUsers"]


@pytest.fixture
def s3h(clouds: Clouds) -> S3Harness:
    harness = clouds.s3()
    harness.call("CreateBucket", {"Bucket": BUCKET})
    return harness


def allowed(s3h: S3Harness, principal: Principal, action: str, resource: str, operation: str = "GetObject") -> bool:
    ctx = s3h.context(operation, principal)
    try:
        check_action(ctx, action, [resource])
    except ServiceError as exc:
        assert exc.code == "AccessDenied", exc.code
        return False
    return True


def obj(key: str) -> str:
    return f"arn:aws:s3:::{BUCKET}/{key}"


BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"


def store(s3h: S3Harness, **values: object) -> None:
    """Write bucket columns behind the API's back, as an older release or a hand edit could have."""
    with s3h.cloud.db.begin() as conn:
        conn.execute(update(buckets).where(buckets.c.name == BUCKET).values(**values))
    runtime(s3h.cloud).buckets.invalidate()


# --- the grant model (pure) ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "on_bucket", "expected"), [
    ("private", True, {("FULL_CONTROL", "111111111111", "")}),
    ("public-read", True, {("FULL_CONTROL", "111111111111", ""), ("READ", "", "AllUsers")}),
    ("public-read-write", True, {("FULL_CONTROL", "111111111111", ""), ("READ", "", "AllUsers"),
                                 ("WRITE", "", "AllUsers")}),
    ("authenticated-read", False, {("FULL_CONTROL", "111111111111", ""), ("READ", "", "AuthenticatedUsers")}),
    ("bucket-owner-read", False, {("FULL_CONTROL", "111111111111", ""), ("READ", "222222222222", "")}),
    ("bucket-owner-read", True, {("FULL_CONTROL", "111111111111", "")}),  # ignored on buckets
    ("bucket-owner-full-control", False, {("FULL_CONTROL", "111111111111", ""),
                                          ("FULL_CONTROL", "222222222222", "")}),
    ("log-delivery-write", True, {("FULL_CONTROL", "111111111111", ""), ("WRITE", "", "LogDelivery"),
                                  ("READ_ACP", "", "LogDelivery")}),
    ("aws-exec-read", False, {("FULL_CONTROL", "111111111111", "")}),
])
def test_canned_acls_expand_as_the_user_guide_lists(name: str, on_bucket: bool, expected: set) -> None:
    grants = acl.canned_grants(name, owner="111111111111", bucket_owner="222222222222", on_bucket=on_bucket)
    assert {(g.permission, g.account, g.group) for g in grants} == expected


@pytest.mark.parametrize("name", sorted(acl.CANNED_ACLS))
def test_every_canned_acl_with_any_bucket_policy_is_one_evaluable_policy(name: str) -> None:
    """The 500 of issue 9: bucket and object ACL statements once shared a Sid with each other."""
    bucket_policy = [{"Sid": "CannedAclpublic-read", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                      "Resource": "arn:aws:s3:::b/*"}]
    statements = list(bucket_policy)
    for arn in (None, "arn:aws:s3:::b/k"):
        grants = acl.canned_grants(name, owner="111111111111", bucket_owner="222222222222", on_bucket=arn is None)
        statements += acl.grant_statements(grants, resource_owner="222222222222", bucket_arn="arn:aws:s3:::b",
                                           object_arn=arn, partition="aws", ignore_public=False)
    iam_policy.parse_policy(json.dumps({"Version": "2012-10-17", "Statement": statements}),
                            source_type="resource")


class Accounts:
    def __init__(self, *accounts: tuple[str, str]) -> None:
        self.accounts = accounts

    def account_of_canonical_id(self, canonical_id: str) -> str | None:
        return next((a for a, _ in self.accounts if canonical_user_id(a) == canonical_id), None)

    def accounts_of_email(self, email: str) -> list[str]:
        return [a for a, address in self.accounts if address.lower() == email.lower()]


RESOLVER = Accounts(("111111111111", "one@example.com"), ("222222222222", "two@example.com"),
                    ("333333333333", "two@example.com"))


def test_grant_headers_name_accounts_groups_and_addresses() -> None:
    grants = acl.request_grants({
        "GrantRead": f'id="{canonical_user_id("111111111111")}", uri="{ALL_USERS}"',
        "GrantWriteACP": 'emailAddress="ONE@example.com"', "GrantReadACP": f"uri={ALL_USERS}"}, RESOLVER)
    assert grants == [acl.Grant("READ", account="111111111111"), acl.Grant("READ", group="AllUsers"),
                      acl.Grant("READ_ACP", group="AllUsers"), acl.Grant("WRITE_ACP", account="111111111111")]


@pytest.mark.parametrize(("params", "code"), [
    ({"GrantRead": 'id="nobody"'}, "InvalidArgument"),
    ({"GrantRead": 'uri="http://acs.amazonaws.com/groups/global/Everyone"'}, "InvalidArgument"),
    ({"GrantRead": "id=unquoted"}, "InvalidArgument"),
    ({"GrantRead": 'name="someone"'}, "InvalidArgument"),
    ({"GrantRead": 'uri="a" uri="b"'}, "InvalidArgument"),
    ({"GrantRead": 'emailAddress="none@example.com"'}, "UnresolvableGrantByEmailAddress"),
    ({"GrantRead": 'emailAddress="two@example.com"'}, "AmbiguousGrantByEmailAddress"),
    ({"GrantRead": f'uri="{ALL_USERS}"', "ACL": "private"}, "InvalidRequest"),
])
def test_bad_grant_headers_are_refused_with_s3_codes(params: dict, code: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        acl.request_grants(params, RESOLVER)
    assert excinfo.value.code == code


@pytest.mark.parametrize("grants", [
    [{"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ_EVERYTHING"}],
    [{"Grantee": {"Type": "CanonicalUser"}, "Permission": "READ"}],
    [{"Grantee": {"Type": "Robot", "ID": "x"}, "Permission": "READ"}],
    [{"Permission": "READ"}],
])
def test_malformed_acl_bodies_are_malformed_acl_errors(grants: list) -> None:
    with pytest.raises(ServiceError) as excinfo:
        acl.request_grants({"AccessControlPolicy": {"Grants": grants}}, RESOLVER, body=True)
    assert excinfo.value.code == "MalformedACLError"


@pytest.mark.parametrize("stored", ["{", '{"grants": [{"permission": "READ"}]}', '{"grants": 3}', "[]",
                                    '{"grants": [{"permission": "ALL", "group": "AllUsers"}]}', "no-such-canned"])
def test_an_unreadable_stored_acl_counts_as_private(stored: str) -> None:
    grants = acl.stored_grants(stored, owner="111111111111", bucket_owner="111111111111", on_bucket=True)
    assert grants == [acl.Grant("FULL_CONTROL", account="111111111111")]


def test_explicit_grants_round_trip_through_the_column() -> None:
    grants = [acl.Grant("READ", group="AuthenticatedUsers"), acl.Grant("WRITE_ACP", account="222222222222")]
    assert acl.stored_grants(acl.encode_grants(grants), owner="1", bucket_owner="1", on_bucket=False) == grants


# --- grants through the authorizer --------------------------------------------------------------------------


def test_public_read_bucket_and_object_together_evaluate(s3h: S3Harness) -> None:
    s3h.call("PutBucketAcl", {"Bucket": BUCKET, "ACL": "public-read"})
    s3h.put(BUCKET, "pub", b"p", ACL="public-read")
    s3h.put(BUCKET, "priv", b"q")
    assert allowed(s3h, ANONYMOUS, "s3:GetObject", obj("pub"))
    assert allowed(s3h, ANONYMOUS, "s3:ListBucket", BUCKET_ARN, "ListObjectsV2")
    assert not allowed(s3h, ANONYMOUS, "s3:GetObject", obj("priv"))
    assert not allowed(s3h, ANONYMOUS, "s3:DeleteObject", obj("pub"), "DeleteObject")
    assert allowed(s3h, root(s3h.account), "s3:DeleteObject", obj("pub"), "DeleteObject")


def test_explicit_grant_to_another_account_by_canonical_id(s3h: S3Harness) -> None:
    other = canonical_user_id(s3h.other_account)
    s3h.put(BUCKET, "shared", b"s", GrantRead=f'id="{other}"', GrantReadACP='emailAddress="other@example.com"')
    assert allowed(s3h, root(s3h.other_account), "s3:GetObject", obj("shared"))
    assert allowed(s3h, root(s3h.other_account), "s3:GetObjectAcl", obj("shared"), "GetObjectAcl")
    assert not allowed(s3h, root(s3h.other_account), "s3:PutObjectAcl", obj("shared"), "PutObjectAcl")
    assert not allowed(s3h, ANONYMOUS, "s3:GetObject", obj("shared"))
    document = s3h.call("GetObjectAcl", {"Bucket": BUCKET, "Key": "shared"})
    assert [(g["Grantee"].get("ID"), g["Permission"]) for g in document["Grants"]] == [
        (other, "READ"), (other, "READ_ACP")]
    assert document["Owner"]["ID"] == canonical_user_id(s3h.account)


def test_log_delivery_and_authenticated_users(s3h: S3Harness) -> None:
    s3h.call("PutBucketAcl", {"Bucket": BUCKET, "ACL": "log-delivery-write"})
    logger = Principal(account_id="", arn=acl.LOG_DELIVERY_SERVICE, kind="service", user_id="logging")
    assert allowed(s3h, logger, "s3:PutObject", obj("logs/1"), "PutObject")
    assert not allowed(s3h, ANONYMOUS, "s3:PutObject", obj("logs/1"), "PutObject")
    s3h.put(BUCKET, "members", b"m", ACL="authenticated-read")
    assert allowed(s3h, root(s3h.other_account), "s3:GetObject", obj("members"))
    assert not allowed(s3h, ANONYMOUS, "s3:GetObject", obj("members"))


def test_public_access_block_and_disabled_acls(s3h: S3Harness) -> None:
    s3h.put(BUCKET, "pub", b"p", ACL="public-read")
    s3h.put(BUCKET, "mine", b"m", GrantRead=f'id="{canonical_user_id(s3h.other_account)}"')
    s3h.call("PutPublicAccessBlock", {"Bucket": BUCKET, "PublicAccessBlockConfiguration": {
        "IgnorePublicAcls": True, "BlockPublicAcls": True}})
    assert not allowed(s3h, ANONYMOUS, "s3:GetObject", obj("pub"))
    assert allowed(s3h, root(s3h.other_account), "s3:GetObject", obj("mine"))  # not a public grant
    s3h.refused("PutObject", {"Bucket": BUCKET, "Key": "k", "Body": b"", "GrantRead": f'uri="{ALL_USERS}"'},
                "AccessDenied")
    s3h.call("CreateBucket", {"Bucket": "enforced", "ObjectOwnership": "BucketOwnerEnforced"})
    s3h.refused("PutObject", {"Bucket": "enforced", "Key": "k", "Body": b"",
                              "GrantRead": f'id="{canonical_user_id(s3h.other_account)}"'},
                "AccessControlListNotSupported")
    s3h.call("PutObject", {"Bucket": "enforced", "Key": "k", "Body": b"",
                           "GrantFullControl": f'id="{canonical_user_id(s3h.account)}"'})
    s3h.refused("CreateBucket", {"Bucket": "enforced2", "ObjectOwnership": "BucketOwnerEnforced",
                                 "ACL": "public-read"}, "InvalidBucketAclWithObjectOwnership")


def test_ownership_controls_round_trip_and_guard_enforcement(s3h: S3Harness) -> None:
    s3h.refused("GetBucketOwnershipControls", {"Bucket": BUCKET}, "OwnershipControlsNotFoundError")
    s3h.refused("PutBucketOwnershipControls", {"Bucket": BUCKET, "OwnershipControls": {"Rules": [
        {"ObjectOwnership": "Everyone"}]}}, "MalformedXML")
    s3h.call("PutBucketOwnershipControls", {"Bucket": BUCKET, "OwnershipControls": {"Rules": [
        {"ObjectOwnership": "BucketOwnerPreferred"}]}})
    assert s3h.call("GetBucketOwnershipControls", {"Bucket": BUCKET}) == {
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}}
    s3h.put(BUCKET, "given", b"g", ACL="bucket-owner-full-control")  # written by the bucket owner: its own anyway
    s3h.call("PutBucketAcl", {"Bucket": BUCKET, "ACL": "public-read"})
    s3h.refused("PutBucketOwnershipControls", {"Bucket": BUCKET, "OwnershipControls": {"Rules": [
        {"ObjectOwnership": "BucketOwnerEnforced"}]}}, "InvalidBucketAclWithObjectOwnership")
    s3h.put(BUCKET, "pub", b"p", ACL="public-read")
    s3h.call("PutBucketAcl", {"Bucket": BUCKET, "ACL": "private"})
    s3h.call("PutBucketOwnershipControls", {"Bucket": BUCKET, "OwnershipControls": {"Rules": [
        {"ObjectOwnership": "BucketOwnerEnforced"}]}})
    assert not allowed(s3h, ANONYMOUS, "s3:GetObject", obj("pub"))  # ACLs disabled: they grant nothing
    s3h.call("DeleteBucketOwnershipControls", {"Bucket": BUCKET})
    assert allowed(s3h, ANONYMOUS, "s3:GetObject", obj("pub"))  # and count again once re-enabled


def test_a_missing_object_is_404_only_to_those_who_may_list(s3h: S3Harness) -> None:
    s3h.put(BUCKET, "here", b"h", ACL="public-read")
    s3h.call("DeleteObject", {"Bucket": BUCKET, "Key": "here"})
    params = {"Bucket": BUCKET, "Key": "here"}
    assert read_resource(s3h.context("GetObject", ANONYMOUS), params) == [obj("here")]  # then 403
    s3h.call("PutBucketAcl", {"Bucket": BUCKET, "ACL": "public-read"})
    with pytest.raises(ServiceError) as excinfo:
        read_resource(s3h.context("GetObject", ANONYMOUS), params)
    assert excinfo.value.code == "NoSuchKey"


def test_restrict_public_buckets_blocks_every_cross_account_grant_of_a_public_policy(s3h: S3Harness) -> None:
    """PublicAccessBlockConfiguration: "including non-public delegation to specific accounts, is blocked"."""
    s3h.put(BUCKET, "k", b"v")
    partner = {"Effect": "Allow", "Principal": {"AWS": s3h.other_account}, "Action": "s3:GetObject",
               "Resource": f"{BUCKET_ARN}/*"}
    everyone = {**partner, "Principal": "*", "Resource": f"{BUCKET_ARN}/public/*"}
    s3h.call("PutBucketPolicy", {"Bucket": BUCKET, "Policy": json.dumps({"Statement": [partner, everyone]})})
    s3h.call("PutPublicAccessBlock", {"Bucket": BUCKET, "PublicAccessBlockConfiguration": {
        "RestrictPublicBuckets": True}})
    assert not allowed(s3h, root(s3h.other_account), "s3:GetObject", obj("k"))
    assert allowed(s3h, root(s3h.account), "s3:GetObject", obj("k"))
    s3h.call("PutBucketPolicy", {"Bucket": BUCKET, "Policy": json.dumps({"Statement": [partner]})})
    assert allowed(s3h, root(s3h.other_account), "s3:GetObject", obj("k"))  # no longer a public policy
    s3h.call("PutPublicAccessBlock", {"Bucket": BUCKET, "PublicAccessBlockConfiguration": {
        "BlockPublicPolicy": True}})
    s3h.refused("PutBucketPolicy", {"Bucket": BUCKET, "Policy": json.dumps({"Statement": [everyone]})},
                "AccessDenied")


def test_a_version_is_decided_by_its_own_acl(s3h: S3Harness) -> None:
    s3h.call("PutBucketVersioning", {"Bucket": BUCKET, "VersioningConfiguration": {"Status": "Enabled"}})
    public = s3h.put(BUCKET, "k", b"old", ACL="public-read")["VersionId"]
    s3h.put(BUCKET, "k", b"new")
    ctx = s3h.context("GetObject", ANONYMOUS)
    ctx.condition_keys["s3:VersionId"] = public
    check_action(ctx, "s3:GetObject", [obj("k")])
    assert not allowed(s3h, ANONYMOUS, "s3:GetObject", obj("k"))


# --- stored documents never fail a request ------------------------------------------------------------------


@pytest.mark.parametrize("stored_policy", [
    "{not json",
    json.dumps({"Statement": [{"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                               "Resource": f"{BUCKET_ARN}/*"}] * 2}),
    json.dumps({"Version": "2012-10-17", "Statement": "everything"}),
    json.dumps([1, 2]),
])
def test_a_stored_policy_the_engine_refuses_leaves_only_the_owner_root(s3h: S3Harness, stored_policy: str) -> None:
    s3h.put(BUCKET, "k", b"v", ACL="public-read")
    store(s3h, policy=stored_policy)
    info = resource_lookup(s3h.context("GetObject", ANONYMOUS), obj("k"))
    iam_policy.parse_policy(info.policy, source_type="resource")
    assert not allowed(s3h, ANONYMOUS, "s3:GetObject", obj("k"))
    assert not allowed(s3h, root(s3h.other_account), "s3:GetObject", obj("k"))
    assert allowed(s3h, root(s3h.account), "s3:DeleteObject", obj("k"), "DeleteObject")
    assert s3h.call("GetBucketPolicyStatus", {"Bucket": BUCKET})["PolicyStatus"]["IsPublic"] in (True, False)
    s3h.call("DeleteBucketPolicy", {"Bucket": BUCKET})
    assert allowed(s3h, ANONYMOUS, "s3:GetObject", obj("k"))


@pytest.mark.parametrize(("action", "resource", "accepted"), [
    ("s3:GetObject", BUCKET_ARN, False),
    ("s3:ListBucket", f"{BUCKET_ARN}/*", False),
    ("s3:ListAllMyBuckets", BUCKET_ARN, False),
    (["s3:ListBucket", "s3:GetObject"], f"{BUCKET_ARN}/*", True),
    ("s3:GetObject", f"{BUCKET_ARN}*", True),
    ("s3:Get*", BUCKET_ARN, True),
    ("s3:PutBucketTagging", BUCKET_ARN, True),
    ("s3:GetObjectVersionAcl", f"{BUCKET_ARN}/logs/*", True),
])
def test_an_action_must_apply_to_one_of_its_resources(s3h: S3Harness, action: object, resource: str,
                                                      accepted: bool) -> None:
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": s3h.other_account}, "Action": action, "Resource": resource}]})
    if accepted:
        s3h.call("PutBucketPolicy", {"Bucket": BUCKET, "Policy": policy})
    else:
        error = s3h.refused("PutBucketPolicy", {"Bucket": BUCKET, "Policy": policy}, "MalformedPolicy")
        assert error.message == "Action does not apply to any resource(s) in statement"


@pytest.mark.parametrize(("version", "variable_expands"), [("2012-10-17", True), ("2008-10-17", False),
                                                          (None, False)])
def test_the_bucket_policy_version_decides_policy_variables(s3h: S3Harness, version: str | None,
                                                            variable_expands: bool) -> None:
    """Combined with ACL statements, a bucket policy keeps its own Version (variables only under 2012-10-17)."""
    s3h.call("PutBucketAcl", {"Bucket": BUCKET, "ACL": "public-read"})  # ACL statements join the policy
    document: dict = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                     "Resource": f"{BUCKET_ARN}/${{aws:userid}}/*"}]}
    if version:
        document["Version"] = version
    s3h.call("PutBucketPolicy", {"Bucket": BUCKET, "Policy": json.dumps(document)})
    s3h.put(BUCKET, "anonymous/x", b"a")
    s3h.put(BUCKET, "${aws:userid}/x", b"b")
    assert allowed(s3h, ANONYMOUS, "s3:GetObject", obj("anonymous/x")) is variable_expands
    assert allowed(s3h, ANONYMOUS, "s3:GetObject", obj("${aws:userid}/x")) is not variable_expands


def test_stored_acl_garbage_counts_as_private(s3h: S3Harness) -> None:
    s3h.put(BUCKET, "k", b"v")
    store(s3h, acl='{"grants": [{"permission": "READ", "group": "Everyone"}]}')
    with s3h.cloud.db.begin() as conn:
        conn.execute(update(objects).where(objects.c.key == "k").values(acl="[[["))
    assert not allowed(s3h, ANONYMOUS, "s3:GetObject", obj("k"))
    assert [g["Permission"] for g in s3h.call("GetBucketAcl", {"Bucket": BUCKET})["Grants"]] == ["FULL_CONTROL"]
    assert [g["Permission"] for g in s3h.call("GetObjectAcl", {"Bucket": BUCKET, "Key": "k"})["Grants"]] == [
        "FULL_CONTROL"]


def test_cors_values_must_fit_in_headers_and_stored_misfits_are_skipped(s3h: S3Harness) -> None:
    s3h.refused("PutBucketCors", {"Bucket": BUCKET, "CORSConfiguration": {"CORSRules": [
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["https://exämple.com"]}]}}, "InvalidRequest")
    s3h.refused("PutBucketCors", {"Bucket": BUCKET, "CORSConfiguration": {"CORSRules": [
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "ExposeHeaders": ["x\r\nSet-Cookie: a"]}]}},
        "InvalidRequest")
    store(s3h, cors={"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "ExposeHeaders": ["ü"]},
                                   {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]})
    rules = cors._rules_of(s3h.cloud, BUCKET)
    assert rules == [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]


def test_tags_use_aws_characters_only(s3h: S3Harness) -> None:
    s3h.call("PutBucketTagging", {"Bucket": BUCKET, "Tagging": {"TagSet": [
        {"Key": "ünï code 1", "Value": "a+b=c.d_e:f/g@h-i"}, {"Key": "empty", "Value": ""}]}})
    for tag in ({"Key": "bad\x01", "Value": ""}, {"Key": "k", "Value": "<x>"}, {"Key": "k", "Value": "a;b"}):
        s3h.refused("PutBucketTagging", {"Bucket": BUCKET, "Tagging": {"TagSet": [tag]}}, "InvalidTag")
    s3h.refused("PutObject", {"Bucket": BUCKET, "Key": "k", "Body": b"", "Tagging": "k=%01"}, "InvalidTag")


@pytest.mark.parametrize(("rule", "code"), [
    ({"Expiration": {"Days": 1, "ExpiredObjectDeleteMarker": True}}, "MalformedXML"),
    ({"Transitions": [{"Days": 7, "StorageClass": "STANDARD_IA"}]}, "InvalidArgument"),
    ({"NoncurrentVersionTransitions": [{"NoncurrentDays": 29, "StorageClass": "ONEZONE_IA"}]}, "InvalidArgument"),
    ({"Expiration": {"Days": 1}, "Filter": {"And": {"Tags": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}}},
     "InvalidArgument"),
])
def test_lifecycle_rules_s3_refuses(s3h: S3Harness, rule: dict, code: str) -> None:
    s3h.refused("PutBucketLifecycleConfiguration", {"Bucket": BUCKET, "LifecycleConfiguration": {"Rules": [
        {"Status": "Enabled", "Filter": {}, **rule}]}}, code)
    s3h.refused("GetBucketLifecycleConfiguration", {"Bucket": BUCKET}, "NoSuchLifecycleConfiguration")


def test_default_encryption_refuses_a_kms_key_without_kms(s3h: S3Harness) -> None:
    s3h.refused("PutBucketEncryption", {"Bucket": BUCKET, "ServerSideEncryptionConfiguration": {"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256", "KMSMasterKeyID": "alias/x"}}]}},
        "InvalidArgument")


def test_lifecycle_days_past_the_calendar_never_fire_and_one_bucket_never_stops_the_sweep(s3h: S3Harness) -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert not lifecycle.due(now, {"Days": 2_000_000_000}, now, 86400)
    s3h.call("CreateBucket", {"Bucket": "second"})
    s3h.call("PutBucketLifecycleConfiguration", {"Bucket": "second", "LifecycleConfiguration": {"Rules": [
        {"Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}}]}})
    s3h.put("second", "old", b"x")
    store(s3h, lifecycle={"Rules": [{"Status": "Enabled", "Filter": {"And": 7}, "Expiration": {"Days": 1}}]})
    assert lifecycle.sweep(runtime(s3h.cloud), now=now + dt.timedelta(days=3650)) == 1
    assert s3h.call("ListObjectsV2", {"Bucket": "second"})["KeyCount"] == 0


# --- markers are positions ---------------------------------------------------------------------------------


def test_version_ids_carry_their_sequence_and_nothing_else_decodes() -> None:
    assert version_sequence(new_version_id(12345)) == 12345
    assert version_sequence(new_version_id(2**63 - 1)) == 2**63 - 1
    genuine = new_version_id(7)
    tampered = genuine[:-1] + ("B" if genuine.endswith("A") else "A")
    assert {version_sequence(value) for value in ("null", "", "x" * 32, "A" * 32, "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIb",
                                                  tampered)} == {None}


def test_upload_ids_sort_in_creation_order() -> None:
    ids = [new_upload_id() for _ in range(50)]
    assert ids == sorted(ids)


def test_positions_order_before_a_key_after_a_row_after_the_key() -> None:
    marks = [Position("a", AFTER_KEY), Position("a", -5), Position("a"), Position("0", AFTER_KEY)]
    assert sorted(marks, key=Position.sort_key) == [Position("0", AFTER_KEY), Position("a"), Position("a", -5),
                                                    Position("a", AFTER_KEY)]
    # a prefix equal to the key marker, with a string rank (upload ids), picks the marker
    assert start_position("a", None, "a", "0000zz") == Position("a", "0000zz")


def test_version_marker_of_a_deleted_version(s3h: S3Harness) -> None:
    s3h.call("PutBucketVersioning", {"Bucket": BUCKET, "VersioningConfiguration": {"Status": "Enabled"}})
    ids = [s3h.put(BUCKET, "a", b"x")["VersionId"] for _ in range(3)]
    s3h.call("DeleteObject", {"Bucket": BUCKET, "Key": "a", "VersionId": ids[1]})
    page = s3h.call("ListObjectVersions", {"Bucket": BUCKET, "KeyMarker": "a", "VersionIdMarker": ids[1]})
    assert [v["VersionId"] for v in page["Versions"]] == [ids[0]]
    s3h.refused("ListObjectVersions", {"Bucket": BUCKET, "KeyMarker": "a", "VersionIdMarker": "nonsense"},
                "InvalidArgument")
    with s3h.cloud.db.read() as conn:
        # a deleted null version left no trace: the key's versions are listed again, never skipped
        position = catalog.version_marker_position(conn, BUCKET, "a", "null")
        page_rows = list_page(catalog.all_versions(conn, BUCKET), marker="a", marker_rank=position.rank)
    assert [row.version_id for row in page_rows.rows] == [ids[2], ids[0]]


def test_only_malformed_version_ids_are_invalid_arguments(s3h: S3Harness) -> None:
    s3h.call("PutBucketVersioning", {"Bucket": BUCKET, "VersioningConfiguration": {"Status": "Enabled"}})
    gone = s3h.put(BUCKET, "k", b"x")["VersionId"]
    s3h.put(BUCKET, "k", b"y")
    s3h.call("DeleteObject", {"Bucket": BUCKET, "Key": "k", "VersionId": gone})
    assert s3h.call("DeleteObject", {"Bucket": BUCKET, "Key": "k", "VersionId": gone}) == {"VersionId": gone}
    s3h.refused("GetObject", {"Bucket": BUCKET, "Key": "k", "VersionId": gone}, "NoSuchVersion")
    s3h.refused("GetObject", {"Bucket": BUCKET, "Key": "k", "VersionId": "null"}, "NoSuchVersion")
    s3h.refused("GetObject", {"Bucket": BUCKET, "Key": "k", "VersionId": "made-up"}, "InvalidArgument")
    s3h.refused("DeleteObject", {"Bucket": BUCKET, "Key": "k", "VersionId": "made-up"}, "InvalidArgument")


def test_upload_marker_of_an_aborted_upload(s3h: S3Harness) -> None:
    uploads = [s3h.call("CreateMultipartUpload", {"Bucket": BUCKET, "Key": key})["UploadId"]
               for key in ("a", "a", "a", "b")]
    s3h.call("AbortMultipartUpload", {"Bucket": BUCKET, "Key": "a", "UploadId": uploads[1]})
    page = s3h.call("ListMultipartUploads", {"Bucket": BUCKET, "KeyMarker": "a", "UploadIdMarker": uploads[1]})
    assert [u["UploadId"] for u in page["Uploads"]] == [uploads[2], uploads[3]]
    page = s3h.call("ListMultipartUploads", {"Bucket": BUCKET, "Prefix": "a", "KeyMarker": "a",
                                             "UploadIdMarker": uploads[0]})
    assert [u["UploadId"] for u in page["Uploads"]] == [uploads[2]]
    s3h.refused("ListParts", {"Bucket": BUCKET, "Key": "b", "UploadId": uploads[3], "PartNumberMarker": -1},
                "InvalidArgument")
