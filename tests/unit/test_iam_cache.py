"""The enforcement cache forgets on every IAM write, even one racing a load (controller/iam/cache.py)."""

from __future__ import annotations

from controller.iam.cache import PolicyCache


def test_values_are_loaded_once_until_invalidated() -> None:
    cache: PolicyCache[int] = PolicyCache()
    loads = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    assert cache.get_or_load("alice", load) == 1
    assert cache.get_or_load("alice", load) == 1
    cache.invalidate()
    assert cache.get_or_load("alice", load) == 2


def test_a_load_overtaken_by_a_write_is_not_kept() -> None:
    cache: PolicyCache[str] = PolicyCache()

    def stale_load() -> str:
        cache.invalidate()  # an IAM write commits while the policies are being read
        return "stale"

    assert cache.get_or_load("bob", stale_load) == "stale"  # the caller still gets an answer...
    assert cache.get_or_load("bob", lambda: "fresh") == "fresh"  # ...but the next one reloads
