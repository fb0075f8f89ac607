"""ARN parsing, formatting, defaults and ArnLike matching, with many cases and random properties."""

from __future__ import annotations

import random
import string

import pytest

from controller import arn

VALID = [
    ("arn:aws:iam::123456789012:user/jimmy", ("aws", "iam", "", "123456789012", "user/jimmy"), "user", "jimmy"),
    ("arn:aws:iam::123456789012:user/division/team/jimmy", None, "user", "division/team/jimmy"),
    ("arn:aws:sns:us-east-1:123456789012:example-topic", None, "", "example-topic"),
    ("arn:aws:s3:::my_bucket/Directory1", ("aws", "s3", "", "", "my_bucket/Directory1"), "my_bucket",
     "Directory1"),
    ("arn:aws:s3:::my_bucket", None, "", "my_bucket"),
    ("arn:aws:s3:::b/a key with spaces/ü/中:x", None, "b", "a key with spaces/ü/中:x"),
    ("arn:aws:ec2:us-east-1:123456789012:instance/i-0abc", None, "instance", "i-0abc"),
    ("arn:aws:logs:us-east-1:123456789012:log-group:my/group:*", None, "log-group", "my/group:*"),
    ("arn:aws:iam::aws:policy/AdministratorAccess", ("aws", "iam", "", "aws", "policy/AdministratorAccess"),
     "policy", "AdministratorAccess"),
    ("arn:aws:iam::123456789012:root", None, "", "root"),
    ("arn:aws-cn:ec2:cn-north-1:123456789012:vpc/vpc-1", None, "vpc", "vpc-1"),
    ("arn:aws-us-gov:s3:::bucket", None, "", "bucket"),
    ("arn:aws:sts::123456789012:assumed-role/role/session", None, "assumed-role", "role/session"),
    ("arn:aws:execute-api:us-east-1:123456789012:api/stage/GET/path", None, "api", "stage/GET/path"),
    ("arn:aws:organizations::111111111111:account/o-abc/222222222222", None, "account", "o-abc/222222222222"),
]

INVALID = [
    ("", "is not an ARN"),
    ("*", "is not an ARN"),
    ("arn:aws:iam::123456789012", "is not an ARN"),
    ("urn:aws:iam::123456789012:user/x", "is not an ARN"),
    ("arn::iam::123456789012:user/x", "invalid partition"),
    ("arn:AWS:iam::123456789012:user/x", "invalid partition"),
    ("arn:aws::us-east-1:123456789012:x", "invalid service"),
    ("arn:aws:IAM::123456789012:user/x", "invalid service"),
    ("arn:aws:ec2:US_EAST:123456789012:instance/i", "invalid region"),
    ("arn:aws:ec2:us-east-1:12345:instance/i", "invalid account"),
    ("arn:aws:ec2:us-east-1:1234567890123:instance/i", "invalid account"),
    ("arn:aws:ec2:us-east-1:*:instance/i", "invalid account"),
    ("arn:aws:iam::123456789012:", "no resource"),
    ("arn:aws:s3:::bucket/a\nb", "control character"),
]


@pytest.mark.parametrize("text,parts,resource_type,resource_id", VALID)
def test_valid_arns_parse_and_format_back(text, parts, resource_type, resource_id):
    parsed = arn.parse(text)
    if parts:
        assert (parsed.partition, parsed.service, parsed.region, parsed.account, parsed.resource) == parts
    assert (parsed.resource_type, parsed.resource_id) == (resource_type, resource_id)
    assert str(parsed) == text
    assert arn.is_arn(text)
    assert arn.build(parsed.service, parsed.region, parsed.account, parsed.resource,
                     partition=parsed.partition) == text


@pytest.mark.parametrize("text,problem", INVALID)
def test_invalid_arns_say_what_is_wrong(text, problem):
    with pytest.raises(arn.ArnError, match=problem):
        arn.parse(text)
    assert not arn.is_arn(text)


def test_build_validates():
    assert arn.build("iam", "", "123456789012", "user/path/name") == "arn:aws:iam::123456789012:user/path/name"
    with pytest.raises(arn.ArnError):
        arn.build("iam", "", "1234", "user/name")


@pytest.mark.parametrize("pattern", ["arn:aws:s3:::bucket/*", "arn:aws:iam::*:role/?ole", "arn:*:*:*:*:*",
                                     "arn:aws:ec2:us-*-1::instance/*"])
def test_patterns_parse_with_wildcards_only(pattern):
    assert str(arn.parse(pattern, wildcards=True)) == pattern


def test_patterns_still_need_six_parts_and_a_resource():
    for pattern in ("arn:*", "arn:aws:s3:::", "arn:aws:S3:::b"):
        with pytest.raises(arn.ArnError):
            arn.parse(pattern, wildcards=True)


MATCHES = [
    ("*", "arn:aws:s3:::anything", True),
    ("arn:aws:s3:::my_bucket", "arn:aws:s3:::my_bucket", True),
    ("arn:aws:s3:::my_bucket", "arn:aws:s3:::my_bucket/key", False),
    ("arn:aws:s3:::my_bucket/*", "arn:aws:s3:::my_bucket/Directory1", True),
    ("arn:aws:s3:::my_bucket/*", "arn:aws:s3:::my_bucket/a/b:c", True),
    ("arn:aws:s3:::my_bucket/*", "arn:aws:s3:::my_bucket", False),
    ("arn:aws:s3:::my_bucket*", "arn:aws:s3:::my_bucket/x", True),
    ("arn:aws:iam::*:user/*", "arn:aws:iam::123456789012:user/a/b", True),
    ("arn:aws:iam::*:user/*", "arn:aws:iam::123456789012:role/a", False),
    ("arn:aws:iam::123456789012:user/?ob", "arn:aws:iam::123456789012:user/bob", True),
    ("arn:aws:iam::123456789012:user/?ob", "arn:aws:iam::123456789012:user/bbob", False),
    ("arn:aws:iam::123456789012:user/?", "arn:aws:iam::123456789012:user/:", True),
    ("arn:aws:ec2:*::instance/*", "arn:aws:ec2:us-east-1::instance/i-1", True),
    # a wildcard in the region can't swallow the account's colon
    ("arn:aws:ec2:*:instance/*", "arn:aws:ec2:us-east-1:123456789012:instance/i-1", False),
    ("arn:aws:ec2:us-east-1:*", "arn:aws:ec2:us-east-1:123456789012:instance/i-1", False),
    ("arn:aws:ec2:us-east-1:*:*", "arn:aws:ec2:us-east-1:123456789012:instance/i-1", True),
    ("arn:*:*:*:*:*", "arn:aws:s3:::b", True),
    ("arn:aws:s3:::B", "arn:aws:s3:::b", False),
    ("arn:aws:s3:::a.b", "arn:aws:s3:::aXb", False),
    ("arn:aws:s3:::a+b(c)[d]", "arn:aws:s3:::a+b(c)[d]", True),
    ("arn:aws:s3:::a*", "not an arn", False),
    ("arn:*", "arn:aws:s3:::b", False),
    ("arn:aws:logs:*:*:log-group:g:*", "arn:aws:logs:us-east-1:123456789012:log-group:g:log-stream:s", True),
    ("arn:aws:s3:::b/\n", "arn:aws:s3:::b/\n", True),
    ("arn:aws:s3:::b/*", "arn:aws:s3:::b/line\nbreak", True),
]


@pytest.mark.parametrize("pattern,value,expected", MATCHES)
def test_matches(pattern, value, expected):
    assert arn.matches(pattern, value) is expected


def glob_part(pattern: str, text: str) -> bool:
    """A reference wildcard matcher (dynamic programming), independent of the regex one."""
    matched = [[False] * (len(text) + 1) for _ in range(len(pattern) + 1)]
    matched[0][0] = True
    for i, char in enumerate(pattern, 1):
        matched[i][0] = matched[i - 1][0] and char == "*"
        for j in range(1, len(text) + 1):
            if char == "*":
                matched[i][j] = matched[i - 1][j] or matched[i][j - 1]
            else:
                matched[i][j] = matched[i - 1][j - 1] and (char == "?" or char == text[j - 1])
    return matched[-1][-1]


def reference_matches(pattern: str, value: str) -> bool:
    if pattern == "*":
        return True
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(glob_part(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def random_arn(rng: random.Random) -> str:
    def word(alphabet: str, low: int, high: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))

    service = rng.choice(["s3", "iam", "ec2", "sts", "sns", "logs"])
    region = rng.choice(["", "us-east-1", "eu-west-2"])
    account = rng.choice(["", "123456789012", "210987654321"])
    resource = word(string.ascii_letters + string.digits + "/:-_.*?+ é", 1, 24)
    return f"arn:{rng.choice(['aws', 'aws-cn'])}:{service}:{region}:{account}:{resource}"


def random_pattern_of(rng: random.Random, value: str) -> str:
    """``value`` with random spans turned into ``*`` and random characters into ``?`` (colons too)."""
    chars = list(value)
    for _ in range(rng.randint(0, 4)):
        if not chars:
            break
        start = rng.randrange(len(chars))
        end = min(len(chars), start + rng.randint(0, 6))
        chars[start:end] = ["*"] if rng.random() < 0.7 else ["?"] * (end - start)
    if rng.random() < 0.3 and chars:
        chars[rng.randrange(len(chars))] = rng.choice("ab:/x")
    return "".join(chars)


def test_matching_agrees_with_a_reference_on_random_cases():
    rng = random.Random(20130524)
    agreed = positives = 0
    for _ in range(4000):
        value = random_arn(rng)
        pattern = random_pattern_of(rng, value if rng.random() < 0.8 else random_arn(rng))
        expected = reference_matches(pattern, value)
        assert arn.matches(pattern, value) is expected, (pattern, value)
        agreed += 1
        positives += expected
    assert agreed == 4000 and 500 < positives < 3900


def test_an_arn_matches_itself_and_a_star_per_part():
    rng = random.Random(7)
    for _ in range(500):
        value = random_arn(rng)
        assert arn.matches(value, value)
        parts = value.split(":", 5)
        for index in range(1, 6):
            starred = parts[:index] + ["*"] + parts[index + 1:]
            assert arn.matches(":".join(starred), value)


def test_parse_and_str_round_trip_on_random_arns():
    rng = random.Random(11)
    for _ in range(500):
        value = random_arn(rng)
        parsed = arn.parse(value)
        assert str(parsed) == value
        kind, ident = parsed.resource_type, parsed.resource_id
        assert "/" not in kind and ":" not in kind
        if kind:
            separator = parsed.resource[len(kind)]
            assert separator in "/:" and parsed.resource == f"{kind}{separator}{ident}"
        else:
            assert ident == parsed.resource
            assert parsed.resource[0] in "/:" or ("/" not in ident and ":" not in ident)


DEFAULTS = [
    ("arn:aws:ec2:::instance/my-instance", "arn:aws:ec2:us-east-1:123456789012:instance/my-instance"),
    ("arn:aws:ec2:us-east-1::instance/*", "arn:aws:ec2:us-east-1:123456789012:instance/*"),
    ("arn:aws:ec2:eu-west-1:210987654321:instance/*", "arn:aws:ec2:eu-west-1:210987654321:instance/*"),
    ("arn:aws:ec2:*::instance/*", "arn:aws:ec2:*:123456789012:instance/*"),
    ("arn:aws:s3:::my_bucket/Directory1", "arn:aws:s3:::my_bucket/Directory1"),
    ("arn:aws:s3:::my_bucket", "arn:aws:s3:::my_bucket"),
    ("arn:aws:s3:us-west-2:210987654321:accesspoint/ap", "arn:aws:s3:us-west-2:210987654321:accesspoint/ap"),
    ("arn:aws:iam:::user/jimmy", "arn:aws:iam::123456789012:user/jimmy"),
    ("arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
    ("arn:aws:sts:::assumed-role/r/s", "arn:aws:sts::123456789012:assumed-role/r/s"),
    ("arn:aws:route53:::hostedzone/Z1", "arn:aws:route53:::hostedzone/Z1"),
    ("arn:aws:sns:::topic", "arn:aws:sns:us-east-1:123456789012:topic"),
    ("*", "*"),
    ("not-an-arn", "not-an-arn"),
]


@pytest.mark.parametrize("given,expected", DEFAULTS)
def test_with_defaults(given, expected):
    assert arn.with_defaults(given, region="us-east-1", account="123456789012") == expected


def test_with_defaults_on_a_parsed_arn():
    parsed = arn.parse("arn:aws:ec2:::vpc/vpc-1")
    filled = arn.with_defaults(parsed, region="eu-west-1", account="123456789012")
    assert (filled.region, filled.account, filled.resource_type) == ("eu-west-1", "123456789012", "vpc")
    same = arn.parse("arn:aws:s3:::b")
    assert arn.with_defaults(same, region="eu-west-1", account="123456789012") is same
