"""EFS's pure rules: throughput and performance modes, the 24-hour throughput rule, lifecycle policies,
tags, paging markers, and what a file system policy lets an anonymous NFS client do."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from controller.efs import client_access, rules
from controller.efs.errors import BadRequest, ThroughputLimitExceeded, TooManyRequests, ValidationException

NOW = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
FS_ARN = "arn:aws:elasticfilesystem:home-1:111111111111:file-system/fs-0123456789abcdef0"
AP_ARN = "arn:aws:elasticfilesystem:home-1:111111111111:access-point/fsap-0123456789abcdef0"


@pytest.mark.parametrize(("performance", "throughput", "provisioned", "one_zone", "error"), [
    ("maxIO", "bursting", None, True, BadRequest),
    ("maxIO", "elastic", None, False, BadRequest),
    ("generalPurpose", "provisioned", None, False, BadRequest),
    ("generalPurpose", "bursting", 10.0, False, BadRequest),
    ("generalPurpose", "provisioned", 0.5, False, BadRequest),
    ("generalPurpose", "provisioned", 2048.0, False, ThroughputLimitExceeded),
])
def test_new_file_system_modes_refused(performance: str, throughput: str, provisioned: float | None,
                                       one_zone: bool, error: type[Exception]) -> None:
    with pytest.raises(error):
        rules.check_new_file_system(performance, throughput, provisioned, one_zone)


@pytest.mark.parametrize(("performance", "throughput", "provisioned", "one_zone"), [
    ("maxIO", "bursting", None, False), ("maxIO", "provisioned", 100.0, False),
    ("generalPurpose", "elastic", None, True), ("generalPurpose", "provisioned", 1024.0, False)])
def test_new_file_system_modes_accepted(performance: str, throughput: str, provisioned: float | None,
                                        one_zone: bool) -> None:
    rules.check_new_file_system(performance, throughput, provisioned, one_zone)


def test_raising_provisioned_throughput_is_always_allowed_lowering_once_a_day() -> None:
    mode, mibps, restricted = rules.updated_throughput("provisioned", 100.0, NOW, "generalPurpose", None, 200.0, NOW)
    assert (mode, mibps, restricted) == ("provisioned", 200.0, NOW)  # a raise does not restart the clock
    with pytest.raises(TooManyRequests) as refused:
        rules.updated_throughput("provisioned", 200.0, NOW, "generalPurpose", None, 50.0, NOW + dt.timedelta(hours=1))
    assert "Wait until 2026-01-02T12:00:00Z UTC" in refused.value.message
    later = NOW + dt.timedelta(hours=24)
    assert rules.updated_throughput("provisioned", 200.0, NOW, "generalPurpose", None, 50.0, later) == (
        "provisioned", 50.0, later)


def test_mode_changes_follow_the_24_hour_rule_and_the_amount_rules() -> None:
    assert rules.updated_throughput("bursting", None, None, "generalPurpose", "elastic", None, NOW) == (
        "elastic", None, NOW)
    with pytest.raises(TooManyRequests):
        rules.updated_throughput("elastic", None, NOW, "generalPurpose", "bursting", None, NOW)
    with pytest.raises(BadRequest):  # provisioned needs an amount
        rules.updated_throughput("bursting", None, None, "generalPurpose", "provisioned", None, NOW)
    with pytest.raises(BadRequest):  # an amount needs provisioned
        rules.updated_throughput("bursting", None, None, "generalPurpose", None, 10.0, NOW)
    with pytest.raises(BadRequest):
        rules.updated_throughput("bursting", None, None, "maxIO", "elastic", None, NOW)
    with pytest.raises(BadRequest):
        rules.updated_throughput("bursting", None, None, "generalPurpose", None, None, NOW)
    with pytest.raises(ThroughputLimitExceeded):
        rules.updated_throughput("bursting", None, None, "generalPurpose", "provisioned", 5000.0, NOW)


def test_lifecycle_policies() -> None:
    policies = [{"TransitionToIA": "AFTER_30_DAYS"}, {"TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"}]
    assert rules.check_lifecycle_policies(policies, "bursting") == policies
    assert rules.check_lifecycle_policies([], "bursting") == []
    for bad, mode in (([{"TransitionToIA": "AFTER_7_DAYS", "TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"}],
                       "bursting"),
                      ([{"TransitionToIA": "AFTER_7_DAYS"}, {"TransitionToIA": "AFTER_14_DAYS"}], "bursting"),
                      ([{"TransitionToArchive": "AFTER_90_DAYS"}], "bursting"),
                      ([{"TransitionToIA": "AFTER_90_DAYS"}, {"TransitionToArchive": "AFTER_60_DAYS"}], "elastic"),
                      ([{}], "bursting")):
        with pytest.raises(BadRequest):
            rules.check_lifecycle_policies(bad, mode)
    assert rules.check_lifecycle_policies(
        [{"TransitionToIA": "AFTER_30_DAYS"}, {"TransitionToArchive": "AFTER_90_DAYS"}], "elastic")[1] == {
        "TransitionToArchive": "AFTER_90_DAYS"}


def test_tags_merge_replace_and_refuse() -> None:
    tags = rules.merged_tags([{"Key": "a", "Value": "1"}], [{"Key": "a", "Value": "2"}, {"Key": "Name", "Value": "n"}])
    assert tags == [{"Key": "a", "Value": "2"}, {"Key": "Name", "Value": "n"}]
    assert rules.name_of(tags) == "n" and rules.name_of([]) is None
    assert rules.without_tags(tags, ["a", "missing"]) == [{"Key": "Name", "Value": "n"}]
    with pytest.raises(ValidationException):
        rules.merged_tags([], [{"Key": "aws:x", "Value": "1"}])
    with pytest.raises(BadRequest):
        rules.merged_tags([], [{"Key": f"k{i}", "Value": ""} for i in range(51)])


def test_paging_walks_every_item_once_and_refuses_foreign_markers() -> None:
    items = list(range(1, 8))
    seen, marker = [], None
    while True:
        chunk, marker = rules.page(items, lambda i: i, marker, 3, 100)
        seen.extend(chunk)
        if marker is None:
            break
    assert seen == items
    assert rules.page(items, lambda i: i, None, None, 100) == (items, None)
    for bad in ("nonsense", "Zm9vOjE=", "ZWZzOng="):  # not base64 / "foo:1" / "efs:x"
        with pytest.raises(BadRequest):
            rules.page(items, lambda i: i, bad, 3, 100)


def test_life_cycle_state_is_time_driven() -> None:
    assert rules.life_cycle_state(NOW, NOW) == "creating"
    assert rules.life_cycle_state(NOW, NOW + dt.timedelta(seconds=rules.CREATION_SECONDS)) == "available"


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_client_access_without_policy_allows_everything() -> None:
    assert client_access.anonymous_access(None, FS_ARN, "111111111111") == {"mount": True, "write": True,
                                                                             "root": True}


def test_client_access_evaluates_the_policy_for_an_anonymous_plain_nfs_client() -> None:
    read_only = _policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "elasticfilesystem:ClientMount",
                         "Resource": FS_ARN})
    assert client_access.anonymous_access(read_only, FS_ARN, "111111111111") == {
        "mount": True, "write": False, "root": False}
    tls_only = _policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "elasticfilesystem:*",
                        "Resource": FS_ARN},
                       {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    assert client_access.anonymous_access(tls_only, FS_ARN, "111111111111") == {
        "mount": False, "write": False, "root": False}
    through_ap = _policy({"Effect": "Allow", "Principal": {"AWS": "*"},
                          "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                          "Condition": {"StringEquals": {"elasticfilesystem:AccessPointArn": AP_ARN}}})
    assert client_access.anonymous_access(through_ap, FS_ARN, "111111111111")["mount"] is False
    assert client_access.anonymous_access(through_ap, FS_ARN, "111111111111", AP_ARN) == {
        "mount": True, "write": True, "root": False}
