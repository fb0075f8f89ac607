"""Looking Batch resources up by the references AWS accepts, as their Describe calls show them.

This is the interface the jobs code (SubmitJob, the scheduler) depends on: each function takes an open
connection, the caller's account and region and a reference, and answers the resource's Describe shape
(tags included) or None when the reference names nothing the caller has. The operation modules use the
same lookups, so a reference means the same thing everywhere.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, Table, select

from controller.batch import network, records, state


def _by_name(conn: Connection, table: Table, account_id: str, region: str, name: str) -> RowMapping | None:
    return conn.execute(select(table).where(table.c.account_id == account_id, table.c.region == region,
                                            table.c.name == name)).mappings().first()


def compute_environment_row(conn: Connection, account_id: str, region: str, ref: str) -> RowMapping | None:
    name = records.ref_name(ref or "", "compute-environment", account_id, region)
    return _by_name(conn, state.compute_environments, account_id, region, name) if name else None


def job_queue_row(conn: Connection, account_id: str, region: str, ref: str) -> RowMapping | None:
    name = records.ref_name(ref or "", "job-queue", account_id, region)
    return _by_name(conn, state.job_queues, account_id, region, name) if name else None


def scheduling_policy_row(conn: Connection, account_id: str, region: str, arn: str) -> RowMapping | None:
    """Scheduling policies are referenced by ARN only (AWS's calls take ``arn``)."""
    name = records.ref_name(arn or "", "scheduling-policy", account_id, region)
    if not name or not (arn or "").startswith("arn:"):
        return None
    return _by_name(conn, state.scheduling_policies, account_id, region, name)


def job_definition_row(conn: Connection, account_id: str, region: str, ref: str) -> RowMapping | None:
    """``name`` (its latest ACTIVE revision), ``name:revision``, or the ARN with or without ``:revision``."""
    text = records.ref_name(ref or "", "job-definition", account_id, region)
    if not text:
        return None
    table = state.job_definitions
    name, _, revision = text.partition(":")
    query = select(table).where(table.c.account_id == account_id, table.c.region == region, table.c.name == name)
    if revision:
        if not revision.isdigit():
            return None
        return conn.execute(query.where(table.c.revision == int(revision))).mappings().first()
    return conn.execute(query.where(table.c.status == "ACTIVE").order_by(table.c.revision.desc())
                        ).mappings().first()


def with_tags(conn: Connection, row: RowMapping) -> dict[str, Any]:
    """The row's document as Describe answers it: its tags ({} when none), and a job definition's status."""
    document = dict(row["document"])
    if "revision" in row:
        document["status"] = row["status"]
    document["tags"] = records.tags_of(conn, row["arn"])
    return document


def compute_environment_detail(conn: Connection, row: RowMapping) -> dict[str, Any]:
    """A compute environment as Describe shows it now: INVALID, with AWS's CLIENT_ERROR reason, once a subnet,
    security group or launch template it needs is gone (VALID again when it is back)."""
    document = with_tags(conn, row)
    if document.get("status") == "VALID" and document.get("computeResources"):
        reason = network.problem(conn, row["account_id"], document["computeResources"])
        if reason:
            document.update(status="INVALID", statusReason=f"CLIENT_ERROR - {reason}")
    return document


def compute_environment(conn: Connection, account_id: str, region: str, ref: str) -> dict[str, Any] | None:
    """The ComputeEnvironmentDetail of a compute environment named by name or ARN."""
    row = compute_environment_row(conn, account_id, region, ref)
    return compute_environment_detail(conn, row) if row else None


def job_queue(conn: Connection, account_id: str, region: str, ref: str) -> dict[str, Any] | None:
    """The JobQueueDetail of a job queue named by name or ARN (computeEnvironmentOrder holds ARNs)."""
    row = job_queue_row(conn, account_id, region, ref)
    return with_tags(conn, row) if row else None


def scheduling_policy(conn: Connection, account_id: str, region: str, arn: str) -> dict[str, Any] | None:
    """The SchedulingPolicyDetail of the scheduling policy with this ARN."""
    row = scheduling_policy_row(conn, account_id, region, arn)
    return with_tags(conn, row) if row else None


def job_definition(conn: Connection, account_id: str, region: str, ref: str) -> dict[str, Any] | None:
    """The JobDefinition (with status ACTIVE or INACTIVE) a name, name:revision or ARN names."""
    row = job_definition_row(conn, account_id, region, ref)
    return with_tags(conn, row) if row else None
