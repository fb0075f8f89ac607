"""Authorizers of HTTP APIs: JWT (an OIDC issuer and the audiences it must name); Lambda REQUEST
authorizers are not served yet and are refused with a message saying so.

A JWT authorizer takes the token from its identity source (``$request.header.Authorization`` by default,
with or without ``Bearer``); the data plane verifies it (:mod:`controller.execute_api.jwt_authorizers`).
"""

from __future__ import annotations

from typing import Any

from controller.api import RequestContext
from controller.apigatewayv2 import errors, records

FIELDS = ("AuthorizerCredentialsArn", "AuthorizerPayloadFormatVersion", "AuthorizerResultTtlInSeconds",
          "AuthorizerType", "AuthorizerUri", "EnableSimpleResponses", "IdentitySource",
          "IdentityValidationExpression", "JwtConfiguration", "Name")


def _check(doc: dict[str, Any]) -> dict[str, Any]:
    """BadRequestException unless ``doc`` is a JWT authorizer with an issuer, audiences and one identity source."""
    if doc.get("AuthorizerType") != "JWT":
        raise errors.bad(f"AuthorizerType {doc.get('AuthorizerType')} is not supported by Cloudlet's HTTP APIs: "
                         "use JWT")
    jwt = doc.get("JwtConfiguration") or {}
    if not jwt.get("Issuer") or not jwt.get("Audience"):
        raise errors.bad("JwtConfiguration with an Issuer and at least one Audience is required for JWT "
                         "authorizers")
    if not jwt["Issuer"].startswith(("https://", "http://")):
        raise errors.bad(f"Invalid issuer {jwt['Issuer']}: it must be an https URL")
    sources = doc.setdefault("IdentitySource", ["$request.header.Authorization"])
    if len(sources) != 1 or not sources[0].startswith(("$request.header.", "$request.querystring.")):
        raise errors.bad(f"Invalid identity source {sources}: a JWT authorizer takes one, "
                         "$request.header.<name> or $request.querystring.<name>")
    return doc


@records.operation("CreateAuthorizer", "POST", "/apis/{ApiId}/authorizers")
def create_authorizer(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    doc = _check({name: params[name] for name in FIELDS if name in params})
    doc["AuthorizerId"] = records.new_id("authorizer")
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        records.add_item(conn, params["ApiId"], "authorizer", doc["AuthorizerId"], doc)
    return doc


@records.operation("GetAuthorizer", "GET", "/apis/{ApiId}/authorizers/{AuthorizerId}")
def get_authorizer(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        return records.find_item(conn, params["ApiId"], "authorizer", params["AuthorizerId"])


@records.operation("GetAuthorizers", "GET", "/apis/{ApiId}/authorizers")
def get_authorizers(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        return records.page(records.list_items(conn, params["ApiId"], "authorizer"), params)


@records.operation("UpdateAuthorizer", "PATCH", "/apis/{ApiId}/authorizers/{AuthorizerId}")
def update_authorizer(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        old = records.find_item(conn, params["ApiId"], "authorizer", params["AuthorizerId"])
        doc = _check(records.merge(old, params, FIELDS))
        records.save_item(conn, params["ApiId"], "authorizer", doc["AuthorizerId"], doc)
        records.auto_deploy(conn, params["ApiId"])
    return doc


@records.operation("DeleteAuthorizer", "DELETE", "/apis/{ApiId}/authorizers/{AuthorizerId}")
def delete_authorizer(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        records.find_api(conn, ctx, params["ApiId"])
        users = [route["RouteId"] for route in records.list_items(conn, params["ApiId"], "route")
                 if route.get("AuthorizerId") == params["AuthorizerId"]]
        if users:
            raise errors.ConflictException(f"Cannot delete authorizer {params['AuthorizerId']}: it is used by "
                                           f"route(s) {', '.join(users)}")
        records.remove_item(conn, params["ApiId"], "authorizer", params["AuthorizerId"])
    return {}
