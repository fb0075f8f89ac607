"""Service control policies over HTTP: enabled in the root, attached to an OU, enforced on members.

Follows the Organizations User Guide ("Service control policies", "SCP evaluation"):
FullAWSAccess is attached everywhere when SCPs are enabled; every level above a member
account must allow; a Deny anywhere wins; the management account is never affected;
member accounts' root users are. SimulatePrincipalPolicy gives the same answers.

SCPs are a setting of the whole organization, shared by every test of the session: the
test enables them and disables them again (which detaches every SCP) whatever happens.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.helpers import denied, document, member_account
from tests.support import CloudletProcess, Credentials

SCP = "SERVICE_CONTROL_POLICY"
FULL = "p-FullAWSAccess"


@pytest.fixture
def scps_enabled(org: Any) -> Iterator[str]:
    """SCPs enabled in the root for one test, then disabled again; yields the root id."""
    [root] = org.list_roots()["Roots"]
    enabled = org.enable_policy_type(RootId=root["Id"], PolicyType=SCP)["Root"]
    assert enabled["PolicyTypes"] == [{"Type": SCP, "Status": "ENABLED"}]
    try:
        yield root["Id"]
    finally:
        org.disable_policy_type(RootId=root["Id"], PolicyType=SCP)


def _policy_ids(org: Any, target: str) -> list[str]:
    return [p["Id"] for p in org.list_policies_for_target(TargetId=target, Filter=SCP)["Policies"]]


def test_policy_type_and_full_aws_access(cloudlet: CloudletProcess, org: Any, unique: str) -> None:
    [root] = org.list_roots()["Roots"]
    assert root["PolicyTypes"] == []
    code = denied(org.attach_policy, PolicyId=FULL, TargetId=root["Id"])[0]
    assert code == "PolicyTypeNotEnabledException"
    assert denied(org.disable_policy_type, RootId=root["Id"], PolicyType=SCP)[0] == "PolicyTypeNotEnabledException"
    assert denied(org.enable_policy_type, RootId="r-zzzz", PolicyType=SCP)[0] == "RootNotFoundException"
    org.enable_policy_type(RootId=root["Id"], PolicyType=SCP)
    try:
        assert denied(org.enable_policy_type, RootId=root["Id"], PolicyType=SCP)[0] == \
            "PolicyTypeAlreadyEnabledException"
        assert org.list_roots()["Roots"][0]["PolicyTypes"] == [{"Type": SCP, "Status": "ENABLED"}]
        full = org.describe_policy(PolicyId=FULL)["Policy"]
        assert full["PolicySummary"] == {
            "Id": FULL, "Arn": f"arn:aws:organizations::aws:policy/service_control_policy/{FULL}",
            "Name": "FullAWSAccess", "Description": "Allows access to every operation", "Type": SCP,
            "AwsManaged": True}
        assert json.loads(full["Content"])["Statement"] == [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        # attached to the root, to existing accounts and to what is created afterwards
        assert _policy_ids(org, root["Id"]) == [FULL]
        assert _policy_ids(org, cloudlet.account_id) == [FULL]
        unit = org.create_organizational_unit(ParentId=root["Id"], Name=f"{unique}-u")["OrganizationalUnit"]["Id"]
        account = org.create_account(AccountName=f"{unique}-a", Email=f"{unique}-a@example.com")[
            "CreateAccountStatus"]["AccountId"]
        assert _policy_ids(org, unit) == [FULL] and _policy_ids(org, account) == [FULL]
        targets = [t["TargetId"] for page in org.get_paginator("list_targets_for_policy").paginate(PolicyId=FULL)
                   for t in page["Targets"]]
        assert {root["Id"], unit, account, cloudlet.account_id} <= set(targets)
        assert denied(org.attach_policy, PolicyId=FULL, TargetId=unit)[0] == "DuplicatePolicyAttachmentException"
        code, _, _ = denied(org.detach_policy, PolicyId=FULL, TargetId=unit)
        assert code == "ConstraintViolationException"
        assert denied(org.update_policy, PolicyId=FULL, Name="Mine")[0] == "InvalidInputException"
        assert denied(org.delete_policy, PolicyId=FULL)[0] == "InvalidInputException"
        org.delete_organizational_unit(OrganizationalUnitId=unit)
    finally:
        org.disable_policy_type(RootId=root["Id"], PolicyType=SCP)
    assert org.list_roots()["Roots"][0]["PolicyTypes"] == []
    assert _policy_ids(org, root["Id"]) == []


def test_policy_documents_and_their_errors(org: Any, unique: str) -> None:
    content = document({"Sid": "NoVpcDeletes", "Effect": "Deny", "Action": "ec2:DeleteVpc", "Resource": "*"})
    created = org.create_policy(Name=f"{unique}-scp", Description="no VPC deletes", Type=SCP, Content=content,
                                Tags=[{"Key": "team", "Value": "net"}])["Policy"]
    summary = created["PolicySummary"]
    assert re.fullmatch(r"p-[0-9a-z]{8}", summary["Id"]) and summary["AwsManaged"] is False
    assert created["Content"] == content
    assert org.describe_policy(PolicyId=summary["Id"])["Policy"] == created
    listed = [p["Id"] for page in org.get_paginator("list_policies").paginate(Filter=SCP) for p in page["Policies"]]
    assert {summary["Id"], FULL} <= set(listed)
    assert org.list_policies(Filter="TAG_POLICY")["Policies"] == []

    assert denied(org.create_policy, Name=f"{unique}-scp", Description="", Type=SCP, Content=content)[0] == \
        "DuplicatePolicyException"
    with_principal = document({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"})
    code, _, message = denied(org.create_policy, Name=f"{unique}-bad", Description="", Type=SCP,
                              Content=with_principal)
    assert code == "MalformedPolicyDocumentException" and "principal" in message.lower()
    assert denied(org.create_policy, Name=f"{unique}-bad", Description="", Type=SCP, Content="{not json")[0] == \
        "MalformedPolicyDocumentException"
    huge = document(*[{"Effect": "Deny", "Action": f"ec2:Action{index:04d}", "Resource": "*"}
                      for index in range(120)])
    code, _, _ = denied(org.create_policy, Name=f"{unique}-big", Description="", Type=SCP, Content=huge)
    assert code == "ConstraintViolationException"
    # through the API whitespace counts too ("Quotas for AWS Organizations": only the console strips it)
    code, _, _ = denied(org.create_policy, Name=f"{unique}-big", Description="", Type=SCP,
                        Content=content + " " * 5120)
    assert code == "ConstraintViolationException"
    assert denied(org.create_policy, Name=f"{unique}-tag", Description="", Type="TAG_POLICY", Content="{}")[0] == \
        "PolicyTypeNotAvailableForOrganizationException"
    assert f"{unique}-bad" not in [p["Name"] for p in org.list_policies(Filter=SCP)["Policies"]]

    updated = org.update_policy(PolicyId=summary["Id"], Description="still none")["Policy"]
    assert updated["PolicySummary"]["Description"] == "still none" and updated["Content"] == content
    assert denied(org.update_policy, PolicyId=summary["Id"], Content=with_principal)[0] == \
        "MalformedPolicyDocumentException"
    assert org.describe_policy(PolicyId=summary["Id"])["Policy"]["Content"] == content
    org.delete_policy(PolicyId=summary["Id"])
    assert denied(org.describe_policy, PolicyId=summary["Id"])[0] == "PolicyNotFoundException"
    assert denied(org.delete_policy, PolicyId=summary["Id"])[0] == "PolicyNotFoundException"


def test_scps_govern_member_accounts_only(cloudlet: CloudletProcess, org: Any, unique: str,
                                         scps_enabled: str) -> None:
    root = scps_enabled
    account, member_root = member_account(cloudlet, f"{unique} member")
    member_iam = cloudlet.client("iam", member_root)
    member_iam.create_user(UserName="admin")
    member_iam.attach_user_policy(UserName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = member_iam.create_access_key(UserName="admin")["AccessKey"]
    admin = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    cloudlet.client("ec2", admin).describe_availability_zones()  # FullAWSAccess everywhere: nothing changes

    unit = org.create_organizational_unit(ParentId=root, Name=f"{unique}-sandbox")["OrganizationalUnit"]["Id"]
    org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=unit)
    deny_ec2 = org.create_policy(Name=f"{unique}-no-ec2", Description="", Type=SCP, Content=document(
        {"Sid": "NoEc2", "Effect": "Deny", "Action": "ec2:*", "Resource": "*"}))["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=deny_ec2, TargetId=unit)
    assert denied(org.attach_policy, PolicyId=deny_ec2, TargetId=unit)[0] == \
        "DuplicatePolicyAttachmentException"
    assert denied(org.delete_policy, PolicyId=deny_ec2)[0] == "PolicyInUseException"
    for who in (admin, member_root):
        code, status, message = denied(cloudlet.client("ec2", who).describe_availability_zones)
        assert (code, status) == ("UnauthorizedOperation", 403)
        assert "explicit deny in a service control policy" in message
    assert cloudlet.client("sts", admin).get_caller_identity()["Account"] == account
    member_iam.list_users()  # only EC2 is denied
    cloudlet.client("ec2").describe_availability_zones()  # the management account is never governed

    simulated = cloudlet.client("iam", admin).simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{account}:user/admin",
        ActionNames=["ec2:DescribeAvailabilityZones", "iam:ListUsers"])["EvaluationResults"]
    assert [(r["EvalDecision"], r["OrganizationsDecisionDetail"]["AllowedByOrganizations"])
            for r in simulated] == [("explicitDeny", False), ("allowed", True)]

    # an OU that allows only IAM: the account's EC2 is no longer allowed by every level
    org.update_policy(PolicyId=deny_ec2, Content=document(
        {"Sid": "OnlyIam", "Effect": "Allow", "Action": ["iam:*", "sts:*"], "Resource": "*"}))
    org.detach_policy(PolicyId=FULL, TargetId=unit)
    code, _, message = denied(cloudlet.client("ec2", admin).describe_availability_zones)
    assert code == "UnauthorizedOperation" and "no service control policy allows" in message
    member_iam.list_users()
    assert denied(org.detach_policy, PolicyId=FULL, TargetId=unit)[0] == "PolicyNotAttachedException"
    assert denied(org.detach_policy, PolicyId=deny_ec2, TargetId=unit)[0] == "ConstraintViolationException"

    # moved back to the root, the account is governed by the root's FullAWSAccess again
    org.move_account(AccountId=account, SourceParentId=unit, DestinationParentId=root)
    cloudlet.client("ec2", admin).describe_availability_zones()
    assert [t["TargetId"] for t in org.list_targets_for_policy(PolicyId=deny_ec2)["Targets"]] == [unit]
    org.attach_policy(PolicyId=FULL, TargetId=unit)
    org.detach_policy(PolicyId=deny_ec2, TargetId=unit)
    assert org.list_targets_for_policy(PolicyId=deny_ec2)["Targets"] == []
    org.delete_policy(PolicyId=deny_ec2)
    org.delete_organizational_unit(OrganizationalUnitId=unit)
