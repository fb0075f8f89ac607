"""``decision.py``: what AWS adds to the policies, as enforcement and Simulate* both ask it."""

from __future__ import annotations

import json

import pytest

from controller.iam import policy
from controller.iam.decision import decide, needs_trust, reserved_by_aws

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"


def _policies(*statements: dict[str, object]) -> list[policy.Policy]:
    return [policy.parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))]


@pytest.mark.parametrize(("action", "resource", "refused"), [
    ("iam:CreatePolicyVersion", "arn:aws:iam::aws:policy/AdministratorAccess", True),
    ("IAM:DeletePolicy", "arn:aws:iam::aws:policy/service-role/AWSLambdaRole", True),
    ("iam:GetPolicy", "arn:aws:iam::aws:policy/AdministratorAccess", False),
    ("iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/aws/Mine", False),
    ("iam:DeleteRole", f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_A_1", True),
    ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_A_1", True),
    ("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_A_1", False),
    ("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
     True),
    ("iam:UpdateRoleDescription",
     f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS", False),
    ("iam:DeleteRole", f"arn:aws:iam::{ACCOUNT}:role/teams/aws-reserved/x", False),
    ("iam:DeleteRole", "*", False),
    ("s3:DeleteBucket", "arn:aws:s3:::aws-reserved", False),
])
def test_what_aws_reserves(action: str, resource: str, refused: bool) -> None:
    """IAM User Guide, "AWS managed policies" and "Using service-linked roles"; IAM Identity Center's roles."""
    assert (reserved_by_aws(action, resource) is not None) is refused


def test_trust_is_needed_only_for_trust_actions_on_roles() -> None:
    assert needs_trust("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/dev")
    assert needs_trust("STS:TagSession", f"arn:aws:iam::{ACCOUNT}:role/dev")
    assert not needs_trust("sts:AssumeRole", "*")
    assert not needs_trust("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/dev")


def test_get_caller_identity_passes_even_an_scp_deny() -> None:
    """STS API reference, GetCallerIdentity: no permissions are required, an explicit deny does not stop it."""
    deny_all = _policies({"Effect": "Deny", "Action": "*", "Resource": "*"})
    policies = policy.PolicySet(identity=deny_all, scps=[deny_all])
    request = policy.EvaluationRequest(action="sts:GetCallerIdentity", principal_arn=ALICE, principal_account=ACCOUNT)
    assert decide(request, policies).decision == policy.ALLOWED
    other = policy.EvaluationRequest(action="sts:GetAccessKeyInfo", principal_arn=ALICE, principal_account=ACCOUNT)
    assert decide(other, policies).decision == policy.EXPLICIT_DENY


def test_assume_role_needs_the_trust_policy_even_when_the_request_does_not_say_so() -> None:
    identity = _policies({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    request = policy.EvaluationRequest(action="sts:AssumeRole", resource=f"arn:aws:iam::{ACCOUNT}:role/dev",
                                       principal_arn=ALICE, principal_account=ACCOUNT)
    assert decide(request, policy.PolicySet(identity=identity)).decision == policy.IMPLICIT_DENY
    trust = [policy.parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}),
        source_type="resource")]
    assert decide(request, policy.PolicySet(identity=identity, resource=trust)).decision == policy.ALLOWED


def test_principal_org_keys_in_the_request_context() -> None:
    """IAM User Guide, global condition keys: aws:PrincipalOrgID and the list aws:PrincipalOrgPaths."""
    facts = policy.CallerFacts(account_id=ACCOUNT, arn=ALICE, kind="user", name="alice",
                               principal_org_id="o-abcdefghij",
                               principal_org_paths=("o-abcdefghij/r-ab12/ou-ab12-11111111/",))
    context = policy.global_context(facts)
    assert context["aws:PrincipalOrgID"] == "o-abcdefghij"
    assert context["aws:PrincipalOrgPaths"] == ["o-abcdefghij/r-ab12/ou-ab12-11111111/"]
    assert "aws:PrincipalOrgPaths" not in policy.global_context(policy.CallerFacts(account_id=ACCOUNT, arn=ALICE,
                                                                                   kind="user"))
