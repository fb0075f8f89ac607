"""Stages: Create/Get/Update/DeleteStage and GetStages, with stage variables, canary settings, method
settings (``/{resourcePath}/{method}/throttling/rateLimit``, ``/*/*/...``), access logs and tracing.

A canary is promoted AWS's way, by UpdateStage patch operations: ``copy`` from
``/canarySettings/deploymentId`` to ``/deploymentId`` and from ``/canarySettings/stageVariableOverrides``
to ``/variables``, then ``remove /canarySettings`` (or ``replace /canarySettings/percentTraffic`` 0).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.apigateway import errors, patch
from controller.apigateway.records import (
    delete_item,
    find_api,
    get_item,
    list_items,
    need_item,
    now,
    operation,
    put_item,
    tags_of,
)

_STAGE_NAME = re.compile(r"[a-zA-Z0-9_\-]{1,128}")
_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_VARIABLE_VALUE = re.compile(r"[A-Za-z0-9\-._~:/?#&=,]{0,512}")
CACHE_SIZES = ("0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237")

UPDATE_RULES = (
    patch.Rule("/deploymentId"), patch.Rule("/description"), patch.Rule("/variables/*"),
    patch.Rule("/variables", "any"), patch.Rule("/cacheClusterEnabled", "bool"),
    patch.Rule("/cacheClusterSize"), patch.Rule("/tracingEnabled", "bool"), patch.Rule("/clientCertificateId"),
    patch.Rule("/documentationVersion"), patch.Rule("/accessLogSettings", "any"),
    patch.Rule("/accessLogSettings/destinationArn"), patch.Rule("/accessLogSettings/format"),
    patch.Rule("/canarySettings", "any"), patch.Rule("/canarySettings/percentTraffic", "float"),
    patch.Rule("/canarySettings/deploymentId"), patch.Rule("/canarySettings/stageVariableOverrides", "any"),
    patch.Rule("/canarySettings/stageVariableOverrides/*"), patch.Rule("/canarySettings/useStageCache", "bool"),
)


def new_stage(name: str, deployment_id: str, params: dict[str, Any], description: str | None) -> dict[str, Any]:
    """A stage document as GetStage returns it, before any update."""
    created = now()
    doc: dict[str, Any] = {
        "stageName": name, "deploymentId": deployment_id, "cacheClusterEnabled": bool(params.get("cacheClusterEnabled")),
        "cacheClusterStatus": "AVAILABLE" if params.get("cacheClusterEnabled") else "NOT_AVAILABLE",
        "methodSettings": {}, "variables": dict(params.get("variables") or {}),
        "tracingEnabled": bool(params.get("tracingEnabled")), "createdDate": created, "lastUpdatedDate": created,
    }
    if description is not None:
        doc["description"] = description
    if params.get("cacheClusterEnabled"):
        doc["cacheClusterSize"] = params.get("cacheClusterSize") or "0.5"
    return doc


def check_stage(doc: dict[str, Any]) -> None:
    """AWS's rules for a stage's name, variables, cache size, canary and method settings (pure)."""
    if not _STAGE_NAME.fullmatch(doc.get("stageName") or ""):
        raise errors.BadRequestException("Stage name only allows a-zA-Z0-9_-")
    for variables in (doc.get("variables") or {}, (doc.get("canarySettings") or {}).get("stageVariableOverrides") or {}):
        for name, value in variables.items():
            if not _VARIABLE_NAME.fullmatch(name):
                raise errors.BadRequestException(
                    f"Stage variable name {name!r} must be alphanumeric or underscore: [A-Za-z0-9_]+")
            if not isinstance(value, str) or not _VARIABLE_VALUE.fullmatch(value):
                raise errors.BadRequestException(
                    f"Stage variable value {value!r} for {name} must match [A-Za-z0-9-._~:/?#&=,]+")
    if doc.get("cacheClusterSize") is not None and doc["cacheClusterSize"] not in CACHE_SIZES:
        raise errors.BadRequestException(f"Invalid cache cluster size {doc['cacheClusterSize']}.")
    canary = doc.get("canarySettings")
    if canary is not None:
        percent = canary.get("percentTraffic", 0.0)
        if not 0.0 <= percent <= 100.0:
            raise errors.BadRequestException("Canary percentTraffic must be between 0.0 and 100.0.")
    access = doc.get("accessLogSettings")
    if access:
        if not str(access.get("destinationArn") or "").startswith(("arn:aws:logs:", "arn:aws:firehose:")):
            raise errors.BadRequestException(
                "Invalid ARN specified in the request: access logs go to a CloudWatch Logs group ARN.")
        if "$context.requestId" not in (access.get("format") or "") and \
                "$context.extendedRequestId" not in (access.get("format") or ""):
            raise errors.BadRequestException(
                "Access log format must include at least $context.requestId or $context.extendedRequestId")
    for key, settings in (doc.get("methodSettings") or {}).items():
        if settings.get("loggingLevel") not in ("OFF", "ERROR", "INFO"):
            raise errors.BadRequestException(f"Invalid logging level for {key}: must be OFF, ERROR or INFO.")
        if settings.get("throttlingRateLimit", 0) < 0 or settings.get("throttlingBurstLimit", 0) < 0:
            raise errors.BadRequestException(f"Throttling limits for {key} must not be negative.")


def _check_deployments(conn: Connection, api_id: str, doc: dict[str, Any]) -> None:
    for deployment_id in (doc.get("deploymentId"), (doc.get("canarySettings") or {}).get("deploymentId")):
        if deployment_id and get_item(conn, api_id, "deployment", deployment_id) is None:
            raise errors.BadRequestException(f"Invalid deployment identifier specified: {deployment_id}")


@operation("CreateStage")
def create_stage(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["stageName"]
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        if get_item(conn, api_id, "deployment", params["deploymentId"]) is None:
            raise errors.not_found("Deployment")
        if get_item(conn, api_id, "stage", name) is not None:
            raise errors.ConflictException("Stage already exists")
        doc = new_stage(name, params["deploymentId"], params, params.get("description"))
        for member in ("documentationVersion",):
            if params.get(member) is not None:
                doc[member] = params[member]
        if params.get("canarySettings") is not None:
            canary = params["canarySettings"]
            doc["canarySettings"] = {
                "percentTraffic": float(canary.get("percentTraffic") or 0.0),
                "deploymentId": canary.get("deploymentId") or params["deploymentId"],
                "stageVariableOverrides": canary.get("stageVariableOverrides") or {},
                "useStageCache": bool(canary.get("useStageCache"))}
        doc["tags"] = tags_of(params)
        check_stage(doc)
        _check_deployments(conn, api_id, doc)
        put_item(conn, api_id, "stage", name, doc)
    return doc


@operation("GetStage")
def get_stage(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        return need_item(conn, api_id, "stage", params["stageName"], "Stage")


@operation("GetStages")
def get_stages(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        stages = [doc for _, doc in list_items(conn, api_id, "stage")]
    if params.get("deploymentId"):
        stages = [doc for doc in stages if doc.get("deploymentId") == params["deploymentId"]]
    return {"item": stages}


@operation("UpdateStage")
def update_stage(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        doc = need_item(conn, api_id, "stage", params["stageName"], "Stage")
        settings, rest = patch.apply_method_settings(doc.get("methodSettings") or {},
                                                     params.get("patchOperations") or [])
        changed = patch.apply({**doc, "methodSettings": settings}, rest, UPDATE_RULES)
        canary = changed.get("canarySettings")
        if canary is not None:
            canary.setdefault("percentTraffic", 0.0)
            canary.setdefault("deploymentId", changed["deploymentId"])
        changed["lastUpdatedDate"] = now()
        check_stage(changed)
        _check_deployments(conn, api_id, changed)
        put_item(conn, api_id, "stage", doc["stageName"], changed)
    return changed


@operation("DeleteStage")
def delete_stage(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        need_item(conn, api_id, "stage", params["stageName"], "Stage")
        delete_item(conn, api_id, "stage", params["stageName"])
    return {}

