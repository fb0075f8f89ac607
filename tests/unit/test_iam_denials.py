"""How denials are worded and which error each service sends (controller/iam/denials.py)."""

from __future__ import annotations

import pytest

from controller.iam import policy
from controller.iam.denials import denial_error, describe_resource, reason, request_tags


def _result(decision: str, kind: str = policy.IDENTITY) -> policy.EvaluationResult:
    statement = policy.MatchedStatement("p", "user", kind, 0, None, "Deny", None, None)
    return policy.EvaluationResult(decision, (statement,) if decision == policy.EXPLICIT_DENY else ())


@pytest.mark.parametrize(("kind", "words"), [
    (policy.IDENTITY, "an identity-based policy"), (policy.RESOURCE, "a resource-based policy"),
    (policy.BOUNDARY, "a permissions boundary"), (policy.SESSION, "a session policy")])
def test_explicit_deny_names_the_kind_of_policy(kind: str, words: str) -> None:
    assert reason("iam:CreateUser", _result(policy.EXPLICIT_DENY, kind), policy.IDENTITY) == \
        f"with an explicit deny in {words}"


@pytest.mark.parametrize(("missing", "words"), [
    (policy.IDENTITY, "identity-based policy"), (policy.BOUNDARY, "permissions boundary"),
    (policy.SESSION, "session policy"), (policy.RESOURCE, "resource-based policy")])
def test_implicit_deny_names_what_did_not_allow(missing: str, words: str) -> None:
    assert reason("s3:GetObject", _result(policy.IMPLICIT_DENY), missing) == \
        f"because no {words} allows the s3:GetObject action"


def test_iam_names_its_resources_as_aws_does() -> None:
    assert describe_resource("arn:aws:iam::123456789012:user/team/bob") == "user bob"
    assert describe_resource("arn:aws:iam::123456789012:role/r") == "role r"
    assert describe_resource("arn:aws:iam::123456789012:policy/p") == "policy arn:aws:iam::123456789012:policy/p"
    assert describe_resource("arn:aws:iam::123456789012:user/") == "arn:aws:iam::123456789012:user/"
    assert describe_resource("arn:aws:s3:::bucket") == "arn:aws:s3:::bucket"


def test_each_service_answers_in_its_own_form() -> None:
    arn, why = "arn:aws:iam::123456789012:user/bob", "because no identity-based policy allows the x:Y action"
    iam = denial_error("iam", arn, "iam:CreateUser", "arn:aws:iam::123456789012:user/alice", why)
    assert (iam.code, iam.status) == ("AccessDenied", 403)
    assert iam.message == (f"User: {arn} is not authorized to perform: iam:CreateUser on resource: user alice {why}")
    ec2 = denial_error("ec2", arn, "ec2:DescribeRegions", "*", why)
    assert (ec2.code, ec2.status) == ("UnauthorizedOperation", 403)
    assert ec2.message == f"You are not authorized to perform this operation. User: {arn} is not authorized " \
                          f"to perform: ec2:DescribeRegions {why}"
    s3 = denial_error("s3", arn, "s3:GetObject", "arn:aws:s3:::b/k", why)
    assert (s3.code, s3.status, s3.message) == ("AccessDenied", 403, "Access Denied")
    org = denial_error("organizations", arn, "organizations:ListAccounts", "*", why)
    assert (org.code, org.status) == ("AccessDeniedException", 400)
    sts = denial_error("sts", arn, "sts:AssumeRole", "arn:aws:iam::1:role/r", why)
    assert "on resource: arn:aws:iam::1:role/r" in sts.message  # only IAM shortens its own resources


def test_request_tags_from_every_service_shape() -> None:
    assert request_tags({"Tags": [{"Key": "a", "Value": "1"}]}) == ({"a": "1"}, ["a"])
    assert request_tags({"TagSpecifications": [{"ResourceType": "vpc", "Tags": [{"Key": "b", "Value": "2"}]}]}) \
        == ({"b": "2"}, ["b"])
    assert request_tags({"Tags": {"c": "3"}}) == ({"c": "3"}, ["c"])
    assert request_tags({"TagKeys": ["d"]}) == ({}, ["d"])
    assert request_tags({"Name": "x"}) == ({}, None)
