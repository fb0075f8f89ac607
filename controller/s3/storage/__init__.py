"""Where object bytes live: a blob store interface with a local-disk and an S3-cluster backend.

A *blob* is an immutable byte string under a random id. The S3 layer never modifies a
blob: a PUT writes a new one, an overwrite commits metadata pointing to the new blob
and then discards the old one. That makes every backend's job small:

- ``put(source)``: read ``source`` to EOF and store it durably under a new id. Errors
  raised by ``source.read`` (a bad digest found at EOF, a client gone) leave nothing
  visible. Only after ``put`` returns may metadata refer to the blob.
- ``read(blob, offset, length)``: the bytes, as an iterator of bounded chunks.
- ``open_file(blob)``: the blob as an open local file, so the HTTP server can send it with
  ``sendfile(2)``; ``None`` from a backend whose blobs are not local files.
- ``clone(blob)``: an independent blob with the same bytes, without moving them when
  the backend can help it (a hard link; a server-side copy).
- ``delete(blobs)``, ``list_ids()`` and ``recover()`` for garbage and crash cleanup.

:class:`BlobGuard` lets a GET that already read an object's metadata finish streaming
it even if a concurrent overwrite or delete discards its blobs meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, Protocol

log = logging.getLogger(__name__)

#: Bytes moved per read/write: bounds the memory a transfer holds, whatever the object size.
CHUNK_SIZE = 1 << 20


class Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


class BlobStore(Protocol):
    """The storage backend contract (see the module docstring)."""

    def put(self, source: Readable) -> tuple[str, int]:
        """Store ``source`` (read to EOF); returns ``(blob_id, size)``."""

    def read(self, blob_id: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """The blob's bytes from ``offset`` (``length`` of them, or to the end), in chunks."""

    def open_file(self, blob_id: str) -> BinaryIO | None:
        """The blob opened for reading when it is a local file, else ``None``."""

    def clone(self, blob_id: str) -> str:
        """A new blob with the same content."""

    def delete(self, blob_ids: Iterable[str]) -> None:
        """Remove blobs; missing ones are ignored."""

    def list_ids(self) -> Iterator[str]:
        """Every stored blob id (for the startup orphan check)."""

    def recover(self) -> None:
        """Drop what an interrupted ``put`` left behind; called once at startup."""


class BlobGuard:
    """Defers deleting blobs that a response is still streaming.

    Readers call :meth:`snapshot` around "read the object's metadata, then lease its
    blobs", so a writer's :meth:`discard` (made after it committed the metadata that
    stops referring to the blobs) either happens before the reader's metadata read
    (the reader sees the new object) or after the lease (the deletion waits for
    :meth:`release`). Leases are in-process; one controller process owns the store.
    """

    def __init__(self, delete: Callable[[Iterable[str]], None]) -> None:
        self._delete = delete
        self._lock = threading.Lock()
        self._readers: Counter[str] = Counter()
        self._doomed: set[str] = set()

    @contextmanager
    def snapshot(self) -> Iterator[Callable[[Iterable[str]], list[str]]]:
        """Hold while reading metadata; the yielded function leases the blobs it names."""
        with self._lock:
            def lease(blob_ids: Iterable[str]) -> list[str]:
                leased = list(blob_ids)
                self._readers.update(leased)
                return leased

            yield lease

    def release(self, blob_ids: Iterable[str]) -> None:
        ready = []
        with self._lock:
            for blob_id in blob_ids:
                self._readers[blob_id] -= 1
                if self._readers[blob_id] <= 0:
                    del self._readers[blob_id]
                    if blob_id in self._doomed:
                        self._doomed.discard(blob_id)
                        ready.append(blob_id)
        self._safe_delete(ready)

    def discard(self, blob_ids: Iterable[str]) -> None:
        """Delete blobs no metadata refers to any more, now or when their last reader is done."""
        now = []
        with self._lock:
            for blob_id in blob_ids:
                if self._readers.get(blob_id):
                    self._doomed.add(blob_id)
                else:
                    now.append(blob_id)
        self._safe_delete(now)

    def _safe_delete(self, blob_ids: list[str]) -> None:
        if not blob_ids:
            return
        try:
            self._delete(blob_ids)
        except Exception:
            # Leftovers are orphans: the startup check removes them.
            log.exception("could not delete %d discarded blobs", len(blob_ids))
