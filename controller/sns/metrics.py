"""SNS's CloudWatch metrics (``AWS/SNS``, dimension ``TopicName``), published as SNS publishes them.

Publish and PublishBatch count each accepted message and its size (NumberOfMessagesPublished,
PublishSize as a statistic set in bytes); the delivery worker counts each delivery that ended:
NumberOfNotificationsDelivered, or NumberOfNotificationsFailed once SNS gives up on it (after the
retries of the endpoint's delivery policy; a delivery moved to the subscription's dead-letter queue
failed too, as AWS counts it). The counts live in memory with the delivery worker
(``cloud.sns_worker``), nothing is written per message, and every :data:`~controller.cloudwatch.ingest.PUBLISH_INTERVAL_SECONDS` (AWS's
minute) the topics that saw activity since the previous publish get their datapoints.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controller.cloudwatch import ingest
from controller.cloudwatch.ingest import Datum, StatisticSet
from controller.sns import message_rules
from controller.sns.records import Topic

log = logging.getLogger(__name__)

NAMESPACE = "AWS/SNS"

#: (account id, region, topic name): how counters are kept, and what CloudWatch keys a topic's metrics by.
TopicKey = tuple[str, str, str]


@dataclass
class Tally:
    """One topic's counts since the previous publish (sizes: count, sum, min, max in bytes)."""

    published: int = 0
    delivered: int = 0
    failed: int = 0
    sizes: list[int] = field(default_factory=lambda: [0, 0, 0, 0])

    def add_size(self, size: int) -> None:
        count, total, low, high = self.sizes
        self.sizes = [count + 1, total + size, size if not count else min(low, size), max(high, size)]


class TopicCounters:
    """Per-topic counters Publish and the delivery worker add to; :meth:`take` empties them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tallies: dict[TopicKey, Tally] = defaultdict(Tally)

    def published(self, topic: Topic, sizes: Iterable[int]) -> None:
        with self._lock:
            tally = self._tallies[key_of(topic)]
            for size in sizes:
                tally.published += 1
                tally.add_size(size)

    def ended(self, topic: Topic, delivered: bool) -> None:
        with self._lock:
            tally = self._tallies[key_of(topic)]
            if delivered:
                tally.delivered += 1
            else:
                tally.failed += 1

    def take(self) -> dict[TopicKey, Tally]:
        with self._lock:
            taken, self._tallies = dict(self._tallies), defaultdict(Tally)
        return taken


def key_of(topic: Topic) -> TopicKey:
    return topic.account_id, topic.region, topic.name


def message_size(message: dict[str, Any]) -> int:
    """PublishSize of a checked message (``message_rules.check_message``'s document): what the 256 KiB
    limit counts, the text and every attribute's name, type and value."""
    return message_rules.message_size(message["message"], message.get("attributes") or {})


def topic_datums(name: str, tally: Tally, at: datetime) -> list[Datum]:
    """The datapoints of one topic that saw activity (its counters, zero included, and sizes when published)."""
    dims = (("TopicName", name),)
    datums = [Datum("NumberOfMessagesPublished", dims, at, float(tally.published), unit="Count"),
              Datum("NumberOfNotificationsDelivered", dims, at, float(tally.delivered), unit="Count"),
              Datum("NumberOfNotificationsFailed", dims, at, float(tally.failed), unit="Count")]
    count, total, low, high = tally.sizes
    if count:
        datums.append(Datum("PublishSize", dims, at, statistics=StatisticSet(float(count), float(total), float(low),
                                                                             float(high)), unit="Bytes"))
    return datums


def all_datums(tallies: dict[TopicKey, Tally], at: datetime) -> dict[tuple[str, str], list[Datum]]:
    """Every active topic's datapoints, by (account, region)."""
    grouped: dict[tuple[str, str], list[Datum]] = defaultdict(list)
    for (account, region, name), tally in sorted(tallies.items()):
        grouped[(account, region)] += topic_datums(name, tally, at)
    return dict(grouped)


# -- the thin edge: hooks the publish and delivery paths call, and the publisher thread ----------------

def _counters(cloud: Any) -> TopicCounters | None:
    worker = cloud.sns_worker
    return worker.metrics.counters if worker is not None else None


def published(cloud: Any, topic: Topic, messages: Iterable[dict[str, Any]]) -> None:
    """Publish's hook: ``messages`` (checked documents) were accepted for ``topic``."""
    counters = _counters(cloud)
    if counters is not None:
        counters.published(topic, [message_size(message) for message in messages])


def delivery_ended(cloud: Any, topic: Topic, delivered: bool) -> None:
    """The delivery worker's hook: one delivery ended, delivered or failed for good."""
    counters = _counters(cloud)
    if counters is not None:
        counters.ended(topic, delivered)


def publish(cloud: Any, now: datetime) -> None:
    """Publish the counts since the previous publish at ``now`` (the publisher calls it; tests call it directly)."""
    counters = _counters(cloud)
    if counters is None:
        return
    for (account, region), datums in all_datums(counters.take(), now).items():
        ingest.put(cloud, account, region, NAMESPACE, datums)


class TopicMetrics(ingest.Publisher):
    """The counters and their publisher thread, owned by the cloud's delivery worker (started and stopped by it)."""

    def __init__(self, cloud: Any) -> None:
        super().__init__(cloud, publish, "sns-metrics")
        self.counters = TopicCounters()
