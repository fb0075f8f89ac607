"""Methods and method responses: PutMethod/GetMethod/UpdateMethod/DeleteMethod and *MethodResponse.

A method is stored whole, as GetMethod returns it: its ``methodResponses`` and ``methodIntegration``
(with the integration's ``integrationResponses``) inside, which is also what a deployment freezes.
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
    need_item,
    operation,
    put_item,
)

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
AUTHORIZATION_TYPES = ("NONE", "AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS")

METHOD_RULES = (
    patch.Rule("/authorizationType"), patch.Rule("/authorizerId"), patch.Rule("/apiKeyRequired", "bool"),
    patch.Rule("/operationName"), patch.Rule("/requestParameters/*", "bool"),
    patch.Rule("/requestModels/*"), patch.Rule("/requestValidatorId"),
    patch.Rule("/authorizationScopes", "values"),
)
RESPONSE_RULES = (patch.Rule("/responseParameters/*", "bool"), patch.Rule("/responseModels/*"))


def method_key(resource_id: str, http_method: str) -> str:
    return f"{resource_id} {http_method}"


def http_method_of(params: dict[str, Any]) -> str:
    method = (params.get("httpMethod") or "").upper()
    if method not in HTTP_METHODS:
        raise errors.BadRequestException(
            f"Invalid HttpMethod specified. Valid options are {','.join(HTTP_METHODS)}")
    return method


def load_method(conn: Connection, ctx: RequestContext, params: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(api id, item key, method doc) of the method a request names, or AWS's NotFoundException."""
    api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
    need_item(conn, api_id, "resource", params["resourceId"], "Resource")
    key = method_key(params["resourceId"], (params.get("httpMethod") or "").upper())
    doc = get_item(conn, api_id, "method", key)
    if doc is None:
        raise errors.not_found("Method")
    return api_id, key, doc


def check_method(conn: Connection, api_id: str, doc: dict[str, Any]) -> None:
    """Authorization settings must name an authorizer of the matching type, as AWS checks them."""
    kind = doc.get("authorizationType")
    if kind not in AUTHORIZATION_TYPES:
        raise errors.BadRequestException(
            f"Invalid authorization type specified. Valid options are {','.join(AUTHORIZATION_TYPES)}")
    if kind in ("CUSTOM", "COGNITO_USER_POOLS"):
        authorizer = get_item(conn, api_id, "authorizer", doc.get("authorizerId") or "")
        if authorizer is None:
            raise errors.BadRequestException("Invalid authorizer ID specified. Setting the authorization type "
                                             f"to {kind} requires a valid authorizer.")
        wanted_cognito = kind == "COGNITO_USER_POOLS"
        if (authorizer["type"] == "COGNITO_USER_POOLS") != wanted_cognito:
            raise errors.BadRequestException(
                f"Authorizer {authorizer['id']} of type {authorizer['type']} cannot be used with "
                f"authorization type {kind}.")
    elif doc.get("authorizerId"):
        doc.pop("authorizerId")
    validator = doc.get("requestValidatorId")
    if validator and get_item(conn, api_id, "validator", validator) is None:
        raise errors.BadRequestException(f"Invalid Request Validator identifier specified: {validator}")
    for model in (doc.get("requestModels") or {}).values():
        if get_item(conn, api_id, "model", model) is None:
            raise errors.BadRequestException(f"Invalid model identifier specified: {model}")
    if doc.get("authorizationScopes") and kind != "COGNITO_USER_POOLS":
        raise errors.BadRequestException("Authorization scopes are only supported with COGNITO_USER_POOLS.")


@operation("PutMethod")
def put_method(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    method = http_method_of(params)
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        need_item(conn, api_id, "resource", params["resourceId"], "Resource")
        key = method_key(params["resourceId"], method)
        if get_item(conn, api_id, "method", key) is not None:
            raise errors.ConflictException("Method already exists for this resource")
        doc: dict[str, Any] = {"httpMethod": method, "authorizationType": params.get("authorizationType"),
                               "apiKeyRequired": bool(params.get("apiKeyRequired"))}
        for member in ("authorizerId", "operationName", "requestParameters", "requestModels",
                       "requestValidatorId", "authorizationScopes"):
            if params.get(member) is not None:
                doc[member] = params[member]
        check_method(conn, api_id, doc)
        put_item(conn, api_id, "method", key, doc)
    return doc


@operation("GetMethod")
def get_method(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        return load_method(conn, ctx, params)[2]


@operation("UpdateMethod")
def update_method(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id, key, doc = load_method(conn, ctx, params)
        changed = patch.apply(doc, params.get("patchOperations") or [], METHOD_RULES)
        check_method(conn, api_id, changed)
        put_item(conn, api_id, "method", key, changed)
    return changed


@operation("DeleteMethod")
def delete_method(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id, key, _ = load_method(conn, ctx, params)
        delete_item(conn, api_id, "method", key)
    return {}


def _status_of(params: dict[str, Any]) -> str:
    status = params.get("statusCode") or ""
    if not (status.isdigit() and len(status) == 3 and status[0] in "12345"):
        raise errors.BadRequestException(f"Invalid status code {status!r}: a 3-digit HTTP status is expected.")
    return status


@operation("PutMethodResponse")
def put_method_response(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    status = _status_of(params)
    with ctx.cloud.db.begin() as conn:
        api_id, key, doc = load_method(conn, ctx, params)
        response: dict[str, Any] = {"statusCode": status}
        for member in ("responseParameters", "responseModels"):
            if params.get(member) is not None:
                response[member] = params[member]
        doc.setdefault("methodResponses", {})[status] = response
        put_item(conn, api_id, "method", key, doc)
    return response


def _method_response(conn: Connection, ctx: RequestContext, params: dict[str, Any]
                     ) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    api_id, key, doc = load_method(conn, ctx, params)
    response = (doc.get("methodResponses") or {}).get(params["statusCode"])
    if response is None:
        raise errors.not_found("Response status code")
    return api_id, key, doc, response


@operation("GetMethodResponse")
def get_method_response(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        return _method_response(conn, ctx, params)[3]


@operation("UpdateMethodResponse")
def update_method_response(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id, key, doc, response = _method_response(conn, ctx, params)
        changed = patch.apply(response, params.get("patchOperations") or [], RESPONSE_RULES)
        doc["methodResponses"][params["statusCode"]] = changed
        put_item(conn, api_id, "method", key, doc)
    return changed


@operation("DeleteMethodResponse")
def delete_method_response(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id, key, doc, _ = _method_response(conn, ctx, params)
        del doc["methodResponses"][params["statusCode"]]
        put_item(conn, api_id, "method", key, doc)
    return {}
