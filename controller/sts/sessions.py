"""sts:AssumeRole and sts:GetSessionToken: temporary credentials (ASIA keys with a session token).

AssumeRole is authorized by enforcement before it runs: the role's trust policy is
the resource policy (``role_trust_lookup``), and the caller's identity policies must
allow ``sts:AssumeRole`` too unless the trust policy names the caller itself in the
same account. The request's STS condition keys (``sts:ExternalId``,
``sts:RoleSessionName``, ``sts:SourceIdentity``, ``aws:RequestTag/*``, MFA) are put in
the context by the resource mapper, which runs before that evaluation.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from controller.api import Params, Principal, RequestContext
from controller.auth.lookup import session_of
from controller.errors import error
from controller.iam import policy
from controller.iam.enforce import check_action
from controller.iam.lookup import record_role_use
from controller.iam.resources import find_role
from controller.sts import mfa
from controller.sts.limits import (
    check_packed_size,
    new_session_token,
    packed_policy_percent,
    role_session_seconds,
    session_tags,
    session_token_seconds,
)
from controller.sts.service import api

MalformedPolicyDocument = error("MalformedPolicyDocument", 400)
AccessDenied = error("AccessDenied", 403)


def _assume_role_resources(ctx: RequestContext, params: Params) -> list[str]:
    """The role, and the request's STS condition keys for evaluating its trust policy."""
    keys: dict[str, Any] = {"sts:RoleSessionName": params["RoleSessionName"]}
    if params.get("ExternalId") is not None:
        keys["sts:ExternalId"] = params["ExternalId"]
    if params.get("SourceIdentity"):
        keys["sts:SourceIdentity"] = params["SourceIdentity"]
    if params.get("TransitiveTagKeys"):
        keys["sts:TransitiveTagKeys"] = list(params["TransitiveTagKeys"])
    if mfa.authenticate(ctx, params) is not None:
        keys["aws:MultiFactorAuthPresent"] = "true"
        keys["aws:MultiFactorAuthAge"] = "0"
    ctx.condition_keys.update(keys)
    return [params["RoleArn"]]


@api.operation("AssumeRole", resources=_assume_role_resources)
def assume_role(ctx: RequestContext, params: Params) -> Params:
    caller = ctx.principal
    if caller.is_root:
        raise AccessDenied("Roles may not be assumed by root accounts.")
    role = find_role(ctx, params["RoleArn"])
    if role is None:  # enforcement already refused an unknown role; this guards direct calls
        raise AccessDenied(f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: "
                           f"{params['RoleArn']}")
    chained = caller.kind == "assumed-role"
    inherited_keys = {key.lower() for key in _session_record(ctx, caller).get("transitive_keys") or []}
    duration = role_session_seconds(params.get("DurationSeconds"), role["max_session_duration"], chained=chained)
    session_policy = params.get("Policy")
    if session_policy is not None:
        _check_session_policy(session_policy)
    policy_arns = [item["arn"] for item in params.get("PolicyArns") or []]
    transitive = {k: v for k, v in caller.session_tags.items() if k.lower() in inherited_keys}
    tags, transitive_keys = session_tags(params.get("Tags"), transitive, params.get("TransitiveTagKeys"))
    if params.get("Tags"):
        check_action(ctx, "sts:TagSession", [params["RoleArn"]], params)
    source_identity = _source_identity(ctx, caller, params)
    packed = packed_policy_percent(session_policy, policy_arns, tags)
    check_packed_size(packed)

    session_name = params["RoleSessionName"]
    partition = ctx.cloud.config.partition
    principal = Principal(
        account_id=role["account_id"], kind="assumed-role", name=role["role_name"], session_name=session_name,
        arn=f"arn:{partition}:sts::{role['account_id']}:assumed-role/{role['role_name']}/{session_name}",
        user_id=f"{role['role_id']}:{session_name}", role_arn=role["arn"])
    mfa_at = ctx.received_at if "aws:MultiFactorAuthAge" in ctx.condition_keys else caller.mfa_authenticated_at
    session = {"role_arn": role["arn"], "role_id": role["role_id"], "session_name": session_name,
               "policy": session_policy, "policy_arns": policy_arns, "tags": tags,
               "transitive_keys": transitive_keys, "source_identity": source_identity, "chained": chained,
               "mfa_authenticated_at": mfa_at.isoformat() if mfa_at else None}
    credentials = _issue(ctx, principal, duration, session)
    with ctx.cloud.db.begin() as conn:  # "last used" is no policy: the enforcement cache stays
        record_role_use(conn, role["role_id"], ctx.received_at, ctx.region)
    ctx.audit_resources.append(role["arn"])
    output: Params = {"Credentials": credentials,
                      "AssumedRoleUser": {"AssumedRoleId": principal.user_id, "Arn": principal.arn}}
    if session_policy is not None or policy_arns or tags:
        output["PackedPolicySize"] = packed
    if source_identity:
        output["SourceIdentity"] = source_identity
    return output


def _check_session_policy(document: str) -> None:
    try:
        policy.validate_policy(document, kind="session")
    except policy.PolicyError as exc:
        raise MalformedPolicyDocument(exc.message) from None


def _source_identity(ctx: RequestContext, caller: Principal, params: Params) -> str:
    """A source identity is set once and then follows every chained session; setting it needs permission."""
    requested = params.get("SourceIdentity") or ""
    if caller.source_identity:
        if requested and requested != caller.source_identity:
            raise AccessDenied("The source identity of a role session cannot be changed once it is set.")
        return caller.source_identity
    if requested:
        check_action(ctx, "sts:SetSourceIdentity", [params["RoleArn"]], params)
    return requested


@api.operation("GetSessionToken", authorize=False)
def get_session_token(ctx: RequestContext, params: Params) -> Params:
    caller = ctx.principal
    if caller.kind not in ("user", "root") or caller.access_key_id.startswith("ASIA"):
        raise AccessDenied("Cannot call GetSessionToken with session credentials")
    duration = session_token_seconds(params.get("DurationSeconds"), root=caller.is_root)
    mfa_at = mfa.authenticate(ctx, params)
    session = {"mfa_authenticated_at": mfa_at.isoformat() if mfa_at else None,
               "serial_number": params.get("SerialNumber") if mfa_at else None}
    return {"Credentials": _issue(ctx, caller, duration, session)}


def _issue(ctx: RequestContext, principal: Principal, duration: int, session: dict[str, Any]) -> dict[str, Any]:
    expires_at = ctx.received_at.replace(microsecond=0) + dt.timedelta(seconds=duration)
    token = new_session_token()
    key_id, secret = ctx.cloud.credentials.create_key(
        principal, prefix="ASIA", expires_at=expires_at, session_token=token, session=session)
    return {"AccessKeyId": key_id, "SecretAccessKey": secret, "SessionToken": token, "Expiration": expires_at}


def _session_record(ctx: RequestContext, caller: Principal) -> dict[str, Any]:
    """What was stored with a role session caller's credentials (empty for long-term keys)."""
    if caller.kind != "assumed-role" or not caller.access_key_id:
        return {}
    with ctx.cloud.db.read() as conn:
        return session_of(conn, caller.access_key_id)
