"""Contract G: queueing an asynchronous invocation (``Invoke`` with ``InvocationType=Event``, SNS deliveries).

The event is written in its own transaction before the caller answers 202, so an acknowledged event
survives a crash; the commit announces :data:`ASYNC_TOPIC`, which wakes the worker
(``controller.awslambda.events.worker``) at once. This module stays free of the invocation engine so the
Invoke operation can import it without a circle.
"""

from __future__ import annotations

import time
from typing import Any

from controller.awslambda.events import state
from controller.awslambda.lookup import Target
from controller.state import Database

Cloud = Any


def now_ms() -> int:
    return int(time.time() * 1000)


def enqueue(cloud: Cloud, target: Target, payload: bytes, request_id: str) -> None:
    """Persist one event for ``target`` (durable when this returns) and wake the worker."""
    now = now_ms()
    with cloud.db.begin() as conn:
        conn.execute(state.async_events.insert().values(
            request_id=request_id, account_id=target.account_id, function_name=target.function_name,
            invoked_arn=target.invoked_arn, payload=bytes(payload), enqueued_at=now, due_at=now, attempts=0,
            throttles=0, last_result=None))
        Database.announce(conn, state.ASYNC_TOPIC)
