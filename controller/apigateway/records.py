"""What every API Gateway module shares: ids, the operation decorator with AWS's IAM model, lookups of
stored items, and paging.

API Gateway authorizes its control plane by HTTP method and resource path: the action is
``apigateway:<METHOD>`` and the resource ``arn:aws:apigateway:{region}::<request path>``, so both come
from the operation's botocore URI template filled with the request's own values.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
import time
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from controller.api import RequestContext
from controller.apigateway import errors
from controller.apigateway.service import api
from controller.apigateway.state import account_items, items, rest_apis
from controller.protocol.models import load_service_model

_ID_ALPHABET = string.ascii_lowercase + string.digits
DEFAULT_LIMIT = 25
MAX_LIMIT = 500


def new_id(length: int = 10) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def now() -> float:
    return float(int(time.time()))


@cache
def _uri_of(operation: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(HTTP method, URI template without its query, (label, member) pairs) of an apigateway operation."""
    model = load_service_model("apigateway").operation_model(operation)
    labels: list[tuple[str, str]] = []
    if model.input_shape is not None:
        for member, shape in model.input_shape.members.items():
            if shape.serialization.get("location") == "uri":
                labels.append((shape.serialization.get("name", member), member))
    return model.http["method"], model.http["requestUri"].split("?", 1)[0], tuple(labels)


def resource_arn(region: str, path: str) -> str:
    return f"arn:aws:apigateway:{region}::{path}"


def _uri_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    if ctx.operation in ("TagResource", "UntagResource", "GetTags"):
        return [params.get("resourceArn") or "*"]
    _, template, labels = _uri_of(ctx.operation)
    path = template
    for label, member in labels:
        path = path.replace("{" + label + "+}", str(params.get(member, ""))).replace(
            "{" + label + "}", str(params.get(member, "")))
    return [resource_arn(ctx.region, path)]


def operation(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``name`` on the apigateway ServiceApi, authorized as ``apigateway:<METHOD>`` on its path."""
    method, _, _ = _uri_of(name)
    return api.operation(name, action=f"apigateway:{method}", resources=_uri_resources)


# --- REST APIs -----------------------------------------------------------------------------------------

def find_api(conn: Connection, ctx: RequestContext, api_id: str) -> dict[str, Any]:
    """The caller's REST API row (with ``doc``), or AWS's NotFoundException."""
    row = conn.execute(select(rest_apis).where(
        rest_apis.c.api_id == api_id, rest_apis.c.account_id == ctx.account_id,
        rest_apis.c.region == ctx.region)).mappings().first()
    if row is None:
        raise errors.invalid_api(ctx.account_id, api_id)
    return dict(row)


def touch(conn: Connection, api_id: str, doc: dict[str, Any] | None = None) -> None:
    """Count a write to the API (stage views cached against ``revision`` go stale); store ``doc`` if given."""
    values: dict[str, Any] = {"revision": rest_apis.c.revision + 1}
    if doc is not None:
        values["doc"] = doc
    conn.execute(update(rest_apis).where(rest_apis.c.api_id == api_id).values(**values))


# --- items of an API -----------------------------------------------------------------------------------

def get_item(conn: Connection, api_id: str, kind: str, item_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(items.c.doc).where(
        items.c.api_id == api_id, items.c.kind == kind, items.c.item_id == item_id)).first()
    return row[0] if row else None


def need_item(conn: Connection, api_id: str, kind: str, item_id: str, what: str) -> dict[str, Any]:
    doc = get_item(conn, api_id, kind, item_id)
    if doc is None:
        raise errors.not_found(what)
    return doc


def list_items(conn: Connection, api_id: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
    rows = conn.execute(select(items.c.item_id, items.c.doc).where(
        items.c.api_id == api_id, items.c.kind == kind).order_by(items.c.created_at, items.c.item_id))
    return [(row[0], row[1]) for row in rows]


def put_item(conn: Connection, api_id: str, kind: str, item_id: str, doc: dict[str, Any]) -> None:
    """Insert or replace one item, and count the write against the API."""
    found = conn.execute(select(items.c.item_id).where(
        items.c.api_id == api_id, items.c.kind == kind, items.c.item_id == item_id)).first()
    if found:
        conn.execute(update(items).where(items.c.api_id == api_id, items.c.kind == kind,
                                         items.c.item_id == item_id).values(doc=doc))
    else:
        conn.execute(insert(items).values(api_id=api_id, kind=kind, item_id=item_id, created_at=time.time(),
                                          doc=doc))
    touch(conn, api_id)


def delete_item(conn: Connection, api_id: str, kind: str, item_id: str) -> None:
    conn.execute(delete(items).where(items.c.api_id == api_id, items.c.kind == kind,
                                     items.c.item_id == item_id))
    touch(conn, api_id)


# --- account-level items (API keys, usage plans, usage plan keys) -------------------------------------

def get_account_item(conn: Connection, account_id: str, region: str, kind: str,
                     item_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(account_items.c.doc).where(
        account_items.c.account_id == account_id, account_items.c.region == region,
        account_items.c.kind == kind, account_items.c.item_id == item_id)).first()
    return row[0] if row else None


def list_account_items(conn: Connection, account_id: str, region: str, kind: str,
                       lookup: str | None = None) -> list[dict[str, Any]]:
    query = select(account_items.c.doc).where(
        account_items.c.account_id == account_id, account_items.c.region == region,
        account_items.c.kind == kind)
    if lookup is not None:
        query = query.where(account_items.c.lookup == lookup)
    return [row[0] for row in conn.execute(query.order_by(account_items.c.created_at, account_items.c.item_id))]


def put_account_item(conn: Connection, ctx: RequestContext, kind: str, item_id: str, doc: dict[str, Any],
                     lookup: str | None = None) -> None:
    keys = (account_items.c.account_id == ctx.account_id, account_items.c.region == ctx.region,
            account_items.c.kind == kind, account_items.c.item_id == item_id)
    if conn.execute(select(account_items.c.item_id).where(*keys)).first():
        conn.execute(update(account_items).where(*keys).values(doc=doc, lookup=lookup))
    else:
        conn.execute(insert(account_items).values(
            account_id=ctx.account_id, region=ctx.region, kind=kind, item_id=item_id, lookup=lookup,
            created_at=time.time(), doc=doc))


def delete_account_items(conn: Connection, ctx: RequestContext, kind: str, *, item_id: str | None = None,
                         lookup: str | None = None) -> None:
    query = delete(account_items).where(account_items.c.account_id == ctx.account_id,
                                        account_items.c.region == ctx.region, account_items.c.kind == kind)
    if item_id is not None:
        query = query.where(account_items.c.item_id == item_id)
    if lookup is not None:
        query = query.where(account_items.c.lookup == lookup)
    conn.execute(query)


# --- paging --------------------------------------------------------------------------------------------

def page(docs: Iterable[dict[str, Any]], params: dict[str, Any], key: str = "id") -> dict[str, Any]:
    """One page of ``docs`` in AWS's ``{"items": [...], "position": ...}`` form.

    ``position`` is opaque to clients: here the key of the last item returned, encoded.
    """
    limit = params.get("limit") or DEFAULT_LIMIT
    if limit < 1 or limit > MAX_LIMIT:
        raise errors.BadRequestException(f"Invalid limit {limit}: it must be between 1 and {MAX_LIMIT}.")
    listed = list(docs)
    start = 0
    if params.get("position"):
        try:
            after = base64.urlsafe_b64decode(params["position"].encode()).decode()
        except (binascii.Error, UnicodeError, ValueError):
            raise errors.BadRequestException("Invalid position parameter") from None
        keys = [str(doc.get(key)) for doc in listed]
        if after not in keys:
            raise errors.BadRequestException("Invalid position parameter")
        start = keys.index(after) + 1
    chosen = listed[start:start + limit]
    answer: dict[str, Any] = {"items": chosen}
    if start + limit < len(listed):
        answer["position"] = base64.urlsafe_b64encode(str(chosen[-1].get(key)).encode()).decode()
    return answer


def tags_of(params: dict[str, Any]) -> dict[str, str]:
    tags = params.get("tags") or {}
    if len(tags) > 50:
        raise errors.BadRequestException("Too many tags: a resource can have at most 50.")
    for tag_key in tags:
        if tag_key.lower().startswith("aws:"):
            raise errors.BadRequestException(f"Tag keys may not start with 'aws:': {tag_key}")
    return dict(tags)
