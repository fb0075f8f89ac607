"""WAF's tables: its entities (web ACLs, IP sets, regex pattern sets), associations, and a revision per region.

Every entity is stored as the document its Get* operation returns (AWS's output shape, blobs as base64 text),
with the lock token that the next update or delete must present. ``waf_revisions`` grows with every write in an
account's region: the data plane caches compiled web ACLs against it, so an invoke reads one indexed row
(the association joined to the revision) and a change made by any process is seen on the next request.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table

from controller.state import JsonText, metadata

entities = Table(
    "waf_entities", metadata,
    Column("entity_id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),          # webacl, ipset, regexpatternset
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("name", String(128), nullable=False),
    Column("lock_token", String(36), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("doc", JsonText, nullable=False),              # GetWebACL's WebACL, GetIPSet's IPSet...
    Column("tags", JsonText, nullable=False),             # [{"Key": ..., "Value": ...}] in the order written
    Index("ux_waf_entities_name", "account_id", "region", "scope", "kind", "name", unique=True),
)

associations = Table(
    "waf_associations", metadata,
    Column("resource_arn", String(512), primary_key=True),
    Column("web_acl_id", String(36), ForeignKey("waf_entities.entity_id"), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Index("ix_waf_associations_acl", "web_acl_id"),
)

revisions = Table(
    "waf_revisions", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("revision", Integer, nullable=False),
)

logging_configs = Table(
    "waf_logging_configs", metadata,
    Column("web_acl_id", String(36), ForeignKey("waf_entities.entity_id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("config", JsonText, nullable=False),           # GetLoggingConfiguration's LoggingConfiguration
)
