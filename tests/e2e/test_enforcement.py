"""Enforcement on real API calls: IAM users in groups, boundaries, the seed's patterns, conditions.

Each test makes IAM users with boto3 as the root user, gives them policies, and calls
the API with their own keys; decisions must follow AWS's evaluation logic and denials
must come back in each service's own AccessDenied form.
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.helpers import Cleanup, allow, denied, deny, document, new_user
from tests.support import CloudletProcess, Credentials


def test_a_new_user_is_denied_everything(cloudlet: CloudletProcess, iam: Any, unique: str,
                                         cleanup: Cleanup) -> None:
    name = f"{unique}-nobody"
    creds = new_user(iam, cleanup, name)
    arn = f"arn:aws:iam::{cloudlet.account_id}:user/{name}"
    code, status, message = denied(cloudlet.client("iam", creds).list_users)
    assert (code, status) == ("AccessDenied", 403)
    assert message == (f"User: {arn} is not authorized to perform: iam:ListUsers on resource: "
                       f"arn:aws:iam::{cloudlet.account_id}:user/ because no identity-based policy allows the "
                       "iam:ListUsers action")
    code, _, message = denied(cloudlet.client("iam", creds).get_user, UserName=name)
    assert code == "AccessDenied" and f"on resource: user {name} because" in message
    code, status, message = denied(cloudlet.client("ec2", creds).describe_availability_zones)
    assert (code, status) == ("UnauthorizedOperation", 403)
    assert message.startswith("You are not authorized to perform this operation. User: " + arn)
    assert denied(cloudlet.client("cloudtrail", creds).lookup_events)[0] == "AccessDeniedException"
    assert denied(cloudlet.client("organizations", creds).describe_organization)[0] == "AccessDeniedException"
    # the two calls AWS never checks: who am I, and a session token for my own permissions
    assert cloudlet.client("sts", creds).get_caller_identity()["Arn"] == arn
    assert cloudlet.client("sts", creds).get_session_token(DurationSeconds=900)["Credentials"]["AccessKeyId"] \
        .startswith("ASIA")
    events = cloudlet.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": name}])["Events"]
    assert {json.loads(e["CloudTrailEvent"]).get("errorCode") for e in events if e["EventName"] == "ListUsers"} \
        == {"AccessDenied"}


def test_group_allow_then_other_group_deny_wins(cloudlet: CloudletProcess, iam: Any, unique: str,
                                               cleanup: Cleanup) -> None:
    readers, blocked = f"{unique}-readers", f"{unique}-blocked"
    cleanup.groups.extend([readers, blocked])
    member = new_user(iam, cleanup, f"{unique}-member")
    outsider = new_user(iam, cleanup, f"{unique}-outsider")
    iam.create_group(GroupName=readers)
    iam.put_group_policy(GroupName=readers, PolicyName="Describe", PolicyDocument=document(allow("ec2:Describe*")))
    iam.add_user_to_group(GroupName=readers, UserName=f"{unique}-member")
    ec2 = cloudlet.client("ec2", member)
    assert len(ec2.describe_availability_zones()["AvailabilityZones"]) == 2
    assert ec2.describe_regions()["Regions"]
    assert denied(cloudlet.client("ec2", outsider).describe_availability_zones)[0] == "UnauthorizedOperation"

    iam.create_group(GroupName=blocked)
    iam.put_group_policy(GroupName=blocked, PolicyName="NoZones",
                         PolicyDocument=document(deny("ec2:DescribeAvailabilityZones")))
    iam.add_user_to_group(GroupName=blocked, UserName=f"{unique}-member")
    code, _, message = denied(ec2.describe_availability_zones)
    assert code == "UnauthorizedOperation"
    assert message.endswith("with an explicit deny in an identity-based policy")
    assert ec2.describe_regions()["Regions"]  # the deny names one action only

    iam.remove_user_from_group(GroupName=blocked, UserName=f"{unique}-member")
    assert ec2.describe_availability_zones()["AvailabilityZones"]  # effective at once


def test_permissions_boundary_blocks_what_it_does_not_allow(cloudlet: CloudletProcess, iam: Any, unique: str,
                                                            cleanup: Cleanup) -> None:
    boundary = iam.create_policy(PolicyName=f"{unique}-s3ec2",
                                 PolicyDocument=document(allow(["s3:*", "ec2:*"])))["Policy"]["Arn"]
    cleanup.policies.append(boundary)
    name = f"{unique}-bounded"
    creds = new_user(iam, cleanup, name, PermissionsBoundary=boundary)
    iam.put_user_policy(UserName=name, PolicyName="Broad",
                        PolicyDocument=document(allow("iam:*"), allow("ec2:DescribeRegions")))
    code, _, message = denied(cloudlet.client("iam", creds).list_users)
    assert code == "AccessDenied"
    assert message.endswith("because no permissions boundary allows the iam:ListUsers action")
    assert cloudlet.client("ec2", creds).describe_regions()["Regions"]  # allowed by both
    # the boundary grants nothing by itself
    assert denied(cloudlet.client("ec2", creds).describe_availability_zones)[0] == "UnauthorizedOperation"
    iam.delete_user_permissions_boundary(UserName=name)
    assert "Users" in cloudlet.client("iam", creds).list_users(MaxItems=1)


def test_seed_not_action_and_not_resource_denies(cloudlet: CloudletProcess, iam: Any, unique: str,
                                                 cleanup: Cleanup) -> None:
    name = f"{unique}-admin"
    creds = new_user(iam, cleanup, name)
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    temp = f"arn:aws:iam::{cloudlet.account_id}:user/{unique}-temp-*"
    iam.put_user_policy(UserName=name, PolicyName="Guards", PolicyDocument=document(
        # NotAction with Deny: everything but EC2 describes, STS and IAM is off limits...
        {"Effect": "Deny", "NotAction": ["ec2:Describe*", "sts:*", "iam:*"], "Resource": "*"},
        # ...and NotResource with Deny: users may be deleted only when they are temp-* users
        {"Effect": "Deny", "Action": "iam:DeleteUser", "NotResource": temp}))
    admin_iam = cloudlet.client("iam", creds)
    assert cloudlet.client("ec2", creds).describe_regions()["Regions"]
    code, _, message = denied(cloudlet.client("cloudtrail", creds).lookup_events)
    assert code == "AccessDeniedException" and "explicit deny" in message
    for suffix in ("temp-1", "keep"):
        cleanup.users.append(f"{unique}-{suffix}")
        admin_iam.create_user(UserName=f"{unique}-{suffix}")
    admin_iam.delete_user(UserName=f"{unique}-temp-1")
    code, _, message = denied(admin_iam.delete_user, UserName=f"{unique}-keep")
    assert code == "AccessDenied" and message.endswith("with an explicit deny in an identity-based policy")


def test_seed_mfa_bool_if_exists(cloudlet: CloudletProcess, iam: Any, unique: str, cleanup: Cleanup) -> None:
    """BoolIfExists on aws:MultiFactorAuthPresent: long-term keys pass, sessions need MFA (seed's grant)."""
    name = f"{unique}-mfa"
    creds = new_user(iam, cleanup, name)
    iam.put_user_policy(UserName=name, PolicyName="MfaZones", PolicyDocument=document(allow(
        "ec2:DescribeAvailabilityZones", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}})))
    assert cloudlet.client("ec2", creds).describe_availability_zones()["AvailabilityZones"]  # key absent: holds
    sts = cloudlet.client("sts", creds)
    plain = sts.get_session_token(DurationSeconds=900)["Credentials"]
    session = Credentials(plain["AccessKeyId"], plain["SecretAccessKey"], plain["SessionToken"])
    assert denied(cloudlet.client("ec2", session).describe_availability_zones)[0] == "UnauthorizedOperation"
    # a session opened with a code from a real MFA device: tests/e2e/test_iam_mfa.py
    # GetSessionToken credentials without MFA cannot call IAM at all
    assert denied(cloudlet.client("iam", session).get_user)[0] == "InvalidClientTokenId"


def test_policy_variables_and_tag_conditions(cloudlet: CloudletProcess, iam: Any, unique: str,
                                             cleanup: Cleanup) -> None:
    name = f"{unique}-self"
    creds = new_user(iam, cleanup, name)
    other = f"{unique}-other"
    cleanup.users.append(other)
    iam.create_user(UserName=other, Tags=[{"Key": "owner", "Value": name}])
    account = cloudlet.account_id
    iam.put_user_policy(UserName=name, PolicyName="Self", PolicyDocument=document(
        allow("iam:GetUser", f"arn:aws:iam::{account}:user/${{aws:username}}"),
        allow("iam:CreateUser", Condition={"StringEquals": {"aws:RequestTag/team": "blue"},
                                           "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}),
        allow("iam:TagUser", Condition={"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}}),
        deny("*", Condition={"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}})))
    own = cloudlet.client("iam", creds)
    assert own.get_user(UserName=name)["User"]["UserName"] == name
    assert denied(own.get_user, UserName=other)[0] == "AccessDenied"
    blue = f"{unique}-blue"
    cleanup.users.extend([blue, f"{unique}-red"])
    own.create_user(UserName=blue, Tags=[{"Key": "team", "Value": "blue"}])
    assert denied(own.create_user, UserName=f"{unique}-red", Tags=[{"Key": "team", "Value": "red"}])[0] == \
        "AccessDenied"
    own.tag_user(UserName=other, Tags=[{"Key": "x", "Value": "y"}])  # other is tagged owner=<me>
    assert denied(own.tag_user, UserName=blue, Tags=[{"Key": "x", "Value": "y"}])[0] == "AccessDenied"

    iam.put_user_policy(UserName=name, PolicyName="Self", PolicyDocument=document(
        allow("iam:GetUser"), deny("*", Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})))
    assert denied(own.get_user, UserName=name)[0] == "AccessDenied"
