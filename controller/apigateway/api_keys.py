"""API keys: Create/Get/Update/DeleteApiKey and GetApiKeys (nameQuery, customerId, includeValues).

AWS creates keys disabled unless ``enabled`` is true, generates a 40-character value when none is
given, refuses a value already in use (ConflictException) and shows the value only when asked
(``includeValue``) or on creation. Deleting a key takes it out of every usage plan.
"""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

from sqlalchemy import select

from controller.api import RequestContext
from controller.apigateway import errors, patch
from controller.apigateway.records import (
    delete_account_items,
    get_account_item,
    list_account_items,
    new_id,
    now,
    operation,
    page,
    put_account_item,
    resource_arn,
    tags_of,
)
from controller.apigateway.state import account_items

_VALUE = re.compile(r"[A-Za-z0-9]{20,128}")
_VALUE_ALPHABET = string.ascii_letters + string.digits
UPDATE_RULES = (patch.Rule("/name"), patch.Rule("/description"), patch.Rule("/enabled", "bool"),
                patch.Rule("/customerId"))


def shown(doc: dict[str, Any], include_value: bool) -> dict[str, Any]:
    return doc if include_value else {key: value for key, value in doc.items() if key != "value"}


def find_key(conn: Any, ctx: RequestContext, key_id: str) -> dict[str, Any]:
    doc = get_account_item(conn, ctx.account_id, ctx.region, "apikey", key_id)
    if doc is None:
        raise errors.not_found("API Key", key_id)
    return doc


@operation("CreateApiKey")
def create_api_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    value = params.get("value") or "".join(secrets.choice(_VALUE_ALPHABET) for _ in range(40))
    if not _VALUE.fullmatch(value):
        raise errors.BadRequestException("API Key value should be at least 20 characters: [A-Za-z0-9]{20,128}")
    created = now()
    doc: dict[str, Any] = {"id": new_id(10), "value": value, "enabled": bool(params.get("enabled")),
                           "createdDate": created, "lastUpdatedDate": created,
                           "stageKeys": params.get("stageKeys") and [
                               f"{item.get('restApiId')}/{item.get('stageName')}" for item in params["stageKeys"]] or [],
                           "tags": tags_of(params)}
    for member in ("name", "description", "customerId"):
        if params.get(member) is not None:
            doc[member] = params[member]
    with ctx.cloud.db.begin() as conn:
        if conn.execute(select(account_items.c.item_id).where(account_items.c.kind == "apikey",
                                                              account_items.c.lookup == value)).first():
            raise errors.ConflictException("API Key already exists")
        put_account_item(conn, ctx, "apikey", doc["id"], doc, lookup=value)
    ctx.audit_resources.append(resource_arn(ctx.region, f"/apikeys/{doc['id']}"))
    return doc


@operation("GetApiKey")
def get_api_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        return shown(find_key(conn, ctx, params["apiKey"]), bool(params.get("includeValue")))


@operation("GetApiKeys")
def get_api_keys(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        docs = list_account_items(conn, ctx.account_id, ctx.region, "apikey")
    if params.get("nameQuery"):
        docs = [doc for doc in docs if (doc.get("name") or "").startswith(params["nameQuery"])]
    if params.get("customerId"):
        docs = [doc for doc in docs if doc.get("customerId") == params["customerId"]]
    return page([shown(doc, bool(params.get("includeValues"))) for doc in docs], params)


@operation("UpdateApiKey")
def update_api_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        doc = find_key(conn, ctx, params["apiKey"])
        changed = patch.apply(doc, params.get("patchOperations") or [], UPDATE_RULES)
        changed["lastUpdatedDate"] = now()
        put_account_item(conn, ctx, "apikey", doc["id"], changed, lookup=changed["value"])
    return shown(changed, False)


@operation("DeleteApiKey")
def delete_api_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        doc = find_key(conn, ctx, params["apiKey"])
        delete_account_items(conn, ctx, "apikey", item_id=doc["id"])
        for plan_key in list_account_items(conn, ctx.account_id, ctx.region, "plankey"):
            if plan_key["id"] == doc["id"]:
                delete_account_items(conn, ctx, "plankey", item_id=f"{plan_key['usagePlanId']}/{doc['id']}")
    return {}
