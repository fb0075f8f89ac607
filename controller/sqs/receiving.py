"""Claiming messages for a receive, and acting on them by receipt handle (SQL, in the caller's transaction).

A receive finds receivable messages through ``(queue_id, visible_at)`` and claims them with one
UPDATE in the same write transaction: SQLite has one writer, so no two consumers, threads or
processes, ever claim the same message within a visibility window. Each receive writes a new nonce
into the rows it claims; the receipt handle carries it, so a handle from an earlier receive of the
same message no longer acts on it.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from controller.sqs import fifo, queue_attributes, records
from controller.sqs.errors import ReceiptHandleIsInvalid
from controller.sqs.records import Queue
from controller.sqs.store import cursor, topic
from controller.state import Database

#: The most a message may stay invisible counted from the receive (ChangeMessageVisibility's limit).
MAX_VISIBILITY_MS = 43_200_000
_SCAN = 50


@dataclass(frozen=True)
class Received:
    """One claimed message, as ReceiveMessage reports it."""

    seq: int
    message_id: str
    receipt_handle: str
    body: str
    message_attributes: dict[str, dict[str, str]] | None
    system_attributes: dict[str, dict[str, str]] | None
    md5_body: str
    sender_id: str
    sent_at: int
    receive_count: int
    first_received_at: int
    group_id: str | None
    dedup_id: str | None
    dead_letter_source: str | None


@dataclass(frozen=True)
class Handle:
    queue_id: int
    seq: int
    nonce: str


def receipt_handle(queue_id: int, seq: int, nonce: str) -> str:
    return base64.b64encode(f"{queue_id}:{seq}:{nonce}:{secrets.token_hex(24)}".encode()).decode()


def parse_handle(text: str) -> Handle:
    """The message a receipt handle names; ReceiptHandleIsInvalid when it is not one of ours."""
    try:
        queue_id, seq, nonce, _ = base64.b64decode(text.encode(), validate=True).decode().split(":")
        return Handle(int(queue_id), int(seq), nonce)
    except (ValueError, binascii.Error, UnicodeError):
        raise ReceiptHandleIsInvalid(f'The input receipt handle "{text}" is not a valid receipt handle.') from None


def claim(conn: Connection, cloud: Any, queue: Queue, limit: int, visibility_s: int, now: int) -> list[Received]:
    """Claim up to ``limit`` receivable messages for ``visibility_s`` seconds.

    On the way it retires messages past the retention period and moves those already received
    maxReceiveCount times to the dead-letter queue (the receive that would exceed the count).
    """
    retention_ms = queue.int_attribute("MessageRetentionPeriod") * 1000
    redrive = queue_attributes.redrive_target(queue.attributes)
    dead_letter = records.find_by_arn(conn, cloud, redrive[0]) if redrive else None
    chosen: list[int] = []
    while len(chosen) < limit:
        candidates = _candidates(conn, queue, now, chosen)
        if not candidates:
            break
        usable: list[tuple[int, str]] = []
        for seq, receive_count, sent_at, group_id in candidates:
            if sent_at + retention_ms <= now:
                conn.exec_driver_sql("DELETE FROM sqs_messages WHERE seq = ?", (seq,))
            elif dead_letter is not None and redrive is not None and receive_count >= redrive[1]:
                _move_to_dead_letter(conn, seq, queue, dead_letter, now)
            else:
                usable.append((seq, group_id or ""))
        picked = fifo.pick(usable, set(), limit - len(chosen)) if queue.fifo else [s for s, _ in usable]
        chosen.extend(picked[:limit - len(chosen)])
        if len(candidates) < _SCAN:
            break
    if not chosen:
        return []
    nonce = secrets.token_hex(8)
    marks = ",".join("?" * len(chosen))
    rows = cursor(conn).execute(
        "UPDATE sqs_messages SET visible_at = ?, receive_count = receive_count + 1,"
        " first_received_at = COALESCE(first_received_at, ?), received_at = ?, receipt = ?"
        f" WHERE seq IN ({marks}) RETURNING seq, message_id, body, message_attributes, system_attributes,"
        " md5_body, sender_id, sent_at, receive_count, first_received_at, group_id, dedup_id, dead_letter_source",
        (now + visibility_s * 1000, now, now, nonce, *chosen)).fetchall()
    by_seq = {row[0]: row for row in rows}
    return [_received(queue.queue_id, nonce, by_seq[seq]) for seq in chosen]


def next_visible(conn: Connection, queue: Queue, now: int) -> int | None:
    """When the queue's next delayed or in-flight message becomes visible (epoch ms), if it has one."""
    return conn.exec_driver_sql("SELECT MIN(visible_at) FROM sqs_messages WHERE queue_id = ? AND visible_at > ?",
                                (queue.queue_id, now)).scalar()


def _candidates(conn: Connection, queue: Queue, now: int, taken: list[int]) -> list[Any]:
    exclude = f" AND seq NOT IN ({','.join('?' * len(taken))})" if taken else ""
    if queue.fifo:
        return cursor(conn).execute(
            "SELECT seq, receive_count, sent_at, group_id FROM sqs_messages WHERE queue_id = ? AND visible_at <= ?"
            " AND group_id NOT IN (SELECT group_id FROM sqs_messages WHERE queue_id = ? AND visible_at > ?"
            f" AND receive_count > 0){exclude} ORDER BY seq LIMIT {_SCAN}",
            (queue.queue_id, now, queue.queue_id, now, *taken)).fetchall()
    return cursor(conn).execute(
        "SELECT seq, receive_count, sent_at, group_id FROM sqs_messages WHERE queue_id = ? AND visible_at <= ?"
        f"{exclude} LIMIT {_SCAN}", (queue.queue_id, now, *taken)).fetchall()


def _move_to_dead_letter(conn: Connection, seq: int, source: Queue, dead_letter: Queue, now: int) -> None:
    """Move a message as SQS does: same MessageId; FIFO messages get a new enqueue time, standard ones keep it."""
    conn.exec_driver_sql(
        "UPDATE sqs_messages SET queue_id = ?, visible_at = ?, receive_count = 0, first_received_at = NULL,"
        " received_at = NULL, receipt = NULL, dead_letter_source = ?,"
        " sent_at = CASE WHEN ? = 1 THEN ? ELSE sent_at END WHERE seq = ?",
        (dead_letter.queue_id, now, source.arn, dead_letter.fifo, now, seq))
    Database.announce(conn, topic(dead_letter.queue_id))


def _received(queue_id: int, nonce: str, row: Any) -> Received:
    return Received(
        seq=row[0], message_id=row[1], receipt_handle=receipt_handle(queue_id, row[0], nonce), body=row[2],
        message_attributes=json.loads(row[3]) if row[3] else None,
        system_attributes=json.loads(row[4]) if row[4] else None, md5_body=row[5], sender_id=row[6],
        sent_at=row[7], receive_count=row[8], first_received_at=row[9], group_id=row[10], dedup_id=row[11],
        dead_letter_source=row[12])


@dataclass(frozen=True)
class Target:
    """A message as a receipt handle finds it: its latest receipt nonce and its visibility."""

    receipt: str | None
    visible_at: int
    received_at: int | None

    def current(self, handle: Handle) -> bool:
        """Whether ``handle`` is from the message's latest receive."""
        return self.receipt == handle.nonce


def targets(conn: Connection, queue: Queue, handles: list[Handle]) -> dict[int, Target]:
    """What each handle points at now, by ``seq`` (absent: the message is gone), in one query.

    A handle of another queue is invalid (ReceiptHandleIsInvalid), as SQS answers.
    """
    for handle in handles:
        if handle.queue_id != queue.queue_id:
            raise ReceiptHandleIsInvalid("The input receipt handle is not a valid receipt handle for this queue.")
    seqs = list({handle.seq for handle in handles})
    rows = cursor(conn).execute(
        f"SELECT seq, receipt, visible_at, received_at FROM sqs_messages WHERE seq IN ({','.join('?' * len(seqs))})"
        " AND queue_id = ?", (*seqs, queue.queue_id)).fetchall()
    return {seq: Target(receipt, visible_at, received_at) for seq, receipt, visible_at, received_at in rows}


def delete(conn: Connection, handles: list[Handle]) -> None:
    """Delete the messages whose latest receive the handles are (an older handle deletes nothing)."""
    cursor(conn).executemany("DELETE FROM sqs_messages WHERE seq = ? AND receipt = ?",
                             [(handle.seq, handle.nonce) for handle in handles])


def set_visibility(conn: Connection, queue: Queue, handle: Handle, visible_at: int) -> None:
    cursor(conn).execute("UPDATE sqs_messages SET visible_at = ? WHERE seq = ? AND receipt = ?",
                         (visible_at, handle.seq, handle.nonce))
    Database.announce(conn, topic(queue.queue_id))
