"""Request payloads as S3 receives them: aws-chunked decoding, signatures, hashes and checksums.

An S3 upload arrives in one of these forms, told by ``x-amz-content-sha256``:

* a literal SHA-256 (or ``UNSIGNED-PAYLOAD``): the body is the object;
* ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``: an ``aws-chunked`` body whose every chunk is
  signed, each signature chained to the previous one from the request's own signature;
* ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER``: the same, then trailing headers
  (a checksum) with a signature of their own;
* ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``: unsigned chunks then trailing headers, what
  boto3 sends over HTTPS.

:class:`AwsChunkedReader` decodes such a body incrementally: it never holds more than
one read's worth of data, verifies each chunk signature as the chunk ends and exposes
the trailers after EOF. :class:`PayloadReader` hashes whatever it reads (MD5 for the
ETag, the ``x-amz-checksum-*`` algorithms) and, at EOF, checks what the request
declared. :func:`open_payload` puts both together for a request. Errors surface from
``read``: a consumer must read to EOF (``b""``) and discard everything on any error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
import struct
import zlib
from collections.abc import Iterable
from typing import BinaryIO

import crc32c

from controller.auth import sigv4
from controller.errors import error
from controller.protocol.http import HttpRequest

IncompleteBody = error("IncompleteBody", 400)
InvalidChunkSizeError = error("InvalidChunkSizeError", 403)
MalformedTrailerError = error("MalformedTrailerError", 400)
XAmzContentSHA256Mismatch = error("XAmzContentSHA256Mismatch", 400)
BadDigest = error("BadDigest", 400)
InvalidDigest = error("InvalidDigest", 400)
MissingContentLength = error("MissingContentLength", 411)
InvalidRequest = sigv4.InvalidRequest

#: S3 rejects any chunk but the last below this size.
MIN_CHUNK_SIZE = 8192
_READ_BLOCK = 64 * 1024
_MAX_LINE = 4096
_MAX_TRAILERS = 16
_INCOMPLETE = "The request body terminated unexpectedly"
_MALFORMED_TRAILER = ("The request contained trailing data that was not well-formed or did not conform to our "
                      "published schema.")
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")


# --- checksums ---------------------------------------------------------------------------------------


class _Crc:
    """A running CRC presented like a hashlib object (digest is big-endian, as S3 encodes it)."""

    def __init__(self, update, width: int) -> None:
        self._update = update
        self._width = width
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = self._update(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._width, "big")


_CRC64_POLY = 0x9A6C9329AC4BC9B5  # CRC-64/NVME, reflected
_MASK64 = (1 << 64) - 1


def _crc64_tables() -> tuple[tuple[int, ...], ...]:
    first = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC64_POLY if crc & 1 else crc >> 1
        first.append(crc)
    tables = [first]
    for _ in range(7):
        previous = tables[-1]
        tables.append([(value >> 8) ^ first[value & 0xFF] for value in previous])
    return tuple(tuple(table) for table in tables)


_CRC64_TABLES = _crc64_tables()


def crc64nvme(data: bytes, value: int = 0) -> int:
    """CRC-64/NVME in pure Python, eight bytes a step (about 13 MB/s: compute it only when asked)."""
    crc = value ^ _MASK64
    t0, t1, t2, t3, t4, t5, t6, t7 = _CRC64_TABLES
    whole = len(data) // 8 * 8
    for (word,) in struct.iter_unpack("<Q", memoryview(data)[:whole]):
        crc ^= word
        crc = (t7[crc & 0xFF] ^ t6[(crc >> 8) & 0xFF] ^ t5[(crc >> 16) & 0xFF] ^ t4[(crc >> 24) & 0xFF]
               ^ t3[(crc >> 32) & 0xFF] ^ t2[(crc >> 40) & 0xFF] ^ t1[(crc >> 48) & 0xFF] ^ t0[crc >> 56])
    for byte in data[whole:]:
        crc = t0[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK64


#: The algorithms S3 checks, by the name S3 uses (``ChecksumAlgorithm``), and the size of their digest.
CHECKSUM_SIZES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}


def new_hash(algorithm: str):
    """A hashlib-like object for ``MD5`` or one of :data:`CHECKSUM_SIZES`."""
    if algorithm == "CRC32":
        return _Crc(zlib.crc32, 4)
    if algorithm == "CRC32C":
        return _Crc(crc32c.crc32c, 4)
    if algorithm == "CRC64NVME":
        return _Crc(crc64nvme, 8)
    if algorithm in ("MD5", "SHA1", "SHA256"):
        return hashlib.new(algorithm.lower())
    raise ValueError(f"unknown checksum algorithm {algorithm!r}")


def checksum_header(algorithm: str) -> str:
    """``x-amz-checksum-crc32`` for ``CRC32``."""
    return f"x-amz-checksum-{algorithm.lower()}"


def decode_checksum(algorithm: str, value: str, *, trailing: bool = False) -> bytes:
    """The digest a base64 ``x-amz-checksum-*`` value carries; ``InvalidRequest`` when it cannot be one."""
    try:
        digest = base64.b64decode(value, validate=True)
    except ValueError:
        digest = b""
    if len(digest) != CHECKSUM_SIZES[algorithm]:
        where = "trailing header" if trailing else "header"
        raise InvalidRequest(f"Value for {checksum_header(algorithm)} {where} is invalid.")
    return digest


# --- aws-chunked ---------------------------------------------------------------------------------------


class AwsChunkedReader(io.RawIOBase):
    """Decode an ``aws-chunked`` body from ``raw``, one bounded read at a time.

    ``signing`` (from :func:`sigv4.verify`) makes every chunk signature checked, chained
    from the request's seed signature; ``None`` reads unsigned chunks. ``trailer_names``
    are the trailing headers ``x-amz-trailer`` announced; with ``signed_trailer`` they
    carry an ``x-amz-trailer-signature``. ``decoded_length`` is
    ``x-amz-decoded-content-length``, which the decoded payload must match exactly.
    """

    def __init__(self, raw: BinaryIO, *, decoded_length: int, signing: sigv4.SigningContext | None = None,
                 trailer_names: Iterable[str] = (), signed_trailer: bool = False,
                 min_chunk_size: int = MIN_CHUNK_SIZE) -> None:
        super().__init__()
        self._raw = raw
        self._decoded_length = decoded_length
        self._signing = signing
        self._previous_signature = signing.seed_signature if signing else ""
        self.trailer_names = tuple(name.strip().lower() for name in trailer_names if name.strip())
        self._signed_trailer = signed_trailer
        self._min_chunk_size = min_chunk_size
        self._buffer = b""
        self._position = 0
        self._chunk_left = 0
        self._chunk_signature = ""
        self._chunk_hash = hashlib.sha256()
        self._chunks = 0
        self._short_chunk: tuple[int, int] | None = None
        self._decoded = 0
        self._done = False
        self.trailers: dict[str, str] = {}

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        data = self.read(len(target))
        target[:len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_READ_BLOCK), b""))
        while not self._done and self._chunk_left == 0:
            self._start_chunk()
        if self._done or size == 0:
            return b""
        want = min(size, self._chunk_left)
        if self._position < len(self._buffer):
            data = self._buffer[self._position:self._position + want]
            self._position += len(data)
        else:
            data = self._raw.read(want)
        if not data:
            raise IncompleteBody(_INCOMPLETE)
        self._chunk_left -= len(data)
        self._decoded += len(data)
        if self._decoded > self._decoded_length:
            raise IncompleteBody(_INCOMPLETE)
        if self._signing is not None:
            self._chunk_hash.update(data)
        if self._chunk_left == 0:
            self._check_chunk_signature()
            if self._line() != b"":
                raise InvalidRequest("The aws-chunked body is malformed: a chunk is longer than its size.")
        return data

    def _start_chunk(self) -> None:
        """Read a chunk header; the final (empty) chunk ends the body and brings the trailers."""
        line = self._line()
        size_text, _, extensions = line.partition(b";")
        if not _CHUNK_SIZE.fullmatch(size_text.strip()):
            raise InvalidRequest(f"The aws-chunked body is malformed: bad chunk header {line[:64]!r}.")
        size = int(size_text, 16)
        self._chunks += 1
        if size and self._short_chunk:
            index, short_size = self._short_chunk
            raise InvalidChunkSizeError("Only the last chunk is allowed to have a size less than 8192 bytes",
                                        Chunk=str(index), BadChunkSize=str(short_size))
        if 0 < size < self._min_chunk_size:
            self._short_chunk = (self._chunks, size)
        self._chunk_left = size
        if self._signing is not None:
            self._chunk_signature = _chunk_signature(extensions)
            self._chunk_hash = hashlib.sha256()
        if size == 0:
            self._check_chunk_signature()
            self._read_trailers()
            if self._decoded != self._decoded_length:
                raise IncompleteBody(_INCOMPLETE)
            self._done = True

    def _check_chunk_signature(self) -> None:
        """Each chunk signs its data's hash and the previous signature, back to the request's."""
        if self._signing is None:
            return
        to_sign = (f"AWS4-HMAC-SHA256-PAYLOAD\n{self._signing.timestamp}\n{self._signing.scope}\n"
                   f"{self._previous_signature}\n{sigv4.EMPTY_SHA256}\n{self._chunk_hash.hexdigest()}")
        self._previous_signature = self._check(to_sign, self._chunk_signature)

    def _read_trailers(self) -> None:
        lines = []
        while True:
            line = self._line(eof_ok=True)
            if line is None or line == b"":
                break
            if len(lines) == _MAX_TRAILERS:
                raise MalformedTrailerError(_MALFORMED_TRAILER)
            lines.append(line)
        signature = None
        trailers: dict[str, str] = {}
        canonical = []
        for line in lines:
            name, colon, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if not colon or not name:
                raise MalformedTrailerError(_MALFORMED_TRAILER)
            if name == "x-amz-trailer-signature" and self._signed_trailer:
                signature = value
                continue
            trailers[name] = value
            canonical.append(f"{name}:{value}\n")
        if sorted(trailers) != sorted(self.trailer_names):
            raise MalformedTrailerError(_MALFORMED_TRAILER)
        if self._signed_trailer and self._signing is not None:
            if signature is None:
                raise MalformedTrailerError(_MALFORMED_TRAILER)
            digest = hashlib.sha256("".join(canonical).encode("latin-1")).hexdigest()
            to_sign = (f"AWS4-HMAC-SHA256-TRAILER\n{self._signing.timestamp}\n{self._signing.scope}\n"
                       f"{self._previous_signature}\n{digest}")
            self._check(to_sign, signature)
        self.trailers = trailers

    def _check(self, to_sign: str, provided: str) -> str:
        expected = sigv4.sign(self._signing.key, to_sign)
        if not hmac.compare_digest(expected, provided.lower()):
            raise sigv4.signature_mismatch(self._signing.access_key_id, provided, to_sign, None, s3=True)
        return expected

    def _line(self, *, eof_ok: bool = False) -> bytes | None:
        """The next CRLF-terminated line, without its CRLF; ``None`` at a clean EOF when ``eof_ok``."""
        while True:
            end = self._buffer.find(b"\r\n", self._position)
            if end >= 0:
                line = self._buffer[self._position:end]
                self._position = end + 2
                return line
            pending = self._buffer[self._position:]
            if len(pending) > _MAX_LINE:
                raise InvalidRequest("The aws-chunked body is malformed: a line is too long.")
            more = self._raw.read(_READ_BLOCK)
            if not more:
                if eof_ok and pending in (b"", b"\r"):
                    return None
                raise IncompleteBody(_INCOMPLETE)
            self._buffer, self._position = pending + more, 0


def _chunk_signature(extensions: bytes) -> str:
    for extension in extensions.split(b";"):
        name, _, value = extension.partition(b"=")
        if name.strip() == b"chunk-signature":
            return value.strip().decode("latin-1")
    return ""


# --- hashing and checking the payload ------------------------------------------------------------------


class PayloadReader(io.RawIOBase):
    """Read ``source`` while hashing it; at EOF check what the request declared about it.

    ``algorithms`` are computed whatever the request says (``MD5`` for the ETag...);
    ``content_sha256`` (a literal ``x-amz-content-sha256``) must match, or
    ``XAmzContentSHA256Mismatch``; ``content_md5`` (base64) and ``expected`` (algorithm
    -> digest bytes, from ``x-amz-checksum-*`` headers) must match, or ``BadDigest``.
    When ``source`` is an :class:`AwsChunkedReader`, its trailing checksums are checked
    the same way. After EOF, :attr:`digests` has every computed digest and :attr:`size`
    the payload length.
    """

    def __init__(self, source: BinaryIO, *, algorithms: Iterable[str] = (), content_sha256: str | None = None,
                 content_md5: str | None = None, expected: dict[str, bytes] | None = None) -> None:
        super().__init__()
        self._source = source
        self._content_sha256 = content_sha256.lower() if content_sha256 else None
        self._content_md5 = _decode_md5(content_md5) if content_md5 is not None else None
        self._expected = dict(expected or {})
        names = set(algorithms) | set(self._expected)
        for trailer in getattr(source, "trailer_names", ()):
            algorithm = _checksum_algorithm(trailer)
            if algorithm is not None:
                names.add(algorithm)
        if self._content_sha256:
            names.add("SHA256")
        if self._content_md5 is not None:
            names.add("MD5")
        self._hashes = {name: new_hash(name) for name in sorted(names)}
        self._content_md5_text = content_md5
        self._finished = False
        self.size = 0
        self.digests: dict[str, bytes] = {}

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        data = self.read(len(target))
        target[:len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if self._finished or size == 0:
            return b""
        data = self._source.read(size)
        if data:
            self.size += len(data)
            for running in self._hashes.values():
                running.update(data)
            if size is not None and size >= 0:
                return data
        self._finish()
        return data

    @property
    def trailers(self) -> dict[str, str]:
        """The trailing headers of an aws-chunked body (after EOF); empty for any other body."""
        return getattr(self._source, "trailers", {})

    def checksum(self, algorithm: str) -> str:
        """The base64 digest of ``algorithm``, as ``x-amz-checksum-*`` headers carry it (after EOF)."""
        return base64.b64encode(self.digests[algorithm]).decode()

    def _finish(self) -> None:
        self._finished = True
        self.digests = {name: running.digest() for name, running in self._hashes.items()}
        if self._content_sha256 and self.digests["SHA256"].hex() != self._content_sha256:
            raise XAmzContentSHA256Mismatch(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ClientComputedContentSHA256=self._content_sha256,
                S3ComputedContentSHA256=self.digests["SHA256"].hex())
        if self._content_md5 is not None and self.digests["MD5"] != self._content_md5:
            raise BadDigest("The Content-MD5 you specified did not match what we received.",
                            ExpectedDigest=self._content_md5_text, CalculatedDigest=self.checksum("MD5"))
        expected = dict(self._expected)
        for name, value in self.trailers.items():
            algorithm = _checksum_algorithm(name)
            if algorithm is not None:
                expected[algorithm] = decode_checksum(algorithm, value, trailing=True)
        for algorithm, digest in expected.items():
            if self.digests[algorithm] != digest:
                raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")


def open_payload(request: HttpRequest, info: sigv4.SignatureInfo | None, signing: sigv4.SigningContext | None,
                 *, algorithms: Iterable[str] = ("MD5",), min_chunk_size: int = MIN_CHUNK_SIZE) -> PayloadReader:
    """The object data of an S3 request, decoded and checked as it is read.

    ``info``/``signing`` are what :func:`sigv4.parse_authorization` and
    :func:`sigv4.verify` returned (both ``None`` for an anonymous request). Checks up
    front what can be checked before reading: ``x-amz-decoded-content-length`` of an
    aws-chunked body, the form of ``Content-MD5`` and of the ``x-amz-checksum-*``
    headers, one checksum at most, ``x-amz-sdk-checksum-algorithm``.
    """
    headers = request.headers
    payload_hash = info.payload_hash if info is not None else headers.get("x-amz-content-sha256")
    body = request.body
    raw: BinaryIO = io.BytesIO(body) if isinstance(body, bytes | bytearray) else body
    trailer_names = [name.strip().lower() for name in headers.get("x-amz-trailer", "").split(",") if name.strip()]
    chunked = (payload_hash or "").startswith("STREAMING-") or is_aws_chunked(headers.get("content-encoding"))
    if chunked:
        decoded_length = headers.get("x-amz-decoded-content-length")
        if decoded_length is None or not decoded_length.isdigit():
            raise MissingContentLength("You must provide the Content-Length HTTP header.")
        signed = payload_hash in (sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER)
        if signed and signing is None:
            raise ValueError("a signed aws-chunked body needs the SigningContext of its request")
        raw = AwsChunkedReader(raw, decoded_length=int(decoded_length), signing=signing if signed else None,
                               trailer_names=trailer_names,
                               signed_trailer=payload_hash == sigv4.STREAMING_SIGNED_TRAILER,
                               min_chunk_size=min_chunk_size)
    expected = {}
    for name, value in headers.items():
        algorithm = _checksum_algorithm(name)
        if algorithm is not None:
            expected[algorithm] = decode_checksum(algorithm, value)
    trailing = [name for name in trailer_names if _checksum_algorithm(name)] if chunked else []
    if len(expected) + len(trailing) > 1:
        raise InvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    sdk_algorithm = headers.get("x-amz-sdk-checksum-algorithm")
    if sdk_algorithm is not None:
        if sdk_algorithm.upper() not in CHECKSUM_SIZES:
            raise InvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the "
                                 "valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
        if not expected and not trailing:
            raise InvalidRequest("x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* "
                                 "or x-amz-trailer headers were found.")
    literal = payload_hash if payload_hash and sigv4.is_sha256_hex(payload_hash) else None
    return PayloadReader(raw, algorithms=algorithms, content_sha256=literal,
                         content_md5=headers.get("content-md5"), expected=expected)


def is_aws_chunked(content_encoding: str | None) -> bool:
    return "aws-chunked" in _encodings(content_encoding)


def stored_content_encoding(content_encoding: str | None) -> str | None:
    """The ``Content-Encoding`` S3 stores: the request's, without ``aws-chunked`` (``None`` if nothing is left)."""
    remaining = [encoding for encoding in _encodings(content_encoding) if encoding != "aws-chunked"]
    return ", ".join(remaining) or None


def _encodings(content_encoding: str | None) -> list[str]:
    return [part.strip() for part in (content_encoding or "").split(",") if part.strip()]


def _checksum_algorithm(header: str) -> str | None:
    """``CRC32`` for ``x-amz-checksum-crc32``; ``None`` for any other header."""
    if not header.startswith("x-amz-checksum-"):
        return None
    algorithm = header[len("x-amz-checksum-"):].upper()
    return algorithm if algorithm in CHECKSUM_SIZES else None


def _decode_md5(value: str) -> bytes:
    try:
        digest = base64.b64decode(value, validate=True)
    except ValueError:
        digest = b""
    if len(digest) != 16:
        raise InvalidDigest("The Content-MD5 you specified was invalid.", **{"Content-MD5": value})
    return digest
