"""What every HTTP API operation shares: ids, the IAM resources AWS authorizes, rows, paging, auto-deploy.

API Gateway authorizes its control plane as ``apigateway:<HTTP method>`` on the path of the resource
(``arn:aws:apigateway:{region}::/apis/{id}/routes/{routeId}``), not per operation, so each operation is
registered through :func:`operation` with its method and path template.
"""

from __future__ import annotations

import base64
import secrets
import string
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from controller.api import Handler, RequestContext
from controller.apigatewayv2 import errors
from controller.apigatewayv2.service import api
from controller.apigatewayv2.state import apis, items

_ALPHABET = string.ascii_lowercase + string.digits
#: The length of each kind's generated ids, as AWS makes them (ApiId 10, RouteId 7, AuthorizerId 6...).
ID_LENGTH = {"api": 10, "route": 7, "integration": 7, "authorizer": 6, "deployment": 6}
#: What a NotFoundException names for each kind.
KIND_NAME = {"route": "Route", "integration": "Integration", "authorizer": "Authorizer", "stage": "Stage",
             "deployment": "Deployment"}
DEFAULT_PAGE = 100


def new_id(kind: str) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(ID_LENGTH[kind]))


def now() -> float:
    return round(time.time(), 3)


def operation(name: str, method: str, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
    """Register ``name`` authorized as ``apigateway:<method>`` on ``path`` with the input's ids filled in."""

    def resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
        fields = {key: str(value) for key, value in params.items() if isinstance(value, str)}
        try:
            return [f"arn:aws:apigateway:{ctx.region}::" + path.format(**fields)]
        except KeyError:
            return ["*"]

    return api.operation(name, action=f"apigateway:{method}", resources=resources, **kwargs)


def api_arn(region: str, api_id: str) -> str:
    return f"arn:aws:apigateway:{region}::/apis/{api_id}"


def find_api(conn: Connection, ctx: RequestContext, api_id: str) -> dict[str, Any]:
    """The caller's API ``api_id`` (its stored document), NotFoundException otherwise."""
    row = conn.execute(select(apis.c.doc).where(
        apis.c.api_id == api_id, apis.c.account_id == ctx.account_id, apis.c.region == ctx.region)).first()
    if row is None:
        raise errors.NotFoundException(f"Invalid API identifier specified {ctx.account_id}:{api_id}",
                                       ResourceType="Api")
    return dict(row.doc)


def save_api(conn: Connection, api_id: str, doc: dict[str, Any]) -> None:
    conn.execute(update(apis).where(apis.c.api_id == api_id).values(doc=doc))


def find_item(conn: Connection, api_id: str, kind: str, item_id: str) -> dict[str, Any]:
    row = conn.execute(select(items.c.doc).where(
        items.c.api_id == api_id, items.c.kind == kind, items.c.item_id == item_id)).first()
    if row is None:
        raise errors.not_found(KIND_NAME[kind], item_id)
    return dict(row.doc)


def list_items(conn: Connection, api_id: str, kind: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(items.c.doc).where(items.c.api_id == api_id, items.c.kind == kind)
                        .order_by(items.c.seq))
    return [dict(row.doc) for row in rows]


def add_item(conn: Connection, api_id: str, kind: str, item_id: str, doc: dict[str, Any]) -> None:
    conn.execute(insert(items).values(api_id=api_id, kind=kind, item_id=item_id, doc=doc))


def save_item(conn: Connection, api_id: str, kind: str, item_id: str, doc: dict[str, Any]) -> None:
    conn.execute(update(items).where(items.c.api_id == api_id, items.c.kind == kind,
                                     items.c.item_id == item_id).values(doc=doc))


def remove_item(conn: Connection, api_id: str, kind: str, item_id: str) -> None:
    find_item(conn, api_id, kind, item_id)
    conn.execute(delete(items).where(items.c.api_id == api_id, items.c.kind == kind,
                                     items.c.item_id == item_id))


def page(entries: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """``{"Items": [...], "NextToken": ...}`` for one page of ``entries`` (MaxResults, NextToken)."""
    start = 0
    if params.get("NextToken"):
        try:
            start = int(base64.urlsafe_b64decode(params["NextToken"].encode()).decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.bad("Invalid NextToken") from exc
    limit = _max_results(params.get("MaxResults"))
    answer: dict[str, Any] = {"Items": entries[start:start + limit]}
    if start + limit < len(entries):
        answer["NextToken"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
    return answer


def _max_results(value: Any) -> int:
    if value in (None, ""):
        return DEFAULT_PAGE
    try:
        limit = int(value)
    except ValueError as exc:
        raise errors.bad(f"Invalid MaxResults {value}") from exc
    if limit < 1:
        raise errors.bad("MaxResults must be at least 1")
    return limit


def merge(doc: dict[str, Any], params: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """``doc`` with the ``fields`` an Update* call gave replaced (absent fields are left as they were)."""
    return {**doc, **{name: params[name] for name in fields if name in params}}


def snapshot(conn: Connection, api_id: str, api_doc: dict[str, Any]) -> dict[str, Any]:
    """What a deployment freezes: the routes, integrations and authorizers, and the CORS configuration."""
    return {kind + "s": list_items(conn, api_id, kind) for kind in ("route", "integration", "authorizer")} | {
        "cors": api_doc.get("CorsConfiguration")}


def deploy(conn: Connection, api_id: str, *, description: str | None, auto: bool) -> dict[str, Any]:
    """Make a deployment of the API's current configuration; returns CreateDeployment's answer."""
    deployment = {"DeploymentId": new_id("deployment"), "DeploymentStatus": "DEPLOYED", "CreatedDate": now(),
                  "AutoDeployed": auto}
    if description is not None:
        deployment["Description"] = description
    api_doc = conn.execute(select(apis.c.doc).where(apis.c.api_id == api_id)).scalar_one()
    add_item(conn, api_id, "deployment", deployment["DeploymentId"],
             {**deployment, "snapshot": snapshot(conn, api_id, api_doc)})
    return deployment


def auto_deploy(conn: Connection, api_id: str) -> None:
    """After a change: stages with AutoDeploy get a fresh deployment, as AWS deploys them on every change."""
    stages = [stage for stage in list_items(conn, api_id, "stage") if stage.get("AutoDeploy")]
    if not stages:
        return
    deployment = deploy(conn, api_id, description="Automatic deployment triggered by changes to the Api "
                                                  "configuration", auto=True)
    for stage in stages:
        stage.update(DeploymentId=deployment["DeploymentId"], LastUpdatedDate=now(),
                     LastDeploymentStatusMessage=f"Successfully deployed stage with deployment ID "
                                                 f"'{deployment['DeploymentId']}'")
        save_item(conn, api_id, "stage", stage["StageName"], stage)


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document without what only the data plane reads (a deployment's snapshot)."""
    return {key: value for key, value in doc.items() if key != "snapshot"}
