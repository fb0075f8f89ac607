"""What enforcement remembers between requests (``cloud.policy_cache``), and how IAM writes make it forget.

Gathering a principal's policies takes several queries (user, groups, inline and
attached policies, boundary), so the result is cached per principal; so are the SCP
levels that govern each member account (``decision.scp_levels``). Any IAM write, and
any Organizations change (policies, attachments, the tree, the enabled policy types),
clears the cache. A generation number guards the race where a reader loads policies,
a writer commits and clears, and the reader then stores what it loaded before the
write: :meth:`PolicyCache.store` drops entries loaded under an older generation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

#: Entries kept at most; a cloud with more live principals than this just reloads some.
MAX_ENTRIES = 10_000


class PolicyCache(Generic[V]):
    """A thread-safe map from principal (or account) keys to what enforcement gathered for them."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, V] = {}
        self._generation = 0
        self._lock = threading.Lock()

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
        with self._lock:
            self._generation += 1
            self._entries.clear()

