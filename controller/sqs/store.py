"""Messages in and out of the state store: the few statements every send and receive runs.

These are the hot paths, so they speak SQL directly (prepared once by SQLite, no ORM work per row)
and run inside the caller's transaction: a batch of ten is one transaction and one fsync. A send
announces ``sqs:<queue id>`` so long polls waiting on that queue wake when it commits.
"""

from __future__ import annotations

import json
import sqlite3
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


def cursor(conn: Connection) -> sqlite3.Cursor:
    """The DBAPI cursor of ``conn``'s transaction: hot statements skip SQLAlchemy's per-statement work."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


_INSERT = ("INSERT INTO sqs_messages (queue_id, message_id, body, message_attributes, system_attributes, md5_body,"
           " md5_attributes, md5_system, sender_id, sent_at, visible_at, receive_count, group_id, dedup_id,"
           " dead_letter_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)")


def enqueue(conn: Connection, queue: Queue, messages: list[Outgoing], now: int) -> list[Sent]:
    """Store ``messages`` in ``queue`` (FIFO deduplication applied); in the caller's transaction.

    A standard queue's batch is one ``executemany``; a FIFO batch reads its deduplication ids in one
    query and inserts each new message for its sequence number.
    """
    db_cursor = cursor(conn)
    earlier = _earlier(db_cursor, queue, messages, now) if queue.fifo else {}
    sent: list[Sent] = []
    plain_rows: list[tuple[Any, ...]] = []
    remembered: list[tuple[Any, ...]] = []
    for message in messages:
        key = (_scope(queue, message), message.dedup_id) if queue.fifo and message.dedup_id is not None else None
        if key is not None and key in earlier:
            sent.append(earlier[key])
            continue
        message_id = message.message_id or str(uuid.uuid4())
        row = (queue.queue_id, message_id, message.body, _json(message.attributes), _json(message.system_attributes),
               message.md5_body, message.md5_attributes, message.md5_system, message.sender_id,
               message.sent_at or now, now + message.delay_seconds * 1000, message.group_id, message.dedup_id,
               message.dead_letter_source)
        if not queue.fifo:
            plain_rows.append(row)
            sent.append(Sent(message_id, None))
            continue
        seq = db_cursor.execute(_INSERT + " RETURNING seq", row).fetchone()[0]
        result = Sent(message_id, sequence_number(seq))
        if key is not None:
            earlier[key] = result
            remembered.append((queue.queue_id, key[0], key[1], message_id, seq, now + DEDUPLICATION_MS))
        sent.append(result)
    if plain_rows:
        db_cursor.executemany(_INSERT, plain_rows)
    if remembered:
        db_cursor.executemany("INSERT OR REPLACE INTO sqs_deduplication (queue_id, scope, dedup_id, message_id, seq,"
                              " expires_at) VALUES (?, ?, ?, ?, ?, ?)", remembered)
    Database.announce(conn, topic(queue.queue_id))
    return sent


def _scope(queue: Queue, message: Outgoing) -> str:
    return (message.group_id or "") if queue.attributes.get("DeduplicationScope") == "messageGroup" else ""


def _earlier(db_cursor: sqlite3.Cursor, queue: Queue, messages: list[Outgoing], now: int) -> dict[tuple[str, str], Sent]:
    """The batch's deduplication ids still remembered: (scope, id) -> the first message's answer."""
    ids = list({message.dedup_id for message in messages if message.dedup_id is not None})
    if not ids:
        return {}
    rows = db_cursor.execute(
        "SELECT scope, dedup_id, message_id, seq FROM sqs_deduplication WHERE queue_id = ? AND expires_at > ?"
        f" AND dedup_id IN ({','.join('?' * len(ids))})", (queue.queue_id, now, *ids)).fetchall()
    return {(scope, dedup_id): Sent(message_id, sequence_number(seq)) for scope, dedup_id, message_id, seq in rows}


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))
