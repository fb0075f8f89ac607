"""Wake the Batch follower the moment a container exits, rather than at its next poll.

A job's end reaches the controller through the follower's report, and only then can the next job take its
place: a fixed one-second poll made every tiny job hold its slot for half a second more on average. conmon,
the monitor podman leaves beside each container, exits as soon as the container has and its exit code is
recorded (``podman run --conmon-pidfile``, :data:`agent.batch.podman.CONMON_PIDFILE`), and a pidfd on it
becomes readable then. The follower sleeps in ``select`` on those pidfds and on a pipe the reconciler
writes to after it started containers (one that starts and ends within a poll would otherwise only be seen
at the next), so an end is reported at once; the poll stays as the floor that ships logs and catches
anything a pidfd missed (a conmon already gone, a pid file not written).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Hashable
from pathlib import Path


class ExitWatch:
    """Pidfds on the conmons of followed containers, and a pipe to wake the waiter early. One thread (the
    follower) watches and waits; any thread may nudge."""

    def __init__(self) -> None:
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._pidfds: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def watch(self, key: Hashable, pid_file: Path) -> None:
        """Watch the conmon whose pid ``pid_file`` holds, once per key. A conmon already gone, or a file not
        there, is left to the poll (its container is seen there as ended)."""
        with self._lock:
            if key in self._pidfds:
                return
        try:
            pidfd = os.pidfd_open(int(pid_file.read_text().strip()))
        except (OSError, ValueError):
            return
        with self._lock:
            previous = self._pidfds.pop(key, None)
            self._pidfds[key] = pidfd
        if previous is not None:
            os.close(previous)

    def nudge(self) -> None:
        """End the current (or next) :meth:`wait` now: containers were started, or the follower stops."""
        with contextlib.suppress(BlockingIOError):  # a full pipe already wakes the waiter
            os.write(self._wake_write, b"\0")

    def wait(self, timeout: float) -> set[Hashable]:
        """Sleep until a watched conmon exits, :meth:`nudge` is called or ``timeout`` passes; the keys whose
        conmon exited. A fired pidfd is closed and forgotten: its container's end is seen by the poll that
        follows."""
        with self._lock:
            watched = dict(self._pidfds)
        readable, _, _ = select.select([self._wake_read, *watched.values()], [], [], timeout)
        if self._wake_read in readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_read, 4096):
                    pass
        fired = {key for key, pidfd in watched.items() if pidfd in readable}
        with self._lock:
            for key in fired:
                os.close(self._pidfds.pop(key))
        return fired

    def close(self) -> None:
        with self._lock:
            for pidfd in self._pidfds.values():
                os.close(pidfd)
            self._pidfds.clear()
        os.close(self._wake_read)
        os.close(self._wake_write)
