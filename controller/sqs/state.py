"""SQS's tables in the state store: queues, their messages, FIFO deduplication and message move tasks.

Messages are rows keyed by an ever-growing ``seq`` (SQLite AUTOINCREMENT: never reused, so it is
also the FIFO SequenceNumber). A receive finds messages through ``(queue_id, visible_at)``, so it
costs O(log n) whatever the queue holds, and claims them in the same write transaction that finds
them (SQLite has one writer: two consumers can never claim the same row). Times are integer
milliseconds since the epoch, the unit SQS reports them in.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text

from controller.state import JsonText, metadata

queues = Table(
    "sqs_queues", metadata,
    Column("queue_id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(80), nullable=False),
    Column("arn", String(256), nullable=False, unique=True),
    Column("fifo", Boolean, nullable=False),
    #: every settable attribute with its current value, as the strings SQS reads back
    Column("attributes", JsonText, nullable=False),
    Column("tags", JsonText, nullable=False, default=dict),
    Column("created_at", Integer, nullable=False),      # epoch seconds
    Column("modified_at", Integer, nullable=False),     # epoch seconds
    Column("purged_at", Integer),                       # epoch ms of the last PurgeQueue
    Index("ix_sqs_queues_name", "account_id", "region", "name", unique=True),
    sqlite_autoincrement=True,
)

messages = Table(
    "sqs_messages", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("queue_id", Integer, nullable=False),
    Column("message_id", String(36), nullable=False),
    Column("body", Text, nullable=False),
    Column("message_attributes", JsonText),             # MessageAttributeValue shape, binary as base64
    Column("system_attributes", JsonText),
    Column("md5_body", String(32), nullable=False),
    Column("md5_attributes", String(32)),
    Column("md5_system", String(32)),
    Column("sender_id", String(128), nullable=False),
    Column("sent_at", Integer, nullable=False),
    #: when the message may next be received: after its delay, or when a receive's visibility ends
    Column("visible_at", Integer, nullable=False),
    Column("receive_count", Integer, nullable=False, default=0),
    Column("first_received_at", Integer),
    Column("received_at", Integer),                     # the latest receive (the 12 h visibility limit)
    #: the nonce in the latest receipt handle; older handles of the message no longer act on it
    Column("receipt", String(32)),
    Column("group_id", String(128)),
    Column("dedup_id", String(128)),
    #: the queue the message was moved from as a dead letter (DeadLetterQueueSourceArn, redrive)
    Column("dead_letter_source", String(256)),
    Index("ix_sqs_messages_visible", "queue_id", "visible_at"),
    Index("ix_sqs_messages_order", "queue_id", "seq"),
    sqlite_autoincrement=True,
)

#: FIFO deduplication: an id seen within five minutes answers with the first message's id.
deduplication = Table(
    "sqs_deduplication", metadata,
    Column("queue_id", Integer, primary_key=True),
    Column("scope", String(128), primary_key=True),     # "" (queue scope) or the message group
    Column("dedup_id", String(128), primary_key=True),
    Column("message_id", String(36), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("expires_at", Integer, nullable=False),
)

#: Names deleted within the last minute, which CreateQueue refuses (QueueDeletedRecently).
deleted_names = Table(
    "sqs_deleted_names", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(80), primary_key=True),
    Column("deleted_at", Integer, nullable=False),
)

move_tasks = Table(
    "sqs_move_tasks", metadata,
    Column("task_handle", String(512), primary_key=True),
    Column("source_arn", String(256), nullable=False, index=True),
    Column("destination_arn", String(256)),
    Column("max_per_second", Integer),
    Column("status", String(16), nullable=False),       # RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED
    Column("started_at", Integer, nullable=False),
    Column("moved", Integer, nullable=False, default=0),
    Column("to_move", Integer, nullable=False),
    Column("failure_reason", Text),
)

#: API workers' CloudWatch counts not yet published (controller/sqs/metrics.py): each worker adds its deltas
#: every few seconds, and the primary's publisher reads and deletes the rows in one transaction. A row is
#: "since the previous publish" by construction, so a queue is the whole key (the publish stamps the time).
metric_tallies = Table(
    "sqs_metric_tallies", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(80), primary_key=True),
    Column("sent", Integer, nullable=False),
    Column("received", Integer, nullable=False),
    Column("deleted", Integer, nullable=False),
    Column("empty_receives", Integer, nullable=False),
    #: SentMessageSize's statistic set; minimum and maximum mean nothing while size_count is 0
    Column("size_count", Integer, nullable=False),
    Column("size_total", Integer, nullable=False),
    Column("size_min", Integer, nullable=False),
    Column("size_max", Integer, nullable=False),
)
