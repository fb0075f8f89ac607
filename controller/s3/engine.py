"""Moving object bytes: request body → (hash, encrypt) → blob, and blobs → (decrypt, range) → response.

Everything streams in :data:`~controller.s3.storage.CHUNK_SIZE` pieces; no step holds
more than one chunk, so memory stays flat whatever the object size. Bodies of at most
:data:`INLINE_LIMIT` bytes are kept in memory instead and stored inline, in the same
transaction as their metadata (see ``state.py``). Hashes are
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
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from controller.protocol.file_body import FileRanges
from controller.s3 import catalog, checksums
from controller.s3.chunked import PayloadReader
from controller.s3.conditions import ByteRange
from controller.s3.crypto import CtrStream, ObjectKey, new_iv
from controller.s3.runtime import S3Runtime
from controller.s3.storage import Lease, Readable

Segment = dict[str, Any]


#: Objects up to this size are stored inline in the state store rather than as a blob.
INLINE_LIMIT = 64 * 1024


@dataclass
class Stored:
    """Bytes just stored: where, how big, their MD5 and checksums (of the plaintext), their IV.

    ``inline`` holds the (possibly encrypted) bytes of an inline blob, which the caller
    commits with its metadata (``catalog.put_inline``); ``blob`` is then an inline id.
    """

    blob: str
    size: int
    md5: bytes
    digests: dict[str, bytes] = field(default_factory=dict)
    iv: str | None = None
    inline: bytes | None = None

    @property
    def backend_blobs(self) -> list[str]:
        """What to delete from the backend if the metadata commit does not happen."""
        return [] if self.inline is not None else [self.blob]

    @property
    def inline_blobs(self) -> dict[str, bytes]:
        return {self.blob: self.inline} if self.inline is not None else {}

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


class _Prefixed:
    """Bytes already read, then the rest of the stream."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            return data
        return self._rest.read(size)


def _read_up_to(stream: Readable, limit: int) -> bytes:
    """Read until ``limit`` bytes or EOF (a verifying payload checks itself at EOF)."""
    parts: list[bytes] = []
    have = 0
    while have < limit:
        chunk = stream.read(limit - have)
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


def new_inline_id() -> str:
    return catalog.INLINE_PREFIX + uuid.uuid4().hex


class IterStream:
    """An iterator of byte chunks as a readable stream (to store what another read produces)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._source = chunks
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
        for closable in (self._chunks, self._source):  # a body never iterated has files open, too
            close = getattr(closable, "close", None)
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
          object_key: ObjectKey | None = None, inline_limit: int = INLINE_LIMIT) -> Stored:
    """Write ``source`` as a new blob (inline when at most ``inline_limit`` bytes), encrypted with ``object_key``.

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
    head = _read_up_to(stream, inline_limit + 1) if inline_limit else b""
    inline = None
    if inline_limit and len(head) <= inline_limit:
        blob, size, inline = new_inline_id(), len(head), head
    else:
        blob, size = rt.blobs.put(_Prefixed(head, stream))
    digests = hashing.digests()
    if isinstance(source, PayloadReader):
        digests.update(source.digests)
    return Stored(blob=blob, size=size, md5=digests.pop("MD5"), digests=digests, iv=iv, inline=inline)


def read(rt: S3Runtime, segments: list[Segment], object_key: ObjectKey | None,
         byte_range: ByteRange | None = None, inline: dict[str, bytes] | None = None) -> Iterable[bytes]:
    """The plaintext bytes of an object (or of ``byte_range`` of it), across its segments.

    ``inline`` has the bytes of the inline segments (``catalog.inline_data``). Plaintext stored in local
    files comes back as :class:`FileRanges`, which the HTTP server sends with ``sendfile(2)``.
    """
    pieces = list(_pieces(segments, byte_range))
    if object_key is None and not any(catalog.is_inline(segment["blob"]) for segment, _, _ in pieces):
        files = _open_files(rt, pieces)
        if files is not None:
            return files
    return _decoded(rt, pieces, object_key, inline or {})


def _pieces(segments: list[Segment], byte_range: ByteRange | None) -> Iterator[tuple[Segment, int, int]]:
    """``(segment, offset in it, length)`` for each segment the range touches, in order."""
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
        yield segment, local_first, min(last, end) - start - local_first + 1


def _open_files(rt: S3Runtime, pieces: list[tuple[Segment, int, int]]) -> FileRanges | None:
    """The pieces as ranges of open blob files; ``None`` when the store's blobs are not local files."""
    ranges: list[tuple[BinaryIO, int, int]] = []
    try:
        for segment, offset, length in pieces:
            handle = rt.blobs.open_file(segment["blob"])
            if handle is None:
                FileRanges(ranges).close()
                return None
            ranges.append((handle, offset, length))
    except BaseException:
        FileRanges(ranges).close()
        raise
    return FileRanges(ranges)


def _decoded(rt: S3Runtime, pieces: list[tuple[Segment, int, int]], object_key: ObjectKey | None,
             inline: dict[str, bytes]) -> Iterable[bytes]:
    if not pieces:
        return iter(())
    return _Plaintext(rt, pieces, object_key, inline)


class _Plaintext:
    """The plaintext of an object's pieces, read from the store and decrypted as the stream takes it.

    The first piece is asked of the store now, before the response's status goes out, so a store that
    cannot serve it (a cluster that is down) fails the request with an error instead of cutting a 200
    short; each later piece is opened when the stream reaches it, one at a time. ``close()`` closes the
    piece open, so a cluster connection is released even for a body dropped unread.
    """

    def __init__(self, rt: S3Runtime, pieces: list[tuple[Segment, int, int]], object_key: ObjectKey | None,
                 inline: dict[str, bytes]) -> None:
        self._rt = rt
        self._later = iter(pieces[1:])
        self._object_key = object_key
        self._inline = inline
        self._open, self._cipher = self._start(pieces[0])

    def _start(self, piece: tuple[Segment, int, int]) -> tuple[Iterable[bytes], CtrStream | None]:
        segment, offset, length = piece
        if catalog.is_inline(segment["blob"]):
            chunks: Iterable[bytes] = [self._inline[segment["blob"]][offset:offset + length]]
        else:
            chunks = self._rt.blobs.read(segment["blob"], offset, length)
        key = self._object_key
        return chunks, CtrStream(key.data_key, segment["iv"], offset) if key else None

    def __iter__(self) -> Iterator[bytes]:
        while True:
            for chunk in self._open:
                yield self._cipher.update(chunk) if self._cipher else chunk
            self.close()
            piece = next(self._later, None)
            if piece is None:
                return
            self._open, self._cipher = self._start(piece)

    def close(self) -> None:
        close = getattr(self._open, "close", None)
        if close is not None:
            close()


def clone_segments(rt: S3Runtime, segments: list[Segment], inline: dict[str, bytes],
                   ) -> tuple[list[Segment], dict[str, bytes]]:
    """Independent copies of an object's blobs (hard links or server-side copies), same IVs.

    Inline segments get new ids for the same bytes (``inline`` holds them), returned
    for the caller to commit with the copy.
    """
    cloned: list[Segment] = []
    copies: dict[str, bytes] = {}
    try:
        for segment in segments:
            if catalog.is_inline(segment["blob"]):
                clone_id = new_inline_id()
                copies[clone_id] = inline[segment["blob"]]
                cloned.append({**segment, "blob": clone_id})
            else:
                cloned.append({**segment, "blob": rt.blobs.clone(segment["blob"])})
    except BaseException:
        rt.blobs.delete(segment["blob"] for segment in cloned if not catalog.is_inline(segment["blob"]))
        raise
    return cloned, copies


def lease_version(rt: S3Runtime, bucket: str, key: str,
                  version_id: str | None) -> tuple[catalog.Record, dict[str, bytes], Lease]:
    """What a GET or a copy reads: the version, its inline bytes, its blobs leased from the guard (to release).

    The lease comes after the metadata read, so it is checked to be still the version's: when a write, in
    any process, removed the version meanwhile (its blobs may be gone already), the read starts over and
    answers what is there now.
    """
    while True:
        with rt.guard.snapshot() as lease:
            with rt.cloud.db.read() as conn:
                version = catalog.readable_version(conn, bucket, key, version_id)
                inline = catalog.inline_data(conn, version)
            leased = lease(catalog.blob_ids(version))
            if not leased:
                return version, inline, leased
            with rt.cloud.db.read() as conn:
                if catalog.version_exists(conn, version["seq"]):
                    return version, inline, leased
        rt.guard.release(leased)


class LeasedBody:
    """A GET response body that releases its blob leases when done, closed or dropped.

    WSGI servers call ``close()`` on response iterables; ``__del__`` covers wrappers that
    do not pass it on. Release happens once.
    """

    def __init__(self, rt: S3Runtime, chunks: Iterable[bytes], leased: Lease) -> None:
        self._rt = rt
        self._chunks = chunks
        self._leased: Lease | None = leased

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks
        finally:
            self.close()

    @property
    def file_ranges(self) -> list[tuple[BinaryIO, int, int]] | None:
        """The body's file ranges when the server can send them itself (see ``protocol/file_body.py``)."""
        return getattr(self._chunks, "file_ranges", None)

    def close(self) -> None:
        leased, self._leased = self._leased, None
        if leased is not None:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
            self._rt.guard.release(leased)

    def __del__(self) -> None:
        self.close()

