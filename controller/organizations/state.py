"""Organizations' tables: the organization, its root and OUs, account creation requests, policies.

The accounts themselves live in the credential store's ``accounts`` table (every
account, management or member, is an account of this cloud).
"""

from __future__ import annotations

from sqlalchemy import Column, String, Table, Text

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

#: The policy types enabled in a root (AWS's ``Root.PolicyTypes``); only enabled ones have a row.
root_policy_types = Table(
    "org_root_policy_types", metadata,
    Column("root_id", String(34), primary_key=True),
    Column("policy_type", String(64), primary_key=True),
)

organizational_units = Table(
    "org_units", metadata,
    Column("ou_id", String(68), primary_key=True),
    Column("parent_id", String(100), nullable=False, index=True),
    Column("name", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

#: Where a member account sits when it is not directly in the root (no row: in the root).
account_parents = Table(
    "org_account_parents", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("parent_id", String(100), nullable=False, index=True),
)

#: Customer managed policies; AWS managed ones (FullAWSAccess) are constants in ``scps.py``.
policies = Table(
    "org_policies", metadata,
    Column("policy_id", String(130), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("description", String(512), nullable=False),
    Column("policy_type", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

#: Which policy is attached to which root, OU or account (target id ``r-``, ``ou-`` or 12 digits).
policy_attachments = Table(
    "org_policy_attachments", metadata,
    Column("policy_id", String(130), primary_key=True),
    Column("target_id", String(100), primary_key=True, index=True),
    Column("policy_type", String(64), nullable=False),
)

#: Tags of the root, OUs, accounts and customer managed policies, by their id.
tags = Table(
    "org_tags", metadata,
    Column("resource_id", String(130), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)
