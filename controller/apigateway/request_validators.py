"""Request validators: what a method checks before its integration runs (body against its model,
required parameters); Create/Get/Update/DeleteRequestValidator and GetRequestValidators. A validator a
method uses cannot be deleted."""

from __future__ import annotations

from typing import Any

from controller.api import RequestContext
from controller.apigateway import errors, patch
from controller.apigateway.items import ItemKind, register_item_operations
from controller.apigateway.records import (
    delete_item,
    find_api,
    list_items,
    need_item,
    new_id,
    operation,
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


register_item_operations(ItemKind("validator", "requestValidatorId", "Request Validator", UPDATE_RULES),
                         get="GetRequestValidator", get_all="GetRequestValidators", update="UpdateRequestValidator")


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
