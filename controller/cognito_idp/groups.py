"""Groups: CreateGroup, GetGroup, ListGroups, UpdateGroup, DeleteGroup, AdminAddUserToGroup,
AdminRemoveUserFromGroup, AdminListGroupsForUser, ListUsersInGroup.

A group's members get ``cognito:groups`` in their tokens, and its RoleArn and Precedence decide
``cognito:roles`` and ``cognito:preferred_role`` (:func:`tokens.role_claims`), which identity pools
turn into credentials.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from controller.api import RequestContext
from controller.cognito_idp import errors, state
from controller.cognito_idp.admin_users import admin_target
from controller.cognito_idp.list_users import decode_token, encode_token
from controller.cognito_idp.pools import pool_resources, pool_row
from controller.cognito_idp.service import api
from controller.cognito_idp.users import user_shape

MAX_LIMIT = 60


def group_shape(row: dict[str, Any]) -> dict[str, Any]:
    shape = {"GroupName": row["name"], "UserPoolId": row["pool_id"], "CreationDate": row["created_at"],
             "LastModifiedDate": row["modified_at"]}
    for key, column in (("Description", "description"), ("RoleArn", "role_arn"), ("Precedence", "precedence")):
        if row[column] is not None:
            shape[key] = row[column]
    return shape


def _group(conn: Connection, pool_id: str, name: str) -> dict[str, Any]:
    row = conn.execute(select(state.groups).where(state.groups.c.pool_id == pool_id,
                                                  state.groups.c.name == name)).mappings().first()
    if row is None:
        raise errors.ResourceNotFoundException("Group not found.")
    return dict(row)


def _limit(params: dict[str, Any]) -> int:
    limit = params.get("Limit") or MAX_LIMIT
    if not 0 < limit <= MAX_LIMIT:
        raise errors.InvalidParameterException(f"Limit must be between 1 and {MAX_LIMIT}.")
    return limit


@api.operation("CreateGroup", resources=pool_resources)
def create_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    with ctx.cloud.db.begin() as conn:
        pool = pool_row(conn, params["UserPoolId"], ctx)
        exists = conn.execute(select(state.groups.c.name).where(
            state.groups.c.pool_id == pool["pool_id"], state.groups.c.name == params["GroupName"])).first()
        if exists:
            raise errors.GroupExistsException(f"A group with the name {params['GroupName']} already exists.")
        conn.execute(insert(state.groups).values(
            pool_id=pool["pool_id"], name=params["GroupName"], description=params.get("Description"),
            precedence=params.get("Precedence"), role_arn=params.get("RoleArn"), created_at=now, modified_at=now))
        row = _group(conn, pool["pool_id"], params["GroupName"])
    return {"Group": group_shape(row)}


@api.operation("GetGroup", resources=pool_resources)
def get_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        pool = pool_row(conn, params["UserPoolId"], ctx)
        return {"Group": group_shape(_group(conn, pool["pool_id"], params["GroupName"]))}


@api.operation("ListGroups", resources=pool_resources)
def list_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    limit = _limit(params)
    with ctx.cloud.db.read() as conn:
        pool = pool_row(conn, params["UserPoolId"], ctx)
        query = select(state.groups).where(state.groups.c.pool_id == pool["pool_id"]).order_by(state.groups.c.name)
        if params.get("NextToken"):
            query = query.where(state.groups.c.name > params["NextToken"])
        rows = conn.execute(query.limit(limit + 1)).mappings().all()
    out: dict[str, Any] = {"Groups": [group_shape(dict(row)) for row in rows[:limit]]}
    if len(rows) > limit:
        out["NextToken"] = rows[limit - 1]["name"]
    return out


@api.operation("UpdateGroup", resources=pool_resources)
def update_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Only the members the update names change (Description, RoleArn, Precedence)."""
    changes = {column: params[key] for key, column in
               (("Description", "description"), ("RoleArn", "role_arn"), ("Precedence", "precedence"))
               if key in params}
    with ctx.cloud.db.begin() as conn:
        pool = pool_row(conn, params["UserPoolId"], ctx)
        _group(conn, pool["pool_id"], params["GroupName"])
        conn.execute(update(state.groups).where(state.groups.c.pool_id == pool["pool_id"],
                                                state.groups.c.name == params["GroupName"])
                     .values(**changes, modified_at=time.time()))
        row = _group(conn, pool["pool_id"], params["GroupName"])
    return {"Group": group_shape(row)}


@api.operation("DeleteGroup", resources=pool_resources)
def delete_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        pool = pool_row(conn, params["UserPoolId"], ctx)
        _group(conn, pool["pool_id"], params["GroupName"])
        conn.execute(delete(state.members).where(state.members.c.pool_id == pool["pool_id"],
                                                 state.members.c.group_name == params["GroupName"]))
        conn.execute(delete(state.groups).where(state.groups.c.pool_id == pool["pool_id"],
                                                state.groups.c.name == params["GroupName"]))
    return {}


@api.operation("AdminAddUserToGroup", resources=pool_resources)
def admin_add_user_to_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        pool, user = admin_target(conn, ctx, params)
        _group(conn, pool["Id"], params["GroupName"])
        member = conn.execute(select(state.members.c.user_id).where(
            state.members.c.user_id == user["user_id"], state.members.c.group_name == params["GroupName"])).first()
        if member is None:
            conn.execute(insert(state.members).values(user_id=user["user_id"], pool_id=pool["Id"],
                                                      group_name=params["GroupName"]))
    return {}


@api.operation("AdminRemoveUserFromGroup", resources=pool_resources)
def admin_remove_user_from_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        pool, user = admin_target(conn, ctx, params)
        _group(conn, pool["Id"], params["GroupName"])
        conn.execute(delete(state.members).where(state.members.c.user_id == user["user_id"],
                                                 state.members.c.group_name == params["GroupName"]))
    return {}


@api.operation("AdminListGroupsForUser", resources=pool_resources)
def admin_list_groups_for_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    limit = _limit(params)
    with ctx.cloud.db.read() as conn:
        pool, user = admin_target(conn, ctx, params)
        query = select(state.groups).join(
            state.members, (state.members.c.pool_id == state.groups.c.pool_id)
            & (state.members.c.group_name == state.groups.c.name)).where(
            state.members.c.user_id == user["user_id"]).order_by(state.groups.c.name)
        if params.get("NextToken"):
            query = query.where(state.groups.c.name > params["NextToken"])
        rows = conn.execute(query.limit(limit + 1)).mappings().all()
    out: dict[str, Any] = {"Groups": [group_shape(dict(row)) for row in rows[:limit]]}
    if len(rows) > limit:
        out["NextToken"] = rows[limit - 1]["name"]
    return out


@api.operation("ListUsersInGroup", resources=pool_resources)
def list_users_in_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    limit = _limit(params)
    after = decode_token(params["NextToken"]) if params.get("NextToken") else 0
    with ctx.cloud.db.read() as conn:
        pool = pool_row(conn, params["UserPoolId"], ctx)
        _group(conn, pool["pool_id"], params["GroupName"])
        rows = conn.execute(select(state.users).join(state.members, state.members.c.user_id == state.users.c.user_id)
                            .where(state.members.c.pool_id == pool["pool_id"],
                                   state.members.c.group_name == params["GroupName"],
                                   state.users.c.user_id > after)
                            .order_by(state.users.c.user_id).limit(limit + 1)).mappings().all()
    out: dict[str, Any] = {"Users": [user_shape(dict(row)) for row in rows[:limit]]}
    if len(rows) > limit:
        out["NextToken"] = encode_token(rows[limit - 1]["user_id"])
    return out
