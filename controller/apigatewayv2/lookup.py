"""What the execute-api data plane reads of HTTP APIs: whether an id is one, and a stage's deployed view.

Only these functions are for other packages (the data plane's dispatch and pipeline); the tables stay
this package's own. They run on every invoke, so their statements are built once (building SQLAlchemy
expressions costs more than running them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select

from controller.apigatewayv2.state import apis, items

_EXISTS = select(apis.c.api_id).where(apis.c.api_id == bindparam("api_id"))
_API = select(apis.c.account_id, apis.c.region, apis.c.doc).where(apis.c.api_id == bindparam("api_id"))
_STAGES = select(items.c.item_id, items.c.doc).where(items.c.api_id == bindparam("api_id"),
                                                     items.c.kind == "stage")
_DEPLOYMENT = select(items.c.doc).where(items.c.api_id == bindparam("api_id"), items.c.kind == "deployment",
                                        items.c.item_id == bindparam("item_id"))


@dataclass(frozen=True)
class HttpStageView:
    """One stage of an HTTP API as the data plane serves it: the deployment it points at, frozen.

    ``routes``, ``integrations`` and ``authorizers`` are the Get* shapes as deployed; ``cors`` the API's
    CorsConfiguration at that deployment (None: no CORS); ``api`` is the API as it is now.
    """

    api: dict[str, Any]
    stage: dict[str, Any]
    routes: list[dict[str, Any]]
    integrations: dict[str, dict[str, Any]]
    authorizers: dict[str, dict[str, Any]]
    cors: dict[str, Any] | None
    account_id: str
    region: str

    @property
    def stage_name(self) -> str:
        return self.stage["StageName"]


def http_api_exists(cloud: Any, api_id: str) -> bool:
    """Whether ``api_id`` is an HTTP API of this cloud (any account)."""
    with cloud.db.read() as conn:
        return conn.execute(_EXISTS, {"api_id": api_id}).first() is not None


def pick_stage(stage_names: set[str] | dict[str, Any], path: str) -> tuple[str, str] | None:
    """``(stage, path after it)`` for a request path: a named stage by its first segment, else ``$default``."""
    first, _, rest = path[1:].partition("/")
    if first and first != "$default" and first in stage_names:
        return first, "/" + rest
    if "$default" in stage_names:
        return "$default", path
    return None


def resolve(cloud: Any, api_id: str, path: str) -> tuple[HttpStageView, str] | None:
    """The deployed view of the stage ``path`` is for and the path after the stage; None when the API, the
    stage or its deployment is missing."""
    with cloud.db.read() as conn:
        stages = {row.item_id: row.doc for row in conn.execute(_STAGES, {"api_id": api_id})}
        picked = pick_stage(stages, path)
        if picked is None:
            return None
        view = _view(conn, api_id, stages[picked[0]])
    return (view, picked[1]) if view is not None else None


def stage_view(cloud: Any, api_id: str, stage_name: str) -> HttpStageView | None:
    """The deployed view of ``stage_name``; None when the API, the stage or its deployment is missing."""
    with cloud.db.read() as conn:
        stage = {row.item_id: row.doc for row in conn.execute(_STAGES, {"api_id": api_id})}.get(stage_name)
        return _view(conn, api_id, stage) if stage is not None else None


def _view(conn: Connection, api_id: str, stage: dict[str, Any]) -> HttpStageView | None:
    api_row = conn.execute(_API, {"api_id": api_id}).first()
    if api_row is None or not stage.get("DeploymentId"):
        return None
    deployment = conn.execute(_DEPLOYMENT, {"api_id": api_id, "item_id": stage["DeploymentId"]}).scalar()
    if deployment is None:
        return None
    snap = deployment["snapshot"]
    return HttpStageView(
        api=dict(api_row.doc), stage=stage, routes=snap["routes"],
        integrations={item["IntegrationId"]: item for item in snap["integrations"]},
        authorizers={item["AuthorizerId"]: item for item in snap["authorizers"]}, cors=snap.get("cors"),
        account_id=api_row.account_id, region=api_row.region)
