"""IAM users: create, read, list, rename, delete, tags and permissions boundaries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from controller.api import Params, RequestContext
from controller.auth.passwords import root_password_last_used
from controller.iam import entity_operations as entities
from controller.iam import login_profiles, state
from controller.iam.directory import (
    USER,
    arn_of,
    collection_arn,
    list_entities,
    new_arn_of,
    refuse_if_referenced,
    require,
    require_boundary_policy,
    user_output,
    writing,
)
from controller.iam.errors import DeleteConflict, ValidationError
from controller.iam.naming import check_path, merge_tags
from controller.iam.service import api
from controller.state import utcnow

#: The user a call names, or the caller itself when it names none (GetUser, access keys).
user_arn = arn_of(USER, caller_when_unnamed=True)


@api.operation("CreateUser", resources=new_arn_of(USER))
def create_user(ctx: RequestContext, params: Params) -> Params:
    name, path = params["UserName"], check_path(params.get("Path"))
    tags = merge_tags([], params.get("Tags") or [])
    with writing(ctx) as conn:
        entities.refuse_existing(conn, USER, ctx.account_id, name)
        boundary = params.get("PermissionsBoundary")
        if boundary:
            require_boundary_policy(conn, ctx.cloud.config.partition, ctx.account_id, boundary)
        row = entities.new_row(USER, ctx.cloud.config.partition, ctx.account_id, name, path)
        row.update(boundary_arn=boundary, tags=tags)
        conn.execute(insert(state.users).values(**row))
    ctx.audit_resources.append(row["arn"])
    return {"User": user_output(row, with_tags=True)}


@api.operation("GetUser", resources=user_arn)
def get_user(ctx: RequestContext, params: Params) -> Params:
    name = params.get("UserName")
    principal = ctx.principal
    if name is None:
        if principal.is_root:
            return {"User": _root_output(ctx)}
        if principal.kind != "user":
            raise ValidationError("Must specify userName when calling with non-User credentials")
        name = principal.name
    with ctx.cloud.db.read() as conn:
        row = require(conn, USER, ctx.account_id, name)
        last_used = login_profiles.password_last_used(conn, [row["user_id"]])
    return {"User": _with_last_use(user_output(row, with_tags=True), last_used)}


def _root_output(ctx: RequestContext) -> Params:
    account = ctx.cloud.credentials.get_account(ctx.account_id) or {}
    user = {"Path": "/", "UserId": ctx.account_id, "Arn": ctx.principal.arn,
            "CreateDate": account.get("created_at") or utcnow()}
    with ctx.cloud.db.read() as conn:
        last_used = root_password_last_used(conn, ctx.account_id)
    if last_used is not None:
        user["PasswordLastUsed"] = last_used
    return user


def _with_last_use(user: Params, last_used: dict[str, dt.datetime]) -> Params:
    """``PasswordLastUsed`` once the user signed in to the console with a password, as AWS shows it."""
    when = last_used.get(user["UserId"])
    return {**user, "PasswordLastUsed": when} if when is not None else user


@api.operation("ListUsers", resources=collection_arn("user"))
def list_users(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        rows = list_entities(conn, USER, ctx.account_id, params.get("PathPrefix"))
        last_used = login_profiles.password_last_used(conn, [row["user_id"] for row in rows])
    return entities.page(rows, params, "Users", lambda row: _with_last_use(user_output(row), last_used))


@api.operation("UpdateUser", resources=user_arn)
def update_user(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row, renamed = entities.rename(conn, ctx, USER, params)
        ctx.cloud.credentials.rename_principal(ctx.account_id, "user", row["user_name"], renamed["user_name"],
                                               renamed["arn"], conn=conn)
    return {}


@api.operation("DeleteUser", resources=user_arn)
def delete_user(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, USER, ctx.account_id, params["UserName"])
        if ctx.cloud.credentials.keys_of(ctx.account_id, row["user_name"], kind="user"):
            raise DeleteConflict("Cannot delete entity, must delete access keys first.")
        if login_profiles.profile_of(conn, row["user_id"]) is not None:
            raise DeleteConflict("Cannot delete entity, must delete login profile first.")
        entities.refuse_if_policies(conn, row["user_id"])
        refuse_if_referenced(conn, state.group_members.c.user_id, row["user_id"],
                             "Cannot delete entity, must remove users from group first.")
        refuse_if_referenced(conn, state.mfa_devices.c.user_id, row["user_id"],
                             "Cannot delete entity, must delete MFA device first.")
        login_profiles.forget_user(conn, row["user_id"])
        entities.delete_row(conn, USER, row)
    ctx.audit_resources.append(row["arn"])
    return {}


# -- tags ---------------------------------------------------------------------------------------
@api.operation("TagUser", resources=user_arn)
def tag_user(ctx: RequestContext, params: Params) -> Params:
    return entities.tag(ctx, USER, params)


@api.operation("UntagUser", resources=user_arn)
def untag_user(ctx: RequestContext, params: Params) -> Params:
    return entities.untag(ctx, USER, params)


@api.operation("ListUserTags", resources=user_arn)
def list_user_tags(ctx: RequestContext, params: Params) -> Params:
    return entities.list_tags(ctx, USER, params)


# -- permissions boundary -----------------------------------------------------------------------
@api.operation("PutUserPermissionsBoundary", resources=user_arn)
def put_user_permissions_boundary(ctx: RequestContext, params: Params) -> Params:
    return entities.put_boundary(ctx, USER, params)


@api.operation("DeleteUserPermissionsBoundary", resources=user_arn)
def delete_user_permissions_boundary(ctx: RequestContext, params: Params) -> Params:
    return entities.delete_boundary(ctx, USER, params)
