"""Batch jobs' tables, and reading a job back in the shapes DescribeJobs and ListJobs answer.

A job row keeps what never changes after SubmitJob as one JSON ``document`` (the JobDetail's static part:
definition, container, parameters, dependsOn...) and what moves with the job as ``progress`` (statusReason,
times, attempts, the container's exit code...), with the status and what the queries filter on as columns.
An array child has no document of its own: it is its parent's, seen at its index, so an array of 10,000
costs 10,000 small rows rather than 10,000 copies of the definition. Dependencies are kept as submitted
(a handful of edges per job, :mod:`controller.batch.arrays` expands them per child). Times are epoch ms.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Index,
    Integer,
    RowMapping,
    String,
    Table,
    and_,
    bindparam,
    false,
    func,
    insert,
    or_,
    select,
    update,
)

from controller.batch import arrays, lifecycle, records
from controller.batch.arrays import Edge
from controller.batch.errors import ClientException
from controller.state import Database, JsonText, metadata

#: Announced on every job write, so a scheduler (in any process of the cloud) wakes to look at RUNNABLE jobs.
TOPIC = "batch:jobs"
#: The JobDetail keys kept in ``progress`` (the container's are under ``container``).
PROGRESS_KEYS = ("statusReason", "startedAt", "stoppedAt", "attempts", "isCancelled", "isTerminated")
CONTAINER_PROGRESS_KEYS = ("exitCode", "reason", "logStreamName", "taskArn", "containerInstanceArn", "networkInterfaces")

jobs = Table(
    "batch_jobs", metadata,
    #: a uuid, or ``<parent uuid>:<index>`` for an array child
    Column("job_id", String(48), primary_key=True),
    #: the jobArn (an array child's is its parent's with ``:<index>``)
    Column("arn", String(500), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("queue_arn", String(400), nullable=False),
    #: the job definition revision's ARN, and its name (ListJobs' JOB_DEFINITION filter matches either)
    Column("definition_arn", String(400), nullable=False),
    Column("definition_name", String(128), nullable=False),
    #: an array child's parent and index; an array parent's size
    Column("parent_id", String(48)),
    Column("array_index", Integer),
    Column("array_size", Integer),
    Column("status", String(16), nullable=False),
    Column("share_identifier", String(255)),
    Column("created_at", Integer, nullable=False),
    #: when the status or progress last changed (a parent's statusSummaryLastUpdatedAt is its children's)
    Column("updated_at", Integer, nullable=False),
    #: the JobDetail's static part; None for an array child (its parent's applies)
    Column("document", JsonText),
    #: the JobDetail's moving part (:data:`PROGRESS_KEYS`, ``container`` with :data:`CONTAINER_PROGRESS_KEYS`)
    Column("progress", JsonText, nullable=False),
    Index("ix_batch_jobs_queue", "queue_arn", "status", "created_at"),
    Index("ix_batch_jobs_parent", "parent_id", "array_index"),
    Index("ix_batch_jobs_created", "account_id", "region", "created_at"),
)

dependencies = Table(
    "batch_job_dependencies", metadata,
    #: the job that waits (a plain job or an array parent) and the job it waits on
    Column("waiter_id", String(48), primary_key=True),
    Column("target_id", String(48), primary_key=True, index=True),
    #: "" for a plain dependency, N_TO_N or SEQUENTIAL (then target_id is waiter_id)
    Column("kind", String(16), primary_key=True),
)


def now_ms() -> int:
    return int(time.time() * 1000)


def changed(conn: Connection) -> None:
    """Every job write calls this: it wakes the scheduler once the transaction commits."""
    Database.announce(conn, TOPIC)


def find(conn: Connection, account_id: str, region: str, job_id: str) -> RowMapping | None:
    return conn.execute(select(jobs).where(jobs.c.job_id == job_id, jobs.c.account_id == account_id,
                                           jobs.c.region == region)).mappings().first()


def find_many(conn: Connection, account_id: str, region: str,
              job_ids: Iterable[str]) -> dict[str, RowMapping]:
    ids = list(dict.fromkeys(job_ids))
    found: dict[str, RowMapping] = {}
    for start in range(0, len(ids), 500):
        query = select(jobs).where(jobs.c.job_id.in_(ids[start:start + 500]), jobs.c.account_id == account_id,
                                   jobs.c.region == region)
        found.update({row["job_id"]: row for row in conn.execute(query).mappings()})
    return found


def statuses(conn: Connection, job_ids: Iterable[str]) -> dict[str, str]:
    """The status of each of ``job_ids`` that exists (ids are uuids: no account scoping needed)."""
    ids = list(dict.fromkeys(job_ids))
    out: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        query = select(jobs.c.job_id, jobs.c.status).where(jobs.c.job_id.in_(ids[start:start + 500]))
        out.update({job_id: status for job_id, status in conn.execute(query)})
    return out


def edges_of(conn: Connection, waiter_ids: Iterable[str]) -> list[Edge]:
    """The dependencies ``waiter_ids`` were submitted with."""
    query = select(dependencies).where(dependencies.c.waiter_id.in_(list(waiter_ids)))
    return [Edge(row.waiter_id, row.target_id, row.kind or None) for row in conn.execute(query)]


def edges_onto(conn: Connection, target_ids: Iterable[str]) -> list[Edge]:
    """The dependencies that name any of ``target_ids`` (a SEQUENTIAL edge names its own array)."""
    query = select(dependencies).where(dependencies.c.target_id.in_(list(target_ids)))
    return [Edge(row.waiter_id, row.target_id, row.kind or None) for row in conn.execute(query)]


def array_sizes(conn: Connection, job_ids: Iterable[str]) -> dict[str, int | None]:
    query = select(jobs.c.job_id, jobs.c.array_size).where(jobs.c.job_id.in_(list(job_ids)))
    return {job_id: size for job_id, size in conn.execute(query)}


def child_counts(conn: Connection, parent_id: str) -> tuple[dict[str, int], int | None]:
    """An array parent's children per status, and when any of them last changed."""
    query = (select(jobs.c.status, func.count(), func.max(jobs.c.updated_at))
             .where(jobs.c.parent_id == parent_id).group_by(jobs.c.status))
    counts: dict[str, int] = {}
    latest: int | None = None
    for status, count, updated in conn.execute(query):
        counts[status] = count
        latest = updated if latest is None else max(latest, updated)
    return counts, latest


def view(row: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """What :mod:`controller.batch.lifecycle` works on: the job's status and progress, with the static members
    its rules read (retryStrategy, timeout)."""
    job = copy.deepcopy(dict(row["progress"]))
    job["status"] = row["status"]
    for key in ("retryStrategy", "timeout"):
        if base.get(key) is not None:
            job[key] = base[key]
    return job


def progress_of(job: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a lifecycle job dict that ``progress`` stores."""
    out = {key: copy.deepcopy(job[key]) for key in PROGRESS_KEYS if job.get(key) is not None}
    container = {key: value for key, value in (job.get("container") or {}).items()
                 if key in CONTAINER_PROGRESS_KEYS and value is not None}
    if container:
        out["container"] = container
    return out


def save(conn: Connection, job_id: str, job: Mapping[str, Any], now: int) -> None:
    """Store a lifecycle job dict's status and progress."""
    conn.execute(update(jobs).where(jobs.c.job_id == job_id).values(
        status=job["status"], progress=progress_of(job), updated_at=now))
    changed(conn)


def base_of(conn: Connection, row: RowMapping,
            parents: dict[str, RowMapping] | None = None) -> dict[str, Any]:
    """The static JobDetail part of a job: its own document, or its parent's for an array child."""
    if row["document"] is not None:
        return row["document"]
    parent_id = row["parent_id"]
    parent = (parents or {}).get(parent_id) or conn.execute(select(jobs).where(jobs.c.job_id == parent_id)
                                                            ).mappings().first()
    if parents is not None and parent is not None:
        parents[parent_id] = parent
    return parent["document"] if parent is not None else {}


def attempt_number(job: Mapping[str, Any]) -> int:
    """AWS_BATCH_JOB_ATTEMPT: the running (or next) attempt, or the last one once the job ended."""
    made = len(job.get("attempts") or [])
    return max(made, 1) if job["status"] in lifecycle.ENDED else made + 1


def job_arn(row: RowMapping) -> str:
    return str(row["arn"])


def tagged_arn(row: RowMapping) -> str:
    """The ARN a job's tags are kept under: its own, or its array parent's for a child."""
    return job_arn(row) if row["parent_id"] is None else job_arn(row).rsplit(":", 1)[0]


def detail(conn: Connection, row: RowMapping, parents: dict[str, RowMapping] | None = None) -> dict[str, Any]:
    """The JobDetail DescribeJobs answers for a job row (``parents`` caches array parents across calls)."""
    base = base_of(conn, row, parents)
    progress = row["progress"]
    out = {key: copy.deepcopy(value) for key, value in base.items() if key != "container"}
    out.update(jobArn=job_arn(row), jobId=row["job_id"], status=row["status"], attempts=[])
    out.update({key: copy.deepcopy(value) for key, value in progress.items() if key != "container"})
    queue_name = row["queue_arn"].rsplit("/", 1)[-1]
    if base.get("container") is not None:
        container = copy.deepcopy(base["container"])
        container.update(progress.get("container") or {})
        own_env = container.get("environment") or []
        container["environment"] = [*lifecycle.batch_environment(
            row["job_id"], queue_name, attempt_number(out), row["array_index"]), *own_env]
        out["container"] = container
    if row["array_size"]:
        counts, latest = child_counts(conn, row["job_id"])
        out["arrayProperties"] = {"statusSummary": arrays.status_summary(counts), "size": row["array_size"]}
        if latest is not None:
            out["arrayProperties"]["statusSummaryLastUpdatedAt"] = latest
    elif row["parent_id"] is not None:
        index = row["array_index"]
        out["arrayProperties"] = {"index": index}
        edges = edges_of(conn, [row["parent_id"]])
        out["dependsOn"] = arrays.child_depends_on(row["parent_id"], edges, index)
    out["tags"] = records.tags_of(conn, tagged_arn(row))
    if not out["tags"]:
        del out["tags"]
    return out


def summary(conn: Connection, row: RowMapping) -> dict[str, Any]:
    """The JobSummary ListJobs answers for a job row."""
    progress = row["progress"]
    out: dict[str, Any] = {"jobArn": job_arn(row), "jobId": row["job_id"], "jobName": row["name"],
                           "createdAt": row["created_at"], "status": row["status"],
                           "jobDefinition": row["definition_arn"]}
    for key in ("statusReason", "startedAt", "stoppedAt", "isCancelled", "isTerminated"):
        if progress.get(key) is not None:
            out[key] = progress[key]
    if row["share_identifier"]:
        out["shareIdentifier"] = row["share_identifier"]
    container = {key: value for key, value in (progress.get("container") or {}).items()
                 if key in ("exitCode", "reason")}
    if container:
        out["container"] = container
    if row["array_size"]:
        counts, latest = child_counts(conn, row["job_id"])
        out["arrayProperties"] = {"size": row["array_size"], "statusSummary": arrays.status_summary(counts)}
        if latest is not None:
            out["arrayProperties"]["statusSummaryLastUpdatedAt"] = latest
    elif row["array_index"] is not None:
        out["arrayProperties"] = {"index": row["array_index"]}
    return out


def save_many(conn: Connection, moved: list[tuple[str, Mapping[str, Any]]], now: int) -> None:
    """:func:`save` for many jobs in one statement (an array's children)."""
    if not moved:
        return
    conn.execute(update(jobs).where(jobs.c.job_id == bindparam("b_id")).values(
        status=bindparam("b_status"), progress=bindparam("b_progress", type_=JsonText), updated_at=now),
        [{"b_id": job_id, "b_status": job["status"], "b_progress": progress_of(job)}
         for job_id, job in moved])
    changed(conn)


def insert_array(conn: Connection, row: dict[str, Any], document: dict[str, Any], edges: list[Edge],
                 size: int, now: int) -> None:
    """A new array job: its parent and ``size`` children, each already moved on by the jobs it waits on (a
    child under a SEQUENTIAL edge waits on its elder sibling, whose fate is known by then)."""
    parent_id = row["job_id"]
    plain = statuses(conn, [edge.target for edge in edges if edge.kind is None])
    paired = {edge.target: {index: status for index, status in conn.execute(select(
        jobs.c.array_index, jobs.c.status).where(jobs.c.parent_id == edge.target))}
        for edge in edges if edge.kind == arrays.N_TO_N}
    sequential = any(edge.kind == arrays.SEQUENTIAL for edge in edges)
    children, counts, elder = [], Counter[str](), None
    for index in range(size):
        waits = [*plain.values(), *(by_index.get(index, lifecycle.PENDING) for by_index in paired.values())]
        if sequential and elder is not None:
            waits.append(elder)
        status, reason = lifecycle.after_dependencies(lifecycle.SUBMITTED, waits) or (lifecycle.PENDING, None)
        job = lifecycle.with_status({"status": lifecycle.SUBMITTED}, status, reason, now=now)
        children.append({**row, "job_id": arrays.child_id(parent_id, index), "arn": f"{row['arn']}:{index}",
                         "parent_id": parent_id, "array_index": index, "status": status, "document": None,
                         "progress": progress_of(job)})
        counts[status] += 1
        elder = status
    status = arrays.parent_status(counts)
    reason = lifecycle.DEPENDENT_JOB_FAILED if lifecycle.FAILED in plain.values() else None
    parent = lifecycle.with_status({"status": lifecycle.SUBMITTED}, status, reason, now=now)
    conn.execute(insert(jobs).values(**row, array_size=size, status=status, document=document,
                                     progress=progress_of(parent)))
    conn.execute(insert(jobs), children)


def lower(column: Any) -> ColumnElement[Any]:
    return func.lower(column)


def name_like(column: Any, lowered_prefix: str) -> ColumnElement[bool]:
    """A case-insensitive prefix match (``%`` and ``_`` in the prefix match only themselves)."""
    escaped = lowered_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(escaped + "%", escape="\\")


def any_of(conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return or_(*conditions) if conditions else false()


def before(key: list[Any]) -> ColumnElement[bool]:
    """Jobs after a page's last (created_at, job_id) in ListJobs' newest-first order."""
    if len(key) != 2 or not isinstance(key[0], int) or not isinstance(key[1], str):
        raise ClientException("Invalid nextToken provided.")
    return or_(jobs.c.created_at < key[0], and_(jobs.c.created_at == key[0], jobs.c.job_id < key[1]))
