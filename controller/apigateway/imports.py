"""ImportRestApi and PutRestApi: a REST API from an OpenAPI document (see :mod:`openapi`).

Everything is checked before anything is written, in one transaction: a path part, method or
integration the document gets wrong refuses the whole import with AWS's BadRequestException, and
``failOnWarnings`` turns warnings (a method without an integration) into that refusal too. PutRestApi's
``overwrite`` mode replaces the API's resources, methods and authorizers; ``merge`` adds to them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.apigateway import errors, openapi
from controller.apigateway.authorizers import check_authorizer
from controller.apigateway.integrations import check_integration
from controller.apigateway.methods import check_method, method_key
from controller.apigateway.records import (
    delete_item,
    find_api,
    list_items,
    new_id,
    operation,
    put_item,
    touch,
)
from controller.apigateway.resources import check_path_part, check_siblings, child_path
from controller.apigateway.rest_apis import check_api, expand_policy, insert_api


def _body(params: dict[str, Any]) -> bytes:
    body = params.get("body") or b""
    if hasattr(body, "read"):
        body = body.read()
    return body.encode() if isinstance(body, str) else bytes(body)


def _definition(params: dict[str, Any]) -> openapi.Definition:
    definition = openapi.read(openapi.load(_body(params)))
    if params.get("failOnWarnings") and definition.warnings:
        raise errors.BadRequestException("Warnings found during import:\n\t" + "\n\t".join(definition.warnings))
    return definition


def _endpoint_types(params: dict[str, Any]) -> list[str] | None:
    wanted = (params.get("parameters") or {}).get("endpointConfigurationTypes")
    return [wanted.upper()] if wanted else None


def _apply(conn: Connection, api_id: str, api: dict[str, Any], definition: openapi.Definition, mode: str) -> None:
    """Write ``definition`` into the API: resources along every path, authorizers, methods."""
    resources = {doc["path"]: doc for _, doc in list_items(conn, api_id, "resource")}
    if mode == "overwrite":
        for item_id, _ in list_items(conn, api_id, "method"):
            delete_item(conn, api_id, "method", item_id)
        for path, doc in list(resources.items()):
            if path != "/":
                delete_item(conn, api_id, "resource", doc["id"])
                del resources[path]
        for item_id, _ in list_items(conn, api_id, "authorizer"):
            delete_item(conn, api_id, "authorizer", item_id)
    authorizer_ids = {doc["name"]: doc["id"] for _, doc in list_items(conn, api_id, "authorizer")}
    for name, authorizer in definition.authorizers.items():
        check_authorizer(authorizer)
        authorizer_id = authorizer_ids.get(name) or new_id(6)
        authorizer_ids[name] = authorizer_id
        put_item(conn, api_id, "authorizer", authorizer_id, {"id": authorizer_id, **authorizer})
    for path, methods in definition.paths.items():
        resource = _ensure_path(conn, api_id, resources, path)
        for http_method, method in methods.items():
            doc = dict(method)
            name = doc.pop("authorizerName", None)
            if name is not None:
                doc["authorizerId"] = authorizer_ids[name]
            check_method(conn, api_id, doc)
            if "methodIntegration" in doc:
                integration = doc["methodIntegration"]
                integration.setdefault("cacheNamespace", resource["id"])
                check_integration(integration)
            put_item(conn, api_id, "method", method_key(resource["id"], http_method), doc)
    touch(conn, api_id, api)


def _ensure_path(conn: Connection, api_id: str, resources: dict[str, dict[str, Any]], path: str) -> dict[str, Any]:
    current = resources["/"]
    for part in [segment for segment in path.split("/") if segment]:
        wanted = child_path(current["path"], part)
        if wanted not in resources:
            check_path_part(part)
            siblings = [doc for doc in resources.values() if doc.get("parentId") == current["id"]]
            check_siblings(part, siblings, current)
            resource_id = new_id(6)
            resources[wanted] = {"id": resource_id, "parentId": current["id"], "pathPart": part, "path": wanted}
            put_item(conn, api_id, "resource", resource_id, resources[wanted])
        current = resources[wanted]
    return current


def _described(ctx: RequestContext, api: dict[str, Any], definition: openapi.Definition) -> dict[str, Any]:
    changed = {**api, "name": definition.name}
    for member, value in (("description", definition.description), ("version", definition.version),
                          ("apiKeySource", definition.api_key_source)):
        if value is not None:
            changed[member] = value
    if definition.policy is not None:
        changed["policy"] = expand_policy(definition.policy,
                                          f"arn:aws:execute-api:{ctx.region}:{ctx.account_id}:{api['id']}")
    if definition.binary_media_types:
        changed["binaryMediaTypes"] = definition.binary_media_types
    changed.pop("warnings", None)
    check_api(changed)
    return changed


def _answer(api: dict[str, Any], definition: openapi.Definition) -> dict[str, Any]:
    """The API as the import leaves it, with the import's warnings (which are not stored)."""
    return {**api, "warnings": definition.warnings} if definition.warnings else api


@operation("ImportRestApi")
def import_rest_api(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    definition = _definition(params)
    create: dict[str, Any] = {"name": definition.name}
    types = _endpoint_types(params)
    if types:
        create["endpointConfiguration"] = {"types": types}
    with ctx.cloud.db.begin() as conn:
        api = insert_api(conn, ctx, create)
        described = _described(ctx, api, definition)
        _apply(conn, api["id"], described, definition, "overwrite")
    return _answer(described, definition)


@operation("PutRestApi")
def put_rest_api(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    mode = params.get("mode") or "merge"
    if mode not in ("merge", "overwrite"):
        raise errors.BadRequestException(f"Invalid mode {mode!r}: merge or overwrite.")
    definition = _definition(params)
    with ctx.cloud.db.begin() as conn:
        row = find_api(conn, ctx, params["restApiId"])
        described = _described(ctx, row["doc"], definition)
        types = _endpoint_types(params)
        if types:
            described["endpointConfiguration"] = {**described["endpointConfiguration"], "types": types}
            check_api(described)
        _apply(conn, row["api_id"], described, definition, mode)
    return _answer(described, definition)
