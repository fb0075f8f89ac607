"""WAF's invoke-time state, kept in the cloud's ``waf_runtime`` slot: compiled web ACLs (by the region's
revision), rate-based rules' request counts, and a ring buffer of sampled requests for GetSampledRequests.

All of it lives in this process's memory, as AWS keeps samples for three hours only: a restart forgets the
counts and the samples, never a configuration (that is in the database).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from controller.wafv2.evaluate import CompiledAcl

MAX_SAMPLES = 5000
MAX_RATE_KEYS = 100_000
SAMPLE_SECONDS = 3 * 3600


@dataclass(frozen=True)
class Sample:
    """One sampled request, as GetSampledRequests answers it (under ``metric``)."""

    acl_id: str
    metric: str
    action: str
    at: float
    client_ip: str
    uri: str
    method: str
    headers: tuple[tuple[str, str], ...]
    labels: tuple[str, ...]
    status: int | None


class WafRuntime:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._compiled: dict[str, tuple[int, CompiledAcl]] = {}
        self._hits: dict[tuple[str, ...], deque[float]] = {}
        self._samples: deque[Sample] = deque(maxlen=MAX_SAMPLES)

    def compiled(self, acl_id: str, revision: int) -> CompiledAcl | None:
        with self._lock:
            found = self._compiled.get(acl_id)
        return found[1] if found is not None and found[0] == revision else None

    def remember(self, acl_id: str, revision: int, acl: CompiledAcl) -> None:
        with self._lock:
            self._compiled[acl_id] = (revision, acl)

    def hit(self, key: tuple[str, ...], window: float, now: float) -> int:
        """Count one request for ``key``: its requests in the last ``window`` seconds, this one included."""
        with self._lock:
            times = self._hits.get(key)
            if times is None:
                if len(self._hits) >= MAX_RATE_KEYS:
                    self._forget(now)
                times = self._hits[key] = deque()
            times.append(now)
            while times and times[0] <= now - window:
                times.popleft()
            return len(times)

    def _forget(self, now: float) -> None:
        """Drop keys with no request in the longest window AWS offers (ten minutes); the lock is held."""
        for key in [key for key, times in self._hits.items() if not times or times[-1] <= now - 600]:
            del self._hits[key]

    def record(self, samples: list[Sample]) -> None:
        with self._lock:
            self._samples.extend(samples)

    def samples(self, acl_id: str, metric: str, start: float, end: float) -> list[Sample]:
        with self._lock:
            return [s for s in self._samples if s.acl_id == acl_id and s.metric == metric and start <= s.at <= end]


def runtime(cloud: Any) -> WafRuntime:
    """The cloud's WAF runtime, made on first use (two first callers may make two: one is kept)."""
    if cloud.waf_runtime is None:
        cloud.waf_runtime = WafRuntime()
    return cloud.waf_runtime
