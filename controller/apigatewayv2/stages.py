"""Stages and deployments of HTTP APIs.

A stage serves one deployment (a frozen copy of the routes, integrations, authorizers and CORS settings);
with ``AutoDeploy`` every change to the API makes a new deployment for it (:func:`records.auto_deploy`).
The ``$default`` stage is served at the root of the invoke URL, any other at ``/{stageName}``.
"""

from __future__ import annotations

import re
from typing import Any

from controller.api import RequestContext
from controller.apigatewayv2 import errors, records

FIELDS = ("AccessLogSettings", "AutoDeploy", "ClientCertificateId", "DefaultRouteSettings", "DeploymentId",
          "Description", "RouteSettings", "StageVariables")
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_VARIABLE = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def _check(conn: Any, api_id: str, stage: dict[str, Any]) -> None:
    for name, value in (stage.get("StageVariables") or {}).items():
        if not _VARIABLE.match(name) or len(value) > 2048:
            raise errors.bad(f"Invalid stage variable {name}: names are 1-64 letters, digits or underscores, "
                             "values at most 2048 characters")
    if stage.get("DeploymentId"):
        records.find_item(conn, api_id, "deployment", stage["DeploymentId"])


@records.operation("CreateStage", "POST", "/apis/{ApiId}/stages")
def create_stage(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["StageName"]
    if name != "$default" and not _NAME.match(name):
        raise errors.bad(f"Stage name only allows a-zA-Z0-9_- or $default: {name}")
    stage = {field: params[field] for field in FIELDS if field in params}
    stage.update(StageName=name, CreatedDate=records.now(), LastUpdatedDate=records.now(),
                 Tags=params.get("Tags") or {})
    stage.setdefault("AutoDeploy", False)
    stage.setdefault("StageVariables", {})
    stage.setdefault("RouteSettings", {})
    stage.setdefault("DefaultRouteSettings", {"DetailedMetricsEnabled": False})
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        if any(other["StageName"] == name for other in records.list_items(conn, params["ApiId"], "stage")):
            raise errors.ConflictException(f"Stage already exists: {name}")
        _check(conn, params["ApiId"], stage)
        records.add_item(conn, params["ApiId"], "stage", name, stage)
        if stage["AutoDeploy"]:
            records.auto_deploy(conn, params["ApiId"])
            stage = records.find_item(conn, params["ApiId"], "stage", name)
    return stage


@records.operation("GetStage", "GET", "/apis/{ApiId}/stages/{StageName}")
def get_stage(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        return records.find_item(conn, params["ApiId"], "stage", params["StageName"])


@records.operation("GetStages", "GET", "/apis/{ApiId}/stages")
def get_stages(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        return records.page(records.list_items(conn, params["ApiId"], "stage"), params)


@records.operation("UpdateStage", "PATCH", "/apis/{ApiId}/stages/{StageName}")
def update_stage(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    api_id = params["ApiId"]
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, api_id)
        old = records.find_item(conn, api_id, "stage", params["StageName"])
        stage = records.merge(old, params, FIELDS)
        stage["LastUpdatedDate"] = records.now()
        _check(conn, api_id, stage)
        records.save_item(conn, api_id, "stage", stage["StageName"], stage)
        if stage.get("AutoDeploy") and not old.get("AutoDeploy"):
            records.auto_deploy(conn, api_id)
            stage = records.find_item(conn, api_id, "stage", stage["StageName"])
    return stage


@records.operation("DeleteStage", "DELETE", "/apis/{ApiId}/stages/{StageName}")
def delete_stage(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        records.remove_item(conn, params["ApiId"], "stage", params["StageName"])
    return {}


@records.operation("CreateDeployment", "POST", "/apis/{ApiId}/deployments")
def create_deployment(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    api_id = params["ApiId"]
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, api_id)
        stage = records.find_item(conn, api_id, "stage", params["StageName"]) if params.get("StageName") else None
        if stage and stage.get("AutoDeploy"):
            raise errors.bad(f"Stage {stage['StageName']} has automatic deployment enabled: it is deployed on "
                             "every change")
        if not records.list_items(conn, api_id, "route"):
            raise errors.bad("Unable to deploy API because no routes exist in this API")
        deployment = records.deploy(conn, api_id, description=params.get("Description"), auto=False)
        if stage:
            stage.update(DeploymentId=deployment["DeploymentId"], LastUpdatedDate=records.now())
            records.save_item(conn, api_id, "stage", stage["StageName"], stage)
    return deployment


@records.operation("GetDeployment", "GET", "/apis/{ApiId}/deployments/{DeploymentId}")
def get_deployment(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        return records.public(records.find_item(conn, params["ApiId"], "deployment", params["DeploymentId"]))


@records.operation("GetDeployments", "GET", "/apis/{ApiId}/deployments")
def get_deployments(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        entries = [records.public(doc) for doc in records.list_items(conn, params["ApiId"], "deployment")]
    return records.page(entries, params)


@records.operation("UpdateDeployment", "PATCH", "/apis/{ApiId}/deployments/{DeploymentId}")
def update_deployment(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        doc = records.find_item(conn, params["ApiId"], "deployment", params["DeploymentId"])
        if "Description" in params:
            doc["Description"] = params["Description"]
        records.save_item(conn, params["ApiId"], "deployment", params["DeploymentId"], doc)
    return records.public(doc)


@records.operation("DeleteDeployment", "DELETE", "/apis/{ApiId}/deployments/{DeploymentId}")
def delete_deployment(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        users = [stage["StageName"] for stage in records.list_items(conn, params["ApiId"], "stage")
                 if stage.get("DeploymentId") == params["DeploymentId"]]
        if users:
            raise errors.bad(f"Active stages pointing to this deployment must be moved or deleted: "
                             f"{', '.join(users)}")
        records.remove_item(conn, params["ApiId"], "deployment", params["DeploymentId"])
    return {}
