"""Website, access logging, event notifications and Object Lock settings over real HTTP, as boto3 sends them.

Each setting is stored and read back as S3 does, refused with S3's code and status when
it is wrong, and a refused write leaves the setting as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from tests.e2e.helpers import Cleanup
from tests.e2e.s3_helpers import new_bucket, remove_bucket
from tests.e2e.test_s3_access import other_account
from tests.support import CloudletProcess


@pytest.fixture
def bucket(s3: Any, unique: str) -> Iterator[str]:
    name = new_bucket(s3, f"{unique}-feat")
    yield name
    remove_bucket(s3, name)


def refusal(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    """The HTTP status, error code and message of a call that must fail."""
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call(**kwargs)
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


# --- website ------------------------------------------------------------------------------------------------

SITE = {"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"},
        "RoutingRules": [{"Condition": {"KeyPrefixEquals": "docs/"},
                          "Redirect": {"ReplaceKeyPrefixWith": "documents/", "HttpRedirectCode": "301"}},
                         {"Condition": {"HttpErrorCodeReturnedEquals": "404"},
                          "Redirect": {"HostName": "example.com", "Protocol": "https"}}]}


def test_website_configuration_round_trip(s3: Any, bucket: str) -> None:
    assert refusal(s3.get_bucket_website, Bucket=bucket)[:2] == (404, "NoSuchWebsiteConfiguration")
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=SITE)
    stored = s3.get_bucket_website(Bucket=bucket)
    assert {member: stored[member] for member in SITE} == SITE
    assert "RedirectAllRequestsTo" not in stored
    redirect = {"RedirectAllRequestsTo": {"HostName": "www.example.com", "Protocol": "https"}}
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=redirect)  # replaces the whole document
    stored = s3.get_bucket_website(Bucket=bucket)
    assert stored["RedirectAllRequestsTo"] == redirect["RedirectAllRequestsTo"]
    assert "IndexDocument" not in stored and "RoutingRules" not in stored
    s3.delete_bucket_website(Bucket=bucket)
    assert refusal(s3.get_bucket_website, Bucket=bucket)[:2] == (404, "NoSuchWebsiteConfiguration")
    s3.delete_bucket_website(Bucket=bucket)  # deleting none succeeds, as on S3


@pytest.mark.parametrize(("configuration", "code", "message"), [
    ({}, "InvalidArgument", "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty"),
    ({"IndexDocument": {"Suffix": "a/index.html"}}, "InvalidArgument", "The IndexDocument Suffix is not well formed"),
    ({"IndexDocument": {"Suffix": ""}}, "InvalidArgument", "The IndexDocument Suffix is not well formed"),
    ({"IndexDocument": {"Suffix": "index.html"}, "RedirectAllRequestsTo": {"HostName": "example.com"}},
     "InvalidArgument", "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules."),
    ({"RedirectAllRequestsTo": {"HostName": "example.com", "Protocol": "ftp"}}, "InvalidRequest",
     "Invalid protocol, protocol can be http or https. If not defined the protocol will be selected "
     "automatically."),
    ({"IndexDocument": {"Suffix": "index.html"}, "RoutingRules": [
        {"Redirect": {"ReplaceKeyWith": "a", "ReplaceKeyPrefixWith": "b/"}}]}, "InvalidRequest",
     "You can only define ReplaceKeyPrefix or ReplaceKey but not both."),
    ({"IndexDocument": {"Suffix": "index.html"}, "RoutingRules": [
        {"Redirect": {"HttpRedirectCode": "300"}}]}, "InvalidRequest",
     "The provided HTTP redirect code (300) is not valid. Valid codes are 3XX except 300."),
    ({"IndexDocument": {"Suffix": "index.html"}, "RoutingRules": [
        {"Condition": {"HttpErrorCodeReturnedEquals": "302"}, "Redirect": {"HostName": "example.com"}}]},
     "InvalidRequest", "The provided HTTP error code (302) is not valid. Valid codes are 4XX or 5XX."),
    ({"IndexDocument": {"Suffix": "index.html"}, "RoutingRules": [
        {"Condition": {}, "Redirect": {"HostName": "example.com"}}]}, "InvalidRequest",
     "Condition cannot be empty. To redirect all requests without a condition, the condition element shouldn't "
     "be present."),
    ({"IndexDocument": {"Suffix": "index.html"}, "RoutingRules": [{"Redirect": {"HostName": "example.com"}}] * 51},
     "InvalidRequest", "51 routing rules provided, the number of routing rules in a website configuration is "
     "limited to 50."),
], ids=["nothing", "slash", "empty-suffix", "redirect-and-index", "protocol", "both-replacements",
        "redirect-300", "condition-302", "empty-condition", "51-rules"])
def test_bad_website_configurations_are_refused_and_change_nothing(s3: Any, bucket: str, configuration: dict,
                                                                   code: str, message: str) -> None:
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "home.html"}})
    assert refusal(s3.put_bucket_website, Bucket=bucket, WebsiteConfiguration=configuration) == (400, code, message)
    assert s3.get_bucket_website(Bucket=bucket)["IndexDocument"] == {"Suffix": "home.html"}


def test_website_needs_its_bucket(s3: Any) -> None:
    assert refusal(s3.put_bucket_website, Bucket="no-such-bucket-here",
                   WebsiteConfiguration=SITE)[:2] == (404, "NoSuchBucket")
    assert refusal(s3.get_bucket_website, Bucket="no-such-bucket-here")[:2] == (404, "NoSuchBucket")


# --- server access logging ----------------------------------------------------------------------------------


def test_logging_round_trip_and_empty_status_disables(s3: Any, bucket: str, unique: str) -> None:
    logs = new_bucket(s3, f"{unique}-logs")
    try:
        assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)
        enabled = {"TargetBucket": logs, "TargetPrefix": f"{bucket}/",
                   "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "DeliveryTime"}}}
        s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={"LoggingEnabled": enabled})
        assert s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"] == enabled
        s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={})
        assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)
    finally:
        remove_bucket(s3, logs)


def test_logging_to_a_missing_or_foreign_bucket_is_refused(cloudlet: CloudletProcess, s3: Any, bucket: str,
                                                           unique: str, cleanup: Cleanup) -> None:
    s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": bucket, "TargetPrefix": "self/"}})
    missing = {"LoggingEnabled": {"TargetBucket": f"{unique}-nowhere", "TargetPrefix": "x/"}}
    assert refusal(s3.put_bucket_logging, Bucket=bucket, BucketLoggingStatus=missing) == (
        400, "InvalidTargetBucketForLogging", "The target bucket for logging does not exist")
    _, partner_credentials = other_account(cloudlet, cleanup, unique)
    partner = cloudlet.client("s3", partner_credentials)
    foreign = new_bucket(partner, f"{unique}-theirs")
    try:
        status = {"LoggingEnabled": {"TargetBucket": foreign, "TargetPrefix": "x/"}}
        assert refusal(s3.put_bucket_logging, Bucket=bucket, BucketLoggingStatus=status) == (
            400, "InvalidTargetBucketForLogging",
            "The owner for the bucket to be logged and the target bucket must be the same.")
    finally:
        remove_bucket(partner, foreign)
    assert s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]["TargetPrefix"] == "self/"


# --- event notifications ------------------------------------------------------------------------------------


def test_notifications_to_destinations_cloudlet_lacks_are_refused(s3: Any, bucket: str, cloudlet: CloudletProcess
                                                                  ) -> None:
    account = cloudlet.account_id
    queue = f"arn:aws:sqs:us-east-1:{account}:uploads"
    for member, arn_member, arn, what in (
            ("QueueConfigurations", "QueueArn", queue, "queue"),
            ("TopicConfigurations", "TopicArn", f"arn:aws:sns:us-east-1:{account}:uploads", "topic"),
            ("LambdaFunctionConfigurations", "LambdaFunctionArn",
             f"arn:aws:lambda:us-east-1:{account}:function:resize", "Lambda")):
        configuration = {member: [{arn_member: arn, "Events": ["s3:ObjectCreated:*"]}]}
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=configuration)
        response = excinfo.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert response["Error"]["Code"] == "InvalidArgument"
        assert response["Error"]["Message"] == "Unable to validate the following destination configurations"
        assert response["Error"]["ArgumentName"] == arn
        assert response["Error"]["ArgumentValue"] == f"The destination {what} does not exist"
    bad_event = {"QueueConfigurations": [{"QueueArn": queue, "Events": ["s3:ObjectMaybe:*"]}]}
    assert refusal(s3.put_bucket_notification_configuration, Bucket=bucket,
                   NotificationConfiguration=bad_event) == (400, "InvalidArgument",
                                                            "The event is not supported for notifications")
    assert s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations") is None


def test_eventbridge_notifications_are_stored_and_an_empty_configuration_clears_them(s3: Any, bucket: str
                                                                                     ) -> None:
    s3.put_bucket_notification_configuration(Bucket=bucket,
                                             NotificationConfiguration={"EventBridgeConfiguration": {}})
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket=bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    stored = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert not {"EventBridgeConfiguration", "QueueConfigurations", "TopicConfigurations"} & set(stored)


# --- Object Lock --------------------------------------------------------------------------------------------

RETENTION = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}}}


def test_bucket_created_with_object_lock_is_versioned_and_takes_a_default_retention(s3: Any, unique: str
                                                                                     ) -> None:
    name = new_bucket(s3, f"{unique}-lock", ObjectLockEnabledForBucket=True)
    try:
        assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
        assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"] == {
            "ObjectLockEnabled": "Enabled"}
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=RETENTION)
        assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"] == RETENTION
        years = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 1}}}
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=years)
        assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"] == years
        assert refusal(s3.put_bucket_versioning, Bucket=name, VersioningConfiguration={"Status": "Suspended"}) == (
            409, "InvalidBucketState",
            "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
        assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
        # retention of single objects is not kept by Cloudlet: refused, never silently dropped
        assert refusal(s3.put_object, Bucket=name, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                       ObjectLockRetainUntilDate="2099-01-01T00:00:00Z")[:2] == (501, "NotImplemented")
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
        assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"] == {
            "ObjectLockEnabled": "Enabled"}
    finally:
        remove_bucket(s3, name)


@pytest.mark.parametrize(("configuration", "code"), [
    ({"Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}, "MalformedXML"),
    ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "FOREVER", "Days": 1}}},
     "MalformedXML"),
    ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}},
     "MalformedXML"),
    ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE"}}}, "MalformedXML"),
    ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}},
     "InvalidArgument"),
    ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": -1}}},
     "InvalidArgument"),
], ids=["not-enabled", "bad-mode", "days-and-years", "no-period", "zero-days", "negative-years"])
def test_bad_object_lock_configurations_are_refused_and_change_nothing(s3: Any, unique: str, configuration: dict,
                                                                       code: str) -> None:
    name = new_bucket(s3, f"{unique}-lock", ObjectLockEnabledForBucket=True)
    try:
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=RETENTION)
        assert refusal(s3.put_object_lock_configuration, Bucket=name,
                       ObjectLockConfiguration=configuration)[:2] == (400, code)
        assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"] == RETENTION
    finally:
        remove_bucket(s3, name)


def test_object_lock_needs_versioning_and_then_stays_on(s3: Any, bucket: str) -> None:
    assert refusal(s3.get_object_lock_configuration, Bucket=bucket) == (
        404, "ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket")
    assert refusal(s3.put_object_lock_configuration, Bucket=bucket, ObjectLockConfiguration=RETENTION) == (
        409, "InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
    assert refusal(s3.get_object_lock_configuration, Bucket=bucket)[1] == "ObjectLockConfigurationNotFoundError"
    assert refusal(s3.put_object, Bucket=bucket, Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON") == (
        400, "InvalidRequest", "Bucket is missing Object Lock Configuration")
    # S3 enables Object Lock on an existing bucket once its versioning is Enabled
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=RETENTION)
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == RETENTION
    assert refusal(s3.put_bucket_versioning, Bucket=bucket,
                   VersioningConfiguration={"Status": "Suspended"})[:2] == (409, "InvalidBucketState")


def test_settings_go_with_their_bucket(s3: Any, unique: str) -> None:
    """A bucket deleted and created again under the same name starts with none of the old settings."""
    name = new_bucket(s3, f"{unique}-again", ObjectLockEnabledForBucket=True)
    s3.put_bucket_website(Bucket=name, WebsiteConfiguration=SITE)
    s3.put_bucket_logging(Bucket=name, BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": name, "TargetPrefix": "logs/"}})
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    try:
        assert refusal(s3.get_bucket_website, Bucket=name)[1] == "NoSuchWebsiteConfiguration"
        assert refusal(s3.get_object_lock_configuration, Bucket=name)[1] == "ObjectLockConfigurationNotFoundError"
        assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=name)
        assert "Status" not in s3.get_bucket_versioning(Bucket=name)
    finally:
        remove_bucket(s3, name)
