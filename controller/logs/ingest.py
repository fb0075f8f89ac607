"""Writing log events: PutLogEvents' batch rules (pure), the one statement path that stores events,
and contract A, :func:`append`, through which other services (Lambda) ship their logs.

:func:`check_batch` is AWS's documented PutLogEvents contract: at most 10,000 events and 1,048,576
bytes (each message's UTF-8 bytes plus 26), in chronological order; events more than 2 hours ahead,
more than 14 days old or older than the group's retention are rejected (and reported by index) while
the rest are stored, and the stored ones may not span more than 24 hours.

:func:`append` only enqueues: the cloud's :class:`LogsWriter` (``cloud.logs_writer``) stores whatever
is queued in one transaction per wake-up, creating groups and streams as Lambda's service does, and
every read of the API first waits for what was queued before it (:func:`flush_pending`), so a caller
that appended and then reads sees its events. The same thread applies retention periods every minute.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from controller.logs import errors
from controller.logs.encryption import KeyRing, Sealed
from controller.logs.records import DAY_MS, now_ms, retention_floor
from controller.logs.retention import sweep_expired
from controller.logs.service import api
from controller.logs.state import events, groups, streams

log = logging.getLogger(__name__)

MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_BATCH_EVENTS = 10_000
MAX_FUTURE_MS = 2 * 3_600_000
MAX_AGE_MS = 14 * DAY_MS
MAX_SPAN_MS = DAY_MS
SWEEP_SECONDS = 60.0
#: How long the writer gathers appends before storing them: under a stream of invocations their logs
#: go to disk in one transaction every few invocations instead of one each.
LINGER_SECONDS = 0.05
_create_lock = threading.Lock()


@dataclass(frozen=True)
class BatchVerdict:
    """Which events of a batch are stored (``start:stop``) and the rejectedLogEventsInfo for the rest."""

    start: int
    stop: int
    rejected: dict[str, int] = field(default_factory=dict)


def check_batch(batch: list[tuple[int, str]], now: int, retention_days: int | None) -> BatchVerdict:
    """Apply PutLogEvents' rules to ``(timestamp, message)`` pairs; InvalidParameterException if the
    whole batch is refused."""
    size = sum(len(message.encode("utf-8")) + EVENT_OVERHEAD_BYTES for _, message in batch)
    if size > MAX_BATCH_BYTES:
        raise errors.InvalidParameterException(
            f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")
    if len(batch) > MAX_BATCH_EVENTS:
        raise errors.InvalidParameterException(
            f"Upload too large: {len(batch)} log events exceeds limit of {MAX_BATCH_EVENTS}")
    stamps = [timestamp for timestamp, _ in batch]
    if any(later < earlier for earlier, later in zip(stamps, stamps[1:], strict=False)):
        raise errors.InvalidParameterException(
            "Log events in a single PutLogEvents request must be in chronological order.")
    rejected: dict[str, int] = {}
    too_new = next((index for index, stamp in enumerate(stamps) if stamp > now + MAX_FUTURE_MS), len(stamps))
    if too_new < len(stamps):
        rejected["tooNewLogEventStartIndex"] = too_new
    too_old = _last_below(stamps, now - MAX_AGE_MS)
    if too_old >= 0:
        rejected["tooOldLogEventEndIndex"] = too_old
    expired = _last_below(stamps, now - retention_days * DAY_MS) if retention_days else -1
    if expired >= 0:
        rejected["expiredLogEventEndIndex"] = expired
    start = max(too_old, expired) + 1
    stop = max(start, too_new)
    if stop - start > 1 and stamps[stop - 1] - stamps[start] > MAX_SPAN_MS:
        raise errors.InvalidParameterException(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
    return BatchVerdict(start, stop, rejected)


def _last_below(stamps: list[int], floor: int) -> int:
    return max((index for index, stamp in enumerate(stamps) if stamp < floor), default=-1)


def store_events(conn: Connection, group: dict[str, Any], stream: dict[str, Any],
                 batch: list[tuple[int, str]], now: int, seal: Callable[[str], Sealed]) -> None:
    """Insert ``batch`` (already checked) into ``stream``, each message as ``seal`` stores it (plain, or
    encrypted under the group's key), and move the stream's and group's counters."""
    if not batch:
        return
    rows = []
    for timestamp, message in batch:
        text, sealed, key_id = seal(message)
        rows.append({"stream_id": stream["stream_id"], "group_id": group["group_id"], "timestamp": timestamp,
                     "ingested_at": now, "message": text, "sealed": sealed, "key_id": key_id,
                     "size": len(message.encode("utf-8"))})
    conn.execute(insert(events), rows)
    first, last = min(row["timestamp"] for row in rows), max(row["timestamp"] for row in rows)
    conn.execute(update(streams).where(streams.c.stream_id == stream["stream_id"]).values(
        first_event_at=func.min(func.coalesce(streams.c.first_event_at, first), first),
        last_event_at=func.max(func.coalesce(streams.c.last_event_at, last), last),
        last_ingestion_at=now))
    conn.execute(update(groups).where(groups.c.group_id == group["group_id"]).values(
        stored_bytes=groups.c.stored_bytes + sum(row["size"] for row in rows)))


# --- contract A -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Append:
    account_id: str
    region: str
    group: str
    stream: str
    events: list[tuple[int, str]]


def append(cloud: Any, *, account_id: str, group: str, stream: str, events: list[tuple[int, str]]) -> None:
    """Append events (timestamp ms, message) to group/stream, creating both if absent (as Lambda's service
    does); thread-safe; ordered by timestamp; honours the group's retention period.

    Returns at once: the writer stores the events moments later, before any read of the API that
    starts after this call returns.
    """
    kept = sorted(((int(timestamp), message) for timestamp, message in events if message), key=_timestamp)
    if kept:
        writer_of(cloud).enqueue(_Append(account_id, cloud.config.region, group, stream, kept))


def writer_of(cloud: Any) -> LogsWriter:
    """The cloud's writer, started on first use (the service's start hook usually made it already)."""
    with _create_lock:
        if cloud.logs_writer is None:
            cloud.logs_writer = LogsWriter(cloud)
        return cloud.logs_writer


def flush_pending(cloud: Any) -> None:
    """Wait until events appended before this call are stored (nothing to wait for: returns at once)."""
    writer = cloud.logs_writer
    if writer is not None:
        writer.flush()


def start(cloud: Any) -> None:
    writer_of(cloud)


def stop(cloud: Any) -> None:
    """Drain and stop the writer; it stays in its slot, so appends from services stopping later still land."""
    writer = cloud.logs_writer
    if writer is not None:
        writer.close()


api.on_start.append(start)
api.on_stop.append(stop)


class LogsWriter:
    """One thread that stores appended events in batches and sweeps expired events every minute."""

    def __init__(self, cloud: Any, *, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self.cloud = cloud
        self.db = cloud.db
        self.sweep_seconds = sweep_seconds
        self._queue: queue.Queue[_Append | threading.Event | None] = queue.Queue()
        self._unwritten = 0
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="logs-writer", daemon=True)
        self._thread.start()

    def enqueue(self, item: _Append) -> None:
        with self._lock:
            if not self._closed:
                self._unwritten += 1
                self._queue.put(item)
                return
        self._guarded("store events appended after the writer stopped", self._write, [item])

    def flush(self, timeout: float = 10.0) -> None:
        with self._lock:
            if not self._unwritten:
                return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        stopping = False
        next_sweep = time.monotonic() + self.sweep_seconds
        while not stopping:
            if time.monotonic() >= next_sweep:   # also when appends never let the queue fall idle
                self._guarded("sweep expired log events", sweep_expired, self.db, now_ms())
                next_sweep = time.monotonic() + self.sweep_seconds
            try:
                item = self._queue.get(timeout=max(0.0, next_sweep - time.monotonic()))
            except queue.Empty:
                continue
            batch: list[_Append] = []
            waiters: list[threading.Event] = []
            linger_until = time.monotonic() + LINGER_SECONDS
            while True:
                if item is None:
                    stopping = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)
                else:
                    batch.append(item)
                # Appends arriving within the linger share one transaction (one fsync); a reader's flush
                # or a stop ends the wait at once.
                wait = 0.0 if waiters or stopping else linger_until - time.monotonic()
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._guarded(f"store {len(batch)} appended log batches", self._write, batch)
                with self._lock:
                    self._unwritten -= len(batch)
            for waiter in waiters:
                waiter.set()

    @staticmethod
    def _guarded(what: str, work: Any, *args: Any) -> None:
        try:
            work(*args)
        except Exception:  # a failed write must not stop the writer: later appends still get stored
            log.exception("could not %s", what)

    def _write(self, batch: list[_Append]) -> None:
        sealers = self._sealers(batch)
        by_stream: dict[tuple[str, str, str, str], list[tuple[int, str]]] = {}
        for item in batch:   # one insert per stream, however many appends the batch holds
            key = (item.account_id, item.region, item.group, item.stream)
            by_stream.setdefault(key, []).extend(item.events)
        now = now_ms()
        with self.db.begin() as conn:
            for (account_id, region, group_name, stream_name), appended in by_stream.items():
                group = _group_for_append(conn, account_id, region, group_name, now)
                stream = _stream_for_append(conn, group, stream_name, now)
                floor = max(retention_floor(group, now), now - MAX_AGE_MS)
                seal = sealers.get(group["group_id"], _plain)
                if seal is not None:
                    kept = sorted((event for event in appended if event[0] >= floor), key=_timestamp)
                    store_events(conn, group, stream, kept, now, seal)

    def _sealers(self, batch: list[_Append]) -> dict[int, Callable[[str], Sealed] | None]:
        """How each encrypted group among the batch's seals messages: KMS is asked before the write
        transaction opens, since KMS writes too; None for a group whose key cannot be used (its events are
        dropped, as AWS cannot ingest into such a group)."""
        names = {(item.account_id, item.region, item.group) for item in batch}
        with self.db.read() as conn:
            encrypted = conn.execute(select(groups).where(groups.c.key_id.is_not(None))).mappings()
            rows = [dict(row) for row in encrypted if (row["account_id"], row["region"], row["name"]) in names]
        sealers: dict[int, Callable[[str], Sealed] | None] = {}
        for group in rows:
            try:
                sealers[group["group_id"]] = KeyRing(self.cloud, group).sealer()
            except errors.ServiceError:
                log.warning("log group %s: its KMS key cannot be used, events dropped", group["name"])
                sealers[group["group_id"]] = None
        return sealers


def _timestamp(event: tuple[int, str]) -> int:
    """Sort key of events: by time only, so lines of one millisecond keep the order they were written in."""
    return event[0]


def _plain(message: str) -> Sealed:
    return message, None, None


def _group_for_append(conn: Connection, account_id: str, region: str, name: str, now: int) -> dict[str, Any]:
    where = (groups.c.account_id == account_id) & (groups.c.region == region) & (groups.c.name == name)
    row = conn.execute(select(groups).where(where)).mappings().first()
    if row is None:
        conn.execute(insert(groups).values(account_id=account_id, region=region, name=name,
                                           created_at=now, log_group_class="STANDARD", tags={},
                                           stored_bytes=0))
        row = conn.execute(select(groups).where(where)).mappings().one()
    return dict(row)


def _stream_for_append(conn: Connection, group: dict[str, Any], name: str, now: int) -> dict[str, Any]:
    where = (streams.c.group_id == group["group_id"]) & (streams.c.name == name)
    row = conn.execute(select(streams).where(where)).mappings().first()
    if row is None:
        conn.execute(insert(streams).values(group_id=group["group_id"], name=name, created_at=now))
        row = conn.execute(select(streams).where(where)).mappings().one()
    return dict(row)


def ensure_group(cloud: Any, account_id: str, region: str, name: str) -> None:
    """Create log group ``name`` when it is missing, as a service that owns the group does before its clients'
    PutLogEvents (Batch's ``/aws/batch/job``, which a container instance's agent writes to)."""
    with cloud.db.begin() as conn:
        _group_for_append(conn, account_id, region, name, int(time.time() * 1000))
