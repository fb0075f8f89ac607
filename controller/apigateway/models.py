"""Models: the JSON schemas methods name for their request and response bodies (Create/Get/Update/
DeleteModel, GetModels). Every new API has AWS's two, ``Empty`` and ``Error``; a model a method uses
cannot be deleted."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.apigateway import errors, patch
from controller.apigateway.items import ItemKind, register_item_operations
from controller.apigateway.records import (
    delete_item,
    find_api,
    get_item,
    list_items,
    need_item,
    new_id,
    operation,
    put_item,
)

_NAME = re.compile(r"[A-Za-z0-9]{1,128}")
UPDATE_RULES = (patch.Rule("/schema"), patch.Rule("/description"))
DEFAULT_MODELS = {
    "Empty": {"$schema": "http://json-schema.org/draft-04/schema#", "title": "Empty Schema", "type": "object"},
    "Error": {"$schema": "http://json-schema.org/draft-04/schema#", "title": "Error Schema", "type": "object",
              "properties": {"message": {"type": "string"}}},
}


def add_default_models(conn: Connection, api_id: str) -> None:
    """The ``Empty`` and ``Error`` models AWS gives every new REST API."""
    for name, schema in DEFAULT_MODELS.items():
        put_item(conn, api_id, "model", name, {"id": new_id(6), "name": name, "contentType": "application/json",
                                               "description": f"This is a default {name.lower()} schema model",
                                               "schema": json.dumps(schema, indent=2)})


def _check_schema(doc: dict[str, Any]) -> None:
    if doc.get("schema") is None:
        return
    try:
        json.loads(doc["schema"])
    except ValueError:
        raise errors.BadRequestException(f"Invalid model specified: the schema of {doc['name']} is not JSON.") from None


@operation("CreateModel")
def create_model(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("name") or ""
    if not _NAME.fullmatch(name):
        raise errors.BadRequestException("Model name must be alphanumeric")
    doc: dict[str, Any] = {"id": new_id(6), "name": name, "contentType": params.get("contentType")}
    for member in ("description", "schema"):
        if params.get(member) is not None:
            doc[member] = params[member]
    _check_schema(doc)
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        if get_item(conn, api_id, "model", name) is not None:
            raise errors.ConflictException("Model name already exists for this REST API")
        put_item(conn, api_id, "model", name, doc)
    return doc


register_item_operations(ItemKind("model", "modelName", "model name", UPDATE_RULES, _check_schema, key="name"),
                         get="GetModel", get_all="GetModels", update="UpdateModel")


@operation("DeleteModel")
def delete_model(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["modelName"]
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        need_item(conn, api_id, "model", name, "model name")
        for item_id, method in list_items(conn, api_id, "method"):
            used = list((method.get("requestModels") or {}).values()) + [
                model for response in (method.get("methodResponses") or {}).values()
                for model in (response.get("responseModels") or {}).values()]
            if name in used:
                raise errors.ConflictException(
                    f"Cannot delete model '{name}', is referenced in method {item_id.split(' ', 1)[1]} "
                    f"of resource {item_id.split(' ', 1)[0]}")
        delete_item(conn, api_id, "model", name)
    return {}
