"""The audit trail's crash journal: every answered call is on disk before its answer leaves.

The trail commits events to the database in batches from one thread (``controller/audit/trail.py``), off the
request path. A SIGKILL between a call's answer and its batch's commit would lose the call, so each event is
first appended here as one JSON line, in one ``write(2)`` on an ``O_APPEND`` file. That puts it in the page
cache, which outlives the process (what a crash of the controller takes); the batch's own commit, fsync'd,
follows moments later for the power.

The file stays small: the writer thread empties it whenever it has committed everything (``truncate``),
and under a load that never lets the queue run dry it cuts the file into segments (``seal``), deleting a
sealed one once every event in it is committed. At start, the segments no live process holds are replayed.
Each event carries its id, so one that was both committed and journaled is not doubled (``INSERT OR IGNORE``).

Several processes may open one cloud at once (``cloudlet up`` and ``cloudlet account create``, later API
workers): each writes segments of its own name and holds an ``flock`` on the one it appends to, so another
replays only what a dead (or finished) process left. A segment gets its final name only once locked.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import secrets
from pathlib import Path
from typing import Any, NamedTuple

SEGMENT_GLOB = "segment-*.jsonl"


class Journal:
    """Append-only segments in ``folder``; the caller serializes ``append``, ``truncate`` and ``seal``."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder = folder
        #: Segments no live process holds: one that died left them, perhaps before committing them.
        self.leftovers = sorted(path for path in folder.glob(SEGMENT_GLOB) if not _held(path))
        self._name = secrets.token_hex(4)
        self._sequence = 0
        self._fd = -1
        self.size = 0
        self._open_next()

    def append(self, line: bytes) -> None:
        view = memoryview(line)
        while view:
            view = view[os.write(self._fd, view):]
        self.size += len(line)

    def truncate(self) -> None:
        """Empty the current segment: everything in it is committed."""
        os.ftruncate(self._fd, 0)
        self.size = 0

    def seal(self) -> Path:
        """Close the current segment and start the next; the sealed one's path, to delete once committed."""
        sealed = self._path(self._sequence)
        os.close(self._fd)
        self._open_next()
        return sealed

    def close(self, *, committed: bool) -> None:
        """Close the current segment, removing it when everything in it is committed."""
        os.close(self._fd)
        self._fd = -1  # appends now fail (EBADF) rather than write to whatever reuses the number
        if committed:
            self._path(self._sequence).unlink(missing_ok=True)

    def _open_next(self) -> None:
        self._sequence += 1
        path = self._path(self._sequence)
        unlocked = path.with_name("." + path.name)
        self._fd = os.open(unlocked, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.rename(unlocked, path)
        self.size = 0

    def _path(self, number: int) -> Path:
        return self.folder / f"segment-{self._name}-{number:08d}.jsonl"


class Entry(NamedTuple):
    """One journaled event: its row, the access key use it records, and why it was refused (if it was)."""

    row: dict[str, Any]
    key_use: tuple[str, dt.datetime, str, str] | None
    explanation: dict[str, Any] | None


def encode(row: dict[str, Any], key_use: tuple[str, dt.datetime, str, str] | None,
           explanation: dict[str, Any] | None = None) -> bytes:
    """One journal line: an event row (``trail.event_row``), the access key use it records, if any, and the
    explanation of a refusal, if any. A document already encoded (a str) goes in as it is, so the hot path
    encodes it once."""
    head = {key: value for key, value in row.items() if key != "document"}
    head["event_time"] = row["event_time"].isoformat()
    if key_use is not None:
        key, at, service, region = key_use
        head["key_use"] = [key, at.isoformat(), service, region]
    if explanation:
        head["explanation"] = explanation
    document = row["document"]
    text = document if isinstance(document, str) else json.dumps(document, separators=(",", ":"))
    return (json.dumps(head, separators=(",", ":"))[:-1] + ',"document":' + text + "}\n").encode()


def read_segment(path: Path) -> list[Entry]:
    """A segment's events, key uses and explanations. A line cut short is skipped: only the last can be, and
    only when the process died inside its write, before that call was answered."""
    out = []
    for raw in path.read_bytes().splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        use = line.pop("key_use", None)
        explanation = line.pop("explanation", None)
        line["event_time"] = dt.datetime.fromisoformat(line["event_time"])
        out.append(Entry(line, (use[0], dt.datetime.fromisoformat(use[1]), use[2], use[3]) if use else None,
                         explanation))
    return out


def _held(path: Path) -> bool:
    """Whether a live process appends to ``path`` (it holds the segment's lock)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True  # sealed and deleted meanwhile: nothing to replay
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
