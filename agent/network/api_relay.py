"""The Cloudlet API inside VPCs: listeners in the agent's namespaces that relay HTTP to the controller.

SDKs in an instance call AWS's own names (``https://sts.home-1.amazonaws.com``), which resolve to the
document's ``api.address``. The agent listens there inside the namespace that owns the address (the
Internet namespace for instances with an EIP or behind a NAT gateway; a VPC endpoint's namespace for
private subnets), terminates TLS on 443 with the cloud's certificate (fetched from the controller's agent
API, ``controller/hosts/api_tls.py``) and serves plain HTTP on 80, and carries each request to the
controller over a kept-alive connection of its own, adding what only it knows: ``X-Cloudlet-Source-Ip``
(the client's address as the namespace sees it), ``X-Cloudlet-Source-Vpc``, ``X-Cloudlet-Via``
(``internet`` or the ``vpce-…``) and ``X-Forwarded-Proto``, with the agents' token in
``X-Cloudlet-Relay-Token`` so the controller believes them (``controller/gateway.py``). Whatever of those
the client sent is dropped. Bodies stream both ways (S3 objects of any size), in either framing
(Content-Length or chunked); a request body up to ``REPLAYABLE_BODY`` is read ahead instead, so a request
that meets a controller connection closing under it is sent again. ``Expect: 100-continue`` is answered here rather than passed on: the
controller's HTTP server (cheroot, and waitress too) sends its 100 as soon as it has the headers, before
the application decides anything, so forwarding it could not bring a refusal any earlier; it would only add
a round trip (and a 1xx reader that http.client lacks). A refusal before the body (an S3 403) therefore
comes after it, and the relay reads every body to its end, whatever the controller did with it, so the
client's connection stays usable; a controller connection that may be out of step is dropped instead.

The sockets are opened inside the namespaces (``setns`` on a short-lived thread, as ``imds.py`` does) with
``IP_FREEBIND``, since the address may be local only in some route tables; the relay's own threads stay
in the host namespace, from where they reach the controller.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import logging
import select
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.client import ControllerClient
from agent.contract.network import HostNetwork
from agent.network import naming, netns

log = logging.getLogger("cloudlet.agent.api_relay")

#: Linux's IP_FREEBIND (Python names it only on some builds): bind an address not (yet) local.
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
IP_TRANSPARENT = getattr(socket, "IP_TRANSPARENT", 19)
#: What the relay adds; a client's own copies are removed (``X-Forwarded-Proto`` too, the relay's to say).
TRUSTED_PREFIX = "x-cloudlet-"
#: Connection-level headers of one hop, never passed on (RFC 9110 7.6.1), plus what the relay answers itself.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "upgrade", "expect", "transfer-encoding", "content-length",
                        "x-forwarded-proto"})
CHUNK = 256 * 1024
#: A body up to this size is read whole before it is sent, so a kept-alive connection the controller closed
#: just as the request left (the keep-alive race) can be tried again on a fresh one; larger ones stream.
REPLAYABLE_BODY = 1024 * 1024
#: Session Manager's data channels: websocket upgrades on this path go to the controller's data-channel listener.
DATA_CHANNEL_PATH = "/v1/data-channel/"
#: An idle client connection is closed after this long (SDKs reconnect).
IDLE_TIMEOUT = 120.0
#: How long the controller may take to answer one request (Lambda invocations run up to 15 minutes).
UPSTREAM_TIMEOUT = 960.0


@dataclass(frozen=True)
class RelayListener:
    """One address the relay answers on: ``netns`` holds it; ``via`` is ``internet`` or a ``vpce-…``;
    ``vpc_id`` is the VPC every client there is in (None when the namespace serves several)."""

    netns: str
    address: str
    via: str
    vpc_id: str | None = None


@dataclass(frozen=True)
class TlsPair:
    """The server certificate chain and key, PEM (``controller.hosts.api_tls.TlsMaterial`` on the wire)."""

    certificate_chain: str
    private_key: str


TlsProvider = Callable[[], TlsPair]


def internet_listeners(doc: HostNetwork) -> list[RelayListener]:
    """The listener every host runs when the document offers the API: its address in the Internet
    namespace (``agent/network/plan.py`` makes it local there), for the Internet way in."""
    if doc.api is None:
        return []
    return [RelayListener(naming.internet_netns(doc.name_prefix), doc.api.address, "internet")]


def fetch_tls(client: ControllerClient) -> TlsProvider:
    """A provider that asks the controller's agent API for the material (``GET /_cloudlet/agent/v1/api-tls``)."""

    def fetch() -> TlsPair:
        body = client.api_tls()
        return TlsPair(body["certificate_chain"], body["private_key"])

    return fetch


def server_context(pair: TlsPair) -> ssl.SSLContext:
    """A TLS server context with ``pair`` (ssl loads a chain only from files: a private temporary dir)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="cl-api-tls-") as folder:
        chain, key = Path(folder, "chain.pem"), Path(folder, "key.pem")
        chain.write_text(pair.certificate_chain)
        key.touch(mode=0o600)
        key.write_text(pair.private_key)
        context.load_cert_chain(chain, key)
    return context


def upstream_headers(headers: list[tuple[str, str]], listener: RelayListener, client_ip: str, token: str,
                     secure: bool) -> list[tuple[str, str]]:
    """The request's headers as the controller gets them: the client's end-to-end ones without any it
    may not claim, then the relay's own (pure)."""
    kept = [(name, value) for name, value in headers
            if name.lower() not in HOP_BY_HOP and not name.lower().startswith(TRUSTED_PREFIX)]
    kept += [("X-Cloudlet-Relay-Token", token), ("X-Cloudlet-Source-Ip", client_ip),
             ("X-Cloudlet-Via", listener.via), ("X-Forwarded-Proto", "https" if secure else "http")]
    if listener.vpc_id:
        kept.append(("X-Cloudlet-Source-Vpc", listener.vpc_id))
    return kept


class ApiRelay:
    """Listeners converged to a list (``update``), each relaying to ``controller_url`` (http or https)."""

    def __init__(self, controller_url: str, token: str, tls: TlsProvider,
                 https_port: int = 443, http_port: int = 80) -> None:
        self.controller = urlsplit(controller_url)
        self.token = token
        self.tls = tls
        self.ports = {"https": https_port, "http": http_port}
        #: The controller's data-channel port (the network document's ``api.data_channel_port``; 0: none).
        self.data_channel_port = 0
        self._context: ssl.SSLContext | None = None
        self._sockets: dict[RelayListener, list[socket.socket]] = {}
        self._lock = threading.Lock()

    def update(self, listeners: list[RelayListener]) -> None:
        """Open the listeners that are new, close those that are gone; one that cannot open yet (its
        namespace not made) is tried again at the next update."""
        wanted = set(listeners)
        with self._lock:
            for gone in set(self._sockets) - wanted:
                for sock in self._sockets.pop(gone):
                    _close_listening(sock)
            for listener in sorted(wanted - set(self._sockets), key=lambda item: (item.netns, item.address)):
                try:
                    self._sockets[listener] = self._open(listener)
                except OSError as exc:
                    log.warning("API relay on %s in %s not open yet: %s", listener.address, listener.netns, exc)

    def close(self) -> None:
        self.update([])

    def _open(self, listener: RelayListener) -> list[socket.socket]:
        context = self._tls_context()
        opened: list[socket.socket] = []
        try:
            for scheme in ("https", "http") if context is not None else ("http",):
                port = self.ports[scheme]
                sock = netns.run_inside(listener.netns, lambda port=port: _listen(listener.address, port))
                opened.append(sock)
                threading.Thread(target=self._accept, args=(sock, listener, context if scheme == "https" else None),
                                 name=f"api-relay-{listener.address}-{scheme}", daemon=True).start()
        except OSError:
            for sock in opened:
                _close_listening(sock)
            raise
        return opened

    def _tls_context(self) -> ssl.SSLContext | None:
        """The server context, fetched once; None (plain HTTP only, for now) when the controller cannot say."""
        if self._context is None:
            try:
                self._context = server_context(self.tls())
            except (OSError, ValueError, KeyError, ssl.SSLError) as exc:
                log.warning("API relay serves no HTTPS until its certificate can be fetched: %s", exc)
        return self._context

    def _accept(self, sock: socket.socket, listener: RelayListener, context: ssl.SSLContext | None) -> None:
        while True:
            try:
                conn, address = sock.accept()
            except OSError:
                return  # closed by update()
            threading.Thread(target=self._serve, args=(conn, address, listener, context),
                             name=f"api-relay-conn-{address[0]}", daemon=True).start()

    def _serve(self, conn: socket.socket, address: tuple[str, int], listener: RelayListener,
               context: ssl.SSLContext | None) -> None:
        conn.settimeout(IDLE_TIMEOUT)
        upstream = self._upstream()
        try:
            if context is not None:
                conn = context.wrap_socket(conn, server_side=True)
            _Handler(conn, address, _Session(self, listener, upstream, secure=context is not None))
        except (OSError, ssl.SSLError) as exc:
            log.debug("API relay connection from %s ended: %s", address[0], exc)
        finally:
            upstream.close()
            with contextlib.suppress(OSError):
                conn.close()

    def _upstream(self) -> http.client.HTTPConnection:
        host, port = self.controller.hostname or "127.0.0.1", self.controller.port
        if self.controller.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=UPSTREAM_TIMEOUT)
        return http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT)


@dataclass
class _Session:
    """One client connection's facts, and its own kept-alive connection to the controller."""

    relay: ApiRelay
    listener: RelayListener
    upstream: http.client.HTTPConnection
    secure: bool


class _Handler(http.server.BaseHTTPRequestHandler):
    """One client connection: HTTP/1.1 requests relayed one after the other (keep-alive)."""

    protocol_version = "HTTP/1.1"
    session: _Session
    #: Whether any of the current request's body was streamed from the client (then it cannot be sent again).
    body_read = False
    #: Whether the controller's connection may be out of step after the current request (never reused).
    upstream_spoiled = False

    def __init__(self, conn: socket.socket, address: tuple[str, int], session: _Session) -> None:
        self.session = session
        super().__init__(conn, address, None)  # type: ignore[arg-type]  # no socketserver behind it

    def _relay(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket" and self.path.startswith(DATA_CHANNEL_PATH):
            self._tunnel_data_channel()
            return
        session = self.session
        headers = upstream_headers(list(self.headers.items()), session.listener, self.client_address[0],
                                   session.relay.token, session.secure)
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        try:
            length = int(self.headers.get("Content-Length") or 0) if not chunked else None
        except ValueError:
            self.send_error(400, "Bad Content-Length")
            self.close_connection = True
            return
        self.body_read = False
        body = None
        if length is not None and 0 < length <= REPLAYABLE_BODY:
            body = self.rfile.read(length)
            if len(body) != length:
                self.close_connection = True  # the client left mid-body: nobody to answer
                return
        upstream = session.upstream
        reused = upstream.sock is not None
        if reused and not _still_open(upstream.sock):
            upstream.close()  # the controller closed it while idle: a fresh one, before anything is sent
            reused = False
        try:
            response = self._forward(headers, chunked, length, body)
        except (OSError, http.client.HTTPException) as exc:
            upstream.close()
            response = None
            if reused and not self.body_read:  # nothing of the client's is lost: once more, on a fresh one
                log.info("API relay: a kept-alive connection to the controller failed (%s), retrying", exc)
                with contextlib.suppress(OSError, http.client.HTTPException):
                    response = self._forward(headers, chunked, length, body)
            if response is None:
                upstream.close()
                log.warning("API relay: the controller did not answer %s %s: %s", self.command, self.path[:80], exc)
                self.send_error(502, "The Cloudlet controller is unreachable")
                self.close_connection = True
                return
        self._answer(response)
        if self.upstream_spoiled:
            upstream.close()

    def _tunnel_data_channel(self) -> None:
        """A Session Manager data channel: the websocket upgrade and every byte after it, both ways, to the
        controller's data-channel listener (an upgraded connection is no longer HTTP for the relay to carry).
        The channel authenticates itself with its token, so no relay headers are added."""
        self.close_connection = True
        relay = self.session.relay
        if not relay.data_channel_port:
            self.send_error(404, "This cloud serves no Session Manager data channels")
            return
        try:
            upstream = socket.create_connection((relay.controller.hostname or "127.0.0.1", relay.data_channel_port),
                                                timeout=10)
        except OSError as exc:
            log.warning("API relay: the data-channel listener is unreachable: %s", exc)
            self.send_error(502, "The Cloudlet controller's data channels are unreachable")
            return
        for sock in (upstream, self.connection):   # keystrokes are small frames: no Nagle delays
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(None)
        head = f"{self.command} {self.path} HTTP/1.1\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in self.headers.items()) + "\r\n"

        def downward() -> None:
            with contextlib.suppress(OSError):
                while data := upstream.recv(65536):
                    self.connection.sendall(data)

        with upstream:
            upstream.sendall(head.encode("latin-1"))
            returning = threading.Thread(target=downward, name="api-relay-data-channel", daemon=True)
            returning.start()
            with contextlib.suppress(OSError, ValueError):
                while data := self.rfile.read1(65536):
                    upstream.sendall(data)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_RDWR)
            returning.join(5)

    def _forward(self, headers: list[tuple[str, str]], chunked: bool, length: int | None,
                 body: bytes | None) -> http.client.HTTPResponse:
        """Send the request with the client's whole body (``body`` when it was read ahead, else streamed
        from the client), and take the controller's answer.

        The client's body is always read to its end, even when the controller stops taking it (it may
        answer early, a 403 before the object, and close): the client's connection stays in step for its
        next request, and ``upstream_spoiled`` says the controller's may not be, so it is not reused.
        A chunked body is sent with ``Connection: close``, since the controller's server leaves a chunked
        body its application did not read in the stream (cheroot drains only a known length)."""
        upstream = self.session.upstream
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            upstream.putheader(name, value)
        if chunked:
            upstream.putheader("Transfer-Encoding", "chunked")
            upstream.putheader("Connection", "close")
        elif length or self.command in ("PUT", "POST", "PATCH"):
            upstream.putheader("Content-Length", str(length or 0))
        upstream.endheaders()
        sink = _Sink(upstream.send)
        if chunked:
            self._copy_chunked(sink)
        elif body is not None:
            sink(body)
        elif length:
            self._copy_exactly(length, sink)
        self.upstream_spoiled = chunked or sink.error is not None
        if sink.error is not None:
            log.info("API relay: the controller stopped reading %s %s (%s)", self.command, self.path[:80], sink.error)
        return upstream.getresponse()  # an early answer is still read, when the controller wrote one

    def _read_body(self, size: int) -> bytes:
        data = self.rfile.read(size)
        self.body_read = True
        return data

    def _copy_exactly(self, length: int, send: Callable[[bytes], None]) -> None:
        left = length
        while left:
            data = self._read_body(min(CHUNK, left))
            if not data:
                raise ConnectionError("the client's body ended early")
            send(data)
            left -= len(data)

    def _copy_chunked(self, send: Callable[[bytes], None]) -> None:
        """Pass a chunked body on chunk by chunk (extensions dropped, trailers kept)."""
        while True:
            size_line = self.rfile.readline(1024)
            self.body_read = True
            if not size_line:
                raise ConnectionError("the client's chunked body ended early")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                trailer = b""
                while (line := self.rfile.readline(8192)) not in (b"\r\n", b"\n", b""):
                    trailer += line
                send(b"0\r\n" + trailer + b"\r\n")
                return
            send(f"{size:x}\r\n".encode())
            left = size
            while left:
                data = self._read_body(min(CHUNK, left))
                if not data:
                    raise ConnectionError("the client's chunked body ended early")
                send(data)
                left -= len(data)
            self.rfile.readline(8)  # the CRLF after the chunk's data
            send(b"\r\n")

    def _answer(self, response: http.client.HTTPResponse) -> None:
        """Send the controller's answer: its length as given, else chunked (http.client unchunks). The
        controller's closing its connection is that hop's business: the client's stays open."""
        length = response.getheader("Content-Length")
        bodiless = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP or (name.lower() == "content-length" and length is not None):
                self.send_header(name, value)
        chunked = length is None and not bodiless
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while not bodiless:
            data = response.read1(CHUNK) if chunked else response.read(CHUNK)
            if not data:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        response.close()
        self.wfile.flush()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _relay  # noqa: N815 - http.server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s %s", self.client_address[0], format % args)


def _listen(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6 if family == socket.AF_INET6 else socket.IPPROTO_IP,
                        IP_FREEBIND if family == socket.AF_INET else 78, 1)  # 78: IPV6_FREEBIND
        # Transparent too: where the address is local only in some route tables (a gateway VPC endpoint's
        # router namespace), replies leave from it although no interface holds it (FLOWI_FLAG_ANYSRC).
        sock.setsockopt(socket.IPPROTO_IPV6 if family == socket.AF_INET6 else socket.IPPROTO_IP,
                        IP_TRANSPARENT if family == socket.AF_INET else 75, 1)  # 75: IPV6_TRANSPARENT
        sock.bind((address, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class _Sink:
    """Sends to the controller until it fails once, then discards: the client's body is still read to its
    end (so its connection stays in step) and the first error is kept."""

    def __init__(self, send: Callable[[bytes], None]) -> None:
        self.send = send
        self.error: OSError | None = None

    def __call__(self, data: bytes) -> None:
        if self.error is None:
            try:
                self.send(data)
            except OSError as exc:
                self.error = exc


def _still_open(sock: socket.socket) -> bool:
    """Whether a kept-alive connection to the controller can carry a request: an idle one has nothing to
    read, so anything readable (its close, or bytes out of step) means it cannot (TLS or not)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable and not (isinstance(sock, ssl.SSLSocket) and sock.pending())


def _close_listening(sock: socket.socket) -> None:
    """Stop a listener: shutdown wakes its accept() (close alone does not on Linux)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
