"""Array jobs and job dependencies: pure rules, no I/O.

An array job of size N is a parent that never runs itself and N children ``<parentId>:<index>`` that do.
A job's ``dependsOn`` is kept as the edges the caller gave (jobId + type); this module says which concrete
jobs a given job, or a given child, waits on, and which jobs' waits an ended job may have ended, so the store
keeps a handful of edges per submission rather than one per child.
https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html,
https://docs.aws.amazon.com/batch/latest/userguide/job_dependencies.html
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controller.batch.lifecycle import ENDED, FAILED, PENDING, STATUSES, SUBMITTED, SUCCEEDED

MIN_SIZE, MAX_SIZE = 2, 10_000
N_TO_N, SEQUENTIAL = "N_TO_N", "SEQUENTIAL"


@dataclass(frozen=True)
class Edge:
    """One dependency as submitted: ``waiter`` (a plain job or an array parent) depends on ``target``.

    ``kind`` is None for a plain dependency (wait for the whole target job, an array's parent included),
    N_TO_N (child i of the waiter waits on child i of the target array) or SEQUENTIAL (child i of the waiter
    waits on its own child i-1; ``target`` is the waiter itself)."""

    waiter: str
    target: str
    kind: str | None = None


def child_id(parent_id: str, index: int) -> str:
    return f"{parent_id}:{index}"


def split_id(job_id: str) -> tuple[str, int | None]:
    """(parent id, index) of an array child's id, (id, None) of any other job id."""
    parent, sep, index = job_id.rpartition(":")
    if sep and parent and index.isdigit():
        return parent, int(index)
    return job_id, None


def waits_on(job_id: str, edges: Iterable[Edge], *, index: int | None = None) -> list[str]:
    """The jobs that must succeed before ``job_id`` may run: for a plain job, its edges' targets; for child
    ``index`` of array ``job_id``, the parent's plain targets, child ``index`` of each N_TO_N target and,
    with a SEQUENTIAL edge, its sibling ``index - 1`` (child 0 waits on no sibling)."""
    out: list[str] = []
    for edge in edges:
        if edge.waiter != job_id:
            continue
        if edge.kind is None:
            out.append(edge.target)
        elif index is None:
            continue
        elif edge.kind == N_TO_N:
            out.append(child_id(edge.target, index))
        elif edge.kind == SEQUENTIAL and index > 0:
            out.append(child_id(job_id, index - 1))
    return out


def child_depends_on(parent_id: str, edges: Iterable[Edge], index: int) -> list[dict[str, str]]:
    """Child ``index``'s dependsOn as DescribeJobs shows it: the concrete jobs it waits on, with types."""
    out: list[dict[str, str]] = []
    for edge in edges:
        if edge.waiter != parent_id:
            continue
        if edge.kind is None:
            out.append({"jobId": edge.target})
        elif edge.kind == N_TO_N:
            out.append({"jobId": child_id(edge.target, index), "type": N_TO_N})
        elif index > 0:
            out.append({"jobId": child_id(parent_id, index - 1), "type": SEQUENTIAL})
    return out


def woken_by(ended_id: str, edges: Iterable[Edge], sizes: Mapping[str, int | None]) -> list[str]:
    """The jobs whose wait ``ended_id`` ending may have ended, for ``edges`` that involve it or its parent.

    ``sizes`` gives each waiter's array size (None for a plain job): a plain edge onto the ended job wakes a
    plain waiter, or every child of an array waiter; when the ended job is child i of P, an N_TO_N edge onto P
    wakes child i of the waiter and P's own SEQUENTIAL edge wakes P's child i+1. The array parent of an ended
    child is not listed here: its status follows its children (:func:`parent_status`).
    """
    parent, index = split_id(ended_id)
    out: list[str] = []
    for edge in edges:
        size = sizes.get(edge.waiter)
        if edge.kind is None and edge.target == ended_id:
            out.extend([child_id(edge.waiter, i) for i in range(size)] if size else [edge.waiter])
        elif index is None:
            continue
        elif edge.kind == N_TO_N and edge.target == parent and size and index < size:
            out.append(child_id(edge.waiter, index))
        elif edge.kind == SEQUENTIAL and edge.waiter == parent and size and index + 1 < size:
            out.append(child_id(parent, index + 1))
    return list(dict.fromkeys(out))


def status_summary(counts: Mapping[str, int]) -> dict[str, int]:
    """An array parent's statusSummary: how many children are in each status, every status listed."""
    return {status: int(counts.get(status, 0)) for status in STATUSES}


def parent_status(counts: Mapping[str, int]) -> str:
    """An array parent's status from its children's: SUBMITTED until any child moved on, PENDING while any
    child has yet to end (AWS: "The parent array job can enter a SUBMITTED, PENDING, FAILED, or SUCCEEDED
    status"), then SUCCEEDED when every child succeeded and FAILED when any failed."""
    total = sum(counts.values())
    if total and counts.get(SUBMITTED, 0) == total:
        return SUBMITTED
    if sum(counts.get(status, 0) for status in ENDED) < total or not total:
        return PENDING
    return FAILED if counts.get(FAILED, 0) else SUCCEEDED


def check_size(size: object) -> str | None:
    """What is wrong with an arrayProperties.size, or None when it is a valid array size."""
    if not isinstance(size, int) or isinstance(size, bool) or not MIN_SIZE <= size <= MAX_SIZE:
        return f"Array size must be between {MIN_SIZE} and {MAX_SIZE}, got {size}."
    return None

