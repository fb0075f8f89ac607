"""Put/Get/Update/Delete/ListFunctionEventInvokeConfigs: how asynchronous invocations of a function are retried
and where their records go (https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionEventInvokeConfig.html).

A configuration belongs to the function's ``$LATEST`` (no qualifier), a version or an alias; Put replaces
it whole, Update changes only the members given. The protocol layer already holds MaximumRetryAttempts
to 0-2 and MaximumEventAgeInSeconds to 60-21,600; destinations are checked here, with the execution
role's permission to send to them, as Lambda checks them when they are configured.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from controller.api import RequestContext
from controller.awslambda import lookup, records
from controller.awslambda.errors import InvalidParameterValueException, ResourceNotFoundException
from controller.awslambda.events import destinations, state
from controller.awslambda.events.async_rules import EventSettings
from controller.awslambda.lookup import Target
from controller.awslambda.records import LATEST
from controller.awslambda.service import api

Cloud = Any
DEFAULT_PAGE = 50
_MEMBERS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")


def _target(ctx: RequestContext, params: dict[str, Any]) -> Target:
    return lookup.resolve_target(ctx.cloud, ctx.account_id, params["FunctionName"], params.get("Qualifier"))


def _qualifier(target: Target) -> str:
    return target.invoked_arn[len(target.function_arn) + 1:] or LATEST


def _key(target: Target, region: str) -> tuple[Any, ...]:
    t = state.event_invoke_configs
    return (t.c.account_id == target.account_id, t.c.region == region, t.c.function_name == target.function_name,
            t.c.qualifier == _qualifier(target))


def _render(target: Target, qualifier: str, config: dict[str, Any], last_modified: float) -> dict[str, Any]:
    destinations_config = config.get("DestinationConfig") or {}
    output: dict[str, Any] = {"LastModified": last_modified, "FunctionArn": f"{target.function_arn}:{qualifier}",
                              "DestinationConfig": {"OnSuccess": destinations_config.get("OnSuccess") or {},
                                                    "OnFailure": destinations_config.get("OnFailure") or {}}}
    for member in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
        if config.get(member) is not None:
            output[member] = config[member]
    return output


def _checked(ctx: RequestContext, target: Target, config: dict[str, Any]) -> dict[str, Any]:
    """The configuration to store, its destinations checked against the execution role of ``target``."""
    chosen = {member: config[member] for member in _MEMBERS if config.get(member) is not None}
    destination_config = chosen.get("DestinationConfig") or {}
    wanted = {side: (destination_config.get(side) or {}).get("Destination")
              for side in ("OnSuccess", "OnFailure")}
    if any(wanted.values()):
        role = lookup.load_version(ctx.cloud, target.account_id, target.function_name, target.routes[0][0]).role_arn
        for arn in wanted.values():
            if arn:
                destinations.check_destination(ctx.cloud, role, arn)
    chosen["DestinationConfig"] = {side: {"Destination": arn} for side, arn in wanted.items() if arn}
    return chosen


def _store(ctx: RequestContext, target: Target, config: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    t = state.event_invoke_configs
    with ctx.cloud.db.begin() as conn:
        conn.execute(t.delete().where(*_key(target, ctx.region)))
        conn.execute(t.insert().values(account_id=target.account_id, region=ctx.region,
                                       function_name=target.function_name, qualifier=_qualifier(target),
                                       config=config, last_modified=now))
    return _render(target, _qualifier(target), config, now)


def _existing(ctx: RequestContext, target: Target) -> dict[str, Any]:
    t = state.event_invoke_configs
    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(t).where(*_key(target, ctx.region))).mappings().first()
    if row is None:
        raise ResourceNotFoundException(f"The function {target.function_arn}:{_qualifier(target)} doesn't have an "
                                        "EventInvokeConfig")
    return dict(row)


@api.operation("PutFunctionEventInvokeConfig", resources=records.resources)
def put_function_event_invoke_config(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    target = _target(ctx, params)
    return _store(ctx, target, _checked(ctx, target, params))


@api.operation("UpdateFunctionEventInvokeConfig", resources=records.resources)
def update_function_event_invoke_config(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    target = _target(ctx, params)
    current = _existing(ctx, target)["config"]
    merged = dict(current)
    for member in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
        if params.get(member) is not None:
            merged[member] = params[member]
    if params.get("DestinationConfig") is not None:
        sides = dict(current.get("DestinationConfig") or {})
        for side in ("OnSuccess", "OnFailure"):
            if side in params["DestinationConfig"]:
                sides[side] = params["DestinationConfig"][side] or {}
        merged["DestinationConfig"] = sides
    return _store(ctx, target, _checked(ctx, target, merged))


@api.operation("GetFunctionEventInvokeConfig", resources=records.resources)
def get_function_event_invoke_config(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    target = _target(ctx, params)
    row = _existing(ctx, target)
    return _render(target, row["qualifier"], row["config"], row["last_modified"])


@api.operation("DeleteFunctionEventInvokeConfig", resources=records.resources)
def delete_function_event_invoke_config(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    target = _target(ctx, params)
    _existing(ctx, target)
    with ctx.cloud.db.begin() as conn:
        conn.execute(state.event_invoke_configs.delete().where(*_key(target, ctx.region)))
    return {}


@api.operation("ListFunctionEventInvokeConfigs", resources=records.resources)
def list_function_event_invoke_configs(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if ":" in params["FunctionName"].rsplit("function:", 1)[-1]:
        raise InvalidParameterValueException("Qualifiers are not supported by ListFunctionEventInvokeConfigs: "
                                             "name the function without a version or alias.")
    target = _target(ctx, params)
    t = state.event_invoke_configs
    with ctx.cloud.db.read() as conn:
        rows = [dict(row) for row in conn.execute(select(t).where(
            t.c.account_id == target.account_id, t.c.region == ctx.region,
            t.c.function_name == target.function_name).order_by(t.c.qualifier)).mappings()]
    start = 0
    if params.get("Marker"):
        positions = [i for i, row in enumerate(rows) if row["qualifier"] == params["Marker"]]
        if not positions:
            raise InvalidParameterValueException(f"Invalid marker: {params['Marker']}")
        start = positions[0]
    limit = params.get("MaxItems") or DEFAULT_PAGE
    page = rows[start:start + limit]
    output: dict[str, Any] = {"FunctionEventInvokeConfigs": [
        _render(target, row["qualifier"], row["config"], row["last_modified"]) for row in page]}
    if start + limit < len(rows):
        output["NextMarker"] = rows[start + limit]["qualifier"]
    return output


def settings_for(cloud: Cloud, target: Target) -> EventSettings:
    """The event settings of the qualifier an event was sent to (AWS's defaults when none is configured)."""
    t = state.event_invoke_configs
    with cloud.db.read() as conn:
        config = conn.execute(select(t.c.config).where(*_key(target, cloud.config.region))).scalar()
    return EventSettings.of(config)


def forget(conn: Any, account_id: str, region: str, function_name: str, qualifier: str | None = None) -> None:
    """Drop the event invoke configs of a deleted function (every qualifier) or of one deleted version or alias,
    in the caller's transaction: Lambda deletes them with what they configure."""
    t = state.event_invoke_configs
    query = t.delete().where(t.c.account_id == account_id, t.c.region == region, t.c.function_name == function_name)
    conn.execute(query if qualifier is None else query.where(t.c.qualifier == qualifier))
