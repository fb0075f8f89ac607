"""Managed policies: customer managed ones with their versions, and AWS managed ones read-only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from controller.api import Params, RequestContext
from controller.iam import state
from controller.iam.aws_managed import aws_managed_policies
from controller.iam.directory import (
    ManagedPolicy,
    collection_arn,
    customer_policy,
    policy_output,
    require_managed_policy,
    writing,
)
from controller.iam.documents import checked
from controller.iam.errors import (
    AccessDenied,
    DeleteConflict,
    EntityAlreadyExists,
    LimitExceeded,
    NoSuchEntity,
)
from controller.iam.naming import (
    check_path,
    encode_document,
    iam_arn,
    merge_tags,
    name_key,
    new_unique_id,
    paginate,
    remove_tags,
)
from controller.iam.service import api
from controller.state import utcnow

#: Versions one customer managed policy keeps at most.
MAX_VERSIONS = 5


def policy_arn(ctx: RequestContext, params: Params) -> list[str]:
    return [params["PolicyArn"]]


def _new_policy_arn(ctx: RequestContext, params: Params) -> list[str]:
    return [iam_arn(ctx.cloud.config.partition, ctx.account_id, "policy", params.get("Path") or "/",
                    params["PolicyName"])]


def _customer_policy(conn: Connection, ctx: RequestContext, arn: str, verb: str) -> ManagedPolicy:
    """The customer managed policy to change; AWS managed policies cannot be changed."""
    policy = require_managed_policy(conn, ctx.cloud.config.partition, ctx.account_id, arn)
    if policy.is_aws_managed:
        raise AccessDenied(f"Cannot {verb} a policy managed by AWS: {arn}")
    return policy


@api.operation("CreatePolicy", resources=_new_policy_arn)
def create_policy(ctx: RequestContext, params: Params) -> Params:
    name, path, document = params["PolicyName"], check_path(params.get("Path")), params["PolicyDocument"]
    checked(document, "managed")
    tags = merge_tags([], params.get("Tags") or [])
    now = utcnow()
    with writing(ctx) as conn:
        exists = conn.execute(select(state.policies.c.policy_id).where(
            state.policies.c.account_id == ctx.account_id, state.policies.c.name_key == name_key(name))).first()
        if exists:
            raise EntityAlreadyExists(f"A policy called {name} already exists. Duplicate names are not allowed.")
        row = dict(policy_id=new_unique_id("policy"), account_id=ctx.account_id, policy_name=name,
                   name_key=name_key(name), path=path,
                   arn=iam_arn(ctx.cloud.config.partition, ctx.account_id, "policy", path, name),
                   description=params.get("Description"), default_version="v1", next_version=2, created_at=now,
                   updated_at=now, tags=tags)
        conn.execute(insert(state.policies).values(**row))
        conn.execute(insert(state.policy_versions).values(policy_id=row["policy_id"], version_id="v1",
                                                          document=document, created_at=now))
        output = policy_output(conn, ctx.account_id, customer_policy(row), detailed=True)
    ctx.audit_resources.append(row["arn"])
    return {"Policy": output}


@api.operation("GetPolicy", resources=policy_arn)
def get_policy(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        policy = require_managed_policy(conn, ctx.cloud.config.partition, ctx.account_id, params["PolicyArn"])
        return {"Policy": policy_output(conn, ctx.account_id, policy, detailed=True)}


@api.operation("DeletePolicy", resources=policy_arn)
def delete_policy(ctx: RequestContext, params: Params) -> Params:
    arn = params["PolicyArn"]
    with writing(ctx) as conn:
        policy = _customer_policy(conn, ctx, arn, "delete")
        if conn.execute(select(state.attachments.c.owner_id).where(
                state.attachments.c.account_id == ctx.account_id,
                state.attachments.c.policy_arn == arn).limit(1)).first():
            raise DeleteConflict("Cannot delete a policy attached to entities.")
        for table in (state.users, state.roles):
            if conn.execute(select(table.c.arn).where(table.c.account_id == ctx.account_id,
                                                      table.c.boundary_arn == arn).limit(1)).first():
                raise DeleteConflict("Cannot delete a policy attached to entities.")
        versions = conn.execute(select(func.count()).select_from(state.policy_versions).where(
            state.policy_versions.c.policy_id == policy.policy_id)).scalar_one()
        if versions > 1:
            raise DeleteConflict("This policy has more than one version. Before you delete a policy, you must "
                                 "delete the policy's versions. The default version is deleted with the policy.")
        conn.execute(delete(state.policy_versions).where(state.policy_versions.c.policy_id == policy.policy_id))
        conn.execute(delete(state.policies).where(state.policies.c.policy_id == policy.policy_id))
    ctx.audit_resources.append(arn)
    return {}


@api.operation("ListPolicies", resources=collection_arn("policy"))
def list_policies(ctx: RequestContext, params: Params) -> Params:
    scope = params.get("Scope") or "All"
    prefix = params.get("PathPrefix") or "/"
    usage = params.get("PolicyUsageFilter")
    partition = ctx.cloud.config.partition
    with ctx.cloud.db.read() as conn:
        candidates: list[ManagedPolicy] = []
        if scope in ("All", "AWS"):
            candidates += [require_managed_policy(conn, partition, ctx.account_id, aws.arn(partition))
                           for aws in aws_managed_policies().values()]
        if scope in ("All", "Local"):
            rows = conn.execute(select(state.policies).where(
                state.policies.c.account_id == ctx.account_id)).mappings().all()
            candidates += [customer_policy(row) for row in rows]
        outputs = []
        for policy in candidates:
            if not policy.path.startswith(prefix):
                continue
            output = policy_output(conn, ctx.account_id, policy)
            uses = {"PermissionsPolicy": output["AttachmentCount"],
                    "PermissionsBoundary": output["PermissionsBoundaryUsageCount"]}
            if usage and not uses[usage]:
                continue
            if params.get("OnlyAttached") and not output["AttachmentCount"]:
                continue
            outputs.append(output)
    return paginate(outputs, params, lambda p: f"{p['PolicyName'].lower()}\0{p['Arn']}", "Policies")


@api.operation("ListEntitiesForPolicy", resources=policy_arn)
def list_entities_for_policy(ctx: RequestContext, params: Params) -> Params:
    arn = params["PolicyArn"]
    wanted = params.get("EntityFilter")
    usage = params.get("PolicyUsageFilter")
    prefix = params.get("PathPrefix") or "/"
    entries: list[dict[str, Any]] = []
    with ctx.cloud.db.read() as conn:
        policy = require_managed_policy(conn, ctx.cloud.config.partition, ctx.account_id, arn)
        if wanted == "LocalManagedPolicy" and policy.is_aws_managed:
            wanted = "none"
        if wanted == "AWSManagedPolicy" and not policy.is_aws_managed:
            wanted = "none"
        kinds = [("User", state.users, "user_id", "user_name"), ("Group", state.groups, "group_id", "group_name"),
                 ("Role", state.roles, "role_id", "role_name")]
        for kind, table, id_column, name_column in kinds:
            if wanted not in (None, kind, "LocalManagedPolicy", "AWSManagedPolicy"):
                continue
            ids = table.c[id_column]
            rows = []
            if usage in (None, "PermissionsPolicy"):
                rows += conn.execute(select(table).join(state.attachments, state.attachments.c.owner_id == ids)
                                     .where(state.attachments.c.policy_arn == arn,
                                            table.c.account_id == ctx.account_id)).mappings().all()
            if usage in (None, "PermissionsBoundary") and "boundary_arn" in table.c:
                rows += conn.execute(select(table).where(table.c.account_id == ctx.account_id,
                                                         table.c.boundary_arn == arn)).mappings().all()
            seen: set[str] = set()
            for row in rows:
                if row[id_column] in seen or not row["path"].startswith(prefix):
                    continue
                seen.add(row[id_column])
                entries.append({"kind": kind, f"{kind}Name": row[name_column], f"{kind}Id": row[id_column]})
    page = paginate(entries, params, lambda e: f"{e['kind']}\0{e[e['kind'] + 'Name'].lower()}", "Entries")
    result: Params = {"IsTruncated": page["IsTruncated"]}
    if "Marker" in page:
        result["Marker"] = page["Marker"]
    for kind in ("User", "Group", "Role"):
        result[f"Policy{kind}s"] = [{k: v for k, v in e.items() if k != "kind"} for e in page["Entries"]
                                    if e["kind"] == kind]
    return result


# -- versions ------------------------------------------------------------------------------------
@api.operation("CreatePolicyVersion", resources=policy_arn)
def create_policy_version(ctx: RequestContext, params: Params) -> Params:
    document = params["PolicyDocument"]
    checked(document, "managed")
    now = utcnow()
    with writing(ctx) as conn:
        policy = _customer_policy(conn, ctx, params["PolicyArn"], "change")
        count = conn.execute(select(func.count()).select_from(state.policy_versions).where(
            state.policy_versions.c.policy_id == policy.policy_id)).scalar_one()
        if count >= MAX_VERSIONS:
            raise LimitExceeded(f"A managed policy can have up to {MAX_VERSIONS} versions. Before you create a new "
                                "version, you must delete an existing version.")
        number = conn.execute(select(state.policies.c.next_version).where(
            state.policies.c.policy_id == policy.policy_id)).scalar_one()
        version_id = f"v{number}"
        conn.execute(insert(state.policy_versions).values(policy_id=policy.policy_id, version_id=version_id,
                                                          document=document, created_at=now))
        changes: dict[str, Any] = {"next_version": number + 1, "updated_at": now}
        if params.get("SetAsDefault"):
            changes["default_version"] = version_id
        conn.execute(update(state.policies).where(state.policies.c.policy_id == policy.policy_id).values(**changes))
    return {"PolicyVersion": {"VersionId": version_id, "IsDefaultVersion": bool(params.get("SetAsDefault")),
                              "CreateDate": now}}


@api.operation("GetPolicyVersion", resources=policy_arn)
def get_policy_version(ctx: RequestContext, params: Params) -> Params:
    version_id = params["VersionId"]
    with ctx.cloud.db.read() as conn:
        policy = require_managed_policy(conn, ctx.cloud.config.partition, ctx.account_id, params["PolicyArn"])
        if policy.aws is not None:
            if version_id != policy.default_version:
                raise _no_such_version(policy, version_id)
            return {"PolicyVersion": {"Document": encode_document(policy.aws.document), "VersionId": version_id,
                                      "IsDefaultVersion": True, "CreateDate": policy.updated_at}}
        row = conn.execute(select(state.policy_versions).where(
            state.policy_versions.c.policy_id == policy.policy_id,
            state.policy_versions.c.version_id == version_id)).mappings().first()
    if row is None:
        raise _no_such_version(policy, version_id)
    return {"PolicyVersion": {"Document": encode_document(row["document"]), "VersionId": version_id,
                              "IsDefaultVersion": version_id == policy.default_version,
                              "CreateDate": row["created_at"]}}


def _no_such_version(policy: ManagedPolicy, version_id: str) -> NoSuchEntity:
    return NoSuchEntity(f"Policy {policy.arn} version {version_id} does not exist or is not attachable.")


@api.operation("ListPolicyVersions", resources=policy_arn)
def list_policy_versions(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        policy = require_managed_policy(conn, ctx.cloud.config.partition, ctx.account_id, params["PolicyArn"])
        if policy.aws is not None:
            versions = [{"VersionId": policy.default_version, "IsDefaultVersion": True,
                         "CreateDate": policy.updated_at}]
        else:
            rows = conn.execute(select(state.policy_versions).where(
                state.policy_versions.c.policy_id == policy.policy_id)).mappings().all()
            versions = [{"VersionId": row["version_id"], "IsDefaultVersion": row["version_id"] ==
                         policy.default_version, "CreateDate": row["created_at"]} for row in rows]
    # newest first, as AWS lists them
    return paginate(versions, params, lambda v: f"{10**9 - int(v['VersionId'][1:]):010d}", "Versions")


@api.operation("DeletePolicyVersion", resources=policy_arn)
def delete_policy_version(ctx: RequestContext, params: Params) -> Params:
    version_id = params["VersionId"]
    with writing(ctx) as conn:
        policy = _customer_policy(conn, ctx, params["PolicyArn"], "change")
        if version_id == policy.default_version:
            raise DeleteConflict("Cannot delete the default version of a policy.")
        removed = conn.execute(delete(state.policy_versions).where(
            state.policy_versions.c.policy_id == policy.policy_id,
            state.policy_versions.c.version_id == version_id))
        if removed.rowcount == 0:
            raise _no_such_version(policy, version_id)
    return {}


@api.operation("SetDefaultPolicyVersion", resources=policy_arn)
def set_default_policy_version(ctx: RequestContext, params: Params) -> Params:
    version_id = params["VersionId"]
    with writing(ctx) as conn:
        policy = _customer_policy(conn, ctx, params["PolicyArn"], "change")
        exists = conn.execute(select(state.policy_versions.c.version_id).where(
            state.policy_versions.c.policy_id == policy.policy_id,
            state.policy_versions.c.version_id == version_id)).first()
        if exists is None:
            raise _no_such_version(policy, version_id)
        conn.execute(update(state.policies).where(state.policies.c.policy_id == policy.policy_id).values(
            default_version=version_id, updated_at=utcnow()))
    return {}


# -- tags ---------------------------------------------------------------------------------------
@api.operation("TagPolicy", resources=policy_arn)
def tag_policy(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        policy = _customer_policy(conn, ctx, params["PolicyArn"], "tag")
        conn.execute(update(state.policies).where(state.policies.c.policy_id == policy.policy_id).values(
            tags=merge_tags(policy.tags, params["Tags"])))
    return {}


@api.operation("UntagPolicy", resources=policy_arn)
def untag_policy(ctx: RequestContext, params: Params) -> Params:
    with writing(ctx) as conn:
        policy = _customer_policy(conn, ctx, params["PolicyArn"], "untag")
        conn.execute(update(state.policies).where(state.policies.c.policy_id == policy.policy_id).values(
            tags=remove_tags(policy.tags, params["TagKeys"])))
    return {}


@api.operation("ListPolicyTags", resources=policy_arn)
def list_policy_tags(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        policy = require_managed_policy(conn, ctx.cloud.config.partition, ctx.account_id, params["PolicyArn"])
    return paginate(policy.tags, params, lambda tag: tag["Key"], "Tags")
