"""A session's transcript: every byte the shell printed, as the client received it, kept for session logging.

A shell can print without end (``yes``, a build log), so the transcript stays in memory only up to
:data:`SPILL_BYTES` and then moves to an unlinked temporary file (readable by the agent alone); past
:data:`MAX_BYTES` it stops growing and ends with a note saying so. Times are kept sparsely (a mark per
:data:`MARK_MILLISECONDS` of output, not per byte), so CloudWatch events get the time their text was printed
at a bounded cost.

:func:`log_events` cuts a stretch of it into CloudWatch Logs events: one per line (the line ending kept, so
the events joined are the transcript again), a line longer than an event may be cut into several.
"""

from __future__ import annotations

import bisect
import tempfile
import threading
import time
from array import array
from collections.abc import Iterator

#: Kept in memory up to this, then in a temporary file.
SPILL_BYTES = 8 * 1024 * 1024
#: The most a transcript keeps; S3 takes up to 5 GiB in one PUT, a session's log need not be that long.
MAX_BYTES = 1024 * 1024 * 1024
TRUNCATED_NOTE = b"\r\n[cloudlet-ssm-agent: the transcript was cut here: it reached its size limit]\r\n"
#: One time mark per this much time at most: a line is stamped with the last mark at or before its start.
MARK_MILLISECONDS = 100
READ_CHUNK = 64 * 1024
#: The most UTF-8 one CloudWatch event's message may hold: 256 KiB less the 26 bytes Logs counts per event.
MAX_EVENT_BYTES = 256 * 1024 - 26
#: How much of the transcript :func:`log_events` reads at once (more than one event, so a whole event fits).
EVENTS_READ_BYTES = 2 * MAX_EVENT_BYTES


def now_milliseconds() -> int:
    return int(time.time() * 1000)


class Transcript:
    """Appended by the thread reading the shell, read by the one streaming it to CloudWatch: a lock keeps the
    shared file position consistent. Reads never go past :attr:`size`, what was completely written."""

    def __init__(self, spill_bytes: int = SPILL_BYTES, max_bytes: int = MAX_BYTES) -> None:
        # Closed by close(), at the session's end: it outlives any one block.
        self.file = tempfile.SpooledTemporaryFile(max_size=spill_bytes, prefix="ssm-session-")  # noqa: SIM115
        self.max_bytes = max_bytes
        self.size = 0
        self.full = False  # cut at max_bytes, or the temporary file could not be written
        self.mark_offsets = array("q")
        self.mark_times = array("q")
        self.lock = threading.Lock()

    def append(self, data: bytes, at: int | None = None) -> None:
        """Adds output printed at ``at`` (epoch milliseconds, default now); times never go backwards, so the
        events made from it are chronological even when the clock is set back."""
        with self.lock:
            if self.full or not data:
                return
            stamp = at if at is not None else now_milliseconds()
            if self.mark_times:
                stamp = max(stamp, self.mark_times[-1])
            if not self.mark_times or stamp - self.mark_times[-1] >= MARK_MILLISECONDS:
                self.mark_offsets.append(self.size)
                self.mark_times.append(stamp)
            room = self.max_bytes - self.size
            if len(data) > room:
                data, self.full = data[:room] + TRUNCATED_NOTE, True
            try:
                self.file.seek(0, 2)
                self.file.write(data)
            except OSError:  # no room for the temporary file: keep what we have
                self.full = True
                return
            self.size += len(data)

    def read(self, offset: int, size: int) -> bytes:
        with self.lock:
            size = min(size, self.size - offset)
            if size <= 0:
                return b""
            self.file.seek(offset)
            return self.file.read(size)

    def chunks(self, stop: int) -> Iterator[bytes]:
        """The transcript's first ``stop`` bytes, a piece at a time."""
        offset = 0
        while offset < stop:
            chunk = self.read(offset, min(READ_CHUNK, stop - offset))
            if not chunk:
                return
            offset += len(chunk)
            yield chunk

    def time_at(self, offset: int) -> int:
        """When the byte at ``offset`` was printed (epoch milliseconds, to :data:`MARK_MILLISECONDS`)."""
        with self.lock:
            index = bisect.bisect_right(self.mark_offsets, offset) - 1
            if index < 0:
                return self.mark_times[0] if self.mark_times else now_milliseconds()
            return self.mark_times[index]

    def close(self) -> None:
        with self.lock:
            self.file.close()


def utf8_boundary(data: bytes, cut: int, floor: int) -> int:
    """``cut`` moved back to the start of the UTF-8 character it falls in (no further than ``floor``)."""
    moved = cut
    while floor < moved < len(data) and data[moved] & 0xC0 == 0x80 and cut - moved < 3:
        moved -= 1
    return moved if moved > floor and (moved == len(data) or data[moved] & 0xC0 != 0x80) else cut


def messages_of(piece: bytes) -> list[str]:
    """A piece of output as event messages: decoded (bytes that are not UTF-8 become U+FFFD, which is longer)
    and cut again where it outgrew an event."""
    text = piece.decode("utf-8", errors="replace")
    encoded = text.encode()
    if len(encoded) <= MAX_EVENT_BYTES:
        return [text]
    messages, start = [], 0
    while start < len(encoded):
        stop = utf8_boundary(encoded, min(start + MAX_EVENT_BYTES, len(encoded)), start)
        messages.append(encoded[start:stop].decode())
        start = stop
    return messages


def log_events(transcript: Transcript, start: int, stop: int,
               final: bool) -> tuple[list[tuple[int, str, int]], int]:
    """CloudWatch events for the transcript from ``start`` towards ``stop``: ``(timestamp, message, end)``
    with ``end`` the offset just past the event's text, and the offset reached.

    Reads at most :data:`EVENTS_READ_BYTES`, so the caller loops. A last line without its newline yet waits
    for the rest of it (a prompt is sent with the command typed after it), unless ``final`` (the session
    ended) or it already fills an event.
    """
    raw = transcript.read(start, min(stop - start, EVENTS_READ_BYTES))
    at_stop = start + len(raw) >= stop
    events: list[tuple[int, str, int]] = []
    position = 0
    while position < len(raw):
        newline = raw.find(b"\n", position, position + MAX_EVENT_BYTES)
        if newline >= 0:
            end = newline + 1
        elif len(raw) - position >= MAX_EVENT_BYTES:
            end = utf8_boundary(raw, position + MAX_EVENT_BYTES, position)
        elif final and at_stop:
            end = len(raw)
        else:
            break
        stamp = transcript.time_at(start + position)
        events.extend((stamp, message, start + end) for message in messages_of(raw[position:end]))
        position = end
    return events, start + position
