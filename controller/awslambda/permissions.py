"""Resource-based policies of functions: AddPermission, RemovePermission, GetPolicy, and what IAM sees.

AddPermission builds one statement from its parameters exactly as Lambda does
(https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html): an account id becomes
``{"AWS": "arn:aws:iam::<id>:root"}``, a service ``{"Service": ...}``; SourceAccount, SourceArn,
PrincipalOrgID, EventSourceToken and FunctionUrlAuthType become conditions. A version or an alias
(``Qualifier``) has a policy of its own. ``resource_lookup`` hands the policy to the IAM engine, so a
caller of another account is let in by it as at AWS.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext, ResourceInfo
from controller.awslambda import conditions, layers, records, state
from controller.awslambda.errors import (
    InvalidParameterValueException,
    PolicyLengthExceededException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from controller.awslambda.records import LATEST, FunctionRef
from controller.awslambda.service import api

MAX_POLICY_BYTES = 20480
_ACCOUNT_RE = re.compile(r"\d{12}")


def statement_of(params: dict[str, Any], resource_arn: str) -> dict[str, Any]:
    """The policy statement AddPermission's parameters make."""
    statement: dict[str, Any] = {"Sid": params["StatementId"], "Effect": "Allow",
                                 "Principal": principal_of(params["Principal"]), "Action": params["Action"],
                                 "Resource": resource_arn}
    equals: dict[str, str] = {}
    if params.get("SourceAccount"):
        equals["AWS:SourceAccount"] = params["SourceAccount"]
    if params.get("PrincipalOrgID"):
        equals["aws:PrincipalOrgID"] = params["PrincipalOrgID"]
    if params.get("EventSourceToken"):
        equals["lambda:EventSourceToken"] = params["EventSourceToken"]
    if params.get("FunctionUrlAuthType"):
        equals["lambda:FunctionUrlAuthType"] = params["FunctionUrlAuthType"]
    condition: dict[str, Any] = {}
    if equals:
        condition["StringEquals"] = equals
    if params.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": params["SourceArn"]}
    if condition:
        statement["Condition"] = condition
    return statement


def principal_of(principal: str) -> Any:
    if principal == "*":
        return "*"
    if _ACCOUNT_RE.fullmatch(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if principal.startswith("arn:") and ":iam::" in principal:
        return {"AWS": principal}
    if re.fullmatch(r"[a-z0-9.-]+\.amazonaws\.com(\.cn)?", principal):
        return {"Service": principal}
    raise InvalidParameterValueException("The provided principal was invalid. Please check the principal and try "
                                         "again.")


def _target(conn: Connection, ctx: RequestContext, params: dict[str, Any]) -> tuple[FunctionRef, str]:
    """The function (and qualifier) whose policy a call changes, and the RevisionId it is compared with."""
    ref = records.ref_of(ctx, params)
    records.function_row(conn, ref)
    if ref.qualifier is None or ref.qualifier == LATEST:
        row = records.version_row(conn, FunctionRef(ref.account_id, ref.region, ref.name, None), LATEST)
        return FunctionRef(ref.account_id, ref.region, ref.name, ref.qualifier), row["revision_id"] if row else ""
    if records.VERSION_RE.fullmatch(ref.qualifier):
        row = records.version_row(conn, ref, ref.qualifier)
    else:
        row = records.alias_row(conn, ref, ref.qualifier)
    if row is None:
        raise records.function_not_found(ref.qualified_arn)
    return ref, row["revision_id"]


def _save(conn: Connection, ref: FunctionRef, document: dict[str, Any]) -> None:
    t = state.policies
    key = (t.c.account_id == ref.account_id, t.c.region == ref.region, t.c.function_name == ref.name,
           t.c.qualifier == (ref.qualifier or ""))
    conn.execute(t.delete().where(*key))
    if document["Statement"]:
        conn.execute(t.insert().values(account_id=ref.account_id, region=ref.region, function_name=ref.name,
                                       qualifier=ref.qualifier or "", document=document))
    if ref.qualifier in (None, LATEST):
        records.touch_latest(conn, ref)


@api.operation("AddPermission", resources=conditions.permission_resources)
def add_permission(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with records.writing(ctx.cloud) as conn:
        ref, revision = _target(conn, ctx, params)
        records.check_revision(params.get("RevisionId"), revision)
        document = records.policy_of(conn, ref) or {"Version": "2012-10-17", "Id": "default", "Statement": []}
        if any(s.get("Sid") == params["StatementId"] for s in document["Statement"]):
            raise ResourceConflictException("The statement id (sid) provided already exists. Please provide a new "
                                            "statement id, or remove the existing statement.")
        statement = statement_of(params, ref.qualified_arn)
        document = {**document, "Statement": [*document["Statement"], statement]}
        size = len(json.dumps(document, separators=(",", ":")))
        if size > MAX_POLICY_BYTES:
            raise PolicyLengthExceededException(f"The final policy size ({size}) is bigger than the limit "
                                                f"({MAX_POLICY_BYTES}).")
        _save(conn, ref, document)
    return {"Statement": json.dumps(statement, separators=(",", ":"))}


@api.operation("RemovePermission", resources=records.resources)
def remove_permission(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with records.writing(ctx.cloud) as conn:
        ref, revision = _target(conn, ctx, params)
        records.check_revision(params.get("RevisionId"), revision)
        document = records.policy_of(conn, ref)
        statements = (document or {}).get("Statement", [])
        kept = [s for s in statements if s.get("Sid") != params["StatementId"]]
        if document is None or len(kept) == len(statements):
            raise ResourceNotFoundException("Statement " + params["StatementId"] + " is not found in resource policy.")
        _save(conn, ref, {**document, "Statement": kept})
    return {}


@api.operation("GetPolicy", resources=records.resources)
def get_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        ref, revision = _target(conn, ctx, params)
        document = records.policy_of(conn, ref)
    if document is None:
        raise ResourceNotFoundException("The resource you requested does not exist.")
    return {"Policy": json.dumps(document, separators=(",", ":")), "RevisionId": revision}


def resource_lookup(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    """A function's owner, policy (its own and, for a qualified ARN, its version's or alias's) and tags; a layer
    version's owner and policy. Cached until the next control-plane write, as contract B's lookups are."""
    cache = records.lookups_of(ctx.cloud)
    key = ("resource", arn, ctx.account_id, ctx.region)
    info = cache.get(key)
    if info is None:
        generation = cache.generation
        info = _read_resource_info(ctx, arn) or _NO_RESOURCE
        cache.put(key, info, generation)
    return None if info is _NO_RESOURCE else info


#: What the cache keeps for an ARN that names no function or layer of this cloud.
_NO_RESOURCE = ResourceInfo(owner_account="")


def _read_resource_info(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    parts = arn.split(":")
    if len(parts) >= 7 and parts[5] == "layer":
        return layers.layer_resource_info(ctx, arn)
    if len(parts) < 7 or parts[5] != "function":
        return None
    try:
        ref = records.parse_function(arn, None, account_id=ctx.account_id, region=ctx.region)
    except InvalidParameterValueException:
        return None
    base = FunctionRef(ref.account_id, ref.region, ref.name, None)
    with ctx.cloud.db.read() as conn:
        try:
            function = records.function_row(conn, base)
        except ResourceNotFoundException:
            return None
        statements = list((records.policy_of(conn, base) or {}).get("Statement", []))
        if ref.qualifier not in (None, LATEST):
            statements += (records.policy_of(conn, ref) or {}).get("Statement", [])
    policy = json.dumps({"Version": "2012-10-17", "Statement": statements}) if statements else None
    return ResourceInfo(owner_account=ref.account_id, policy=policy, tags=function["tags"])


api.resource_lookup = resource_lookup
