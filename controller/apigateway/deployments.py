"""Deployments: CreateDeployment freezes the API (resources with their methods and integrations, and the
authorizers) into a ``snapshot`` item that stages serve; Get/Update/DeleteDeployment(s).

With ``stageName`` the deployment also goes to that stage (created if new); with ``canarySettings`` too,
it becomes the existing stage's canary instead, as AWS does.
"""

from __future__ import annotations

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
    new_id,
    now,
    operation,
    page,
    put_item,
)
from controller.apigateway.stages import check_stage, new_stage

UPDATE_RULES = (patch.Rule("/description"),)


def freeze(conn: Connection, api_id: str) -> dict[str, Any]:
    """The snapshot a deployment serves: every resource with its methods embedded, the authorizers, and the
    request validators and models its methods name."""
    methods: dict[str, dict[str, Any]] = {}
    for item_id, doc in list_items(conn, api_id, "method"):
        resource_id, http_method = item_id.split(" ", 1)
        methods.setdefault(resource_id, {})[http_method] = doc
    resources = []
    for _, doc in list_items(conn, api_id, "resource"):
        resources.append({**doc, **({"resourceMethods": methods[doc["id"]]} if doc["id"] in methods else {})})
    if not methods:
        raise errors.BadRequestException("The REST API doesn't contain any methods")
    for by_method in methods.values():
        for doc in by_method.values():
            if "methodIntegration" not in doc:
                raise errors.BadRequestException("No integration defined for method")
    return {"resources": resources, "authorizers": [doc for _, doc in list_items(conn, api_id, "authorizer")],
            "requestValidators": [doc for _, doc in list_items(conn, api_id, "validator")],
            "models": [doc for _, doc in list_items(conn, api_id, "model")]}


def api_summary(snapshot: dict[str, Any]) -> dict[str, Any]:
    """GetDeployment's ``apiSummary``: path -> method -> its authorization type and key requirement."""
    return {resource["path"]: {method: {"authorizationType": doc.get("authorizationType"),
                                        "apiKeyRequired": bool(doc.get("apiKeyRequired"))}
                               for method, doc in resource["resourceMethods"].items()}
            for resource in snapshot["resources"] if resource.get("resourceMethods")}


@operation("CreateDeployment")
def create_deployment(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    stage_name, canary = params.get("stageName"), params.get("canarySettings")
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        snapshot = freeze(conn, api_id)
        deployment_id = new_id(6)
        doc: dict[str, Any] = {"id": deployment_id, "createdDate": now()}
        if params.get("description") is not None:
            doc["description"] = params["description"]
        if stage_name:
            stage = get_item(conn, api_id, "stage", stage_name)
            if canary is not None:
                if stage is None:
                    raise errors.BadRequestException(
                        f"Stage {stage_name} must exist before a canary deployment is created for it.")
                stage["canarySettings"] = {
                    "deploymentId": deployment_id, "percentTraffic": float(canary.get("percentTraffic") or 0.0),
                    "stageVariableOverrides": canary.get("stageVariableOverrides") or {},
                    "useStageCache": bool(canary.get("useStageCache"))}
            elif stage is None:
                stage = new_stage(stage_name, deployment_id, params, params.get("stageDescription"))
            else:
                stage["deploymentId"] = deployment_id
                if params.get("variables"):
                    stage["variables"] = {**(stage.get("variables") or {}), **params["variables"]}
                if params.get("stageDescription") is not None:
                    stage["description"] = params["stageDescription"]
            stage["lastUpdatedDate"] = now()
            check_stage(stage)
        put_item(conn, api_id, "snapshot", deployment_id, snapshot)
        put_item(conn, api_id, "deployment", deployment_id, doc)
        if stage_name:
            put_item(conn, api_id, "stage", stage_name, stage)
    return doc


def _with_summary(conn: Connection, api_id: str, doc: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    if "apisummary" not in [item.lower() for item in params.get("embed") or []]:
        return doc
    return {**doc, "apiSummary": api_summary(get_item(conn, api_id, "snapshot", doc["id"]) or {"resources": []})}


@operation("GetDeployment")
def get_deployment(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        doc = need_item(conn, api_id, "deployment", params["deploymentId"], "Deployment")
        return _with_summary(conn, api_id, doc, params)


@operation("GetDeployments")
def get_deployments(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        return page([doc for _, doc in list_items(conn, api_id, "deployment")], params)


@operation("UpdateDeployment")
def update_deployment(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        doc = need_item(conn, api_id, "deployment", params["deploymentId"], "Deployment")
        changed = patch.apply(doc, params.get("patchOperations") or [], UPDATE_RULES)
        put_item(conn, api_id, "deployment", doc["id"], changed)
    return changed


@operation("DeleteDeployment")
def delete_deployment(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        deployment_id = params["deploymentId"]
        need_item(conn, api_id, "deployment", deployment_id, "Deployment")
        for _, stage in list_items(conn, api_id, "stage"):
            if deployment_id in (stage.get("deploymentId"), (stage.get("canarySettings") or {}).get("deploymentId")):
                raise errors.BadRequestException("Active stages pointing to this deployment must be moved or deleted")
        delete_item(conn, api_id, "deployment", deployment_id)
        delete_item(conn, api_id, "snapshot", deployment_id)
    return {}
