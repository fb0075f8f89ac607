"""Resource servers: CreateResourceServer, DescribeResourceServer, ListResourceServers, UpdateResourceServer,
DeleteResourceServer.

A resource server is an API the pool's access tokens are for: an identifier (often the API's URL) and the
scopes it defines. Its custom scopes are ``{identifier}/{scope name}``; app clients allow them in
AllowedOAuthScopes, and the client credentials grant (:mod:`controller.cognito_idp.oauth_grants`) puts them in
the access token's ``scope`` claim. A scope whose resource server was deleted or updated away is no longer
granted, though a client may still list it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from controller.api import RequestContext
from controller.cognito_idp import errors, state
from controller.cognito_idp.pools import pool_resources, pool_row
from controller.cognito_idp.service import api

_IDENTIFIER = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
_NAME = re.compile(r"[\w\s+=,.@-]+")
_SCOPE_NAME = re.compile(r"[\x21\x23-\x2E\x30-\x5B\x5D-\x7E]+")
MAX_SCOPES = 100
#: Cognito's quota of resource servers per pool.
MAX_SERVERS = 25
MAX_RESULTS = 50


def _invalid(value: str, member: str, constraint: str) -> errors.ServiceError:
    return errors.InvalidParameterException(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}")


def _check_text(value: str, member: str, pattern: re.Pattern[str] | None) -> None:
    if not 1 <= len(value) <= 256:
        raise _invalid(value, member, "Member must have length between 1 and 256")
    if pattern is not None and not pattern.fullmatch(value):
        raise _invalid(value, member, f"Member must satisfy regular expression pattern: {pattern.pattern}")


def checked_scopes(scopes: list[dict[str, str]]) -> list[dict[str, str]]:
    """The Scopes member as stored: each name and description checked, no name twice."""
    if len(scopes) > MAX_SCOPES:
        raise errors.InvalidParameterException(f"A resource server can have at most {MAX_SCOPES} scopes.")
    seen: set[str] = set()
    for index, scope in enumerate(scopes, 1):
        _check_text(scope["ScopeName"], f"scopes.{index}.member.scopeName", _SCOPE_NAME)
        _check_text(scope["ScopeDescription"], f"scopes.{index}.member.scopeDescription", None)
        if scope["ScopeName"] in seen:
            raise errors.InvalidParameterException(f"Duplicate scope name: {scope['ScopeName']}")
        seen.add(scope["ScopeName"])
    return [{"ScopeName": s["ScopeName"], "ScopeDescription": s["ScopeDescription"]} for s in scopes]


def _check(params: dict[str, Any]) -> list[dict[str, str]]:
    _check_text(params["Identifier"], "identifier", _IDENTIFIER)
    _check_text(params["Name"], "name", _NAME)
    return checked_scopes(params.get("Scopes") or [])


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    return {"UserPoolId": row["pool_id"], "Identifier": row["identifier"], "Name": row["name"],
            "Scopes": row["scopes"]}


def custom_scopes(conn: Connection, pool_id: str) -> set[str]:
    """Every ``identifier/scope`` the pool's resource servers define now."""
    rows = conn.execute(select(state.resource_servers.c.identifier, state.resource_servers.c.scopes)
                        .where(state.resource_servers.c.pool_id == pool_id)).all()
    return {f"{identifier}/{scope['ScopeName']}" for identifier, scopes in rows for scope in scopes}


def _row(conn: Connection, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    pool = pool_row(conn, params["UserPoolId"], ctx)
    row = conn.execute(select(state.resource_servers).where(
        state.resource_servers.c.pool_id == pool["pool_id"],
        state.resource_servers.c.identifier == params["Identifier"])).mappings().first()
    if row is None:
        raise errors.ResourceNotFoundException(
            f"Resource server {params['Identifier']} does not exist in user pool {pool['pool_id']}.")
    return dict(row)


@api.operation("CreateResourceServer", resources=pool_resources)
def create_resource_server(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    scopes = _check(params)
    table = state.resource_servers
    with ctx.cloud.db.begin() as conn:
        pool_id = pool_row(conn, params["UserPoolId"], ctx)["pool_id"]
        existing = conn.execute(select(table.c.identifier).where(table.c.pool_id == pool_id)).scalars().all()
        if params["Identifier"] in existing:
            raise errors.InvalidParameterException(
                f"Resource server with identifier {params['Identifier']} already exists in user pool {pool_id}.")
        if len(existing) >= MAX_SERVERS:
            raise errors.LimitExceededException(f"A user pool can have at most {MAX_SERVERS} resource servers.")
        values = {"pool_id": pool_id, "identifier": params["Identifier"], "name": params["Name"], "scopes": scopes}
        conn.execute(insert(table).values(**values))
    return {"ResourceServer": _shape(values)}


@api.operation("DescribeResourceServer", resources=pool_resources)
def describe_resource_server(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        return {"ResourceServer": _shape(_row(conn, ctx, params))}


@api.operation("UpdateResourceServer", resources=pool_resources)
def update_resource_server(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """As on AWS, the update replaces the name and the scopes (scopes left out: none)."""
    scopes = _check(params)
    table = state.resource_servers
    with ctx.cloud.db.begin() as conn:
        row = _row(conn, ctx, params)
        conn.execute(update(table).where(table.c.pool_id == row["pool_id"], table.c.identifier == row["identifier"])
                     .values(name=params["Name"], scopes=scopes))
    return {"ResourceServer": _shape({**row, "name": params["Name"], "scopes": scopes})}


@api.operation("DeleteResourceServer", resources=pool_resources)
def delete_resource_server(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    table = state.resource_servers
    with ctx.cloud.db.begin() as conn:
        row = _row(conn, ctx, params)
        conn.execute(delete(table).where(table.c.pool_id == row["pool_id"], table.c.identifier == row["identifier"]))
    return {}


@api.operation("ListResourceServers", resources=pool_resources)
def list_resource_servers(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    limit = params.get("MaxResults") or MAX_RESULTS
    if not 1 <= limit <= MAX_RESULTS:
        raise errors.InvalidParameterException(f"MaxResults must be between 1 and {MAX_RESULTS}.")
    table = state.resource_servers
    with ctx.cloud.db.read() as conn:
        pool_id = pool_row(conn, params["UserPoolId"], ctx)["pool_id"]
        query = select(table).where(table.c.pool_id == pool_id).order_by(table.c.identifier)
        if params.get("NextToken"):
            query = query.where(table.c.identifier > params["NextToken"])
        rows = conn.execute(query.limit(limit + 1)).mappings().all()
    out: dict[str, Any] = {"ResourceServers": [_shape(dict(row)) for row in rows[:limit]]}
    if len(rows) > limit:
        out["NextToken"] = rows[limit - 1]["identifier"]
    return out
