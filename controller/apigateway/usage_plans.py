"""Usage plans and their keys: Create/Get/Update/DeleteUsagePlan, GetUsagePlans (keyId), and
Create/Get/DeleteUsagePlanKey, GetUsagePlanKeys (nameQuery).

``apiStages`` entries must name a stage that exists; patch operations add or remove them with values
``"{apiId}:{stage}"``. An API key may not be in two plans that cover the same API stage (ConflictException).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.apigateway import errors, patch
from controller.apigateway.api_keys import find_key
from controller.apigateway.records import (
    delete_account_items,
    get_account_item,
    get_item,
    list_account_items,
    new_id,
    operation,
    page,
    put_account_item,
    resource_arn,
    tags_of,
)
from controller.apigateway.state import rest_apis

PERIODS = ("DAY", "WEEK", "MONTH")
UPDATE_RULES = (
    patch.Rule("/name"), patch.Rule("/description"), patch.Rule("/productCode"),
    patch.Rule("/throttle", "any"), patch.Rule("/throttle/burstLimit", "int"),
    patch.Rule("/throttle/rateLimit", "float"), patch.Rule("/quota", "any"), patch.Rule("/quota/limit", "int"),
    patch.Rule("/quota/offset", "int"), patch.Rule("/quota/period"),
)


def _check_plan(conn: Connection, ctx: RequestContext, doc: dict[str, Any]) -> None:
    quota = doc.get("quota")
    if quota is not None:
        if quota.get("period") not in PERIODS:
            raise errors.BadRequestException(f"Invalid quota period: one of {', '.join(PERIODS)} is required.")
        if (quota.get("limit") or 0) < 0 or (quota.get("offset") or 0) < 0:
            raise errors.BadRequestException("Quota limit and offset must not be negative.")
    throttle = doc.get("throttle") or {}
    if (throttle.get("burstLimit") or 0) < 0 or (throttle.get("rateLimit") or 0) < 0:
        raise errors.BadRequestException("Throttle limits must not be negative.")
    seen = set()
    for entry in doc.get("apiStages") or []:
        api_id, stage = entry.get("apiId") or "", entry.get("stage") or ""
        owned = conn.execute(rest_apis.select().where(
            rest_apis.c.api_id == api_id, rest_apis.c.account_id == ctx.account_id,
            rest_apis.c.region == ctx.region)).first()
        if owned is None or get_item(conn, api_id, "stage", stage) is None:
            raise errors.BadRequestException(
                f"Invalid API Stage {{api: {api_id}, stage: {stage}}} specified for usageplan {doc['id']}")
        if (api_id, stage) in seen:
            raise errors.ConflictException(f"API Stage {api_id}:{stage} is already in usage plan {doc['id']}")
        seen.add((api_id, stage))


def _api_stage_ops(doc: dict[str, Any], operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply the ``/apiStages`` operations (values ``apiId:stage``) to ``doc``; return the others."""
    rest = []
    for operation_ in operations:
        if operation_.get("path") != "/apiStages":
            rest.append(operation_)
            continue
        api_id, _, stage = str(operation_.get("value") or "").partition(":")
        entries = doc.setdefault("apiStages", [])
        if operation_.get("op") == "add":
            entries.append({"apiId": api_id, "stage": stage})
        elif operation_.get("op") == "remove":
            kept = [entry for entry in entries if (entry.get("apiId"), entry.get("stage")) != (api_id, stage)]
            if len(kept) == len(entries):
                raise errors.NotFoundException(f"API Stage {api_id}:{stage} is not in usage plan {doc['id']}")
            doc["apiStages"] = kept
        else:
            raise errors.BadRequestException(f"Invalid patch operation '{operation_.get('op')}' for /apiStages.")
    return rest


def find_plan(conn: Connection, ctx: RequestContext, plan_id: str) -> dict[str, Any]:
    doc = get_account_item(conn, ctx.account_id, ctx.region, "usageplan", plan_id)
    if doc is None:
        raise errors.not_found("Usage Plan ID", plan_id)
    return doc


@operation("CreateUsagePlan")
def create_usage_plan(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": new_id(6), "name": params.get("name"), "apiStages": [
        {key: value for key, value in entry.items() if value is not None} for entry in params.get("apiStages") or []],
        "tags": tags_of(params)}
    for member in ("description", "throttle", "quota"):
        if params.get(member) is not None:
            doc[member] = params[member]
    with ctx.cloud.db.begin() as conn:
        _check_plan(conn, ctx, doc)
        put_account_item(conn, ctx, "usageplan", doc["id"], doc)
    ctx.audit_resources.append(resource_arn(ctx.region, f"/usageplans/{doc['id']}"))
    return doc


@operation("GetUsagePlan")
def get_usage_plan(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        return find_plan(conn, ctx, params["usagePlanId"])


@operation("GetUsagePlans")
def get_usage_plans(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        docs = list_account_items(conn, ctx.account_id, ctx.region, "usageplan")
        if params.get("keyId"):
            plans = {doc["usagePlanId"] for doc in list_account_items(conn, ctx.account_id, ctx.region, "plankey")
                     if doc["id"] == params["keyId"]}
            docs = [doc for doc in docs if doc["id"] in plans]
    return page(docs, params)


@operation("UpdateUsagePlan")
def update_usage_plan(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        doc = find_plan(conn, ctx, params["usagePlanId"])
        working = {**doc, "apiStages": list(doc.get("apiStages") or [])}
        rest = _api_stage_ops(working, list(params.get("patchOperations") or []))
        changed = patch.apply(working, rest, UPDATE_RULES)
        _check_plan(conn, ctx, changed)
        put_account_item(conn, ctx, "usageplan", doc["id"], changed)
    return changed


@operation("DeleteUsagePlan")
def delete_usage_plan(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        doc = find_plan(conn, ctx, params["usagePlanId"])
        delete_account_items(conn, ctx, "usageplan", item_id=doc["id"])
        delete_account_items(conn, ctx, "plankey", lookup=doc["id"])
    return {}


def _plan_key_shape(key: dict[str, Any]) -> dict[str, Any]:
    return {"id": key["id"], "type": "API_KEY", "value": key["value"], **({"name": key["name"]} if key.get("name")
                                                                           else {})}


@operation("CreateUsagePlanKey")
def create_usage_plan_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("keyType") != "API_KEY":
        raise errors.BadRequestException("Invalid key type specified: API_KEY is the only type.")
    with ctx.cloud.db.begin() as conn:
        plan = find_plan(conn, ctx, params["usagePlanId"])
        key = find_key(conn, ctx, params["keyId"])
        if get_account_item(conn, ctx.account_id, ctx.region, "plankey", f"{plan['id']}/{key['id']}"):
            raise errors.ConflictException(f"Usage Plan {plan['id']} already has API Key {key['id']}")
        stages = {(entry["apiId"], entry["stage"]) for entry in plan.get("apiStages") or []}
        for other in list_account_items(conn, ctx.account_id, ctx.region, "plankey"):
            if other["id"] != key["id"]:
                continue
            other_plan = find_plan(conn, ctx, other["usagePlanId"])
            if stages & {(entry["apiId"], entry["stage"]) for entry in other_plan.get("apiStages") or []}:
                raise errors.ConflictException(
                    f"Usage Plan {plan['id']} cannot be added because API Key {key['id']} cannot reference "
                    "multiple Usage Plans with the same API Stage")
        put_account_item(conn, ctx, "plankey", f"{plan['id']}/{key['id']}",
                         {"id": key["id"], "usagePlanId": plan["id"]}, lookup=plan["id"])
    return _plan_key_shape(key)


def _plan_key(conn: Connection, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    plan = find_plan(conn, ctx, params["usagePlanId"])
    if get_account_item(conn, ctx.account_id, ctx.region, "plankey", f"{plan['id']}/{params['keyId']}") is None:
        raise errors.not_found("Usage Plan Key", params["keyId"])
    return find_key(conn, ctx, params["keyId"])


@operation("GetUsagePlanKey")
def get_usage_plan_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        return _plan_key_shape(_plan_key(conn, ctx, params))


@operation("GetUsagePlanKeys")
def get_usage_plan_keys(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        plan = find_plan(conn, ctx, params["usagePlanId"])
        keys = [find_key(conn, ctx, item["id"]) for item in
                list_account_items(conn, ctx.account_id, ctx.region, "plankey", lookup=plan["id"])]
    if params.get("nameQuery"):
        keys = [key for key in keys if (key.get("name") or "").startswith(params["nameQuery"])]
    return page([_plan_key_shape(key) for key in keys], params)


@operation("DeleteUsagePlanKey")
def delete_usage_plan_key(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        _plan_key(conn, ctx, params)
        delete_account_items(conn, ctx, "plankey", item_id=f"{params['usagePlanId']}/{params['keyId']}")
    return {}
