"""Cognito identity pools' tables: pools (AWS-shaped settings, roles and role mappings as JSON) and identities.

An identity is keyed by its id (``region:uuid``); ``login_key`` (``provider|subject``) makes GetId answer
the same identity for the same user every time, and is empty for unauthenticated identities.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, String, Table

from controller.state import JsonText, metadata

pools = Table(
    "cognito_identity_pools", metadata,
    Column("pool_id", String(55), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("config", JsonText, nullable=False),   # CreateIdentityPool's input less the name and tags
    Column("roles", JsonText, nullable=False),    # {"authenticated": arn, "unauthenticated": arn}
    Column("role_mappings", JsonText, nullable=False),
    Column("tags", JsonText, nullable=False),
    Index("ix_cognito_identity_pools_account", "account_id", "region"),
)

identities = Table(
    "cognito_identities", metadata,
    Column("identity_id", String(55), primary_key=True),
    Column("pool_id", String(55), ForeignKey("cognito_identity_pools.pool_id", ondelete="CASCADE"),
           nullable=False),
    Column("login_key", String(1024), nullable=False),
    Column("logins", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("modified_at", Float, nullable=False),
    Index("ix_cognito_identities_login", "pool_id", "login_key"),
)

#: The signing key of the OpenID tokens GetOpenIdToken issues (one per cloud; the private key encrypted by the
#: cloud's SecretBox).
openid_keys = Table(
    "cognito_identity_openid_keys", metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_pem", String(4096), nullable=False),
    Column("public_jwk", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
)
