"""Instance profiles: the container that hands one role to EC2 instances."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from controller.api import Params, RequestContext
from controller.iam import api, state
from controller.iam.directory import (
    INSTANCE_PROFILE,
    ROLE,
    collection_arn,
    entity_arn,
    find,
    instance_profile_output,
    list_entities,
    refuse_if_referenced,
    require,
    writing,
)
from controller.iam.errors import EntityAlreadyExists, LimitExceeded, NoSuchEntity
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

#: Roles one instance profile may hold (AWS's fixed quota).
ROLES_PER_PROFILE = 1


def profile_arn(ctx: RequestContext, params: Params) -> list[str]:
    with ctx.cloud.db.read() as conn:
        return [entity_arn(conn, INSTANCE_PROFILE, ctx.cloud.config.partition, ctx.account_id,
                           params["InstanceProfileName"])]


def _new_profile_arn(ctx: RequestContext, params: Params) -> list[str]:
    return [iam_arn(ctx.cloud.config.partition, ctx.account_id, "instance-profile", params.get("Path") or "/",
                    params["InstanceProfileName"])]


def _role_arn(ctx: RequestContext, params: Params) -> list[str]:
    with ctx.cloud.db.read() as conn:
        return [entity_arn(conn, ROLE, ctx.cloud.config.partition, ctx.account_id, params["RoleName"])]


@api.operation("CreateInstanceProfile", resources=_new_profile_arn)
def create_instance_profile(ctx: RequestContext, params: Params) -> Params:
    name, path = params["InstanceProfileName"], check_path(params.get("Path"))
    tags = merge_tags([], params.get("Tags") or [])
    with writing(ctx) as conn:
        if find(conn, INSTANCE_PROFILE, ctx.account_id, name) is not None:
            raise EntityAlreadyExists(f"Instance Profile {name} already exists.")
        row = dict(profile_id=new_unique_id("instance-profile"), account_id=ctx.account_id, profile_name=name,
                   name_key=name_key(name), path=path,
                   arn=iam_arn(ctx.cloud.config.partition, ctx.account_id, "instance-profile", path, name),
                   created_at=utcnow(), tags=tags)
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
        page = paginate(rows, params, lambda r: r["name_key"], "InstanceProfiles")
        page["InstanceProfiles"] = [instance_profile_output(conn, row) for row in page["InstanceProfiles"]]
    return page


@api.operation("ListInstanceProfilesForRole", resources=_role_arn)
def list_instance_profiles_for_role(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        role = require(conn, ROLE, ctx.account_id, params["RoleName"])
        rows = conn.execute(select(state.instance_profiles).join(
            state.instance_profile_roles,
            state.instance_profile_roles.c.profile_id == state.instance_profiles.c.profile_id).where(
            state.instance_profile_roles.c.role_id == role["role_id"])).mappings().all()
        page = paginate(rows, params, lambda r: r["name_key"], "InstanceProfiles")
        page["InstanceProfiles"] = [instance_profile_output(conn, row) for row in page["InstanceProfiles"]]
    return page


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
        conn.execute(delete(state.instance_profiles).where(
            state.instance_profiles.c.profile_id == profile["profile_id"]))
    ctx.audit_resources.append(profile["arn"])
    return {}


@api.operation("TagInstanceProfile", resources=profile_arn)
def tag_instance_profile(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, INSTANCE_PROFILE, ctx.account_id, params["InstanceProfileName"])
        conn.execute(update(state.instance_profiles).where(
            state.instance_profiles.c.profile_id == row["profile_id"]).values(
            tags=merge_tags(row["tags"], params["Tags"])))
    return {}


@api.operation("UntagInstanceProfile", resources=profile_arn)
def untag_instance_profile(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, INSTANCE_PROFILE, ctx.account_id, params["InstanceProfileName"])
        conn.execute(update(state.instance_profiles).where(
            state.instance_profiles.c.profile_id == row["profile_id"]).values(
            tags=remove_tags(row["tags"], params["TagKeys"])))
    return {}


@api.operation("ListInstanceProfileTags", resources=profile_arn)
def list_instance_profile_tags(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = require(conn, INSTANCE_PROFILE, ctx.account_id, params["InstanceProfileName"])
    return paginate(row["tags"], params, lambda tag: tag["Key"], "Tags")
