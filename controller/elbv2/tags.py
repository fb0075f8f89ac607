"""AddTags, RemoveTags and DescribeTags for load balancers, target groups, listeners and rules (by ARN)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from controller.api import Params, RequestContext
from controller.elbv2 import records, state
from controller.elbv2.errors import DuplicateTagKeys, TooManyTags, ValidationError
from controller.elbv2.service import api
from controller.state import upsert

MAX_TAGS = 50


def check_new(given: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """Tags as given at creation or by AddTags: unique keys, AWS's lengths, no ``aws:`` prefix."""
    keys = [t.get("Key") or "" for t in given]
    if len(set(keys)) != len(keys):
        raise DuplicateTagKeys("Tag keys must be unique")
    for tag in given:
        key, value = tag.get("Key") or "", tag.get("Value") or ""
        if not 1 <= len(key) <= 128 or len(value) > 256 or key.lower().startswith("aws:"):
            raise ValidationError(f"Tag key '{key}' is not valid: 1-128 characters, not beginning with 'aws:', "
                                  "values at most 256 characters")
    return [{"Key": t["Key"], "Value": t.get("Value") or ""} for t in given]


def get(conn: Connection, arn: str) -> list[dict[str, str]]:
    return list(conn.execute(select(state.tags.c.tags).where(state.tags.c.arn == arn)).scalar() or [])


def put(conn: Connection, arn: str, tags: list[dict[str, str]]) -> None:
    if len(tags) > MAX_TAGS:
        raise TooManyTags(f"A resource can have at most {MAX_TAGS} tags")
    statement = upsert(state.tags).values(arn=arn, tags=tags)
    conn.execute(statement.on_conflict_do_update(index_elements=[state.tags.c.arn], set_={"tags": tags}))


def drop(conn: Connection, arns: Sequence[str]) -> None:
    conn.execute(delete(state.tags).where(state.tags.c.arn.in_(list(arns))))


def _check_exists(conn: Connection, ctx: RequestContext, arn: str) -> None:
    """The caller's resource behind an ARN, or the error of its kind."""
    if ":loadbalancer/" in arn:
        records.load_balancer(conn, ctx, arn)
    elif ":targetgroup/" in arn:
        records.target_group(conn, ctx, arn)
    elif ":listener/" in arn:
        records.listener(conn, ctx, arn)
    elif ":listener-rule/" in arn:
        records.rule(conn, ctx, arn)
    else:
        raise ValidationError(f"'{arn}' is not a valid load balancer, target group, listener or rule ARN")


def _arns(params: Params) -> list[str]:
    arns = params.get("ResourceArns") or []
    if not 1 <= len(arns) <= 20:
        raise ValidationError("Specify between 1 and 20 resource ARNs")
    return arns


@api.operation("AddTags", resources=records.arns_of("ResourceArns"))
def add_tags(ctx: RequestContext, params: Params) -> Params:
    given = check_new(params.get("Tags") or [])
    with records.write(ctx.cloud.db) as conn:
        for arn in _arns(params):
            _check_exists(conn, ctx, arn)
            current = {t["Key"]: t["Value"] for t in get(conn, arn)}
            current.update({t["Key"]: t["Value"] for t in given})
            put(conn, arn, [{"Key": k, "Value": v} for k, v in current.items()])
    return {}


@api.operation("RemoveTags", resources=records.arns_of("ResourceArns"))
def remove_tags(ctx: RequestContext, params: Params) -> Params:
    keys = set(params.get("TagKeys") or [])
    with records.write(ctx.cloud.db) as conn:
        for arn in _arns(params):
            _check_exists(conn, ctx, arn)
            put(conn, arn, [t for t in get(conn, arn) if t["Key"] not in keys])
    return {}


@api.operation("DescribeTags")
def describe_tags(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        found = []
        for arn in _arns(params):
            _check_exists(conn, ctx, arn)
            found.append({"ResourceArn": arn, "Tags": get(conn, arn)})
    return {"TagDescriptions": found}
