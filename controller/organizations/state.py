"""Organizations' tables: the one organization of the cloud, and account creation requests.

The accounts themselves live in the credential store's ``accounts`` table (every
account, management or member, is an account of this cloud).
"""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from controller.state import UtcDateTime, metadata

organizations = Table(
    "org_organizations", metadata,
    Column("management_account_id", String(12), primary_key=True),
    Column("organization_id", String(34), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
)

create_account_requests = Table(
    "org_create_account_requests", metadata,
    Column("request_id", String(36), primary_key=True),
    Column("account_name", String(128), nullable=False),
    #: IN_PROGRESS | SUCCEEDED | FAILED
    Column("state", String(16), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime),
    Column("account_id", String(12)),
    Column("failure_reason", String(64)),
)
