"""Tags on the root, OUs, accounts and policies: TagResource, UntagResource, ListTagsForResource.

Tags given at creation (CreateAccount, CreateOrganizationalUnit, CreatePolicy) land in
the same table. A resource holds at most 50 tags (``MAX_TAG_LIMIT_EXCEEDED``), a key
given twice in one request is ``DUPLICATE_TAG_KEY``, and an AWS managed policy cannot
be tagged (``IMMUTABLE_POLICY``), as the Organizations API reference says.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, insert, select

from controller.api import Params, RequestContext
from controller.organizations import state
from controller.organizations.common import (
    TargetNotFoundException,
    constraint_violation,
    invalid_input,
    page,
    policy_arn,
    require_management,
    tags_of,
    target_arn,
)
from controller.organizations.scps import FULL_AWS_ACCESS_ID
from controller.organizations.service import api
from controller.organizations.tree import exists, root_id

MAX_TAGS = 50


def store_tags(conn: Connection, resource_id: str, tags: list[dict[str, str]]) -> None:
    """Add or overwrite tags on a resource, refusing to go past the quota."""
    table = state.tags
    if not tags:
        return
    keys = [tag["Key"] for tag in tags]
    kept = conn.execute(select(func.count()).select_from(table).where(
        table.c.resource_id == resource_id, table.c.key.not_in(keys))).scalar_one()
    if kept + len(keys) > MAX_TAGS:
        raise constraint_violation(f"You have exceeded the maximum number of tags ({MAX_TAGS}) allowed on this "
                                   "resource.", "MAX_TAG_LIMIT_EXCEEDED")
    conn.execute(delete(table).where(table.c.resource_id == resource_id, table.c.key.in_(keys)))
    conn.execute(insert(table), [{"resource_id": resource_id, "key": tag["Key"], "value": tag["Value"]}
                                 for tag in tags])


def drop_tags(conn: Connection, resource_id: str) -> None:
    conn.execute(delete(state.tags).where(state.tags.c.resource_id == resource_id))


def _require_taggable(conn: Connection, root: str, resource_id: str) -> None:
    if resource_id == FULL_AWS_ACCESS_ID:
        raise invalid_input("You specified a policy that is managed by AWS and can't be modified.",
                            "IMMUTABLE_POLICY")
    if resource_id.startswith("p-"):
        found = conn.execute(select(state.policies.c.policy_id).where(
            state.policies.c.policy_id == resource_id)).first() is not None
    else:
        found = exists(conn, root, resource_id)
    if not found:
        raise TargetNotFoundException("We can't find a root, OU, account, or policy with the TargetId that you "
                                      "specified.")


def _resources(ctx: RequestContext, params: Params) -> list[str]:
    resource_id = params["ResourceId"]
    return [policy_arn(ctx, resource_id) if resource_id.startswith("p-") else target_arn(ctx, resource_id)]


@api.operation("TagResource", resources=_resources)
def tag_resource(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    tags = tags_of(params)
    with ctx.cloud.db.begin() as conn:
        _require_taggable(conn, root, params["ResourceId"])
        store_tags(conn, params["ResourceId"], tags)
    return {}


@api.operation("UntagResource", resources=_resources)
def untag_resource(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    with ctx.cloud.db.begin() as conn:
        _require_taggable(conn, root, params["ResourceId"])
        conn.execute(delete(state.tags).where(state.tags.c.resource_id == params["ResourceId"],
                                              state.tags.c.key.in_(params["TagKeys"])))
    return {}


@api.operation("ListTagsForResource", resources=_resources)
def list_tags_for_resource(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    with ctx.cloud.db.read() as conn:
        if params["ResourceId"] != FULL_AWS_ACCESS_ID:
            _require_taggable(conn, root, params["ResourceId"])
        rows = conn.execute(select(state.tags.c.key, state.tags.c.value).where(
            state.tags.c.resource_id == params["ResourceId"])).all()
    chosen, token = page([{"Key": key, "Value": value} for key, value in rows], params, lambda tag: tag["Key"])
    return {"Tags": chosen, **token}
