"""The pure checks of S3's website, logging, notification and Object Lock settings (controller/s3/bucket_features)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from controller.errors import ServiceError
from controller.s3.bucket_features import (
    NOTIFICATION_EVENTS,
    check_logging,
    check_notification,
    check_object_lock,
    check_website,
)


def code_of(check: Callable[[dict], object], configuration: dict) -> str:
    with pytest.raises(ServiceError) as excinfo:
        check(configuration)
    return excinfo.value.code


def test_website_keeps_only_what_was_sent() -> None:
    site = {"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "oops.html"}}
    assert check_website(site) == site
    redirect = {"RedirectAllRequestsTo": {"HostName": "example.com"}}
    assert check_website(redirect) == redirect


@pytest.mark.parametrize(("configuration", "code"), [
    ({"RedirectAllRequestsTo": {"HostName": "example.com"}, "RoutingRules": []}, "InvalidArgument"),
    ({"RedirectAllRequestsTo": {"HostName": ""}}, "MalformedXML"),
    ({"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": ""}}, "MalformedXML"),
    ({"IndexDocument": {"Suffix": "index.html"}, "RoutingRules": []}, "MalformedXML"),
    ({"IndexDocument": {"Suffix": "x"}, "RoutingRules": [{"Redirect": {"HttpRedirectCode": "3O1"}}]},
     "InvalidRequest"),
    ({"IndexDocument": {"Suffix": "x"}, "RoutingRules": [{"Redirect": {"HttpRedirectCode": "\u0663\u0660\u0661"}}]},
     "InvalidRequest"),
    ({"IndexDocument": {"Suffix": "x"}, "RoutingRules": [
        {"Condition": {"HttpErrorCodeReturnedEquals": "600"}, "Redirect": {}}]}, "InvalidRequest"),
    ({"IndexDocument": {"Suffix": "x"}, "RoutingRules": [{"Redirect": {"Protocol": "gopher"}}]}, "InvalidRequest"),
])
def test_website_refusals(configuration: dict, code: str) -> None:
    assert code_of(check_website, configuration) == code


def test_website_accepts_every_redirect_code_but_300_and_every_error_code() -> None:
    for status in ("301", "302", "307", "308", "399"):
        check_website({"IndexDocument": {"Suffix": "x"}, "RoutingRules": [{"Redirect": {"HttpRedirectCode": status}}]})
    for status in ("400", "404", "503", "599"):
        check_website({"IndexDocument": {"Suffix": "x"}, "RoutingRules": [
            {"Condition": {"HttpErrorCodeReturnedEquals": status}, "Redirect": {"HostName": "h"}}]})


@pytest.mark.parametrize("enabled", [
    {"TargetBucket": "b", "TargetPrefix": "", "TargetGrants": [{"Grantee": {"Type": "Group"}, "Permission": "ALL"}]},
    {"TargetBucket": "b", "TargetPrefix": "", "TargetGrants": [{"Grantee": {"Type": "Robot"}, "Permission": "READ"}]},
    {"TargetBucket": "b", "TargetPrefix": "", "TargetObjectKeyFormat": {}},
    {"TargetBucket": "b", "TargetPrefix": "", "TargetObjectKeyFormat": {"SimplePrefix": {}, "PartitionedPrefix": {}}},
    {"TargetBucket": "b", "TargetPrefix": "", "TargetObjectKeyFormat": {
        "PartitionedPrefix": {"PartitionDateSource": "Yesterday"}}},
])
def test_logging_enumerations_must_hold_s3_values(enabled: dict) -> None:
    assert code_of(check_logging, enabled) == "MalformedXML"


def test_logging_keeps_a_valid_status_whole() -> None:
    enabled = {"TargetBucket": "b", "TargetPrefix": "p/", "TargetGrants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": "abc"}, "Permission": "READ"}],
        "TargetObjectKeyFormat": {"SimplePrefix": {}}}
    assert check_logging(enabled) == enabled


def test_notification_events_are_the_models() -> None:
    assert {"s3:ObjectCreated:*", "s3:ObjectRemoved:Delete", "s3:ObjectTagging:Put"} <= NOTIFICATION_EVENTS
    assert "s3:ObjectCreated" not in NOTIFICATION_EVENTS


def test_notifications_store_only_eventbridge_or_nothing() -> None:
    assert check_notification({}) is None
    assert check_notification({"EventBridgeConfiguration": {}}) == {"EventBridgeConfiguration": {}}


@pytest.mark.parametrize(("configuration", "message"), [
    ({"QueueConfigurations": [{"QueueArn": "arn:aws:sqs:r:1:q", "Events": ["s3:Nope"]}]},
     "The event is not supported for notifications"),
    ({"TopicConfigurations": [{"TopicArn": "arn:aws:sqs:r:1:q", "Events": ["s3:ObjectCreated:*"]}]},
     "The ARN is not well formed"),
    ({"QueueConfigurations": [{"QueueArn": "arn:aws:sqs:r:1:q", "Events": ["s3:ObjectCreated:*"],
                               "Filter": {"Key": {"FilterRules": [{"Name": "middle", "Value": "x"}]}}}]},
     "filter rule name must be either prefix or suffix"),
    ({"QueueConfigurations": [{"QueueArn": "arn:aws:sqs:r:1:q", "Events": ["s3:ObjectCreated:*"],
                               "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "a"},
                                                                  {"Name": "Prefix", "Value": "b"}]}}}]},
     "Cannot specify more than one prefix rule in a filter."),
    ({"EventBridgeConfiguration": {}, "LambdaFunctionConfigurations": [
        {"LambdaFunctionArn": "arn:aws:lambda:r:1:function:f", "Events": ["s3:ObjectRemoved:*"]}]},
     "Unable to validate the following destination configurations"),
])
def test_notification_refusals(configuration: dict, message: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        check_notification(configuration)
    assert (excinfo.value.code, excinfo.value.message) == ("InvalidArgument", message)


def test_object_lock_keeps_the_one_period_sent() -> None:
    assert check_object_lock({"ObjectLockEnabled": "Enabled"}) == {"ObjectLockEnabled": "Enabled"}
    assert check_object_lock({"ObjectLockEnabled": "Enabled", "Rule": {
        "DefaultRetention": {"Mode": "COMPLIANCE", "Years": 7}}}) == {
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 7}}}


@pytest.mark.parametrize(("configuration", "code"), [
    ({"ObjectLockEnabled": "Disabled"}, "MalformedXML"),
    ({"ObjectLockEnabled": "Enabled", "Rule": {}}, "MalformedXML"),
    ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Days": 1}}}, "MalformedXML"),
    ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Years": 0}}},
     "InvalidArgument"),
])
def test_object_lock_refusals(configuration: dict, code: str) -> None:
    assert code_of(check_object_lock, configuration) == code
