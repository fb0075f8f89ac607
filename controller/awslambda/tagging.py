"""Tags on functions: TagResource, UntagResource, ListTags (CreateFunction's Tags go through :func:`check`).

Lambda tags functions only, by unqualified ARN (a version or alias ARN is refused), up to 50 tags,
none with the ``aws:`` prefix (https://docs.aws.amazon.com/lambda/latest/dg/configuration-tags.html).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from controller.api import RequestContext
from controller.awslambda import records, state
from controller.awslambda.errors import InvalidParameterValueException
from controller.awslambda.service import api

MAX_TAGS = 50


def check(tags: dict[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValueException(f"Number of tags exceeds resource tag limit of {MAX_TAGS}.")
    for key in tags:
        if key.lower().startswith("aws:"):
            raise InvalidParameterValueException(f"Tag key {key} is reserved: keys must not start with aws:.")


def _resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [params.get("Resource") or "*"]


def _function(ctx: RequestContext, arn: str) -> records.FunctionRef:
    ref = records.parse_function(arn, None, account_id=ctx.account_id, region=ctx.region)
    if ref.qualifier is not None:
        raise InvalidParameterValueException("Tags on function aliases and versions are not supported. Please "
                                             "specify a function ARN.")
    return ref


@api.operation("TagResource", resources=_resources)
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = _function(ctx, params["Resource"])
    with records.writing(ctx.cloud) as conn:
        function = records.function_row(conn, ref)
        merged = {**function["tags"], **(params.get("Tags") or {})}
        check(merged)
        _save(conn, ref, merged)
    return {}


@api.operation("UntagResource", resources=_resources)
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = _function(ctx, params["Resource"])
    removed = set(params.get("TagKeys") or [])
    with records.writing(ctx.cloud) as conn:
        function = records.function_row(conn, ref)
        _save(conn, ref, {key: value for key, value in function["tags"].items() if key not in removed})
    return {}


@api.operation("ListTags", resources=_resources)
def list_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = _function(ctx, params["Resource"])
    with ctx.cloud.db.read() as conn:
        function = records.function_row(conn, ref)
    return {"Tags": function["tags"]}


def _save(conn: Any, ref: records.FunctionRef, tags: dict[str, str]) -> None:
    t = state.functions
    conn.execute(update(t).where(t.c.account_id == ref.account_id, t.c.region == ref.region,
                                 t.c.name == ref.name).values(tags=tags))
    records.touch_latest(conn, ref)
