"""GetExport: a stage's deployed API as an OpenAPI 3.0 (``oas30``) or Swagger 2.0 (``swagger``) document,
in JSON or YAML (``Accept: application/yaml``), with API Gateway's extensions when the ``extensions``
parameter asks for ``integrations`` or ``apigateway`` (``authorizers`` adds the authorizers alone).
What ImportRestApi reads, so an export imports back into the same API."""

from __future__ import annotations

import json
from typing import Any

import yaml

from controller.api import RequestContext
from controller.apigateway import errors
from controller.apigateway.records import find_api, get_item, need_item, operation

_SOURCES = {"path": "path", "querystring": "query", "header": "header"}


def document(api: dict[str, Any], stage: dict[str, Any], snapshot: dict[str, Any], kind: str,
             extensions: set[str]) -> dict[str, Any]:
    """The export document (pure)."""
    with_integrations = bool(extensions & {"integrations", "apigateway"})
    with_authorizers = with_integrations or "authorizers" in extensions
    authorizers = {doc["id"]: doc for doc in snapshot.get("authorizers") or []}
    info = {"title": api["name"], "version": api.get("version") or str(stage.get("lastUpdatedDate") or "1")}
    if api.get("description"):
        info["description"] = api["description"]
    paths: dict[str, Any] = {}
    for resource in sorted(snapshot.get("resources") or [], key=lambda item: item["path"]):
        for method, doc in sorted((resource.get("resourceMethods") or {}).items()):
            key = "x-amazon-apigateway-any-method" if method == "ANY" else method.lower()
            paths.setdefault(resource["path"], {})[key] = _operation(doc, kind, authorizers, with_integrations)
    out: dict[str, Any] = {"openapi": "3.0.1"} if kind == "oas30" else {"swagger": "2.0"}
    out["info"] = info
    out["paths"] = paths
    schemes = _schemes(snapshot, authorizers if with_authorizers else {}, with_integrations)
    if schemes:
        if kind == "oas30":
            out["components"] = {"securitySchemes": schemes}
        else:
            out["securityDefinitions"] = schemes
    if with_integrations and api.get("binaryMediaTypes"):
        out["x-amazon-apigateway-binary-media-types"] = api["binaryMediaTypes"]
    if with_integrations and api.get("policy"):
        out["x-amazon-apigateway-policy"] = json.loads(api["policy"])
    return out


def _operation(doc: dict[str, Any], kind: str, authorizers: dict[str, Any], with_integrations: bool) -> dict[str, Any]:
    operation_: dict[str, Any] = {}
    if doc.get("operationName"):
        operation_["operationId"] = doc["operationName"]
    parameters = []
    for name, required in (doc.get("requestParameters") or {}).items():
        _, _, place, field = (name.split(".", 3) + ["", "", "", ""])[:4]
        if place in _SOURCES and field:
            parameter: dict[str, Any] = {"name": field, "in": _SOURCES[place], "required": bool(required)}
            parameter.update({"schema": {"type": "string"}} if kind == "oas30" else {"type": "string"})
            parameters.append(parameter)
    if parameters:
        operation_["parameters"] = parameters
    operation_["responses"] = {status: {"description": f"{status} response"}
                               for status in sorted(doc.get("methodResponses") or {})}
    security = []
    if doc.get("authorizationType") in ("CUSTOM", "COGNITO_USER_POOLS") and doc.get("authorizerId") in authorizers:
        security.append({authorizers[doc["authorizerId"]]["name"]: list(doc.get("authorizationScopes") or [])})
    if doc.get("authorizationType") == "AWS_IAM" and with_integrations:
        security.append({"sigv4": []})
    if doc.get("apiKeyRequired"):
        security.append({"api_key": []})
    if security:
        operation_["security"] = security
    integration = doc.get("methodIntegration")
    if with_integrations and integration:
        extension = {key: value for key, value in integration.items() if key not in ("integrationResponses",)}
        extension["type"] = integration["type"].lower()
        extension["passthroughBehavior"] = integration["passthroughBehavior"].lower()
        responses = {}
        for status, response in (integration.get("integrationResponses") or {}).items():
            entry = {key: value for key, value in response.items() if key != "selectionPattern"}
            responses[response.get("selectionPattern") or "default"] = entry | {"statusCode": status}
        if responses:
            extension["responses"] = responses
        operation_["x-amazon-apigateway-integration"] = extension
    return operation_


def _schemes(snapshot: dict[str, Any], authorizers: dict[str, Any], with_integrations: bool) -> dict[str, Any]:
    schemes: dict[str, Any] = {}
    methods = [doc for resource in snapshot.get("resources") or []
               for doc in (resource.get("resourceMethods") or {}).values()]
    if any(doc.get("apiKeyRequired") for doc in methods):
        schemes["api_key"] = {"type": "apiKey", "name": "x-api-key", "in": "header"}
    if with_integrations and any(doc.get("authorizationType") == "AWS_IAM" for doc in methods):
        schemes["sigv4"] = {"type": "apiKey", "name": "Authorization", "in": "header",
                            "x-amazon-apigateway-authtype": "awsSigv4"}
    for authorizer in authorizers.values():
        header = (authorizer.get("identitySource") or "method.request.header.Authorization").split(",")[0]
        scheme: dict[str, Any] = {"type": "apiKey", "name": header.rsplit(".", 1)[-1], "in": "header",
                                  "x-amazon-apigateway-authtype": authorizer.get("authType") or (
                                      "cognito_user_pools" if authorizer["type"] == "COGNITO_USER_POOLS" else "custom")}
        extension = {key: value for key, value in authorizer.items() if key not in ("id", "name", "authType")}
        extension["type"] = authorizer["type"].lower()
        scheme["x-amazon-apigateway-authorizer"] = extension
        schemes[authorizer["name"]] = scheme
    return schemes


@operation("GetExport")
def get_export(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    kind = params["exportType"]
    if kind not in ("oas30", "swagger"):
        raise errors.BadRequestException(f"Invalid export type {kind!r}: oas30 or swagger.")
    accepts = (params.get("accepts") or "application/json").lower()
    as_yaml = "yaml" in accepts
    if not as_yaml and "json" not in accepts and "*/*" not in accepts:
        raise errors.BadRequestException(f"Unsupported Accept {accepts}: application/json or application/yaml.")
    extensions = {part.strip() for part in ((params.get("parameters") or {}).get("extensions") or "").split(",")}
    with ctx.cloud.db.read() as conn:
        row = find_api(conn, ctx, params["restApiId"])
        stage = need_item(conn, row["api_id"], "stage", params["stageName"], "Stage")
        snapshot = get_item(conn, row["api_id"], "snapshot", stage["deploymentId"]) or {"resources": []}
    exported = document(row["doc"], stage, snapshot, kind, extensions)
    body = yaml.safe_dump(exported, sort_keys=False) if as_yaml else json.dumps(exported, indent=2)
    suffix = "yaml" if as_yaml else "json"
    return {"contentType": f"application/{suffix}",
            "contentDisposition": f'attachment; filename="{kind}_{stage["stageName"]}.{suffix}"',
            "body": body.encode()}
