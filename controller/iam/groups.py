"""IAM groups and their members."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from controller.api import Params, RequestContext
from controller.iam import entity_operations as entities
from controller.iam import state
from controller.iam.directory import (
    GROUP,
    USER,
    arn_of,
    collection_arn,
    group_output,
    list_entities,
    new_arn_of,
    refuse_if_referenced,
    require,
    user_output,
    writing,
)
from controller.iam.errors import NoSuchEntity
from controller.iam.naming import check_path
from controller.iam.service import api

group_arn = arn_of(GROUP)


@api.operation("CreateGroup", resources=new_arn_of(GROUP))
def create_group(ctx: RequestContext, params: Params) -> Params:
    name, path = params["GroupName"], check_path(params.get("Path"))
    with writing(ctx) as conn:
        entities.refuse_existing(conn, GROUP, ctx.account_id, name)
        row = entities.new_row(GROUP, ctx.cloud.config.partition, ctx.account_id, name, path)
        conn.execute(insert(state.groups).values(**row))
    ctx.audit_resources.append(row["arn"])
    return {"Group": group_output(row)}


@api.operation("GetGroup", resources=group_arn)
def get_group(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        group = require(conn, GROUP, ctx.account_id, params["GroupName"])
        members = conn.execute(select(state.users).join(
            state.group_members, state.group_members.c.user_id == state.users.c.user_id).where(
            state.group_members.c.group_id == group["group_id"])).mappings().all()
    return {"Group": group_output(group), **entities.page(members, params, "Users", user_output)}


@api.operation("ListGroups", resources=collection_arn("group"))
def list_groups(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        rows = list_entities(conn, GROUP, ctx.account_id, params.get("PathPrefix"))
    return entities.page(rows, params, "Groups", group_output)


@api.operation("ListGroupsForUser", resources=arn_of(USER))
def list_groups_for_user(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        user = require(conn, USER, ctx.account_id, params["UserName"])
        rows = conn.execute(select(state.groups).join(
            state.group_members, state.group_members.c.group_id == state.groups.c.group_id).where(
            state.group_members.c.user_id == user["user_id"])).mappings().all()
    return entities.page(rows, params, "Groups", group_output)


@api.operation("AddUserToGroup", resources=group_arn)
def add_user_to_group(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        group = require(conn, GROUP, ctx.account_id, params["GroupName"])
        user = require(conn, USER, ctx.account_id, params["UserName"])
        member = (state.group_members.c.group_id == group["group_id"]) & (
            state.group_members.c.user_id == user["user_id"])
        if conn.execute(select(state.group_members).where(member)).first() is None:
            conn.execute(insert(state.group_members).values(group_id=group["group_id"], user_id=user["user_id"]))
    return {}


@api.operation("RemoveUserFromGroup", resources=group_arn)
def remove_user_from_group(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        group = require(conn, GROUP, ctx.account_id, params["GroupName"])
        user = require(conn, USER, ctx.account_id, params["UserName"])
        removed = conn.execute(delete(state.group_members).where(
            state.group_members.c.group_id == group["group_id"], state.group_members.c.user_id == user["user_id"]))
        if removed.rowcount == 0:
            raise NoSuchEntity(f"User {user['user_name']} is not in group {group['group_name']}.")
    return {}


@api.operation("UpdateGroup", resources=group_arn)
def update_group(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        entities.rename(conn, ctx, GROUP, params)
    return {}


@api.operation("DeleteGroup", resources=group_arn)
def delete_group(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, GROUP, ctx.account_id, params["GroupName"])
        refuse_if_referenced(conn, state.group_members.c.group_id, row["group_id"],
                             "Cannot delete entity, must remove users from group first.")
        entities.refuse_if_policies(conn, row["group_id"])
        entities.delete_row(conn, GROUP, row)
    ctx.audit_resources.append(row["arn"])
    return {}
