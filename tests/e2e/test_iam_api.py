"""The IAM API over HTTP with boto3 and the AWS CLI: entities, policies, keys, errors, pagination."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import pytest

from tests.e2e.helpers import Cleanup, error_of
from tests.support import CloudletProcess, wait_for

ALLOW_DESCRIBE = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]})
TRUST_EC2 = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def test_users_lifecycle_and_errors(cloudlet: CloudletProcess, iam: Any, unique: str, cleanup: Cleanup) -> None:
    name = f"{unique}-alice"
    cleanup.users.append(name)
    user = iam.create_user(UserName=name, Path="/team/", Tags=[{"Key": "dept", "Value": "ops"}])["User"]
    assert user["Arn"] == f"arn:aws:iam::{cloudlet.account_id}:user/team/{name}"
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    assert iam.get_user(UserName=name)["User"]["Tags"] == [{"Key": "dept", "Value": "ops"}]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_user(UserName=name.upper())  # names are unique regardless of case
    assert error_of(excinfo) == ("EntityAlreadyExists", 409)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.get_user(UserName=f"{unique}-nobody")
    assert error_of(excinfo) == ("NoSuchEntity", 404)
    assert "cannot be found" in excinfo.value.response["Error"]["Message"]

    iam.update_user(UserName=name, NewUserName=f"{name}-2", NewPath="/")
    cleanup.users.append(f"{name}-2")
    renamed = iam.get_user(UserName=f"{name}-2")["User"]
    assert renamed["UserId"] == user["UserId"] and renamed["Arn"].endswith(f":user/{name}-2")

    iam.tag_user(UserName=f"{name}-2", Tags=[{"Key": "env", "Value": "dev"}, {"Key": "DEPT", "Value": "it"}])
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=f"{name}-2")["Tags"]}
    assert tags == {"DEPT": "it", "env": "dev"}  # keys are case-insensitive: DEPT replaced dept
    iam.untag_user(UserName=f"{name}-2", TagKeys=["dept"])
    assert [t["Key"] for t in iam.list_user_tags(UserName=f"{name}-2")["Tags"]] == ["env"]


def test_root_get_user_describes_the_account(cloudlet: CloudletProcess, iam: Any) -> None:
    user = iam.get_user()["User"]
    assert user["Arn"] == f"arn:aws:iam::{cloudlet.account_id}:root"
    assert user["UserId"] == cloudlet.account_id


def test_listing_pages_with_marker(iam: Any, unique: str, cleanup: Cleanup) -> None:
    names = [f"{unique}-u{index}" for index in range(5)]
    cleanup.users.extend(names)
    for name in names:
        iam.create_user(UserName=name, Path=f"/{unique}/")
    seen, marker = [], None
    while True:
        page = iam.list_users(PathPrefix=f"/{unique}/", MaxItems=2, **({"Marker": marker} if marker else {}))
        seen += [u["UserName"] for u in page["Users"]]
        assert len(page["Users"]) <= 2
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert seen == names
    paginated = [u["UserName"] for p in iam.get_paginator("list_users").paginate(
        PathPrefix=f"/{unique}/", PaginationConfig={"PageSize": 3}) for u in p["Users"]]
    assert paginated == names
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.list_users(Marker="not-a-marker")
    assert error_of(excinfo)[0] == "ValidationError"


def test_groups_membership_and_delete_conflicts(iam: Any, unique: str, cleanup: Cleanup) -> None:
    user, group = f"{unique}-bob", f"{unique}-devs"
    cleanup.users.append(user)
    cleanup.groups.append(group)
    iam.create_user(UserName=user)
    created = iam.create_group(GroupName=group)["Group"]
    assert created["GroupId"].startswith("AGPA")
    iam.add_user_to_group(GroupName=group, UserName=user)
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [user]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]] == [group]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_group(GroupName=group)
    assert error_of(excinfo) == ("DeleteConflict", 409)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_user(UserName=user)
    assert error_of(excinfo) == ("DeleteConflict", 409)
    iam.remove_user_from_group(GroupName=group, UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=ALLOW_DESCRIBE)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_user(UserName=user)
    assert error_of(excinfo) == ("DeleteConflict", 409)
    iam.delete_user_policy(UserName=user, PolicyName="p")
    iam.delete_user(UserName=user)
    iam.delete_group(GroupName=group)


def test_inline_policies_round_trip_as_documents(iam: Any, unique: str, cleanup: Cleanup) -> None:
    user = f"{unique}-carol"
    cleanup.users.append(user)
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="Describe", PolicyDocument=ALLOW_DESCRIBE)
    got = iam.get_user_policy(UserName=user, PolicyName="describe")  # policy names are case-insensitive too
    assert got["PolicyDocument"] == json.loads(ALLOW_DESCRIBE)  # sent URL-encoded, decoded by botocore
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["Describe"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.put_user_policy(UserName=user, PolicyName="Bad", PolicyDocument='{"Statement": "nope"}')
    assert error_of(excinfo) == ("MalformedPolicyDocument", 400)
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": f"s3:GetObject{index}", "Resource": "*"} for index in range(60)]})
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.put_user_policy(UserName=user, PolicyName="Big", PolicyDocument=big)
    assert error_of(excinfo) == ("LimitExceeded", 409)
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["Describe"]


def test_managed_policy_versions(cloudlet: CloudletProcess, iam: Any, unique: str, cleanup: Cleanup) -> None:
    created = iam.create_policy(PolicyName=f"{unique}-pol", PolicyDocument=ALLOW_DESCRIBE, Path="/x/",
                                Description="describe things")["Policy"]
    arn = created["Arn"]
    cleanup.policies.append(arn)
    assert arn == f"arn:aws:iam::{cloudlet.account_id}:policy/x/{unique}-pol"
    assert created["PolicyId"].startswith("ANPA") and created["DefaultVersionId"] == "v1"
    for number in range(2, 6):
        version = iam.create_policy_version(PolicyArn=arn, PolicyDocument=ALLOW_DESCRIBE,
                                            SetAsDefault=number == 3)["PolicyVersion"]
        assert version["VersionId"] == f"v{number}"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=ALLOW_DESCRIBE)
    assert error_of(excinfo) == ("LimitExceeded", 409)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v3")
    assert error_of(excinfo) == ("DeleteConflict", 409)
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v5")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    document = iam.get_policy_version(PolicyArn=arn, VersionId="v5")["PolicyVersion"]["Document"]
    assert document == json.loads(ALLOW_DESCRIBE)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_policy(PolicyArn=arn)  # other versions must go first
    assert error_of(excinfo) == ("DeleteConflict", 409)
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_policy(PolicyName=f"{unique}-pol", PolicyDocument=ALLOW_DESCRIBE)
    assert error_of(excinfo) == ("EntityAlreadyExists", 409)


def test_attachments_and_aws_managed_policies(cloudlet: CloudletProcess, iam: Any, unique: str,
                                              cleanup: Cleanup) -> None:
    listed = json.loads(cloudlet.aws("iam", "list-policies", "--scope", "AWS").stdout)["Policies"]
    names = {p["PolicyName"] for p in listed}
    assert {"AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess", "IAMFullAccess", "AmazonS3FullAccess",
            "AmazonEC2FullAccess", "AmazonVPCFullAccess", "AmazonSQSFullAccess", "AmazonSNSFullAccess",
            "AWSLambda_FullAccess"} <= names
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    assert iam.get_policy_version(PolicyArn=admin, VersionId="v1")["PolicyVersion"]["Document"]["Statement"] == [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}]
    role = f"{unique}-role"
    cleanup.roles.append(role)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)
    iam.attach_role_policy(RoleName=role, PolicyArn=admin)
    iam.attach_role_policy(RoleName=role, PolicyArn=admin)  # attaching twice is not an error
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == [
        {"PolicyName": "AdministratorAccess", "PolicyArn": admin}]
    entities = iam.list_entities_for_policy(PolicyArn=admin, EntityFilter="Role")["PolicyRoles"]
    assert role in [e["RoleName"] for e in entities]
    assert iam.get_policy(PolicyArn=admin)["Policy"]["AttachmentCount"] >= 1
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_policy(PolicyArn=admin)
    assert error_of(excinfo)[1] in (403, 409)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy")
    assert error_of(excinfo) == ("NoSuchEntity", 404)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_role(RoleName=role)
    assert error_of(excinfo) == ("DeleteConflict", 409)
    iam.detach_role_policy(RoleName=role, PolicyArn=admin)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.detach_role_policy(RoleName=role, PolicyArn=admin)
    assert error_of(excinfo) == ("NoSuchEntity", 404)


def test_roles_trust_duration_and_boundaries(cloudlet: CloudletProcess, iam: Any, unique: str,
                                             cleanup: Cleanup) -> None:
    role = f"{unique}-svc"
    cleanup.roles.append(role)
    boundary = "arn:aws:iam::aws:policy/PowerUserAccess"
    created = iam.create_role(RoleName=role, Path="/apps/", AssumeRolePolicyDocument=TRUST_EC2,
                              Description="for instances", MaxSessionDuration=7200,
                              PermissionsBoundary=boundary)["Role"]
    assert created["RoleId"].startswith("AROA")
    assert created["Arn"] == f"arn:aws:iam::{cloudlet.account_id}:role/apps/{role}"
    got = iam.get_role(RoleName=role)["Role"]
    assert got["AssumeRolePolicyDocument"] == json.loads(TRUST_EC2)
    assert (got["MaxSessionDuration"], got["Description"]) == (7200, "for instances")
    assert got["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    iam.update_role(RoleName=role, MaxSessionDuration=3600, Description="changed")
    assert iam.get_role(RoleName=role)["Role"]["MaxSessionDuration"] == 3600
    iam.delete_role_permissions_boundary(RoleName=role)
    assert "PermissionsBoundary" not in iam.get_role(RoleName=role)["Role"]
    unchecked = cloudlet.client("iam", parameter_validation=False)  # let the server do the checking
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        unchecked.update_role(RoleName=role, MaxSessionDuration=60)
    assert error_of(excinfo) == ("ValidationError", 400)
    no_principal = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=no_principal)
    assert error_of(excinfo) == ("MalformedPolicyDocument", 400)
    ghost = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{cloudlet.account_id}:user/{unique}-ghost"},
        "Action": "sts:AssumeRole"}]})
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=ghost)
    assert error_of(excinfo) == ("MalformedPolicyDocument", 400)
    assert "Invalid principal" in excinfo.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.put_user_permissions_boundary(UserName=f"{unique}-ghost", PermissionsBoundary=boundary)
    assert error_of(excinfo) == ("NoSuchEntity", 404)


def test_failed_create_changes_nothing(iam: Any, unique: str, cleanup: Cleanup) -> None:
    name = f"{unique}-bounded"
    cleanup.users.append(name)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_user(UserName=name, PermissionsBoundary="arn:aws:iam::aws:policy/NoSuchThing")
    assert error_of(excinfo) == ("NoSuchEntity", 404)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.get_user(UserName=name)
    assert error_of(excinfo) == ("NoSuchEntity", 404)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_user(UserName="bad name with spaces")
    assert error_of(excinfo) == ("ValidationError", 400)


def test_access_keys_limit_status_and_last_used(cloudlet: CloudletProcess, iam: Any, unique: str,
                                                cleanup: Cleanup) -> None:
    user = f"{unique}-dave"
    cleanup.users.append(user)
    iam.create_user(UserName=user)
    first = iam.create_access_key(UserName=user)["AccessKey"]
    assert first["AccessKeyId"].startswith("AKIA") and first["Status"] == "Active"
    iam.create_access_key(UserName=user)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_access_key(UserName=user)
    assert error_of(excinfo) == ("LimitExceeded", 409)
    assert len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) == 2
    assert iam.get_access_key_last_used(AccessKeyId=first["AccessKeyId"])["AccessKeyLastUsed"]["ServiceName"] \
        == "N/A"

    from tests.support import Credentials

    own = cloudlet.client("sts", Credentials(first["AccessKeyId"], first["SecretAccessKey"]))
    assert own.get_caller_identity()["Arn"].endswith(f":user/{user}")
    # The STS call's audit batch is committed by the API process that served it, which may not be the one
    # asked next (GetAccessKeyLastUsed flushes only its own): AWS too reports last use after a delay.
    used = wait_for(lambda: (found := iam.get_access_key_last_used(AccessKeyId=first["AccessKeyId"]))[
        "AccessKeyLastUsed"]["ServiceName"] != "N/A" and found, 10, "the key's last use")
    assert used["UserName"] == user and used["AccessKeyLastUsed"]["ServiceName"] == "sts"

    iam.update_access_key(UserName=user, AccessKeyId=first["AccessKeyId"], Status="Inactive")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        own.get_caller_identity()
    assert error_of(excinfo)[0] == "InvalidClientTokenId"
    iam.delete_access_key(UserName=user, AccessKeyId=first["AccessKeyId"])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_access_key(UserName=user, AccessKeyId=first["AccessKeyId"])
    assert error_of(excinfo) == ("NoSuchEntity", 404)


def test_instance_profiles(iam: Any, unique: str, cleanup: Cleanup) -> None:
    profile, role, other = f"{unique}-ip", f"{unique}-iprole", f"{unique}-iprole2"
    cleanup.profiles.append(profile)
    cleanup.roles.extend([role, other])
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)
    iam.create_role(RoleName=other, AssumeRolePolicyDocument=TRUST_EC2)
    created = iam.create_instance_profile(InstanceProfileName=profile)["InstanceProfile"]
    assert created["InstanceProfileId"].startswith("AIPA") and created["Roles"] == []
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=other)
    assert error_of(excinfo) == ("LimitExceeded", 409)
    got = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]
    assert [r["RoleName"] for r in got["Roles"]] == [role]
    assert [p["InstanceProfileName"] for p in
            iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]] == [profile]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_instance_profile(InstanceProfileName=profile)
    assert error_of(excinfo) == ("DeleteConflict", 409)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_role(RoleName=role)
    assert error_of(excinfo) == ("DeleteConflict", 409)
    iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role)
    iam.delete_instance_profile(InstanceProfileName=profile)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.get_instance_profile(InstanceProfileName=profile)
    assert error_of(excinfo) == ("NoSuchEntity", 404)


def test_simulate_principal_policy_sees_groups_and_boundaries(cloudlet: CloudletProcess, iam: Any, unique: str,
                                                              cleanup: Cleanup) -> None:
    user, group = f"{unique}-sim", f"{unique}-simgroup"
    cleanup.users.append(user)
    cleanup.groups.append(group)
    iam.create_user(UserName=user, PermissionsBoundary="arn:aws:iam::aws:policy/AmazonEC2FullAccess")
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.put_group_policy(GroupName=group, PolicyName="GroupDescribe", PolicyDocument=ALLOW_DESCRIBE)
    iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/IAMFullAccess")
    arn = f"arn:aws:iam::{cloudlet.account_id}:user/{user}"
    results = {r["EvalActionName"]: r for r in iam.simulate_principal_policy(
        PolicySourceArn=arn, ActionNames=["ec2:DescribeRegions", "iam:CreateUser", "s3:GetObject"])[
        "EvaluationResults"]}
    allowed = results["ec2:DescribeRegions"]
    assert allowed["EvalDecision"] == "allowed"
    assert [(s["SourcePolicyId"], s["SourcePolicyType"]) for s in allowed["MatchedStatements"]] == [
        ("GroupDescribe", "group")]
    assert allowed["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    blocked = results["iam:CreateUser"]  # IAMFullAccess allows it; the EC2 boundary does not
    assert blocked["EvalDecision"] == "implicitDeny"
    assert blocked["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}
    assert results["s3:GetObject"]["EvalDecision"] == "implicitDeny"
    iam_boundary = [json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]})]
    replaced = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["iam:CreateUser"],
                                             PermissionsBoundaryPolicyInputList=iam_boundary)
    assert replaced["EvaluationResults"][0]["EvalDecision"] == "allowed"
    excluded = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["iam:CreateUser"],
                                             PermissionsBoundaryPolicyInputList=iam_boundary,
                                             PolicyExclusionList=[{"PolicyArn": "arn:aws:iam::aws:policy/IAM*"}])
    assert excluded["EvaluationResults"][0]["EvalDecision"] == "implicitDeny"
    no_inline = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["ec2:DescribeRegions"],
                                              PolicyExclusionList=[{"InlinePolicyIdentifier": {
                                                  "PolicyName": "GroupDescribe", "AttachmentType": "group",
                                                  "AttachmentName": group}}])
    assert no_inline["EvaluationResults"][0]["EvalDecision"] == "implicitDeny"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{cloudlet.account_id}:user/{unique}-none",
                                      ActionNames=["s3:GetObject"])
    assert error_of(excinfo) == ("NoSuchEntity", 404)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.simulate_custom_policy(PolicyInputList=["{not json"], ActionNames=["s3:GetObject"])
    assert error_of(excinfo) == ("InvalidInput", 400)


def test_account_authorization_details(iam: Any, unique: str, cleanup: Cleanup) -> None:
    user, role = f"{unique}-detail", f"{unique}-detailrole"
    cleanup.users.append(user)
    cleanup.roles.append(role)
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="Inline", PolicyDocument=ALLOW_DESCRIBE)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)
    iam.attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    pages = list(iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["User", "Role", "AWSManagedPolicy"], PaginationConfig={"PageSize": 5}))
    users = {u["UserName"]: u for p in pages for u in p["UserDetailList"]}
    roles = {r["RoleName"]: r for p in pages for r in p["RoleDetailList"]}
    policies = {p["PolicyName"]: p for page in pages for p in page["Policies"]}
    assert users[user]["UserPolicyList"] == [{"PolicyName": "Inline", "PolicyDocument": json.loads(ALLOW_DESCRIBE)}]
    assert roles[role]["AssumeRolePolicyDocument"] == json.loads(TRUST_EC2)
    assert roles[role]["AttachedManagedPolicies"] == [
        {"PolicyName": "ReadOnlyAccess", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]
    assert policies["ReadOnlyAccess"]["PolicyVersionList"][0]["IsDefaultVersion"]
    assert all(not p["GroupDetailList"] for p in pages)
