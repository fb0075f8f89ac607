"""Who gets in, over real HTTP: IAM users, another account through a bucket policy, anonymous callers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from tests.e2e.helpers import Cleanup
from tests.e2e.s3_helpers import new_bucket, remove_bucket
from tests.support import CloudletProcess, Credentials


@pytest.fixture
def bucket(s3: Any, unique: str) -> Iterator[str]:
    name = new_bucket(s3, f"{unique}-acc")
    yield name
    remove_bucket(s3, name)


def user_with_policy(cloudlet: CloudletProcess, cleanup: Cleanup, name: str, *statements: dict) -> Credentials:
    iam = cloudlet.client("iam")
    cleanup.users.append(name)
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def denied(call: Any, **kwargs: Any) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call(**kwargs)
    return excinfo.value.response["Error"]["Code"]


def test_identity_policies_with_s3_resources_and_condition_keys(cloudlet: CloudletProcess, s3: Any, bucket: str,
                                                                unique: str, cleanup: Cleanup) -> None:
    s3.put_object(Bucket=bucket, Key="home/alice/notes.txt", Body=b"mine")
    s3.put_object(Bucket=bucket, Key="shared/readme.txt", Body=b"all")
    creds = user_with_policy(
        cloudlet, cleanup, f"{unique}-alice",
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": f"arn:aws:s3:::{bucket}/home/alice/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": "home/alice/*"}}})
    alice = cloudlet.client("s3", creds)
    assert alice.get_object(Bucket=bucket, Key="home/alice/notes.txt")["Body"].read() == b"mine"
    alice.put_object(Bucket=bucket, Key="home/alice/new.txt", Body=b"new")
    assert denied(alice.get_object, Bucket=bucket, Key="shared/readme.txt") == "AccessDenied"
    assert denied(alice.delete_object, Bucket=bucket, Key="shared/readme.txt") == "AccessDenied"
    listed = alice.list_objects_v2(Bucket=bucket, Prefix="home/alice/")
    assert [o["Key"] for o in listed["Contents"]] == ["home/alice/new.txt", "home/alice/notes.txt"]
    assert denied(alice.list_objects_v2, Bucket=bucket) == "AccessDenied"
    # a copy needs s3:GetObject on the source too
    assert denied(alice.copy_object, Bucket=bucket, Key="home/alice/stolen.txt",
                  CopySource={"Bucket": bucket, "Key": "shared/readme.txt"}) == "AccessDenied"
    # the batch delete decides key by key
    result = alice.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "home/alice/new.txt"},
                                                                     {"Key": "shared/readme.txt"}]})
    assert [d["Key"] for d in result["Deleted"]] == ["home/alice/new.txt"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("shared/readme.txt", "AccessDenied")]


def other_account(cloudlet: CloudletProcess, cleanup: Cleanup, unique: str) -> tuple[str, Credentials]:
    """A second account of the organization, and an administrator session in it."""
    status = cloudlet.client("organizations").create_account(
        AccountName=f"{unique}-partner", Email=f"{unique}-partner@example.com")["CreateAccountStatus"]
    account = status["AccountId"]
    admin = user_with_policy(cloudlet, cleanup, f"{unique}-hop",
                             {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    session = cloudlet.client("sts", admin).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="partner")
    credentials = session["Credentials"]
    return account, Credentials(credentials["AccessKeyId"], credentials["SecretAccessKey"],
                                credentials["SessionToken"])


def test_bucket_policy_grants_another_account_read(cloudlet: CloudletProcess, s3: Any, bucket: str, unique: str,
                                                   cleanup: Cleanup) -> None:
    s3.put_object(Bucket=bucket, Key="report.csv", Body=b"a,b\n1,2\n")
    account, partner_creds = other_account(cloudlet, cleanup, unique)
    partner = cloudlet.client("s3", partner_creds)
    assert denied(partner.get_object, Bucket=bucket, Key="report.csv") == "AccessDenied"
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "PartnerRead", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert partner.get_object(Bucket=bucket, Key="report.csv")["Body"].read() == b"a,b\n1,2\n"
    assert [o["Key"] for o in partner.list_objects_v2(Bucket=bucket)["Contents"]] == ["report.csv"]
    assert denied(partner.put_object, Bucket=bucket, Key="x", Body=b"x") == "AccessDenied"
    assert denied(partner.delete_bucket_policy, Bucket=bucket) == "AccessDenied"
    # the partner's own buckets are theirs: same global namespace, separate ownership
    assert denied(partner.create_bucket, Bucket=bucket) == "BucketAlreadyExists"
    assert bucket not in [b["Name"] for b in partner.list_buckets()["Buckets"]]


def test_anonymous_access_follows_acls_and_the_public_access_block(cloudlet: CloudletProcess, s3: Any,
                                                                    bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="public.txt", Body=b"hello world", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"secret")
    base = f"{cloudlet.endpoint}/{bucket}"
    assert urllib.request.urlopen(f"{base}/public.txt").read() == b"hello world"
    for url in (f"{base}/private.txt", f"{base}?list-type=2"):
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            urllib.request.urlopen(url)
        assert excinfo.value.code == 403 and b"<Code>AccessDenied</Code>" in excinfo.value.read()
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert b"<Key>public.txt</Key>" in urllib.request.urlopen(f"{base}?list-type=2").read()
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(f"{base}/public.txt")
    assert excinfo.value.code == 403
    assert denied(s3.put_object, Bucket=bucket, Key="p2", Body=b"x", ACL="public-read") == "AccessDenied"
    public_policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    assert denied(s3.put_bucket_policy, Bucket=bucket, Policy=json.dumps(public_policy)) == "AccessDenied"
