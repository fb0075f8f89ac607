"""HTTP APIs: CreateApi (with quick create), GetApi, GetApis, UpdateApi, DeleteApi, DeleteCorsConfiguration.

Quick create (``Target`` given) makes what AWS makes: an integration with the target (AWS_PROXY with
payload 2.0 for a Lambda function ARN, HTTP_PROXY for a URL), a route (``RouteKey`` or ``$default``) and
the ``$default`` stage with automatic deployment.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select

from controller.api import RequestContext
from controller.apigatewayv2 import errors, records
from controller.apigatewayv2.routes import check_route_key, integration_doc
from controller.apigatewayv2.state import apis

UPDATABLE = ("ApiKeySelectionExpression", "CorsConfiguration", "Description", "DisableSchemaValidation",
             "DisableExecuteApiEndpoint", "IpAddressType", "Name", "RouteSelectionExpression", "Version")


def endpoint(ctx: RequestContext, api_id: str) -> str:
    return f"https://{api_id}.execute-api.{ctx.region}.{ctx.cloud.config.service_domain}"


def shape(ctx: RequestContext, doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "ApiEndpoint": endpoint(ctx, doc["ApiId"])}


def check_cors(cors: dict[str, Any] | None) -> None:
    """CORS settings AWS refuses: credentials with a wildcard origin, and a negative or too long MaxAge."""
    if not cors:
        return
    if cors.get("AllowCredentials") and "*" in (cors.get("AllowOrigins") or []):
        raise errors.bad("allow-credentials is not supported with allow-origin '*'")
    max_age = cors.get("MaxAge")
    if max_age is not None and not -1 <= int(max_age) <= 86400:
        raise errors.bad("MaxAge must be between -1 and 86400 seconds")


@records.operation("CreateApi", "POST", "/apis")
def create_api(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params["ProtocolType"] != "HTTP":
        raise errors.bad(f"ProtocolType {params['ProtocolType']} is not supported: only HTTP APIs are served")
    check_cors(params.get("CorsConfiguration"))
    if params.get("RouteKey") and not params.get("Target"):
        raise errors.bad("RouteKey can only be specified with Target (quick create)")
    api_id = records.new_id("api")
    doc = {"ApiId": api_id, "Name": params["Name"], "ProtocolType": "HTTP", "CreatedDate": records.now(),
           "ApiKeySelectionExpression": params.get("ApiKeySelectionExpression", "$request.header.x-api-key"),
           "RouteSelectionExpression": params.get("RouteSelectionExpression", "$request.method $request.path"),
           "DisableExecuteApiEndpoint": bool(params.get("DisableExecuteApiEndpoint")),
           "IpAddressType": params.get("IpAddressType", "ipv4"), "Tags": params.get("Tags") or {}}
    for name in ("Description", "Version", "CorsConfiguration", "DisableSchemaValidation"):
        if name in params:
            doc[name] = params[name]
    with ctx.cloud.db.begin() as conn:
        conn.execute(insert(apis).values(api_id=api_id, account_id=ctx.account_id, region=ctx.region, doc=doc))
        if params.get("Target"):
            _quick_create(conn, api_id, params)
    ctx.audit_resources.append(records.api_arn(ctx.region, api_id))
    return shape(ctx, doc)


def _quick_create(conn: Any, api_id: str, params: dict[str, Any]) -> None:
    target = params["Target"]
    kind = "AWS_PROXY" if target.startswith("arn:") else "HTTP_PROXY"
    integration = integration_doc({"IntegrationType": kind, "IntegrationUri": target,
                                   "PayloadFormatVersion": "2.0" if kind == "AWS_PROXY" else "1.0",
                                   "IntegrationMethod": None if kind == "AWS_PROXY" else "ANY",
                                   "CredentialsArn": params.get("CredentialsArn")})
    integration["ApiGatewayManaged"] = True
    records.add_item(conn, api_id, "integration", integration["IntegrationId"], integration)
    route_key = params.get("RouteKey") or "$default"
    check_route_key(route_key)
    route_id = records.new_id("route")
    records.add_item(conn, api_id, "route", route_id, {
        "RouteId": route_id, "RouteKey": route_key, "AuthorizationType": "NONE", "ApiKeyRequired": False,
        "ApiGatewayManaged": True, "Target": f"integrations/{integration['IntegrationId']}"})
    records.add_item(conn, api_id, "stage", "$default", {
        "StageName": "$default", "AutoDeploy": True, "ApiGatewayManaged": True, "CreatedDate": records.now(),
        "LastUpdatedDate": records.now(), "StageVariables": {}, "RouteSettings": {}, "Tags": {},
        "DefaultRouteSettings": {"DetailedMetricsEnabled": False}})
    records.auto_deploy(conn, api_id)


@records.operation("GetApi", "GET", "/apis/{ApiId}")
def get_api(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        return shape(ctx, records.find_api(conn, ctx, params["ApiId"]))


@records.operation("GetApis", "GET", "/apis")
def get_apis(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(apis.c.doc).where(apis.c.account_id == ctx.account_id,
                                                     apis.c.region == ctx.region).order_by(apis.c.api_id))
        return records.page([shape(ctx, dict(row.doc)) for row in rows], params)


@records.operation("UpdateApi", "PATCH", "/apis/{ApiId}")
def update_api(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    check_cors(params.get("CorsConfiguration"))
    with ctx.cloud.db.begin() as conn:
        doc = records.merge(records.find_api(conn, ctx, params["ApiId"]), params, UPDATABLE)
        records.save_api(conn, doc["ApiId"], doc)
        records.auto_deploy(conn, doc["ApiId"])
    return shape(ctx, doc)


@records.operation("DeleteApi", "DELETE", "/apis/{ApiId}")
def delete_api(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        conn.execute(delete(apis).where(apis.c.api_id == params["ApiId"]))
    return {}


@records.operation("DeleteCorsConfiguration", "DELETE", "/apis/{ApiId}/cors")
def delete_cors_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        doc = records.find_api(conn, ctx, params["ApiId"])
        doc.pop("CorsConfiguration", None)
        records.save_api(conn, doc["ApiId"], doc)
        records.auto_deploy(conn, doc["ApiId"])
    return {}
