"""Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.

A grant lets one grantee principal perform some operations with one key, optionally only under an
encryption context (EncryptionContextSubset/Equals). Grants take part in authorization as statements
of the key's policy (``access.policy_with_grants``), so they work wherever the key policy would.
RetireGrant is decided by the grant itself (its retiring principal, its grantee when the grant
includes RetireGrant, or the account that owns the key), RevokeGrant by the key policy.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import delete, insert, select

from controller.api import Params, RequestContext
from controller.kms import records, state, views
from controller.kms.access import GRANT_TOKEN_PREFIX, check_grant_tokens, on_key, resolve_key
from controller.kms.errors import (
    AccessDeniedException,
    DryRunOperationException,
    InvalidGrantIdException,
    InvalidGrantTokenException,
    KMSInvalidStateException,
    NotFoundException,
    ValidationException,
)
from controller.kms.service import api
from controller.state import utcnow

_PRINCIPAL = re.compile(r"arn:[\w-]+:(iam|sts)::\d{12}:.+|[a-z0-9.-]+\.amazonaws\.com")
_GRANT_ID = re.compile(r"[0-9a-f]{64}")


def check_principal(value: str, member: str) -> None:
    """A grantee or retiring principal must be an IAM/STS ARN or a service principal (pure)."""
    if not _PRINCIPAL.fullmatch(value):
        raise ValidationException(f"{member} {value} is not a valid principal: use an IAM or STS ARN, or a "
                                  f"service principal.")


def check_constraints(constraints: dict[str, Any] | None) -> dict[str, Any] | None:
    """The grant's encryption context constraints: at most one kind (pure)."""
    if not constraints:
        return None
    kinds = [kind for kind in ("EncryptionContextSubset", "EncryptionContextEquals") if kind in constraints]
    if len(kinds) > 1:
        raise ValidationException("A grant can have EncryptionContextSubset or EncryptionContextEquals, not both.")
    if "SourceArn" in constraints:
        raise ValidationException("The SourceArn grant constraint is not supported in this region.")
    return {kind: dict(constraints[kind]) for kind in kinds} or None


def grant_entry(grant: Any, key_arn: str) -> dict[str, Any]:
    """A GrantListEntry (its KeyId is the key's ARN, as AWS lists it)."""
    entry: dict[str, Any] = {"KeyId": key_arn, "GrantId": grant["grant_id"], "CreationDate": grant["created_at"],
                             "GranteePrincipal": grant["grantee"], "IssuingAccount": grant["issuing_account"],
                             "Operations": grant["operations"]}
    if grant["name"]:
        entry["Name"] = grant["name"]
    if grant["retiring"]:
        entry["RetiringPrincipal"] = grant["retiring"]
    if grant["constraints"]:
        entry["Constraints"] = grant["constraints"]
    return entry


def _caller_names(ctx: RequestContext) -> set[str]:
    principal = ctx.principal
    return {name for name in (principal.arn, principal.role_arn) if name}


def _create_resources(ctx: RequestContext, params: Params) -> list[str]:
    check_grant_tokens(ctx, params)
    ctx.condition_keys["kms:GrantOperations"] = list(params["Operations"])
    ctx.condition_keys["kms:GranteePrincipal"] = params.get("GranteePrincipal", "")
    if params.get("RetiringPrincipal"):
        ctx.condition_keys["kms:RetiringPrincipal"] = params["RetiringPrincipal"]
    ctx.condition_keys["kms:GrantIsForAWSResource"] = "false"
    return on_key(cross_account=True)(ctx, params)


@api.operation("CreateGrant", resources=_create_resources)
def create_grant(ctx: RequestContext, params: Params) -> Params:
    grantee = params.get("GranteePrincipal") or params.get("GranteeServicePrincipal")
    if not grantee:
        raise ValidationException("GranteePrincipal is required.")
    check_principal(grantee, "GranteePrincipal")
    retiring = params.get("RetiringPrincipal") or params.get("RetiringServicePrincipal")
    if retiring:
        check_principal(retiring, "RetiringPrincipal")
    constraints = check_constraints(params.get("Constraints"))
    row = resolve_key(ctx, params["KeyId"])
    if records.key_state(row, utcnow()) == records.PENDING_DELETION:
        raise KMSInvalidStateException(f"{row['arn']} is pending deletion.")
    if params.get("DryRun"):
        raise DryRunOperationException("The request would have succeeded, but the DryRun option is set.")
    operations = sorted(set(params["Operations"]))
    issuing = f"arn:{ctx.cloud.config.partition}:iam::{ctx.account_id}:root"
    with ctx.cloud.db.begin() as conn:
        if params.get("Name"):
            same = conn.execute(select(state.grants).where(
                state.grants.c.key_id == row["key_id"], state.grants.c.name == params["Name"],
                state.grants.c.grantee == grantee)).mappings().first()
            if same is not None and same["operations"] == operations and same["constraints"] == constraints \
                    and same["retiring"] == retiring:
                return {"GrantToken": same["token"], "GrantId": same["grant_id"]}
        grant_id = secrets.token_hex(32)
        token = GRANT_TOKEN_PREFIX + secrets.token_urlsafe(96)
        conn.execute(insert(state.grants).values(
            grant_id=grant_id, key_id=row["key_id"], name=params.get("Name"), grantee=grantee, retiring=retiring,
            issuing_account=issuing, operations=operations, constraints=constraints, token=token,
            created_at=utcnow()))
    return {"GrantToken": token, "GrantId": grant_id}


def _key_grants(key_id: str, ctx: RequestContext) -> list[Any]:
    with ctx.cloud.db.read() as conn:
        return list(conn.execute(select(state.grants).where(state.grants.c.key_id == key_id)
                                 .order_by(state.grants.c.grant_id)).mappings())


@api.operation("ListGrants", resources=on_key(cross_account=True))
def list_grants(ctx: RequestContext, params: Params) -> Params:
    row = resolve_key(ctx, params["KeyId"])
    grants = _key_grants(row["key_id"], ctx)
    if params.get("GrantId"):
        grants = [grant for grant in grants if grant["grant_id"] == params["GrantId"]]
        if not grants:
            raise InvalidGrantIdException(f"Grant ID {params['GrantId']} is not valid for {row['arn']}.")
    grantee = params.get("GranteePrincipal") or params.get("GranteeServicePrincipal")
    if grantee:
        grants = [grant for grant in grants if grant["grantee"] == grantee]
    chunk, paging = views.page(grants, params.get("Marker"), params.get("Limit"), 50,
                               lambda grant: grant["grant_id"])
    return {"Grants": [grant_entry(grant, row["arn"]) for grant in chunk], **paging}


@api.operation("ListRetirableGrants")
def list_retirable_grants(ctx: RequestContext, params: Params) -> Params:
    retiring = params.get("RetiringPrincipal") or params.get("RetiringServicePrincipal")
    if not retiring:
        raise ValidationException("RetiringPrincipal is required.")
    now = utcnow()
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(state.grants, state.keys.c.arn, state.keys.c.deletion_date, state.keys.c.enabled)
                            .join(state.keys, state.keys.c.key_id == state.grants.c.key_id)
                            .where(state.keys.c.account_id == ctx.account_id, state.grants.c.retiring == retiring)
                            .order_by(state.grants.c.grant_id)).mappings().all()
    grants = [grant for grant in rows if records.key_state(grant, now) is not None]
    chunk, paging = views.page(grants, params.get("Marker"), params.get("Limit"), 50,
                               lambda grant: grant["grant_id"])
    return {"Grants": [grant_entry(grant, grant["arn"]) for grant in chunk], **paging}


def _grant(ctx: RequestContext, params: Params) -> Any:
    """The grant RetireGrant names by its token, or by key ARN and grant id."""
    with ctx.cloud.db.read() as conn:
        if params.get("GrantToken"):
            check_grant_tokens(ctx, {"GrantTokens": [params["GrantToken"]]})
            grant = conn.execute(select(state.grants).where(state.grants.c.token == params["GrantToken"])
                                 ).mappings().first()
            if grant is None:
                raise InvalidGrantTokenException("The grant token is not valid.")
            return grant
        if not params.get("KeyId") or not params.get("GrantId"):
            raise ValidationException("Specify a grant token, or both a key ARN and a grant ID.")
        key = resolve_key(ctx, params["KeyId"])
        grant = conn.execute(select(state.grants).where(state.grants.c.key_id == key["key_id"],
                                                        state.grants.c.grant_id == params["GrantId"])
                             ).mappings().first()
        if grant is None:
            raise NotFoundException(f"Grant ID {params['GrantId']} not found for {key['arn']}.")
        return grant


@api.operation("RetireGrant", authorize=False)
def retire_grant(ctx: RequestContext, params: Params) -> Params:
    grant = _grant(ctx, params)
    with ctx.cloud.db.read() as conn:
        key = conn.execute(select(state.keys).where(state.keys.c.key_id == grant["key_id"])).mappings().one()
    names = _caller_names(ctx)
    allowed = (grant["retiring"] in names or ("RetireGrant" in grant["operations"] and grant["grantee"] in names)
               or (ctx.principal.is_root and ctx.account_id == key["account_id"]))
    if not allowed:
        raise AccessDeniedException(f"User: {ctx.principal.arn} is not authorized to perform: kms:RetireGrant on "
                                    f"resource: {key['arn']} because the grant does not name it as its retiring "
                                    f"principal")
    with ctx.cloud.db.begin() as conn:
        conn.execute(delete(state.grants).where(state.grants.c.grant_id == grant["grant_id"]))
    return {}


@api.operation("RevokeGrant", resources=on_key())
def revoke_grant(ctx: RequestContext, params: Params) -> Params:
    if not _GRANT_ID.fullmatch(params["GrantId"]):
        raise InvalidGrantIdException(f"Grant ID {params['GrantId']} is not valid.")
    _grant(ctx, params)
    with ctx.cloud.db.begin() as conn:
        conn.execute(delete(state.grants).where(state.grants.c.grant_id == params["GrantId"]))
    return {}
