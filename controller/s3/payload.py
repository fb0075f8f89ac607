"""The body of an S3 request, made trustworthy while it streams in.

S3 signs the *declared* payload hash (``x-amz-content-sha256``), not the body, so the
body still has to be checked as it is read, and it may be aws-chunked (signed or not,
with checksum trailers). :func:`wrap_payload` is S3's ``open_payload`` hook: the gateway
calls it once the signature holds; from then on ``request.body`` is a stream (a
:class:`controller.s3.chunked.PayloadReader`) that yields the decoded object bytes
and, on reaching EOF, raises S3's error if a chunk signature, the literal SHA-256,
``Content-MD5`` or an ``x-amz-checksum-*`` value (header or trailer) does not match.
The protocol layer hands that stream to the operation unread (PutObject's ``Body``) or
reads it whole for XML payloads; either way nothing is used before it is verified.

The stream also computes the MD5 of the payload on the way, which S3 needs anyway for
the ETag: after EOF, ``request.body.digests["MD5"]`` and ``request.body.size`` spare the
object store a second pass over the data.
"""

from __future__ import annotations

from typing import BinaryIO

from controller.auth import sigv4
from controller.protocol.http import HttpRequest
from controller.s3 import chunked


class _BoundedReads:
    """A request stream whose ``read(-1)`` means "the rest of the body", as io promises.

    WSGI servers differ here: cheroot's input stream passes ``-1`` on to the socket and
    waits for the connection to close, which a keep-alive client never does.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw

    def read(self, size: int | None = -1) -> bytes:
        return self._raw.read() if size is None or size < 0 else self._raw.read(size)


def wrap_payload(request: HttpRequest, info: sigv4.SignatureInfo | None,
                 signing: sigv4.SigningContext | None = None) -> None:
    """Replace ``request.body`` with its decoding, verifying stream (see the module docstring).

    ``info`` is the request's parsed signature (``None`` for an anonymous request, whose
    body is still decoded and checked against ``Content-MD5`` and checksums);
    ``signing`` is what :func:`sigv4.verify` returned, needed to check the chunk
    signatures of a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` body.
    """
    if isinstance(request.body, chunked.PayloadReader):
        return
    if not isinstance(request.body, bytes | bytearray):
        request.body = _BoundedReads(request.body)
    request.body = chunked.open_payload(request, info, signing, algorithms=("MD5",))
