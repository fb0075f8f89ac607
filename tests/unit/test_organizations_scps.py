"""SCPs in-process: which levels govern an account, and that every Organizations change is seen at once.

Organizations operations run as plain functions against a cloud in a temporary
directory, and enforcement (``check_action``) is asked after each change: the cached
SCP levels must never outlive the change that made them wrong (Organizations User
Guide, "SCP evaluation": every level from the root down to the account must allow).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import controller.organizations as organizations
from controller.api import Principal, RequestContext
from controller.cloud import Cloud
from controller.config import Config
from controller.errors import ServiceError
from controller.iam.decision import scp_levels
from controller.iam.enforce import check_action
from controller.organizations.accounts import create_member_account
from controller.organizations.common import page
from controller.organizations.scps import FULL_AWS_ACCESS_ID

SCP = "SERVICE_CONTROL_POLICY"


def root_user(account: str) -> Principal:
    return Principal(account_id=account, arn=f"arn:aws:iam::{account}:root", kind="root", user_id=account)


class Org:
    """The management account calling Organizations, and enforcement asked about any account."""

    def __init__(self, cloud: Cloud, management: str) -> None:
        self.cloud = cloud
        self.management = management

    def context(self, service: str, operation: str, account: str) -> RequestContext:
        return RequestContext(cloud=self.cloud, service=service, operation=operation, request_id="req-test",
                              region=self.cloud.config.region, principal=root_user(account))

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        ctx = self.context("organizations", operation, self.management)
        return organizations.api.operations[operation].handler(ctx, params)

    def refused(self, operation: str, code: str, **params: Any) -> None:
        with pytest.raises(ServiceError) as excinfo:
            self.call(operation, **params)
        assert excinfo.value.code == code, excinfo.value.message

    def may(self, account: str, action: str = "ec2:DescribeVpcs") -> bool:
        try:
            check_action(self.context(action.split(":")[0], action.split(":")[1], account), action, ["*"])
        except ServiceError:
            return False
        return True

    def scp(self, name: str, *statements: dict[str, Any]) -> str:
        content = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
        return self.call("CreatePolicy", Name=name, Description="", Type=SCP, Content=content)[
            "Policy"]["PolicySummary"]["Id"]


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Org]:
    cloud = Cloud(Config(data_dir=tmp_path / "data"))
    management = cloud.credentials.create_account("management", "m@example.com", is_management=True)
    yield Org(cloud, management)
    cloud.close()


def _member(org: Org, name: str) -> str:
    return create_member_account(org.cloud, name, f"{name}@example.com")["account_id"]


def test_levels_follow_the_tree_and_skip_the_management_account(org: Org) -> None:
    member = _member(org, "member")
    assert scp_levels(org.cloud, member) is None  # SCPs not enabled yet
    root = org.call("ListRoots")["Roots"][0]["Id"]
    org.call("EnablePolicyType", RootId=root, PolicyType=SCP)
    assert scp_levels(org.cloud, org.management) is None
    levels = scp_levels(org.cloud, member)
    assert [[p.policy_id for p in level] for level in levels] == [[FULL_AWS_ACCESS_ID], [FULL_AWS_ACCESS_ID]]

    outer = org.call("CreateOrganizationalUnit", ParentId=root, Name="outer")["OrganizationalUnit"]["Id"]
    inner = org.call("CreateOrganizationalUnit", ParentId=outer, Name="inner")["OrganizationalUnit"]["Id"]
    org.call("MoveAccount", AccountId=member, SourceParentId=root, DestinationParentId=inner)
    extra = org.scp("extra", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    org.call("AttachPolicy", PolicyId=extra, TargetId=outer)
    levels = scp_levels(org.cloud, member)
    assert [sorted(p.policy_id for p in level) for level in levels] == [
        [FULL_AWS_ACCESS_ID], sorted([FULL_AWS_ACCESS_ID, extra]), [FULL_AWS_ACCESS_ID], [FULL_AWS_ACCESS_ID]]


def test_enforcement_sees_every_change_at_once(org: Org) -> None:
    member = _member(org, "member")
    root = org.call("ListRoots")["Roots"][0]["Id"]
    deny = org.scp("no-ec2", {"Effect": "Deny", "Action": "ec2:*", "Resource": "*"})
    assert org.may(member)
    org.refused("AttachPolicy", "PolicyTypeNotEnabledException", PolicyId=deny, TargetId=member)

    org.call("EnablePolicyType", RootId=root, PolicyType=SCP)
    assert org.may(member)  # FullAWSAccess everywhere
    org.call("AttachPolicy", PolicyId=deny, TargetId=member)
    assert not org.may(member) and org.may(member, "s3:ListAllMyBuckets")
    org.call("AttachPolicy", PolicyId=deny, TargetId=org.management)
    assert org.may(org.management)  # never the management account

    org.call("UpdatePolicy", PolicyId=deny, Content=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}))
    assert org.may(member) and not org.may(member, "s3:ListAllMyBuckets")
    org.call("DetachPolicy", PolicyId=deny, TargetId=member)
    assert org.may(member, "s3:ListAllMyBuckets")

    unit = org.call("CreateOrganizationalUnit", ParentId=root, Name="locked")["OrganizationalUnit"]["Id"]
    org.call("AttachPolicy", PolicyId=deny, TargetId=unit)
    org.call("MoveAccount", AccountId=member, SourceParentId=root, DestinationParentId=unit)
    assert not org.may(member, "s3:ListAllMyBuckets")
    # an OU that allows only IAM: EC2 is no longer allowed at every level (an implicit deny)
    org.call("DetachPolicy", PolicyId=FULL_AWS_ACCESS_ID, TargetId=unit)
    assert not org.may(member)
    org.call("MoveAccount", AccountId=member, SourceParentId=unit, DestinationParentId=root)
    assert org.may(member) and org.may(member, "s3:ListAllMyBuckets")
    org.call("MoveAccount", AccountId=member, SourceParentId=root, DestinationParentId=unit)
    org.call("DisablePolicyType", RootId=root, PolicyType=SCP)
    assert org.may(member) and org.may(member, "s3:ListAllMyBuckets")
    assert org.call("ListPoliciesForTarget", TargetId=unit, Filter=SCP)["Policies"] == []


def test_accounts_created_later_get_full_aws_access(org: Org) -> None:
    root = org.call("ListRoots")["Roots"][0]["Id"]
    org.call("EnablePolicyType", RootId=root, PolicyType=SCP)
    member = _member(org, "later")
    assert [p["Id"] for p in org.call("ListPoliciesForTarget", TargetId=member, Filter=SCP)["Policies"]] == [
        FULL_AWS_ACCESS_ID]
    assert org.may(member)


def test_pages_are_positions() -> None:
    items = [{"Id": name} for name in ("c", "a", "e", "b", "d")]
    first, token = page(items, {"MaxResults": 2}, lambda item: item["Id"])
    assert [item["Id"] for item in first] == ["a", "b"]
    remaining = [item for item in items if item["Id"] != "a"]  # deleted between the two calls
    second, token2 = page(remaining, {"MaxResults": 2, **token}, lambda item: item["Id"])
    assert [item["Id"] for item in second] == ["c", "d"]
    last, end = page(remaining, {"MaxResults": 2, **token2}, lambda item: item["Id"])
    assert [item["Id"] for item in last] == ["e"] and end == {}
    with pytest.raises(ServiceError) as excinfo:
        page(items, {"NextToken": "bm90IGpzb24="}, lambda item: item["Id"])
    assert (excinfo.value.code, excinfo.value.extra["Reason"]) == ("InvalidInputException", "INVALID_NEXT_TOKEN")
