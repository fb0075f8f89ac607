"""Simulate* and enforcement give the same answer to the same request, over HTTP.

Both take what AWS adds to the policies from one place (controller/iam/decision.py);
each test asks the simulator, then makes the real call, and expects the same decision:

- STS API reference, GetCallerIdentity: "No permissions are required to perform this
  operation", even under an explicit deny; IAM User Guide, "Permissions for
  GetSessionToken": policies cannot control authentication operations;
- IAM User Guide, "AWS managed policies": they cannot be changed; IAM Identity Center's
  roles under ``/aws-reserved/`` cannot be created or changed by the account;
- STS API reference, AssumeRole, and IAM User Guide "Policy evaluation logic": the
  role's trust policy must allow the caller, even within the account.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions

from tests.e2e.helpers import Cleanup, allow, denied, deny, document, new_user
from tests.support import CloudletProcess


def _decisions(iam: Any, source: str, actions: list[str], **extra: Any) -> list[str]:
    results = iam.simulate_principal_policy(PolicySourceArn=source, ActionNames=actions, **extra)
    return [result["EvalDecision"] for result in results["EvaluationResults"]]


def test_authentication_calls_are_allowed_under_an_explicit_deny(cloudlet: CloudletProcess, iam: Any, unique: str,
                                                               cleanup: Cleanup) -> None:
    keys = new_user(iam, cleanup, f"{unique}-denied")
    iam.put_user_policy(UserName=f"{unique}-denied", PolicyName="NoThing", PolicyDocument=document(deny("*")))
    source = f"arn:aws:iam::{cloudlet.account_id}:user/{unique}-denied"
    assert _decisions(iam, source, ["sts:GetCallerIdentity", "sts:GetSessionToken", "sts:AssumeRole"]) == [
        "allowed", "allowed", "explicitDeny"]
    custom = iam.simulate_custom_policy(PolicyInputList=[document(deny("sts:*"))],
                                        ActionNames=["sts:GetCallerIdentity"])["EvaluationResults"]
    assert custom[0]["EvalDecision"] == "allowed"
    sts = cloudlet.client("sts", keys)
    assert sts.get_caller_identity()["Arn"] == source
    assert sts.get_session_token()["Credentials"]["AccessKeyId"].startswith("ASIA")
    role = f"arn:aws:iam::{cloudlet.account_id}:role/OrganizationAccountAccessRole"
    assert denied(sts.assume_role, RoleArn=role, RoleSessionName="sim")[0] == "AccessDenied"


def test_aws_managed_policies_and_reserved_roles_cannot_be_changed(cloudlet: CloudletProcess, iam: Any,
                                                                   unique: str, cleanup: Cleanup) -> None:
    keys = new_user(iam, cleanup, f"{unique}-admin")
    iam.attach_user_policy(UserName=f"{unique}-admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    source = f"arn:aws:iam::{cloudlet.account_id}:user/{unique}-admin"
    managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    reserved = f"arn:aws:iam::{cloudlet.account_id}:role/aws-reserved/sso.amazonaws.com/{unique}-sso"
    assert _decisions(iam, source, ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:GetPolicy"],
                      ResourceArns=[managed]) == ["implicitDeny", "implicitDeny", "allowed"]
    assert _decisions(iam, source, ["iam:CreateRole"], ResourceArns=[reserved]) == ["implicitDeny"]

    admin_iam = cloudlet.client("iam", keys)
    assert admin_iam.get_policy(PolicyArn=managed)["Policy"]["PolicyName"] == "ReadOnlyAccess"
    code, status, message = denied(admin_iam.create_policy_version, PolicyArn=managed,
                                   PolicyDocument=document(allow("s3:*")))
    assert (code, status) == ("AccessDenied", 403) and "managed by AWS" in message
    assert denied(admin_iam.delete_policy, PolicyArn=managed)[0] == "AccessDenied"
    # the account root user is refused as well: these belong to AWS, not to the account
    assert denied(iam.delete_policy, PolicyArn=managed)[0] == "AccessDenied"
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{cloudlet.account_id}:root"},
        "Action": "sts:AssumeRole"}]})
    code, _, message = denied(admin_iam.create_role, RoleName=f"{unique}-sso", AssumeRolePolicyDocument=trust,
                              Path="/aws-reserved/sso.amazonaws.com/")
    assert code == "AccessDenied" and "reserved by AWS" in message


def test_assume_role_in_the_same_account_needs_the_trust_policy(cloudlet: CloudletProcess, iam: Any, unique: str,
                                                                cleanup: Cleanup) -> None:
    account = cloudlet.account_id
    keys = new_user(iam, cleanup, f"{unique}-alice")
    new_user(iam, cleanup, f"{unique}-bob")
    alice = f"arn:aws:iam::{account}:user/{unique}-alice"
    role_arn = f"arn:aws:iam::{account}:role/{unique}-dev"

    def trusting(principal: str) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]})

    cleanup.roles.append(f"{unique}-dev")
    iam.create_role(RoleName=f"{unique}-dev", AssumeRolePolicyDocument=trusting(f"arn:aws:iam::{account}:root"))
    sts = cloudlet.client("sts", keys)

    def both() -> tuple[str, str]:
        [simulated] = _decisions(iam, alice, ["sts:AssumeRole"], ResourceArns=[role_arn])
        try:
            sts.assume_role(RoleArn=role_arn, RoleSessionName="sim")
            real = "allowed"
        except botocore.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == "AccessDenied", exc.response["Error"]
            real = "denied"
        return simulated, real

    # the trust policy names the account: the user still needs an identity allow
    assert both() == ("implicitDeny", "denied")
    iam.put_user_policy(UserName=f"{unique}-alice", PolicyName="Assume",
                        PolicyDocument=document(allow("sts:AssumeRole", role_arn)))
    assert both() == ("allowed", "allowed")
    # an identity allow alone is not enough when the trust policy names someone else
    iam.update_assume_role_policy(RoleName=f"{unique}-dev", PolicyDocument=trusting(
        f"arn:aws:iam::{account}:user/{unique}-bob"))
    assert both() == ("implicitDeny", "denied")
    # a trust policy naming the user grants on its own
    iam.delete_user_policy(UserName=f"{unique}-alice", PolicyName="Assume")
    iam.update_assume_role_policy(RoleName=f"{unique}-dev", PolicyDocument=trusting(alice))
    assert both() == ("allowed", "allowed")
