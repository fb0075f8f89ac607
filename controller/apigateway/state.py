"""API Gateway's tables: REST APIs, the items inside each API, and the account-level items.

Every item is stored as the document its Get* operation returns (AWS's output shape), so reads are a
row fetch and a patch operation is applied to the very document the caller sees. Items of an API
(``kind``: resource, method, deployment, stage, authorizer, gatewayresponse, validator, model) go
away with it through the foreign key. ``revision`` grows with every write to an API, which is what the
data plane's stage views are cached against.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table

from controller.state import JsonText, metadata

rest_apis = Table(
    "apigw_rest_apis", metadata,
    Column("api_id", String(16), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revision", Integer, nullable=False, default=0),
    Column("doc", JsonText, nullable=False),            # GetRestApi's shape
    Index("ix_apigw_rest_apis_owner", "account_id", "region"),
)

items = Table(
    "apigw_items", metadata,
    Column("api_id", String(16), ForeignKey("apigw_rest_apis.api_id", ondelete="CASCADE"),
           primary_key=True),
    Column("kind", String(24), primary_key=True),
    Column("item_id", String(512), primary_key=True),   # a method is "<resource id> <HTTP method>"
    Column("created_at", Float, nullable=False),
    Column("doc", JsonText, nullable=False),
)

account_items = Table(
    "apigw_account_items", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("kind", String(24), primary_key=True),       # apikey, usageplan, plankey ("<plan> <key>")
    Column("item_id", String(128), primary_key=True),
    Column("lookup", String(256)),                      # an API key's value, a plan key's plan id
    Column("created_at", Float, nullable=False),
    Column("doc", JsonText, nullable=False),
    Index("ix_apigw_account_items_lookup", "kind", "lookup"),
)
