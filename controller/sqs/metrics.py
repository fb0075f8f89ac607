"""SQS's CloudWatch metrics (``AWS/SQS``, dimension ``QueueName``), published as SQS publishes them.

Every :data:`~controller.cloudwatch.ingest.PUBLISH_INTERVAL_SECONDS` (AWS's one minute) each queue gets its gauges, read from the messages
table in one grouped query (ApproximateNumberOfMessagesVisible / NotVisible / Delayed, and
ApproximateAgeOfOldestMessage when it holds a message), and its counters since the previous publish:
NumberOfMessagesSent / Received / Deleted, NumberOfEmptyReceives and SentMessageSize (a statistic set).
The counters are in memory (:class:`QueueCounters`, kept by each process's ``SqsRuntime``): the hot
paths add to a dict under a lock and write nothing per message. What a crash loses is at most one
interval of counts, which AWS calls approximate anyway.

Only the primary publishes, but API workers serve SQS too (``controller/workers``). A worker's flush thread
(a ``cloudwatch.ingest.Publisher`` running :func:`flush`) therefore moves its counts, as deltas, into
``sqs_metric_tallies`` every :func:`flush_seconds` (and once more when its runtime closes), one upsert per
queue in one transaction for all of them: nothing per message. :func:`publish` adds the table's rows to the primary's own counts and
deletes them in the transaction that reads them, so a count is published once, by whichever round reads it.
A publish stamps every count since the previous round with its own time; a worker's count gets the same
stamp the primary's would, unless it was made in the last :func:`flush_seconds` before a round, in which
case it lands in the next round (one interval late). A killed worker loses the counts of its last
:func:`flush_seconds` at most; a worker's last flush after the primary's last round is published by the
next ``cloudlet up``.

As AWS documents (sqs-available-cloudwatch-metrics): a redrive to a dead-letter queue is not a send;
a successful DeleteMessage counts even when the message was already gone; a ReceiveMessage that
returns nothing (long poll included) is one empty receive.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from controller.cloudwatch import ingest
from controller.cloudwatch.ingest import Datum, StatisticSet
from controller.sqs.records import Queue, parse_url
from controller.sqs.state import metric_tallies
from controller.sqs.store import Outgoing

NAMESPACE = "AWS/SQS"
#: How often, at most, an API worker moves its counts to the primary: a few seconds, so that a count misses
#: the publish that follows it only when made in those last seconds before it, while one small write every
#: few seconds per worker (sharing the commit of pending SQS writes) costs nothing measurable.
FLUSH_SECONDS = 5.0

#: (account id, region, queue name): how counters are kept, and what CloudWatch keys a queue's metrics by.
QueueKey = tuple[str, str, str]


@dataclass
class Sizes:
    """A running statistic set of message sizes (bytes)."""

    count: int = 0
    total: int = 0
    minimum: int = 0
    maximum: int = 0

    def add(self, size: int) -> None:
        self.minimum = size if not self.count else min(self.minimum, size)
        self.maximum = size if not self.count else max(self.maximum, size)
        self.count += 1
        self.total += size

    def merge(self, other: Sizes) -> None:
        """Add another set's sizes (another process's, or a failed flush's put back)."""
        if other.count:
            self.minimum = other.minimum if not self.count else min(self.minimum, other.minimum)
            self.maximum = other.maximum if not self.count else max(self.maximum, other.maximum)
            self.count += other.count
            self.total += other.total


@dataclass
class Tally:
    """One queue's counts since the previous publish."""

    sent: int = 0
    received: int = 0
    deleted: int = 0
    empty_receives: int = 0
    sizes: Sizes = field(default_factory=Sizes)

    def merge(self, other: Tally) -> None:
        """Add another tally of the same queue (another process's counts)."""
        self.sent += other.sent
        self.received += other.received
        self.deleted += other.deleted
        self.empty_receives += other.empty_receives
        self.sizes.merge(other.sizes)


@dataclass(frozen=True)
class Gauges:
    """What a queue holds at publish time."""

    visible: int
    not_visible: int
    delayed: int
    oldest_sent_at: int | None      # epoch ms of the oldest message, None when the queue is empty


class QueueCounters:
    """Per-queue counters the send, receive and delete paths add to; :meth:`take` empties them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tallies: dict[QueueKey, Tally] = defaultdict(Tally)

    def sent(self, queue: Queue, messages: Iterable[Outgoing]) -> None:
        sizes = [message_size(message) for message in messages]
        with self._lock:
            tally = self._tallies[key_of(queue)]
            tally.sent += len(sizes)
            for size in sizes:
                tally.sizes.add(size)

    def received(self, queue: Queue, count: int) -> None:
        """One ReceiveMessage call that returned ``count`` messages (0: an empty receive)."""
        with self._lock:
            tally = self._tallies[key_of(queue)]
            tally.received += count
            tally.empty_receives += count == 0

    def deleted(self, key: QueueKey, count: int) -> None:
        if count:
            with self._lock:
                self._tallies[key].deleted += count

    def take(self) -> dict[QueueKey, Tally]:
        """The counts since the previous take, leaving zero behind."""
        with self._lock:
            taken, self._tallies = dict(self._tallies), defaultdict(Tally)
        return taken

    def restore(self, taken: dict[QueueKey, Tally]) -> None:
        """Put back counts taken but not delivered (a flush that failed), for the next round to deliver."""
        with self._lock:
            for key, tally in taken.items():
                self._tallies[key].merge(tally)


def flush_seconds() -> float:
    """Seconds between two flushes of an API worker: :data:`FLUSH_SECONDS`, or a quarter of a shorter
    publish interval (the tests' knob), so the flush delay stays well under the interval it must fit in."""
    return min(FLUSH_SECONDS, ingest.PUBLISH_INTERVAL_SECONDS / 4)


_ADD_TALLY = (
    "INSERT INTO sqs_metric_tallies AS t (account_id, region, name, sent, received, deleted, empty_receives,"
    " size_count, size_total, size_min, size_max) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (account_id, region, name) DO UPDATE SET sent = t.sent + excluded.sent,"
    " received = t.received + excluded.received, deleted = t.deleted + excluded.deleted,"
    " empty_receives = t.empty_receives + excluded.empty_receives,"
    " size_count = t.size_count + excluded.size_count, size_total = t.size_total + excluded.size_total,"
    # the right-hand sides read the row as it was: size_count is still the old count here. (Written to run on
    # SQLite and PostgreSQL alike: the old row named by its alias, CASE rather than MIN/LEAST.)
    " size_min = CASE WHEN excluded.size_count = 0 THEN t.size_min WHEN t.size_count = 0 THEN excluded.size_min"
    " WHEN excluded.size_min < t.size_min THEN excluded.size_min ELSE t.size_min END,"
    " size_max = CASE WHEN excluded.size_count = 0 THEN t.size_max WHEN t.size_count = 0 THEN excluded.size_max"
    " WHEN excluded.size_max > t.size_max THEN excluded.size_max ELSE t.size_max END")


def flush(cloud: Any, counters: QueueCounters) -> None:
    """Add this process's counts since its previous flush to ``sqs_metric_tallies`` for the primary to publish.

    Through the group committer, so the flush shares its commit with whatever SQS writes are pending. Counts
    the write fails to store are put back, to go with the next flush."""
    taken = counters.take()
    if not taken:
        return
    rows = [(*key, tally.sent, tally.received, tally.deleted, tally.empty_receives, tally.sizes.count,
             tally.sizes.total, tally.sizes.minimum, tally.sizes.maximum) for key, tally in taken.items()]
    try:
        cloud.writer.run(lambda conn: conn.exec_driver_sql(_ADD_TALLY, rows))
    except Exception:
        counters.restore(taken)
        raise


def take_flushed(conn: Connection) -> dict[QueueKey, Tally]:
    """The API workers' counts not yet published, deleted in ``conn``'s transaction (so read once)."""
    rows = conn.execute(metric_tallies.select()).all()
    conn.execute(metric_tallies.delete())
    return {(row.account_id, row.region, row.name): Tally(
        row.sent, row.received, row.deleted, row.empty_receives,
        Sizes(row.size_count, row.size_total, row.size_min, row.size_max)) for row in rows}


def merged(*parts: dict[QueueKey, Tally]) -> dict[QueueKey, Tally]:
    """The sum of several processes' tallies, by queue."""
    total: dict[QueueKey, Tally] = defaultdict(Tally)
    for part in parts:
        for key, tally in part.items():
            total[key].merge(tally)
    return dict(total)


def key_of(queue: Queue) -> QueueKey:
    return queue.account_id, queue.region, queue.name


def url_key(region: str, url: str) -> QueueKey:
    """The key of the queue a QueueUrl names in ``region`` (DeleteMessage knows the queue by URL only)."""
    account, name = parse_url(url)
    return account, region, name


def message_size(message: Outgoing) -> int:
    """SentMessageSize of a stored message: its body and attributes as SQS counts them toward the limit
    (attributes are in their stored form, binary values base64-encoded)."""
    size = len(message.body.encode("utf-8"))
    for name, value in (message.attributes or {}).items():
        size += len(name.encode("utf-8")) + len(value["DataType"].encode("utf-8"))
        if "BinaryValue" in value:
            try:
                size += len(base64.b64decode(value["BinaryValue"]))
            except (binascii.Error, ValueError):
                size += len(value["BinaryValue"])
        else:
            size += len(value.get("StringValue", "").encode("utf-8"))
    return size


def queue_datums(name: str, gauges: Gauges | None, tally: Tally | None, at: datetime) -> list[Datum]:
    """The datapoints one queue publishes at ``at``: gauges (when the queue still exists) and counters.

    Counters are published as zero when nothing happened (an alarm on "no messages sent" must see
    data); SentMessageSize and ApproximateAgeOfOldestMessage only when there is something to measure.
    """
    dims = (("QueueName", name),)
    datums: list[Datum] = []
    if gauges is not None:
        datums += [Datum("ApproximateNumberOfMessagesVisible", dims, at, float(gauges.visible), unit="Count"),
                   Datum("ApproximateNumberOfMessagesNotVisible", dims, at, float(gauges.not_visible), unit="Count"),
                   Datum("ApproximateNumberOfMessagesDelayed", dims, at, float(gauges.delayed), unit="Count")]
        if gauges.oldest_sent_at is not None:
            age = max(0, int(at.timestamp()) - gauges.oldest_sent_at // 1000)
            datums.append(Datum("ApproximateAgeOfOldestMessage", dims, at, float(age), unit="Seconds"))
    tally = tally or Tally()
    datums += [Datum("NumberOfMessagesSent", dims, at, float(tally.sent), unit="Count"),
               Datum("NumberOfMessagesReceived", dims, at, float(tally.received), unit="Count"),
               Datum("NumberOfMessagesDeleted", dims, at, float(tally.deleted), unit="Count"),
               Datum("NumberOfEmptyReceives", dims, at, float(tally.empty_receives), unit="Count")]
    sizes = tally.sizes
    if sizes.count:
        datums.append(Datum("SentMessageSize", dims, at, statistics=StatisticSet(
            float(sizes.count), float(sizes.total), float(sizes.minimum), float(sizes.maximum)), unit="Bytes"))
    return datums


def all_datums(gauges: dict[QueueKey, Gauges], tallies: dict[QueueKey, Tally],
               at: datetime) -> dict[tuple[str, str], list[Datum]]:
    """Every queue's datapoints, by (account, region): existing queues, and counts of queues deleted since."""
    grouped: dict[tuple[str, str], list[Datum]] = defaultdict(list)
    for key in sorted(set(gauges) | set(tallies)):
        account, region, name = key
        grouped[(account, region)] += queue_datums(name, gauges.get(key), tallies.get(key), at)
    return dict(grouped)


def read_gauges(conn: Connection, now_ms: int) -> dict[QueueKey, Gauges]:
    """Every queue's gauges in one grouped query (the same visibility rules as GetQueueAttributes)."""
    rows = conn.exec_driver_sql(
        "SELECT q.account_id, q.region, q.name, COUNT(CASE WHEN m.visible_at <= ? THEN 1 END),"
        " COUNT(CASE WHEN m.visible_at > ? AND m.receive_count > 0 THEN 1 END),"
        " COUNT(CASE WHEN m.visible_at > ? AND m.receive_count = 0 THEN 1 END), MIN(m.sent_at)"
        " FROM sqs_queues q LEFT JOIN sqs_messages m ON m.queue_id = q.queue_id GROUP BY q.queue_id",
        (now_ms, now_ms, now_ms)).all()
    return {(row[0], row[1], row[2]): Gauges(int(row[3]), int(row[4]), int(row[5]), row[6]) for row in rows}


def publish(cloud: Any, now: datetime) -> None:
    """Publish every queue's metrics at ``now`` (the primary's publisher calls it; tests call it directly):
    this process's counts and those the API workers flushed since the previous round. A controller that does
    not lead (controller/state/leadership.py) flushes its counts as an API worker does, for the leader to
    publish with the queues' gauges once."""
    runtime = cloud.sqs_runtime
    if not cloud.leadership.leading:
        if runtime is not None:
            flush(cloud, runtime.counters)
        return
    flushed = cloud.writer.run(take_flushed)  # first: if it fails, this process's counts are still kept
    tallies = merged(runtime.counters.take() if runtime is not None else {}, flushed)
    with cloud.db.read() as conn:
        gauges = read_gauges(conn, int(now.timestamp() * 1000))
    for (account, region), datums in all_datums(gauges, tallies, now).items():
        ingest.put(cloud, account, region, NAMESPACE, datums)
