"""GetAccountAuthorizationDetails: every user, group, role and managed policy with their policies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from controller.api import Params, RequestContext
from controller.iam import state
from controller.iam.aws_managed import is_aws_managed_arn
from controller.iam.directory import (
    GROUP,
    ROLE,
    USER,
    customer_policy,
    find_managed_policy,
    group_output,
    instance_profile_output,
    list_entities,
    policy_output,
    role_output,
    user_output,
)
from controller.iam.naming import encode_document, paginate
from controller.iam.service import api

FILTERS = ("User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy")


@api.operation("GetAccountAuthorizationDetails")
def get_account_authorization_details(ctx: RequestContext, params: Params) -> Params:
    wanted = set(params.get("Filter") or FILTERS)
    account = ctx.account_id
    entries: list[tuple[str, str, dict[str, Any]]] = []
    with ctx.cloud.db.read() as conn:
        inline = _inline_by_owner(conn, account)
        attached = _attached_by_owner(conn, ctx, account)
        if "User" in wanted:
            for row in list_entities(conn, USER, account, None):
                entries.append(("UserDetailList", row["name_key"], _user(conn, row, inline, attached)))
        if "Group" in wanted:
            for row in list_entities(conn, GROUP, account, None):
                detail = {**group_output(row), "GroupPolicyList": inline.get(row["group_id"], []),
                          "AttachedManagedPolicies": attached.get(row["group_id"], [])}
                entries.append(("GroupDetailList", row["name_key"], detail))
        if "Role" in wanted:
            for row in list_entities(conn, ROLE, account, None):
                entries.append(("RoleDetailList", row["name_key"], _role(conn, row, inline, attached)))
        for policy, detail in _policies(conn, ctx, wanted):
            entries.append(("Policies", policy, detail))
    page = paginate(entries, params, lambda e: f"{FILTERS.index(_filter_of(e))}\0{e[1]}", "Entries")
    result: Params = {key: [detail for list_name, _, detail in page["Entries"] if list_name == key]
                      for key in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")}
    result["IsTruncated"] = page["IsTruncated"]
    if "Marker" in page:
        result["Marker"] = page["Marker"]
    return result


def _filter_of(entry: tuple[str, str, dict[str, Any]]) -> str:
    list_name, _, detail = entry
    if list_name == "Policies":
        return "AWSManagedPolicy" if is_aws_managed_arn(detail["Arn"]) else "LocalManagedPolicy"
    return {"UserDetailList": "User", "GroupDetailList": "Group", "RoleDetailList": "Role"}[list_name]


def _inline_by_owner(conn: Connection, account: str) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    rows = conn.execute(select(state.inline_policies).where(state.inline_policies.c.account_id == account))
    for row in rows.mappings():
        found.setdefault(row["owner_id"], []).append(
            {"PolicyName": row["policy_name"], "PolicyDocument": encode_document(row["document"])})
    return found


def _attached_by_owner(conn: Connection, ctx: RequestContext, account: str) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    rows = conn.execute(select(state.attachments).where(state.attachments.c.account_id == account))
    for row in rows.mappings():
        policy = find_managed_policy(conn, ctx.cloud.config.partition, account, row["policy_arn"])
        if policy is not None:
            found.setdefault(row["owner_id"], []).append({"PolicyName": policy.name, "PolicyArn": policy.arn})
    return found


def _user(conn: Connection, row: Mapping[str, Any], inline: dict[str, Any], attached: dict[str, Any]) -> dict[str, Any]:
    groups = conn.execute(select(state.groups.c.group_name).join(
        state.group_members, state.group_members.c.group_id == state.groups.c.group_id).where(
        state.group_members.c.user_id == row["user_id"])).scalars().all()
    return {**user_output(row, with_tags=True), "UserPolicyList": inline.get(row["user_id"], []),
            "GroupList": sorted(groups), "AttachedManagedPolicies": attached.get(row["user_id"], [])}


def _role(conn: Connection, row: Mapping[str, Any], inline: dict[str, Any], attached: dict[str, Any]) -> dict[str, Any]:
    profiles = conn.execute(select(state.instance_profiles).join(
        state.instance_profile_roles,
        state.instance_profile_roles.c.profile_id == state.instance_profiles.c.profile_id).where(
        state.instance_profile_roles.c.role_id == row["role_id"])).mappings().all()
    detail = {**role_output(row, full=True), "RolePolicyList": inline.get(row["role_id"], []),
              "AttachedManagedPolicies": attached.get(row["role_id"], []),
              "InstanceProfileList": [instance_profile_output(conn, profile) for profile in profiles]}
    return detail


def _policies(conn: Connection, ctx: RequestContext, wanted: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """Customer managed policies, and the AWS managed ones in use in the account, with their versions."""
    account, partition = ctx.account_id, ctx.cloud.config.partition
    found = []
    if "LocalManagedPolicy" in wanted:
        rows = conn.execute(select(state.policies).where(state.policies.c.account_id == account)).mappings().all()
        for row in rows:
            policy = customer_policy(row)
            versions = conn.execute(select(state.policy_versions).where(
                state.policy_versions.c.policy_id == policy.policy_id)).mappings().all()
            version_list = [{"Document": encode_document(v["document"]), "VersionId": v["version_id"],
                             "IsDefaultVersion": v["version_id"] == policy.default_version,
                             "CreateDate": v["created_at"]} for v in versions]
            found.append((policy.name.lower(), {**policy_output(conn, account, policy, detailed=True),
                                                "PolicyVersionList": version_list}))
    if "AWSManagedPolicy" in wanted:
        arns = set(conn.execute(select(state.attachments.c.policy_arn).where(
            state.attachments.c.account_id == account)).scalars())
        for table in (state.users, state.roles):
            arns |= set(conn.execute(select(table.c.boundary_arn).where(
                table.c.account_id == account, table.c.boundary_arn.is_not(None))).scalars())
        for arn in sorted(a for a in arns if is_aws_managed_arn(a)):
            policy = find_managed_policy(conn, partition, account, arn)
            if policy is None or policy.aws is None:
                continue
            version = {"Document": encode_document(policy.aws.document), "VersionId": policy.default_version,
                       "IsDefaultVersion": True, "CreateDate": policy.updated_at}
            found.append((policy.name.lower(), {**policy_output(conn, account, policy, detailed=True),
                                                "PolicyVersionList": [version]}))
    return found
