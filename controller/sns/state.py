"""SNS's tables: topics, subscriptions, the delivery outbox, FIFO deduplication and the delivery log.

Publish writes the message and one outbox row per subscription it matched, in the transaction that
acknowledges it; the delivery worker (``worker.py``) removes a row once its endpoint took the message
(or it failed for good), so an acknowledged message is delivered even across a controller restart, and
only to the subscriptions that existed when it was published. Times are integer milliseconds.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text

from controller.state import JsonText, metadata

topics = Table(
    "sns_topics", metadata,
    Column("arn", String(320), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(256), nullable=False),
    Column("fifo", Boolean, nullable=False),
    #: the settable attributes with their current values, as the strings GetTopicAttributes reads back
    Column("attributes", JsonText, nullable=False),
    Column("tags", JsonText, nullable=False, default=dict),
    Column("subscriptions_deleted", Integer, nullable=False, default=0),
    #: the last SequenceNumber given on a FIFO topic
    Column("sequence", Integer, nullable=False, default=0),
    Column("created_at", Integer, nullable=False),
    Index("ix_sns_topics_account", "account_id", "region", "name"),
)

subscriptions = Table(
    "sns_subscriptions", metadata,
    Column("arn", String(400), primary_key=True),
    Column("topic_arn", String(320), nullable=False, index=True),
    Column("owner", String(12), nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("confirmed", Boolean, nullable=False),
    Column("token", String(256), unique=True),
    Column("authenticated", Boolean, nullable=False, default=False),
    Column("attributes", JsonText, nullable=False),
    Column("created_at", Integer, nullable=False),
    Index("ix_sns_subscriptions_owner", "owner", "created_at"),
)

messages = Table(
    "sns_messages", metadata,
    Column("message_id", String(36), primary_key=True),
    Column("topic_arn", String(320), nullable=False),
    #: what deliveries render: message, subject, structure, attributes, timestamp, FIFO ids
    Column("document", JsonText, nullable=False),
)

deliveries = Table(
    "sns_deliveries", metadata,
    Column("delivery_id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False, index=True),
    Column("subscription_arn", String(400), nullable=False),
    #: the message group on FIFO topics: a group's next delivery waits for the one before it
    Column("group_id", String(128)),
    Column("due_at", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Index("ix_sns_deliveries_due", "due_at"),
    Index("ix_sns_deliveries_group", "subscription_arn", "group_id", "delivery_id"),
    sqlite_autoincrement=True,
)

deduplication = Table(
    "sns_deduplication", metadata,
    Column("topic_arn", String(320), primary_key=True),
    Column("dedup_id", String(128), primary_key=True),
    Column("message_id", String(36), nullable=False),
    Column("sequence_number", String(20), nullable=False),
    Column("expires_at", Integer, nullable=False),
)

#: What became of deliveries to endpoints Cloudlet cannot reach for real (email, SMS, mobile push,
#: Firehose), confirmations sent, and every delivery that failed for good.
delivery_log = Table(
    "sns_delivery_log", metadata,
    Column("log_id", Integer, primary_key=True, autoincrement=True),
    Column("at", Integer, nullable=False),
    Column("topic_arn", String(320), nullable=False),
    Column("subscription_arn", String(400)),
    Column("protocol", String(16), nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("message_id", String(36)),
    #: delivered, confirmation, failed, dead-lettered
    Column("outcome", String(16), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("payload", Text, nullable=False, default=""),
    sqlite_autoincrement=True,
)

#: What Publish announces when it commits deliveries: the delivery worker wakes on it.
OUTBOX_TOPIC = "sns:outbox"
