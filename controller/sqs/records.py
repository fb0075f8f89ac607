"""Finding queues: by URL, ARN or name, and the names SQS gives them.

A queue URL is ``<scheme>://<endpoint host>/<account>/<name>`` (the host the client called, so the
URL works with the same endpoint). Only the last two path segments identify the queue: a URL
copied from another endpoint (``https://sqs.us-east-1.amazonaws.com/...``) still names it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.sqs.errors import InvalidAddress, InvalidParameterValue, ServiceError, no_such_queue
from controller.state import Database

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_FIFO_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,75}\.fifo$")
_URL_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://[^/]+)?/+(\d{12})/([A-Za-z0-9_.-]{1,80})/?$")
_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]{1,80})$")


@dataclass(frozen=True)
class Queue:
    """One queue row, as operations use it."""

    queue_id: int
    account_id: str
    region: str
    name: str
    arn: str
    fifo: bool
    attributes: dict[str, str]
    tags: dict[str, str]
    created_at: int
    modified_at: int
    purged_at: int | None

    def int_attribute(self, name: str) -> int:
        return int(self.attributes[name])


def now_ms() -> int:
    return int(time.time() * 1000)


def check_name(name: str, fifo: bool) -> None:
    """A queue name SQS accepts (the ``.fifo`` suffix for FIFO queues)."""
    if fifo and not _FIFO_NAME_RE.match(name):
        raise InvalidParameterValue("The name of a FIFO queue can only include alphanumeric characters, hyphens, "
                                    "or underscores, must end with .fifo suffix and be 1 to 80 in length.")
    if not fifo and not _NAME_RE.match(name):
        raise InvalidParameterValue("Can only include alphanumeric characters, hyphens, or underscores. "
                                    "1 to 80 in length")


def queue_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account_id}:{name}"


def queue_url(ctx: RequestContext, account_id: str, name: str) -> str:
    """The URL clients use for the queue: the host they called, so it works with their endpoint."""
    host = ctx.host or f"{ctx.cloud.config.host}:{ctx.cloud.config.port}"
    scheme = "https" if ctx.secure_transport else "http"
    return f"{scheme}://{host}/{account_id}/{name}"


def parse_url(url: str) -> tuple[str, str]:
    """(account, name) of a queue URL; InvalidAddress when it is not one."""
    match = _URL_RE.match(url or "")
    if match is None:
        raise InvalidAddress(f"The address {url} is not valid for this endpoint.")
    return match.group(1), match.group(2)


def parse_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, name) of a queue ARN, None when it is not one."""
    match = _ARN_RE.match(arn or "")
    return (match.group(1), match.group(2), match.group(3)) if match else None


def arn_of_url(ctx: RequestContext, url: str) -> str:
    """The ARN a queue URL names (what IAM authorizes a call on)."""
    try:
        account, name = parse_url(url)
    except ServiceError:
        return "*"
    return queue_arn(ctx.region, account, name)


def url_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    """What IAM authorizes a call with a QueueUrl on: the queue's ARN."""
    return [arn_of_url(ctx, params.get("QueueUrl", ""))]


_COLUMNS = ("queue_id, account_id, region, name, arn, fifo, attributes, tags, created_at, modified_at, "
            "purged_at")


def _queue(row: Any) -> Queue:
    return Queue(row[0], row[1], row[2], row[3], row[4], bool(row[5]), json.loads(row[6]), json.loads(row[7]),
                 row[8], row[9], row[10])


#: What a write to queue rows announces (no queue id is a word, so it is no queue's ``sqs:<id>`` topic).
QUEUES_TOPIC = "sqs:queues"


class QueueCache:
    """Queue rows by ARN, so the calls of a busy queue do not read its row each time.

    Every write to a queue row calls :func:`changed`, which announces :data:`QUEUES_TOPIC`: once the write
    commits, the cache of every process of the cloud (each API worker keeps one) is emptied. A row read
    before that is kept only if no commit emptied the cache meanwhile (the generation check), so a stale
    row is never kept.
    """

    def __init__(self) -> None:
        self._rows: dict[str, Queue] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, conn: Connection, arn: str) -> Queue | None:
        hit = self._rows.get(arn)
        if hit is not None:
            return hit
        generation = self._generation
        queue = _select_by_arn(conn, arn)
        if queue is not None:
            with self._lock:
                if generation == self._generation:
                    self._rows[arn] = queue
        return queue

    def peek(self, arn: str) -> Queue | None:
        """The cached row, without a database read (None when it is not cached)."""
        return self._rows.get(arn)

    def forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._rows.clear()


def cache_of(cloud: Any) -> QueueCache | None:
    runtime = cloud.sqs_runtime
    return runtime.queues if runtime is not None else None


def changed(conn: Connection) -> None:
    """Note that this transaction writes a queue row: every process drops its cached rows once it commits."""
    Database.announce(conn, QUEUES_TOPIC)


def _select_by_arn(conn: Connection, arn: str) -> Queue | None:
    row = conn.exec_driver_sql(f"SELECT {_COLUMNS} FROM sqs_queues WHERE arn = ?", (arn,)).first()
    return _queue(row) if row is not None else None


def find(conn: Connection, cloud: Any, region: str, account_id: str, name: str) -> Queue | None:
    return find_by_arn(conn, cloud, queue_arn(region, account_id, name))


def find_by_arn(conn: Connection, cloud: Any, arn: str) -> Queue | None:
    cache = cache_of(cloud)
    return cache.get(conn, arn) if cache is not None else _select_by_arn(conn, arn)


def cached_by_url(ctx: RequestContext, url: str) -> Queue | None:
    """The queue a QueueUrl names if its row is cached (no database read); None otherwise."""
    cache = cache_of(ctx.cloud)
    if cache is None:
        return None
    account, name = parse_url(url)
    return cache.peek(queue_arn(ctx.region, account, name))


def by_url(conn: Connection, ctx: RequestContext, url: str) -> Queue:
    """The queue a request's QueueUrl names; QueueDoesNotExist when there is none."""
    account, name = parse_url(url)
    queue = find(conn, ctx.cloud, ctx.region, account, name)
    if queue is None:
        raise no_such_queue()
    return queue
