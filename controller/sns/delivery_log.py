"""The delivery log: where deliveries to endpoints Cloudlet cannot reach (email, SMS, mobile push,
Firehose), confirmation requests, and every delivery that failed for good are written.

There is no mail server or SMS gateway here: an operator (or a test) reads what would have been sent
from the ``sns_delivery_log`` table, with the confirmation tokens of email subscriptions in it.
"""

from __future__ import annotations

from sqlalchemy import Connection

from controller.sns.records import now_ms


def record(conn: Connection, *, topic_arn: str, subscription_arn: str | None, protocol: str, endpoint: str,
           message_id: str | None, outcome: str, detail: str = "", payload: str = "") -> None:
    """Append one entry; ``outcome`` is delivered, confirmation, failed or dead-lettered."""
    conn.exec_driver_sql(
        "INSERT INTO sns_delivery_log (at, topic_arn, subscription_arn, protocol, endpoint, message_id, outcome,"
        " detail, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (now_ms(), topic_arn, subscription_arn, protocol, endpoint, message_id, outcome, detail, payload))
