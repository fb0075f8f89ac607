"""IAM's ids, ARNs, paths, tags and pagination markers (controller/iam/naming.py)."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from controller.iam.errors import InvalidInput, LimitExceeded, ValidationError
from controller.iam.naming import (
    ID_ALPHABET,
    check_path,
    encode_document,
    iam_arn,
    merge_tags,
    new_unique_id,
    paginate,
    remove_tags,
)


@pytest.mark.parametrize(("kind", "prefix"), [("user", "AIDA"), ("group", "AGPA"), ("role", "AROA"),
                                              ("policy", "ANPA"), ("instance-profile", "AIPA")])
def test_unique_ids_have_aws_prefixes_and_length(kind: str, prefix: str) -> None:
    ids = {new_unique_id(kind) for _ in range(50)}
    assert len(ids) == 50
    for unique_id in ids:
        assert unique_id.startswith(prefix) and len(unique_id) == 21
        assert set(unique_id[4:]) <= set(ID_ALPHABET)


def test_arns_carry_the_path() -> None:
    assert iam_arn("aws", "123456789012", "user", "/", "bob") == "arn:aws:iam::123456789012:user/bob"
    assert iam_arn("aws", "123456789012", "role", "/a/b/", "r") == "arn:aws:iam::123456789012:role/a/b/r"


def test_paths_default_to_slash_and_must_be_delimited() -> None:
    assert check_path(None) == "/"
    assert check_path("/team/") == "/team/"
    with pytest.raises(ValidationError):
        check_path("team/")


def test_tags_merge_case_insensitively_and_keep_the_quota() -> None:
    tags = merge_tags([{"Key": "Dept", "Value": "ops"}], [{"Key": "dept", "Value": "it"}, {"Key": "env", "Value": ""}])
    assert tags == [{"Key": "dept", "Value": "it"}, {"Key": "env", "Value": ""}]
    with pytest.raises(InvalidInput):
        merge_tags([], [{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
    with pytest.raises(LimitExceeded):
        merge_tags([], [{"Key": f"k{index}", "Value": "v"} for index in range(51)])
    assert remove_tags(tags, ["DEPT", "missing"]) == [{"Key": "env", "Value": ""}]


def test_pagination_markers_survive_deletions() -> None:
    items = [f"n{index}" for index in range(5)]
    first = paginate(items, {"MaxItems": 2}, str, "Items")
    assert first["Items"] == ["n0", "n1"] and first["IsTruncated"]
    remaining = [item for item in items if item != "n0"]  # deleted between pages
    second = paginate(remaining, {"MaxItems": 2, "Marker": first["Marker"]}, str, "Items")
    assert second["Items"] == ["n2", "n3"]
    last = paginate(items, {"MaxItems": 2, "Marker": second["Marker"]}, str, "Items")
    assert last == {"Items": ["n4"], "IsTruncated": False}
    assert paginate(items, {}, str, "Items")["Items"] == items  # 100 by default
    with pytest.raises(ValidationError):
        paginate(items, {"Marker": "garbage"}, str, "Items")


def test_documents_are_url_encoded_as_aws_returns_them() -> None:
    text = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                                "Resource": "arn:aws:s3:::a b/*"}]})
    encoded = encode_document(text)
    assert "{" not in encoded and " " not in encoded and '"' not in encoded
    assert unquote(encoded) == text
