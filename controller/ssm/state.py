"""Parameter Store's tables: a parameter (its tags, newest version, expiry) and each of its versions.

A version row keeps everything PutParameter wrote for it (AWS's history shows each version's type, key,
description, pattern, tier, policies and data type), its labels, and its value: the text for String and
StringList, the KMS ciphertext blob (base64) for SecureString, bound to the parameter's ARN.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from controller.state import JsonText, metadata

parameters = Table(
    "ssm_parameters", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(1011), primary_key=True),
    #: The newest version (versions count on after the oldest are dropped at the 100-version limit).
    Column("version", Integer, nullable=False),
    Column("tags", JsonText, nullable=False),
    #: The time of the newest version's Expiration policy (epoch seconds): the parameter is gone after it.
    Column("expires_at", Float),
)

versions = Table(
    "ssm_parameter_versions", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(1011), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("type", String(16), nullable=False),
    Column("value", Text, nullable=False),
    #: SecureString: the KeyId as the caller gave it (or ``alias/aws/ssm``) and the key's ARN.
    Column("key_id", String(256)),
    Column("key_arn", String(256)),
    Column("description", String(1024)),
    Column("allowed_pattern", String(1024)),
    Column("tier", String(24), nullable=False),
    Column("data_type", String(128), nullable=False),
    Column("policies", JsonText, nullable=False),   # [{"PolicyText", "PolicyType", "PolicyStatus"}]
    Column("labels", JsonText, nullable=False),     # [label, ...] in the order they were attached
    Column("modified_at", Float, nullable=False),
    Column("modified_user", String(2048), nullable=False),
    Index("ix_ssm_parameter_versions_name", "account_id", "region", "name"),
)
