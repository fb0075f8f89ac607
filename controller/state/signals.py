"""Per-key counters that commits bump and long polls wait on.

A writer announces ``topic_of(key)`` on its transaction (``Database.announce``); once the commit is durable
the key's counter moves and its waiters wake, so a long poll (SQS ReceiveMessage, a Systems Manager agent's
GetMessages) answers within milliseconds of the write and no thread spins, whichever process of the cloud
committed it (the state bus carries the topic to the others: ``controller/state/bus.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from controller.state import Database

Key = TypeVar("Key", bound=Hashable)


class KeyedSignals(Generic[Key]):
    """Counters by key, subscribed to ``topic_of(key)`` the first time a key is watched."""

    def __init__(self, db: Database, topic_of: Callable[[Key], str]) -> None:
        self._db = db
        self._topic_of = topic_of
        self._condition = threading.Condition()
        self._versions: dict[Key, int] = {}
        self._subscribed: set[Key] = set()
        self._closed = False
        db.on_end_waits(self.close)

    def version(self, key: Key) -> int:
        """The key's counter now; take it before looking for work, then :meth:`wait` on it."""
        with self._condition:
            if key not in self._subscribed:
                self._subscribed.add(key)
                self._db.subscribe(self._topic_of(key), lambda: self._bump(key))
            return self._versions.get(key, 0)

    @property
    def closed(self) -> bool:
        """Whether waits are over for good: a long poll answers now rather than loop on :meth:`wait`."""
        return self._closed

    def wait(self, key: Key, seen: int, timeout: float) -> bool:
        """Wait until a commit announced the key after ``seen`` was read, or ``timeout``; True if one did (or
        the signals are closed)."""
        with self._condition:
            return self._condition.wait_for(lambda: self._closed or self._versions.get(key, 0) != seen, timeout)

    def close(self) -> None:
        """Wake every waiter for good (shutdown): long polls then answer with what they have."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def _bump(self, key: Key) -> None:
        with self._condition:
            self._versions[key] = self._versions.get(key, 0) + 1
            self._condition.notify_all()
