"""AddTagsToResource, RemoveTagsFromResource and ListTagsForResource for parameters, and what IAM sees of one.

Only ``ResourceType`` ``Parameter`` is served here (its ResourceId a name or ARN); the other resource types of
Systems Manager are not Cloudlet's yet and answer InvalidResourceType. A parameter has at most 50 tags, and
IAM reads them as ``aws:ResourceTag/*`` (:func:`resource_info`).
"""

from __future__ import annotations

from sqlalchemy import update

from controller.api import Params, RequestContext, ResourceInfo
from controller.errors import error
from controller.ssm import names, records
from controller.ssm.service import api
from controller.ssm.state import parameters
from controller.ssm.writes import MAX_TAGS, TooManyTagsError

InvalidResourceId = error("InvalidResourceId")
InvalidResourceType = error("InvalidResourceType")


def _arn(ctx: RequestContext, params: Params) -> list[str]:
    name = names.name_of_resource(params["ResourceId"])
    return [names.reference_arn(ctx.cloud.config.partition, ctx.region, ctx.account_id, name)]


def _tags(ctx: RequestContext, params: Params) -> tuple[str, dict[str, str]]:
    if params["ResourceType"] != "Parameter":
        raise InvalidResourceType(f"The resource type {params['ResourceType']} is not valid for this cloud: only "
                                  "Parameter resources can be tagged.")
    name = names.name_of_resource(params["ResourceId"])
    with ctx.cloud.db.read() as conn:
        row = records.find(conn, ctx, name)
    if row is None:
        raise InvalidResourceId(f"The resource ID {params['ResourceId']} is not valid. Verify the ID and try "
                                "again.")
    return name, dict(row["tags"])


def _save(ctx: RequestContext, name: str, tags: dict[str, str]) -> None:
    with ctx.cloud.db.begin() as conn:
        conn.execute(update(parameters).where(parameters.c.account_id == ctx.account_id,
                                              parameters.c.region == ctx.region, parameters.c.name == name)
                     .values(tags=tags))


@api.operation("AddTagsToResource", resources=_arn)
def add_tags(ctx: RequestContext, params: Params) -> Params:
    name, tags = _tags(ctx, params)
    tags.update({tag["Key"]: tag.get("Value", "") for tag in params["Tags"]})
    if len(tags) > MAX_TAGS:
        raise TooManyTagsError(f"A parameter can have at most {MAX_TAGS} tags.")
    _save(ctx, name, tags)
    return {}


@api.operation("RemoveTagsFromResource", resources=_arn)
def remove_tags(ctx: RequestContext, params: Params) -> Params:
    name, tags = _tags(ctx, params)
    _save(ctx, name, {key: value for key, value in tags.items() if key not in set(params["TagKeys"])})
    return {}


@api.operation("ListTagsForResource", resources=_arn)
def list_tags(ctx: RequestContext, params: Params) -> Params:
    _, tags = _tags(ctx, params)
    return {"TagList": [{"Key": key, "Value": value} for key, value in sorted(tags.items())]}


def resource_info(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    """A parameter's owner and tags for IAM (None for public parameters and for names with no parameter)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[4] != ctx.account_id or not parts[5].startswith("parameter/"):
        return None
    name = names.name_of_resource(arn)
    with ctx.cloud.db.read() as conn:
        row = records.find(conn, ctx, name)
    return ResourceInfo(owner_account=ctx.account_id, tags=dict(row["tags"])) if row is not None else None
