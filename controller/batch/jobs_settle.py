"""Moving jobs on after others end: dependants settled transitively, array parents following their children,
and the writes that end jobs (CancelJob, TerminateJob, and later the runtime's attempt reports).

When a job ends, every job waiting on it may move: RUNNABLE once all it waits on SUCCEEDED, FAILED with
"Dependent Job failed" once one FAILED, which in turn ends the wait of others. :class:`Settler` follows that
chain inside the caller's transaction, wave by wave, reading rows in bulk (all children of an array at once)
and keeping them in memory, so a 10,000-child array cancelled under an N_TO_N dependant, or a SEQUENTIAL array
whose first child fails, costs a few dozen statements rather than tens of thousands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, RowMapping, select

from controller.batch import arrays, jobs_state, lifecycle
from controller.batch.arrays import Edge
from controller.batch.jobs_state import jobs

CHUNK = 500


class Settler:
    """Settles what ended jobs' waiters become, for one account and region, in one transaction."""

    def __init__(self, conn: Connection, account_id: str, region: str, now: int) -> None:
        self.conn, self.account_id, self.region, self.now = conn, account_id, region, now
        #: job id -> its row as a dict, status and progress kept current as jobs move
        self.rows: dict[str, dict[str, Any]] = {}
        self.arrays_loaded: set[str] = set()
        self.edges_from: dict[str, list[Edge]] = {}
        self.edges_to: dict[str, list[Edge]] = {}
        self.moved: dict[str, dict[str, Any]] = {}

    def _load(self, job_ids: Iterable[str]) -> None:
        """Cache the rows of ``job_ids``; a child brings every child of its array along (its siblings are
        what SEQUENTIAL and N_TO_N waits read next)."""
        missing = [job_id for job_id in dict.fromkeys(job_ids) if job_id not in self.rows]
        plain = []
        for job_id in missing:
            parent, index = arrays.split_id(job_id)
            if index is None:
                plain.append(job_id)
            elif parent not in self.arrays_loaded:
                self.arrays_loaded.add(parent)
                query = select(jobs).where(jobs.c.parent_id == parent, jobs.c.account_id == self.account_id)
                for row in self.conn.execute(query).mappings():
                    self.rows.setdefault(row["job_id"], dict(row))
        found = jobs_state.find_many(self.conn, self.account_id, self.region, plain)
        for job_id, row in found.items():
            self.rows.setdefault(job_id, dict(row))

    def _edges(self, cache: dict[str, list[Edge]], ids: Iterable[str], column: Any) -> None:
        missing = [job_id for job_id in dict.fromkeys(ids) if job_id not in cache]
        for job_id in missing:
            cache[job_id] = []
        table = jobs_state.dependencies
        for start in range(0, len(missing), CHUNK):
            for row in self.conn.execute(select(table).where(column.in_(missing[start:start + CHUNK]))):
                edge = Edge(row.waiter_id, row.target_id, row.kind or None)
                cache[edge.waiter if column is table.c.waiter_id else edge.target].append(edge)

    def woken(self, ended: list[str]) -> list[str]:
        """The jobs whose wait the ``ended`` jobs may have ended."""
        parents = {job_id: arrays.split_id(job_id)[0] for job_id in ended}
        self._edges(self.edges_to, [*ended, *parents.values()], jobs_state.dependencies.c.target_id)
        waiters = {edge.waiter for job_id in ended for edge in
                   (*self.edges_to[job_id], *self.edges_to[parents[job_id]])}
        self._load(waiters)
        sizes = {waiter: self.rows[waiter]["array_size"] for waiter in waiters if waiter in self.rows}
        out: list[str] = []
        for job_id in ended:
            edges = list(self.edges_to[job_id])
            if parents[job_id] != job_id:
                edges += self.edges_to[parents[job_id]]
            out += arrays.woken_by(job_id, edges, sizes)
        return list(dict.fromkeys(out))

    def _move(self, job_id: str, job: Mapping[str, Any]) -> None:
        row = self.rows[job_id]
        row["status"], row["progress"] = job["status"], jobs_state.progress_of(job)
        self.moved[job_id] = dict(job)

    def _flush(self) -> None:
        jobs_state.save_many(self.conn, list(self.moved.items()), self.now)
        self.moved.clear()

    def _refresh_parent(self, parent_id: str) -> bool:
        """An array parent's status brought in line with its (saved) children's; whether it just ended."""
        self._load([parent_id])
        row = self.rows.get(parent_id)
        if row is None:
            return False
        status = arrays.parent_status(jobs_state.child_counts(self.conn, parent_id)[0])
        if status == row["status"]:
            return False
        self._move(parent_id, lifecycle.with_status(jobs_state.view(row, {}), status, now=self.now))
        return status in lifecycle.ENDED

    def run(self, ended: Iterable[str], parents: Iterable[str]) -> None:
        """Settle the waiters of ``ended`` and the ``parents`` arrays, transitively, and save what moved."""
        frontier, pending_parents = list(ended), set(parents)
        while frontier or pending_parents:
            while frontier:
                woken = self.woken(frontier)
                self._load(woken)
                candidates = [self.rows[job_id] for job_id in woken if job_id in self.rows]
                candidates = [row for row in candidates
                              if row["status"] in lifecycle.WAITING and not row["array_size"]]
                owners = {row["parent_id"] or row["job_id"] for row in candidates}
                self._edges(self.edges_from, owners, jobs_state.dependencies.c.waiter_id)
                waits = {row["job_id"]: arrays.waits_on(row["parent_id"] or row["job_id"],
                                                        self.edges_from[row["parent_id"] or row["job_id"]],
                                                        index=row["array_index"]) for row in candidates}
                self._load(target for targets in waits.values() for target in targets)
                frontier = []
                for row in candidates:
                    statuses = [self.rows[target]["status"] for target in waits[row["job_id"]]
                                if target in self.rows]
                    move = lifecycle.after_dependencies(row["status"], statuses)
                    if move is None:
                        continue
                    self._move(row["job_id"], lifecycle.with_status(jobs_state.view(row, {}), *move,
                                                                    now=self.now))
                    if row["parent_id"]:
                        pending_parents.add(row["parent_id"])
                    if move[0] in lifecycle.ENDED:
                        frontier.append(row["job_id"])
            self._flush()
            while pending_parents:
                parent_id = pending_parents.pop()
                if self._refresh_parent(parent_id):
                    frontier.append(parent_id)
            self._flush()


def settle(conn: Connection, account_id: str, region: str, ended: Iterable[str], parents: Iterable[str],
           now: int) -> None:
    """Move on every job whose wait the ``ended`` jobs ended, refresh the ``parents`` arrays, transitively."""
    Settler(conn, account_id, region, now).run(ended, parents)


def end_jobs(conn: Connection, row: RowMapping, reason: str, now: int, *, terminate: bool) -> None:
    """CancelJob (``terminate=False``) or TerminateJob on a job row: the job, or every child of an array,
    ended as :func:`lifecycle.cancel`/:func:`lifecycle.terminate` say, the array parent marked with the
    reason, and everything waiting on them settled."""
    end = lifecycle.terminate if terminate else lifecycle.cancel
    flag = "isTerminated" if terminate else "isCancelled"
    ended: list[tuple[str, Mapping[str, Any]]] = []
    parents: set[str] = set()
    if row["array_size"]:
        base = row["document"]
        states = lifecycle.TERMINABLE if terminate else lifecycle.CANCELLABLE
        for child in conn.execute(select(jobs).where(jobs.c.parent_id == row["job_id"],
                                                     jobs.c.status.in_(states))).mappings():
            moved = end(jobs_state.view(child, base), reason, now)
            if moved is not None:
                ended.append((child["job_id"], moved))
        if row["status"] not in lifecycle.ENDED:
            marked = jobs_state.view(row, base)
            marked.update({"statusReason": reason, flag: True})
            jobs_state.save(conn, row["job_id"], marked, now)
        parents.add(row["job_id"])
    else:
        moved = end(jobs_state.view(row, jobs_state.base_of(conn, row)), reason, now)
        if moved is not None:
            ended.append((row["job_id"], moved))
            if row["parent_id"]:
                parents.add(row["parent_id"])
    jobs_state.save_many(conn, ended, now)
    settle(conn, row["account_id"], row["region"], [job_id for job_id, _ in ended], parents, now)


def attempt_started(conn: Connection, row: RowMapping, now: int, log_stream_name: str | None = None,
                    network_interfaces: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The runtime's report that a RUNNABLE (or STARTING) job's container runs: the job RUNNING."""
    job = lifecycle.start_attempt(jobs_state.view(row, jobs_state.base_of(conn, row)), now, log_stream_name,
                                  network_interfaces)
    jobs_state.save(conn, row["job_id"], job, now)
    return job


def attempt_ended(conn: Connection, row: RowMapping, exit_code: int | None, reason: str | None, now: int, *,
                  timed_out: bool = False, status_reason: str | None = None) -> dict[str, Any]:
    """The runtime's report that a running job's container stopped: retried (RUNNABLE) or ended, then whatever
    waited on it settled."""
    job = lifecycle.record_attempt_end(jobs_state.view(row, jobs_state.base_of(conn, row)), exit_code, reason,
                                       now, timed_out=timed_out, status_reason=status_reason)
    jobs_state.save(conn, row["job_id"], job, now)
    parents = [row["parent_id"]] if row["parent_id"] else []
    ended = [row["job_id"]] if job["status"] in lifecycle.ENDED else []
    settle(conn, row["account_id"], row["region"], ended, parents, now)
    return job
