"""IAM roles: trust policy, session duration, description, tags and permissions boundary."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, update

from controller.api import Params, RequestContext
from controller.iam import api, state
from controller.iam.directory import (
    ROLE,
    USER,
    collection_arn,
    entity_arn,
    find,
    list_entities,
    refuse_if_referenced,
    require,
    require_boundary_policy,
    role_output,
    writing,
)
from controller.iam.documents import checked
from controller.iam.errors import MalformedPolicyDocument, already_exists
from controller.iam.naming import (
    check_path,
    iam_arn,
    merge_tags,
    name_key,
    new_unique_id,
    paginate,
    remove_tags,
)
from controller.state import utcnow

DEFAULT_MAX_SESSION_DURATION = 3600


def role_arn(ctx: RequestContext, params: Params) -> list[str]:
    with ctx.cloud.db.read() as conn:
        return [entity_arn(conn, ROLE, ctx.cloud.config.partition, ctx.account_id, params["RoleName"])]


def _new_role_arn(ctx: RequestContext, params: Params) -> list[str]:
    return [iam_arn(ctx.cloud.config.partition, ctx.account_id, "role", params.get("Path") or "/",
                    params["RoleName"])]


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
    row = dict(role_id=new_unique_id("role"), account_id=account_id, role_name=name, name_key=name_key(name),
               path=path, arn=iam_arn(partition, account_id, "role", path, name), created_at=utcnow(),
               trust_policy=trust_policy, description=description, max_session_duration=max_session_duration,
               boundary_arn=boundary_arn, tags=tags or [], last_used_at=None, last_used_region=None)
    conn.execute(insert(state.roles).values(**row))
    return row


@api.operation("CreateRole", resources=_new_role_arn)
def create_role(ctx: RequestContext, params: Params) -> Params:
    name, path = params["RoleName"], check_path(params.get("Path"))
    tags = merge_tags([], params.get("Tags") or [])
    partition = ctx.cloud.config.partition
    with writing(ctx) as conn:
        if find(conn, ROLE, ctx.account_id, name) is not None:
            raise already_exists("Role", name)
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
    page = paginate(rows, params, lambda r: r["name_key"], "Roles")
    page["Roles"] = [role_output(row) for row in page["Roles"]]
    return page


def _update_role(ctx: RequestContext, name: str, **values: Any) -> dict[str, Any]:
    with writing(ctx) as conn:
        row = require(conn, ROLE, ctx.account_id, name)
        if values:
            conn.execute(update(state.roles).where(state.roles.c.role_id == row["role_id"]).values(**values))
    return {**row, **values}


@api.operation("UpdateRole", resources=role_arn)
def update_role(ctx: RequestContext, params: Params) -> Params:
    values: dict[str, Any] = {}
    if "Description" in params:
        values["description"] = params["Description"]
    if params.get("MaxSessionDuration"):
        values["max_session_duration"] = params["MaxSessionDuration"]
    _update_role(ctx, params["RoleName"], **values)
    return {}


@api.operation("UpdateRoleDescription", resources=role_arn)
def update_role_description(ctx: RequestContext, params: Params) -> Params:
    row = _update_role(ctx, params["RoleName"], description=params["Description"])
    return {"Role": role_output(row, full=True)}


@api.operation("UpdateAssumeRolePolicy", resources=role_arn)
def update_assume_role_policy(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, ROLE, ctx.account_id, params["RoleName"])
        check_trust_policy(ctx, conn, params["PolicyDocument"])
        conn.execute(update(state.roles).where(state.roles.c.role_id == row["role_id"]).values(
            trust_policy=params["PolicyDocument"]))
    return {}


@api.operation("DeleteRole", resources=role_arn)
def delete_role(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, ROLE, ctx.account_id, params["RoleName"])
        role_id = row["role_id"]
        refuse_if_referenced(conn, state.instance_profile_roles.c.role_id, role_id,
                             "Cannot delete entity, must remove roles from instance profile first.")
        refuse_if_referenced(conn, state.inline_policies.c.owner_id, role_id,
                             "Cannot delete entity, must delete policies first.")
        refuse_if_referenced(conn, state.attachments.c.owner_id, role_id,
                             "Cannot delete entity, must detach all policies first.")
        conn.execute(delete(state.roles).where(state.roles.c.role_id == role_id))
    ctx.audit_resources.append(row["arn"])
    return {}


# -- tags ---------------------------------------------------------------------------------------
@api.operation("TagRole", resources=role_arn)
def tag_role(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, ROLE, ctx.account_id, params["RoleName"])
        conn.execute(update(state.roles).where(state.roles.c.role_id == row["role_id"]).values(
            tags=merge_tags(row["tags"], params["Tags"])))
    return {}


@api.operation("UntagRole", resources=role_arn)
def untag_role(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, ROLE, ctx.account_id, params["RoleName"])
        conn.execute(update(state.roles).where(state.roles.c.role_id == row["role_id"]).values(
            tags=remove_tags(row["tags"], params["TagKeys"])))
    return {}


@api.operation("ListRoleTags", resources=role_arn)
def list_role_tags(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = require(conn, ROLE, ctx.account_id, params["RoleName"])
    return paginate(row["tags"], params, lambda tag: tag["Key"], "Tags")


# -- permissions boundary -----------------------------------------------------------------------
@api.operation("PutRolePermissionsBoundary", resources=role_arn)
def put_role_permissions_boundary(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, ROLE, ctx.account_id, params["RoleName"])
        require_boundary_policy(conn, ctx.cloud.config.partition, ctx.account_id, params["PermissionsBoundary"])
        conn.execute(update(state.roles).where(state.roles.c.role_id == row["role_id"]).values(
            boundary_arn=params["PermissionsBoundary"]))
    return {}


@api.operation("DeleteRolePermissionsBoundary", resources=role_arn)
def delete_role_permissions_boundary(ctx: RequestContext, params: Params) -> Params:
    _update_role(ctx, params["RoleName"], boundary_arn=None)
    return {}
