"""Service control policies: create, change, attach to the root, an OU or an account; enable the type.

Content may hold 5,120 characters, whitespace included, and is checked by the policy
engine's SCP rules (``validate_policy(kind="scp")``: grammar, no Principal, Resource
required). Errors are those of the Organizations API reference for each operation. A target always keeps at least one
SCP while the type is enabled (``MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED``) and holds
at most five; ``FullAWSAccess`` is AWS managed and cannot be changed or deleted.
Every change clears enforcement's cache, which holds each account's SCPs.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from controller.api import Params, RequestContext
from controller.auth import lookup as credentials
from controller.iam import cache as policy_cache
from controller.iam import policy
from controller.organizations import state
from controller.organizations.common import (
    DuplicatePolicyAttachmentException,
    DuplicatePolicyException,
    MalformedPolicyDocumentException,
    PolicyInUseException,
    PolicyNotAttachedException,
    PolicyNotFoundException,
    PolicyTypeAlreadyEnabledException,
    PolicyTypeNotAvailableForOrganizationException,
    PolicyTypeNotEnabledException,
    RootNotFoundException,
    TargetNotFoundException,
    by_id,
    constraint_violation,
    invalid_input,
    page,
    policy_arn,
    require_management,
    tags_of,
    target_arn,
)
from controller.organizations.scps import (
    FULL_AWS_ACCESS_CONTENT,
    FULL_AWS_ACCESS_DESCRIPTION,
    FULL_AWS_ACCESS_ID,
    FULL_AWS_ACCESS_NAME,
    SERVICE_CONTROL_POLICY,
    scp_enabled,
)
from controller.organizations.service import api
from controller.organizations.tags import drop_tags, store_tags
from controller.organizations.tree import (
    ORGANIZATIONAL_UNIT,
    ROOT,
    ROOT_NAME,
    exists,
    find_ou,
    kind_of,
    root_id,
)
from controller.organizations.units import root_output

#: "Quotas for AWS Organizations": SCPs attached to one root, OU or account; an SCP's size (the console
#: strips whitespace before saving, the API keeps and counts it); SCPs in the organization.
MAX_ATTACHED = 5
MAX_CONTENT = 5120
MAX_POLICIES = 10_000
_POLICY_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_NO_TARGET = "We can't find a root, OU, account, or policy with the TargetId that you specified."


def _policy_resources(ctx: RequestContext, params: Params) -> list[str]:
    return [policy_arn(ctx, params["PolicyId"])]


def _check_type(policy_type: str) -> None:
    if policy_type != SERVICE_CONTROL_POLICY:
        raise PolicyTypeNotAvailableForOrganizationException(
            f"This organization supports the SERVICE_CONTROL_POLICY policy type only, not {policy_type}.")


def _full_aws_access() -> dict[str, Any]:
    return {"policy_id": FULL_AWS_ACCESS_ID, "name": FULL_AWS_ACCESS_NAME,
            "description": FULL_AWS_ACCESS_DESCRIPTION, "policy_type": SERVICE_CONTROL_POLICY,
            "content": FULL_AWS_ACCESS_CONTENT}


def _find(conn: Connection, policy_id: str) -> dict[str, Any]:
    if policy_id == FULL_AWS_ACCESS_ID:
        return _full_aws_access()
    row = conn.execute(select(state.policies).where(state.policies.c.policy_id == policy_id)).mappings().first()
    if row is None:
        raise PolicyNotFoundException("We can't find a policy with the PolicyId that you specified.")
    return dict(row)


def _summary(ctx: RequestContext, row: dict[str, Any]) -> dict[str, Any]:
    return {"Id": row["policy_id"], "Arn": policy_arn(ctx, row["policy_id"]), "Name": row["name"],
            "Description": row["description"], "Type": row["policy_type"],
            "AwsManaged": row["policy_id"] == FULL_AWS_ACCESS_ID}


def _output(ctx: RequestContext, row: dict[str, Any]) -> dict[str, Any]:
    return {"Policy": {"PolicySummary": _summary(ctx, row), "Content": row["content"]}}


def _validated(content: str) -> str:
    """The content if it is a valid SCP; through the API every character counts, whitespace too."""
    if len(content) > MAX_CONTENT:
        raise constraint_violation("You have exceeded the maximum policy size.", "POLICY_CONTENT_LIMIT_EXCEEDED")
    try:
        policy.validate_policy(content, kind="scp")
    except policy.PolicyError as exc:
        raise MalformedPolicyDocumentException(
            f"The provided policy document doesn't meet the requirements of the specified policy type: "
            f"{exc.message}") from None
    return content


def _check_unique_name(conn: Connection, name: str, policy_id: str = "") -> None:
    table = state.policies
    taken = name.lower() == FULL_AWS_ACCESS_NAME.lower() or conn.execute(select(table.c.policy_id).where(
        func.lower(table.c.name) == name.lower(), table.c.policy_id != policy_id)).first() is not None
    if taken:
        raise DuplicatePolicyException("A policy with the same name already exists.")


def _refuse_aws_managed(policy_id: str) -> None:
    if policy_id == FULL_AWS_ACCESS_ID:
        raise invalid_input("You specified a policy that is managed by AWS and can't be modified.",
                            "IMMUTABLE_POLICY")


def _attached(conn: Connection, *, policy_id: str | None = None, target_id: str | None = None) -> list[Any]:
    table = state.policy_attachments
    query = select(table.c.policy_id, table.c.target_id)
    if policy_id is not None:
        query = query.where(table.c.policy_id == policy_id)
    if target_id is not None:
        query = query.where(table.c.target_id == target_id)
    return list(conn.execute(query).all())


def _require_target(conn: Connection, root: str, target_id: str) -> None:
    if not exists(conn, root, target_id):
        raise TargetNotFoundException(_NO_TARGET)


@api.operation("CreatePolicy")
def create_policy(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    _check_type(params["Type"])
    content, tags = _validated(params["Content"]), tags_of(params)
    row = {"policy_id": "p-" + "".join(secrets.choice(_POLICY_ID_ALPHABET) for _ in range(8)),
           "name": params["Name"], "description": params["Description"], "policy_type": params["Type"],
           "content": content, "created_at": ctx.received_at}
    with ctx.cloud.db.begin() as conn:
        _check_unique_name(conn, params["Name"])
        if conn.execute(select(func.count()).select_from(state.policies)).scalar_one() >= MAX_POLICIES:
            raise constraint_violation(f"You have reached the maximum number of policies ({MAX_POLICIES}) of type "
                                       f"{SERVICE_CONTROL_POLICY}.", "POLICY_NUMBER_LIMIT_EXCEEDED")
        conn.execute(insert(state.policies).values(**row))
        store_tags(conn, row["policy_id"], tags)
    output = _output(ctx, row)
    ctx.audit_resources.append(output["Policy"]["PolicySummary"]["Arn"])
    return output


@api.operation("DescribePolicy", resources=_policy_resources)
def describe_policy(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    with ctx.cloud.db.read() as conn:
        return _output(ctx, _find(conn, params["PolicyId"]))


@api.operation("UpdatePolicy", resources=_policy_resources)
def update_policy(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    with ctx.cloud.db.begin() as conn:
        policy_cache.changed(conn)
        row = _find(conn, params["PolicyId"])
        _refuse_aws_managed(row["policy_id"])
        changes = {field: params[member] for member, field in (("Name", "name"), ("Description", "description"))
                   if params.get(member) is not None}
        if params.get("Content") is not None:
            changes["content"] = _validated(params["Content"])
        if "name" in changes:
            _check_unique_name(conn, changes["name"], row["policy_id"])
        if changes:
            conn.execute(update(state.policies).where(state.policies.c.policy_id == row["policy_id"]).values(
                **changes))
            row.update(changes)
    return _output(ctx, row)


@api.operation("DeletePolicy", resources=_policy_resources)
def delete_policy(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    with ctx.cloud.db.begin() as conn:
        row = _find(conn, params["PolicyId"])
        _refuse_aws_managed(row["policy_id"])
        if _attached(conn, policy_id=row["policy_id"]):
            raise PolicyInUseException("The policy is attached to one or more entities. You must detach it from "
                                       "all roots, OUs, and accounts before performing this operation.")
        conn.execute(delete(state.policies).where(state.policies.c.policy_id == row["policy_id"]))
        drop_tags(conn, row["policy_id"])
    return {}


@api.operation("ListPolicies")
def list_policies(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    with ctx.cloud.db.read() as conn:
        rows = [dict(row) for row in conn.execute(select(state.policies).where(
            state.policies.c.policy_type == params["Filter"])).mappings().all()]
    if params["Filter"] == SERVICE_CONTROL_POLICY:
        rows.append(_full_aws_access())
    chosen, token = page([_summary(ctx, row) for row in rows], params, by_id)
    return {"Policies": chosen, **token}


@api.operation("AttachPolicy", resources=lambda ctx, params: [
    policy_arn(ctx, params["PolicyId"]), target_arn(ctx, params["TargetId"])])
def attach_policy(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    target_id = params["TargetId"]
    with ctx.cloud.db.begin() as conn:
        policy_cache.changed(conn)
        row = _find(conn, params["PolicyId"])
        _require_target(conn, root, target_id)
        if not scp_enabled(conn, root):
            raise PolicyTypeNotEnabledException("This operation can be performed only for enabled policy types.")
        attached = [policy_id for policy_id, _ in _attached(conn, target_id=target_id)]
        if row["policy_id"] in attached:
            raise DuplicatePolicyAttachmentException("The selected policy is already attached to the specified "
                                                     "target.")
        if len(attached) >= MAX_ATTACHED:
            raise constraint_violation(f"You attempted to attach more than {MAX_ATTACHED} policies of type "
                                       f"{SERVICE_CONTROL_POLICY} to this target.",
                                       "MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED")
        conn.execute(insert(state.policy_attachments).values(policy_id=row["policy_id"], target_id=target_id,
                                                             policy_type=row["policy_type"]))
    return {}


@api.operation("DetachPolicy", resources=lambda ctx, params: [
    policy_arn(ctx, params["PolicyId"]), target_arn(ctx, params["TargetId"])])
def detach_policy(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    target_id = params["TargetId"]
    with ctx.cloud.db.begin() as conn:
        policy_cache.changed(conn)
        row = _find(conn, params["PolicyId"])
        _require_target(conn, root, target_id)
        attached = [policy_id for policy_id, _ in _attached(conn, target_id=target_id)]
        if row["policy_id"] not in attached:
            raise PolicyNotAttachedException("The policy isn't attached to the specified target in the specified "
                                             "root.")
        if len(attached) == 1:
            raise constraint_violation("You attempted to detach the last service control policy of a target: a "
                                       "root, OU or account must keep at least one.",
                                       "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED")
        table = state.policy_attachments
        conn.execute(delete(table).where(table.c.policy_id == row["policy_id"], table.c.target_id == target_id))
    return {}


@api.operation("ListPoliciesForTarget", resources=lambda ctx, params: [target_arn(ctx, params["TargetId"])])
def list_policies_for_target(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    with ctx.cloud.db.read() as conn:
        _require_target(conn, root, params["TargetId"])
        rows = [_find(conn, policy_id) for policy_id, _ in _attached(conn, target_id=params["TargetId"])]
    chosen, token = page([_summary(ctx, row) for row in rows if row["policy_type"] == params["Filter"]], params,
                         by_id)
    return {"Policies": chosen, **token}


@api.operation("ListTargetsForPolicy", resources=_policy_resources)
def list_targets_for_policy(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    with ctx.cloud.db.read() as conn:
        row = _find(conn, params["PolicyId"])
        targets = [_target_summary(ctx, conn, target_id)
                   for _, target_id in _attached(conn, policy_id=row["policy_id"])]
    chosen, token = page(targets, params, lambda target: target["TargetId"])
    return {"Targets": chosen, **token}


def _target_summary(ctx: RequestContext, conn: Connection, target_id: str) -> dict[str, Any]:
    kind = kind_of(target_id)
    if kind == ROOT:
        name = ROOT_NAME
    elif kind == ORGANIZATIONAL_UNIT:
        name = (find_ou(conn, target_id) or {}).get("name", "")
    else:
        name = credentials.account_name(conn, target_id) or ""
    return {"TargetId": target_id, "Arn": target_arn(ctx, target_id), "Name": name, "Type": kind}


def _require_root(ctx: RequestContext, root_id_param: str) -> str:
    root = root_id(ctx.cloud)
    if root_id_param != root:
        raise RootNotFoundException("We can't find a root with the RootId that you specified.")
    return root


@api.operation("EnablePolicyType", resources=lambda ctx, params: [target_arn(ctx, params["RootId"])])
def enable_policy_type(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = _require_root(ctx, params["RootId"])
    _check_type(params["PolicyType"])
    with ctx.cloud.db.begin() as conn:
        policy_cache.changed(conn)
        if scp_enabled(conn, root):
            raise PolicyTypeAlreadyEnabledException("The specified policy type is already enabled.")
        conn.execute(insert(state.root_policy_types).values(root_id=root, policy_type=params["PolicyType"]))
        targets = [root, *conn.execute(select(state.organizational_units.c.ou_id)).scalars(),
                   *credentials.account_ids(conn)]
        conn.execute(insert(state.policy_attachments).prefix_with("OR IGNORE"), [
            {"policy_id": FULL_AWS_ACCESS_ID, "target_id": target, "policy_type": SERVICE_CONTROL_POLICY}
            for target in targets])
        output = root_output(ctx, conn, root)
    return {"Root": output}


@api.operation("DisablePolicyType", resources=lambda ctx, params: [target_arn(ctx, params["RootId"])])
def disable_policy_type(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = _require_root(ctx, params["RootId"])
    _check_type(params["PolicyType"])
    with ctx.cloud.db.begin() as conn:
        policy_cache.changed(conn)
        if not scp_enabled(conn, root):
            raise PolicyTypeNotEnabledException("This operation can be performed only for enabled policy types.")
        types = state.root_policy_types
        conn.execute(delete(types).where(types.c.root_id == root, types.c.policy_type == params["PolicyType"]))
        conn.execute(delete(state.policy_attachments).where(
            state.policy_attachments.c.policy_type == params["PolicyType"]))
        output = root_output(ctx, conn, root)
    return {"Root": output}
