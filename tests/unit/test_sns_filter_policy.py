"""SNS filter policies against AWS's documented examples: one table of (policy, message, expected match).

Each case cites the page of docs.aws.amazon.com/sns/latest/dg/ its example comes from; attribute
examples are written as AWS writes them (``{"Type": ..., "Value": ...}``) and turned into the
MessageAttributeValue shape Publish receives.
"""

from __future__ import annotations

import json
import sys

import pytest

from controller.sns import filter_policy
from controller.sns.filter_policy import MESSAGE_ATTRIBUTES, MESSAGE_BODY, matches, validate


def attributes(**values: tuple[str, str]) -> dict:
    return {name: {"DataType": data_type, "StringValue": value} for name, (data_type, value) in values.items()}


def s(value: str) -> tuple[str, str]:
    return ("String", value)


def n(value: str) -> tuple[str, str]:
    return ("Number", value)


def a(*values) -> tuple[str, str]:
    return ("String.Array", json.dumps(list(values)))


INTERESTS = {"customer_interests": ["rugby", "tennis"]}
ANYTHING_BUT = {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}
PREFIX = {"customer_interests": [{"prefix": "bas"}]}
SUFFIX = {"customer_interests": [{"suffix": "ball"}]}
IGNORE_CASE = {"customer_interests": [{"equals-ignore-case": "tennis"}]}
BUT_PREFIX = {"event": [{"anything-but": {"prefix": "order-"}}]}
BUT_SUFFIX = {"event": [{"anything-but": {"suffix": "-cancelled"}}]}
CIDR = {"source_ip": [{"cidr": "10.0.0.0/24"}]}
CIDR6 = {"source_ip": [{"cidr": "2001:db8::/32"}]}
PRICE_EQ = {"price_usd": [{"numeric": ["=", 301.5]}]}
PRICE_BUT = {"price": [{"anything-but": [100, 500]}]}
PRICE_RANGE = {"price_usd": [{"numeric": [">", 0, "<=", 150]}]}
NEGATIVE = {"price_usd": [{"numeric": ["<", 0]}]}
STORE_EXISTS = {"store": [{"exists": True}]}
STORE_ABSENT = {"store": [{"exists": False}]}
AND_POLICY = {"customer_interests": ["rugby"], "price_usd": [{"numeric": [">", 100]}]}
OR_VALUES = {"customer_interests": ["rugby", "football", "baseball"]}
OR_OPERATOR = {"source": ["aws.cloudwatch"],
               "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]}
NESTED_OR = {"source": ["aws.cloudwatch"],
             "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]},
                     {"metricType": ["MetricType"],
                      "$or": [{"metricId": [1234, 4321]}, {"spaceId": [1000, 2000, 3000]}]}]}
NOT_OR = {"$or": ["x"]}
#: example-filter-policies.html: the transaction message and its accepting / rejecting policies
EXAMPLE_MESSAGE = attributes(customer_interests=a("soccer", "rugby", "hockey"), store=s("example_corp"),
                             event=s("order_placed"), price_usd=n("210.75"))
EXAMPLE_ACCEPTS = {"store": ["example_corp"], "event": [{"anything-but": "order_cancelled"}],
                   "customer_interests": ["rugby", "football", "baseball"], "price_usd": [{"numeric": [">=", 100]}]}
EXAMPLE_REJECTS = {"store": ["example_corp"], "event": ["order_cancelled"], "encrypted": [False],
                   "customer_interests": ["basketball", "baseball"]}
#: message-filtering-apply / sns-message-filtering: a nested body policy
NESTED_BODY = {"store": ["example_corp"], "customer": {"interests": ["baseball", "rugby"]},
               "payment": {"method": [{"prefix": "credit"}], "amount": [{"numeric": [">", 100]}]}}

ATTRIBUTE_CASES = [
    # string-value-matching.html: exact matching, String.Array element by element
    (INTERESTS, attributes(customer_interests=s("rugby")), True),
    (INTERESTS, attributes(customer_interests=s("tennis")), True),
    (INTERESTS, attributes(customer_interests=a("rugby", "tennis")), True),
    (INTERESTS, attributes(customer_interests=s("baseball")), False),
    (INTERESTS, attributes(customer_interests=a("baseball")), False),
    (INTERESTS, attributes(customer_interests=s("Rugby")), False),  # case-sensitive
    (INTERESTS, attributes(other=s("rugby")), False),
    # anything-but: a String.Array matches only if none of its elements is listed
    (ANYTHING_BUT, attributes(customer_interests=s("baseball")), True),
    (ANYTHING_BUT, attributes(customer_interests=s("football")), True),
    (ANYTHING_BUT, attributes(customer_interests=s("rugby")), False),
    (ANYTHING_BUT, attributes(customer_interests=a("baseball", "football")), True),
    (ANYTHING_BUT, attributes(customer_interests=a("rugby", "baseball")), False),
    (ANYTHING_BUT, attributes(store=s("fans")), False),  # anything-but needs the attribute
    ({"customer_interests": [{"anything-but": ["rugby"]}, {"exists": False}]}, attributes(store=s("fans")), True),
    ({"customer_interests": [{"anything-but": "rugby"}]}, attributes(customer_interests=s("tennis")), True),
    # prefix, suffix, equals-ignore-case
    (PREFIX, attributes(customer_interests=s("baseball")), True),
    (PREFIX, attributes(customer_interests=s("basketball")), True),
    (PREFIX, attributes(customer_interests=s("rugby")), False),
    (PREFIX, attributes(customer_interests=a("rugby", "basketball")), True),
    (SUFFIX, attributes(customer_interests=s("baseball")), True),
    (SUFFIX, attributes(customer_interests=s("basketball")), True),
    (SUFFIX, attributes(customer_interests=s("rugby")), False),
    (IGNORE_CASE, attributes(customer_interests=s("TENNIS")), True),
    (IGNORE_CASE, attributes(customer_interests=s("Tennis")), True),
    (IGNORE_CASE, attributes(customer_interests=s("baseball")), False),
    # anything-but with a prefix or a suffix
    (BUT_PREFIX, attributes(event=s("data-entry")), True),
    (BUT_PREFIX, attributes(event=s("order_number")), True),
    (BUT_PREFIX, attributes(event=s("order-cancelled")), False),
    (BUT_SUFFIX, attributes(event=s("order-created")), True),
    (BUT_SUFFIX, attributes(event=s("order-cancelled")), False),
    # IP address matching, IPv4 and IPv6
    (CIDR, attributes(source_ip=s("10.0.0.0")), True),
    (CIDR, attributes(source_ip=s("10.0.0.255")), True),
    (CIDR, attributes(source_ip=s("10.1.1.0")), False),
    (CIDR, attributes(source_ip=s("not an address")), False),
    (CIDR6, attributes(source_ip=s("2001:db8:1::7")), True),
    (CIDR6, attributes(source_ip=s("2001:db9::1")), False),
    # numeric-value-matching.html: exact, anything-but, ranges
    (PRICE_EQ, attributes(price_usd=n("301.5")), True),
    (PRICE_EQ, attributes(price_usd=n("3.015e2")), True),
    (PRICE_EQ, attributes(price_usd=n("301.6")), False),
    (PRICE_EQ, attributes(price_usd=s("301.5")), False),  # a String attribute is not a number
    (PRICE_BUT, attributes(price=n("101")), True),
    (PRICE_BUT, attributes(price=n("100.1")), True),
    (PRICE_BUT, attributes(price=n("100")), False),
    (PRICE_BUT, attributes(price=n("500")), False),
    (NEGATIVE, attributes(price_usd=n("-1")), True),
    (NEGATIVE, attributes(price_usd=n("0")), False),
    (PRICE_RANGE, attributes(price_usd=n("0")), False),
    (PRICE_RANGE, attributes(price_usd=n("0.1")), True),
    (PRICE_RANGE, attributes(price_usd=n("150")), True),
    (PRICE_RANGE, attributes(price_usd=n("150.00001")), False),
    ({"price_usd": [301.5]}, attributes(price_usd=n("301.50")), True),
    ({"ids": [1234]}, attributes(ids=a(1, 1234)), True),  # numbers inside a String.Array
    # attribute-key-matching.html: exists
    (STORE_EXISTS, attributes(store=s("fans"), customer_interests=a("baseball", "basketball")), True),
    (STORE_EXISTS, attributes(customer_interests=a("baseball", "basketball")), False),
    (STORE_ABSENT, attributes(store=s("fans"), customer_interests=a("baseball", "basketball")), False),
    (STORE_ABSENT, attributes(customer_interests=a("baseball", "basketball")), True),
    (STORE_ABSENT, {}, False),  # "exists": false needs at least one attribute
    (STORE_EXISTS, {"store": {"DataType": "Binary", "BinaryValue": b"x"}}, False),  # Binary is never compared
    # and-or-logic.html: AND across keys, OR across values, the $or operator
    (AND_POLICY, attributes(customer_interests=s("rugby"), price_usd=n("100.5")), True),
    (AND_POLICY, attributes(customer_interests=s("rugby"), price_usd=n("100")), False),
    (AND_POLICY, attributes(customer_interests=s("tennis"), price_usd=n("200")), False),
    (AND_POLICY, attributes(customer_interests=s("rugby")), False),
    (OR_VALUES, attributes(customer_interests=s("football")), True),
    (OR_VALUES, attributes(customer_interests=s("tennis")), False),
    (OR_OPERATOR, attributes(source=s("aws.cloudwatch"), metricName=s("CPUUtilization")), True),
    (OR_OPERATOR, attributes(source=s("aws.cloudwatch"), namespace=s("AWS/EC2")), True),
    (OR_OPERATOR, attributes(source=s("aws.cloudwatch"), namespace=s("AWS/ES")), False),
    (OR_OPERATOR, attributes(source=s("aws.events"), metricName=s("CPUUtilization")), False),
    (NESTED_OR, attributes(source=s("aws.cloudwatch"), metricName=s("ReadLatency")), True),
    (NESTED_OR, attributes(source=s("aws.cloudwatch"), metricType=s("MetricType"), spaceId=n("2000")), True),
    (NESTED_OR, attributes(source=s("aws.cloudwatch"), metricType=s("MetricType"), metricId=n("1")), False),
    (NESTED_OR, attributes(source=s("aws.cloudwatch"), spaceId=n("1000")), False),
    (NOT_OR, attributes(**{"$or": s("x")}), True),  # "$or" without 2 objects is a plain attribute name
    # example-filter-policies.html
    (EXAMPLE_ACCEPTS, EXAMPLE_MESSAGE, True),
    (EXAMPLE_REJECTS, EXAMPLE_MESSAGE, False),
    ({"store": ["example_corp"], "event": [{"anything-but": "order_placed"}]}, EXAMPLE_MESSAGE, False),
    ({}, EXAMPLE_MESSAGE, True),
]

BODY_CASES = [
    (INTERESTS, {"customer_interests": "rugby"}, True),
    (INTERESTS, {"customer_interests": "baseball"}, False),
    (INTERESTS, {"customer_interests": ["baseball", "tennis"]}, True),
    (ANYTHING_BUT, {"customer_interests": "football"}, True),
    (ANYTHING_BUT, {"customer_interests": ["rugby", "baseball"]}, True),  # a body array: any element
    (ANYTHING_BUT, {"customer_interests": "rugby"}, False),
    (PRICE_EQ, {"price_usd": 301.5}, True),
    (PRICE_EQ, {"price_usd": 3.015e2}, True),
    (PRICE_EQ, {"price_usd": "301.5"}, False),
    (PRICE_BUT, {"price": 101}, True),
    (PRICE_BUT, {"price": [100, 50]}, True),
    (PRICE_BUT, {"price": 100}, False),
    (PRICE_RANGE, {"price_usd": 75}, True),
    (STORE_EXISTS, {"store": "fans", "customer_interests": ["baseball", "basketball"]}, True),
    (STORE_EXISTS, {"customer_interests": ["baseball", "basketball"]}, False),
    (STORE_EXISTS, {"store": None}, False),  # exists needs a non-null value
    (STORE_ABSENT, {"customer_interests": ["baseball", "basketball"]}, True),
    (STORE_ABSENT, {"store": "fans"}, False),
    (NESTED_BODY, {"store": "example_corp", "customer": {"interests": ["soccer", "rugby"]},
                   "payment": {"method": "credit_card", "amount": 210.75}}, True),
    (NESTED_BODY, {"store": "example_corp", "customer": {"interests": ["soccer"]},
                   "payment": {"method": "credit_card", "amount": 210.75}}, False),
    (NESTED_BODY, {"store": "example_corp", "customer": {"interests": ["rugby"]},
                   "payment": {"method": "debit", "amount": 210.75}}, False),
    ({"a": {"b": [{"exists": False}]}}, {"c": 1}, True),
    ({"a": {"b": ["x"], "c": ["y"]}}, {"a": [{"b": "x", "c": "z"}, {"b": "w", "c": "y"}]}, False),
    ({"a": {"b": ["x"], "c": ["y"]}}, {"a": [{"b": "x", "c": "z"}, {"b": "x", "c": "y"}]}, True),
    ({"flag": [True], "gone": [None]}, {"flag": True, "gone": None}, True),
    ({"flag": [False]}, {"flag": True}, False),
    ({"$or": [{"a": {"b": ["x"]}}, {"c": ["y"]}]}, {"c": "y"}, True),
    ({"source_ip": [{"cidr": "192.168.0.0/16"}]}, {"source_ip": "192.168.3.4"}, True),
]


@pytest.mark.parametrize(("policy", "message_attributes", "expected"), ATTRIBUTE_CASES)
def test_attribute_policies_match_as_aws_documents(policy: dict, message_attributes: dict, expected: bool) -> None:
    validate(json.dumps(policy), MESSAGE_ATTRIBUTES)
    assert matches(policy, MESSAGE_ATTRIBUTES, message_attributes, "ignored body") is expected


@pytest.mark.parametrize(("policy", "body", "expected"), BODY_CASES)
def test_body_policies_match_as_aws_documents(policy: dict, body: dict, expected: bool) -> None:
    validate(json.dumps(policy), MESSAGE_BODY)
    assert matches(policy, MESSAGE_BODY, {}, json.dumps(body)) is expected


def test_the_table_has_the_sixty_cases_the_issue_asks_for() -> None:
    assert len(ATTRIBUTE_CASES) + len(BODY_CASES) >= 60


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"rugby"', "", "{"])
def test_a_body_that_is_not_a_json_object_never_matches(body: str) -> None:
    assert matches({"customer_interests": ["rugby"]}, MESSAGE_BODY, {}, body) is False
    assert matches({"store": [{"exists": False}]}, MESSAGE_BODY, {}, body) is False


def test_body_scope_ignores_message_attributes_and_attribute_scope_ignores_the_body() -> None:
    policy = {"customer_interests": ["rugby"]}
    assert not matches(policy, MESSAGE_BODY, attributes(customer_interests=s("rugby")), "{}")
    assert not matches(policy, MESSAGE_ATTRIBUTES, {}, '{"customer_interests": "rugby"}')


def test_a_malformed_string_array_matches_nothing() -> None:
    assert not matches(INTERESTS, MESSAGE_ATTRIBUTES, attributes(customer_interests=("String.Array", "[rugby")), "")


INVALID = [
    ("not json", MESSAGE_ATTRIBUTES, "failed to parse JSON."),
    ('["rugby"]', MESSAGE_ATTRIBUTES, "Filter is not an object"),
    ('{"a": "rugby"}', MESSAGE_ATTRIBUTES, '"a" must be an object or an array'),
    ('{"a": []}', MESSAGE_ATTRIBUTES, "Empty arrays are not allowed"),
    ('{"a": [["x"]]}', MESSAGE_ATTRIBUTES, "Match value must be String, number, true, false, or null"),
    ('{"a": {"b": ["x"]}}', MESSAGE_ATTRIBUTES,
     "Filter policy scope MessageAttributes does not support nested filter policy"),
    ('{"a": {}}', MESSAGE_BODY, "Empty objects are not allowed"),
    ('{"a": [{}]}', MESSAGE_ATTRIBUTES, "Match expression name not found"),
    ('{"a": [{"prefix": "x", "suffix": "y"}]}', MESSAGE_ATTRIBUTES, "Only one key allowed in match expression"),
    ('{"a": [{"wildcard": "x*"}]}', MESSAGE_ATTRIBUTES, "Unrecognized match type wildcard"),
    ('{"a": [{"prefix": 1}]}', MESSAGE_ATTRIBUTES, "prefix match pattern must be a string"),
    ('{"a": [{"suffix": ["x"]}]}', MESSAGE_ATTRIBUTES, "suffix match pattern must be a string"),
    ('{"a": [{"equals-ignore-case": 5}]}', MESSAGE_ATTRIBUTES, "equals-ignore-case match pattern must be a string"),
    ('{"a": [{"exists": "true"}]}', MESSAGE_ATTRIBUTES, "exists match pattern must be either true or false."),
    ('{"a": [{"exists": null}]}', MESSAGE_ATTRIBUTES, "exists match pattern must be either true or false."),
    ('{"a": [{"numeric": 5}]}', MESSAGE_ATTRIBUTES, "Value of numeric must be an array."),
    ('{"a": [{"numeric": []}]}', MESSAGE_ATTRIBUTES, "Invalid member in numeric match: ]"),
    ('{"a": [{"numeric": [5]}]}', MESSAGE_ATTRIBUTES, "Invalid member in numeric match: 5"),
    ('{"a": [{"numeric": ["!=", 5]}]}', MESSAGE_ATTRIBUTES, "Unrecognized numeric range operator: !="),
    ('{"price": [{"numeric": ["<", "100"]}]}', MESSAGE_ATTRIBUTES, "Value of < must be numeric"),
    ('{"a": [{"numeric": ["="]}]}', MESSAGE_ATTRIBUTES, "Value of equals must be numeric"),
    ('{"a": [{"numeric": ["<", 5, ">", 1]}]}', MESSAGE_ATTRIBUTES, "Too many elements in numeric expression"),
    ('{"a": [{"numeric": [">", 5, 6, 1]}]}', MESSAGE_ATTRIBUTES, "Bad value in numeric range: 6"),
    ('{"a": [{"numeric": [">", 5, ">", 6]}]}', MESSAGE_ATTRIBUTES, "Bad numeric range operator: >"),
    ('{"a": [{"numeric": [">", 50, "<=", "100"]}]}', MESSAGE_ATTRIBUTES, "Value of <= must be numeric"),
    ('{"a": [{"numeric": [">", 10, "<", 5]}]}', MESSAGE_ATTRIBUTES, "Bottom must be less than top"),
    ('{"a": [{"numeric": [">", 1, "<", 5, 6]}]}', MESSAGE_ATTRIBUTES, "Too many terms in numeric range expression"),
    ('{"a": [{"numeric": ["<", 1000000001]}]}', MESSAGE_ATTRIBUTES,
     "Value must be between -1.0E9 and 1.0E9, inclusive"),
    ('{"a": [{"anything-but": {"wildcard": "x"}}]}', MESSAGE_ATTRIBUTES,
     "Unsupported anything-but pattern: wildcard"),
    ('{"a": [{"anything-but": {"prefix": ""}}]}', MESSAGE_ATTRIBUTES, "Null prefix/suffix not allowed"),
    ('{"a": [{"anything-but": {"suffix": 5}}]}', MESSAGE_ATTRIBUTES,
     "Value of anything-but must be an array or single string/number value."),
    ('{"a": [{"anything-but": ["x", 1]}]}', MESSAGE_ATTRIBUTES,
     "Inside anything but list, either all values are number or string, mixed type is not supported"),
    ('{"a": [{"anything-but": [true]}]}', MESSAGE_ATTRIBUTES,
     "Inside anything but list, start|null|boolean is not supported."),
    ('{"a": [{"anything-but": null}]}', MESSAGE_ATTRIBUTES,
     "Value of anything-but must be an array or single string/number value."),
    ('{"a": [{"cidr": 10}]}', MESSAGE_ATTRIBUTES, "prefix match pattern must be a string"),
    ('{"a": [{"cidr": "10.0.0.1"}]}', MESSAGE_ATTRIBUTES, "Malformed CIDR, one '/' required"),
    ('{"a": [{"cidr": "10.0.0.0/x"}]}', MESSAGE_ATTRIBUTES, "Malformed CIDR, mask bits must be an integer"),
    ('{"a": [{"cidr": "10.0.0.300/24"}]}', MESSAGE_ATTRIBUTES, "Nonstandard IP address: 10.0.0.300"),
    ('{"$or": [{"numeric": 123}, {"prefix": "abc"}]}', MESSAGE_ATTRIBUTES, "Value of numeric must be an array."),
    (json.dumps({f"k{i}": ["x"] for i in range(6)}), MESSAGE_ATTRIBUTES,
     "Filter policy can not have more than 5 keys"),
    (json.dumps({"a": [str(i) for i in range(10)], "b": [str(i) for i in range(16)]}), MESSAGE_ATTRIBUTES,
     "Filter policy is too complex"),
]


@pytest.mark.parametrize(("policy_text", "scope", "message"), INVALID)
def test_invalid_policies_are_refused_with_aws_messages(policy_text: str, scope: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        validate(policy_text, scope)
    assert str(refused.value) == message


def test_complexity_counts_values_times_nesting_depth_and_sums_or_branches() -> None:
    # subscription-filter-policy-constraints.html: 4 values three levels deep, 3 values two deep: 3x4x2x3 = 72
    nested = {"key_a": {"key_b": {"key_c": ["v1", "v2", "v3", "v4"]}}, "key_d": {"key_e": ["v1", "v2", "v3"]}}
    validate(json.dumps(nested), MESSAGE_BODY)
    three_deep = {"key_a": {"key_b": {"key_c": [str(i) for i in range(7)]}}, "key_d": {"key_e": ["1", "2", "3"]}}
    with pytest.raises(ValueError, match="too complex"):  # (9 values x depth 3) x (3 x 2) = 162
        validate(json.dumps({**three_deep, "key_a": {"key_b": {"key_c": [str(i) for i in range(9)]}}}),
                 MESSAGE_BODY)
    validate(json.dumps(three_deep), MESSAGE_BODY)  # (7 x 3) x (3 x 2) = 126
    branches = {"source": ["a", "b", "c", "d", "e"],
                "$or": [{"x": [str(i) for i in range(15)]}, {"y": [str(i) for i in range(15)]}]}
    validate(json.dumps(branches), MESSAGE_ATTRIBUTES)  # 5x15 + 5x15 = 150
    branches["$or"].append({"z": ["1"]})
    with pytest.raises(ValueError, match="too complex"):  # 155
        validate(json.dumps(branches), MESSAGE_ATTRIBUTES)


def test_every_documented_operator_validates_in_both_scopes() -> None:
    for policy, *_ in ATTRIBUTE_CASES:
        validate(json.dumps(policy), MESSAGE_BODY)
    assert filter_policy.is_or_relationship([{"a": ["x"]}, {"b": ["y"]}])
    assert not filter_policy.is_or_relationship([{"a": ["x"]}])


def test_deeply_nested_or_is_refused_as_too_complex_without_expanding_it() -> None:
    policy: dict = {"leaf": ["x"]}
    for level in range(40):  # 2**40 alternatives if expanded, in a few kilobytes of JSON
        policy = {"$or": [{f"a{level}": ["x"]}, {f"b{level}": ["y"]}], "next": policy}
    with pytest.raises(ValueError, match="Filter policy is too complex"):
        validate(json.dumps(policy), MESSAGE_BODY)


def test_deep_policies_and_deep_bodies_never_exhaust_the_stack() -> None:
    deep_or = '{"$or": [' * 450 + '{"leaf": ["x"]}' + ', {"b": ["y"]}]}' * 450  # as deep as JSON parses
    with pytest.raises(ValueError, match="Filter policy is too complex"):
        validate(deep_or, MESSAGE_ATTRIBUTES)
    depth = sys.getrecursionlimit() - 100  # as deep as the JSON parser still takes it here
    deep_body = '{"leaf": ' + "[" * depth + '"x"' + "]" * depth + "}"
    assert matches({"leaf": ["x"]}, MESSAGE_BODY, {}, deep_body)
    assert not matches({"leaf": ["y"]}, MESSAGE_BODY, {}, deep_body)
