"""Gateway responses: what API Gateway answers when a request never reaches the integration.

GetGatewayResponse(s) show every type: AWS's default (``defaultResponse: true``) unless the API put its
own. Only customized responses are stored; the data plane merges them over its defaults.
"""

from __future__ import annotations

from typing import Any

from controller.api import RequestContext
from controller.apigateway import errors, patch
from controller.apigateway.records import (
    delete_item,
    find_api,
    get_item,
    list_items,
    operation,
    page,
    put_item,
)

#: Each response type and its default status (DEFAULT_4XX/5XX have none of their own).
DEFAULT_STATUS: dict[str, str | None] = {
    "DEFAULT_4XX": None, "DEFAULT_5XX": None, "ACCESS_DENIED": "403", "API_CONFIGURATION_ERROR": "500",
    "AUTHORIZER_CONFIGURATION_ERROR": "500", "AUTHORIZER_FAILURE": "500", "BAD_REQUEST_PARAMETERS": "400",
    "BAD_REQUEST_BODY": "400", "EXPIRED_TOKEN": "403", "INTEGRATION_FAILURE": "504",
    "INTEGRATION_TIMEOUT": "504", "INVALID_API_KEY": "403", "INVALID_SIGNATURE": "403",
    "MISSING_AUTHENTICATION_TOKEN": "403", "QUOTA_EXCEEDED": "429", "REQUEST_TOO_LARGE": "413",
    "RESOURCE_NOT_FOUND": "404", "THROTTLED": "429", "UNAUTHORIZED": "401", "UNSUPPORTED_MEDIA_TYPE": "415",
    "WAF_FILTERED": "403",
}
DEFAULT_TEMPLATE = {"application/json": '{"message":$context.error.messageString}'}
UPDATE_RULES = (patch.Rule("/statusCode"), patch.Rule("/responseParameters/*"),
                patch.Rule("/responseTemplates/*"))


def default_response(response_type: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"responseType": response_type, "responseParameters": {},
                           "responseTemplates": dict(DEFAULT_TEMPLATE), "defaultResponse": True}
    if DEFAULT_STATUS[response_type]:
        doc["statusCode"] = DEFAULT_STATUS[response_type]
    return doc


def _type_of(params: dict[str, Any]) -> str:
    response_type = params.get("responseType") or ""
    if response_type not in DEFAULT_STATUS:
        raise errors.BadRequestException(f"Invalid response type specified: {response_type}")
    return response_type


def _check_status(doc: dict[str, Any]) -> None:
    status = doc.get("statusCode")
    if status is not None and not (str(status).isdigit() and len(str(status)) == 3):
        raise errors.BadRequestException(f"Invalid status code {status!r}: a 3-digit HTTP status is expected.")


@operation("PutGatewayResponse")
def put_gateway_response(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    response_type = _type_of(params)
    doc: dict[str, Any] = {"responseType": response_type, "responseParameters": params.get("responseParameters") or {},
                           "responseTemplates": params.get("responseTemplates") or {}, "defaultResponse": False}
    status = params.get("statusCode") or DEFAULT_STATUS[response_type]
    if status:
        doc["statusCode"] = status
    _check_status(doc)
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        put_item(conn, api_id, "gatewayresponse", response_type, doc)
    return doc


@operation("GetGatewayResponse")
def get_gateway_response(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    response_type = _type_of(params)
    with ctx.cloud.db.read() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        return get_item(conn, api_id, "gatewayresponse", response_type) or default_response(response_type)


@operation("GetGatewayResponses")
def get_gateway_responses(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        custom = dict(list_items(conn, api_id, "gatewayresponse"))
    docs = [custom.get(kind) or default_response(kind) for kind in DEFAULT_STATUS]
    return page(docs, params, key="responseType")


@operation("UpdateGatewayResponse")
def update_gateway_response(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    response_type = _type_of(params)
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        doc = get_item(conn, api_id, "gatewayresponse", response_type) or default_response(response_type)
        changed = patch.apply(doc, params.get("patchOperations") or [], UPDATE_RULES)
        changed["defaultResponse"] = False
        _check_status(changed)
        put_item(conn, api_id, "gatewayresponse", response_type, changed)
    return changed


@operation("DeleteGatewayResponse")
def delete_gateway_response(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    response_type = _type_of(params)
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        if get_item(conn, api_id, "gatewayresponse", response_type) is None:
            raise errors.not_found("Gateway response type", response_type)
        delete_item(conn, api_id, "gatewayresponse", response_type)
    return {}
