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
- ``delete(blobs)``, ``list_ids()`` and ``recover()`` for garbage and crash cleanup; ``prepare()``
  for a process that joins others already using the store (an API worker), which must not clean up.

:class:`BlobGuard` lets a GET that already read an object's metadata finish streaming
it even if a concurrent overwrite or delete, in any process, discards its blobs meanwhile.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

log = logging.getLogger(__name__)

#: Bytes moved per read/write: bounds the memory a transfer holds, whatever the object size.
CHUNK_SIZE = 1 << 20

#: Blobs a reader holds (see :class:`BlobGuard`): each blob id with the descriptor of its locked lease file.
Lease = list[tuple[str, int]]


class Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


class BlobStore(Protocol):
    """The storage backend contract (see the module docstring)."""

    def put(self, source: Readable) -> tuple[str, int]:
        """Store ``source`` (read to EOF); returns ``(blob_id, size)``."""

    def read(self, blob_id: str, offset: int = 0, length: int | None = None) -> Iterable[bytes]:
        """The blob's bytes from ``offset`` (``length`` of them, or to the end), in chunks; opened at the call
        (a missing blob or a store that is down fails it), with a ``close()`` for a reader that stops early."""

    def open_file(self, blob_id: str) -> BinaryIO | None:
        """The blob opened for reading when it is a local file, else ``None``."""

    def clone(self, blob_id: str) -> str:
        """A new blob with the same content."""

    def delete(self, blob_ids: Iterable[str]) -> None:
        """Remove blobs; missing ones are ignored."""

    def list_ids(self) -> Iterator[str]:
        """Every stored blob id (for the startup orphan check)."""

    def prepare(self) -> None:
        """Make what the store needs to be used (idempotent; safe while other processes use the store)."""

    def recover(self) -> None:
        """Prepare, and drop what an interrupted ``put`` left behind: only while no other process uses the
        store (the primary's start), since a ``put`` in flight looks the same."""


class BlobGuard:
    """Keeps the blobs a response is still streaming until its last reader is done, in every process.

    A GET reads an object's metadata, then streams its blobs; an overwrite or delete that commits
    meanwhile, in this process or another API worker, discards them. On the local backend a file already
    open survives its unlink, but a GET opens its files after the metadata read (and the decrypting path
    each segment only when the stream reaches it), and on the cluster backend a removed object is gone
    for its reader, open or not: blob ids are never reused or overwritten, so *early deletion* is the one
    thing to guard against. The guard keeps its leases in the kernel, so they hold across processes and
    vanish with a process that dies:

    - a reader holds ``flock(LOCK_SH)`` on ``folder/<blob id>`` (the blob's lease file) while it streams;
    - a deleter appends a mark to the lease file, then tries ``LOCK_EX | LOCK_NB``: granted, nobody reads
      and the blob goes now; refused, the reader that releases last (its ``LOCK_SH`` turned into
      ``LOCK_EX``) finds the mark and deletes the blob;
    - whoever holds ``LOCK_EX`` unlinks the lease file before it checks the mark, and a lock counts only
      on the file linked at the path (checked once locked), so no lease file grows without bound and a
      lock on a replaced one never counts.

    A lease is taken *after* the metadata was read, so a deleter may have come and gone in between: the
    caller checks with the lease held that the metadata still names the blobs (``engine.lease_version``)
    and reads again if not. A blob whose last reader died before releasing keeps its mark: no metadata
    names it, so the primary's crash recovery removes it with the other orphans.
    """

    def __init__(self, delete: Callable[[Iterable[str]], None], folder: Path | None = None) -> None:
        self._delete = delete
        #: Without a folder (a guard for one process, as in unit tests) the lease files get a private one.
        self._folder = folder or Path(tempfile.mkdtemp(prefix="cloudlet-blob-leases-"))
        self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    @contextmanager
    def snapshot(self) -> Iterator[Callable[[Iterable[str]], Lease]]:
        """Lease blobs (the yielded function) while reading the metadata that names them: what the block
        leased is released if it raises."""
        taken: list[Lease] = []

        def lease(blob_ids: Iterable[str]) -> Lease:
            leased: Lease = []
            taken.append(leased)
            for blob_id in blob_ids:
                leased.append((blob_id, self._lock_shared(blob_id)))
            return leased

        try:
            yield lease
        except BaseException:
            for leased in taken:
                self.release(leased)
            raise

    def release(self, leased: Lease) -> None:
        """End a lease; the last reader of a blob discarded meanwhile deletes it."""
        doomed = []
        for blob_id, fd in leased:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another reader still streams it and will finish the job
                os.close(fd)
                continue
            if self._finish(blob_id, fd):
                doomed.append(blob_id)
        leased.clear()
        self._safe_delete(doomed)

    def discard(self, blob_ids: Iterable[str]) -> None:
        """Delete blobs no metadata refers to any more, now or when their last reader is done."""
        now = [blob_id for blob_id in blob_ids if self._doom(blob_id)]
        self._safe_delete(now)

    def _lock_shared(self, blob_id: str) -> int:
        path = self._folder / blob_id
        while True:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits only for a deleter or a last reader finishing
            if _linked(fd, path):
                return fd
            os.close(fd)

    def _doom(self, blob_id: str) -> bool:
        """Mark the blob's lease file; True when no reader holds it (the caller deletes the blob)."""
        path = self._folder / blob_id
        while True:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, b"x")
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if _linked(fd, path):  # a reader holds it: the last one sees the mark
                    os.close(fd)
                    return False
                os.close(fd)  # a last reader unlinked it, maybe before the mark: mark the next one
                continue
            except BaseException:
                os.close(fd)
                raise
            return self._finish(blob_id, fd)

    def _finish(self, blob_id: str, fd: int) -> bool:
        """Under ``LOCK_EX``: unlink the lease file, then tell (closing it) whether a deleter marked it."""
        try:
            path = self._folder / blob_id
            if _linked(fd, path):
                path.unlink()
            return os.fstat(fd).st_size > 0
        finally:
            os.close(fd)

    def _safe_delete(self, blob_ids: list[str]) -> None:
        if not blob_ids:
            return
        try:
            self._delete(blob_ids)
        except Exception:
            # Leftovers are orphans: the primary's crash recovery removes them.
            log.exception("could not delete %d discarded blobs", len(blob_ids))


def _linked(fd: int, path: Path) -> bool:
    """Whether ``fd`` is the file linked at ``path`` now (not one unlinked, or replaced, meanwhile)."""
    try:
        linked = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (opened.st_dev, opened.st_ino) == (linked.st_dev, linked.st_ino)
