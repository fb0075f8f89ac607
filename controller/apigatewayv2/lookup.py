"""What the execute-api data plane reads of HTTP APIs: whether an id is one, and a stage's deployed view.

Only these functions are for other packages (the data plane's dispatch and pipeline); the tables stay
this package's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from controller.apigatewayv2.state import apis, items


@dataclass(frozen=True)
class HttpStageView:
    """One stage of an HTTP API as the data plane serves it: the deployment it points at, frozen.

    ``routes``, ``integrations`` and ``authorizers`` are the Get* shapes as deployed; ``cors`` the API's
    CorsConfiguration at that deployment (None: no CORS); ``stage_path`` is ``""`` for ``$default``.
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
        return conn.execute(select(apis.c.api_id).where(apis.c.api_id == api_id)).first() is not None


def stages_of(cloud: Any, api_id: str) -> dict[str, dict[str, Any]]:
    """The API's stages by name (GetStage shapes); empty for an unknown API."""
    with cloud.db.read() as conn:
        rows = conn.execute(select(items.c.item_id, items.c.doc).where(
            items.c.api_id == api_id, items.c.kind == "stage"))
        return {row.item_id: dict(row.doc) for row in rows}


def stage_view(cloud: Any, api_id: str, stage_name: str) -> HttpStageView | None:
    """The deployed view of ``stage_name``; None when the API, the stage or its deployment is missing."""
    with cloud.db.read() as conn:
        api_row = conn.execute(select(apis).where(apis.c.api_id == api_id)).mappings().first()
        stage = conn.execute(select(items.c.doc).where(
            items.c.api_id == api_id, items.c.kind == "stage", items.c.item_id == stage_name)).scalar()
        if api_row is None or stage is None or not stage.get("DeploymentId"):
            return None
        deployment = conn.execute(select(items.c.doc).where(
            items.c.api_id == api_id, items.c.kind == "deployment",
            items.c.item_id == stage["DeploymentId"])).scalar()
    if deployment is None:
        return None
    snap = deployment["snapshot"]
    return HttpStageView(
        api=dict(api_row["doc"]), stage=stage, routes=snap["routes"],
        integrations={item["IntegrationId"]: item for item in snap["integrations"]},
        authorizers={item["AuthorizerId"]: item for item in snap["authorizers"]}, cors=snap.get("cors"),
        account_id=api_row["account_id"], region=api_row["region"])
