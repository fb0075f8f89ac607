"""The default backend: blobs as files on the controller's disk.

Layout under the root: ``blobs/<2 hex>/<32 hex>`` (256 fan-out directories made once)
and ``tmp/`` for uploads in flight. A put streams into ``tmp/`` in bounded chunks,
fsyncs the file, renames it into ``blobs/`` and fsyncs the directory, so a blob is
either absent or complete and durable. A crash mid-put leaves a temporary file, which
:meth:`LocalBlobStore.recover` removes at the next start. A clone is a hard link:
blobs are immutable, so two names for one inode cost nothing and either can go first.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from controller.s3.storage import CHUNK_SIZE, Readable

_FANOUT = [f"{i:02x}" for i in range(256)]


class LocalBlobStore:
    """Blobs in files under ``root`` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs_dir = root / "blobs"
        self.tmp_dir = root / "tmp"

    def _path(self, blob_id: str) -> Path:
        return self.blobs_dir / blob_id[:2] / blob_id

    def prepare(self) -> None:
        """Create the layout on first use (any process may: the steps are idempotent)."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        created = False
        for shard in _FANOUT:
            path = self.blobs_dir / shard
            if not path.is_dir():
                path.mkdir(exist_ok=True)  # another process may be preparing too
                created = True
        if created:
            _fsync_dir(self.blobs_dir)

    def recover(self) -> None:
        """Create the layout and drop temporary files of interrupted puts (or of puts in flight: see
        :meth:`BlobStore.recover <controller.s3.storage.BlobStore.recover>`)."""
        self.prepare()
        for leftover in self.tmp_dir.iterdir():
            leftover.unlink(missing_ok=True)

    def put(self, source: Readable) -> tuple[str, int]:
        blob_id = uuid.uuid4().hex
        temporary = self.tmp_dir / blob_id
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        size = 0
        try:
            try:
                while True:
                    chunk = source.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    view = memoryview(chunk)
                    while view:
                        written = os.write(fd, view)
                        view = view[written:]
                    size += len(chunk)
                os.fsync(fd)
            finally:
                os.close(fd)
            final = self._path(blob_id)
            os.rename(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)
        return blob_id, size

    def read(self, blob_id: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        # Opened before the first chunk is asked for, so a missing blob fails the request up front.
        handle = open(self._path(blob_id), "rb", buffering=0)  # noqa: SIM115  (closed by the generator)
        return _chunks(handle, offset, length)

    def open_file(self, blob_id: str) -> BinaryIO:
        return open(self._path(blob_id), "rb", buffering=0)  # noqa: SIM115  (the response body closes it)

    def clone(self, blob_id: str) -> str:
        clone_id = uuid.uuid4().hex
        target = self._path(clone_id)
        os.link(self._path(blob_id), target)
        _fsync_dir(target.parent)
        return clone_id

    def delete(self, blob_ids: Iterable[str]) -> None:
        for blob_id in blob_ids:
            self._path(blob_id).unlink(missing_ok=True)

    def list_ids(self) -> Iterator[str]:
        for shard in sorted(self.blobs_dir.iterdir()):
            if shard.is_dir():
                for entry in os.scandir(shard):
                    yield entry.name

    def disk_path(self, blob_id: str) -> Path:
        """Where a blob's bytes are (benchmarks serve the same files with nginx)."""
        return self._path(blob_id)


def _chunks(handle, offset: int, length: int | None) -> Iterator[bytes]:
    with handle:
        if offset:
            handle.seek(offset)
        remaining = length
        while remaining is None or remaining > 0:
            want = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
            chunk = handle.read(want)
            if not chunk:
                if remaining:
                    raise OSError(f"blob {handle.name} is shorter than its metadata says")
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
