"""TagResource, UntagResource and ListTagsForResource over every taggable Batch ARN of the caller.

Tags live in one table keyed by ARN (``state.tags``), so tagging needs only to know whether the ARN names a
resource the caller has. Each kind says how with :func:`register_taggable`: this package registers compute
environments, job queues, scheduling policies and job definition revisions; the jobs code registers
``job`` (AWS tags jobs too, but not the children of array jobs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.batch import records, resolve
from controller.batch.errors import ClientException
from controller.batch.service import api

#: kind (the ARN's resource type) -> whether ``(conn, account_id, region, arn)`` names an existing resource
Exists = Callable[[Connection, str, str, str], bool]
TAGGABLE: dict[str, Exists] = {}


def register_taggable(kind: str, exists: Exists) -> None:
    """Make ARNs of ``kind`` taggable; ``exists`` tells whether one names a resource of the caller."""
    TAGGABLE[kind] = exists


register_taggable("compute-environment",
                  lambda conn, account, region, arn: resolve.compute_environment_row(conn, account, region, arn)
                  is not None)
register_taggable("job-queue",
                  lambda conn, account, region, arn: resolve.job_queue_row(conn, account, region, arn) is not None)
register_taggable("scheduling-policy",
                  lambda conn, account, region, arn: resolve.scheduling_policy_row(conn, account, region, arn)
                  is not None)


def _revision_exists(conn: Connection, account: str, region: str, arn: str) -> bool:
    """A job definition is tagged revision by revision: the ARN must end in ``:<revision>``."""
    match = records.parse_arn(arn)
    if match is None or ":" not in match["rest"]:
        return False
    return resolve.job_definition_row(conn, account, region, arn) is not None


register_taggable("job-definition", _revision_exists)


def _require(conn: Connection, ctx: RequestContext, arn: str) -> str:
    match = records.parse_arn(arn or "")
    if match is None:
        raise ClientException(f"Invalid resource ARN: {arn}")
    exists = TAGGABLE.get(match["kind"])
    if exists is None:
        raise ClientException(f"Resource type {match['kind']} does not support tagging")
    if match["account"] != ctx.account_id or match["region"] != ctx.region or not exists(
            conn, ctx.account_id, ctx.region, arn):
        raise ClientException(f"Resource {arn} does not exist")
    return arn


def _arn_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [params["resourceArn"]] if params.get("resourceArn") else ["*"]


@api.operation("TagResource", resources=_arn_resources)
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tags = records.check_tags(params.get("tags"))
    if not tags:
        raise ClientException("tags must contain at least one tag")
    with ctx.cloud.db.begin() as conn:
        arn = _require(conn, ctx, params.get("resourceArn") or "")
        records.put_tags(conn, arn, ctx.account_id, tags)
    return {}


@api.operation("UntagResource", resources=_arn_resources)
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    keys = params.get("tagKeys") or []
    if not 1 <= len(keys) <= records.MAX_TAGS:
        raise ClientException(f"tagKeys must contain between 1 and {records.MAX_TAGS} keys")
    with ctx.cloud.db.begin() as conn:
        arn = _require(conn, ctx, params.get("resourceArn") or "")
        records.drop_tags(conn, arn, keys)
    return {}


@api.operation("ListTagsForResource", resources=_arn_resources)
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        arn = _require(conn, ctx, params.get("resourceArn") or "")
        return {"tags": records.tags_of(conn, arn)}
