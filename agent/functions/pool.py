"""The warm pool: idle environments kept per function version, reused, and reclaimed when idle too long.

Environments are keyed by ``(function_arn, version, revision)``: a new revision (new code or
configuration) never reuses an old environment. At most ``max_environments`` run at once per key (the
function's reserved concurrency); a request beyond it waits briefly for one to come free, then is
reported ``throttled``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from agent.contract.functions import FunctionInvocation, FunctionResult
from agent.functions.environment import Environment

Key = tuple[str, str, str]
#: How long a request over the environment limit waits for a busy one to come free.
THROTTLE_WAIT_S = 0.25


class WarmPool:
    def __init__(self, start: Callable[[FunctionInvocation], Environment]) -> None:
        self._start = start
        self._lock = threading.Condition()
        self._idle: dict[Key, list[Environment]] = {}
        self._busy: dict[Key, int] = {}
        self._stop = threading.Event()
        threading.Thread(target=self._reap, daemon=True, name="function-pool-reaper").start()

    def invoke(self, invocation: FunctionInvocation) -> FunctionResult:
        key = (invocation.function_arn, invocation.version, invocation.revision)
        slot = self._acquire(key, invocation.max_environments)
        if slot is None:
            return FunctionResult(request_id=invocation.request_id, status="throttled", payload="",
                                  function_error=None, log=[], log_stream="", cold=False, duration_ms=0.0,
                                  billed_ms=0, max_memory_mb=0)
        environment, cold = slot
        try:
            if environment is None:
                self._retire_other_revisions(key)
                environment = self._start(invocation)
            result = environment.invoke(invocation, cold)
        except BaseException:
            self._release(key, None)
            if environment is not None:
                environment.close()
            raise
        if environment.ready:
            self._release(key, environment)
        else:
            self._release(key, None)
            environment.close()
        return result

    def _acquire(self, key: Key, limit: int | None) -> tuple[Environment | None, bool] | None:
        """(an idle environment, False), or (None, True) when the caller may start one; None: throttled."""
        deadline = time.monotonic() + THROTTLE_WAIT_S
        with self._lock:
            while True:
                idle = self._idle.get(key)
                if idle or limit is None or self._busy.get(key, 0) < limit:
                    self._busy[key] = self._busy.get(key, 0) + 1
                    return (idle.pop(), False) if idle else (None, True)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(remaining)

    def _release(self, key: Key, environment: Environment | None) -> None:
        with self._lock:
            self._busy[key] -= 1
            if not self._busy[key]:
                del self._busy[key]
            if environment is not None:
                self._idle.setdefault(key, []).append(environment)
            self._lock.notify_all()

    def _retire_other_revisions(self, key: Key) -> None:
        """Close the idle environments of this version's earlier revisions: no invocation will use them again."""
        with self._lock:
            stale = [other for other in self._idle if other[:2] == key[:2] and other != key]
            retired = [env for other in stale for env in self._idle.pop(other)]
        for environment in retired:
            environment.close()

    def _reap(self) -> None:
        """Close environments idle longer than their function's ``idle_seconds``."""
        while not self._stop.wait(1.0):
            now = time.monotonic()
            expired: list[Environment] = []
            with self._lock:
                for key, idle in list(self._idle.items()):
                    keep = [env for env in idle if now - env.last_used < env.idle_seconds]
                    expired += [env for env in idle if env not in keep]
                    if keep:
                        self._idle[key] = keep
                    else:
                        del self._idle[key]
            for environment in expired:
                environment.close()

    def environments(self) -> int:
        with self._lock:
            return sum(len(idle) for idle in self._idle.values()) + sum(self._busy.values())

    def close(self) -> None:
        """Stop reaping and close every idle environment (busy ones end with their invocation)."""
        self._stop.set()
        with self._lock:
            idle = [env for envs in self._idle.values() for env in envs]
            self._idle.clear()
        for environment in idle:
            environment.close(wait=True)
