"""Authorizers of HTTP APIs: JWT (an OIDC issuer and the audiences it must name) and Lambda REQUEST.

A JWT authorizer takes the token from its identity source (``$request.header.Authorization`` by default,
with or without ``Bearer``); the data plane verifies it (:mod:`controller.execute_api.jwt_authorizers`).
A REQUEST authorizer is a Lambda function answering a simple ``isAuthorized`` or an IAM policy
(:mod:`controller.apigatewayv2.request_authorizers`).
"""

from __future__ import annotations

from typing import Any

from controller.api import RequestContext
from controller.apigatewayv2 import errors, records

FIELDS = ("AuthorizerCredentialsArn", "AuthorizerPayloadFormatVersion", "AuthorizerResultTtlInSeconds",
          "AuthorizerType", "AuthorizerUri", "EnableSimpleResponses", "IdentitySource",
          "IdentityValidationExpression", "JwtConfiguration", "Name")


def _check(doc: dict[str, Any]) -> dict[str, Any]:
    """BadRequestException unless ``doc`` is a complete JWT or REQUEST authorizer."""
    kind = doc.get("AuthorizerType")
    if kind == "JWT":
        return _check_jwt(doc)
    if kind == "REQUEST":
        return _check_request(doc)
    raise errors.bad(f"Invalid AuthorizerType {kind}: HTTP APIs take JWT or REQUEST")


def _check_jwt(doc: dict[str, Any]) -> dict[str, Any]:
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


def _check_request(doc: dict[str, Any]) -> dict[str, Any]:
    uri = doc.get("AuthorizerUri") or ""
    if ":lambda:" not in uri:
        raise errors.bad(f"Invalid AuthorizerUri {uri!r}: a REQUEST authorizer names a Lambda function "
                         "(arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations)")
    version = doc.get("AuthorizerPayloadFormatVersion")
    if version not in ("1.0", "2.0"):
        raise errors.bad("AuthorizerPayloadFormatVersion must be 1.0 or 2.0 for REQUEST authorizers")
    if doc.get("EnableSimpleResponses") and version != "2.0":
        raise errors.bad("EnableSimpleResponses is supported only with AuthorizerPayloadFormatVersion 2.0")
    ttl = doc.setdefault("AuthorizerResultTtlInSeconds", 0)
    sources = doc.setdefault("IdentitySource", [])
    if not 0 <= int(ttl) <= 3600:
        raise errors.bad("AuthorizerResultTtlInSeconds must be between 0 and 3600")
    if ttl and not sources:
        raise errors.bad("IdentitySource is required when authorizer caching is enabled")
    if any(not source.startswith(("$request.header.", "$request.querystring.", "$context.",
                                  "$stageVariables.")) for source in sources):
        raise errors.bad(f"Invalid identity source {sources}: use $request.header.<name>, "
                         "$request.querystring.<name>, $context.<name> or $stageVariables.<name>")
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
