"""Group tags: CreateOrUpdateTags, DeleteTags, DescribeTags, and the tag filters of DescribeAutoScalingGroups.

A group keeps its tags in its document as [{Key, Value, PropagateAtLaunch}]; the ones that propagate are put
on the instances it launches from then on (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-tagging.html).
"""

from __future__ import annotations

from typing import Any

from controller.api import RequestContext
from controller.autoscaling import records
from controller.autoscaling.errors import LimitExceeded, ValidationError
from controller.autoscaling.service import api

MAX_TAGS = 50


def check_tags(group_name: str, tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tags as stored: key checks, the last value of a repeated key wins; ValidationError as AWS words it."""
    stored: dict[str, dict[str, Any]] = {}
    for tag in tags:
        key = tag.get("Key") or ""
        if not key or len(key) > 128:
            raise ValidationError("Tag key must be between 1 and 128 characters long")
        if key.lower().startswith("aws:"):
            raise ValidationError("Tag keys starting with 'aws:' are reserved for internal use")
        if tag.get("ResourceId") not in (None, "", group_name):
            raise ValidationError(f"Resource id {tag['ResourceId']} does not match the group {group_name}")
        value = tag.get("Value") or ""
        if len(value) > 256:
            raise ValidationError("Tag value must be at most 256 characters long")
        stored[key] = {"Key": key, "Value": value, "PropagateAtLaunch": bool(tag.get("PropagateAtLaunch"))}
    if len(stored) > MAX_TAGS:
        raise LimitExceeded(f"The number of tags exceeds the limit of {MAX_TAGS}")
    return list(stored.values())


def matches_filters(tags: list[dict[str, Any]], filters: list[dict[str, Any]]) -> bool:
    """DescribeAutoScalingGroups' filters: tag-key, tag-value, tag:<key>; every filter must match."""
    for item in filters:
        name, values = item.get("Name") or "", item.get("Values") or []
        if name == "tag-key":
            ok = any(tag["Key"] in values for tag in tags)
        elif name == "tag-value":
            ok = any(tag["Value"] in values for tag in tags)
        elif name.startswith("tag:"):
            ok = any(tag["Key"] == name[4:] and tag["Value"] in values for tag in tags)
        else:
            raise ValidationError(f"Filter name {name} is invalid")
        if not ok:
            return False
    return True


def _by_group(tags: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for tag in tags:
        if tag.get("ResourceType") not in (None, "auto-scaling-group"):
            raise ValidationError("ResourceType must be auto-scaling-group")
        if not tag.get("ResourceId"):
            raise ValidationError("ResourceId must be specified")
        grouped.setdefault(tag["ResourceId"], []).append(tag)
    return grouped


def _tag_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    names = {tag.get("ResourceId") for tag in params.get("Tags") or [] if tag.get("ResourceId")}
    return [records.group_arn_pattern(ctx, name) for name in sorted(names)] or ["*"]


@api.operation("CreateOrUpdateTags", resources=_tag_resources)
def create_or_update_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        for name, tags in _by_group(params["Tags"]).items():
            group = records.require_group(conn, ctx, name)
            current = {tag["Key"]: tag for tag in group.document.get("Tags") or []}
            for tag in check_tags(name, tags):
                current[tag["Key"]] = tag
            if len(current) > MAX_TAGS:
                raise LimitExceeded(f"The number of tags exceeds the limit of {MAX_TAGS}")
            group.document["Tags"] = list(current.values())
            records.save_group(conn, group)
    return {}


@api.operation("DeleteTags", resources=_tag_resources)
def delete_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        for name, tags in _by_group(params["Tags"]).items():
            group = records.require_group(conn, ctx, name)
            gone = {tag.get("Key") for tag in tags}
            group.document["Tags"] = [tag for tag in group.document.get("Tags") or [] if tag["Key"] not in gone]
            records.save_group(conn, group)
    return {}


_TAG_FILTERS = {"auto-scaling-group": "ResourceId", "key": "Key", "value": "Value",
                "propagate-at-launch": "PropagateAtLaunch"}


@api.operation("DescribeTags")
def describe_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    filters = params.get("Filters") or []
    for item in filters:
        if item.get("Name") not in _TAG_FILTERS:
            raise ValidationError(f"Filter type {item.get('Name')} is not correct. Allowed Filter types are: "
                                  "auto-scaling-group key value propagate-at-launch")
    with ctx.cloud.db.read() as conn:
        groups = [group for group in records.all_groups(conn)
                  if group.account_id == ctx.account_id and group.region == ctx.region]
    found = []
    for group in groups:
        for tag in sorted(group.document.get("Tags") or [], key=lambda tag: tag["Key"]):
            entry = {"ResourceId": group.name, "ResourceType": "auto-scaling-group", **tag}
            if all(_tag_matches(entry, item) for item in filters):
                found.append(entry)
    chunk, token = records.page(found, params)
    out: dict[str, Any] = {"Tags": chunk}
    if token:
        out["NextToken"] = token
    return out


def _tag_matches(entry: dict[str, Any], item: dict[str, Any]) -> bool:
    value = entry[_TAG_FILTERS[item["Name"]]]
    text = str(value).lower() if isinstance(value, bool) else value
    return text in (item.get("Values") or [])
