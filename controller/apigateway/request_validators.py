"""Request validators: what a method checks before its integration runs (body against its model,
required parameters); Create/Get/Update/DeleteRequestValidator and GetRequestValidators. A validator a
method uses cannot be deleted."""

from __future__ import annotations

from typing import Any

from controller.api import RequestContext
from controller.apigateway import errors, patch
from controller.apigateway.records import (
    delete_item,
    find_api,
    list_items,
    need_item,
    new_id,
    operation,
    page,
    put_item,
)

UPDATE_RULES = (patch.Rule("/name"), patch.Rule("/validateRequestBody", "bool"),
                patch.Rule("/validateRequestParameters", "bool"))


@operation("CreateRequestValidator")
def create_request_validator(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    doc = {"id": new_id(6), "name": params.get("name") or "",
           "validateRequestBody": bool(params.get("validateRequestBody")),
           "validateRequestParameters": bool(params.get("validateRequestParameters"))}
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        put_item(conn, api_id, "validator", doc["id"], doc)
    return doc


@operation("GetRequestValidator")
def get_request_validator(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        return need_item(conn, api_id, "validator", params["requestValidatorId"], "Request Validator")


@operation("GetRequestValidators")
def get_request_validators(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        return page([doc for _, doc in list_items(conn, api_id, "validator")], params)


@operation("UpdateRequestValidator")
def update_request_validator(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        doc = need_item(conn, api_id, "validator", params["requestValidatorId"], "Request Validator")
        changed = patch.apply(doc, params.get("patchOperations") or [], UPDATE_RULES)
        put_item(conn, api_id, "validator", doc["id"], changed)
    return changed


@operation("DeleteRequestValidator")
def delete_request_validator(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        validator_id = params["requestValidatorId"]
        need_item(conn, api_id, "validator", validator_id, "Request Validator")
        if any(method.get("requestValidatorId") == validator_id for _, method in list_items(conn, api_id, "method")):
            raise errors.ConflictException(f"Cannot delete request validator {validator_id}: a method uses it.")
        delete_item(conn, api_id, "validator", validator_id)
    return {}
