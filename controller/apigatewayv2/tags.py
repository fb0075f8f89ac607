"""Tags of HTTP APIs and their stages, by ARN: TagResource, UntagResource, GetTags.

The ARNs are API Gateway's: ``arn:aws:apigateway:{region}::/apis/{id}`` and ``.../apis/{id}/stages/{name}``.
"""

from __future__ import annotations

import re
from typing import Any

from controller.api import RequestContext
from controller.apigatewayv2 import errors, records
from controller.apigatewayv2.service import api

MAX_TAGS = 50
_ARN = re.compile(r"^arn:aws:apigateway:(?P<region>[^:]+)::/apis/(?P<api>[a-z0-9]+)(?:/stages/(?P<stage>[^/]+))?$")


def _resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [params["ResourceArn"]] if params.get("ResourceArn") else ["*"]


def _change(ctx: RequestContext, arn: str, change: Any) -> dict[str, str]:
    """Apply ``change(tags) -> tags`` to the resource ``arn`` names (None: read only); its tags after."""
    match = _ARN.match(arn)
    if not match or match["region"] != ctx.region:
        raise errors.NotFoundException(f"Invalid resource ARN {arn}", ResourceType="Resource")
    with ctx.cloud.db.begin() as conn:
        api_doc = records.find_api(conn, ctx, match["api"])
        doc = records.find_item(conn, match["api"], "stage", match["stage"]) if match["stage"] else api_doc
        tags = dict(doc.get("Tags") or {})
        if change is not None:
            tags = change(tags)
            if len(tags) > MAX_TAGS:
                raise errors.bad(f"A resource can have at most {MAX_TAGS} tags")
            doc["Tags"] = tags
            if match["stage"]:
                records.save_item(conn, match["api"], "stage", match["stage"], doc)
            else:
                records.save_api(conn, match["api"], doc)
    return tags


@api.operation("TagResource", action="apigateway:POST", resources=_resources)
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _change(ctx, params["ResourceArn"], lambda tags: {**tags, **(params.get("Tags") or {})})
    return {}


@api.operation("UntagResource", action="apigateway:DELETE", resources=_resources)
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    keys = set(params.get("TagKeys") or [])
    _change(ctx, params["ResourceArn"], lambda tags: {k: v for k, v in tags.items() if k not in keys})
    return {}


@api.operation("GetTags", action="apigateway:GET", resources=_resources)
def get_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"Tags": _change(ctx, params["ResourceArn"], None)}
