"""Instance profiles: the container that hands one role to EC2 instances."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from controller.api import Params, RequestContext
from controller.iam import entity_operations as entities
from controller.iam import state
from controller.iam.directory import (
    INSTANCE_PROFILE,
    ROLE,
    arn_of,
    collection_arn,
    instance_profile_output,
    list_entities,
    new_arn_of,
    refuse_if_referenced,
    require,
    writing,
)
from controller.iam.errors import LimitExceeded, NoSuchEntity
from controller.iam.naming import check_path, merge_tags
from controller.iam.service import api

#: Roles one instance profile may hold (AWS's fixed quota).
ROLES_PER_PROFILE = 1


profile_arn = arn_of(INSTANCE_PROFILE)


@api.operation("CreateInstanceProfile", resources=new_arn_of(INSTANCE_PROFILE))
def create_instance_profile(ctx: RequestContext, params: Params) -> Params:
    name, path = params["InstanceProfileName"], check_path(params.get("Path"))
    tags = merge_tags([], params.get("Tags") or [])
    with writing(ctx) as conn:
        entities.refuse_existing(conn, INSTANCE_PROFILE, ctx.account_id, name)
        row = entities.new_row(INSTANCE_PROFILE, ctx.cloud.config.partition, ctx.account_id, name, path)
        row["tags"] = tags
        conn.execute(insert(state.instance_profiles).values(**row))
        output = instance_profile_output(conn, row, with_tags=True)
    ctx.audit_resources.append(row["arn"])
    return {"InstanceProfile": output}


@api.operation("GetInstanceProfile", resources=profile_arn)
def get_instance_profile(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = require(conn, INSTANCE_PROFILE, ctx.account_id, params["InstanceProfileName"])
        return {"InstanceProfile": instance_profile_output(conn, row, with_tags=True)}


@api.operation("ListInstanceProfiles", resources=collection_arn("instance-profile"))
def list_instance_profiles(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        rows = list_entities(conn, INSTANCE_PROFILE, ctx.account_id, params.get("PathPrefix"))
        return entities.page(rows, params, "InstanceProfiles", lambda row: instance_profile_output(conn, row))


@api.operation("ListInstanceProfilesForRole", resources=arn_of(ROLE))
def list_instance_profiles_for_role(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        role = require(conn, ROLE, ctx.account_id, params["RoleName"])
        rows = conn.execute(select(state.instance_profiles).join(
            state.instance_profile_roles,
            state.instance_profile_roles.c.profile_id == state.instance_profiles.c.profile_id).where(
            state.instance_profile_roles.c.role_id == role["role_id"])).mappings().all()
        return entities.page(rows, params, "InstanceProfiles", lambda row: instance_profile_output(conn, row))


@api.operation("AddRoleToInstanceProfile", resources=profile_arn)
def add_role_to_instance_profile(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        profile = require(conn, INSTANCE_PROFILE, ctx.account_id, params["InstanceProfileName"])
        role = require(conn, ROLE, ctx.account_id, params["RoleName"])
        held = conn.execute(select(state.instance_profile_roles.c.role_id).where(
            state.instance_profile_roles.c.profile_id == profile["profile_id"])).scalars().all()
        if len(held) >= ROLES_PER_PROFILE:  # also when it already holds this very role, as on AWS
            raise LimitExceeded(f"Cannot exceed quota for InstanceSessionsPerInstanceProfile: {ROLES_PER_PROFILE}")
        conn.execute(insert(state.instance_profile_roles).values(profile_id=profile["profile_id"],
                                                                 role_id=role["role_id"]))
    return {}


@api.operation("RemoveRoleFromInstanceProfile", resources=profile_arn)
def remove_role_from_instance_profile(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        profile = require(conn, INSTANCE_PROFILE, ctx.account_id, params["InstanceProfileName"])
        role = require(conn, ROLE, ctx.account_id, params["RoleName"])
        removed = conn.execute(delete(state.instance_profile_roles).where(
            state.instance_profile_roles.c.profile_id == profile["profile_id"],
            state.instance_profile_roles.c.role_id == role["role_id"]))
        if removed.rowcount == 0:
            raise NoSuchEntity(f"Role {role['role_name']} in Instance Profile {profile['profile_name']} "
                               "cannot be found.")
    return {}


@api.operation("DeleteInstanceProfile", resources=profile_arn)
def delete_instance_profile(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        profile = require(conn, INSTANCE_PROFILE, ctx.account_id, params["InstanceProfileName"])
        refuse_if_referenced(conn, state.instance_profile_roles.c.profile_id, profile["profile_id"],
                             "Cannot delete entity, must remove roles from instance profile first.")
        entities.delete_row(conn, INSTANCE_PROFILE, profile)
    ctx.audit_resources.append(profile["arn"])
    return {}


@api.operation("TagInstanceProfile", resources=profile_arn)
def tag_instance_profile(ctx: RequestContext, params: Params) -> Params:
    return entities.tag(ctx, INSTANCE_PROFILE, params)


@api.operation("UntagInstanceProfile", resources=profile_arn)
def untag_instance_profile(ctx: RequestContext, params: Params) -> Params:
    return entities.untag(ctx, INSTANCE_PROFILE, params)


@api.operation("ListInstanceProfileTags", resources=profile_arn)
def list_instance_profile_tags(ctx: RequestContext, params: Params) -> Params:
    return entities.list_tags(ctx, INSTANCE_PROFILE, params)
