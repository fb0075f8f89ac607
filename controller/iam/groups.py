"""IAM groups and their members."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from controller.api import Params, RequestContext
from controller.iam import api, state
from controller.iam.directory import (
    GROUP,
    USER,
    collection_arn,
    entity_arn,
    find,
    group_output,
    list_entities,
    refuse_if_referenced,
    require,
    user_output,
    writing,
)
from controller.iam.errors import NoSuchEntity, already_exists
from controller.iam.naming import check_path, iam_arn, name_key, new_unique_id, paginate
from controller.state import utcnow


def group_arn(ctx: RequestContext, params: Params) -> list[str]:
    with ctx.cloud.db.read() as conn:
        return [entity_arn(conn, GROUP, ctx.cloud.config.partition, ctx.account_id, params["GroupName"])]


def _new_group_arn(ctx: RequestContext, params: Params) -> list[str]:
    return [iam_arn(ctx.cloud.config.partition, ctx.account_id, "group", params.get("Path") or "/",
                    params["GroupName"])]


def _user_arn(ctx: RequestContext, params: Params) -> list[str]:
    with ctx.cloud.db.read() as conn:
        return [entity_arn(conn, USER, ctx.cloud.config.partition, ctx.account_id, params["UserName"])]


@api.operation("CreateGroup", resources=_new_group_arn)
def create_group(ctx: RequestContext, params: Params) -> Params:
    name, path = params["GroupName"], check_path(params.get("Path"))
    with writing(ctx) as conn:
        if find(conn, GROUP, ctx.account_id, name) is not None:
            raise already_exists("Group", name)
        row = dict(group_id=new_unique_id("group"), account_id=ctx.account_id, group_name=name,
                   name_key=name_key(name), path=path,
                   arn=iam_arn(ctx.cloud.config.partition, ctx.account_id, "group", path, name), created_at=utcnow())
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
    page = paginate(members, params, lambda r: r["name_key"], "Users")
    page["Users"] = [user_output(row) for row in page["Users"]]
    return {"Group": group_output(group), **page}


@api.operation("ListGroups", resources=collection_arn("group"))
def list_groups(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        rows = list_entities(conn, GROUP, ctx.account_id, params.get("PathPrefix"))
    page = paginate(rows, params, lambda r: r["name_key"], "Groups")
    page["Groups"] = [group_output(row) for row in page["Groups"]]
    return page


@api.operation("ListGroupsForUser", resources=_user_arn)
def list_groups_for_user(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        user = require(conn, USER, ctx.account_id, params["UserName"])
        rows = conn.execute(select(state.groups).join(
            state.group_members, state.group_members.c.group_id == state.groups.c.group_id).where(
            state.group_members.c.user_id == user["user_id"])).mappings().all()
    page = paginate(rows, params, lambda r: r["name_key"], "Groups")
    page["Groups"] = [group_output(row) for row in page["Groups"]]
    return page


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
        row = require(conn, GROUP, ctx.account_id, params["GroupName"])
        new_name = params.get("NewGroupName") or row["group_name"]
        new_path = check_path(params.get("NewPath"), "newPath") if params.get("NewPath") else row["path"]
        if name_key(new_name) != row["name_key"] and find(conn, GROUP, ctx.account_id, new_name) is not None:
            raise already_exists("Group", new_name)
        conn.execute(update(state.groups).where(state.groups.c.group_id == row["group_id"]).values(
            group_name=new_name, name_key=name_key(new_name), path=new_path,
            arn=iam_arn(ctx.cloud.config.partition, ctx.account_id, "group", new_path, new_name)))
    return {}


@api.operation("DeleteGroup", resources=group_arn)
def delete_group(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, GROUP, ctx.account_id, params["GroupName"])
        group_id = row["group_id"]
        refuse_if_referenced(conn, state.group_members.c.group_id, group_id,
                             "Cannot delete entity, must remove users from group first.")
        refuse_if_referenced(conn, state.inline_policies.c.owner_id, group_id,
                             "Cannot delete entity, must delete policies first.")
        refuse_if_referenced(conn, state.attachments.c.owner_id, group_id,
                             "Cannot delete entity, must detach all policies first.")
        conn.execute(delete(state.groups).where(state.groups.c.group_id == group_id))
    ctx.audit_resources.append(row["arn"])
    return {}
