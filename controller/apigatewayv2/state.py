"""HTTP APIs' tables: one row per API, and one row per route, integration, authorizer, stage or deployment.

An API's children are small documents AWS describes field by field (GetRoute, GetIntegration...), so each
is kept as the JSON document its Get* operation answers, in one table keyed by ``(api_id, kind, item_id)``.
A deployment's document also holds its ``snapshot``: the routes, integrations, authorizers and CORS
configuration as they were when it was made, which is what the data plane serves for a stage.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table

from controller.state import JsonText, metadata

apis = Table(
    "apigwv2_apis", metadata,
    Column("api_id", String(16), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("doc", JsonText, nullable=False),           # GetApi's shape (without ApiEndpoint)
    Index("ix_apigwv2_apis_owner", "account_id", "region"),
)

items = Table(
    "apigwv2_items", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("api_id", String(16), ForeignKey("apigwv2_apis.api_id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),        # route, integration, authorizer, stage, deployment
    Column("item_id", String(128), nullable=False),    # RouteId, IntegrationId..., StageName for stages
    Column("doc", JsonText, nullable=False),
    Index("ix_apigwv2_items_key", "api_id", "kind", "item_id", unique=True),
    sqlite_autoincrement=True,
)
