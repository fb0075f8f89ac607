"""User pools: CreateUserPool, DescribeUserPool, ListUserPools, UpdateUserPool, DeleteUserPool,
AddCustomAttributes, and the lookups other modules and services use: :func:`find_pool`, :func:`find_client`.

A pool's settings are kept as written (a JSON document in AWS's UserPoolType shape) and read back with
Cognito's defaults filled in, so DescribeUserPool answers what CreateUserPool was given.
"""

from __future__ import annotations

import secrets
import string
import time
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from controller.api import RequestContext
from controller.cognito_idp import errors, schema, state, tokens
from controller.cognito_idp.passwords import DEFAULT_POLICY
from controller.cognito_idp.service import api

#: Settings UpdateUserPool cannot change: kept from creation whatever the update says.
IMMUTABLE = ("UsernameAttributes", "AliasAttributes", "SchemaAttributes", "UsernameConfiguration")
#: Settings only SetUserPoolMfaConfig writes (UpdateUserPool has no member for them): an update keeps them.
MFA_ONLY = ("SoftwareTokenMfaConfiguration", "EmailMfaConfiguration", "WebAuthnConfiguration")
MAX_RESULTS = 60


def pool_arn(region: str, account_id: str, pool_id: str) -> str:
    return f"arn:aws:cognito-idp:{region}:{account_id}:userpool/{pool_id}"


def pool_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    """IAM resources of an operation naming a pool (``UserPoolId``)."""
    return [pool_arn(ctx.region, ctx.account_id, params.get("UserPoolId", "*"))]


def pool_row(conn: Connection, pool_id: str, ctx: RequestContext | None = None) -> dict[str, Any]:
    """The pool's row (of the caller's account and region when ``ctx`` is given), or ResourceNotFound."""
    row = conn.execute(select(state.pools).where(state.pools.c.pool_id == pool_id)).mappings().first()
    if row is None or (ctx is not None and (row["account_id"], row["region"]) != (ctx.account_id, ctx.region)):
        raise errors.no_pool(pool_id)
    return dict(row)


def pool_shape(row: dict[str, Any], user_count: int | None = None) -> dict[str, Any]:
    """DescribeUserPool's UserPoolType for a stored pool, Cognito's defaults filled in."""
    config = row["config"]
    policies = dict(config.get("Policies") or {})
    policies["PasswordPolicy"] = {**DEFAULT_POLICY, **(policies.get("PasswordPolicy") or {})}
    shape = {
        "MfaConfiguration": "OFF", "DeletionProtection": "INACTIVE", "LambdaConfig": {},
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False, "UnusedAccountValidityDays": 7},
        "VerificationMessageTemplate": {"DefaultEmailOption": "CONFIRM_WITH_CODE"},
        "EmailConfiguration": {"EmailSendingAccount": "COGNITO_DEFAULT"},
        "UserPoolTags": {}, **config, "Policies": policies,
        "Id": row["pool_id"], "Name": row["name"], "Arn": pool_arn(row["region"], row["account_id"], row["pool_id"]),
        "CreationDate": row["created_at"], "LastModifiedDate": row["modified_at"],
    }
    if user_count is not None:
        shape["EstimatedNumberOfUsers"] = user_count
    return shape


def find_pool(cloud: Any, pool_id: str) -> dict[str, Any] | None:
    """The pool in DescribeUserPool's shape, or None (any account: the pool id alone names it)."""
    with cloud.db.read() as conn:
        row = conn.execute(select(state.pools).where(state.pools.c.pool_id == pool_id)).mappings().first()
    return pool_shape(dict(row)) if row else None


def client_shape(cloud: Any, row: dict[str, Any]) -> dict[str, Any]:
    """DescribeUserPoolClient's UserPoolClientType for a stored client (its secret decrypted)."""
    shape = {**row["config"], "UserPoolId": row["pool_id"], "ClientName": row["name"],
             "ClientId": row["client_id"], "CreationDate": row["created_at"],
             "LastModifiedDate": row["modified_at"]}
    if row["secret"]:
        shape["ClientSecret"] = cloud.secrets.decrypt(row["secret"])
    return shape


def find_client(cloud: Any, pool_id: str | None, client_id: str) -> dict[str, Any] | None:
    """The app client in DescribeUserPoolClient's shape, or None; ``pool_id`` None: whichever pool has it."""
    with cloud.db.read() as conn:
        row = conn.execute(select(state.clients).where(state.clients.c.client_id == client_id)).mappings().first()
    if row is None or (pool_id is not None and row["pool_id"] != pool_id):
        return None
    return client_shape(cloud, dict(row))


def _new_pool_id(region: str) -> str:
    return f"{region}_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(9))


def _check_pool_config(config: dict[str, Any]) -> None:
    if config.get("UsernameAttributes") and config.get("AliasAttributes"):
        raise errors.InvalidParameterException(
            "Only one of the aliasAttributes or usernameAttributes can be set in a User Pool.")
    if config.get("MfaConfiguration", "OFF") not in ("OFF", "OPTIONAL", "ON"):
        raise errors.InvalidParameterException("MfaConfiguration must be OFF, OPTIONAL or ON.")
    if config.get("MfaConfiguration", "OFF") != "OFF" and not totp_enabled(config) and not (
            config.get("SmsConfiguration") and "phone_number" in (config.get("AutoVerifiedAttributes") or [])):
        # Cognito's answer: the only factor CreateUserPool/UpdateUserPool can configure is SMS. TOTP is turned
        # on with SetUserPoolMfaConfig (a pool made OFF first), and an SMS factor is stored but never sent.
        raise errors.InvalidParameterException(
            "SMS configuration and Auto verification for phone_number are required when MFA is required/optional")


def totp_enabled(config: dict[str, Any]) -> bool:
    """Whether the pool's settings turn TOTP (software token) MFA on."""
    return bool((config.get("SoftwareTokenMfaConfiguration") or {}).get("Enabled"))


@api.operation("CreateUserPool")
def create_user_pool(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    config = {k: v for k, v in params.items() if k not in ("PoolName", "Schema")}
    _check_pool_config(config)
    try:
        config["SchemaAttributes"] = schema.build_schema(params.get("Schema") or [])
    except ValueError as exc:
        raise errors.InvalidParameterException(str(exc)) from None
    now = time.time()
    pool_id = _new_pool_id(ctx.region)
    with ctx.cloud.db.begin() as conn:
        conn.execute(insert(state.pools).values(
            pool_id=pool_id, account_id=ctx.account_id, region=ctx.region, name=params["PoolName"],
            config=config, created_at=now, modified_at=now))
        tokens.create_key(conn, ctx.cloud, pool_id, now)
        row = pool_row(conn, pool_id)
    ctx.audit_resources.append(pool_arn(ctx.region, ctx.account_id, pool_id))
    return {"UserPool": pool_shape(row, 0)}


@api.operation("DescribeUserPool", resources=pool_resources)
def describe_user_pool(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        row = pool_row(conn, params["UserPoolId"], ctx)
        count = conn.execute(select(func.count()).select_from(state.users)
                             .where(state.users.c.pool_id == row["pool_id"])).scalar_one()
        domain = conn.execute(select(state.domains.c.domain).where(
            state.domains.c.pool_id == row["pool_id"])).scalar()
    shape = pool_shape(row, count)
    if domain is not None:
        shape["Domain"] = domain
    return {"UserPool": shape}


@api.operation("ListUserPools")
def list_user_pools(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    limit = params["MaxResults"]
    if not 1 <= limit <= MAX_RESULTS:
        raise errors.InvalidParameterException(f"MaxResults must be between 1 and {MAX_RESULTS}.")
    query = select(state.pools).where(state.pools.c.account_id == ctx.account_id,
                                      state.pools.c.region == ctx.region).order_by(state.pools.c.pool_id)
    if params.get("NextToken"):
        query = query.where(state.pools.c.pool_id > params["NextToken"])
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(query.limit(limit + 1)).mappings().all()
    out: dict[str, Any] = {"UserPools": [
        {key: shape[key] for key in ("Id", "Name", "LambdaConfig", "LastModifiedDate", "CreationDate")}
        for shape in (pool_shape(dict(row)) for row in rows[:limit])]}
    if len(rows) > limit:
        out["NextToken"] = rows[limit - 1]["pool_id"]
    return out


@api.operation("UpdateUserPool", resources=pool_resources)
def update_user_pool(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """AWS's semantics: settings the update leaves out return to their defaults; the immutable ones stay."""
    with ctx.cloud.db.begin() as conn:
        row = pool_row(conn, params["UserPoolId"], ctx)
        config = {k: v for k, v in params.items() if k != "UserPoolId"}
        config.update({k: row["config"][k] for k in IMMUTABLE + MFA_ONLY if k in row["config"]})
        _check_pool_config(config)
        conn.execute(update(state.pools).where(state.pools.c.pool_id == row["pool_id"])
                     .values(config=config, modified_at=time.time()))
    return {}


@api.operation("DeleteUserPool", resources=pool_resources)
def delete_user_pool(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        row = pool_row(conn, params["UserPoolId"], ctx)
        if row["config"].get("DeletionProtection") == "ACTIVE":
            raise errors.InvalidParameterException(
                "The user pool cannot be deleted because deletion protection is activated.")
        conn.execute(delete(state.pools).where(state.pools.c.pool_id == row["pool_id"]))
    return {}


@api.operation("AddCustomAttributes", resources=pool_resources)
def add_custom_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        row = pool_row(conn, params["UserPoolId"], ctx)
        current = row["config"]["SchemaAttributes"]
        custom = [entry for entry in current if entry["Name"].startswith("custom:")]
        try:
            merged = schema.build_schema(custom + params["CustomAttributes"])
        except ValueError as exc:
            raise errors.InvalidParameterException(str(exc)) from None
        standard = {entry["Name"] for entry in current if not entry["Name"].startswith("custom:")}
        config = {**row["config"], "SchemaAttributes": [entry for entry in current if entry["Name"] in standard]
                  + [entry for entry in merged if entry["Name"].startswith("custom:")]}
        conn.execute(update(state.pools).where(state.pools.c.pool_id == row["pool_id"])
                     .values(config=config, modified_at=time.time()))
    return {}
