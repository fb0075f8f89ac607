"""IAM roles: trust policy, session duration, description, tags and permissions boundary."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert

from controller.api import Params, RequestContext
from controller.iam import entity_operations as entities
from controller.iam import state
from controller.iam.directory import (
    ROLE,
    USER,
    arn_of,
    collection_arn,
    find,
    list_entities,
    new_arn_of,
    refuse_if_referenced,
    require,
    require_boundary_policy,
    role_output,
    writing,
)
from controller.iam.documents import checked
from controller.iam.errors import MalformedPolicyDocument
from controller.iam.naming import check_path, merge_tags
from controller.iam.service import api

DEFAULT_MAX_SESSION_DURATION = 3600

role_arn = arn_of(ROLE)


def check_trust_policy(ctx: RequestContext, conn: Connection, document: str) -> None:
    """Validate a trust policy; IAM principals it names in this cloud's accounts must exist."""
    compiled = checked(document, "trust")
    known_accounts = {account["account_id"] for account in ctx.cloud.credentials.list_accounts()}
    for statement in compiled.statements:
        if statement.principal is None:
            continue
        for arn in statement.principal.arns:
            parts = arn.split(":", 5)
            if len(parts) != 6 or parts[2] != "iam" or parts[4] not in known_accounts:
                continue
            kind, _, rest = parts[5].partition("/")
            entity = {"user": USER, "role": ROLE}.get(kind)
            if entity is not None and find(conn, entity, parts[4], rest.rsplit("/", 1)[-1]) is None:
                raise MalformedPolicyDocument(f'Invalid principal in policy: "AWS":"{arn}"')


def insert_role(conn: Connection, partition: str, account_id: str, name: str, trust_policy: str, *,
                path: str = "/", description: str | None = None,
                max_session_duration: int = DEFAULT_MAX_SESSION_DURATION, boundary_arn: str | None = None,
                tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Store a new role (names are checked by the caller) and return its row."""
    row = entities.new_row(ROLE, partition, account_id, name, path)
    row.update(trust_policy=trust_policy, description=description, max_session_duration=max_session_duration,
               boundary_arn=boundary_arn, tags=tags or [], last_used_at=None, last_used_region=None)
    conn.execute(insert(state.roles).values(**row))
    return row


@api.operation("CreateRole", resources=new_arn_of(ROLE))
def create_role(ctx: RequestContext, params: Params) -> Params:
    name, path = params["RoleName"], check_path(params.get("Path"))
    tags = merge_tags([], params.get("Tags") or [])
    partition = ctx.cloud.config.partition
    with writing(ctx) as conn:
        entities.refuse_existing(conn, ROLE, ctx.account_id, name)
        check_trust_policy(ctx, conn, params["AssumeRolePolicyDocument"])
        boundary = params.get("PermissionsBoundary")
        if boundary:
            require_boundary_policy(conn, partition, ctx.account_id, boundary)
        row = insert_role(conn, partition, ctx.account_id, name, params["AssumeRolePolicyDocument"], path=path,
                          description=params.get("Description"),
                          max_session_duration=params.get("MaxSessionDuration") or DEFAULT_MAX_SESSION_DURATION,
                          boundary_arn=boundary, tags=tags)
    ctx.audit_resources.append(row["arn"])
    output = role_output(row)
    if tags:
        output["Tags"] = tags
    return {"Role": output}


@api.operation("GetRole", resources=role_arn)
def get_role(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        return {"Role": role_output(require(conn, ROLE, ctx.account_id, params["RoleName"]), full=True)}


@api.operation("ListRoles", resources=collection_arn("role"))
def list_roles(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        rows = list_entities(conn, ROLE, ctx.account_id, params.get("PathPrefix"))
    return entities.page(rows, params, "Roles", role_output)


@api.operation("UpdateRole", resources=role_arn)
def update_role(ctx: RequestContext, params: Params) -> Params:
    values: dict[str, Any] = {}
    if "Description" in params:
        values["description"] = params["Description"]
    if params.get("MaxSessionDuration"):
        values["max_session_duration"] = params["MaxSessionDuration"]
    entities.update_by_name(ctx, ROLE, params, **values)
    return {}


@api.operation("UpdateRoleDescription", resources=role_arn)
def update_role_description(ctx: RequestContext, params: Params) -> Params:
    row = entities.update_by_name(ctx, ROLE, params, description=params["Description"])
    return {"Role": role_output(row, full=True)}


@api.operation("UpdateAssumeRolePolicy", resources=role_arn)
def update_assume_role_policy(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, ROLE, ctx.account_id, params["RoleName"])
        check_trust_policy(ctx, conn, params["PolicyDocument"])
        entities.set_columns(conn, ROLE, row, trust_policy=params["PolicyDocument"])
    return {}


@api.operation("DeleteRole", resources=role_arn)
def delete_role(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, ROLE, ctx.account_id, params["RoleName"])
        refuse_if_referenced(conn, state.instance_profile_roles.c.role_id, row["role_id"],
                             "Cannot delete entity, must remove roles from instance profile first.")
        entities.refuse_if_policies(conn, row["role_id"])
        entities.delete_row(conn, ROLE, row)
    ctx.audit_resources.append(row["arn"])
    return {}


# -- tags ---------------------------------------------------------------------------------------
@api.operation("TagRole", resources=role_arn)
def tag_role(ctx: RequestContext, params: Params) -> Params:
    return entities.tag(ctx, ROLE, params)


@api.operation("UntagRole", resources=role_arn)
def untag_role(ctx: RequestContext, params: Params) -> Params:
    return entities.untag(ctx, ROLE, params)


@api.operation("ListRoleTags", resources=role_arn)
def list_role_tags(ctx: RequestContext, params: Params) -> Params:
    return entities.list_tags(ctx, ROLE, params)


# -- permissions boundary -----------------------------------------------------------------------
@api.operation("PutRolePermissionsBoundary", resources=role_arn)
def put_role_permissions_boundary(ctx: RequestContext, params: Params) -> Params:
    return entities.put_boundary(ctx, ROLE, params)


@api.operation("DeleteRolePermissionsBoundary", resources=role_arn)
def delete_role_permissions_boundary(ctx: RequestContext, params: Params) -> Params:
    return entities.delete_boundary(ctx, ROLE, params)
