"""Messages in and out of the state store: the few statements every send and receive runs.

These are the hot paths, so they speak SQL directly (prepared once by SQLite, no ORM work per row)
and run inside the caller's transaction: a batch of ten is one transaction and one fsync. A send
announces ``sqs:<queue id>`` so long polls waiting on that queue wake when it commits.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from controller.sqs.records import Queue
from controller.state import Database

#: How long FIFO queues remember a deduplication id.
DEDUPLICATION_MS = 5 * 60 * 1000


@dataclass(frozen=True)
class Outgoing:
    """A message ready to enqueue (checked, digested, attributes in their stored form)."""

    body: str
    attributes: dict[str, dict[str, str]] | None
    system_attributes: dict[str, dict[str, str]] | None
    md5_body: str
    md5_attributes: str | None
    md5_system: str | None
    delay_seconds: int
    sender_id: str
    group_id: str | None = None
    dedup_id: str | None = None
    dead_letter_source: str | None = None
    message_id: str | None = None
    sent_at: int | None = None


@dataclass(frozen=True)
class Sent:
    message_id: str
    sequence_number: str | None


def topic(queue_id: int) -> str:
    """The announcement a queue's long polls wait for."""
    return f"sqs:{queue_id}"


def sequence_number(seq: int) -> str:
    """FIFO's SequenceNumber: the row's never-reused, ever-growing key, as SQS's 20-digit numbers."""
    return f"{18_000_000_000_000_000_000 + seq}"


def enqueue(conn: Connection, queue: Queue, messages: list[Outgoing], now: int) -> list[Sent]:
    """Store ``messages`` in ``queue`` (FIFO deduplication applied); in the caller's transaction."""
    sent = []
    for message in messages:
        if queue.fifo and message.dedup_id is not None:
            earlier = _deduplicated(conn, queue, message, now)
            if earlier is not None:
                sent.append(earlier)
                continue
        message_id = message.message_id or str(uuid.uuid4())
        seq = conn.exec_driver_sql(
            "INSERT INTO sqs_messages (queue_id, message_id, body, message_attributes, system_attributes, md5_body,"
            " md5_attributes, md5_system, sender_id, sent_at, visible_at, receive_count, group_id, dedup_id,"
            " dead_letter_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) RETURNING seq",
            (queue.queue_id, message_id, message.body, _json(message.attributes), _json(message.system_attributes),
             message.md5_body, message.md5_attributes, message.md5_system, message.sender_id,
             message.sent_at or now, now + message.delay_seconds * 1000, message.group_id, message.dedup_id,
             message.dead_letter_source)).scalar_one()
        if queue.fifo and message.dedup_id is not None:
            conn.exec_driver_sql(
                "INSERT OR REPLACE INTO sqs_deduplication (queue_id, scope, dedup_id, message_id, seq, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (queue.queue_id, _scope(queue, message), message.dedup_id, message_id, seq, now + DEDUPLICATION_MS))
        sent.append(Sent(message_id, sequence_number(seq) if queue.fifo else None))
    Database.announce(conn, topic(queue.queue_id))
    return sent


def _scope(queue: Queue, message: Outgoing) -> str:
    return (message.group_id or "") if queue.attributes.get("DeduplicationScope") == "messageGroup" else ""


def _deduplicated(conn: Connection, queue: Queue, message: Outgoing, now: int) -> Sent | None:
    row = conn.exec_driver_sql(
        "SELECT message_id, seq FROM sqs_deduplication WHERE queue_id = ? AND scope = ? AND dedup_id = ?"
        " AND expires_at > ?", (queue.queue_id, _scope(queue, message), message.dedup_id, now)).first()
    return Sent(row[0], sequence_number(row[1])) if row is not None else None


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))
