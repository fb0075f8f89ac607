"""Organizations over HTTP and `cloudlet account create`: member accounts a tenant sets up with boto3."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

from tests.e2e.helpers import Cleanup, allow, denied, document, new_user
from tests.support import REPO, CloudletProcess, Credentials


def test_create_account_and_assume_its_access_role(cloudlet: CloudletProcess, iam: Any, unique: str,
                                                   cleanup: Cleanup) -> None:
    org = cloudlet.client("organizations")
    status = org.create_account(AccountName=f"{unique}-team", Email=f"{unique}@example.com")["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED" and status["Id"].startswith("car-")
    account = status["AccountId"]
    assert org.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"] == status
    described = org.describe_account(AccountId=account)["Account"]
    organization = org.describe_organization()["Organization"]
    assert described["Arn"] == (f"arn:aws:organizations::{cloudlet.account_id}:account/{organization['Id']}/"
                                f"{account}")
    assert (described["Name"], described["Status"], described["JoinedMethod"]) == (f"{unique}-team", "ACTIVE",
                                                                                   "CREATED")
    assert organization["MasterAccountId"] == cloudlet.account_id
    listed = [a["Id"] for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]]
    assert {cloudlet.account_id, account} <= set(listed)

    duplicate = org.create_account(AccountName="again", Email=f"{unique}@EXAMPLE.com")["CreateAccountStatus"]
    assert (duplicate["State"], duplicate["FailureReason"]) == ("FAILED", "EMAIL_ALREADY_EXISTS")
    assert denied(org.describe_account, AccountId="000000000000")[0] == "AccountNotFoundException"

    # an administrator of the management account sets the tenant up through the access role
    admin = new_user(iam, cleanup, f"{unique}-orgadmin")
    iam.put_user_policy(UserName=f"{unique}-orgadmin", PolicyName="Assume",
                        PolicyDocument=document(allow("sts:AssumeRole")))
    role_arn = f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
    session = cloudlet.client("sts", admin).assume_role(RoleArn=role_arn, RoleSessionName="setup")["Credentials"]
    tenant = Credentials(session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])
    tenant_iam = cloudlet.client("iam", tenant)
    role = tenant_iam.get_role(RoleName="OrganizationAccountAccessRole")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "AWS": f"arn:aws:iam::{cloudlet.account_id}:root"}
    assert [p["PolicyName"] for p in tenant_iam.list_attached_role_policies(
        RoleName="OrganizationAccountAccessRole")["AttachedPolicies"]] == ["AdministratorAccess"]
    tenant_iam.create_user(UserName=f"{unique}-local")
    assert f"{unique}-local" not in [u["UserName"] for u in iam.list_users()["Users"]]  # accounts are apart
    # a member account manages no accounts
    member_org = cloudlet.client("organizations", tenant)
    code, _, message = denied(member_org.list_accounts)
    assert code == "AccessDeniedException" and "don't have permissions" in message
    assert member_org.describe_organization()["Organization"]["Id"] == organization["Id"]


def test_only_allowed_principals_create_accounts(cloudlet: CloudletProcess, iam: Any, unique: str,
                                                 cleanup: Cleanup) -> None:
    plain = new_user(iam, cleanup, f"{unique}-plain")
    org = cloudlet.client("organizations", plain)
    code, status, message = denied(org.create_account, AccountName="nope", Email=f"{unique}-n@example.com")
    assert (code, status) == ("AccessDeniedException", 400)
    assert "organizations:CreateAccount" in message


def test_cli_account_create_prints_a_root_key(cloudlet: CloudletProcess, unique: str) -> None:
    out = subprocess.run([sys.executable, "-m", "controller.cli", "account", "create", f"{unique} cli",
                          "--data-dir", str(cloudlet.data_dir)], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    account = re.search(r"account (\d{12})", out).group(1)
    key_id = re.search(r"aws_access_key_id = (\S+)", out).group(1)
    secret = re.search(r"aws_secret_access_key = (\S+)", out).group(1)
    identity = cloudlet.client("sts", Credentials(key_id, secret)).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{account}:root"
    names = [a["Name"] for a in cloudlet.client("organizations").list_accounts()["Accounts"]]
    assert f"{unique} cli" in names
    again = subprocess.run([sys.executable, "-m", "controller.cli", "account", "create", f"{unique} cli",
                            "--data-dir", str(cloudlet.data_dir)], cwd=REPO, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 1 and "EMAIL_ALREADY_EXISTS" in again.stderr
