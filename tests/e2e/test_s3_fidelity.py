"""S3 under other people's clients: public buckets, odd stored documents, markers that outlive their items.

Each test drives a real Cloudlet with boto3 the way clean-up scripts and SDKs do:
anonymous reads of a ``public-read`` bucket, the delete-as-you-list loop over a
versioned bucket, pages resumed after the item their marker names was deleted.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.exceptions
import pytest
from botocore import UNSIGNED

from tests.e2e.helpers import Cleanup
from tests.e2e.s3_helpers import new_bucket, remove_bucket
from tests.support import CloudletProcess, Credentials


@pytest.fixture
def anonymous(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("s3", signature_version=UNSIGNED)


@pytest.fixture
def bucket(s3: Any, unique: str) -> Iterator[str]:
    name = new_bucket(s3, f"{unique}-fid")
    yield name
    remove_bucket(s3, name)


def error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call(**kwargs)
    return excinfo.value.response["Error"]["Code"]


# --- public buckets --------------------------------------------------------------------------------------


def test_public_read_bucket_is_read_anonymously_then_cleaned_up_by_its_owner(s3: Any, anonymous: Any,
                                                                            unique: str) -> None:
    name = f"{unique}-pub"
    s3.create_bucket(Bucket=name, ACL="public-read")
    s3.put_object(Bucket=name, Key="hello.txt", Body=b"hi", ACL="public-read")
    s3.put_object(Bucket=name, Key="private.txt", Body=b"secret")
    assert anonymous.get_object(Bucket=name, Key="hello.txt")["Body"].read() == b"hi"
    listed = anonymous.list_objects_v2(Bucket=name)
    assert [item["Key"] for item in listed["Contents"]] == ["hello.txt", "private.txt"]
    assert error_code(anonymous.get_object, Bucket=name, Key="private.txt") == "AccessDenied"
    # a key that does not exist: 404 to those who may list the bucket (403 to others, below)
    assert error_code(anonymous.get_object, Bucket=name, Key="missing.txt") == "NoSuchKey"
    assert error_code(anonymous.list_buckets) == "AccessDenied"
    assert error_code(anonymous.put_object, Bucket=name, Key="x", Body=b"x") == "AccessDenied"
    assert error_code(anonymous.delete_object, Bucket=name, Key="hello.txt") == "AccessDenied"
    grants = s3.get_object_acl(Bucket=name, Key="hello.txt")["Grants"]
    assert {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"} in [
        grant["Grantee"] for grant in grants]
    deleted = s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "hello.txt"}, {"Key": "private.txt"}]})
    assert sorted(item["Key"] for item in deleted["Deleted"]) == ["hello.txt", "private.txt"]
    assert not deleted.get("Errors")
    s3.delete_bucket(Bucket=name)
    assert error_code(s3.head_bucket, Bucket=name) == "404"


def test_public_read_write_and_authenticated_read(cloudlet: CloudletProcess, s3: Any, anonymous: Any,
                                                  bucket: str, unique: str) -> None:
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    anonymous.put_object(Bucket=bucket, Key="dropped.txt", Body=b"from anyone")
    assert s3.get_object(Bucket=bucket, Key="dropped.txt")["Body"].read() == b"from anyone"
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert error_code(anonymous.list_objects_v2, Bucket=bucket) == "AccessDenied"
    assert error_code(anonymous.get_object, Bucket=bucket, Key="missing.txt") == "AccessDenied"
    assert error_code(anonymous.put_object, Bucket=bucket, Key="again.txt", Body=b"x") == "AccessDenied"
    s3.put_object(Bucket=bucket, Key="members.txt", Body=b"m", ACL="authenticated-read")
    assert error_code(anonymous.get_object, Bucket=bucket, Key="members.txt") == "AccessDenied"
    iam = cloudlet.client("iam")
    tracker = Cleanup(iam)
    try:
        tracker.users.append(f"{unique}-member")
        iam.create_user(UserName=f"{unique}-member")  # no policies: the ACL alone lets it read
        key = iam.create_access_key(UserName=f"{unique}-member")["AccessKey"]
        member = cloudlet.client("s3", Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
        assert member.get_object(Bucket=bucket, Key="members.txt")["Body"].read() == b"m"
        assert error_code(member.get_object, Bucket=bucket, Key="dropped.txt") == "AccessDenied"
    finally:
        tracker.run()


def test_explicit_grants_by_header_and_body_read_back(s3: Any, anonymous: Any, bucket: str) -> None:
    owner_id = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"s",
                  GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"',
                  GrantFullControl=f'id="{owner_id}"')
    assert anonymous.get_object(Bucket=bucket, Key="shared.txt")["Body"].read() == b"s"
    grants = s3.get_object_acl(Bucket=bucket, Key="shared.txt")["Grants"]
    assert sorted((g["Grantee"].get("URI") or g["Grantee"].get("ID"), g["Permission"]) for g in grants) == sorted([
        (owner_id, "FULL_CONTROL"), ("http://acs.amazonaws.com/groups/global/AllUsers", "READ")])
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": {"ID": owner_id}, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner_id}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
         "Permission": "READ_ACP"}]})
    assert anonymous.get_bucket_acl(Bucket=bucket)["Owner"]["ID"] == owner_id
    assert error_code(anonymous.list_objects_v2, Bucket=bucket) == "AccessDenied"
    assert error_code(s3.put_bucket_acl, Bucket=bucket, GrantRead='id="0123"') == "InvalidArgument"
    assert error_code(s3.put_bucket_acl, Bucket=bucket, GrantRead='uri="http://example.com/x"') == "InvalidArgument"
    assert error_code(s3.put_bucket_acl, Bucket=bucket,
                      GrantRead='emailAddress="nobody@example.invalid"') == "UnresolvableGrantByEmailAddress"
    assert error_code(s3.put_bucket_acl, Bucket=bucket, ACL="public-read",
                      GrantRead=f'id="{owner_id}"') == "InvalidRequest"
    assert error_code(s3.put_bucket_acl, Bucket=bucket, AccessControlPolicy={"Owner": {"ID": owner_id}, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner_id}, "Permission": "EVERYTHING"}]}) == "MalformedACLError"


def test_public_access_block_and_enforced_ownership(s3: Any, anonymous: Any, bucket: str, unique: str) -> None:
    s3.put_object(Bucket=bucket, Key="pub.txt", Body=b"p", ACL="public-read")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    assert error_code(anonymous.get_object, Bucket=bucket, Key="pub.txt") == "AccessDenied"
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    assert anonymous.get_object(Bucket=bucket, Key="pub.txt")["Body"].read() == b"p"
    assert error_code(s3.put_object, Bucket=bucket, Key="x", Body=b"x", ACL="public-read") == "AccessDenied"
    assert error_code(s3.put_object_acl, Bucket=bucket, Key="pub.txt",
                      GrantRead='uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"') == "AccessDenied"
    s3.put_object(Bucket=bucket, Key="x", Body=b"x", ACL="private")
    enforced = new_bucket(s3, f"{unique}-own", ObjectOwnership="BucketOwnerEnforced")
    try:
        assert error_code(s3.put_object, Bucket=enforced, Key="k", Body=b"k",
                          ACL="public-read") == "AccessControlListNotSupported"
        assert error_code(s3.put_bucket_acl, Bucket=enforced, ACL="public-read") == "AccessControlListNotSupported"
        s3.put_object(Bucket=enforced, Key="k", Body=b"k", ACL="bucket-owner-full-control")
        assert s3.get_object_acl(Bucket=enforced, Key="k")["Grants"][0]["Permission"] == "FULL_CONTROL"
        assert error_code(s3.create_bucket, Bucket=f"{unique}-own2", ObjectOwnership="BucketOwnerEnforced",
                          ACL="public-read") == "InvalidBucketAclWithObjectOwnership"
        s3.put_bucket_ownership_controls(Bucket=enforced, OwnershipControls={"Rules": [
            {"ObjectOwnership": "ObjectWriter"}]})
        s3.put_object(Bucket=enforced, Key="k2", Body=b"k", ACL="public-read")
        assert anonymous.get_object(Bucket=enforced, Key="k2")["Body"].read() == b"k"
        assert s3.get_bucket_ownership_controls(Bucket=enforced)["OwnershipControls"]["Rules"] == [
            {"ObjectOwnership": "ObjectWriter"}]
    finally:
        remove_bucket(s3, enforced)


# --- stored documents that must never break a bucket -----------------------------------------------------


def test_odd_but_valid_documents_never_turn_into_errors(s3: Any, anonymous: Any, bucket: str) -> None:
    arn = f"arn:aws:s3:::{bucket}"
    policy = {"Version": "2012-10-17", "Id": "odd", "Statement": [
        # a Sid that the ACL translation could have used, a lone statement object, odd conditions
        {"Sid": "CannedAclpublic-read", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"{arn}/pub/*"},
        {"Sid": "", "Effect": "Deny", "Principal": {"AWS": ["*"]}, "NotAction": "s3:*", "Resource": [arn, f"{arn}/*"]},
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:ListBucket", "Resource": arn,
         "Condition": {"StringLike": {"s3:prefix": ["", "pub/*"]}, "Bool": {"aws:SecureTransport": [True, False]},
                       "NumericLessThanEquals": {"s3:max-keys": 1000}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"{arn}/ünïcødé/*",
         "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2999-01-01T00:00:00Z"},
                       "ForAnyValue:StringEquals": {"aws:TagKeys": []}}}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="pub/a.txt", Body=b"a", ACL="public-read")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": " ", "Value": ""},
                                                            {"Key": "ü:/+=.@-_", "Value": "x" * 256}]})
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"],
         "MaxAgeSeconds": 0}]})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "x" * 255, "Status": "Disabled", "Filter": {}, "Expiration": {"Days": 1}},
        {"Status": "Enabled", "Filter": {"And": {"Prefix": "", "Tags": [{"Key": "a", "Value": ""}]}},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object_tagging(Bucket=bucket, Key="pub/a.txt", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert anonymous.get_object(Bucket=bucket, Key="pub/a.txt")["Body"].read() == b"a"
    assert [o["Key"] for o in anonymous.list_objects_v2(Bucket=bucket, Prefix="pub/")["Contents"]] == ["pub/a.txt"]
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == policy
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "pub/a.txt"}]})


@pytest.mark.parametrize(("document", "code"), [
    ("{", "MalformedPolicy"),
    ('{"Statement": []}', "MalformedPolicy"),
    (json.dumps({"Statement": [{"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                "Resource": "arn:aws:s3:::BUCKET/*"},
                               {"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
                                "Resource": "arn:aws:s3:::BUCKET"}]}), "MalformedPolicy"),
    (json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                "Resource": "arn:aws:s3:::BUCKET/*"}]}), "MalformedPolicy"),
    (json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                "Resource": "arn:aws:s3:::BUCKET/*", "Condition": {"NoSuchOp": {"a": "b"}}}]}),
     "MalformedPolicy"),
])
def test_bad_policies_are_refused_when_written(s3: Any, bucket: str, document: str, code: str) -> None:
    assert error_code(s3.put_bucket_policy, Bucket=bucket, Policy=document.replace("BUCKET", bucket)) == code
    assert error_code(s3.get_bucket_policy, Bucket=bucket) == "NoSuchBucketPolicy"


def test_bad_configurations_are_refused_with_aws_codes(s3: Any, bucket: str) -> None:
    assert error_code(s3.put_bucket_tagging, Bucket=bucket, Tagging={"TagSet": [
        {"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}) == "InvalidTag"
    assert error_code(s3.put_bucket_cors, Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedMethods": ["FETCH"], "AllowedOrigins": ["*"]}]}) == "InvalidRequest"
    assert error_code(s3.put_bucket_lifecycle_configuration, Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"Status": "Enabled", "Filter": {}, "Expiration": {"Days": 0}}]}) == "InvalidArgument"
    assert error_code(s3.put_bucket_versioning, Bucket=bucket,
                      VersioningConfiguration={"Status": "Sometimes"}) == "MalformedXML"
    assert error_code(s3.put_bucket_encryption, Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "ROT13"}}]}) == "InvalidArgument"
    s3.list_objects_v2(Bucket=bucket)


def test_features_cloudlet_cannot_configure_read_as_not_configured(s3: Any, bucket: str) -> None:
    """What infrastructure-as-code tools read for every bucket they manage."""
    assert error_code(s3.get_bucket_replication, Bucket=bucket) == "ReplicationConfigurationNotFoundError"
    assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket=bucket)
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    listed = s3.list_bucket_metrics_configurations(Bucket=bucket)
    assert listed["IsTruncated"] is False and not listed.get("MetricsConfigurationList")
    s3.delete_bucket_replication(Bucket=bucket)
    assert error_code(s3.put_bucket_accelerate_configuration, Bucket=bucket, AccelerateConfiguration={
        "Status": "Enabled"}) == "NotImplemented"
    assert error_code(s3.get_bucket_replication, Bucket="no-such-bucket-here") == "NoSuchBucket"


# --- markers are positions ----------------------------------------------------------------------------------


def _put_many(s3: Any, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b"."), keys))


def test_versioned_bucket_emptied_page_by_page_while_listing(s3: Any, unique: str) -> None:
    name = new_bucket(s3, f"{unique}-drain")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    keys = [f"k{index:04d}" for index in range(800)]
    _put_many(s3, name, keys + keys[:700])  # 1,500 versions
    for _ in range(2):  # 1,000 delete markers (a batch delete without version ids adds them): 2,500 in all
        s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": key} for key in keys[:500]], "Quiet": True})
    listed = 0
    request: dict[str, Any] = {"Bucket": name, "MaxKeys": 1000}
    while True:
        page = s3.list_object_versions(**request)
        entries = [{"Key": item["Key"], "VersionId": item["VersionId"]}
                   for item in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        listed += len(entries)
        if entries:
            result = s3.delete_objects(Bucket=name, Delete={"Objects": entries, "Quiet": True})
            assert not result.get("Errors")
        if not page["IsTruncated"]:
            break
        request.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])
    assert listed == 2500
    s3.delete_bucket(Bucket=name)


def test_version_marker_of_a_deleted_version_is_a_position(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ids = [s3.put_object(Bucket=bucket, Key="a", Body=str(n).encode())["VersionId"] for n in range(4)]
    later = s3.put_object(Bucket=bucket, Key="b", Body=b"b")["VersionId"]
    newest_first = ids[::-1]
    s3.delete_object(Bucket=bucket, Key="a", VersionId=newest_first[1])
    page = s3.list_object_versions(Bucket=bucket, KeyMarker="a", VersionIdMarker=newest_first[1])
    assert [(v["Key"], v["VersionId"]) for v in page["Versions"]] == [
        ("a", newest_first[2]), ("a", newest_first[3]), ("b", later)]
    assert error_code(s3.list_object_versions, Bucket=bucket, KeyMarker="a",
                      VersionIdMarker="not-a-version") == "InvalidArgument"


def test_key_and_token_markers_of_deleted_keys_are_positions(s3: Any, bucket: str) -> None:
    _put_many(s3, bucket, ["a", "b", "c", "d"])
    first = s3.list_objects_v2(Bucket=bucket, MaxKeys=2)
    first_v1 = s3.list_objects(Bucket=bucket, MaxKeys=2)
    s3.delete_object(Bucket=bucket, Key="b")
    rest = s3.list_objects_v2(Bucket=bucket, ContinuationToken=first["NextContinuationToken"])
    assert [o["Key"] for o in rest["Contents"]] == ["c", "d"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, StartAfter="b")["Contents"]] == ["c", "d"]
    marker = first_v1["Contents"][-1]["Key"]
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket, Marker=marker)["Contents"]] == ["c", "d"]


def test_upload_and_part_markers_of_aborted_items_are_positions(s3: Any, bucket: str) -> None:
    uploads = [s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"] for key in ("a", "a", "a", "b")]
    first = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2)
    assert [u["UploadId"] for u in first["Uploads"]] == uploads[:2]
    s3.abort_multipart_upload(Bucket=bucket, Key="a", UploadId=uploads[1])
    rest = s3.list_multipart_uploads(Bucket=bucket, KeyMarker=first["NextKeyMarker"],
                                     UploadIdMarker=first["NextUploadIdMarker"])
    assert [(u["Key"], u["UploadId"]) for u in rest["Uploads"]] == [("a", uploads[2]), ("b", uploads[3])]
    for number in (1, 3, 5):
        s3.upload_part(Bucket=bucket, Key="b", UploadId=uploads[3], PartNumber=number, Body=b"p")
    rest_parts = s3.list_parts(Bucket=bucket, Key="b", UploadId=uploads[3], PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest_parts["Parts"]] == [3, 5]


# --- the README walk-through --------------------------------------------------------------------------------


def test_readme_public_bucket_walk_through_with_the_aws_cli(cloudlet: CloudletProcess, anonymous: Any,
                                                            unique: str, tmp_path: Any) -> None:
    """controller/s3/README.md, "A public bucket, read without credentials", command for command."""
    name = f"{unique}-site"
    (tmp_path / "index.html").write_text("<h1>hello</h1>")
    (tmp_path / "members.html").write_text("members")
    cloudlet.aws("s3api", "create-bucket", "--bucket", name, "--acl", "public-read")
    cloudlet.aws("s3api", "put-object", "--bucket", name, "--key", "index.html", "--body",
                 str(tmp_path / "index.html"), "--acl", "public-read")
    with urllib.request.urlopen(f"{cloudlet.endpoint}/{name}/index.html") as response:  # curl -f, unsigned
        assert response.read() == b"<h1>hello</h1>"
    cloudlet.aws("s3api", "put-object", "--bucket", name, "--key", "members.html", "--body",
                 str(tmp_path / "members.html"), "--grant-read",
                 "uri=http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
    grants = json.loads(cloudlet.aws("s3api", "get-object-acl", "--bucket", name, "--key", "members.html").stdout)
    assert [(g["Grantee"]["URI"], g["Permission"]) for g in grants["Grants"]] == [
        ("http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "READ")]
    assert error_code(anonymous.get_object, Bucket=name, Key="members.html") == "AccessDenied"
    cloudlet.aws("s3", "rb", "--force", f"s3://{name}")
    assert error_code(anonymous.list_objects_v2, Bucket=name) == "NoSuchBucket"
