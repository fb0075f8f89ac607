"""Cognito user pools' tables.

Times are float epoch seconds (the json protocol writes them as Cognito does). Pools, clients and
groups keep their AWS-shaped settings in a JSON ``config`` column: DescribeUserPool and
DescribeUserPoolClient read them back as written. Users are keyed by a row id; ``username_key`` is
the name lookups use (lower-cased unless the pool is case-sensitive). Secrets (client secrets, the
pools' private signing keys) are stored encrypted with the cloud's SecretBox. Deleting a pool deletes
everything under it through the foreign keys: its domain, resource servers and pending authorization codes
(the hosted UI's, kept as their sha256 like refresh tokens) too.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from controller.state import JsonText, metadata

pools = Table(
    "cognito_pools", metadata,
    Column("pool_id", String(55), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("config", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("modified_at", Float, nullable=False),
    Index("ix_cognito_pools_account", "account_id", "region"),
)

clients = Table(
    "cognito_clients", metadata,
    Column("client_id", String(128), primary_key=True),
    Column("pool_id", String(55), ForeignKey("cognito_pools.pool_id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("name", String(128), nullable=False),
    Column("secret", Text),                                # encrypted; None: a public client
    Column("config", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("modified_at", Float, nullable=False),
)

users = Table(
    "cognito_users", metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=True),
    Column("pool_id", String(55), ForeignKey("cognito_pools.pool_id", ondelete="CASCADE"), nullable=False),
    Column("username", String(128), nullable=False),
    Column("username_key", String(128), nullable=False),
    Column("sub", String(36), nullable=False),
    Column("attributes", JsonText, nullable=False),        # name -> value, sub included
    Column("status", String(32), nullable=False),          # UNCONFIRMED, CONFIRMED, FORCE_CHANGE_PASSWORD...
    Column("enabled", Boolean, nullable=False),
    Column("password_hash", String(256)),
    Column("password_expires_at", Float),                  # a temporary password's end
    Column("srp_salt", Text),
    Column("srp_verifier", Text),
    Column("mfa", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("modified_at", Float, nullable=False),
    Index("ix_cognito_users_name", "pool_id", "username_key", unique=True),
    Index("ix_cognito_users_sub", "pool_id", "sub", unique=True),
    sqlite_autoincrement=True,
)

codes = Table(
    "cognito_codes", metadata,
    Column("user_id", Integer, ForeignKey("cognito_users.user_id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(32), primary_key=True),          # signup, forgot_password, verify:<attribute>
    Column("code", String(16), nullable=False),
    Column("expires_at", Float, nullable=False),
)

groups = Table(
    "cognito_groups", metadata,
    Column("pool_id", String(55), ForeignKey("cognito_pools.pool_id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("description", String(2048)),
    Column("precedence", Integer),
    Column("role_arn", String(2048)),
    Column("created_at", Float, nullable=False),
    Column("modified_at", Float, nullable=False),
)

members = Table(
    "cognito_members", metadata,
    Column("user_id", Integer, ForeignKey("cognito_users.user_id", ondelete="CASCADE"), primary_key=True),
    Column("pool_id", String(55), nullable=False),
    Column("group_name", String(128), primary_key=True),
    Index("ix_cognito_members_group", "pool_id", "group_name"),
)

keys = Table(
    "cognito_keys", metadata,
    Column("kid", String(64), primary_key=True),
    Column("pool_id", String(55), ForeignKey("cognito_pools.pool_id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("private_pem", Text, nullable=False),           # encrypted
    Column("public_jwk", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float),                           # None: the key that signs now
)

sessions = Table(
    "cognito_sessions", metadata,
    Column("session_id", String(64), primary_key=True),
    Column("pool_id", String(55), ForeignKey("cognito_pools.pool_id", ondelete="CASCADE"), nullable=False),
    Column("username", String(128), nullable=False),
    Column("challenge", String(64), nullable=False),
    Column("data", JsonText, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)

refresh_tokens = Table(
    "cognito_refresh_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),    # sha256 of the opaque token
    Column("user_id", Integer, ForeignKey("cognito_users.user_id", ondelete="CASCADE"), nullable=False),
    Column("pool_id", String(55), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("origin_jti", String(36), nullable=False, index=True),
    Column("auth_time", Integer, nullable=False),
    Column("scopes", JsonText),
    Column("expires_at", Float, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

domains = Table(
    "cognito_domains", metadata,
    Column("domain", String(63), primary_key=True),       # the prefix: unique in the cloud, as in a region
    Column("pool_id", String(55), ForeignKey("cognito_pools.pool_id", ondelete="CASCADE"), nullable=False,
           unique=True),
    Column("account_id", String(12), nullable=False),
    Column("managed_login_version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

resource_servers = Table(
    "cognito_resource_servers", metadata,
    Column("pool_id", String(55), ForeignKey("cognito_pools.pool_id", ondelete="CASCADE"), primary_key=True),
    Column("identifier", String(256), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("scopes", JsonText, nullable=False),             # [{"ScopeName", "ScopeDescription"}]
)

authorization_codes = Table(
    "cognito_authorization_codes", metadata,
    Column("code_hash", String(64), primary_key=True),      # sha256 of the code handed to the browser
    Column("pool_id", String(55), ForeignKey("cognito_pools.pool_id", ondelete="CASCADE"), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("user_id", Integer, ForeignKey("cognito_users.user_id", ondelete="CASCADE"), nullable=False),
    Column("redirect_uri", String(1024), nullable=False),
    Column("scopes", JsonText, nullable=False),
    Column("code_challenge", String(128)),                  # None: requested without PKCE
    Column("nonce", String(1024)),                          # the OIDC nonce for the id token, if asked
    Column("auth_time", Integer, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)
