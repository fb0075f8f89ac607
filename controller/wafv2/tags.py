"""Tags of web ACLs, IP sets and regex pattern sets: TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

from controller.api import Params, RequestContext
from controller.wafv2 import records
from controller.wafv2.service import api


def _resource(ctx: RequestContext, params: Params) -> list[str]:
    return [params.get("ResourceARN") or "*"]


@api.operation("TagResource", resources=_resource)
def tag_resource(ctx: RequestContext, params: Params) -> Params:
    added = records.check_tags(params["Tags"])
    with ctx.cloud.db.begin() as conn:
        row = records.find_by_arn(conn, ctx, params["ResourceARN"])
        keys = {tag["Key"] for tag in added}
        records.set_tags(conn, row, records.check_tags(
            [tag for tag in row["tags"] if tag["Key"] not in keys] + added))
    return {}


@api.operation("UntagResource", resources=_resource)
def untag_resource(ctx: RequestContext, params: Params) -> Params:
    removed = set(params["TagKeys"])
    with ctx.cloud.db.begin() as conn:
        row = records.find_by_arn(conn, ctx, params["ResourceARN"])
        records.set_tags(conn, row, [tag for tag in row["tags"] if tag["Key"] not in removed])
    return {}


@api.operation("ListTagsForResource", resources=_resource)
def list_tags(ctx: RequestContext, params: Params) -> Params:
    limit = params.get("Limit", records.MAX_LIMIT)
    with ctx.cloud.db.read() as conn:
        row = records.find_by_arn(conn, ctx, params["ResourceARN"])
    tags = row["tags"]
    start = 0
    if params.get("NextMarker"):
        start = next((i + 1 for i, tag in enumerate(tags) if tag["Key"] == params["NextMarker"]), len(tags))
    chosen = tags[start:start + limit]
    output: Params = {"TagInfoForResource": {"ResourceARN": params["ResourceARN"], "TagList": chosen}}
    if start + limit < len(tags):
        output["NextMarker"] = chosen[-1]["Key"]
    return output
