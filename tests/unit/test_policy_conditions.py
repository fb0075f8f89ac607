"""Each condition operator on its own: values, negation, IfExists, set qualifiers, variables."""

from __future__ import annotations

import pytest

from controller.iam.policy.conditions import OPERATORS, Condition, parse_date, parse_operator
from controller.iam.policy.evaluate import RequestContext


def check(operator: str, policy_values: list[str], context: dict, *, key: str = "k:key",
          variables: bool = True) -> bool | None:
    spec = parse_operator(operator)
    assert spec is not None, operator
    return Condition.compile(spec, key, policy_values, variables=variables).evaluate(RequestContext(context))


def holds(operator: str, policy_values: list[str], value: str | list[str] | None, **context: str) -> bool | None:
    request = dict(context)
    if value is not None:
        request["k:key"] = value
    return check(operator, policy_values, request)


# (operator, policy values, request value, expected); None as request value = key absent.
OPERATOR_TABLE = [
    ("StringEquals", ["abc"], "abc", True),
    ("StringEquals", ["abc"], "ABC", False),
    ("StringEquals", ["a", "b"], "b", True),
    ("StringEquals", ["abc"], None, False),
    ("StringNotEquals", ["abc"], "abd", True),
    ("StringNotEquals", ["a", "b"], "b", False),
    ("StringNotEquals", ["abc"], None, True),
    ("StringEqualsIgnoreCase", ["Abc"], "aBC", True),
    ("StringEqualsIgnoreCase", ["Abc"], "abcd", False),
    ("StringNotEqualsIgnoreCase", ["Abc"], "ABC", False),
    ("StringNotEqualsIgnoreCase", ["Abc"], None, True),
    ("StringLike", ["a*c"], "abbbc", True),
    ("StringLike", ["a*c"], "ac", True),
    ("StringLike", ["a?c"], "ac", False),
    ("StringLike", ["a.c"], "abc", False),
    ("StringLike", ["a+(c)"], "a+(c)", True),
    ("StringLike", ["home/*"], "home/a/b", True),
    ("StringNotLike", ["a*"], "abc", False),
    ("StringNotLike", ["a*"], "bcd", True),
    ("StringNotLike", ["a*"], None, True),
    ("NumericEquals", ["10"], "10.0", True),
    ("NumericEquals", ["10"], "1e1", True),
    ("NumericEquals", ["10"], "x", False),
    ("NumericNotEquals", ["10"], "11", True),
    ("NumericNotEquals", ["10"], "10", False),
    ("NumericNotEquals", ["10"], "x", True),
    ("NumericLessThan", ["10"], "-3", True),
    ("NumericLessThan", ["10"], "10", False),
    ("NumericLessThanEquals", ["10"], "10", True),
    ("NumericGreaterThan", ["10"], "10.5", True),
    ("NumericGreaterThan", ["10"], "9", False),
    ("NumericGreaterThanEquals", ["10"], "10", True),
    ("NumericLessThan", ["not-a-number"], "1", False),
    ("DateEquals", ["2024-01-01T00:00:00Z"], "2024-01-01T00:00:00.000Z", True),
    ("DateEquals", ["2024-01-01"], "2024-01-01T00:00:00Z", True),
    ("DateEquals", ["2024-01"], "2024-01-01T00:00:00Z", True),
    ("DateEquals", ["2024"], "1970-01-01T00:33:44Z", True),
    ("DateEquals", ["1704067200"], "2024-01-01T00:00:00Z", True),
    ("DateNotEquals", ["2024-01-01T00:00:00Z"], "2024-01-01T00:00:01Z", True),
    ("DateLessThan", ["2024-01-01T00:00:00Z"], "2023-12-31T23:59:59Z", True),
    ("DateLessThan", ["2024-01-01T00:00:00Z"], "2024-01-01T01:00:00+02:00", True),
    ("DateLessThanEquals", ["2024-01-01T00:00:00Z"], "2024-01-01T00:00:00Z", True),
    ("DateGreaterThan", ["2024-01-01T00:00:00Z"], "2024-01-01T00:00:00Z", False),
    ("DateGreaterThanEquals", ["2024-01-01T00:00:00Z"], "2024-01-01T00:00:00Z", True),
    ("DateGreaterThan", ["2024-01-01T00:00:00Z"], "yesterday", False),
    ("Bool", ["true"], "true", True),
    ("Bool", ["true"], "True", True),
    ("Bool", ["true"], "false", False),
    ("Bool", ["false"], "false", True),
    ("Bool", ["true"], "yes", False),
    ("Bool", ["true"], None, False),
    ("BinaryEquals", ["QUJD"], "QUJD", True),
    ("BinaryEquals", ["QUJD"], "QUJE", False),
    ("IpAddress", ["10.0.0.0/8"], "10.255.1.2", True),
    ("IpAddress", ["10.0.0.0/8"], "11.0.0.1", False),
    ("IpAddress", ["10.1.2.3"], "10.1.2.3", True),
    ("IpAddress", ["10.1.2.3/24"], "10.1.2.200", True),
    ("IpAddress", ["2001:DB8::/32"], "2001:db8:ffff::1", True),
    ("IpAddress", ["2001:DB8::/32"], "10.0.0.1", False),
    ("IpAddress", ["10.0.0.0/8"], "::ffff:10.0.0.1", False),
    ("IpAddress", ["not-an-ip"], "10.0.0.1", False),
    ("NotIpAddress", ["10.0.0.0/8"], "11.0.0.1", True),
    ("NotIpAddress", ["10.0.0.0/8"], "10.0.0.1", False),
    ("NotIpAddress", ["10.0.0.0/8"], None, True),
    ("ArnEquals", ["arn:aws:sns:*:111122223333:t"], "arn:aws:sns:eu-west-1:111122223333:t", True),
    ("ArnLike", ["arn:aws:sns:*:111122223333:t"], "arn:aws:sns:eu-west-1:111122223333:t2", False),
    ("ArnLike", ["arn:aws:s3:::b/*"], "arn:aws:s3:::b/x:y/z", True),
    ("ArnLike", ["arn:aws:s3:::b/*"], "arn:aws:S3:::b/x", False),
    ("ArnLike", ["arn:aws:*:*:*:*"], "arn:aws:ec2:us-east-1:111122223333:instance/i-1", True),
    ("ArnLike", ["arn:aws:sns:*:111122223333:t"], "not-an-arn", False),
    ("ArnLike", ["arn:aws:sns:us-*-1:*:t"], "arn:aws:sns:us-east-1:111122223333:t", True),
    ("ArnNotEquals", ["arn:aws:sns:*:111122223333:t"], "arn:aws:sns:eu-west-1:111122223333:t", False),
    ("ArnNotLike", ["arn:aws:sns:*:111122223333:t"], "arn:aws:sqs:eu-west-1:111122223333:t", True),
    ("ArnNotLike", ["arn:aws:sns:*:111122223333:t"], None, True),
    ("Null", ["true"], None, True),
    ("Null", ["true"], "x", False),
    ("Null", ["false"], "x", True),
    ("Null", ["false"], None, False),
    ("Null", ["TRUE"], None, True),
    ("StringEqualsIfExists", ["abc"], None, True),
    ("StringEqualsIfExists", ["abc"], "abd", False),
    ("StringNotEqualsIfExists", ["abc"], None, True),
    ("StringNotEqualsIfExists", ["abc"], "abc", False),
    ("NumericLessThanIfExists", ["3"], None, True),
    ("BoolIfExists", ["true"], "false", False),
    ("IpAddressIfExists", ["10.0.0.0/8"], None, True),
    ("ArnLikeIfExists", ["arn:aws:sns:*:*:t"], None, True),
    ("DateLessThanIfExists", ["2024-01-01"], "2025-01-01", False),
]


@pytest.mark.parametrize(("operator", "policy_values", "value", "expected"), OPERATOR_TABLE,
                         ids=[f"{row[0]}-{index}" for index, row in enumerate(OPERATOR_TABLE)])
def test_operator(operator: str, policy_values: list[str], value: str | None, expected: bool) -> None:
    assert holds(operator, policy_values, value) is expected


def test_every_documented_operator_is_covered_by_the_table() -> None:
    covered = {parse_operator(row[0]).base for row in OPERATOR_TABLE}
    assert covered == set(OPERATORS)


# Set qualifiers: (operator, policy values, request values, expected); [] = empty set, None = absent.
SET_TABLE = [
    ("ForAnyValue:StringEquals", ["a", "b"], ["x", "b"], True),
    ("ForAnyValue:StringEquals", ["a", "b"], ["x", "y"], False),
    ("ForAnyValue:StringEquals", ["a"], [], False),
    ("ForAnyValue:StringEquals", ["a"], None, False),
    ("ForAnyValue:StringEquals", ["a"], "", False),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "b"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "c"], False),
    ("ForAllValues:StringEquals", ["a"], [], True),
    ("ForAllValues:StringEquals", ["a"], None, True),
    ("ForAllValues:StringEquals", ["a"], "", True),
    ("ForAnyValue:StringNotEquals", ["a", "b"], ["a", "c"], True),
    ("ForAnyValue:StringNotEquals", ["a", "b"], ["a", "b"], False),
    ("ForAllValues:StringNotEquals", ["a"], ["b", "c"], True),
    ("ForAllValues:StringNotEquals", ["a"], ["b", "a"], False),
    ("ForAllValues:StringLike", ["a*"], ["ab", "ac"], True),
    ("ForAnyValue:NumericGreaterThan", ["5"], ["1", "9"], True),
    ("ForAllValues:NumericGreaterThan", ["5"], ["1", "9"], False),
    ("ForAnyValue:IpAddress", ["10.0.0.0/8"], ["192.0.2.1", "10.1.1.1"], True),
    ("ForAnyValue:StringEqualsIfExists", ["a"], None, True),
    ("StringEquals", ["a"], ["b", "a"], True),
    ("StringEquals", ["a"], ["b", "c"], False),
    ("StringNotEquals", ["a"], ["b", "a"], False),
    ("StringNotEquals", ["a"], ["b", "c"], True),
]


@pytest.mark.parametrize(("operator", "policy_values", "values", "expected"), SET_TABLE,
                         ids=[f"{row[0]}-{index}" for index, row in enumerate(SET_TABLE)])
def test_set_qualifiers(operator: str, policy_values: list[str], values: list[str] | str | None,
                        expected: bool) -> None:
    assert holds(operator, policy_values, values) is expected


@pytest.mark.parametrize("name", ["StringEqual", "stringequals", "NullIfExists", "ForAnyValue:Null",
                                  "ForSomeValues:StringEquals", "IfExists", "StringEqualsIfExistsIfExists"])
def test_unknown_operators(name: str) -> None:
    assert parse_operator(name) is None


def test_parse_operator_parts() -> None:
    spec = parse_operator("ForAllValues:StringNotLikeIfExists")
    assert spec is not None
    assert (spec.base, spec.qualifier, spec.if_exists, spec.negated) == ("StringNotLike", "ForAllValues", True, True)


def test_context_key_names_are_case_insensitive() -> None:
    assert check("StringEquals", ["x"], {"AWS:PrincipalTag/Team": "x"}, key="aws:principaltag/team") is True


def test_string_values_take_variables() -> None:
    context = {"k:key": "home/alice/x", "aws:username": "alice"}
    assert check("StringLike", ["home/${aws:username}/*"], context) is True
    assert check("StringLike", ["home/${aws:username}/*"], {**context, "aws:username": "bob"}) is False


def test_unresolvable_variable_makes_the_condition_undecidable() -> None:
    assert check("StringEquals", ["${aws:username}"], {"k:key": "alice"}) is None
    assert check("StringEquals", ["${aws:username, 'alice'}"], {"k:key": "alice"}) is True


def test_multivalued_key_is_not_a_variable() -> None:
    assert check("StringEquals", ["${k:team}"], {"k:key": "a", "k:team": ["a", "b"]}) is None


def test_substituted_value_stays_literal_in_patterns() -> None:
    context = {"k:key": "team-x", "aws:PrincipalTag/team": "*"}
    assert check("StringLike", ["team-${aws:PrincipalTag/team}"], context) is False
    assert check("StringLike", ["team-${aws:PrincipalTag/team}"], {**context, "k:key": "team-*"}) is True


def test_escapes_in_condition_values() -> None:
    assert check("StringLike", ["a${*}b"], {"k:key": "a*b"}) is True
    assert check("StringLike", ["a${*}b"], {"k:key": "aXb"}) is False
    assert check("StringEquals", ["cost${$}"], {"k:key": "cost$"}) is True


def test_variables_disabled_for_old_versions() -> None:
    assert check("StringEquals", ["${aws:username}"], {"k:key": "${aws:username}", "aws:username": "a"},
                 variables=False) is True


def test_numeric_operators_ignore_variables() -> None:
    assert check("NumericEquals", ["${k:n}"], {"k:key": "3", "k:n": "3"}) is False


def test_arn_values_take_variables() -> None:
    context = {"k:key": "arn:aws:iam::111122223333:user/alice", "aws:username": "alice"}
    assert check("ArnLike", ["arn:aws:iam::*:user/${aws:username}"], context) is True
    assert check("ArnLike", ["arn:aws:iam::*:user/${aws:username}"], {**context, "aws:username": "bob"}) is False


@pytest.mark.parametrize(("text", "epoch"), [
    ("2020-01-01T00:00:00Z", 1577836800.0),
    ("2020-01-01T00:00:00.500Z", 1577836800.5),
    ("2020-01-01T01:00:00+01:00", 1577836800.0),
    ("2020-01-01T00:00Z", 1577836800.0),
    ("2020-01-01", 1577836800.0),
    ("2020-01", 1577836800.0),
    ("2020", 2020.0),
    ("2020-01-01t00:00:00z", 1577836800.0),
    ("1577836800", 1577836800.0),
])
def test_parse_date_formats(text: str, epoch: float) -> None:
    assert parse_date(text) == epoch


@pytest.mark.parametrize("text", ["", "tomorrow", "2020-13-01", "2020-01-01T25:00:00Z"])
def test_parse_date_rejects(text: str) -> None:
    assert parse_date(text) is None
