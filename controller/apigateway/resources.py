"""Resources: the tree of path parts under an API's root, with ``{param}`` and greedy ``{proxy+}`` parts.

The path rules are AWS's: a part is literal (``a-zA-Z0-9._-:``) or one variable in braces; siblings
have distinct parts and at most one variable among them; nothing goes below a greedy ``{name+}``.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection

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

_LITERAL = re.compile(r"[a-zA-Z0-9._\-:]+")
_VARIABLE = re.compile(r"\{[a-zA-Z0-9._\-]+\+?\}")
UPDATE_RULES = (patch.Rule("/pathPart"), patch.Rule("/parentId"))


def check_path_part(part: str) -> None:
    """BadRequestException unless ``part`` is a literal or a single ``{name}``/``{name+}`` variable."""
    if not part or not (_LITERAL.fullmatch(part) or _VARIABLE.fullmatch(part)):
        raise errors.BadRequestException(
            "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end "
            "and an optional plus sign before the closing brace.")


def is_variable(part: str) -> bool:
    return part.startswith("{")


def is_greedy(part: str) -> bool:
    return part.endswith("+}")


def check_siblings(part: str, siblings: list[dict[str, Any]], parent: dict[str, Any]) -> None:
    """The rules a new part must keep with its parent and its siblings (pure: the unit tests use it)."""
    if is_greedy(parent.get("pathPart", "")):
        raise errors.BadRequestException(
            f"Cannot create a child of a resource with a greedy path variable: {parent['pathPart']}")
    for sibling in siblings:
        if sibling.get("pathPart") == part:
            raise errors.ConflictException(f"Another resource with the same parent already has this name: {part}")
        if is_variable(part) and is_variable(sibling.get("pathPart", "")):
            raise errors.BadRequestException(
                f"A sibling ({sibling['id']}) of this resource already has a variable path part -- "
                "only one is allowed")


def child_path(parent_path: str, part: str) -> str:
    return ("" if parent_path == "/" else parent_path) + "/" + part


def resource_docs(conn: Connection, api_id: str) -> list[dict[str, Any]]:
    return [doc for _, doc in list_items(conn, api_id, "resource")]


def with_methods(conn: Connection, api_id: str, doc: dict[str, Any], embed: bool) -> dict[str, Any]:
    """A resource as GetResource shows it: ``resourceMethods`` empty per method, or whole when embedded."""
    methods = {doc_method["httpMethod"]: (doc_method if embed else {})
               for item_id, doc_method in list_items(conn, api_id, "method")
               if item_id.split(" ", 1)[0] == doc["id"]}
    return {**doc, "resourceMethods": methods} if methods else dict(doc)


def _embed(params: dict[str, Any]) -> bool:
    return "methods" in (params.get("embed") or [])


@operation("CreateResource")
def create_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    part = params["pathPart"]
    check_path_part(part)
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        parent = need_item(conn, api_id, "resource", params["parentId"], "Resource")
        siblings = [doc for doc in resource_docs(conn, api_id) if doc.get("parentId") == parent["id"]]
        check_siblings(part, siblings, parent)
        resource_id = new_id(6)
        doc = {"id": resource_id, "parentId": parent["id"], "pathPart": part,
               "path": child_path(parent["path"], part)}
        put_item(conn, api_id, "resource", resource_id, doc)
    return doc


@operation("GetResource")
def get_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        doc = need_item(conn, api_id, "resource", params["resourceId"], "Resource")
        return with_methods(conn, api_id, doc, _embed(params))


@operation("GetResources")
def get_resources(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        docs = [with_methods(conn, api_id, doc, _embed(params)) for doc in resource_docs(conn, api_id)]
    return page(docs, params)


@operation("UpdateResource")
def update_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        doc = need_item(conn, api_id, "resource", params["resourceId"], "Resource")
        if "parentId" not in doc:
            raise errors.BadRequestException("The root resource cannot be updated.")
        changed = patch.apply(doc, params.get("patchOperations") or [], UPDATE_RULES)
        check_path_part(changed["pathPart"])
        everything = resource_docs(conn, api_id)
        parent = next((item for item in everything if item["id"] == changed["parentId"]), None)
        if parent is None:
            raise errors.not_found("Resource", changed["parentId"])
        if parent["id"] == doc["id"] or _is_below(everything, parent["id"], doc["id"]):
            raise errors.BadRequestException("A resource cannot be moved below itself.")
        siblings = [item for item in everything
                    if item.get("parentId") == parent["id"] and item["id"] != doc["id"]]
        check_siblings(changed["pathPart"], siblings, parent)
        changed["path"] = child_path(parent["path"], changed["pathPart"])
        put_item(conn, api_id, "resource", doc["id"], changed)
        _repath_children(conn, api_id, everything, changed)
    return changed


def _is_below(everything: list[dict[str, Any]], resource_id: str, ancestor_id: str) -> bool:
    by_id = {item["id"]: item for item in everything}
    current = by_id.get(resource_id)
    while current is not None and current.get("parentId"):
        if current["parentId"] == ancestor_id:
            return True
        current = by_id.get(current["parentId"])
    return False


def _repath_children(conn: Connection, api_id: str, everything: list[dict[str, Any]],
                     parent: dict[str, Any]) -> None:
    for child in everything:
        if child.get("parentId") == parent["id"]:
            moved = {**child, "path": child_path(parent["path"], child["pathPart"])}
            put_item(conn, api_id, "resource", child["id"], moved)
            _repath_children(conn, api_id, everything, moved)


@operation("DeleteResource")
def delete_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        doc = need_item(conn, api_id, "resource", params["resourceId"], "Resource")
        if "parentId" not in doc:
            raise errors.BadRequestException("Cannot delete root resource")
        everything = resource_docs(conn, api_id)
        doomed = {doc["id"]} | {item["id"] for item in everything if _is_below(everything, item["id"], doc["id"])}
        for item_id, _ in list_items(conn, api_id, "method"):
            if item_id.split(" ", 1)[0] in doomed:
                delete_item(conn, api_id, "method", item_id)
        for resource_id in doomed:
            delete_item(conn, api_id, "resource", resource_id)
    return {}
