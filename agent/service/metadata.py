"""The metadata service's content, asked of the controller and cached per interface.

``agent.network.imds`` answers the IMDS protocol and identifies the caller's interface; this provider
fetches what that instance may read (``GET /hosts/<id>/metadata?eni=...``) and keeps it for a short
time, so a guest reading twenty keys at boot costs one controller call. Temporary credentials under
``meta-data/iam/security-credentials/<role>`` bound the cache: an entry is refetched
:data:`CREDENTIAL_REFRESH_MARGIN` before the earliest ``Expiration`` it holds, so an instance never gets
credentials about to expire from the cache, and a stale entry is served while the controller is
unreachable only as long as its credentials are still valid.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.network.imds import Caller, InstanceMetadata

log = logging.getLogger("cloudlet.agent.imds")

#: How long an answer is reused when nothing shorter applies.
DEFAULT_TTL = 10.0
#: How long "no metadata for this interface" is remembered.
NEGATIVE_TTL = 2.0
#: Credentials are refetched this long before they expire.
CREDENTIAL_REFRESH_MARGIN = 300.0

Fetch = Callable[[str], dict[str, Any] | None]


@dataclass
class CacheEntry:
    data: InstanceMetadata | None
    #: Monotonic-clock deadlines: reuse until ``fresh_until``; serve when the controller fails until
    #: ``usable_until`` (None: no limit).
    fresh_until: float
    usable_until: float | None


def parse_metadata(payload: dict[str, Any]) -> InstanceMetadata:
    """The wire form (``controller.hosts.rpc.metadata_json``) back into an ``InstanceMetadata``."""
    user_data = payload.get("user_data_b64")
    return InstanceMetadata(meta_data=payload.get("meta_data") or {},
                            user_data=base64.b64decode(user_data) if user_data is not None else None,
                            dynamic=payload.get("dynamic") or {})


def credential_expirations(meta_data: dict[str, Any]) -> list[dt.datetime]:
    """Every ``Expiration`` of the credential documents under ``iam/security-credentials``."""
    found = []
    roles = ((meta_data.get("iam") or {}).get("security-credentials") or {}) if isinstance(meta_data, dict) else {}
    for document in roles.values() if isinstance(roles, dict) else ():
        try:
            parsed = json.loads(document) if isinstance(document, str | bytes) else document
            expiration = parsed["Expiration"]
            found.append(dt.datetime.fromisoformat(expiration.replace("Z", "+00:00")))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return found


def cache_entry(payload: dict[str, Any] | None, now: float, wall_now: dt.datetime,
                ttl: float = DEFAULT_TTL) -> CacheEntry:
    """How long an answer fetched at ``now`` (monotonic) / ``wall_now`` (UTC) may be used (pure)."""
    if payload is None:
        return CacheEntry(None, now + NEGATIVE_TTL, now + NEGATIVE_TTL)
    data = parse_metadata(payload)
    fresh = now + float(payload.get("ttl_seconds", ttl))
    usable = None
    expirations = credential_expirations(data.meta_data)
    if expirations:
        left = (min(expirations) - wall_now).total_seconds()
        fresh = min(fresh, now + max(0.0, left - CREDENTIAL_REFRESH_MARGIN))
        usable = now + max(0.0, left)
    return CacheEntry(data, fresh, usable)


class ControllerMetadata:
    """An ``agent.network.imds.Provider`` backed by the controller, with the cache described above."""

    def __init__(self, fetch: Fetch, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.fetch = fetch
        self.ttl = ttl
        self.clock = clock
        self.wall_clock = wall_clock
        self._cache: dict[str, CacheEntry] = {}
        self._lock = threading.Lock()

    def __call__(self, caller: Caller) -> InstanceMetadata | None:
        now = self.clock()
        with self._lock:
            entry = self._cache.get(caller.eni_id)
        if entry is not None and now < entry.fresh_until:
            return entry.data
        try:
            payload = self.fetch(caller.eni_id)
        except OSError as exc:
            if entry is not None and (entry.usable_until is None or now < entry.usable_until):
                log.warning("controller unreachable (%s); serving cached metadata of %s", exc, caller.eni_id)
                return entry.data
            log.warning("controller unreachable (%s); no metadata for %s", exc, caller.eni_id)
            return None
        entry = cache_entry(payload, now, self.wall_clock(), self.ttl)
        with self._lock:
            self._cache[caller.eni_id] = entry
        return entry.data

    def forget(self, keep: set[str]) -> None:
        """Drop the entries of interfaces no longer on this host."""
        with self._lock:
            for eni_id in set(self._cache) - keep:
                del self._cache[eni_id]
