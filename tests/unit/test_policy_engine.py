"""The engine's public surface: parsing and caching, positions, results, global keys, matching helpers."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from controller.iam import policy
from controller.iam.policy.matching import PatternSet, arn_regex_source, glob_to_regex
from controller.iam.policy.principals import Caller
from controller.iam.policy.variables import Escaped, Variable, parse_template

USER = "arn:aws:iam::111122223333:user/alice"


def allow(action: str = "s3:*", resource: str = "*", **extra: object) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def decide(request: policy.EvaluationRequest, **groups: object) -> policy.EvaluationResult:
    return policy.evaluate(request, policy.PolicySet(**groups))


def test_positions_match_simulate_custom_policy_example() -> None:
    """The AWS CLI example of SimulateCustomPolicy reports line 1, columns 38 to 167 for this text."""
    text = ('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*",'
            '"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}')
    statement = policy.parse_policy(text).document.statements[0]
    assert (statement.start, statement.end) == (policy.Position(1, 38), policy.Position(1, 167))


def test_positions_in_a_pretty_printed_list() -> None:
    text = '{\n  "Statement": [\n    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},\n' \
           '    {\n      "Effect": "Deny",\n      "Action": "s3:Delete*",\n      "Resource": "*"\n    }\n  ]\n}'
    first, second = policy.parse_policy(text).document.statements
    assert (first.start, first.end) == (policy.Position(3, 6), policy.Position(3, 59))
    assert (second.start, second.end) == (policy.Position(4, 6), policy.Position(8, 6))


def test_documents_are_compiled_once_per_text() -> None:
    text = document(allow())
    assert policy.parse_policy(text).document is policy.parse_policy(text, policy_id="other").document


def test_parse_accepts_a_decoded_document() -> None:
    compiled = policy.parse_policy({"Version": "2012-10-17", "Statement": allow("ec2:*")}).document
    assert compiled.statements[0].start is not None


def test_statements_are_indexed_by_service() -> None:
    compiled = policy.parse_policy(document(
        allow("s3:GetObject"), allow("ec2:*"), {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"},
        allow("*:Describe*"), allow(["s3:PutObject", "sqs:SendMessage"]))).document
    assert [statement.index for statement in compiled.candidates("s3")] == [0, 2, 3, 4]
    assert [statement.index for statement in compiled.candidates("sqs")] == [2, 3, 4]
    assert [statement.index for statement in compiled.candidates("kms")] == [2, 3]


def test_result_names_policy_source_and_kind() -> None:
    attached = policy.parse_policy(document({**allow(), "Sid": "Read"}), policy_id="ReadS3", source_type="group")
    result = decide(policy.EvaluationRequest("s3:GetObject", "arn:aws:s3:::b/k", USER), identity=[attached])
    assert result.allowed
    (matched,) = result.matched_statements
    assert (matched.policy_id, matched.source_type, matched.kind, matched.index, matched.sid, matched.effect) == (
        "ReadS3", "group", policy.IDENTITY, 0, "Read", "Allow")


def test_empty_boundary_differs_from_no_boundary() -> None:
    identity = [policy.parse_policy(document(allow()))]
    request = policy.EvaluationRequest("s3:GetObject", "*", USER)
    assert decide(request, identity=identity).decision == policy.ALLOWED
    result = decide(request, identity=identity, permissions_boundary=())
    assert (result.decision, result.allowed_by_permissions_boundary) == (policy.IMPLICIT_DENY, False)


def test_deny_in_boundary_reports_boundary_kind() -> None:
    boundary = [policy.parse_policy(document({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}), policy_id="B")]
    result = decide(policy.EvaluationRequest("s3:GetObject", "*", USER), permissions_boundary=boundary)
    assert result.decision == policy.EXPLICIT_DENY
    assert [matched.kind for matched in result.matched_statements] == [policy.BOUNDARY]


def test_missing_values_only_for_statements_that_could_apply() -> None:
    identity = [policy.parse_policy(document(
        allow("s3:GetObject", "arn:aws:s3:::b/*", Condition={"StringEquals": {"s3:ExistingObjectTag/x": "y"}}),
        allow("ec2:RunInstances", Condition={"StringEquals": {"ec2:InstanceType": "t3.micro"}}),
        allow("s3:GetObject", "arn:aws:s3:::other/*", Condition={"Bool": {"aws:SecureTransport": "true"}}),
        allow("s3:GetObject", "arn:aws:s3:::b/*", Condition={"Null": {"aws:TokenIssueTime": "true"},
                                                             "StringEqualsIfExists": {"aws:SourceVpc": "v"}})))]
    result = decide(policy.EvaluationRequest("s3:GetObject", "arn:aws:s3:::b/k", USER), identity=identity)
    assert result.missing_context_values == ("s3:ExistingObjectTag/x",)


def test_global_context_for_an_iam_user() -> None:
    now = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
    keys = policy.global_context(policy.CallerFacts(
        account_id="111122223333", arn=USER, kind="user", user_id="AIDAEXAMPLE", name="alice",
        principal_tags={"team": "web"}, source_ip="203.0.113.5", secure_transport=True, now=now,
        region="us-east-1", request_tags={"env": "prod", "owner": "alice"}, resource_tags={"project": "x"}))
    assert keys == {
        "aws:CurrentTime": "2024-05-01T12:00:00Z", "aws:EpochTime": "1714564800", "aws:SecureTransport": "true",
        "aws:PrincipalType": "User", "aws:ViaAWSService": "false", "aws:PrincipalAccount": "111122223333",
        "aws:PrincipalArn": USER, "aws:PrincipalIsAWSService": "false", "aws:userid": "AIDAEXAMPLE",
        "aws:username": "alice", "aws:SourceIp": "203.0.113.5", "aws:RequestedRegion": "us-east-1",
        "aws:PrincipalTag/team": "web", "aws:RequestTag/env": "prod", "aws:RequestTag/owner": "alice",
        "aws:ResourceTag/project": "x", "aws:TagKeys": ["env", "owner"]}


def test_global_context_for_a_role_session_with_mfa() -> None:
    now = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
    keys = policy.global_context(policy.CallerFacts(
        account_id="111122223333", arn="arn:aws:sts::111122223333:assumed-role/dev/s1", kind="assumed-role",
        user_id="AROAEXAMPLE:s1", name="dev", temporary_credentials=True, now=now,
        token_issued_at=now - dt.timedelta(minutes=5), mfa_authenticated_at=now - dt.timedelta(seconds=90),
        called_via=["cloudformation.amazonaws.com", "ec2.amazonaws.com"]))
    assert keys["aws:PrincipalArn"] == "arn:aws:iam::111122223333:role/dev"
    assert keys["aws:PrincipalType"] == "AssumedRole"
    assert "aws:username" not in keys
    assert (keys["aws:MultiFactorAuthPresent"], keys["aws:MultiFactorAuthAge"]) == ("true", "90")
    assert keys["aws:TokenIssueTime"] == "2024-05-01T11:55:00Z"
    assert keys["aws:CalledViaFirst"] == "cloudformation.amazonaws.com"
    assert keys["aws:CalledViaLast"] == "ec2.amazonaws.com"
    assert keys["aws:ViaAWSService"] == "true"


def test_global_context_mfa_key_absent_for_long_term_keys() -> None:
    keys = policy.global_context(policy.CallerFacts("111122223333", USER, "user", name="alice"))
    assert "aws:MultiFactorAuthPresent" not in keys
    temporary = policy.global_context(policy.CallerFacts("111122223333", USER, "user", temporary_credentials=True))
    assert temporary["aws:MultiFactorAuthPresent"] == "false"


def test_global_context_for_root_and_anonymous() -> None:
    root = policy.global_context(policy.CallerFacts("111122223333", "arn:aws:iam::111122223333:root", "root"))
    assert (root["aws:PrincipalType"], root["aws:userid"]) == ("Account", "111122223333")
    anonymous = policy.global_context(policy.CallerFacts("", "", "anonymous"))
    assert anonymous["aws:userid"] == "anonymous"
    assert "aws:PrincipalArn" not in anonymous and "aws:PrincipalAccount" not in anonymous


def test_global_context_drives_the_seed_mfa_policy() -> None:
    seed = policy.parse_policy(document(allow(
        "ec2:StopInstances", "arn:aws:ec2:us-east-1::instance/*",
        Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": True}})))
    for temporary, mfa, expected in ((False, None, True), (True, None, False),
                                     (True, dt.datetime.now(dt.UTC), True)):
        context = policy.global_context(policy.CallerFacts(
            "111122223333", USER, "user", temporary_credentials=temporary, mfa_authenticated_at=mfa))
        request = policy.EvaluationRequest("ec2:StopInstances", "arn:aws:ec2:us-east-1::instance/i-1", USER,
                                           context=context)
        assert decide(request, identity=[seed]).allowed is expected


@pytest.mark.parametrize(("arn", "kind", "account"), [
    ("arn:aws:iam::111122223333:root", "root", "111122223333"),
    (USER, "user", "111122223333"),
    ("arn:aws:iam::111122223333:user/path/bob", "user", "111122223333"),
    ("arn:aws:sts::111122223333:assumed-role/dev/s", "assumed-role", "111122223333"),
    ("arn:aws:sts::111122223333:federated-user/carol", "federated-user", "111122223333"),
    ("arn:aws:iam::111122223333:role/dev", "role", "111122223333"),
    ("ec2.amazonaws.com", "service", ""),
    ("", "anonymous", ""),
])
def test_caller_kinds(arn: str, kind: str, account: str) -> None:
    caller = Caller.describe(arn)
    assert (caller.kind, caller.account) == (kind, account)


def test_role_caller_is_limited_by_its_boundary() -> None:
    """SimulatePrincipalPolicy on a role: a resource policy naming the role is limited by the boundary."""
    bucket = policy.parse_policy(document(allow(
        "s3:GetObject", Principal={"AWS": "arn:aws:iam::111122223333:role/dev"})))
    request = policy.EvaluationRequest("s3:GetObject", "*", "arn:aws:iam::111122223333:role/dev")
    assert decide(request, resource=[bucket]).allowed
    assert not decide(request, resource=[bucket], permissions_boundary=()).allowed


@pytest.mark.parametrize(("pattern", "candidate", "expected"), [
    ("a*b", "a:/b", True), ("a?b", "ab", False), ("a.b", "axb", False), ("(x)|[y]", "(x)|[y]", True),
    ("*", "", True), ("a\\*", "a\\xyz", True), ("a$", "a$", True),
])
def test_glob_patterns(pattern: str, candidate: str, expected: bool) -> None:
    assert PatternSet.build([pattern]).matches(candidate) is expected
    assert glob_to_regex(pattern)


def test_action_patterns_are_case_insensitive() -> None:
    actions = PatternSet.build(["S3:Get*", "ec2:RunInstances"], ignore_case=True)
    assert actions.matches("s3:getobject") and actions.matches("ec2:runinstances")
    assert not actions.matches("s3:putobject")


def test_arn_pattern_requires_six_components() -> None:
    assert arn_regex_source([("arn:aws:s3:::bucket", True)]) is not None
    assert arn_regex_source([("*", True)]) is None
    assert arn_regex_source([("arn:aws:s3", True)]) is None


def test_arn_pattern_wildcards_stay_within_components() -> None:
    assert arn_regex_source([("arn:aws:s3:*:*:b/*", True)]) == "arn:aws:s3:[^:]*:[^:]*:b/.*"
    assert arn_regex_source([("arn:aws:s3:::", True), ("a*", False)]) == "arn:aws:s3:::a\\*"


def test_template_segments() -> None:
    template = parse_template("a/${aws:username}/${*}/${aws:PrincipalTag/x, 'none'}/${}")
    assert template is not None
    assert template.segments == ("a/", Variable("aws:username", "aws:username", None), "/", Escaped("*"), "/",
                                 Variable("aws:PrincipalTag/x", "aws:principaltag/x", "none"), "/", "${}")
    assert parse_template("no variables") is None
    assert parse_template("${}") is None
