"""STS over HTTP: AssumeRole (trust, sessions, limits), GetSessionToken, and credentials that expire."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.e2e.helpers import Cleanup, allow, denied, document, new_user
from tests.support import CloudletProcess, Credentials


def trust(principal: dict[str, Any], **extra: Any) -> str:
    return document({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra})


def session_credentials(response: dict[str, Any]) -> Credentials:
    creds = response["Credentials"]
    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def make_role(iam: Any, cleanup: Cleanup, name: str, trust_policy: str, *policies: dict[str, Any],
              **create: Any) -> str:
    cleanup.roles.append(name)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy, **create)["Role"]["Arn"]
    if policies:
        iam.put_role_policy(RoleName=name, PolicyName="Inline", PolicyDocument=document(*policies))
    return arn


def test_trust_naming_the_user_needs_no_identity_policy(cloudlet: CloudletProcess, iam: Any, unique: str,
                                                        cleanup: Cleanup) -> None:
    account = cloudlet.account_id
    user = new_user(iam, cleanup, f"{unique}-caller")
    role_arn = make_role(iam, cleanup, f"{unique}-direct",
                         trust({"AWS": f"arn:aws:iam::{account}:user/{unique}-caller"}), allow("ec2:Describe*"))
    response = cloudlet.client("sts", user).assume_role(RoleArn=role_arn, RoleSessionName="s1")
    role_id = iam.get_role(RoleName=f"{unique}-direct")["Role"]["RoleId"]
    assert response["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role_id}:s1", "Arn": f"arn:aws:sts::{account}:assumed-role/{unique}-direct/s1"}
    session = session_credentials(response)
    assert session.access_key_id.startswith("ASIA")
    identity = cloudlet.client("sts", session).get_caller_identity()
    assert (identity["Arn"], identity["UserId"]) == (response["AssumedRoleUser"]["Arn"], f"{role_id}:s1")
    assert cloudlet.client("ec2", session).describe_regions()["Regions"]
    code, _, message = denied(cloudlet.client("iam", session).list_users)
    assert code == "AccessDenied" and message.startswith(f"User: arn:aws:sts::{account}:assumed-role/")
    assert iam.get_role(RoleName=f"{unique}-direct")["Role"]["RoleLastUsed"]["Region"] == cloudlet.region
    # a session of a deleted role keeps no permissions, even if a role of that name comes back
    iam.delete_role_policy(RoleName=f"{unique}-direct", PolicyName="Inline")
    iam.delete_role(RoleName=f"{unique}-direct")
    make_role(iam, cleanup, f"{unique}-direct", trust({"AWS": f"arn:aws:iam::{account}:user/{unique}-caller"}),
              allow("ec2:Describe*"))
    assert denied(cloudlet.client("ec2", session).describe_regions)[0] == "UnauthorizedOperation"


def test_trust_naming_the_account_delegates_to_identity_policies(cloudlet: CloudletProcess, iam: Any,
                                                                 unique: str, cleanup: Cleanup) -> None:
    role_arn = make_role(iam, cleanup, f"{unique}-acct", trust({"AWS": cloudlet.account_id}))
    name = f"{unique}-needs"
    user = new_user(iam, cleanup, name)
    sts = cloudlet.client("sts", user)
    code, status, message = denied(sts.assume_role, RoleArn=role_arn, RoleSessionName="s1")
    assert (code, status) == ("AccessDenied", 403)
    assert f"sts:AssumeRole on resource: {role_arn}" in message
    iam.put_user_policy(UserName=name, PolicyName="Assume", PolicyDocument=document(allow("sts:AssumeRole",
                                                                                          role_arn)))
    assert sts.assume_role(RoleArn=role_arn, RoleSessionName="s1")["Credentials"]
    # the root user never assumes roles, and a role that does not exist cannot be assumed
    assert denied(cloudlet.client("sts").assume_role, RoleArn=role_arn, RoleSessionName="s1")[0] == "AccessDenied"
    missing = f"arn:aws:iam::{cloudlet.account_id}:role/{unique}-missing"
    assert denied(sts.assume_role, RoleArn=missing, RoleSessionName="s1")[0] == "AccessDenied"


def test_external_id_session_policy_and_durations(cloudlet: CloudletProcess, iam: Any, unique: str,
                                                  cleanup: Cleanup) -> None:
    account = cloudlet.account_id
    user = new_user(iam, cleanup, f"{unique}-partner")
    role_arn = make_role(
        iam, cleanup, f"{unique}-ext",
        trust({"AWS": f"arn:aws:iam::{account}:user/{unique}-partner"},
              Condition={"StringEquals": {"sts:ExternalId": "secret-42"}}),
        allow("ec2:Describe*"), allow("sts:AssumeRole"))
    sts = cloudlet.client("sts", user)
    assert denied(sts.assume_role, RoleArn=role_arn, RoleSessionName="s1")[0] == "AccessDenied"
    assert denied(sts.assume_role, RoleArn=role_arn, RoleSessionName="s1", ExternalId="wrong-1")[0] == "AccessDenied"
    scoped = sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", ExternalId="secret-42",
                             Policy=document(allow("ec2:DescribeRegions")))
    assert 0 < scoped["PackedPolicySize"] <= 100
    ec2 = cloudlet.client("ec2", session_credentials(scoped))
    assert ec2.describe_regions()["Regions"]
    code, _, message = denied(ec2.describe_availability_zones)
    assert code == "UnauthorizedOperation" and message.endswith(
        "because no session policy allows the ec2:DescribeAvailabilityZones action")
    by_arn = sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", ExternalId="secret-42",
                             PolicyArns=[{"arn": "arn:aws:iam::aws:policy/AmazonEC2FullAccess"}])
    assert cloudlet.client("ec2", session_credentials(by_arn)).describe_availability_zones()["AvailabilityZones"]
    assert denied(sts.assume_role, RoleArn=role_arn, RoleSessionName="s1", ExternalId="secret-42",
                  DurationSeconds=7200)[0] == "ValidationError"  # above the role's MaxSessionDuration
    unchecked = cloudlet.client("sts", user, parameter_validation=False)  # botocore would refuse 60 itself
    short = denied(unchecked.assume_role, RoleArn=role_arn, RoleSessionName="s1", ExternalId="secret-42",
                   DurationSeconds=60)
    assert short[0] == "ValidationError" and "greater than or equal to 900" in short[2]
    bad_policy = denied(sts.assume_role, RoleArn=role_arn, RoleSessionName="s1", ExternalId="secret-42",
                        Policy='{"Version": "2012-10-17"}')
    assert bad_policy[0] == "MalformedPolicyDocument"

    # role chaining: a session (without session policy) assumes the role again, at most for one hour
    plain = sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", ExternalId="secret-42")
    chained = cloudlet.client("sts", session_credentials(plain))
    # a session policy that does not allow sts:AssumeRole limits what the trust grants to the role
    limited = cloudlet.client("sts", session_credentials(by_arn))
    iam.update_assume_role_policy(RoleName=f"{unique}-ext", PolicyDocument=trust(
        {"AWS": [f"arn:aws:iam::{account}:user/{unique}-partner", role_arn]}))
    iam.update_role(RoleName=f"{unique}-ext", MaxSessionDuration=7200)
    assert denied(chained.assume_role, RoleArn=role_arn, RoleSessionName="again",
                  DurationSeconds=5400)[0] == "ValidationError"
    assert denied(limited.assume_role, RoleArn=role_arn, RoleSessionName="again")[0] == "AccessDenied"
    again = chained.assume_role(RoleArn=role_arn, RoleSessionName="again", DurationSeconds=3600)
    assert again["AssumedRoleUser"]["Arn"].endswith(f"/{unique}-ext/again")


def test_session_tags_and_source_identity(cloudlet: CloudletProcess, iam: Any, unique: str,
                                          cleanup: Cleanup) -> None:
    account = cloudlet.account_id
    user = new_user(iam, cleanup, f"{unique}-tagger")
    principal = {"AWS": f"arn:aws:iam::{account}:user/{unique}-tagger"}
    role_arn = make_role(
        iam, cleanup, f"{unique}-tagged", trust(principal),
        allow("ec2:DescribeRegions", Condition={"StringEquals": {"aws:PrincipalTag/project": "apollo"}}))
    sts = cloudlet.client("sts", user)
    tags = [{"Key": "project", "Value": "apollo"}]
    code, _, message = denied(sts.assume_role, RoleArn=role_arn, RoleSessionName="t1", Tags=tags)
    assert code == "AccessDenied" and "sts:TagSession" in message  # the trust policy must allow tagging
    iam.update_assume_role_policy(RoleName=f"{unique}-tagged", PolicyDocument=document({
        "Effect": "Allow", "Principal": principal,
        "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]}))
    tagged = sts.assume_role(RoleArn=role_arn, RoleSessionName="t1", Tags=tags, SourceIdentity="alice@corp")
    assert tagged["SourceIdentity"] == "alice@corp"
    assert cloudlet.client("ec2", session_credentials(tagged)).describe_regions()["Regions"]
    untagged = sts.assume_role(RoleArn=role_arn, RoleSessionName="u1")
    assert denied(cloudlet.client("ec2", session_credentials(untagged)).describe_regions)[0] == \
        "UnauthorizedOperation"


def test_get_session_token_and_bad_tokens(cloudlet: CloudletProcess, iam: Any, unique: str,
                                          cleanup: Cleanup) -> None:
    user = new_user(iam, cleanup, f"{unique}-gst")
    response = cloudlet.client("sts", user).get_session_token(DurationSeconds=900)
    session = session_credentials(response)
    assert cloudlet.client("sts", session).get_caller_identity()["Arn"].endswith(f":user/{unique}-gst")
    assert denied(cloudlet.client("sts", session).get_session_token)[0] == "AccessDenied"
    forged = Credentials(session.access_key_id, session.secret_access_key, session.session_token[:-4] + "AAAA")
    assert denied(cloudlet.client("sts", forged).get_caller_identity)[0] == "InvalidClientTokenId"
    root = cloudlet.client("sts").get_session_token(DurationSeconds=7200)["Credentials"]
    lifetime = root["Expiration"].timestamp() - time.time()
    assert lifetime <= 3600 + 5  # the root user's session tokens last one hour at most


@pytest.fixture(scope="module")
def short_sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    """A cloud that accepts sessions of a few seconds (CLOUDLET_MIN_SESSION_SECONDS)."""
    process = CloudletProcess(Path(tmp_path_factory.mktemp("short")) / "data",
                              extra_env={"CLOUDLET_MIN_SESSION_SECONDS": "1"}).start()
    try:
        yield process
    finally:
        process.stop()


def test_cross_account_role_works_until_it_expires(short_sessions: CloudletProcess, unique: str) -> None:
    cloud = short_sessions
    account = cloud.client("organizations").create_account(
        AccountName=f"{unique}-tenant", Email=f"{unique}@example.com")["CreateAccountStatus"]["AccountId"]
    role_arn = f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
    iam = cloud.client("iam")
    iam.create_user(UserName=f"{unique}-ops")
    key = iam.create_access_key(UserName=f"{unique}-ops")["AccessKey"]
    ops = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    sts = cloud.client("sts", ops, parameter_validation=False)  # boto3 itself refuses sessions under 900 s
    code, _, _ = denied(sts.assume_role, RoleArn=role_arn, RoleSessionName="x1")
    assert code == "AccessDenied"  # across accounts the caller's own policies must allow too
    iam.put_user_policy(UserName=f"{unique}-ops", PolicyName="Tenants",
                        PolicyDocument=document(allow("sts:AssumeRole", "arn:aws:iam::*:role/OrganizationAccount*")))
    response = sts.assume_role(RoleArn=role_arn, RoleSessionName="setup", DurationSeconds=3)
    session = session_credentials(response)
    tenant_iam = cloud.client("iam", session)
    tenant_iam.create_user(UserName="tenant-admin")
    assert cloud.client("sts", session).get_caller_identity()["Account"] == account
    assert [u["UserName"] for u in tenant_iam.list_users()["Users"]] == ["tenant-admin"]
    time.sleep(max(0.0, response["Credentials"]["Expiration"].timestamp() - time.time()) + 1.1)
    code, status, message = denied(cloud.client("sts", session).get_caller_identity)
    assert (code, status) == ("ExpiredToken", 403)
    assert "expired" in message
    with pytest.raises(botocore.exceptions.ClientError):
        tenant_iam.list_users()


def test_aws_cli_assume_role(cloudlet: CloudletProcess, iam: Any, unique: str, cleanup: Cleanup) -> None:
    role_arn = make_role(iam, cleanup, f"{unique}-cli",
                         trust({"AWS": f"arn:aws:iam::{cloudlet.account_id}:root"}))
    out = cloudlet.aws("sts", "assume-role", "--role-arn", role_arn, "--role-session-name", "cli", check=False)
    assert out.returncode != 0 and "Roles may not be assumed by root accounts" in out.stderr
    listed = json.loads(cloudlet.aws("iam", "list-roles", "--path-prefix", "/").stdout)["Roles"]
    assert role_arn in [role["Arn"] for role in listed]
