"""The per-cloud state of invocation (``cloud.lambda_invoker``): in-flight counts, role sessions, runners.

Concurrency is what Lambda limits (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html):
the number of invocations in flight at once. A function with reserved concurrency runs at most that many
(0 throttles every invocation); every invocation also counts against the account's limit. Both are
counted here, in the controller that every invocation goes through, and a slot is held for exactly the
duration of one invocation.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from controller.awslambda import metrics
from controller.awslambda.invoke.outcomes import ACCOUNT_LIMIT, RESERVED_LIMIT, throttled
from controller.awslambda.invoke.runners import RunnerClient
from controller.awslambda.invoke.sessions import SessionCache
from controller.awslambda.service import api
from controller.hosts import state as hosts_state

Cloud = Any

#: Lambda's default concurrent executions per account and region (GetAccountSettings' ConcurrentExecutions).
ACCOUNT_CONCURRENCY_LIMIT = 1000
#: How long the list of hosts that run functions is reused before it is read again: a warm invocation
#: then reads no host table (a runner that stops answering drops the list at once).
RUNNER_LIST_SECONDS = 2.0

_create_lock = threading.Lock()


class Concurrency:
    """Invocations in flight, per function and per account."""

    def __init__(self, account_limit: int = ACCOUNT_CONCURRENCY_LIMIT) -> None:
        self.account_limit = account_limit
        self._lock = threading.Lock()
        self._functions: Counter[str] = Counter()
        self._accounts: Counter[str] = Counter()

    @contextmanager
    def slot(self, account_id: str, function_arn: str, reserved: int | None) -> Iterator[None]:
        """Hold one slot for an invocation; TooManyRequestsException (429) with AWS's Reason when none is free."""
        with self._lock:
            if reserved is not None and self._functions[function_arn] >= reserved:
                raise throttled(RESERVED_LIMIT)
            if self._accounts[account_id] >= self.account_limit:
                raise throttled(ACCOUNT_LIMIT)
            self._functions[function_arn] += 1
            self._accounts[account_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._functions[function_arn] -= 1
                self._accounts[account_id] -= 1
                if not self._functions[function_arn]:
                    del self._functions[function_arn]
                if not self._accounts[account_id]:
                    del self._accounts[account_id]

    def in_flight(self, function_arn: str) -> int:
        with self._lock:
            return self._functions[function_arn]


class Invoker:
    """Everything invocations of one cloud share."""

    def __init__(self, cloud: Cloud) -> None:
        self.concurrency = Concurrency()
        self.sessions = SessionCache()
        self.runners = RunnerClient(cloud.agent_credentials.token_for)
        #: Draws alias routes (``routing.pick_version``); a test may seed it.
        self.rng = random.Random()
        self._lock = threading.Lock()
        self._runner_list: dict[str, str] = {}
        self._runner_list_until = 0.0
        #: invocations, errors, throttles, durations since the last CloudWatch publish (controller/awslambda/metrics.py)
        self.metrics = metrics.FunctionMetrics(cloud)
        self.metrics.start()

    def function_runners(self, cloud: Cloud) -> dict[str, str]:
        """host id -> functions_url of the hosts that run functions (an empty answer is never reused)."""
        now = time.monotonic()
        with self._lock:
            if self._runner_list and now < self._runner_list_until:
                return dict(self._runner_list)
        runners = hosts_state.function_runners(cloud.db)
        with self._lock:
            self._runner_list, self._runner_list_until = runners, now + RUNNER_LIST_SECONDS
        return dict(runners)

    def forget_runners(self) -> None:
        """Read the hosts again at the next invocation (one of them did not answer)."""
        with self._lock:
            self._runner_list_until = 0.0

    def close(self) -> None:
        self.metrics.stop()
        self.runners.close()


def invoker_of(cloud: Cloud) -> Invoker:
    """The cloud's invoker, made on first use (one per cloud: its counts must see every invocation)."""
    with _create_lock:
        if cloud.lambda_invoker is None:
            cloud.lambda_invoker = Invoker(cloud)
        return cloud.lambda_invoker


def stop(cloud: Cloud) -> None:
    """Close the pooled connections to the runners at shutdown."""
    if cloud.lambda_invoker is not None:
        cloud.lambda_invoker.close()


api.on_stop.append(stop)
