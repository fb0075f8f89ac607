"""Routes and integrations of HTTP APIs: Create/Get/Update/Delete Route(s) and Integration(s).

A route key is ``$default`` or ``METHOD /path`` (ANY for every method; ``{name}`` segments and one greedy
``{name+}`` at the end). A route targets ``integrations/{IntegrationId}``; AWS_PROXY integrations call a
Lambda function with payload format 1.0 or 2.0, HTTP_PROXY ones pass the request to a URL.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.apigatewayv2 import errors, parameter_mapping, records

METHODS = ("ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_SEGMENT = re.compile(r"^(\{[A-Za-z0-9._:-]+\+?\}|[^{}]*)$")
ROUTE_FIELDS = ("ApiKeyRequired", "AuthorizationScopes", "AuthorizationType", "AuthorizerId",
                "ModelSelectionExpression", "OperationName", "RequestModels", "RequestParameters",
                "RouteKey", "RouteResponseSelectionExpression", "Target")
INTEGRATION_FIELDS = ("ConnectionId", "ConnectionType", "ContentHandlingStrategy", "CredentialsArn",
                      "Description", "IntegrationMethod", "IntegrationSubtype", "IntegrationType",
                      "IntegrationUri", "PassthroughBehavior", "PayloadFormatVersion", "RequestParameters",
                      "RequestTemplates", "ResponseParameters", "TemplateSelectionExpression",
                      "TimeoutInMillis", "TlsConfig")


def check_route_key(key: str) -> None:
    """BadRequestException unless ``key`` is a route key an HTTP API takes."""
    if key == "$default":
        return
    method, _, path = key.partition(" ")
    segments = path.split("/")[1:]
    greedy = [index for index, part in enumerate(segments) if part.endswith("+}")]
    if (method not in METHODS or not path.startswith("/") or " " in path
            or not all(_SEGMENT.match(part) for part in segments)
            or greedy and greedy != [len(segments) - 1]):
        raise errors.bad(f"Unable to create route {key}: the route key must be '$default' or "
                         "'<METHOD> /<path>' (a greedy path variable only as the last segment)")


def _check_route(conn: Connection, api_id: str, route: dict[str, Any], route_id: str) -> None:
    check_route_key(route["RouteKey"])
    for other in records.list_items(conn, api_id, "route"):
        if other["RouteKey"] == route["RouteKey"] and other["RouteId"] != route_id:
            raise errors.ConflictException(f"Route with key {route['RouteKey']} already exists for this API")
    target = route.get("Target")
    if target:
        if not target.startswith("integrations/"):
            raise errors.bad(f"Invalid target {target}: it must be integrations/<IntegrationId>")
        records.find_item(conn, api_id, "integration", target.removeprefix("integrations/"))
    kind = route.get("AuthorizationType", "NONE")
    if kind not in ("NONE", "JWT", "AWS_IAM", "CUSTOM"):
        raise errors.bad(f"Invalid AuthorizationType {kind}")
    if kind == "AWS_IAM":
        raise errors.bad("AuthorizationType AWS_IAM is not supported by Cloudlet's HTTP APIs: use NONE, JWT or "
                         "CUSTOM")
    if kind in ("JWT", "CUSTOM"):
        if not route.get("AuthorizerId"):
            raise errors.bad(f"AuthorizerId is required for AuthorizationType {kind}")
        authorizer = records.find_item(conn, api_id, "authorizer", route["AuthorizerId"])
        wanted = "JWT" if kind == "JWT" else "REQUEST"
        if authorizer["AuthorizerType"] != wanted:
            raise errors.bad(f"AuthorizationType {kind} requires an authorizer of type {wanted}")
    if route.get("AuthorizationScopes") and kind != "JWT":
        raise errors.bad("AuthorizationScopes are supported only with JWT authorizers")


@records.operation("CreateRoute", "POST", "/apis/{ApiId}/routes")
def create_route(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    route = {name: params[name] for name in ROUTE_FIELDS if name in params}
    route.setdefault("AuthorizationType", "NONE")
    route.setdefault("ApiKeyRequired", False)
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        route["RouteId"] = records.new_id("route")
        _check_route(conn, params["ApiId"], route, route["RouteId"])
        records.add_item(conn, params["ApiId"], "route", route["RouteId"], route)
        records.auto_deploy(conn, params["ApiId"])
    return route


@records.operation("GetRoute", "GET", "/apis/{ApiId}/routes/{RouteId}")
def get_route(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        return records.find_item(conn, params["ApiId"], "route", params["RouteId"])


@records.operation("GetRoutes", "GET", "/apis/{ApiId}/routes")
def get_routes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        return records.page(records.list_items(conn, params["ApiId"], "route"), params)


@records.operation("UpdateRoute", "PATCH", "/apis/{ApiId}/routes/{RouteId}")
def update_route(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        route = records.merge(records.find_item(conn, params["ApiId"], "route", params["RouteId"]),
                              params, ROUTE_FIELDS)
        if route.get("AuthorizationType") == "NONE":
            route.pop("AuthorizerId", None)
        _check_route(conn, params["ApiId"], route, route["RouteId"])
        records.save_item(conn, params["ApiId"], "route", route["RouteId"], route)
        records.auto_deploy(conn, params["ApiId"])
    return route


@records.operation("DeleteRoute", "DELETE", "/apis/{ApiId}/routes/{RouteId}")
def delete_route(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        records.remove_item(conn, params["ApiId"], "route", params["RouteId"])
        records.auto_deploy(conn, params["ApiId"])
    return {}


def integration_doc(params: dict[str, Any], integration_id: str | None = None) -> dict[str, Any]:
    """A checked integration document from CreateIntegration's (or quick create's) input."""
    doc = {name: params[name] for name in INTEGRATION_FIELDS if params.get(name) is not None}
    doc["IntegrationId"] = integration_id or records.new_id("integration")
    doc.setdefault("ConnectionType", "INTERNET")
    doc.setdefault("TimeoutInMillis", 30000)
    kind = doc.get("IntegrationType")
    if kind not in ("AWS_PROXY", "HTTP_PROXY"):
        raise errors.bad(f"Unsupported integration type {kind} for HTTP APIs: use AWS_PROXY or HTTP_PROXY")
    if not doc.get("IntegrationUri"):
        raise errors.bad(f"IntegrationUri is required for integration type {kind}")
    if kind == "HTTP_PROXY":
        doc.setdefault("PayloadFormatVersion", "1.0")
        if not doc.get("IntegrationMethod"):
            raise errors.bad("IntegrationMethod is required for HTTP_PROXY integrations")
        if not re.match(r"^https?://", doc["IntegrationUri"]):
            raise errors.bad(f"Invalid HTTP endpoint specified for URI: {doc['IntegrationUri']}")
    else:
        doc.setdefault("PayloadFormatVersion", "2.0")
        doc.setdefault("IntegrationMethod", "POST")
        if ":lambda:" not in doc["IntegrationUri"]:
            raise errors.bad(f"Invalid integration URI specified: {doc['IntegrationUri']}: AWS_PROXY "
                             "integrations of HTTP APIs take a Lambda function ARN")
    allowed = ("1.0",) if kind == "HTTP_PROXY" else ("1.0", "2.0")
    if doc["PayloadFormatVersion"] not in allowed:
        raise errors.bad(f"PayloadFormatVersion {doc['PayloadFormatVersion']} is not valid for {kind}: "
                         f"use {' or '.join(allowed)}")
    if doc.get("RequestParameters"):
        if kind != "HTTP_PROXY":
            raise errors.bad("RequestParameters (parameter mapping) are supported only for HTTP_PROXY integrations")
        problem = parameter_mapping.check(doc["RequestParameters"])
        if problem:
            raise errors.bad(problem)
    if not 50 <= int(doc["TimeoutInMillis"]) <= 30000:
        raise errors.bad("TimeoutInMillis must be between 50 and 30000 milliseconds for HTTP APIs")
    return doc


@records.operation("CreateIntegration", "POST", "/apis/{ApiId}/integrations")
def create_integration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    doc = integration_doc(params)
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        records.add_item(conn, params["ApiId"], "integration", doc["IntegrationId"], doc)
        records.auto_deploy(conn, params["ApiId"])
    return doc


@records.operation("GetIntegration", "GET", "/apis/{ApiId}/integrations/{IntegrationId}")
def get_integration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        return records.find_item(conn, params["ApiId"], "integration", params["IntegrationId"])


@records.operation("GetIntegrations", "GET", "/apis/{ApiId}/integrations")
def get_integrations(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        return records.page(records.list_items(conn, params["ApiId"], "integration"), params)


@records.operation("UpdateIntegration", "PATCH", "/apis/{ApiId}/integrations/{IntegrationId}")
def update_integration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        old = records.find_item(conn, params["ApiId"], "integration", params["IntegrationId"])
        doc = integration_doc(records.merge(old, params, INTEGRATION_FIELDS), old["IntegrationId"])
        records.save_item(conn, params["ApiId"], "integration", doc["IntegrationId"], doc)
        records.auto_deploy(conn, params["ApiId"])
    return doc


@records.operation("DeleteIntegration", "DELETE", "/apis/{ApiId}/integrations/{IntegrationId}")
def delete_integration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    target = f"integrations/{params['IntegrationId']}"
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        users = [route["RouteId"] for route in records.list_items(conn, params["ApiId"], "route")
                 if route.get("Target") == target]
        if users:
            raise errors.ConflictException(f"Cannot delete integration {params['IntegrationId']}: it is the "
                                           f"target of route(s) {', '.join(users)}")
        records.remove_item(conn, params["ApiId"], "integration", params["IntegrationId"])
        records.auto_deploy(conn, params["ApiId"])
    return {}
