"""Transport-neutral HTTP request and response, so the protocol layer needs no web framework."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO


@dataclass
class HttpRequest:
    """An HTTP request as received.

    ``path`` is the raw, still percent-encoded path (SigV4 and S3 keys need it exactly);
    ``query`` holds the decoded query pairs in order; ``headers`` has lower-case names.
    ``body`` is ``bytes`` for ordinary requests; for streaming payloads (S3 object data)
    it is a readable binary stream that must be read at most once.
    """

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | BinaryIO = b""
    raw_query: str = ""

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def query_value(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return default

    def body_bytes(self) -> bytes:
        """The whole body, reading (and caching) a stream if needed."""
        if not isinstance(self.body, bytes | bytearray):
            self.body = self.body.read()
        return bytes(self.body)


@dataclass
class HttpResponse:
    """An HTTP response; ``body`` may be an iterable of chunks for streamed payloads."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
