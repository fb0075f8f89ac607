"""Bucket settings S3 stores and reads back but Cloudlet does not act on: website, logging, notifications, Object Lock.

Infrastructure-as-code tools set these on every bucket they manage, so each has S3's
Put/Get(/Delete) operations with S3's validation and error codes, and reads back what
was written. What the settings would make S3 *do* is not done (README, "Differences
from AWS"): no website endpoint serves the index document, no access log is delivered,
no event is sent, and Object Lock's default retention does not stop a delete.

- Notifications: Cloudlet has no SQS, SNS or Lambda, so a configuration naming a queue,
  topic or function is refused exactly as S3 refuses a destination it cannot validate;
  an empty configuration (notifications off) or an EventBridge one is stored.
- Object Lock turns on at CreateBucket (``x-amz-bucket-object-lock-enabled``, which also
  enables versioning, in buckets.py) or with PutObjectLockConfiguration on a bucket whose
  versioning is Enabled, and never turns off; versioning can then no longer be suspended
  (bucket_config.put_bucket_versioning asks :func:`object_lock_of`).

The settings live in ``s3_bucket_features`` (state.py), one row per bucket, deleted with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select

from controller.api import Params, RequestContext
from controller.protocol import load_service_model
from controller.s3 import catalog
from controller.s3.access import bucket_resource
from controller.s3.common import Record, read_bucket
from controller.s3.errors import (
    MALFORMED_XML,
    InvalidArgument,
    InvalidBucketState,
    InvalidRequest,
    InvalidTargetBucketForLogging,
    MalformedXML,
    NoSuchWebsiteConfiguration,
    ObjectLockConfigurationNotFoundError,
)
from controller.s3.naming import bucket_arn
from controller.s3.service import api
from controller.s3.state import bucket_features
from controller.state import upsert

Check = Callable[[Connection, Record], None]


def features(conn: Connection, bucket: str) -> Record:
    """The bucket's stored settings by column ({} when it never had any)."""
    row = conn.execute(select(bucket_features).where(bucket_features.c.bucket == bucket)).mappings().first()
    return dict(row) if row else {}


def object_lock_of(conn: Connection, bucket: str) -> Params | None:
    """The bucket's Object Lock configuration, or None when Object Lock is off."""
    return features(conn, bucket).get("object_lock")


def write_features(conn: Connection, bucket: str, **values: Any) -> None:
    """Set some settings of ``bucket`` (creating its row), leaving the others as they are."""
    conn.execute(upsert(bucket_features).values(bucket=bucket, **values)
                 .on_conflict_do_update(index_elements=[bucket_features.c.bucket], set_=values))


def _read(ctx: RequestContext, params: Params, column: str) -> Any:
    read_bucket(ctx, params)
    with ctx.cloud.db.read() as conn:
        return features(conn, params["Bucket"]).get(column)


def _store(ctx: RequestContext, params: Params, column: str, value: Any, check: Check | None = None) -> None:
    """Write one setting, after ``check`` accepts the bucket row re-read in the same transaction."""
    name = params["Bucket"]
    with ctx.cloud.db.begin() as conn:
        bucket = catalog.require_bucket(conn, name)
        if check is not None:
            check(conn, bucket)
        write_features(conn, name, **{column: value})
    ctx.audit_resources.append(bucket_arn(ctx.cloud.config.partition, name))


def _malformed() -> MalformedXML:
    return MalformedXML(MALFORMED_XML)


# --- website ------------------------------------------------------------------------------------------------

MAX_ROUTING_RULES = 50
_PROTOCOLS = ("http", "https")


def check_website(configuration: Params) -> Params:
    """A WebsiteConfiguration as S3 accepts it: a redirect of every request, or an index document and rules."""
    redirect_all = configuration.get("RedirectAllRequestsTo")
    others = [member for member in ("IndexDocument", "ErrorDocument", "RoutingRules")
              if configuration.get(member) is not None]
    if redirect_all is not None:
        if others:
            raise InvalidArgument("RedirectAllRequestsTo cannot be provided in conjunction with other Routing "
                                  "Rules.", ArgumentName="RedirectAllRequestsTo", ArgumentValue="not null")
        if not redirect_all.get("HostName"):
            raise _malformed()
        _check_protocol(redirect_all)
        return {"RedirectAllRequestsTo": redirect_all}
    index = configuration.get("IndexDocument")
    if index is None:
        raise InvalidArgument("A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty",
                              ArgumentName="IndexDocument", ArgumentValue="null")
    suffix = index.get("Suffix") or ""
    if not suffix or "/" in suffix:
        raise InvalidArgument("The IndexDocument Suffix is not well formed", ArgumentName="IndexDocument",
                              ArgumentValue=suffix)
    error_document = configuration.get("ErrorDocument")
    if error_document is not None and not error_document.get("Key"):
        raise _malformed()
    if configuration.get("RoutingRules") is not None:
        _check_routing_rules(configuration["RoutingRules"])
    return {member: configuration[member] for member in others}


def _check_routing_rules(rules: list[Params]) -> None:
    if not rules:
        raise _malformed()
    if len(rules) > MAX_ROUTING_RULES:
        raise InvalidRequest(f"{len(rules)} routing rules provided, the number of routing rules in a website "
                             f"configuration is limited to {MAX_ROUTING_RULES}.")
    for rule in rules:
        condition = rule.get("Condition")
        if condition is not None:
            if condition.get("KeyPrefixEquals") is None and condition.get("HttpErrorCodeReturnedEquals") is None:
                raise InvalidRequest("Condition cannot be empty. To redirect all requests without a condition, the "
                                     "condition element shouldn't be present.")
            code = condition.get("HttpErrorCodeReturnedEquals")
            if code is not None and not _is_status(code, 400, 599):
                raise InvalidRequest(f"The provided HTTP error code ({code}) is not valid. Valid codes are 4XX or "
                                     "5XX.")
        redirect = rule.get("Redirect") or {}
        code = redirect.get("HttpRedirectCode")
        if code is not None and not _is_status(code, 301, 399):
            raise InvalidRequest(f"The provided HTTP redirect code ({code}) is not valid. Valid codes are 3XX "
                                 "except 300.")
        if redirect.get("ReplaceKeyPrefixWith") is not None and redirect.get("ReplaceKeyWith") is not None:
            raise InvalidRequest("You can only define ReplaceKeyPrefix or ReplaceKey but not both.")
        _check_protocol(redirect)


def _is_status(text: str, low: int, high: int) -> bool:
    return len(text) == 3 and text.isascii() and text.isdigit() and low <= int(text) <= high


def _check_protocol(redirect: Params) -> None:
    if redirect.get("Protocol") is not None and redirect["Protocol"] not in _PROTOCOLS:
        raise InvalidRequest("Invalid protocol, protocol can be http or https. If not defined the protocol will be "
                             "selected automatically.")


@api.operation("PutBucketWebsite", resources=bucket_resource)
def put_bucket_website(ctx: RequestContext, params: Params) -> Params:
    read_bucket(ctx, params)
    _store(ctx, params, "website", check_website(params.get("WebsiteConfiguration") or {}))
    return {}


@api.operation("GetBucketWebsite", resources=bucket_resource)
def get_bucket_website(ctx: RequestContext, params: Params) -> Params:
    configuration = _read(ctx, params, "website")
    if not configuration:
        raise NoSuchWebsiteConfiguration("The specified bucket does not have a website configuration",
                                         BucketName=params["Bucket"])
    return configuration


@api.operation("DeleteBucketWebsite", resources=bucket_resource)
def delete_bucket_website(ctx: RequestContext, params: Params) -> Params:
    read_bucket(ctx, params)
    _store(ctx, params, "website", None)
    return {}


# --- server access logging ----------------------------------------------------------------------------------

_GRANTEE_TYPES = ("CanonicalUser", "AmazonCustomerByEmail", "Group")
_LOG_PERMISSIONS = ("FULL_CONTROL", "READ", "WRITE")
_DATE_SOURCES = ("EventTime", "DeliveryTime")


def check_logging(enabled: Params) -> Params:
    """A ``LoggingEnabled`` whose enumerations hold S3's values (its target bucket is checked on write)."""
    for grant in enabled.get("TargetGrants") or []:
        if grant.get("Permission") not in _LOG_PERMISSIONS or (grant.get("Grantee") or {}).get(
                "Type") not in _GRANTEE_TYPES:
            raise _malformed()
    key_format = enabled.get("TargetObjectKeyFormat")
    if key_format is not None:
        partitioned = key_format.get("PartitionedPrefix")
        if (key_format.get("SimplePrefix") is None) == (partitioned is None):
            raise _malformed()
        if partitioned is not None and partitioned.get("PartitionDateSource", "EventTime") not in _DATE_SOURCES:
            raise _malformed()
    return enabled


def _target_bucket_check(target: str) -> Check:
    """The log target must be an existing bucket of the logged bucket's owner."""

    def check(conn: Connection, bucket: Record) -> None:
        target_bucket = catalog.get_bucket(conn, target)
        if target_bucket is None:
            raise InvalidTargetBucketForLogging("The target bucket for logging does not exist", TargetBucket=target)
        if target_bucket["owner_account"] != bucket["owner_account"]:
            raise InvalidTargetBucketForLogging("The owner for the bucket to be logged and the target bucket must "
                                                "be the same.", TargetBucket=target)

    return check


@api.operation("PutBucketLogging", resources=bucket_resource)
def put_bucket_logging(ctx: RequestContext, params: Params) -> Params:
    read_bucket(ctx, params)
    enabled = (params.get("BucketLoggingStatus") or {}).get("LoggingEnabled")
    if enabled is None:  # an empty BucketLoggingStatus turns logging off
        _store(ctx, params, "logging", None)
        return {}
    enabled = check_logging(enabled)
    _store(ctx, params, "logging", enabled, _target_bucket_check(enabled["TargetBucket"]))
    return {}


@api.operation("GetBucketLogging", resources=bucket_resource)
def get_bucket_logging(ctx: RequestContext, params: Params) -> Params:
    enabled = _read(ctx, params, "logging")
    return {"LoggingEnabled": enabled} if enabled else {}


# --- event notifications ------------------------------------------------------------------------------------

#: The event types S3 can notify, as its model enumerates them (s3:ObjectCreated:*, s3:ObjectRemoved:Delete...).
NOTIFICATION_EVENTS = frozenset(load_service_model("s3").shape_for("Event").enum)
#: Configuration member, its ARN member, the ARN's service and what S3 calls the destination.
_DESTINATIONS = (("QueueConfigurations", "QueueArn", "sqs", "queue"),
                 ("TopicConfigurations", "TopicArn", "sns", "topic"),
                 ("LambdaFunctionConfigurations", "LambdaFunctionArn", "lambda", "Lambda"))


def check_notification(configuration: Params) -> Params | None:
    """What can be stored of a NotificationConfiguration (None: notifications off), or S3's refusal.

    Every queue, topic and function names a destination Cloudlet does not have, so any
    of them is refused as S3 refuses a destination it cannot reach; the configuration's
    own mistakes (event names, filters, ARNs) are reported first, as S3 validates them
    before it tries the destinations.
    """
    unreachable: list[tuple[str, str]] = []
    for member, arn_member, service, noun in _DESTINATIONS:
        for destination in configuration.get(member) or []:
            events = destination.get("Events") or []
            if not events:
                raise _malformed()
            if any(event not in NOTIFICATION_EVENTS for event in events):
                raise InvalidArgument("The event is not supported for notifications")
            _check_filter(destination.get("Filter"))
            arn = destination.get(arn_member) or ""
            parts = arn.split(":", 5)
            if len(parts) < 6 or parts[0] != "arn" or parts[2] != service or not parts[5]:
                raise InvalidArgument("The ARN is not well formed", ArgumentName=arn_member, ArgumentValue=arn)
            unreachable.append((arn, noun))
    if unreachable:
        arn, noun = unreachable[0]
        raise InvalidArgument("Unable to validate the following destination configurations", ArgumentName=arn,
                              ArgumentValue=f"The destination {noun} does not exist")
    if configuration.get("EventBridgeConfiguration") is not None:
        return {"EventBridgeConfiguration": {}}
    return None


def _check_filter(notification_filter: Params | None) -> None:
    rules = ((notification_filter or {}).get("Key") or {}).get("FilterRules") or []
    seen: set[str] = set()
    for rule in rules:
        name = (rule.get("Name") or "").lower()
        if name not in ("prefix", "suffix"):
            raise InvalidArgument("filter rule name must be either prefix or suffix")
        if name in seen:
            raise InvalidArgument(f"Cannot specify more than one {name} rule in a filter.")
        seen.add(name)


@api.operation("PutBucketNotificationConfiguration", resources=bucket_resource, action="s3:PutBucketNotification")
def put_bucket_notification_configuration(ctx: RequestContext, params: Params) -> Params:
    read_bucket(ctx, params)
    _store(ctx, params, "notification", check_notification(params.get("NotificationConfiguration") or {}))
    return {}


@api.operation("GetBucketNotificationConfiguration", resources=bucket_resource, action="s3:GetBucketNotification")
def get_bucket_notification_configuration(ctx: RequestContext, params: Params) -> Params:
    return _read(ctx, params, "notification") or {}


# --- Object Lock --------------------------------------------------------------------------------------------

OBJECT_LOCK_ON: Params = {"ObjectLockEnabled": "Enabled"}
_RETENTION_MODES = ("GOVERNANCE", "COMPLIANCE")


def check_object_lock(configuration: Params) -> Params:
    """An ObjectLockConfiguration as S3 accepts it: Enabled, with at most a default retention of one period."""
    if configuration.get("ObjectLockEnabled") != "Enabled":
        raise _malformed()
    rule = configuration.get("Rule")
    if rule is None:
        return dict(OBJECT_LOCK_ON)
    retention = rule.get("DefaultRetention")
    if not retention or retention.get("Mode") not in _RETENTION_MODES:
        raise _malformed()
    periods = [member for member in ("Days", "Years") if retention.get(member) is not None]
    if len(periods) != 1:
        raise _malformed()
    if retention[periods[0]] <= 0:
        raise InvalidArgument("Default retention period must be a positive integer value")
    kept = {member: retention[member] for member in ("Mode", *periods, "DefaultEventHold")
            if retention.get(member) is not None}
    return {**OBJECT_LOCK_ON, "Rule": {"DefaultRetention": kept}}


def _require_versioning(_conn: Connection | None, bucket: Record) -> None:
    if bucket["versioning"] != "Enabled":
        raise InvalidBucketState("Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
                                 BucketName=bucket["name"])


@api.operation("PutObjectLockConfiguration", resources=bucket_resource,
               action="s3:PutBucketObjectLockConfiguration")
def put_object_lock_configuration(ctx: RequestContext, params: Params) -> Params:
    _require_versioning(None, read_bucket(ctx, params))
    configuration = check_object_lock(params.get("ObjectLockConfiguration") or {})
    _store(ctx, params, "object_lock", configuration, _require_versioning)
    return {}


@api.operation("GetObjectLockConfiguration", resources=bucket_resource,
               action="s3:GetBucketObjectLockConfiguration")
def get_object_lock_configuration(ctx: RequestContext, params: Params) -> Params:
    configuration = _read(ctx, params, "object_lock")
    if not configuration:
        raise ObjectLockConfigurationNotFoundError("Object Lock configuration does not exist for this bucket",
                                                   BucketName=params["Bucket"])
    return {"ObjectLockConfiguration": configuration}
