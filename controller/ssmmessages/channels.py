"""The relay between a session's two data channels: the user's client and the instance's agent.

Each end opens ``/v1/data-channel/<session id>`` and proves which end it is with its token
(:mod:`controller.ssmmessages.listener`); from then on every frame one end sends goes to the other, unchanged,
in order. What an end sends before the other has connected waits (up to :data:`MAX_WAITING` frames). The
session's status follows its ends: ``Connected`` with both, ``Disconnected`` when the client leaves (it may
come back with ResumeSession's new token), ``Terminated`` when the agent leaves or TerminateSession ends it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from controller.ssmmessages import agent_message

#: Frames kept for an end that has not connected yet; past this the session fails rather than grow unbounded.
MAX_WAITING = 4096
CLIENT, AGENT = "client", "agent"


class Connection(Protocol):
    """What the relay needs of a websocket (websockets' sync connections have it)."""

    def send(self, message: bytes | str) -> None: ...

    def close(self, code: int = 1000, reason: str = "") -> None: ...


#: Called with (session id, new status) when an end comes or goes; writes the status where DescribeSessions reads it.
StatusWriter = Callable[[str, str], None]


@dataclass
class _Pipe:
    ends: dict[str, Connection] = field(default_factory=dict)
    waiting: dict[str, list[bytes | str]] = field(default_factory=lambda: {CLIENT: [], AGENT: []})
    lock: threading.Lock = field(default_factory=threading.Lock)


class SessionChannels:
    """Every session's pipe in this process, by session id."""

    def __init__(self, write_status: StatusWriter) -> None:
        self._write_status = write_status
        self._lock = threading.Lock()
        self._pipes: dict[str, _Pipe] = {}
        #: The listener's base URL (``ws://host:port``), set when it starts; StreamUrls begin with it.
        self.url = ""

    def _pipe(self, session_id: str) -> _Pipe | None:
        """The session's pipe; None once it was terminated (or before an end attached)."""
        with self._lock:
            return self._pipes.get(session_id)

    def attach(self, session_id: str, end: str, connection: Connection) -> None:
        """``connection`` is now the session's ``end``; frames that waited for it are sent first."""
        with self._lock:
            pipe = self._pipes.setdefault(session_id, _Pipe())
        with pipe.lock:
            previous = pipe.ends.get(end)
            pipe.ends[end] = connection
            waiting, pipe.waiting[end] = pipe.waiting[end], []
            for frame in waiting:
                connection.send(frame)
            both = len(pipe.ends) == 2
        if previous is not None:  # a resumed client replaces the one that dropped
            with contextlib.suppress(Exception):
                previous.close(1000, "replaced by a resumed session")
        if both:
            self._write_status(session_id, "Connected")

    def relay(self, session_id: str, sender: str, frame: bytes | str) -> bool:
        """Send ``frame`` from ``sender`` to the other end (or keep it until that end comes); False when too
        much waited and the session had to fail."""
        pipe = self._pipe(session_id)
        if pipe is None:  # terminated: the sender's connection is closing
            return True
        other = AGENT if sender == CLIENT else CLIENT
        with pipe.lock:
            peer = pipe.ends.get(other)
            if peer is None:
                if len(pipe.waiting[other]) >= MAX_WAITING:
                    return False
                pipe.waiting[other].append(frame)
                return True
        with contextlib.suppress(Exception):  # the peer went away: its own handler detaches it
            peer.send(frame)
        return True

    def detach(self, session_id: str, end: str, connection: Connection) -> None:
        """``connection`` closed. A client leaving disconnects the session; the agent leaving ends it."""
        pipe = self._pipe(session_id)
        if pipe is None:
            return  # terminated
        with pipe.lock:
            if pipe.ends.get(end) is not connection:
                return  # already replaced (a resumed client) or already terminated
            del pipe.ends[end]
            client = pipe.ends.get(CLIENT)
        if end == AGENT:
            self._end(session_id, "Terminated")
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close(1000, "the session ended")
        else:
            self._write_status(session_id, "Disconnected")

    def terminate(self, session_id: str, destination: str) -> None:
        """TerminateSession: both ends are told the channel closed, then disconnected."""
        with self._lock:
            pipe = self._pipes.pop(session_id, None)
        if pipe is None:
            return
        frame = agent_message.channel_closed(session_id, destination,
                                             f"Session {session_id} was terminated by its owner.")
        with pipe.lock:
            ends, pipe.ends = dict(pipe.ends), {}
        for connection in ends.values():
            with contextlib.suppress(Exception):
                connection.send(frame)
                connection.close(1000, "terminated")

    def _end(self, session_id: str, status: str) -> None:
        with self._lock:
            self._pipes.pop(session_id, None)
        self._write_status(session_id, status)

    def close(self) -> None:
        """Shutdown: every end is closed (the sessions stay as they were recorded)."""
        with self._lock:
            pipes, self._pipes = list(self._pipes.values()), {}
        for pipe in pipes:
            for connection in list(pipe.ends.values()):
                with contextlib.suppress(Exception):
                    connection.close(1001, "the service is stopping")

