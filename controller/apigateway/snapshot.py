"""What the execute-api data plane reads of a REST API: one stage, frozen as it is served.

A deployment freezes the API's resources, methods, integrations and authorizers when it is created
(stored as its ``snapshot`` item), so a stage serves what was deployed, not what has been edited since;
the stage itself (variables, canary, method settings), the API (policy, key source, binary types) and
its gateway responses are live, as in AWS. Everything here is read-only.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select

from controller.apigateway.state import account_items, items, rest_apis


@dataclass(frozen=True)
class StageView:
    """One stage of one REST API, as an invocation needs it.

    ``api``: GetRestApi's shape. ``stage``: GetStage's shape (``variables``, ``canarySettings``,
    ``methodSettings`` keyed ``"<resource path without its leading />/<METHOD>"`` or ``"*/*"``).
    ``deployment``: ``{"resources": [GetResource shapes with "resourceMethods": {METHOD: GetMethod shape
    with "methodIntegration" (and its "integrationResponses")}], "authorizers": [GetAuthorizer shapes],
    "requestValidators": [GetRequestValidator shapes], "models": [GetModel shapes]}``.
    ``canary_deployment``: the same for ``canarySettings.deploymentId`` (None without a canary).
    ``gateway_responses``: responseType -> GetGatewayResponse shape, for the types the API customized.
    """

    api: dict[str, Any]
    stage: dict[str, Any]
    deployment: dict[str, Any]
    canary_deployment: dict[str, Any] | None
    gateway_responses: dict[str, dict[str, Any]]
    account_id: str
    region: str


# Statements built once (constants, not state): building SQLAlchemy expressions costs more than running them,
# and stage_view runs on every invoke.
_REVISION = select(rest_apis.c.revision).where(rest_apis.c.api_id == bindparam("api_id"))
_API = select(rest_apis.c.doc, rest_apis.c.account_id, rest_apis.c.region).where(
    rest_apis.c.api_id == bindparam("api_id"))
_EXISTS = select(rest_apis.c.api_id).where(rest_apis.c.api_id == bindparam("api_id"))
_ITEM = select(items.c.doc).where(items.c.api_id == bindparam("api_id"), items.c.kind == bindparam("kind"),
                                  items.c.item_id == bindparam("item_id"))
_RESPONSES = select(items.c.item_id, items.c.doc).where(items.c.api_id == bindparam("api_id"),
                                                        items.c.kind == "gatewayresponse")


def _item(conn: Connection, api_id: str, kind: str, item_id: str) -> dict[str, Any] | None:
    row = conn.execute(_ITEM, {"api_id": api_id, "kind": kind, "item_id": item_id}).first()
    return row[0] if row else None


class ViewCache:
    """Stage views by (API, stage) with the API revision they were read at: every write to an API counts a
    revision (records.touch), so a view is served from here only while its API is unchanged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._views: dict[tuple[str, str], tuple[int, StageView | None]] = {}

    def get(self, key: tuple[str, str], revision: int) -> tuple[bool, StageView | None]:
        with self._lock:
            found = self._views.get(key)
        return (True, found[1]) if found is not None and found[0] == revision else (False, None)

    def put(self, key: tuple[str, str], revision: int, view: StageView | None) -> None:
        with self._lock:
            if len(self._views) > 10_000:
                self._views.clear()
            self._views[key] = (revision, view)


def _views(cloud: Any) -> ViewCache:
    if cloud.apigateway_views is None:  # two first callers may make two caches: one is kept, both are correct
        cloud.apigateway_views = ViewCache()
    return cloud.apigateway_views


def stage_view(cloud: Any, api_id: str, stage: str) -> StageView | None:
    """The stage ``stage`` of REST API ``api_id``, or None when either does not exist.

    Read on every invoke: one primary-key lookup of the API's revision when the cached view is current,
    else a few more in the same read transaction.
    """
    cache = _views(cloud)
    with cloud.db.read() as conn:
        revision = conn.execute(_REVISION, {"api_id": api_id}).scalar()
        if revision is None:
            return None
        hit, view = cache.get((api_id, stage), revision)
        if hit:
            return view
        view = _read_view(conn, api_id, stage)
    cache.put((api_id, stage), revision, view)
    return view


def _read_view(conn: Connection, api_id: str, stage: str) -> StageView | None:
    api_row = conn.execute(_API, {"api_id": api_id}).first()
    if api_row is None:
        return None
    stage_doc = _item(conn, api_id, "stage", stage)
    if stage_doc is None:
        return None
    deployment = _item(conn, api_id, "snapshot", stage_doc.get("deploymentId", "")) or {
        "resources": [], "authorizers": []}
    canary = None
    canary_id = (stage_doc.get("canarySettings") or {}).get("deploymentId")
    if canary_id:
        canary = _item(conn, api_id, "snapshot", canary_id)
    responses = {item_id: doc for item_id, doc in conn.execute(_RESPONSES, {"api_id": api_id})}
    return StageView(api=api_row[0], stage=stage_doc, deployment=deployment, canary_deployment=canary,
                     gateway_responses=responses, account_id=api_row[1], region=api_row[2])


def rest_api_exists(cloud: Any, api_id: str) -> bool:
    with cloud.db.read() as conn:
        return conn.execute(_EXISTS, {"api_id": api_id}).first() is not None


def usage_plans_for(cloud: Any, api_id: str, stage: str) -> list[dict[str, Any]]:
    """The usage plans (GetUsagePlan shapes) whose ``apiStages`` include this API's stage."""
    with cloud.db.read() as conn:
        owner = conn.execute(select(rest_apis.c.account_id, rest_apis.c.region).where(
            rest_apis.c.api_id == api_id)).first()
        if owner is None:
            return []
        docs = [row[0] for row in conn.execute(select(account_items.c.doc).where(
            account_items.c.account_id == owner[0], account_items.c.region == owner[1],
            account_items.c.kind == "usageplan"))]
    return [doc for doc in docs if any(entry.get("apiId") == api_id and entry.get("stage") == stage
                                       for entry in doc.get("apiStages") or ())]


def api_key_by_value(cloud: Any, value: str) -> dict[str, Any] | None:
    """The API key (GetApiKey's shape with ``value`` and ``enabled``) whose value is ``value``."""
    with cloud.db.read() as conn:
        row = conn.execute(select(account_items.c.doc).where(
            account_items.c.kind == "apikey", account_items.c.lookup == value)).first()
    return row[0] if row else None


def plan_key_ids(cloud: Any, plan_id: str) -> set[str]:
    """The ids of the API keys added to usage plan ``plan_id``."""
    with cloud.db.read() as conn:
        rows = conn.execute(select(account_items.c.doc).where(
            account_items.c.kind == "plankey", account_items.c.lookup == plan_id))
        return {row[0]["id"] for row in rows}
