"""Tags on log groups: TagResource/UntagResource/ListTagsForResource by ARN, and the older
TagLogGroup/UntagLogGroup/ListTagsLogGroup by name, which AWS still serves over the same tags."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from controller.api import RequestContext
from controller.logs import errors
from controller.logs.records import find_group, group_resources
from controller.logs.service import api
from controller.logs.state import groups

MAX_TAGS = 50


def _arn_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [params["resourceArn"].removesuffix(":*")] if params.get("resourceArn") else ["*"]


def _group_name(ctx: RequestContext, arn: str) -> str:
    """The name of the caller's log group that ``arn`` names (ResourceNotFoundException otherwise)."""
    parts = arn.removesuffix(":*").split(":", 6)
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "logs":
        raise errors.InvalidParameterException(f"Invalid resource ARN: {arn}")
    if parts[5] != "log-group" or parts[3] != ctx.region or parts[4] != ctx.account_id:
        raise errors.ResourceNotFoundException(f"The specified resource does not exist: {arn}")
    return parts[6]


def _add(ctx: RequestContext, name: str, tags: dict[str, str]) -> None:
    with ctx.cloud.db.begin() as conn:
        group = find_group(conn, ctx, name)
        merged = {**group["tags"], **tags}
        if len(merged) > MAX_TAGS:
            raise errors.TooManyTagsException(
                f"A resource can have no more than {MAX_TAGS} tags.", resourceName=group["name"])
        conn.execute(update(groups).where(groups.c.group_id == group["group_id"]).values(tags=merged))


def _remove(ctx: RequestContext, name: str, keys: list[str]) -> None:
    with ctx.cloud.db.begin() as conn:
        group = find_group(conn, ctx, name)
        kept = {key: value for key, value in group["tags"].items() if key not in set(keys)}
        conn.execute(update(groups).where(groups.c.group_id == group["group_id"]).values(tags=kept))


def _tags(ctx: RequestContext, name: str) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        return {"tags": find_group(conn, ctx, name)["tags"]}


@api.operation("TagResource", resources=_arn_resources)
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _add(ctx, _group_name(ctx, params["resourceArn"]), params["tags"])
    return {}


@api.operation("UntagResource", resources=_arn_resources)
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _remove(ctx, _group_name(ctx, params["resourceArn"]), params["tagKeys"])
    return {}


@api.operation("ListTagsForResource", resources=_arn_resources)
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _tags(ctx, _group_name(ctx, params["resourceArn"]))


@api.operation("TagLogGroup", resources=group_resources)
def tag_log_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _add(ctx, params["logGroupName"], params["tags"])
    return {}


@api.operation("UntagLogGroup", resources=group_resources)
def untag_log_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _remove(ctx, params["logGroupName"], params["tags"])
    return {}


@api.operation("ListTagsLogGroup", resources=group_resources)
def list_tags_log_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _tags(ctx, params["logGroupName"])
