"""REST APIs: CreateRestApi, GetRestApi(s), UpdateRestApi, DeleteRestApi, and GetAccount.

A new API gets its root resource ``/``. Endpoint types are stored as asked; the data plane serves EDGE
as REGIONAL (there is no CloudFront here) and PRIVATE only through an execute-api interface endpoint.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from controller.api import RequestContext
from controller.apigateway import errors, patch
from controller.apigateway.models import add_default_models
from controller.apigateway.records import (
    find_api,
    get_account_item,
    new_id,
    now,
    operation,
    page,
    put_account_item,
    put_item,
    resource_arn,
    tags_of,
    touch,
)
from controller.apigateway.state import account_items, rest_apis
from controller.iam import policy

ENDPOINT_TYPES = ("REGIONAL", "EDGE", "PRIVATE")
KEY_SOURCES = ("HEADER", "AUTHORIZER")

UPDATE_RULES = (
    patch.Rule("/name"), patch.Rule("/description"), patch.Rule("/version"), patch.Rule("/policy"),
    patch.Rule("/apiKeySource"), patch.Rule("/minimumCompressionSize", "int"),
    patch.Rule("/binaryMediaTypes/*", "item"), patch.Rule("/endpointConfiguration/types/*", "item"),
    patch.Rule("/endpointConfiguration/vpcEndpointIds/*", "item"),
    patch.Rule("/disableExecuteApiEndpoint", "bool"),
)


def expand_policy(text: str, arn_prefix: str) -> str:
    """The resource policy as API Gateway stores it: ``execute-api:/stage/METHOD/path`` resources written out
    as ARNs under ``arn_prefix`` (``arn:aws:execute-api:{region}:{account}:{api-id}``), checked by the IAM
    engine's parser so the data plane never meets a policy it cannot evaluate."""
    try:
        document = json.loads(text)
    except ValueError:
        raise errors.BadRequestException("Invalid policy document: it is not valid JSON.") from None
    statements = document.get("Statement") if isinstance(document, dict) else None
    for statement in statements if isinstance(statements, list) else [statements]:
        for member in ("Resource", "NotResource"):
            value = statement.get(member) if isinstance(statement, dict) else None
            if isinstance(value, str | list):
                expanded = [arn_prefix + part.removeprefix("execute-api:") if isinstance(part, str) and
                            part.startswith("execute-api:/") else part
                            for part in ([value] if isinstance(value, str) else value)]
                statement[member] = expanded[0] if isinstance(value, str) else expanded
    written = json.dumps(document)
    try:
        policy.parse_policy(written, policy_id="ResourcePolicy", source_type="resource")
    except policy.PolicyError as error:
        raise errors.BadRequestException(f"Invalid policy document: {error}") from None
    return written


def check_api(doc: dict[str, Any]) -> None:
    """The rules a REST API's document must satisfy after a create or an update."""
    if not doc.get("name"):
        raise errors.BadRequestException("The name of the REST API must not be empty.")
    if doc.get("apiKeySource") not in KEY_SOURCES:
        raise errors.BadRequestException(
            f"Invalid apiKeySource {doc.get('apiKeySource')!r}: must be one of {', '.join(KEY_SOURCES)}.")
    types = (doc.get("endpointConfiguration") or {}).get("types") or []
    if len(types) != 1 or types[0] not in ENDPOINT_TYPES:
        raise errors.BadRequestException(
            f"Invalid endpoint configuration types {types}: exactly one of {', '.join(ENDPOINT_TYPES)}.")
    size = doc.get("minimumCompressionSize")
    if size is not None and not 0 <= size <= 10485760:
        raise errors.BadRequestException("minimumCompressionSize must be between 0 and 10485760.")


@operation("CreateRestApi")
def create_rest_api(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("cloneFrom"):
        raise errors.BadRequestException("cloneFrom is not supported by this cloud.")
    with ctx.cloud.db.begin() as conn:
        return insert_api(conn, ctx, params)


def insert_api(conn: Connection, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """A new REST API from CreateRestApi's members, with its root resource and default models."""
    api_id, root_id = new_id(10), new_id(10)
    endpoint = params.get("endpointConfiguration") or {}
    doc: dict[str, Any] = {
        "id": api_id, "name": params.get("name"), "createdDate": now(),
        "apiKeySource": params.get("apiKeySource") or "HEADER",
        "endpointConfiguration": {"types": endpoint.get("types") or ["EDGE"],
                                  **({"vpcEndpointIds": endpoint["vpcEndpointIds"]}
                                     if endpoint.get("vpcEndpointIds") else {})},
        "disableExecuteApiEndpoint": bool(params.get("disableExecuteApiEndpoint")),
        "rootResourceId": root_id, "tags": tags_of(params),
    }
    for member in ("description", "version", "policy", "minimumCompressionSize", "binaryMediaTypes"):
        if params.get(member) is not None:
            doc[member] = params[member]
    if doc.get("policy"):
        doc["policy"] = expand_policy(doc["policy"], f"arn:aws:execute-api:{ctx.region}:{ctx.account_id}:{api_id}")
    check_api(doc)
    conn.execute(insert(rest_apis).values(api_id=api_id, account_id=ctx.account_id, region=ctx.region,
                                          created_at=now(), revision=0, doc=doc))
    put_item(conn, api_id, "resource", root_id, {"id": root_id, "path": "/"})
    add_default_models(conn, api_id)
    ctx.audit_resources.append(resource_arn(ctx.region, f"/restapis/{api_id}"))
    return doc


@operation("GetRestApi")
def get_rest_api(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        return find_api(conn, ctx, params["restApiId"])["doc"]


@operation("GetRestApis")
def get_rest_apis(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        docs = [row[0] for row in conn.execute(select(rest_apis.c.doc).where(
            rest_apis.c.account_id == ctx.account_id, rest_apis.c.region == ctx.region).order_by(
            rest_apis.c.created_at, rest_apis.c.api_id))]
    return page(docs, params)


@operation("UpdateRestApi")
def update_rest_api(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        row = find_api(conn, ctx, params["restApiId"])
        doc = patch.apply(row["doc"], params.get("patchOperations") or [], UPDATE_RULES)
        if doc.get("policy") and doc["policy"] != row["doc"].get("policy"):
            doc["policy"] = expand_policy(doc["policy"],
                                          f"arn:aws:execute-api:{ctx.region}:{ctx.account_id}:{row['api_id']}")
        check_api(doc)
        touch(conn, row["api_id"], doc)
    return doc


@operation("DeleteRestApi")
def delete_rest_api(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        row = find_api(conn, ctx, params["restApiId"])
        conn.execute(delete(rest_apis).where(rest_apis.c.api_id == row["api_id"]))
        _forget_in_usage_plans(conn, ctx, row["api_id"])
    return {}


def _forget_in_usage_plans(conn: Any, ctx: RequestContext, api_id: str) -> None:
    """A deleted API leaves the usage plans that listed its stages, as in AWS."""
    rows = conn.execute(select(account_items.c.item_id, account_items.c.doc).where(
        account_items.c.account_id == ctx.account_id, account_items.c.region == ctx.region,
        account_items.c.kind == "usageplan")).all()
    for item_id, doc in rows:
        kept = [entry for entry in doc.get("apiStages") or [] if entry.get("apiId") != api_id]
        if len(kept) != len(doc.get("apiStages") or []):
            conn.execute(account_items.update().where(
                account_items.c.account_id == ctx.account_id, account_items.c.region == ctx.region,
                account_items.c.kind == "usageplan", account_items.c.item_id == item_id).values(
                doc={**doc, "apiStages": kept}))


ACCOUNT_RULES = (patch.Rule("/cloudwatchRoleArn"),)


def _account(conn: Connection, ctx: RequestContext) -> dict[str, Any]:
    """The account-level settings: AWS's default throttle (10,000 rps, burst 5,000), the key version and
    the CloudWatch role the account set (UpdateAccount)."""
    stored = get_account_item(conn, ctx.account_id, ctx.region, "account", "settings") or {}
    return {"throttleSettings": {"burstLimit": 5000, "rateLimit": 10000.0}, "features": [], "apiKeyVersion": "4",
            **stored}


@operation("GetAccount")
def get_account(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        return _account(conn, ctx)


@operation("UpdateAccount")
def update_account(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        stored = get_account_item(conn, ctx.account_id, ctx.region, "account", "settings") or {}
        changed = patch.apply(stored, params.get("patchOperations") or [], ACCOUNT_RULES)
        role = changed.get("cloudwatchRoleArn")
        if role is not None and not (role.startswith("arn:aws:iam::") and ":role/" in role):
            raise errors.BadRequestException(f"The role ARN is not well formed: {role}")
        put_account_item(conn, ctx, "account", "settings", changed)
        return _account(conn, ctx)
