"""What enforcement remembers between requests (``cloud.policy_cache``), and how IAM writes make it forget.

Gathering a principal's policies takes several queries (user, groups, inline and
attached policies, boundary), so the result is cached per principal; so are the SCP
levels that govern each member account (``decision.scp_levels``). Any IAM write, and
any Organizations change (policies, attachments, the tree, the enabled policy types),
announces :data:`TOPIC` on its transaction (:func:`changed`), which clears the cache of
every process of the cloud once it commits (API workers each keep one). A generation
number guards the race where a reader loads policies, a writer commits and clears, and
the reader then stores what it loaded before the write: :meth:`PolicyCache.get_or_load`
drops entries loaded under an older generation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy import Connection

from controller.state import Database

V = TypeVar("V")

#: Entries kept at most; a cloud with more live principals than this just reloads some.
MAX_ENTRIES = 10_000
#: What a transaction changing enforcement's inputs announces: every process's cache forgets all it holds.
TOPIC = "iam:policies"


def changed(conn: Connection) -> None:
    """Note that ``conn``'s transaction changes what enforcement gathers: once it commits, the policy cache of
    every process of the cloud is cleared (before the write's answer leaves: the next request sees it)."""
    Database.announce(conn, TOPIC)


class PolicyCache(Generic[V]):
    """A thread-safe map from principal (or account) keys to what enforcement gathered for them."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, V] = {}
        self._generation = 0
        self._lock = threading.Lock()

    @classmethod
    def following(cls, db: Database) -> PolicyCache[V]:
        """The cloud's cache: cleared whenever a process of the cloud announces :data:`TOPIC`."""
        cache: PolicyCache[V] = cls()
        db.subscribe(TOPIC, cache.invalidate)
        return cache

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        try:
            return self._entries[key]
        except KeyError:
            pass
        generation = self._generation
        value = load()
        with self._lock:
            if generation == self._generation:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = value
        return value

    def invalidate(self) -> None:
        """Forget everything (a newer generation: loads already under way store nothing)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

