"""Announcements between the processes that serve one cloud: after a commit, every process hears its topics.

``cloudlet up --workers N`` serves the API from several processes over one state store. A process keeps
things in memory that a write of another process can make stale (IAM's policy cache, S3's bucket cache)
and parks requests that a write of another process should wake (SQS long polls, agents waiting for their
host's document). :meth:`Database.announce <controller.state.Database.announce>` names such a change; this
bus carries the names to the other processes.

Each process binds a Unix datagram socket named after its pid in the cloud's ``run/bus`` folder, and sends
a commit's topics to every other socket there before the commit's answer leaves. Unix datagrams are not
lost: a full receiver makes the sender wait (up to :data:`SEND_TIMEOUT`), and a socket nobody holds any
more (its process died) refuses at once and is removed. So when a client's next request reaches another
process, the topics of what it wrote are already in that process's socket, and :meth:`Bus.sync`, called
as a request starts, hears them before anything cached is read: a client reads its own writes from any
process. A thread hears topics between requests too, for the waiters they wake.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger(__name__)

#: How long a send waits for a receiver whose queue is full (a process stopped in a debugger, or hung)
#: before that process is given up on for this announcement.
SEND_TIMEOUT = 1.0


class Bus:
    """This process's end of the bus in ``folder``; ``hear(topic)`` runs for each topic another process sent.
    ``name`` tells two ends in one process apart (tests build a primary and a worker side by side)."""

    def __init__(self, folder: Path, hear: Callable[[str], None], name: str | None = None) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder = folder
        self._hear = hear
        self._path = folder / f"{name or os.getpid()}.sock"
        self._path.unlink(missing_ok=True)  # a pid reused after a crash
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(self._path))
        self._socket.setblocking(False)
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender.settimeout(SEND_TIMEOUT)
        #: Held while topics are taken from the socket and heard, so ``sync`` returns only after
        #: everything already sent here has been heard, whichever thread took it.
        self._hearing = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._listen, name="state-bus", daemon=True)
        self._thread.start()

    def publish(self, topics: Iterable[str]) -> None:
        """Send ``topics`` to every other process of the cloud (each hears them once)."""
        payload = "\n".join(sorted(set(topics))).encode()
        if not payload:
            return
        with self._send_lock:
            for peer in self._peers():
                try:
                    self._sender.sendto(payload, str(peer))
                except (ConnectionRefusedError, FileNotFoundError):
                    peer.unlink(missing_ok=True)  # its process is gone
                except OSError as exc:  # TimeoutError among them: a hung process misses this one
                    log.warning("state bus: %s did not take %r (%s)", peer.name, payload[:80], exc)

    def sync(self) -> None:
        """Hear every topic already sent to this process."""
        with self._hearing:
            self._drain()

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._stop_r, self._stop_w):
            os.close(fd)
        self._socket.close()
        self._sender.close()
        self._path.unlink(missing_ok=True)

    def _peers(self) -> list[Path]:
        with contextlib.suppress(FileNotFoundError):
            return [self.folder / name for name in os.listdir(self.folder)
                    if name.endswith(".sock") and name != self._path.name]
        return []

    def _listen(self) -> None:
        while True:
            readable, _, _ = select.select([self._socket, self._stop_r], [], [])
            if self._stop_r in readable:
                return
            self.sync()

    def _drain(self) -> None:
        while True:
            try:
                payload = self._socket.recv(65536)
            except BlockingIOError:
                return
            for topic in payload.decode().split("\n"):
                try:
                    self._hear(topic)
                except Exception:  # one subscriber's failure must not stop the others hearing
                    log.exception("state bus: hearing %r failed", topic)
