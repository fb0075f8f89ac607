"""IAM users: create, read, list, rename, delete, tags and permissions boundaries."""

from __future__ import annotations

from sqlalchemy import delete, insert, update

from controller.api import Params, RequestContext
from controller.iam import api, state
from controller.iam.directory import (
    USER,
    collection_arn,
    entity_arn,
    find,
    list_entities,
    refuse_if_referenced,
    require,
    require_boundary_policy,
    user_output,
    writing,
)
from controller.iam.errors import DeleteConflict, ValidationError, already_exists
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


def user_arn(ctx: RequestContext, params: Params) -> list[str]:
    """The ARN IAM authorizes user operations against (the caller itself when no name is given)."""
    name = params.get("UserName")
    if name is None:
        return [ctx.principal.arn]
    with ctx.cloud.db.read() as conn:
        return [entity_arn(conn, USER, ctx.cloud.config.partition, ctx.account_id, name)]


def _new_user_arn(ctx: RequestContext, params: Params) -> list[str]:
    return [iam_arn(ctx.cloud.config.partition, ctx.account_id, "user", params.get("Path") or "/",
                    params["UserName"])]


@api.operation("CreateUser", resources=_new_user_arn)
def create_user(ctx: RequestContext, params: Params) -> Params:
    name, path = params["UserName"], check_path(params.get("Path"))
    tags = merge_tags([], params.get("Tags") or [])
    with writing(ctx) as conn:
        if find(conn, USER, ctx.account_id, name) is not None:
            raise already_exists("User", name)
        boundary = params.get("PermissionsBoundary")
        if boundary:
            require_boundary_policy(conn, ctx.cloud.config.partition, ctx.account_id, boundary)
        row = dict(user_id=new_unique_id("user"), account_id=ctx.account_id, user_name=name, name_key=name_key(name),
                   path=path, arn=iam_arn(ctx.cloud.config.partition, ctx.account_id, "user", path, name),
                   created_at=utcnow(), boundary_arn=boundary, tags=tags)
        conn.execute(insert(state.users).values(**row))
    ctx.audit_resources.append(row["arn"])
    return {"User": user_output(row, with_tags=True)}


@api.operation("GetUser", resources=user_arn)
def get_user(ctx: RequestContext, params: Params) -> Params:
    name = params.get("UserName")
    principal = ctx.principal
    if name is None:
        if principal.is_root:
            account = ctx.cloud.credentials.get_account(ctx.account_id) or {}
            return {"User": {"Path": "/", "UserId": ctx.account_id, "Arn": principal.arn,
                             "CreateDate": account.get("created_at") or utcnow()}}
        if principal.kind != "user":
            raise ValidationError("Must specify userName when calling with non-User credentials")
        name = principal.name
    with ctx.cloud.db.read() as conn:
        row = require(conn, USER, ctx.account_id, name)
    return {"User": user_output(row, with_tags=True)}


@api.operation("ListUsers", resources=collection_arn("user"))
def list_users(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        rows = list_entities(conn, USER, ctx.account_id, params.get("PathPrefix"))
    page = paginate(rows, params, lambda r: r["name_key"], "Users")
    page["Users"] = [user_output(row) for row in page["Users"]]
    return page


@api.operation("UpdateUser", resources=user_arn)
def update_user(ctx: RequestContext, params: Params) -> Params:
    name = params["UserName"]
    with writing(ctx) as conn:
        row = require(conn, USER, ctx.account_id, name)
        new_name = params.get("NewUserName") or row["user_name"]
        new_path = check_path(params.get("NewPath"), "newPath") if params.get("NewPath") else row["path"]
        if name_key(new_name) != row["name_key"] and find(conn, USER, ctx.account_id, new_name) is not None:
            raise already_exists("User", new_name)
        new_arn = iam_arn(ctx.cloud.config.partition, ctx.account_id, "user", new_path, new_name)
        conn.execute(update(state.users).where(state.users.c.user_id == row["user_id"]).values(
            user_name=new_name, name_key=name_key(new_name), path=new_path, arn=new_arn))
        ctx.cloud.credentials.rename_principal(ctx.account_id, "user", row["user_name"], new_name, new_arn,
                                               conn=conn)
    return {}


@api.operation("DeleteUser", resources=user_arn)
def delete_user(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, USER, ctx.account_id, params["UserName"])
        if ctx.cloud.credentials.keys_of(ctx.account_id, row["user_name"], kind="user"):
            raise DeleteConflict("Cannot delete entity, must delete access keys first.")
        refuse_if_referenced(conn, state.inline_policies.c.owner_id, row["user_id"],
                             "Cannot delete entity, must delete policies first.")
        refuse_if_referenced(conn, state.attachments.c.owner_id, row["user_id"],
                             "Cannot delete entity, must detach all policies first.")
        refuse_if_referenced(conn, state.group_members.c.user_id, row["user_id"],
                             "Cannot delete entity, must remove users from group first.")
        conn.execute(delete(state.users).where(state.users.c.user_id == row["user_id"]))
    ctx.audit_resources.append(row["arn"])
    return {}


# -- tags ---------------------------------------------------------------------------------------
@api.operation("TagUser", resources=user_arn)
def tag_user(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, USER, ctx.account_id, params["UserName"])
        tags = merge_tags(row["tags"], params["Tags"])
        conn.execute(update(state.users).where(state.users.c.user_id == row["user_id"]).values(tags=tags))
    return {}


@api.operation("UntagUser", resources=user_arn)
def untag_user(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, USER, ctx.account_id, params["UserName"])
        tags = remove_tags(row["tags"], params["TagKeys"])
        conn.execute(update(state.users).where(state.users.c.user_id == row["user_id"]).values(tags=tags))
    return {}


@api.operation("ListUserTags", resources=user_arn)
def list_user_tags(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = require(conn, USER, ctx.account_id, params["UserName"])
    return paginate(row["tags"], params, lambda tag: tag["Key"], "Tags")


# -- permissions boundary -----------------------------------------------------------------------
@api.operation("PutUserPermissionsBoundary", resources=user_arn)
def put_user_permissions_boundary(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, USER, ctx.account_id, params["UserName"])
        require_boundary_policy(conn, ctx.cloud.config.partition, ctx.account_id, params["PermissionsBoundary"])
        conn.execute(update(state.users).where(state.users.c.user_id == row["user_id"]).values(
            boundary_arn=params["PermissionsBoundary"]))
    return {}


@api.operation("DeleteUserPermissionsBoundary", resources=user_arn)
def delete_user_permissions_boundary(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, USER, ctx.account_id, params["UserName"])
        conn.execute(update(state.users).where(state.users.c.user_id == row["user_id"]).values(
            boundary_arn=None))
    return {}
