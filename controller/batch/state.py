"""AWS Batch's control-plane tables: compute environments, job queues, scheduling policies, job definition
revisions, and the tags of every Batch ARN.

Each resource is kept as one JSON document in the shape its Describe call answers, without ``tags`` (so
what was written reads back unchanged); tags live in their own table keyed by ARN, because TagResource
works on any Batch ARN of the account, jobs' included, and one table serves them all.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from controller.state import JsonText, metadata

compute_environments = Table(
    "batch_compute_environments", metadata,
    Column("arn", String(400), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    #: the ComputeEnvironmentDetail shape without ``tags``
    Column("document", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_batch_ce_name", "account_id", "region", "name", unique=True),
)

job_queues = Table(
    "batch_job_queues", metadata,
    Column("arn", String(400), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    #: the JobQueueDetail shape without ``tags``; computeEnvironmentOrder holds ARNs
    Column("document", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_batch_jq_name", "account_id", "region", "name", unique=True),
)

scheduling_policies = Table(
    "batch_scheduling_policies", metadata,
    Column("arn", String(400), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    #: the SchedulingPolicyDetail shape without ``tags``
    Column("document", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_batch_sp_name", "account_id", "region", "name", unique=True),
)

job_definitions = Table(
    "batch_job_definitions", metadata,
    #: name:revision ARN: every revision is its own row
    Column("arn", String(400), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    #: ACTIVE or INACTIVE (deregistered)
    Column("status", String(16), nullable=False),
    #: the JobDefinition shape without ``tags`` and ``status`` (the columns say those)
    Column("document", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_batch_jd_name", "account_id", "region", "name", "revision", unique=True),
)

tags = Table(
    "batch_tags", metadata,
    Column("arn", String(600), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("account_id", String(12), nullable=False),
)
