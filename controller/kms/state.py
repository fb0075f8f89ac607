"""KMS's tables in the state store: keys, their key material versions, aliases and grants.

Key material never appears in the clear here: each version's 256-bit material is stored wrapped
by the cloud's master key, which lives outside the database (``master.py``). A key scheduled for
deletion keeps its rows until the waiting period ends; from then on every read treats it as
gone (``records.py``), so no background job is needed to make the deletion happen on time.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Integer, LargeBinary, String, Table, Text

from controller.state import JsonText, UtcDateTime, metadata

keys = Table(
    "kms_keys", metadata,
    Column("key_id", String(64), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("region", String(32), nullable=False),
    Column("arn", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    #: "CUSTOMER" or "AWS" (a managed key such as aws/s3, made on first use by its service)
    Column("manager", String(16), nullable=False),
    Column("key_spec", String(32), nullable=False),
    Column("key_usage", String(32), nullable=False),
    Column("origin", String(32), nullable=False, default="AWS_KMS"),
    #: "Enabled" or "Disabled"; pending deletion is ``deletion_date`` set (the state before it is kept here)
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("deletion_date", UtcDateTime),
    Column("pending_window_days", Integer),
    Column("policy", Text, nullable=False),
    Column("tags", JsonText, nullable=False, default=dict),
    Column("rotation_enabled", Boolean, nullable=False, default=False),
    Column("rotation_period_days", Integer),
    Column("next_rotation_at", UtcDateTime),
)

#: One row per version of a key's material; the newest encrypts, every one still decrypts.
materials = Table(
    "kms_key_materials", metadata,
    Column("key_id", String(64), ForeignKey("kms_keys.key_id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    #: the material wrapped by the master key (see master.py)
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    #: "AUTOMATIC" or "ON_DEMAND" for versions made by rotation, NULL for the first
    Column("rotation_type", String(16)),
)

aliases = Table(
    "kms_aliases", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("key_id", String(64), ForeignKey("kms_keys.key_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

grants = Table(
    "kms_grants", metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("key_id", String(64), ForeignKey("kms_keys.key_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(256)),
    Column("grantee", String(256), nullable=False),
    Column("retiring", String(256)),
    Column("issuing_account", String(256), nullable=False),
    Column("operations", JsonText, nullable=False),
    #: {"EncryptionContextSubset": {...}} or {"EncryptionContextEquals": {...}} or NULL
    Column("constraints", JsonText),
    Column("token", String(512), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
