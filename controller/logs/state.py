"""CloudWatch Logs' tables: log groups, their streams, and the events of each stream.

Times are integer milliseconds since the epoch, the unit CloudWatch Logs reports. Events are rows
keyed by an ever-growing ``seq`` (AUTOINCREMENT, never reused): ``(timestamp, seq)`` orders a
stream's or a group's events, and is what GetLogEvents' and FilterLogEvents' tokens remember.
Deleting a group deletes its streams and their events through the foreign keys. A group with a KMS
key keeps its events' messages sealed under a data key of that key (``logs_group_keys``).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, LargeBinary, String, Table, Text

from controller.state import JsonText, metadata

groups = Table(
    "logs_groups", metadata,
    Column("group_id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(512), nullable=False),
    Column("created_at", Integer, nullable=False),
    Column("retention_days", Integer),                  # None: events never expire
    Column("kms_key_id", String(256)),                 # the KMS key ARN new events are encrypted under
    Column("key_id", Integer),                          # its data key (logs_group_keys), None: not encrypted
    Column("log_group_class", String(32), nullable=False),
    Column("tags", JsonText, nullable=False, default=dict),
    Column("deletion_protection", Boolean, nullable=False, default=False),
    Column("stored_bytes", Integer, nullable=False, default=0),
    Index("ix_logs_groups_name", "account_id", "region", "name", unique=True),
    sqlite_autoincrement=True,
)

streams = Table(
    "logs_streams", metadata,
    Column("stream_id", Integer, primary_key=True, autoincrement=True),
    Column("group_id", Integer, ForeignKey("logs_groups.group_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(512), nullable=False),
    Column("created_at", Integer, nullable=False),
    Column("first_event_at", Integer),
    Column("last_event_at", Integer),
    Column("last_ingestion_at", Integer),
    Index("ix_logs_streams_name", "group_id", "name", unique=True),
    sqlite_autoincrement=True,
)

events = Table(
    "logs_events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("stream_id", Integer, ForeignKey("logs_streams.stream_id", ondelete="CASCADE"), nullable=False),
    Column("group_id", Integer, nullable=False),
    Column("timestamp", Integer, nullable=False),
    Column("ingested_at", Integer, nullable=False),
    Column("message", Text),                            # the message, unless its group encrypts it:
    Column("sealed", LargeBinary),                      # then nonce + AES-GCM ciphertext under key_id's key
    Column("key_id", Integer),
    Column("size", Integer, nullable=False),            # UTF-8 bytes of the message (storedBytes)
    Index("ix_logs_events_stream", "stream_id", "timestamp", "seq"),
    Index("ix_logs_events_group", "group_id", "timestamp", "seq"),
    sqlite_autoincrement=True,
)

#: Data keys of encrypted groups: one per KMS key a group was associated with, kept while events use it.
group_keys = Table(
    "logs_group_keys", metadata,
    Column("key_id", Integer, primary_key=True, autoincrement=True),
    Column("group_id", Integer, ForeignKey("logs_groups.group_id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("kms_key_arn", String(256), nullable=False),
    Column("data_key", LargeBinary, nullable=False),    # the data key's KMS blob (context aws:logs:arn)
    sqlite_autoincrement=True,
)
