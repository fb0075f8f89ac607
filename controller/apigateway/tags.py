"""Tags on REST APIs, stages, API keys and usage plans: TagResource, UntagResource and GetTags by ARN
(``arn:aws:apigateway:{region}::/restapis/{id}``, ``.../stages/{name}``, ``::/apikeys/{id}``,
``::/usageplans/{id}``). Tags live in the resource's own document, as its Get* shows them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.apigateway import errors
from controller.apigateway.records import (
    find_api,
    get_account_item,
    need_item,
    operation,
    put_account_item,
    put_item,
    tags_of,
    touch,
)

Change = Callable[[dict[str, str]], dict[str, str]] | None


def _edit(ctx: RequestContext, arn: str, change: Change) -> dict[str, str]:
    """Apply ``change`` to the tags of the resource ``arn`` names, in one transaction; the new tags.
    With ``change`` None the tags are only read."""
    prefix = f"arn:aws:apigateway:{ctx.region}::/"
    if not arn.startswith(prefix):
        raise errors.BadRequestException(f"Invalid resource ARN specified: {arn}")
    parts = arn[len(prefix):].split("/")
    if change is None:
        with ctx.cloud.db.read() as conn:
            return _edit_in(conn, ctx, parts, None, arn)
    with ctx.cloud.db.begin() as conn:
        return _edit_in(conn, ctx, parts, change, arn)


def _edit_in(conn: Connection, ctx: RequestContext, parts: list[str],
             change: Change, arn: str) -> dict[str, str]:
    if len(parts) == 2 and parts[0] == "restapis":
        row = find_api(conn, ctx, parts[1])
        if change is None:
            return row["doc"].get("tags") or {}
        doc = {**row["doc"], "tags": change(row["doc"].get("tags") or {})}
        touch(conn, row["api_id"], doc)
        return doc["tags"]
    if len(parts) == 4 and parts[0] == "restapis" and parts[2] == "stages":
        api_id = find_api(conn, ctx, parts[1])["api_id"]
        stage = need_item(conn, api_id, "stage", parts[3], "Stage")
        if change is None:
            return stage.get("tags") or {}
        stage["tags"] = change(stage.get("tags") or {})
        put_item(conn, api_id, "stage", parts[3], stage)
        return stage["tags"]
    kinds = {"apikeys": "apikey", "usageplans": "usageplan"}
    if len(parts) == 2 and parts[0] in kinds:
        doc = get_account_item(conn, ctx.account_id, ctx.region, kinds[parts[0]], parts[1])
        if doc is None:
            raise errors.NotFoundException(f"Invalid resource identifier specified: {arn}")
        if change is None:
            return doc.get("tags") or {}
        doc["tags"] = change(doc.get("tags") or {})
        put_account_item(conn, ctx, kinds[parts[0]], parts[1], doc,
                         lookup=doc.get("value") if parts[0] == "apikeys" else None)
        return doc["tags"]
    raise errors.BadRequestException(f"Tags are not supported on this resource: {arn}")


@operation("TagResource")
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    added = tags_of(params)
    _edit(ctx, params["resourceArn"], lambda tags: tags_of({"tags": {**tags, **added}}))
    return {}


@operation("UntagResource")
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    keys = set(params.get("tagKeys") or [])
    _edit(ctx, params["resourceArn"], lambda tags: {key: value for key, value in tags.items() if key not in keys})
    return {}


@operation("GetTags")
def get_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"tags": _edit(ctx, params["resourceArn"], None)}
