"""The reads and the update that every item kind of a REST API shares: authorizers, request validators and
models answer GetX, GetXs and UpdateX the same way and differ only in their kind, the parameter naming the
item, the word their NotFoundException uses and the check an updated item must pass.

Each kind's module registers its three operations here by name (``register_item_operations``), so
``GetAuthorizer`` is still found next to ``CreateAuthorizer`` in ``authorizers.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.api import RequestContext
from controller.apigateway import patch
from controller.apigateway.records import find_api, list_items, need_item, operation, page, put_item


def _unchecked(doc: dict[str, Any]) -> None:
    """An item kind whose updates need no check beyond the patch rules."""


@dataclass(frozen=True)
class ItemKind:
    """One kind of per-API item. ``key`` is the member of its document the item is stored under."""

    kind: str
    id_param: str
    what: str
    rules: tuple[patch.Rule, ...]
    check: Callable[[dict[str, Any]], None] = _unchecked
    key: str = "id"


def register_item_operations(item: ItemKind, *, get: str, get_all: str, update: str) -> None:
    """Register GetX, GetXs and UpdateX for ``item``."""

    def get_one(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.cloud.db.read() as conn:
            api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
            return need_item(conn, api_id, item.kind, params[item.id_param], item.what)

    def get_many(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.cloud.db.read() as conn:
            api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
            return page([doc for _, doc in list_items(conn, api_id, item.kind)], params)

    def update_one(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with ctx.cloud.db.begin() as conn:
            api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
            doc = need_item(conn, api_id, item.kind, params[item.id_param], item.what)
            changed = patch.apply(doc, params.get("patchOperations") or [], item.rules)
            item.check(changed)
            put_item(conn, api_id, item.kind, doc[item.key], changed)
        return changed

    operation(get)(get_one)
    operation(get_all)(get_many)
    operation(update)(update_one)
