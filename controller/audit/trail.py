"""Recording API calls as CloudTrail events, off the request path, losing none that were answered.

Requests hand a :class:`CallRecord` to :meth:`AuditTrail.record`, which builds the event, appends it to the
crash journal (``controller/audit/journal.py``: one write, before the answer leaves) and enqueues it; one
thread inserts events in batches, with the access keys' "last used" data in the same transaction, through
the cloud's group committer: a batch shares its commit (its fsync) with the requests' own writes. Readers
call :meth:`AuditTrail.flush` first so a lookup always sees the calls made before it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Column, Connection, Index, String, Table, insert, select

from controller.audit import journal
from controller.state import Database, EncodedJson, JsonText, UtcDateTime, metadata
from controller.state.committer import GroupCommitter

log = logging.getLogger(__name__)

events = Table(
    "audit_events", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("event_time", UtcDateTime, nullable=False),
    Column("event_name", String(128), nullable=False),
    Column("event_source", String(64), nullable=False),
    Column("read_only", Boolean, nullable=False),
    Column("username", String(256)),
    Column("access_key_id", String(32)),
    Column("resources", JsonText, nullable=False),
    Column("error_code", String(128)),
    Column("document", JsonText, nullable=False),
    Index("ix_audit_events_account_time", "account_id", "event_time"),
)

#: Why a refused call was refused (IAM's explanation of a denial, ``iam/verdicts.py``), keyed by the
#: event's id: a table of its own, so the event's JSON stays as CloudTrail's and older databases gain it
#: without a migration (``create_all`` adds missing tables).
explanations = Table(
    "audit_explanations", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("explanation", JsonText, nullable=False),
)

#: Request members whose values never reach the trail (CloudTrail hides them the same way).
SENSITIVE_WORDS = ("password", "secret", "privatekey", "sessiontoken", "userdata", "sse_customer_key",
                   "ssecustomerkey", "authenticationcode", "tokencode", "base32stringseed", "qrcodepng")
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
READ_ONLY_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Simulate", "Search")


@dataclass
class CallRecord:
    """What the request pipeline knows about one call once it is answered."""

    request_id: str
    time: dt.datetime
    account_id: str
    service: str
    event_source: str
    operation: str
    region: str
    principal_kind: str = "anonymous"
    principal_arn: str = ""
    principal_id: str = ""
    principal_name: str = ""
    access_key_id: str = ""
    session: dict[str, Any] | None = None
    source_ip: str = ""
    user_agent: str = ""
    resources: list[str] = field(default_factory=list)
    parameters: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    response: dict[str, Any] | None = None
    #: ``AwsApiCall`` for API calls; events that are no API call say what they are (``AwsConsoleSignIn``).
    event_type: str = "AwsApiCall"
    #: CloudTrail's ``additionalEventData`` (a console sign-in's ``MFAUsed``), when the event has any.
    additional_data: dict[str, Any] | None = None
    #: Why the call was refused (``ServiceError.explanation``), stored beside the event.
    explanation: dict[str, Any] | None = None


KeyUse = tuple[str, dt.datetime, str, str]
#: Stores access keys' "last used" data in the caller's transaction: key id -> (when, service, region).
KeyUseWriter = Callable[[Connection, dict[str, tuple[dt.datetime, str, str]]], None]


@dataclass(frozen=True)
class _Event:
    """An event row on its way to the database, with the access key use it records."""

    row: dict[str, Any]
    key_use: KeyUse | None
    explanation: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Sealed:
    """Queued right after a journal segment was sealed: every event of it is ahead in the queue."""

    path: Path


class AuditTrail:
    """Journals call records and writes them as events from one background thread."""

    def __init__(self, db: Database, writer: GroupCommitter, journal_dir: Path, *,
                 on_key_use: KeyUseWriter | None = None, batch_size: int = 500, segment_bytes: int = 4 << 20) -> None:
        self.db = db
        self.writer = writer
        self.on_key_use = on_key_use
        self.batch_size = batch_size
        self.segment_bytes = segment_bytes
        self._journal = journal.Journal(journal_dir)
        self._replay(self._journal.leftovers)
        #: Held while an event is journaled and queued, so the queue's order is the journal's.
        self._lock = threading.Lock()
        #: Whether a batch failed to commit: its events stay journaled (replayed at the next start).
        self._failed = False
        self._queue: queue.Queue[_Event | _Sealed | threading.Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def record(self, call: CallRecord) -> None:
        row = event_row(call)
        row["document"] = EncodedJson(document_json(row["document"]))  # once, for the journal and the row
        use = (call.access_key_id, call.time, call.service, call.region) \
            if call.access_key_id and call.error_code not in AUTH_FAILURES else None
        line = journal.encode(row, use, call.explanation)
        with self._lock:
            try:
                self._journal.append(line)
            except OSError as exc:  # a full disk, or a trail already closed: the database may still take it
                log.warning("audit journal: cannot append (%s); the event is only queued", exc)
            self._queue.put(_Event(row, use, call.explanation))

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything recorded before this call is written."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch: list[_Event] = []
            sealed: list[Path] = []
            waiters: list[threading.Event] = []
            while True:
                if item is None:
                    stopping = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)
                elif isinstance(item, _Sealed):
                    sealed.append(item.path)
                else:
                    batch.append(item)
                if len(batch) >= self.batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            try:
                self._write(batch)
            except Exception:  # the trail must never take the API down with it
                log.exception("could not write %d audit events; they stay in the journal for the next start",
                              len(batch))
                self._failed = True
            try:
                self._trim_journal(sealed, stopping)
            except OSError:
                log.exception("audit journal: cannot trim; committed events may be replayed (once) at the next start")
            for waiter in waiters:
                waiter.set()

    def _trim_journal(self, sealed: list[Path], stopping: bool) -> None:
        """Drop what the database now holds: sealed segments, and the current one when nothing is queued
        (everything journaled was taken from the queue by this thread, and committed)."""
        if self._failed:
            if stopping:
                self._journal.close(committed=False)
            return
        for path in sealed:
            path.unlink(missing_ok=True)
        with self._lock:
            if stopping:
                self._journal.close(committed=self._queue.empty())
            elif self._queue.empty():
                if self._journal.size:
                    self._journal.truncate()
            elif self._journal.size >= self.segment_bytes:
                self._queue.put(_Sealed(self._journal.seal()))

    def _write(self, batch: list[_Event]) -> None:
        if not batch:
            return

        def write(conn: Connection) -> None:
            conn.execute(insert(events), [event.row for event in batch])
            _insert_explanations(conn, [(event.row, event.explanation) for event in batch])
            self._note_key_use(conn, [event.key_use for event in batch])

        self.writer.run(write)

    def _note_key_use(self, conn: Connection, uses: list[KeyUse | None]) -> None:
        if self.on_key_use:
            self.on_key_use(conn, {key: (at, service, region) for key, at, service, region in filter(None, uses)})

    def _replay(self, segments: list[Path]) -> None:
        """Commit what a previous run journaled but may not have committed, then forget the segments."""
        for path in segments:
            entries = journal.read_segment(path)
            if entries:
                with self.db.begin() as conn:
                    conn.execute(insert(events).prefix_with("OR IGNORE"), [entry.row for entry in entries])
                    _insert_explanations(conn, [(entry.row, entry.explanation) for entry in entries])
                    self._note_key_use(conn, [entry.key_use for entry in entries])
                log.info("audit trail: %d events replayed from %s", len(entries), path.name)
            path.unlink()


def _insert_explanations(conn: Connection, pairs: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> None:
    """Store the explanations of refused calls; one replayed from the journal may be there already."""
    rows = [{"event_id": row["event_id"], "explanation": explanation} for row, explanation in pairs if explanation]
    if rows:
        conn.execute(insert(explanations).prefix_with("OR IGNORE"), rows)


def explanation_of(conn: Connection, event_id: str) -> tuple[str, dict[str, Any] | None] | None:
    """The account of event ``event_id`` and the explanation stored beside it; None: no such event."""
    found = conn.execute(select(events.c.account_id, explanations.c.explanation).outerjoin(
        explanations, explanations.c.event_id == events.c.event_id).where(events.c.event_id == event_id)).first()
    return (found.account_id, found.explanation) if found is not None else None


AUTH_FAILURES = {"SignatureDoesNotMatch", "InvalidClientTokenId", "InvalidAccessKeyId", "AuthFailure",
                 "IncompleteSignature", "MissingAuthenticationToken", "ExpiredToken", "RequestTimeTooSkewed"}


def event_row(call: CallRecord) -> dict[str, Any]:
    """One CloudTrail event (the row and its full JSON document) for a call."""
    event_id = str(uuid.uuid4())
    read_only = call.operation.startswith(READ_ONLY_PREFIXES)
    identity: dict[str, Any] = {"type": _identity_type(call.principal_kind), "principalId": call.principal_id,
                                "arn": call.principal_arn, "accountId": call.account_id}
    if call.access_key_id:
        identity["accessKeyId"] = call.access_key_id
    if call.principal_kind == "user":
        identity["userName"] = call.principal_name
    if call.session:
        identity["sessionContext"] = call.session
    document = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": call.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": call.event_source,
        "eventName": call.operation,
        "awsRegion": call.region,
        "sourceIPAddress": call.source_ip,
        "userAgent": call.user_agent,
        "requestParameters": sanitize(call.parameters) if call.parameters else None,
        "responseElements": sanitize(call.response) if call.response else None,
        "requestID": call.request_id,
        "eventID": event_id,
        "readOnly": read_only,
        "resources": [{"ARN": arn, "accountId": call.account_id} for arn in call.resources],
        "eventType": call.event_type,
        "managementEvent": True,
        "recipientAccountId": call.account_id,
    }
    if call.additional_data:
        document["additionalEventData"] = call.additional_data
    if call.error_code:
        document["errorCode"] = call.error_code
    if call.error_code or call.error_message:  # a failed console sign-in has a message and no code
        document["errorMessage"] = call.error_message or ""
    return {
        "event_id": event_id, "account_id": call.account_id, "event_time": call.time,
        "event_name": call.operation, "event_source": call.event_source, "read_only": read_only,
        "username": call.principal_name or None, "access_key_id": call.access_key_id or None,
        "resources": [resource_of(arn) for arn in call.resources], "error_code": call.error_code,
        "document": document,
    }


def resource_of(arn: str) -> dict[str, str]:
    """CloudTrail's (ResourceType, ResourceName) for an ARN: ``AWS::IAM::User`` and the name."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return {"type": "", "name": arn}
    service, resource = parts[2], parts[5]
    kind, sep, name = resource.partition("/") if "/" in resource else resource.partition(":")
    if not sep:
        kind, name = ("bucket" if service == "s3" else ""), resource
    type_name = f"AWS::{_service_title(service)}::{kind[:1].upper() + kind[1:]}" if kind else ""
    return {"type": type_name, "name": name.rsplit("/", 1)[-1] if service == "iam" else name}


def _service_title(service: str) -> str:
    return {"ec2": "EC2", "iam": "IAM", "s3": "S3", "sqs": "SQS", "sns": "SNS", "sts": "STS"}.get(
        service, service.capitalize())


def _identity_type(kind: str) -> str:
    return {"root": "Root", "user": "IAMUser", "assumed-role": "AssumedRole", "federated": "FederatedUser",
            "service": "AWSService"}.get(
        kind, "AWSAccount" if kind != "anonymous" else "Anonymous")


def sanitize(value: Any, key: str = "") -> Any:
    """A JSON-safe copy with secrets hidden and binary data reduced to its size."""
    if key and any(word in key.lower() for word in SENSITIVE_WORDS):
        return HIDDEN
    if isinstance(value, dict):
        return {k: sanitize(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitize(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return f"<{type(value).__name__}>"


def document_json(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))
