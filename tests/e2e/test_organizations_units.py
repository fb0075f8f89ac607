"""Organizational units over HTTP: the tree under the root, moving accounts, and AWS's errors.

Errors follow the Organizations API reference of each operation (CreateOrganizationalUnit,
DeleteOrganizationalUnit, MoveAccount, ListParents...); lists page with NextToken.
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.helpers import denied, member_account
from tests.support import CloudletProcess

MISSING_OU = "ou-zzzz-zzzzzzzz"


def _root(org: Any) -> dict[str, Any]:
    [root] = org.list_roots()["Roots"]
    return root


def test_the_root_and_its_units(cloudlet: CloudletProcess, org: Any, unique: str) -> None:
    root = _root(org)
    organization = org.describe_organization()["Organization"]
    assert root["Id"].startswith("r-") and root["Name"] == "Root"
    assert root["Arn"] == f"arn:aws:organizations::{cloudlet.account_id}:root/{organization['Id']}/{root['Id']}"

    team = org.create_organizational_unit(ParentId=root["Id"], Name=f"{unique}-team",
                                          Tags=[{"Key": "cost", "Value": "1"}])["OrganizationalUnit"]
    assert team["Id"].startswith(f"ou-{root['Id'][2:]}-")
    assert team["Path"] == f"{organization['Id']}/{root['Id']}/{team['Id']}/"
    assert team["Arn"] == f"arn:aws:organizations::{cloudlet.account_id}:ou/{organization['Id']}/{team['Id']}"
    inner = org.create_organizational_unit(ParentId=team["Id"], Name="inner")["OrganizationalUnit"]
    assert inner["Path"] == f"{organization['Id']}/{root['Id']}/{team['Id']}/{inner['Id']}/"
    assert org.describe_organizational_unit(OrganizationalUnitId=inner["Id"])["OrganizationalUnit"] == inner

    assert denied(org.create_organizational_unit, ParentId=root["Id"], Name=f"{unique}-TEAM")[0] == \
        "DuplicateOrganizationalUnitException"
    assert denied(org.create_organizational_unit, ParentId=MISSING_OU, Name="x")[0] == "ParentNotFoundException"
    assert denied(org.list_children, ParentId=MISSING_OU, ChildType="ACCOUNT")[0] == "ParentNotFoundException"
    code, _, _ = denied(org.create_organizational_unit, ParentId="nonsense", Name="x")
    assert code == "InvalidInputException"

    renamed = org.update_organizational_unit(OrganizationalUnitId=inner["Id"], Name="renamed")["OrganizationalUnit"]
    assert (renamed["Id"], renamed["Name"]) == (inner["Id"], "renamed")
    children = org.list_children(ParentId=team["Id"], ChildType="ORGANIZATIONAL_UNIT")["Children"]
    assert children == [{"Id": inner["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    assert org.list_parents(ChildId=inner["Id"])["Parents"] == [{"Id": team["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    assert org.list_parents(ChildId=team["Id"])["Parents"] == [{"Id": root["Id"], "Type": "ROOT"}]
    assert denied(org.list_parents, ChildId=MISSING_OU)[0] == "ChildNotFoundException"

    code, _, message = denied(org.delete_organizational_unit, OrganizationalUnitId=team["Id"])
    assert code == "OrganizationalUnitNotEmptyException" and "not empty" in message
    org.delete_organizational_unit(OrganizationalUnitId=inner["Id"])
    assert denied(org.describe_organizational_unit, OrganizationalUnitId=inner["Id"])[0] == \
        "OrganizationalUnitNotFoundException"
    org.delete_organizational_unit(OrganizationalUnitId=team["Id"])
    assert denied(org.delete_organizational_unit, OrganizationalUnitId=team["Id"])[0] == \
        "OrganizationalUnitNotFoundException"


def test_move_an_account_between_parents(org: Any, unique: str) -> None:
    root = _root(org)["Id"]
    account = org.create_account(AccountName=f"{unique}-mv", Email=f"{unique}-mv@example.com")[
        "CreateAccountStatus"]["AccountId"]
    unit = org.create_organizational_unit(ParentId=root, Name=f"{unique}-dest")["OrganizationalUnit"]["Id"]
    assert {"Id": account, "Type": "ACCOUNT"} in [
        child for page in org.get_paginator("list_children").paginate(ParentId=root, ChildType="ACCOUNT")
        for child in page["Children"]]
    assert org.list_parents(ChildId=account)["Parents"] == [{"Id": root, "Type": "ROOT"}]

    code = denied(org.move_account, AccountId=account, SourceParentId=MISSING_OU, DestinationParentId=unit)[0]
    assert code == "SourceParentNotFoundException"
    code = denied(org.move_account, AccountId=account, SourceParentId=root, DestinationParentId=MISSING_OU)[0]
    assert code == "DestinationParentNotFoundException"
    code = denied(org.move_account, AccountId="000000000000", SourceParentId=root, DestinationParentId=unit)[0]
    assert code == "AccountNotFoundException"
    code = denied(org.move_account, AccountId=account, SourceParentId=root, DestinationParentId=root)[0]
    assert code == "DuplicateAccountException"

    org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=unit)
    assert org.list_parents(ChildId=account)["Parents"] == [{"Id": unit, "Type": "ORGANIZATIONAL_UNIT"}]
    in_unit = org.list_accounts_for_parent(ParentId=unit)["Accounts"]
    assert [(a["Id"], a["Name"]) for a in in_unit] == [(account, f"{unique}-mv")]
    assert account not in [a["Id"] for page in org.get_paginator("list_accounts_for_parent").paginate(ParentId=root)
                           for a in page["Accounts"]]
    code = denied(org.move_account, AccountId=account, SourceParentId=root, DestinationParentId=unit)[0]
    assert code == "DuplicateAccountException"
    # the account is no longer in the root: moving "from the root" names the wrong source
    other = org.create_organizational_unit(ParentId=root, Name=f"{unique}-other")["OrganizationalUnit"]["Id"]
    code = denied(org.move_account, AccountId=account, SourceParentId=root, DestinationParentId=other)[0]
    assert code == "SourceParentNotFoundException"
    assert denied(org.delete_organizational_unit, OrganizationalUnitId=unit)[0] == \
        "OrganizationalUnitNotEmptyException"

    org.move_account(AccountId=account, SourceParentId=unit, DestinationParentId=root)
    assert org.list_accounts_for_parent(ParentId=unit)["Accounts"] == []
    org.delete_organizational_unit(OrganizationalUnitId=unit)
    org.delete_organizational_unit(OrganizationalUnitId=other)


def test_units_page_with_next_token(org: Any, unique: str) -> None:
    root = _root(org)["Id"]
    parent = org.create_organizational_unit(ParentId=root, Name=f"{unique}-pages")["OrganizationalUnit"]["Id"]
    made = {org.create_organizational_unit(ParentId=parent, Name=f"u{index}")["OrganizationalUnit"]["Id"]
            for index in range(5)}
    first = org.list_organizational_units_for_parent(ParentId=parent, MaxResults=2)
    assert len(first["OrganizationalUnits"]) == 2 and first["NextToken"]
    # a unit deleted between pages does not shift the next page (the token is a position)
    org.delete_organizational_unit(OrganizationalUnitId=first["OrganizationalUnits"][0]["Id"])
    rest = org.list_organizational_units_for_parent(ParentId=parent, NextToken=first["NextToken"], MaxResults=20)
    seen = [u["Id"] for u in first["OrganizationalUnits"]] + [u["Id"] for u in rest["OrganizationalUnits"]]
    assert set(seen) == made and len(seen) == 5 and "NextToken" not in rest
    paged = [child["Id"] for page in org.get_paginator("list_children").paginate(
        ParentId=parent, ChildType="ORGANIZATIONAL_UNIT", PaginationConfig={"PageSize": 1})
        for child in page["Children"]]
    assert sorted(paged) == sorted(made - {first["OrganizationalUnits"][0]["Id"]})
    code, _, _ = denied(org.list_organizational_units_for_parent, ParentId=parent, NextToken="garbage")
    assert code == "InvalidInputException"
    for unit in paged:
        org.delete_organizational_unit(OrganizationalUnitId=unit)
    org.delete_organizational_unit(OrganizationalUnitId=parent)


def test_member_accounts_cannot_manage_the_tree(cloudlet: CloudletProcess, org: Any, unique: str) -> None:
    _, member_root = member_account(cloudlet, f"{unique}-m")
    member_org = cloudlet.client("organizations", member_root)
    code, status, _ = denied(member_org.list_roots)
    assert (code, status) == ("AccessDeniedException", 400)
    assert denied(member_org.create_organizational_unit, ParentId=_root(org)["Id"], Name="x")[0] == \
        "AccessDeniedException"


def test_tags_on_the_root_units_accounts_and_policies(org: Any, unique: str) -> None:
    root = _root(org)["Id"]
    unit = org.create_organizational_unit(ParentId=root, Name=f"{unique}-tagged",
                                          Tags=[{"Key": "team", "Value": "a"}])["OrganizationalUnit"]["Id"]
    assert org.list_tags_for_resource(ResourceId=unit)["Tags"] == [{"Key": "team", "Value": "a"}]
    org.tag_resource(ResourceId=unit, Tags=[{"Key": "team", "Value": "b"}, {"Key": "cost", "Value": "7"}])
    assert sorted((t["Key"], t["Value"]) for t in org.list_tags_for_resource(ResourceId=unit)["Tags"]) == [
        ("cost", "7"), ("team", "b")]
    org.untag_resource(ResourceId=unit, TagKeys=["cost", "absent"])
    assert org.list_tags_for_resource(ResourceId=unit)["Tags"] == [{"Key": "team", "Value": "b"}]
    code, _, _ = denied(org.tag_resource, ResourceId=unit, Tags=[{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}])
    assert code == "InvalidInputException"
    code, _, _ = denied(org.tag_resource, ResourceId=unit, Tags=[{"Key": f"k{i}", "Value": ""} for i in range(50)])
    assert code == "ConstraintViolationException"
    assert len(org.list_tags_for_resource(ResourceId=unit)["Tags"]) == 1  # nothing of the refused call stays
    assert denied(org.list_tags_for_resource, ResourceId=MISSING_OU)[0] == "TargetNotFoundException"
    assert denied(org.tag_resource, ResourceId="p-FullAWSAccess", Tags=[{"Key": "k", "Value": "v"}])[0] == \
        "InvalidInputException"

    account = org.create_account(AccountName=f"{unique}-tags", Email=f"{unique}-tags@example.com",
                                 Tags=[{"Key": "env", "Value": "dev"}])["CreateAccountStatus"]["AccountId"]
    assert org.list_tags_for_resource(ResourceId=account)["Tags"] == [{"Key": "env", "Value": "dev"}]
    policy = org.create_policy(Name=f"{unique}-tags", Description="", Type="SERVICE_CONTROL_POLICY",
                               Content='{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*",'
                                       '"Resource":"*"}]}', Tags=[{"Key": "owner", "Value": "sec"}])
    policy_id = policy["Policy"]["PolicySummary"]["Id"]
    assert org.list_tags_for_resource(ResourceId=policy_id)["Tags"] == [{"Key": "owner", "Value": "sec"}]
    org.tag_resource(ResourceId=root, Tags=[{"Key": f"{unique}", "Value": "root"}])
    assert {"Key": unique, "Value": "root"} in org.list_tags_for_resource(ResourceId=root)["Tags"]
    org.untag_resource(ResourceId=root, TagKeys=[unique])

    org.delete_policy(PolicyId=policy_id)
    org.delete_organizational_unit(OrganizationalUnitId=unit)
    # the tags went with the OU
    assert denied(org.list_tags_for_resource, ResourceId=unit)[0] == "TargetNotFoundException"


def test_bucket_policies_see_the_callers_organization(cloudlet: CloudletProcess, org: Any, unique: str) -> None:
    """IAM User Guide, "AWS global condition context keys": aws:PrincipalOrgID and aws:PrincipalOrgPaths."""
    root = _root(org)["Id"]
    org_id = org.describe_organization()["Organization"]["Id"]
    account, member_root = member_account(cloudlet, f"{unique} reader")
    unit = org.create_organizational_unit(ParentId=root, Name=f"{unique}-readers")["OrganizationalUnit"]["Id"]
    s3 = cloudlet.client("s3")
    bucket = f"{unique}-org-shared"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in-org", Body=b"for the organization")
    s3.put_object(Bucket=bucket, Key="in-unit", Body=b"for one OU")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Org", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/in-org", "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}}},
        {"Sid": "Unit", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/in-unit",
         "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": f"{org_id}/{root}/{unit}/*"}}}]}))
    reader = cloudlet.client("s3", member_root)
    try:
        assert reader.get_object(Bucket=bucket, Key="in-org")["Body"].read() == b"for the organization"
        assert denied(reader.get_object, Bucket=bucket, Key="in-unit")[0] == "AccessDenied"
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=unit)
        assert reader.get_object(Bucket=bucket, Key="in-unit")["Body"].read() == b"for one OU"
        org.move_account(AccountId=account, SourceParentId=unit, DestinationParentId=root)
        assert denied(reader.get_object, Bucket=bucket, Key="in-unit")[0] == "AccessDenied"
    finally:
        for key in ("in-org", "in-unit"):
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)
    org.delete_organizational_unit(OrganizationalUnitId=unit)
