"""Parameter Store's pure rules: names and hierarchies, selectors, labels, paths, filters, policies, paging."""

from __future__ import annotations

import json
import time

import pytest

from controller.errors import ServiceError
from controller.ssm import filters, names, policies
from controller.ssm.labels import relabel
from controller.ssm.model import Version
from controller.ssm.public import family_of


@pytest.mark.parametrize("name", ["plain", "/app/db/host", "a.b-c_d", "/" + "/".join(["l"] * 15),
                                  "/" + "x" * 1010])
def test_valid_names(name: str) -> None:
    names.check_name(name)


@pytest.mark.parametrize(("name", "code"), [
    ("app/db", "ValidationException"),             # a path must be fully qualified
    ("/app//db", "ValidationException"),
    ("/app/db/", "ValidationException"),
    ("/app/d b", "ValidationException"),
    ("/app/db:1", "ValidationException"),           # the colon starts a selector
    ("awsThing", "ValidationException"),
    ("/AWS/x", "AccessDeniedException"),            # /aws/ paths are AWS's public parameters
    ("/awsx", "ValidationException"),
    ("/ssm/x", "ValidationException"),
    ("SSMx", "ValidationException"),
    ("/" + "/".join(["l"] * 16), "HierarchyLevelLimitExceededException"),
    ("x" * 1012, "ValidationException"),
])
def test_invalid_names(name: str, code: str) -> None:
    with pytest.raises(ServiceError) as raised:
        names.check_name(name)
    assert raised.value.code == code


def test_one_level_names_lose_their_slash() -> None:
    assert names.check_name("/plain") == "plain"
    assert names.check_name("/a/b") == "/a/b"
    assert names.name_of_resource("/plain:3") == "plain:3"
    assert names.name_of_resource("arn:aws:ssm:r:1:parameter/plain:prod") == "plain:prod"
    assert names.name_of_resource("arn:aws:ssm:r:1:parameter/a/b:prod") == "/a/b:prod"


def test_reserved_prefix_is_only_the_first_segment() -> None:
    names.check_name("/app/aws/ssm")
    names.check_name("myaws")


def test_levels() -> None:
    assert names.levels("/a/b/c") == 3
    assert names.levels("c") == 1
    assert names.levels("/") == 1


@pytest.mark.parametrize(("name", "path", "recursive", "expected"), [
    ("/a/b", "/a", False, True),
    ("/a/b/c", "/a", False, False),
    ("/a/b/c", "/a", True, True),
    ("/a/b", "/a/", False, True),
    ("/ab/c", "/a", True, False),                   # a path is whole segments, not a string prefix
    ("/a", "/", False, True),
    ("/a/b", "/", False, False),
    ("/a/b", "/", True, True),
    ("a", "/", False, True),                        # a one-level name is at the root
    ("a", "/a", True, False),
    ("/a", "/a", True, False),                      # a path does not contain itself
])
def test_in_path(name: str, path: str, recursive: bool, expected: bool) -> None:
    assert names.in_path(name, path, recursive) is expected


def test_check_path() -> None:
    names.check_path("/")
    names.check_path("/a/b/")
    for bad in ("a/b", "/a//b", "/a b"):
        with pytest.raises(ServiceError, match="must begin with a forward slash"):
            names.check_path(bad)
    with pytest.raises(ServiceError) as raised:
        names.check_path("/" + "/".join(["l"] * 16))
    assert raised.value.code == "HierarchyLevelLimitExceededException"


def test_selectors() -> None:
    assert names.parse_selector("/a/b") == names.Selector("/a/b")
    assert names.parse_selector("/a/b:12") == names.Selector("/a/b", version=12)
    assert names.parse_selector("/a/b:prod").label == "prod"
    assert names.parse_selector("/a/b:prod").text == ":prod"
    assert names.parse_selector("/a/b:3").text == ":3"
    for bad in ("/a/b:", "/a/b:1:2", ":1"):
        with pytest.raises(ServiceError) as raised:
            names.parse_selector(bad)
        assert raised.value.code == "ValidationException"


@pytest.mark.parametrize(("label", "valid"), [
    ("prod", True), ("Release_1.2-b", True), ("x" * 100, True),
    ("x" * 101, False), ("", False), ("1st", False), ("awsLabel", False), ("SSM-x", False),
    ("has space", False), ("a/b", False), ("a:b", False),
])
def test_label_rules(label: str, valid: bool) -> None:
    assert names.valid_label(label) is valid


def test_overlong_labels_are_a_validation_error() -> None:
    names.check_label_lengths(["a", "x" * 100])
    with pytest.raises(ServiceError) as raised:
        names.check_label_lengths(["x" * 101])
    assert raised.value.code == "ValidationException"


def test_labels_move_between_versions() -> None:
    current = {1: ["prod", "blue"], 2: ["test"], 3: []}
    moved = relabel(current, 3, ["prod", "test"])
    assert moved == {1: ["blue"], 2: [], 3: ["prod", "test"]}
    assert current[1] == ["prod", "blue"]                      # the input is left alone
    assert relabel(moved, 3, ["prod"]) == moved                # relabelling the same version changes nothing


def test_arns_and_resource_ids() -> None:
    assert names.parameter_arn("aws", "home-1", "123456789012", "/a/b") == \
        "arn:aws:ssm:home-1:123456789012:parameter/a/b"
    assert names.parameter_arn("aws", "home-1", "123456789012", "plain").endswith(":parameter/plain")
    assert names.name_of_resource("arn:aws:ssm:home-1:123456789012:parameter/a/b") == "/a/b"
    assert names.name_of_resource("arn:aws:ssm:home-1:123456789012:parameter/plain") == "plain"
    assert names.name_of_resource("/a/b") == "/a/b"
    assert names.reference_arn("aws", "r", "1", "/a/b:prod") == "arn:aws:ssm:r:1:parameter/a/b"
    assert names.reference_arn("aws", "r", "1", "arn:aws:ssm:r:1:parameter/a/b:3") == \
        "arn:aws:ssm:r:1:parameter/a/b"
    assert names.reference_arn("aws", "r", "1", "/aws/service/x/latest") == \
        "arn:aws:ssm:r::parameter/aws/service/x/latest"


def test_paging_round_trip_and_bad_tokens() -> None:
    items = [f"/p/{n:02d}" for n in range(25)]
    seen, token = [], None
    while True:
        chosen, token = names.page(items, names.decode_token(token), 10, lambda item: item)
        seen.extend(chosen)
        if token is None:
            break
    assert seen == items
    assert names.page(items[:10], None, 10, lambda item: item)[1] is None
    with pytest.raises(ServiceError) as raised:
        names.decode_token("not-a-token")
    assert raised.value.code == "InvalidNextToken"


def test_max_results() -> None:
    assert names.check_max_results(None, 10) == 10
    assert names.check_max_results(3, 10) == 3
    with pytest.raises(ServiceError, match="less than or equal to 10"):
        names.check_max_results(11, 10)


def _item(name: str, type_: str = "String", key_id: str | None = None) -> Version:
    return Version(name=name, arn="arn", version=1, type=type_, value="v", modified_at=0.0, key_id=key_id)


def test_describe_filters_match() -> None:
    items = [_item("/app/a"), _item("/app/x/b", "SecureString", "alias/aws/ssm"), _item("other")]
    tags = {"/app/a": {"env": "prod"}, "/app/x/b": {"env": "dev"}}

    def run(raw: list[dict]) -> list[str]:
        chosen = filters.parse(raw, filters.DESCRIBE_KEYS)
        return [item.name for item in filters.matching(items, chosen, lambda name: tags.get(name, {}))]

    assert run([{"Key": "Name", "Option": "BeginsWith", "Values": ["/app"]}]) == ["/app/a", "/app/x/b"]
    assert run([{"Key": "Name", "Values": ["other"]}]) == ["other"]
    assert run([{"Key": "Name", "Values": ["app/a"]}]) == ["/app/a"]          # the leading slash is optional
    assert run([{"Key": "Name", "Option": "BeginsWith", "Values": ["oth"]}]) == ["other"]
    assert run([{"Key": "Name", "Option": "Contains", "Values": ["x/"]}]) == ["/app/x/b"]
    assert run([{"Key": "Path", "Values": ["/app"]}]) == ["/app/a"]
    assert run([{"Key": "Path", "Option": "Recursive", "Values": ["/app"]}]) == ["/app/a", "/app/x/b"]
    assert run([{"Key": "Type", "Values": ["SecureString"]}]) == ["/app/x/b"]
    assert run([{"Key": "KeyId", "Values": ["alias/aws/ssm"]}]) == ["/app/x/b"]
    assert run([{"Key": "tag:env", "Values": ["prod"]}]) == ["/app/a"]
    assert run([{"Key": "tag:env"}]) == ["/app/a", "/app/x/b"]
    assert run([{"Key": "tag:env"}, {"Key": "Type", "Values": ["String"]}]) == ["/app/a"]
    assert run([{"Key": "tag:env", "Option": "BeginsWith", "Values": ["pr"]}]) == ["/app/a"]
    assert run([{"Key": "Type", "Option": "BeginsWith", "Values": ["Secure"]}]) == ["/app/x/b"]


@pytest.mark.parametrize(("raw", "allowed", "code"), [
    ([{"Key": "Label", "Values": ["x"]}], filters.DESCRIBE_KEYS, "InvalidFilterKey"),
    ([{"Key": "Name", "Values": ["x"]}], filters.BY_PATH_KEYS, "InvalidFilterKey"),
    ([{"Key": "Path", "Option": "Equals", "Values": ["/a"]}], filters.DESCRIBE_KEYS, "InvalidFilterOption"),
    ([{"Key": "Label", "Option": "BeginsWith", "Values": ["pr"]}], filters.BY_PATH_KEYS, "InvalidFilterOption"),
    ([{"Key": "tag:env", "Values": ["prod"]}], filters.BY_PATH_KEYS, "InvalidFilterKey"),
    ([{"Key": "Type", "Option": "Contains", "Values": ["String"]}], filters.DESCRIBE_KEYS, "InvalidFilterOption"),
    ([{"Key": "Type", "Values": ["Number"]}], filters.DESCRIBE_KEYS, "InvalidFilterValue"),
    ([{"Key": "Path", "Values": ["app"]}], filters.DESCRIBE_KEYS, "ValidationException"),
    ([{"Key": "Name", "Values": ["a"]}, {"Key": "Name", "Values": ["b"]}], filters.DESCRIBE_KEYS,
     "ValidationException"),
    ([{"Key": "tag:", "Values": ["b"]}], filters.DESCRIBE_KEYS, "InvalidFilterKey"),
    ([{"Key": "Path", "Values": ["/aws/service"]}], filters.DESCRIBE_KEYS, "ValidationException"),
])
def test_filter_errors(raw: list[dict], allowed: tuple[str, ...], code: str) -> None:
    with pytest.raises(ServiceError) as raised:
        filters.parse(raw, allowed)
    assert raised.value.code == code


def test_legacy_filters() -> None:
    chosen = filters.parse_legacy([{"Key": "Name", "Values": ["/app"]}])
    assert [item.name for item in filters.matching([_item("/app/a"), _item("/b")], chosen, dict)] == ["/app/a"]


def test_expiration_policy() -> None:
    now = time.time()
    text = json.dumps([{"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": "2099-01-01T00:00:00Z"}},
                       {"Type": "NoChangeNotification", "Version": "1.0",
                        "Attributes": {"After": "20", "Unit": "Days"}}])
    inline, expires_at = policies.parse(text, now)
    assert expires_at == 4070908800.0
    assert [item["PolicyType"] for item in inline] == ["Expiration", "NoChangeNotification"]
    assert all(item["PolicyStatus"] == "Pending" for item in inline)


@pytest.mark.parametrize(("policy", "code"), [
    ({"Type": "Deletion", "Attributes": {}}, "InvalidPolicyTypeException"),
    ({"Type": "Expiration", "Attributes": {"Timestamp": "2001-01-01T00:00:00Z"}}, "InvalidPolicyAttributeException"),
    ({"Type": "Expiration", "Attributes": {"Timestamp": "soon"}}, "InvalidPolicyAttributeException"),
    ({"Type": "ExpirationNotification", "Attributes": {"Before": "x", "Unit": "Days"}},
     "InvalidPolicyAttributeException"),
])
def test_policy_errors(policy: dict, code: str) -> None:
    with pytest.raises(ServiceError) as raised:
        policies.parse(json.dumps([policy]), time.time())
    assert raised.value.code == code


def test_image_families() -> None:
    assert family_of("cloudlet-tiny-1a2b3c4d") == "cloudlet-tiny"
    assert family_of("debian-12-0123abcd") == "debian-12"
    assert family_of("my-image") == "my-image"
