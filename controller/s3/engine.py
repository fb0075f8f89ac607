"""Moving object bytes: request body → (hash, encrypt) → blob, and blobs → (decrypt, range) → response.

Everything streams in :data:`~controller.s3.storage.CHUNK_SIZE` pieces; no step holds
more than one chunk, so memory stays flat whatever the object size. Hashes are
computed on the way in: the request stream (a :class:`PayloadReader`, see
``controller/auth/payload.py``) already computes the MD5 for the ETag and the checksum
the client declared, and raises at EOF if any of them disagrees with what the client
sent; only the checksums nobody declared are computed here. Since the blob store
makes a blob visible only after reading its source to EOF, a bad digest never leaves
a blob behind.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from controller.auth.chunked import PayloadReader
from controller.s3 import checksums
from controller.s3.conditions import ByteRange
from controller.s3.crypto import CtrStream, ObjectKey, new_iv
from controller.s3.runtime import S3Runtime
from controller.s3.storage import Readable

Segment = dict[str, Any]


@dataclass
class Stored:
    """A blob just written: where, how big, its MD5 and checksums (of the plaintext), its IV."""

    blob: str
    size: int
    md5: bytes
    digests: dict[str, bytes] = field(default_factory=dict)
    iv: str | None = None

    @property
    def etag(self) -> str:
        return f'"{self.md5.hex()}"'

    def segment(self, **extra: Any) -> Segment:
        return {"blob": self.blob, "size": self.size, "iv": self.iv, **extra}


class _Hashing:
    """Hashes what passes through with algorithms the payload reader does not compute."""

    def __init__(self, source: Readable, algorithms: Iterable[str]) -> None:
        self._source = source
        self._hashers = {name: hashlib.md5() if name == "MD5" else checksums.new_hasher(name)
                         for name in algorithms}

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        for hasher in self._hashers.values():
            hasher.update(data)
        return data

    def digests(self) -> dict[str, bytes]:
        return {name: hasher.digest() for name, hasher in self._hashers.items()}


class _Encrypting:
    def __init__(self, source: Readable, cipher: CtrStream) -> None:
        self._source = source
        self._cipher = cipher

    def read(self, size: int = -1) -> bytes:
        return self._cipher.update(self._source.read(size))


class IterStream:
    """An iterator of byte chunks as a readable stream (to store what another read produces)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self._pending + b"".join(self._chunks)
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._pending = chunk
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def as_payload(body: Any, *, declared: str | None = None, content_md5: str | None = None,
               expected: dict[str, bytes] | None = None) -> PayloadReader:
    """The request body as a verifying payload stream (already one when the gateway wrapped it).

    Bodies of anonymous requests (and of direct calls in tests) arrive raw: they get
    the same checks here, from the operation's parameters.
    """
    if isinstance(body, PayloadReader):
        return body
    if body is None:
        body = b""
    if isinstance(body, bytes | bytearray):
        body = io.BytesIO(bytes(body))
    algorithms = ("MD5", declared) if declared else ("MD5",)
    return PayloadReader(body, algorithms=algorithms, content_md5=content_md5, expected=expected)


def store(rt: S3Runtime, source: Readable, *, declared: str | None = None, extra: Iterable[str] = (),
          object_key: ObjectKey | None = None) -> Stored:
    """Write ``source`` as a new blob, encrypting with ``object_key`` if given.

    ``source`` is either a :class:`PayloadReader` (a request body: it provides the MD5
    and the ``declared`` checksum algorithm) or any readable (data copied from another
    object: everything is hashed here). ``extra`` names checksum algorithms to compute
    besides.
    """
    wanted = set(extra)
    if declared:
        wanted.add(declared)
    if isinstance(source, PayloadReader):
        wanted.discard(declared)
    else:
        wanted.add("MD5")
    hashing = _Hashing(source, sorted(wanted))
    stream: Readable = hashing
    iv = None
    if object_key is not None:
        iv = new_iv()
        stream = _Encrypting(hashing, CtrStream(object_key.data_key, iv))
    blob, size = rt.blobs.put(stream)
    digests = hashing.digests()
    if isinstance(source, PayloadReader):
        digests.update(source.digests)
    return Stored(blob=blob, size=size, md5=digests.pop("MD5"), digests=digests, iv=iv)


def read(rt: S3Runtime, segments: list[Segment], object_key: ObjectKey | None,
         byte_range: ByteRange | None = None) -> Iterator[bytes]:
    """The plaintext bytes of an object (or of ``byte_range`` of it), across its segments."""
    total = sum(segment["size"] for segment in segments)
    first, last = (byte_range.first, byte_range.last) if byte_range else (0, total - 1)
    offset = 0
    for segment in segments:
        size = segment["size"]
        start, end = offset, offset + size - 1
        offset += size
        if end < first or start > last or size == 0:
            continue
        local_first = max(first, start) - start
        length = min(last, end) - start - local_first + 1
        cipher = CtrStream(object_key.data_key, segment["iv"], local_first) if object_key else None
        for chunk in rt.blobs.read(segment["blob"], local_first, length):
            yield cipher.update(chunk) if cipher else chunk


def clone_segments(rt: S3Runtime, segments: list[Segment]) -> list[Segment]:
    """Independent copies of an object's blobs (hard links or server-side copies), same IVs."""
    cloned: list[Segment] = []
    try:
        for segment in segments:
            cloned.append({**segment, "blob": rt.blobs.clone(segment["blob"])})
    except BaseException:
        rt.blobs.delete(segment["blob"] for segment in cloned)
        raise
    return cloned


class LeasedBody:
    """A GET response body that releases its blob leases when done, closed or dropped.

    WSGI servers call ``close()`` on response iterables; ``__del__`` covers wrappers that
    do not pass it on. Release happens once.
    """

    def __init__(self, rt: S3Runtime, chunks: Iterator[bytes], leased: list[str]) -> None:
        self._rt = rt
        self._chunks = chunks
        self._leased: list[str] | None = leased

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks
        finally:
            self.close()

    def close(self) -> None:
        leased, self._leased = self._leased, None
        if leased is not None:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
            self._rt.guard.release(leased)

    def __del__(self) -> None:
        self.close()

