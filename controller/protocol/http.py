"""Transport-neutral HTTP request and response, so the protocol layer needs no web framework."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import quote


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


def raw_uri(environ: dict) -> str:
    """A WSGI ``environ``'s request target exactly as sent: SigV4 and S3 keys depend on the raw encoding
    (the front end parses it, and an API worker's relay forwards it)."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if raw:
        if raw.startswith(("http://", "https://")):
            raw = "/" + raw.split("/", 3)[3] if raw.count("/") >= 3 else "/"
        return raw
    path = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/-_.~!$&'()*+,;=:@")
    query = environ.get("QUERY_STRING", "")
    return path + ("?" + query if query else "")
