"""validate_policy: IAM's MalformedPolicyDocument reasons and size quotas, per policy kind."""

from __future__ import annotations

import json

import pytest

from controller.iam.policy import (
    KINDS,
    MalformedPolicyDocument,
    PolicySizeExceeded,
    policy_size,
    referenced_context_keys,
    validate_policy,
)


def doc(*statements: dict, version: str | None = "2012-10-17", **top: object) -> str:
    body: dict = {"Statement": list(statements), **top}
    if version is not None:
        body["Version"] = version
    return json.dumps(body)


ALLOW_S3 = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
TRUST = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
SYNTAX = "Syntax errors in policy."

MALFORMED = [
    ("not json", "{", "managed", SYNTAX),
    ("top level list", "[]", "managed", SYNTAX),
    ("unknown top element", doc(ALLOW_S3, Foo="bar"), "managed", SYNTAX),
    ("no statement", json.dumps({"Version": "2012-10-17"}), "managed", SYNTAX),
    ("empty statement list", doc(), "managed", SYNTAX),
    ("statement not object", json.dumps({"Version": "2012-10-17", "Statement": ["x"]}), "managed", SYNTAX),
    ("invalid version", doc(ALLOW_S3, version="2012-10-18"), "managed", SYNTAX),
    ("id not string", doc(ALLOW_S3, Id=5), "managed", SYNTAX),
    ("unknown statement element", doc({**ALLOW_S3, "Actions": "s3:*"}), "managed", SYNTAX),
    ("missing effect", doc({"Action": "s3:*", "Resource": "*"}), "managed", SYNTAX),
    ("invalid effect", doc({**ALLOW_S3, "Effect": "Permit"}), "managed", SYNTAX),
    ("effect wrong case", doc({**ALLOW_S3, "Effect": "allow"}), "managed", "The policy failed legacy parsing"),
    ("action and notaction", doc({**ALLOW_S3, "NotAction": "ec2:*"}), "managed", SYNTAX),
    ("resource and notresource", doc({**ALLOW_S3, "NotResource": "arn:aws:s3:::x"}), "managed", SYNTAX),
    ("action wrong type", doc({**ALLOW_S3, "Action": {"s3": "x"}}), "managed", SYNTAX),
    ("sid not string", doc({**ALLOW_S3, "Sid": 1}), "managed", SYNTAX),
    ("condition not object", doc({**ALLOW_S3, "Condition": ["x"]}), "managed", SYNTAX),
    ("unknown operator", doc({**ALLOW_S3, "Condition": {"StringEqualz": {"aws:username": "a"}}}), "managed", SYNTAX),
    ("null with ifexists", doc({**ALLOW_S3, "Condition": {"NullIfExists": {"aws:username": "true"}}}), "managed", SYNTAX),
    ("nested condition value", doc({**ALLOW_S3, "Condition": {"StringEquals": {"k:k": {"a": 1}}}}), "managed", SYNTAX),
    ("unparseable date", doc({**ALLOW_S3, "Condition": {"DateLessThan": {"aws:CurrentTime": "soon"}}}), "managed",
     "The policy failed legacy parsing"),
    ("duplicate sids", doc({**ALLOW_S3, "Sid": "A"}, {**ALLOW_S3, "Sid": "A"}), "managed",
     "Statement IDs (SID) in a single policy must be unique."),
    ("non alphanumeric sid", doc({**ALLOW_S3, "Sid": "my sid"}), "managed",
     "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"),
    ("missing action", doc({"Effect": "Allow", "Resource": "*"}), "managed", "Policy statement must contain actions."),
    ("empty action list", doc({**ALLOW_S3, "Action": []}), "managed", "Policy statement must contain actions."),
    ("action without vendor", doc({**ALLOW_S3, "Action": "GetObject"}), "managed",
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ("action two colons", doc({**ALLOW_S3, "Action": "s3:Get:Object"}), "managed",
     "Actions/Condition can contain only one colon."),
    ("invalid vendor", doc({**ALLOW_S3, "Action": "s 3:GetObject"}), "managed", "Vendor s 3 is not valid"),
    ("missing resource", doc({"Effect": "Allow", "Action": "s3:*"}), "managed", "Policy statement must contain resources."),
    ("resource not arn", doc({**ALLOW_S3, "Resource": "bucket"}), "managed", 'Resource bucket must be in ARN format or "*".'),
    ("resource bad partition", doc({**ALLOW_S3, "Resource": "arn:aws-moon:s3:::b"}), "managed",
     'Partition "aws-moon" is not valid for resource "arn:aws-moon:s3:::b".'),
    ("resource without vendor", doc({**ALLOW_S3, "Resource": "arn:aws::::b"}), "managed",
     "Resource vendor must be fully qualified and cannot contain regexes."),
    ("iam resource with region", doc({**ALLOW_S3, "Resource": "arn:aws:iam:us-east-1:111122223333:user/a"}), "managed",
     "IAM resource arn:aws:iam:us-east-1:111122223333:user/a cannot contain region information."),
    ("principal in identity policy", doc({**ALLOW_S3, "Principal": "*"}), "managed",
     "Policy document should not specify a principal."),
    ("principal in inline user policy", doc({**ALLOW_S3, "NotPrincipal": {"AWS": "111122223333"}}), "user",
     "Policy document should not specify a principal."),
    ("principal in boundary", doc({**ALLOW_S3, "Principal": "*"}), "boundary",
     "Policy document should not specify a principal."),
    ("no principal in resource policy", doc(ALLOW_S3), "resource", "Missing required field Principal"),
    ("no principal in trust policy", doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), "trust",
     "Missing required field Principal"),
    ("resource in trust policy", doc({**TRUST, "Resource": "*"}), "trust", "Has prohibited field Resource."),
    ("non sts action in trust policy", doc({**TRUST, "Action": "s3:GetObject"}), "trust",
     "Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and "
     "sts:AssumeRoleWithWebIdentity"),
    ("invalid aws principal", doc({**TRUST, "Principal": {"AWS": "bob"}}), "trust",
     'Invalid principal in policy: "AWS":"bob"'),
    ("partial wildcard principal", doc({**TRUST, "Principal": {"AWS": "arn:aws:iam::111122223333:user/*"}}),
     "trust", 'Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:user/*"'),
    ("unknown principal type", doc({**TRUST, "Principal": {"Group": "admins"}}), "trust", SYNTAX),
]


@pytest.mark.parametrize(("document", "kind", "message"), [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_malformed_documents_are_refused_with_aws_reason(document: str, kind: str, message: str) -> None:
    with pytest.raises(MalformedPolicyDocument) as raised:
        validate_policy(document, kind=kind)
    assert str(raised.value) == message
    assert raised.value.code == "MalformedPolicyDocument"
    assert isinstance(raised.value, ValueError)


VALID = [
    ("managed minimal", doc(ALLOW_S3), "managed"),
    ("no version", doc(ALLOW_S3, version=None), "managed"),
    ("version 2008", doc(ALLOW_S3, version="2008-10-17"), "user"),
    ("statement object", json.dumps({"Version": "2012-10-17", "Statement": ALLOW_S3}), "group"),
    ("wildcard actions", doc({**ALLOW_S3, "Action": ["s3:Get*", "*:Describe*", "iam:*AccessKey*", "*"]}), "role"),
    ("notaction notresource", doc({"Effect": "Deny", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::x"}),
     "managed"),
    ("every operator", doc({**ALLOW_S3, "Condition": {
        "StringEquals": {"a:b": "x"}, "StringNotEqualsIgnoreCase": {"a:c": ["x", "y"]},
        "ForAnyValue:StringLike": {"aws:TagKeys": "x*"}, "ForAllValues:StringNotLikeIfExists": {"aws:TagKeys": "y"},
        "NumericLessThan": {"s3:max-keys": 10}, "DateGreaterThanEquals": {"aws:CurrentTime": "2020-01-01"},
        "Bool": {"aws:SecureTransport": True}, "BinaryEquals": {"a:d": "QQ=="},
        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "NotIpAddressIfExists": {"aws:SourceIp": "::1"},
        "ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:t"}, "Null": {"aws:TokenIssueTime": "true"}}}), "managed"),
    ("unknown operator with empty block", doc({**ALLOW_S3, "Condition": {"Whatever": {}}}), "managed"),
    ("trust policy", doc(TRUST), "trust"),
    ("trust policy account and wildcard sts", doc({**TRUST, "Principal": {"AWS": ["111122223333", "*"]},
                                                   "Action": ["sts:AssumeRole", "sts:TagSession"]}), "trust"),
    ("bucket policy free-form sid", doc({**ALLOW_S3, "Sid": "Allow public read", "Principal": "*"}), "resource"),
    ("session policy", doc(ALLOW_S3), "session"),
    ("scp", doc({"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}), "scp"),
]


@pytest.mark.parametrize(("document", "kind"), [case[1:] for case in VALID], ids=[case[0] for case in VALID])
def test_valid_documents_pass(document: str, kind: str) -> None:
    compiled = validate_policy(document, kind=kind)
    assert compiled.statements


def padded(size: int) -> str:
    """A valid managed policy of exactly ``size`` non-whitespace characters."""
    base = doc({**ALLOW_S3, "Sid": "S"})
    filler = size - policy_size(base)
    assert filler >= 0
    return doc({**ALLOW_S3, "Sid": "S" + "x" * filler})


@pytest.mark.parametrize(("kind", "limit", "message"), [
    ("managed", 6144, "Cannot exceed quota for PolicySize: 6144"),
    ("boundary", 6144, "Cannot exceed quota for PolicySize: 6144"),
    ("user", 2048, "Maximum policy size of 2048 bytes exceeded for user alice"),
    ("group", 5120, "Maximum policy size of 5120 bytes exceeded for group alice"),
    ("role", 10240, "Maximum policy size of 10240 bytes exceeded for role alice"),
])
def test_size_quota_counts_non_whitespace(kind: str, limit: int, message: str) -> None:
    validate_policy(padded(limit), kind=kind, entity_name="alice")
    with pytest.raises(PolicySizeExceeded) as raised:
        validate_policy(padded(limit + 1), kind=kind, entity_name="alice")
    assert str(raised.value) == message
    assert raised.value.code == "LimitExceeded"
    assert (raised.value.limit, raised.value.size) == (limit, limit + 1)


def test_whitespace_does_not_count() -> None:
    compact = padded(2048)
    spacious = json.dumps(json.loads(compact), indent=8)
    assert len(spacious) > 2048
    validate_policy(spacious, kind="user")


def test_trust_policy_quota_can_be_raised() -> None:
    big_trust = doc(*[{**TRUST, "Sid": f"S{index}"} for index in range(40)])
    with pytest.raises(PolicySizeExceeded, match="Cannot exceed quota for ACLSizePerRole: 2048"):
        validate_policy(big_trust, kind="trust")
    validate_policy(big_trust, kind="trust", max_size=4096)


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown policy kind"):
        validate_policy(doc(ALLOW_S3), kind="bucket")
    assert "trust" in KINDS


def test_referenced_context_keys_lists_conditions_and_variables() -> None:
    documents = [
        doc({**ALLOW_S3, "Resource": "arn:aws:s3:::b/${aws:username}/*",
             "Condition": {"StringEquals": {"aws:PrincipalTag/team": "x"}, "Bool": {"AWS:SecureTransport": "true"}}}),
        doc({**ALLOW_S3, "Condition": {"IpAddress": {"aws:sourceip": "10.0.0.0/8"}}}),
    ]
    assert referenced_context_keys(documents) == [
        "aws:PrincipalTag/team", "AWS:SecureTransport", "aws:sourceip", "aws:username"]
