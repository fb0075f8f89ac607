"""An API worker's relay: a request for a service that only the primary serves goes there, as it came.

The primary (``cloudlet up``) listens on a Unix socket in the data dir for its workers. The relay forwards
the request line, the headers and the body unchanged (so a SigV4 signature, S3's raw key encoding and an
invoke URL's host still hold) and streams the answer back. The primary learns the client's address and
scheme through the same headers an agent's API relay uses (``controller.gateway.relayed_caller``), proven by
the agents' token, which only processes of the cloud can read; a client's own copies of those headers are
dropped unless they carry that proof already (a request an agent relayed from inside a VPC, whose source
VPC and endpoint must reach the primary as the agent stated them).
"""

from __future__ import annotations

import functools
import hmac
import http.client
import logging
import select
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from werkzeug.wsgi import get_input_stream

from controller.gateway import RELAY_SOURCE_IP, RELAY_TOKEN
from controller.protocol.http import raw_uri

log = logging.getLogger(__name__)

#: Headers of one hop only (RFC 9110 7.6.1): they describe a connection, not the request or its answer.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade", "expect", "proxy-authenticate", "proxy-authorization"})
#: What the relay claims about the client (``relayed_caller``'s headers and the scheme beside them).
CLAIMS = frozenset({RELAY_TOKEN, RELAY_SOURCE_IP, "x-cloudlet-source-vpc", "x-cloudlet-via", "x-forwarded-proto"})
#: Bodies up to this size are read before they are sent, so a request whose sending failed on a kept-alive
#: connection can be sent again on a fresh one; larger ones always go on a fresh connection.
REPLAYABLE_BODY = 1 << 20
#: Long polls (SQS, agents' desired documents) are answered within 20 s; uploads can be slow.
TIMEOUT = 330.0
CHUNK = 1 << 16


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class Relay:
    """A WSGI application that answers every request by asking the primary at ``path``."""

    def __init__(self, path: str, agent_token: str) -> None:
        self._path = path
        self._token = agent_token
        self._idle: list[_UnixConnection] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any], *,
                 body: bytes | BinaryIO | None = None) -> Iterable[bytes]:
        """Relay the request of ``environ``; ``body`` is its body when the worker has begun reading it (bytes
        once read whole), else it is read from ``environ``."""
        method = environ["REQUEST_METHOD"]
        target = raw_uri(environ)  # SigV4 signs the raw encoding
        headers = self._headers(environ)
        body, length = (body, len(body)) if isinstance(body, bytes) else _body(environ)
        if length is not None:
            headers["Content-Length"] = str(length)
        else:
            headers["Transfer-Encoding"] = "chunked"
        connection, response = self._send(method, target, headers, body, replayable=isinstance(body, bytes))
        start_response(f"{response.status} {response.reason}",
                       [(name, value) for name, value in response.getheaders() if name.lower() not in HOP_BY_HOP])
        return self._stream(connection, response)

    def carrying(self, body: bytes | BinaryIO) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
        """This relay as a WSGI application for a request whose body the worker holds as ``body``."""
        return functools.partial(self, body=body)

    def _headers(self, environ: dict[str, Any]) -> dict[str, str]:
        headers = {name[5:].replace("_", "-").lower(): value for name, value in environ.items()
                   if name.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]  # the length is the body's own, set by the caller
        headers = {name: value for name, value in headers.items() if name not in HOP_BY_HOP}
        proven = hmac.compare_digest(headers.get(RELAY_TOKEN, "").encode(), self._token.encode())
        if not proven:
            headers = {name: value for name, value in headers.items() if name not in CLAIMS}
            headers[RELAY_TOKEN] = self._token
            headers[RELAY_SOURCE_IP] = environ.get("REMOTE_ADDR") or "127.0.0.1"
            headers["x-forwarded-proto"] = environ.get("wsgi.url_scheme", "http")
        return headers

    def _send(self, method: str, target: str, headers: dict[str, str], body: Any,
              replayable: bool) -> tuple[_UnixConnection, http.client.HTTPResponse]:
        connection = self._take() if replayable else None
        if connection is not None:
            try:
                connection.request(method, target, body=body, headers=headers)
            except OSError:  # the request never reached the primary whole, so nothing ran: send it again
                connection.close()
            else:
                return connection, self._answer(connection)
        connection = _UnixConnection(self._path)
        try:
            connection.request(method, target, body=body, headers=headers,
                               encode_chunked="Transfer-Encoding" in headers)
        except BaseException:
            connection.close()
            raise
        return connection, self._answer(connection)

    @staticmethod
    def _answer(connection: _UnixConnection) -> http.client.HTTPResponse:
        """The primary's answer to the request just sent. Never sent again on failure: the primary may have
        acted on it (a call that is not idempotent would run twice)."""
        try:
            return connection.getresponse()
        except BaseException:
            connection.close()
            raise

    def _stream(self, connection: _UnixConnection, response: http.client.HTTPResponse) -> Iterator[bytes]:
        finished = False
        try:
            # read(), not read1(): only read() marks a response of known length done when its last byte is
            # in, which the connection needs before it can carry the next request.
            while chunk := response.read(CHUNK):
                yield chunk
            finished = True
        finally:
            if finished and not response.will_close:
                self._give_back(connection)
            else:  # the client went away mid-answer, or the primary ends the connection
                connection.close()

    def _take(self) -> _UnixConnection | None:
        """A kept-alive connection the primary has not closed (one it closed while idle reads as EOF)."""
        with self._lock:
            while self._idle:
                connection = self._idle.pop()
                if connection.sock is not None and not select.select([connection.sock], [], [], 0)[0]:
                    return connection
                connection.close()
        return None

    def _give_back(self, connection: _UnixConnection) -> None:
        with self._lock:
            self._idle.append(connection)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _body(environ: dict[str, Any]) -> tuple[Any, int | None]:
    """The body to send and its length (``None``: of unknown length, sent chunked as it is read)."""
    stream = get_input_stream(environ)
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        length = int(declared)
        return (stream.read(length) if length <= REPLAYABLE_BODY else stream), length
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return iter(lambda: stream.read(CHUNK), b""), None
    return b"", 0
