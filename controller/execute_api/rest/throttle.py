"""REST APIs' invoke-time state: token buckets for throttling, usage-plan quotas and Lambda authorizers' cached
answers, kept in the cloud's ``execute_api_runtime`` slot.

Throttling is API Gateway's token bucket: ``rate`` tokens a second refill a bucket of ``burst`` tokens and
every request takes one; an empty bucket answers 429. A stage's limits come from its ``methodSettings``
(``*/*`` for the stage, ``pets/{id}/GET`` for one method, falling back to the account's 10,000 rps with a
5,000 burst); a usage plan adds per-API-key limits and a quota over a day, week or month. The state is in
memory, as API Gateway's own throttles are approximate and per-endpoint: a controller restart refills
every bucket and starts every quota period's count afresh.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

#: The account-level limits API Gateway applies when a stage sets none.
ACCOUNT_RATE = 10000.0
ACCOUNT_BURST = 5000


@dataclass
class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` a second. Pure: the caller passes the clock."""

    rate: float
    burst: int
    tokens: float
    stamp: float

    def take(self, now: float) -> bool:
        """Take one token if there is one (a request allowed), else False (throttled)."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def period_start(period: str, offset: int, now: dt.datetime) -> dt.datetime:
    """The start of the quota period ``now`` is in (UTC; a WEEK starts on Monday plus ``offset`` days, a MONTH
    on its first day plus ``offset`` days, as usage plans' ``quota.offset`` shifts it)."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "DAY":
        return day
    if period == "WEEK":
        start = day - dt.timedelta(days=day.weekday()) + dt.timedelta(days=offset)
        return start if start <= now else start - dt.timedelta(days=7)
    start = day.replace(day=1) + dt.timedelta(days=offset)
    if start > now:
        previous = (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        start = previous + dt.timedelta(days=offset)
    return start


class InvokeRuntime:
    """The buckets, quota counts and authorizer answers of one cloud's REST APIs (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[Any, ...], TokenBucket] = {}
        self._quotas: dict[tuple[str, str], tuple[dt.datetime, int]] = {}
        self._authorized: dict[tuple[str, ...], tuple[float, Any]] = {}

    def admit(self, key: tuple[Any, ...], rate: float, burst: int, now: float | None = None) -> bool:
        """Take a token from the bucket ``key`` (made full, or resized when its limits changed)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None or bucket.rate != rate or bucket.burst != burst:
                if len(self._buckets) > 100_000:
                    self._buckets.clear()
                bucket = self._buckets[key] = TokenBucket(rate, burst, float(burst), now)
            return bucket.take(now)

    def count_quota(self, plan_id: str, key_id: str, quota: dict[str, Any], now: dt.datetime | None = None) -> bool:
        """Count one request against a plan's quota for a key; False when the quota is used up."""
        now = now or dt.datetime.now(dt.UTC)
        start = period_start(quota.get("period") or "DAY", int(quota.get("offset") or 0), now)
        with self._lock:
            began, used = self._quotas.get((plan_id, key_id), (start, 0))
            if began != start:
                used = 0
            if used >= int(quota.get("limit") or 0):
                return False
            self._quotas[(plan_id, key_id)] = (start, used + 1)
            return True

    def used(self, plan_id: str, key_id: str) -> int:
        """Requests counted in the current quota period (GetUsage's figure for today's count)."""
        with self._lock:
            return self._quotas.get((plan_id, key_id), (None, 0))[1]

    def cached_authorization(self, key: tuple[str, ...], now: float | None = None) -> Any:
        """A Lambda authorizer's answer still within its TTL, or None."""
        now = time.monotonic() if now is None else now
        with self._lock:
            found = self._authorized.get(key)
        return found[1] if found is not None and found[0] > now else None

    def remember_authorization(self, key: tuple[str, ...], ttl_seconds: int, answer: Any) -> None:
        with self._lock:
            if len(self._authorized) > 10_000:
                self._authorized.clear()
            self._authorized[key] = (time.monotonic() + ttl_seconds, answer)


def runtime(cloud: Any) -> InvokeRuntime:
    """The cloud's invoke runtime, made on first use (two first callers may make two: one is kept)."""
    if cloud.execute_api_runtime is None:
        cloud.execute_api_runtime = InvokeRuntime()
    return cloud.execute_api_runtime


def method_limits(stage: dict[str, Any], resource_path: str, method: str) -> tuple[float, int]:
    """``(rate, burst)`` for a method of a stage: the method's own settings, else the stage's ``*/*``, else the
    account's."""
    settings = stage.get("methodSettings") or {}
    own = settings.get(f"{resource_path.lstrip('/')}/{method}") or {}
    default = settings.get("*/*") or {}
    rate = own.get("throttlingRateLimit", default.get("throttlingRateLimit", ACCOUNT_RATE))
    burst = own.get("throttlingBurstLimit", default.get("throttlingBurstLimit", ACCOUNT_BURST))
    return float(rate), int(burst)
