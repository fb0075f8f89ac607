"""App clients: CreateUserPoolClient, DescribeUserPoolClient, ListUserPoolClients, UpdateUserPoolClient,
DeleteUserPoolClient. A client made with GenerateSecret has a secret (kept encrypted) that every user
call through it must prove with SECRET_HASH (:mod:`controller.cognito_idp.auth`).

OAuth settings (AllowedOAuthFlows, AllowedOAuthScopes, CallbackURLs, LogoutURLs...) are checked as Cognito
checks them (:func:`controller.cognito_idp.oauth.settings_problem`): the hosted UI and the token endpoint
(:mod:`controller.cognito_idp.hosted_ui`) rely on them."""

from __future__ import annotations

import secrets
import string
import time
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from controller.api import RequestContext
from controller.cognito_idp import errors, oauth, state
from controller.cognito_idp.pools import client_shape, pool_resources, pool_row
from controller.cognito_idp.resource_servers import custom_scopes
from controller.cognito_idp.service import api
from controller.cognito_idp.tokens import UNITS
from controller.errors import error

InvalidOAuthFlowException = error("InvalidOAuthFlowException")
ScopeDoesNotExistException = error("ScopeDoesNotExistException")
_OAUTH_ERRORS = {"InvalidOAuthFlowException": InvalidOAuthFlowException,
                 "ScopeDoesNotExistException": ScopeDoesNotExistException,
                 "InvalidParameterException": errors.InvalidParameterException}

#: What a client gets for what CreateUserPoolClient leaves out (Cognito's API defaults).
DEFAULTS: dict[str, Any] = {
    "RefreshTokenValidity": 30, "AccessTokenValidity": 60, "IdTokenValidity": 60,
    "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
    "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_CUSTOM_AUTH"],
    "AllowedOAuthFlowsUserPoolClient": False, "EnableTokenRevocation": True,
    "EnablePropagateAdditionalUserContextData": False, "AuthSessionValidity": 3,
    "PreventUserExistenceErrors": "LEGACY",
}
_KEPT = ("UserPoolId", "ClientId", "ClientName", "GenerateSecret")
MAX_RESULTS = 60


def _config(params: dict[str, Any]) -> dict[str, Any]:
    """The client's stored settings: the input over Cognito's defaults, validities checked."""
    config = {**DEFAULTS, **{k: v for k, v in params.items() if k not in _KEPT}}
    units = {**DEFAULTS["TokenValidityUnits"], **(params.get("TokenValidityUnits") or {})}
    config["TokenValidityUnits"] = units
    for kind in ("AccessToken", "IdToken", "RefreshToken"):
        value, unit = config[f"{kind}Validity"], units[kind]
        if unit not in UNITS:
            raise errors.InvalidParameterException(
                f"TokenValidityUnits.{kind} must be one of {', '.join(UNITS)}.")
        seconds = value * UNITS[unit]
        low, high = (300, 86400) if kind != "RefreshToken" else (60, 3650 * 86400)
        if not low <= seconds <= high:
            raise errors.InvalidParameterException(
                f"{kind}Validity must be between {_describe(low)} and {_describe(high)}.")
    return config


def _check_oauth(conn: Connection, pool_id: str, config: dict[str, Any], has_secret: bool) -> None:
    problem = oauth.settings_problem(config, has_secret, custom_scopes(conn, pool_id))
    if problem is not None:
        code, message = problem
        raise _OAUTH_ERRORS[code](message)


def _describe(seconds: int) -> str:
    return f"{seconds // 86400} days" if seconds >= 86400 and seconds % 86400 == 0 else f"{seconds // 60} minutes"


def _new_client_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(26))


def _new_secret() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(51))


@api.operation("CreateUserPoolClient", resources=pool_resources)
def create_user_pool_client(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    config = _config(params)
    now = time.time()
    client_id = _new_client_id()
    secret = ctx.cloud.secrets.encrypt(_new_secret()) if params.get("GenerateSecret") else None
    with ctx.cloud.db.begin() as conn:
        pool = pool_row(conn, params["UserPoolId"], ctx)
        _check_oauth(conn, pool["pool_id"], config, secret is not None)
        conn.execute(insert(state.clients).values(
            client_id=client_id, pool_id=pool["pool_id"], name=params["ClientName"], secret=secret,
            config=config, created_at=now, modified_at=now))
        row = conn.execute(select(state.clients).where(state.clients.c.client_id == client_id)).mappings().one()
    return {"UserPoolClient": client_shape(ctx.cloud, dict(row))}


def _client_row(conn: Any, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    pool = pool_row(conn, params["UserPoolId"], ctx)
    row = conn.execute(select(state.clients).where(state.clients.c.client_id == params["ClientId"],
                                                   state.clients.c.pool_id == pool["pool_id"])).mappings().first()
    if row is None:
        raise errors.no_client(params["ClientId"])
    return dict(row)


@api.operation("DescribeUserPoolClient", resources=pool_resources)
def describe_user_pool_client(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        row = _client_row(conn, ctx, params)
    return {"UserPoolClient": client_shape(ctx.cloud, row)}


@api.operation("UpdateUserPoolClient", resources=pool_resources)
def update_user_pool_client(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """As on AWS, settings the update leaves out return to their defaults; the secret stays."""
    config = _config(params)
    with ctx.cloud.db.begin() as conn:
        row = _client_row(conn, ctx, params)
        _check_oauth(conn, row["pool_id"], config, row["secret"] is not None)
        conn.execute(update(state.clients).where(state.clients.c.client_id == row["client_id"]).values(
            config=config, name=params.get("ClientName") or row["name"], modified_at=time.time()))
        row = _client_row(conn, ctx, params)
    return {"UserPoolClient": client_shape(ctx.cloud, row)}


@api.operation("DeleteUserPoolClient", resources=pool_resources)
def delete_user_pool_client(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        row = _client_row(conn, ctx, params)
        conn.execute(delete(state.clients).where(state.clients.c.client_id == row["client_id"]))
    return {}


@api.operation("ListUserPoolClients", resources=pool_resources)
def list_user_pool_clients(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    limit = params.get("MaxResults") or MAX_RESULTS
    if not 1 <= limit <= MAX_RESULTS:
        raise errors.InvalidParameterException(f"MaxResults must be between 1 and {MAX_RESULTS}.")
    with ctx.cloud.db.read() as conn:
        pool = pool_row(conn, params["UserPoolId"], ctx)
        query = select(state.clients).where(state.clients.c.pool_id == pool["pool_id"]) \
            .order_by(state.clients.c.client_id)
        if params.get("NextToken"):
            query = query.where(state.clients.c.client_id > params["NextToken"])
        rows = conn.execute(query.limit(limit + 1)).mappings().all()
    out: dict[str, Any] = {"UserPoolClients": [
        {"ClientId": row["client_id"], "UserPoolId": row["pool_id"], "ClientName": row["name"]}
        for row in rows[:limit]]}
    if len(rows) > limit:
        out["NextToken"] = rows[limit - 1]["client_id"]
    return out
