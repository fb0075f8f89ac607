"""Keys themselves: CreateKey, DescribeKey, ListKeys, Enable/DisableKey, UpdateKeyDescription,
ScheduleKeyDeletion/CancelKeyDeletion and the key's tags.

A key scheduled for deletion waits 7 to 30 days in ``PendingDeletion`` (its ciphertexts unreadable
meanwhile), then is gone: the state is computed from the scheduled date, so no job has to run on
time. CancelKeyDeletion brings it back Disabled, as AWS does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update

from controller.api import Params, RequestContext, ResourceInfo
from controller.iam.enforce import check_action, would_allow
from controller.kms import key_specs, policies, records, state, views
from controller.kms.access import on_key, resolve_key
from controller.kms.errors import (
    KMSInvalidStateException,
    MalformedPolicyDocumentException,
    TagException,
    UnsupportedOperationException,
    ValidationException,
)
from controller.kms.service import api
from controller.state import utcnow

MAX_TAGS = 50


def _region(ctx: RequestContext) -> records.Region:
    return records.Region.of(ctx.cloud, ctx.region)


def _metadata(ctx: RequestContext, key_id: str) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(state.keys).where(state.keys.c.key_id == key_id)).mappings().one()
        version = records.material(ctx.cloud, conn, key_id)[0]
    return views.key_metadata(row, utcnow(), version)


def check_tags(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """Tags as a dict, or TagException for what KMS refuses (reserved ``aws:`` keys, too many)."""
    result: dict[str, str] = {}
    for tag in tags or []:
        if tag["TagKey"].lower().startswith("aws:"):
            raise TagException(f"Tag key {tag['TagKey']} is reserved for AWS use: tag keys cannot begin with aws:")
        result[tag["TagKey"]] = tag["TagValue"]
    if len(result) > MAX_TAGS:
        raise TagException(f"A KMS key can have at most {MAX_TAGS} tags.")
    return result


def check_lockout(ctx: RequestContext, key_arn: str, policy: str, bypass: bool) -> None:
    """The policy lockout safety check: the new policy must still let the caller call PutKeyPolicy."""
    if bypass:
        return
    info = ResourceInfo(owner_account=ctx.account_id, policy=policy)
    if not would_allow(ctx, "kms:PutKeyPolicy", key_arn, info):
        raise MalformedPolicyDocumentException(policies.LOCKOUT_MESSAGE)


@api.operation("CreateKey")
def create_key(ctx: RequestContext, params: Params) -> Params:
    spec = params.get("KeySpec") or params.get("CustomerMasterKeySpec") or records.SYMMETRIC
    if params.get("KeySpec") and params.get("CustomerMasterKeySpec"):
        raise ValidationException("You cannot specify KeySpec and CustomerMasterKeySpec in the same request.")
    if not key_specs.usages(spec):
        raise UnsupportedOperationException(f"KeySpec {spec} is not supported in this region: Cloudlet's KMS "
                                            f"makes symmetric, HMAC, RSA and ECC keys.")
    usage = params.get("KeyUsage") or key_specs.ENCRYPT_DECRYPT
    if usage not in key_specs.usages(spec):
        raise ValidationException(f"KeyUsage {usage} is not compatible with KeySpec {spec}.")
    if params.get("Origin", "AWS_KMS") != "AWS_KMS" or params.get("CustomKeyStoreId") or params.get("XksKeyId"):
        raise UnsupportedOperationException("Only keys with Origin AWS_KMS, in the default key store, are "
                                            "supported in this region.")
    if params.get("MultiRegion"):
        raise UnsupportedOperationException("Multi-Region keys are not supported in this region.")
    policy = params.get("Policy")
    if policy is not None:
        policies.check_key_policy(policy)
    tags = check_tags(params.get("Tags"))
    if tags:  # "To use the Tags parameter, you must have kms:TagResource permission in an IAM policy."
        check_action(ctx, "kms:TagResource", ["*"], params)
    region = _region(ctx)
    with ctx.cloud.db.begin() as conn:
        records.purge_deleted(conn, utcnow())
        key_id = records.create_key(ctx.cloud, conn, ctx.account_id, region, manager="CUSTOMER",
                                    description=params.get("Description", ""), policy=policy, key_spec=spec,
                                    key_usage=usage, tags=tags)
        arn = region.key_arn(ctx.account_id, key_id)
        if policy is not None:
            check_lockout(ctx, arn, policy, bool(params.get("BypassPolicyLockoutSafetyCheck")))
    ctx.audit_resources.append(arn)
    return {"KeyMetadata": _metadata(ctx, key_id)}


@api.operation("DescribeKey", resources=on_key(cross_account=True, create_managed=True))
def describe_key(ctx: RequestContext, params: Params) -> Params:
    return {"KeyMetadata": _metadata(ctx, resolve_key(ctx, params["KeyId"])["key_id"])}


@api.operation("ListKeys")
def list_keys(ctx: RequestContext, params: Params) -> Params:
    now = utcnow()
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(state.keys).where(state.keys.c.account_id == ctx.account_id,
                                                     state.keys.c.region == ctx.region)
                            .order_by(state.keys.c.key_id)).mappings().all()
    live = [row for row in rows if records.key_state(row, now) is not None]
    chunk, paging = views.page(live, params.get("Marker"), params.get("Limit"), 100, lambda row: row["key_id"])
    return {"Keys": [{"KeyId": row["key_id"], "KeyArn": row["arn"]} for row in chunk], **paging}


def _change_key(ctx: RequestContext, ref: str, **values: Any) -> None:
    with ctx.cloud.db.begin() as conn:
        key_id = resolve_key(ctx, ref)["key_id"]
        conn.execute(update(state.keys).where(state.keys.c.key_id == key_id).values(**values))


def _not_pending(ctx: RequestContext, ref: str) -> dict[str, Any]:
    row = resolve_key(ctx, ref)
    if records.key_state(row, utcnow()) == records.PENDING_DELETION:
        raise KMSInvalidStateException(f"{row['arn']} is pending deletion.")
    return dict(row)


@api.operation("EnableKey", resources=on_key())
def enable_key(ctx: RequestContext, params: Params) -> Params:
    _not_pending(ctx, params["KeyId"])
    _change_key(ctx, params["KeyId"], enabled=True)
    return {}


@api.operation("DisableKey", resources=on_key())
def disable_key(ctx: RequestContext, params: Params) -> Params:
    _not_pending(ctx, params["KeyId"])
    _change_key(ctx, params["KeyId"], enabled=False)
    return {}


@api.operation("UpdateKeyDescription", resources=on_key())
def update_key_description(ctx: RequestContext, params: Params) -> Params:
    _not_pending(ctx, params["KeyId"])
    _change_key(ctx, params["KeyId"], description=params["Description"])
    return {}


@api.operation("ScheduleKeyDeletion", resources=on_key())
def schedule_key_deletion(ctx: RequestContext, params: Params) -> Params:
    days = params.get("PendingWindowInDays", 30)
    if not 7 <= days <= 30:
        bound = "greater than or equal to 7" if days < 7 else "less than or equal to 30"
        raise ValidationException(f"1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed "
                                  f"to satisfy constraint: Member must have value {bound}")
    row = _not_pending(ctx, params["KeyId"])
    deletion_date = utcnow() + dt.timedelta(days=days)
    _change_key(ctx, params["KeyId"], deletion_date=deletion_date, pending_window_days=days)
    return {"KeyId": row["arn"], "DeletionDate": deletion_date, "KeyState": records.PENDING_DELETION,
            "PendingWindowInDays": days}


@api.operation("CancelKeyDeletion", resources=on_key())
def cancel_key_deletion(ctx: RequestContext, params: Params) -> Params:
    row = resolve_key(ctx, params["KeyId"])
    if records.key_state(row, utcnow()) != records.PENDING_DELETION:
        raise KMSInvalidStateException(f"{row['arn']} is not pending deletion.")
    _change_key(ctx, params["KeyId"], deletion_date=None, pending_window_days=None, enabled=False)
    return {"KeyId": row["arn"]}


@api.operation("TagResource", resources=on_key())
def tag_resource(ctx: RequestContext, params: Params) -> Params:
    row = _not_pending(ctx, params["KeyId"])
    tags = check_tags([{"TagKey": k, "TagValue": v} for k, v in row["tags"].items()] + params["Tags"])
    _change_key(ctx, params["KeyId"], tags=tags)
    return {}


@api.operation("UntagResource", resources=on_key())
def untag_resource(ctx: RequestContext, params: Params) -> Params:
    row = _not_pending(ctx, params["KeyId"])
    removed = set(params["TagKeys"])
    _change_key(ctx, params["KeyId"], tags={k: v for k, v in row["tags"].items() if k not in removed})
    return {}


@api.operation("ListResourceTags", resources=on_key())
def list_resource_tags(ctx: RequestContext, params: Params) -> Params:
    tags = sorted(resolve_key(ctx, params["KeyId"])["tags"].items())
    chunk, paging = views.page(tags, params.get("Marker"), params.get("Limit"), 50, lambda tag: tag[0])
    return {"Tags": [{"TagKey": k, "TagValue": v} for k, v in chunk], **paging}
