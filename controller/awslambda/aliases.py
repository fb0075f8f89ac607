"""Aliases: named pointers to a version, optionally splitting traffic with one more version (a canary).

Lambda's rules (https://docs.aws.amazon.com/lambda/latest/dg/configuration-aliases.html): the
versions must exist, routing names at most one other published version (never $LATEST, never the
primary) with a weight from 0 to 1, and an alias with routing cannot point at $LATEST.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from controller.api import RequestContext
from controller.awslambda import records, state
from controller.awslambda.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from controller.awslambda.events import invoke_config
from controller.awslambda.records import LATEST, FunctionRef
from controller.awslambda.service import api

DEFAULT_PAGE = 50


def _ref(ctx: RequestContext, params: dict[str, Any]) -> FunctionRef:
    ref = records.ref_of(ctx, params, qualified=False)
    return FunctionRef(ref.account_id, ref.region, ref.name, None)


def _function_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    """Alias calls are authorized on the function (resource type ``function`` in Lambda's Service
    Authorization Reference), whatever alias they name."""
    return records.resources(ctx, {"FunctionName": params.get("FunctionName", "")})


def _output(ref: FunctionRef, row: dict[str, Any]) -> dict[str, Any]:
    output: dict[str, Any] = {"AliasArn": f"{ref.arn}:{row['name']}", "Name": row["name"],
                              "FunctionVersion": row["function_version"], "Description": row["description"],
                              "RevisionId": row["revision_id"]}
    if row["routing"]:
        output["RoutingConfig"] = {"AdditionalVersionWeights": row["routing"]}
    return output


def _check_versions(conn: Connection, ref: FunctionRef, primary: str, weights: dict[str, float]) -> None:
    if len(weights) > 1:
        raise InvalidParameterValueException("Number of items in AdditionalVersionWeights cannot be greater than 1")
    for version in [primary, *weights]:
        if version != LATEST and records.version_row(conn, ref, version) is None:
            raise ResourceNotFoundException(f"Function not found: {ref.arn}:{version}")
    if not weights:
        return
    [(extra, weight)] = weights.items()
    if primary == LATEST or extra == LATEST:
        raise InvalidParameterValueException("$LATEST is not supported for an alias pointing to more than 1 version")
    if extra == primary:
        raise InvalidParameterValueException(f"Invalid function version {extra}. Function version {extra} is "
                                             "already included in routing configuration.")
    if not 0.0 <= weight <= 1.0:
        raise InvalidParameterValueException("Invalid weight: must be between 0 and 1.")


def _routing(params: dict[str, Any]) -> dict[str, float] | None:
    config = params.get("RoutingConfig")
    if config is None:
        return None
    return {str(version): float(weight) for version, weight in (config.get("AdditionalVersionWeights") or {}).items()}


def _find(conn: Connection, ref: FunctionRef, name: str) -> dict[str, Any]:
    records.function_row(conn, ref)
    row = records.alias_row(conn, ref, name)
    if row is None:
        raise ResourceNotFoundException(f"Cannot find alias arn: {ref.arn}:{name}")
    return row


@api.operation("CreateAlias", resources=_function_resources)
def create_alias(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = _ref(ctx, params)
    name, primary = params["Name"], params["FunctionVersion"]
    weights = _routing(params) or {}
    with records.writing(ctx.cloud) as conn:
        records.function_row(conn, ref)
        if records.alias_row(conn, ref, name) is not None:
            raise ResourceConflictException(f"Alias already exists: {ref.arn}:{name}")
        _check_versions(conn, ref, primary, weights)
        row = {"account_id": ref.account_id, "region": ref.region, "function_name": ref.name, "name": name,
               "function_version": primary, "description": params.get("Description") or "", "routing": weights,
               "revision_id": records.new_revision()}
        conn.execute(state.aliases.insert().values(**row))
    ctx.audit_resources.append(f"{ref.arn}:{name}")
    return _output(ref, row)


@api.operation("GetAlias", resources=_function_resources)
def get_alias(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = _ref(ctx, params)
    with ctx.cloud.db.read() as conn:
        return _output(ref, _find(conn, ref, params["Name"]))


@api.operation("UpdateAlias", resources=_function_resources)
def update_alias(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = _ref(ctx, params)
    with records.writing(ctx.cloud) as conn:
        row = _find(conn, ref, params["Name"])
        records.check_revision(params.get("RevisionId"), row["revision_id"])
        weights = _routing(params)
        changes = {"function_version": params.get("FunctionVersion") or row["function_version"],
                   "description": row["description"] if params.get("Description") is None else params["Description"],
                   "routing": row["routing"] if weights is None else weights,
                   "revision_id": records.new_revision()}
        _check_versions(conn, ref, changes["function_version"], changes["routing"])
        t = state.aliases
        conn.execute(update(t).where(t.c.account_id == ref.account_id, t.c.region == ref.region,
                                     t.c.function_name == ref.name, t.c.name == row["name"]).values(**changes))
    return _output(ref, {**row, **changes})


@api.operation("DeleteAlias", resources=_function_resources)
def delete_alias(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = _ref(ctx, params)
    with records.writing(ctx.cloud) as conn:
        records.function_row(conn, ref)
        for table, column in ((state.aliases, state.aliases.c.name), (state.policies, state.policies.c.qualifier)):
            conn.execute(table.delete().where(table.c.account_id == ref.account_id, table.c.region == ref.region,
                                              table.c.function_name == ref.name, column == params["Name"]))
        invoke_config.forget(conn, ref.account_id, ref.region, ref.name, params["Name"])
    return {}


@api.operation("ListAliases", resources=records.resources)
def list_aliases(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = _ref(ctx, params)
    limit = params.get("MaxItems") or DEFAULT_PAGE
    t = state.aliases
    with ctx.cloud.db.read() as conn:
        records.function_row(conn, ref)
        rows = [dict(row) for row in conn.execute(select(t).where(
            t.c.account_id == ref.account_id, t.c.region == ref.region, t.c.function_name == ref.name)
            .order_by(t.c.name)).mappings()]
    if params.get("FunctionVersion"):
        rows = [row for row in rows if row["function_version"] == params["FunctionVersion"]
                or params["FunctionVersion"] in row["routing"]]
    marker = params.get("Marker")
    if marker:
        rows = [row for row in rows if row["name"] >= marker]
    output: dict[str, Any] = {"Aliases": [_output(ref, row) for row in rows[:limit]]}
    if len(rows) > limit:
        output["NextMarker"] = rows[limit]["name"]
    return output
