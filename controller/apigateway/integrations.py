"""Integrations and integration responses: Put/Get/Update/DeleteIntegration and *IntegrationResponse.

An integration lives inside its method's document (``methodIntegration``), as GetMethod shows it. The
checks are AWS's: an HTTP method and a URI for every type but MOCK, an absolute http(s) URL for HTTP
types, an ``arn:aws:apigateway:{region}:{service}:{action|path}/...`` URI for AWS types (Lambda only for
AWS_PROXY), and a timeout between 50 ms and 29 s.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from controller.api import RequestContext
from controller.apigateway import errors, patch
from controller.apigateway.methods import HTTP_METHODS, load_method
from controller.apigateway.records import operation, put_item

TYPES = ("AWS", "AWS_PROXY", "HTTP", "HTTP_PROXY", "MOCK")
PASSTHROUGH = ("WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER")
CONTENT_HANDLING = ("CONVERT_TO_BINARY", "CONVERT_TO_TEXT")
DEFAULT_TIMEOUT_MS = 29000

INTEGRATION_RULES = (
    patch.Rule("/type"), patch.Rule("/httpMethod"), patch.Rule("/uri"), patch.Rule("/credentials"),
    patch.Rule("/connectionType"), patch.Rule("/connectionId"), patch.Rule("/passthroughBehavior"),
    patch.Rule("/contentHandling"), patch.Rule("/timeoutInMillis", "int"), patch.Rule("/cacheNamespace"),
    patch.Rule("/requestParameters/*"), patch.Rule("/requestTemplates/*"),
    patch.Rule("/cacheKeyParameters/*", "item"),
)
RESPONSE_RULES = (
    patch.Rule("/selectionPattern"), patch.Rule("/contentHandling"),
    patch.Rule("/responseParameters/*"), patch.Rule("/responseTemplates/*"),
)


def check_integration(doc: dict[str, Any]) -> None:
    """AWS's rules for an integration document (pure: the unit tests call it)."""
    kind = doc.get("type")
    if kind not in TYPES:
        raise errors.BadRequestException(f"Invalid integration type specified. Valid options are {','.join(TYPES)}")
    if kind != "MOCK":
        if not doc.get("httpMethod"):
            raise errors.BadRequestException("Enumeration value for HttpMethod must be non-empty")
        if doc["httpMethod"] not in HTTP_METHODS:
            raise errors.BadRequestException(f"Invalid HttpMethod specified: {doc['httpMethod']}")
        uri = doc.get("uri") or ""
        if kind in ("HTTP", "HTTP_PROXY"):
            parsed = urlparse(uri)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise errors.BadRequestException("Invalid HTTP endpoint specified for URI")
        else:
            parts = uri.split(":", 5)
            if len(parts) < 6 or parts[:3] != ["arn", "aws", "apigateway"] or not (
                    parts[5].startswith("action/") or parts[5].startswith("path/")):
                raise errors.BadRequestException("AWS ARN for integration must contain path or action")
            if kind == "AWS_PROXY" and parts[4] not in ("lambda", "firehose"):
                raise errors.BadRequestException("Integrations of type 'AWS_PROXY' currently only supports "
                                                 "Lambda function and Firehose stream invocations.")
    if doc.get("passthroughBehavior") not in PASSTHROUGH:
        raise errors.BadRequestException(
            f"Invalid passthrough behavior specified. Valid options are {','.join(PASSTHROUGH)}")
    if doc.get("contentHandling") is not None and doc["contentHandling"] not in CONTENT_HANDLING:
        raise errors.BadRequestException(
            f"Invalid content handling specified. Valid options are {','.join(CONTENT_HANDLING)}")
    if not 50 <= doc.get("timeoutInMillis", DEFAULT_TIMEOUT_MS) <= 29000:
        raise errors.BadRequestException("Timeout should be between 50 ms and 29000 ms")


@operation("PutIntegration")
def put_integration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id, key, method = load_method(conn, ctx, params)
        doc: dict[str, Any] = {
            "type": params.get("type"), "passthroughBehavior": params.get("passthroughBehavior") or "WHEN_NO_MATCH",
            "timeoutInMillis": params.get("timeoutInMillis") or DEFAULT_TIMEOUT_MS,
            "cacheNamespace": params.get("cacheNamespace") or params["resourceId"],
            "cacheKeyParameters": params.get("cacheKeyParameters") or [],
            "connectionType": params.get("connectionType") or "INTERNET",
        }
        if params.get("integrationHttpMethod"):
            doc["httpMethod"] = params["integrationHttpMethod"].upper()
        for member in ("uri", "credentials", "connectionId", "requestParameters", "requestTemplates",
                       "contentHandling", "tlsConfig"):
            if params.get(member) is not None:
                doc[member] = params[member]
        check_integration(doc)
        method["methodIntegration"] = doc
        put_item(conn, api_id, "method", key, method)
    return doc


def _integration(conn: Any, ctx: RequestContext, params: dict[str, Any]
                 ) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    api_id, key, method = load_method(conn, ctx, params)
    if "methodIntegration" not in method:
        raise errors.not_found("Integration")
    return api_id, key, method, method["methodIntegration"]


@operation("GetIntegration")
def get_integration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        return _integration(conn, ctx, params)[3]


@operation("UpdateIntegration")
def update_integration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id, key, method, doc = _integration(conn, ctx, params)
        changed = patch.apply(doc, params.get("patchOperations") or [], INTEGRATION_RULES)
        check_integration(changed)
        method["methodIntegration"] = changed
        put_item(conn, api_id, "method", key, method)
    return changed


@operation("DeleteIntegration")
def delete_integration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id, key, method, _ = _integration(conn, ctx, params)
        del method["methodIntegration"]
        put_item(conn, api_id, "method", key, method)
    return {}


@operation("PutIntegrationResponse")
def put_integration_response(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    status = params["statusCode"]
    with ctx.cloud.db.begin() as conn:
        api_id, key, method, doc = _integration(conn, ctx, params)
        if status not in (method.get("methodResponses") or {}):
            raise errors.not_found("Response status code", f"{status}: put its method response first")
        response: dict[str, Any] = {"statusCode": status}
        for member in ("selectionPattern", "responseParameters", "responseTemplates", "contentHandling"):
            if params.get(member) is not None:
                response[member] = params[member]
        if response.get("contentHandling") not in (None, *CONTENT_HANDLING):
            raise errors.BadRequestException("Invalid content handling specified.")
        doc.setdefault("integrationResponses", {})[status] = response
        put_item(conn, api_id, "method", key, method)
    return response


def _integration_response(conn: Any, ctx: RequestContext, params: dict[str, Any]
                          ) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    api_id, key, method, doc = _integration(conn, ctx, params)
    response = (doc.get("integrationResponses") or {}).get(params["statusCode"])
    if response is None:
        raise errors.not_found("Response status code")
    return api_id, key, method, response


@operation("GetIntegrationResponse")
def get_integration_response(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        return _integration_response(conn, ctx, params)[3]


@operation("UpdateIntegrationResponse")
def update_integration_response(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id, key, method, response = _integration_response(conn, ctx, params)
        changed = patch.apply(response, params.get("patchOperations") or [], RESPONSE_RULES)
        method["methodIntegration"]["integrationResponses"][params["statusCode"]] = changed
        put_item(conn, api_id, "method", key, method)
    return changed


@operation("DeleteIntegrationResponse")
def delete_integration_response(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id, key, method, _ = _integration_response(conn, ctx, params)
        del method["methodIntegration"]["integrationResponses"][params["statusCode"]]
        put_item(conn, api_id, "method", key, method)
    return {}
