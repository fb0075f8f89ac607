"""The AWS managed policies shipped as package data, checked with the policy engine."""

from __future__ import annotations

import pytest

from controller.iam import policy
from controller.iam.aws_managed import aws_managed_policies, aws_managed_policy, is_aws_managed_arn

EXPECTED = {"AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess", "IAMFullAccess", "AmazonS3FullAccess",
            "AmazonEC2FullAccess", "AmazonVPCFullAccess", "AmazonSQSFullAccess", "AmazonSNSFullAccess",
            "AWSLambda_FullAccess"}


def decide(name: str, action: str, resource: str = "*") -> str:
    document = aws_managed_policy(f"arn:aws:iam::aws:policy/{name}", "aws")
    assert document is not None
    attached = policy.parse_policy(document.document, policy_id=name, source_type="aws-managed")
    return policy.evaluate(policy.EvaluationRequest(action=action, resource=resource,
                                                    principal_arn="arn:aws:iam::111122223333:user/u",
                                                    principal_account="111122223333"),
                           policy.PolicySet(identity=[attached])).decision


def test_every_policy_is_shipped_with_a_valid_document() -> None:
    shipped = aws_managed_policies()
    assert {p.name for p in shipped.values()} >= EXPECTED
    for managed in shipped.values():
        assert managed.policy_id.startswith("ANPA") and len(managed.policy_id) == 21
        assert managed.arn("aws") == f"arn:aws:iam::aws:policy{managed.path}{managed.name}"
        policy.compile_document(managed.document)
    assert len({p.policy_id for p in shipped.values()}) == len(shipped)


def test_lookup_by_arn() -> None:
    assert aws_managed_policy("arn:aws:iam::aws:policy/AdministratorAccess", "aws").name == "AdministratorAccess"
    assert aws_managed_policy("arn:aws:iam::aws:policy/Nope", "aws") is None
    assert aws_managed_policy("arn:aws-cn:iam::aws:policy/AdministratorAccess", "aws") is None
    assert is_aws_managed_arn("arn:aws:iam::aws:policy/X") and not is_aws_managed_arn("arn:aws:iam::1:policy/X")


@pytest.mark.parametrize(("name", "action", "expected"), [
    ("AdministratorAccess", "iam:CreateUser", "allowed"),
    ("ReadOnlyAccess", "ec2:DescribeRegions", "allowed"),
    ("ReadOnlyAccess", "iam:ListUsers", "allowed"),
    ("ReadOnlyAccess", "s3:GetObject", "allowed"),
    ("ReadOnlyAccess", "iam:CreateUser", "implicitDeny"),
    ("ReadOnlyAccess", "ec2:RunInstances", "implicitDeny"),
    ("ReadOnlyAccess", "s3:PutObject", "implicitDeny"),
    ("PowerUserAccess", "ec2:RunInstances", "allowed"),
    ("PowerUserAccess", "iam:CreateUser", "implicitDeny"),
    ("PowerUserAccess", "iam:ListRoles", "allowed"),
    ("IAMFullAccess", "iam:CreateUser", "allowed"),
    ("IAMFullAccess", "ec2:DescribeRegions", "implicitDeny"),
    ("AmazonS3FullAccess", "s3:PutObject", "allowed"),
    ("AmazonEC2FullAccess", "ec2:RunInstances", "allowed"),
    ("AmazonVPCFullAccess", "ec2:CreateVpc", "allowed"),
    ("AmazonSQSFullAccess", "sqs:SendMessage", "allowed"),
    ("AmazonSNSFullAccess", "sns:Publish", "allowed"),
    ("AWSLambda_FullAccess", "lambda:InvokeFunction", "allowed"),
])
def test_documents_grant_what_their_names_say(name: str, action: str, expected: str) -> None:
    assert decide(name, action) == expected
