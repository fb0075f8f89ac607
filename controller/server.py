"""Serving the WSGI app with a production HTTP/1.1 server with keep-alive.

cheroot is the default, picked by measurement (``bench/bench_api.py`` runs Cloudlet on
each server against moto); ``CLOUDLET_HTTP_SERVER=waitress`` selects waitress (the ``bench`` extra installs it), kept so
the comparison can be re-run on other hardware.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

log = logging.getLogger(__name__)


class _ReusableAddressServer(wsgi.Server):
    """cheroot's WSGI server, with SO_REUSEADDR even when asked for port 0, and able to serve a listening
    socket another process made.

    cheroot leaves the option off for an ephemeral port, and the connections it accepts inherit that. Their
    TIME-WAITs then refuse a restart on the port the first start was given, for up to a minute.
    """

    #: A listening socket to accept from instead of binding one (an API worker's, shared with ``cloudlet up``).
    inherited: socket.socket | None = None

    def bind(self, family: int, type: int, proto: int = 0) -> socket.socket:
        if self.inherited is None:
            return super().bind(family, type, proto)
        self.socket = self.inherited
        self.bind_addr = self.inherited.getsockname()[:2]
        return self.socket

    @staticmethod
    def bind_socket(socket_: socket.socket, bind_addr: tuple) -> socket.socket:
        socket_.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        socket_.bind(bind_addr)
        return socket_

    def prepare(self) -> None:
        super().prepare()
        # API workers and ``cloudlet up`` accept from one socket, and each is woken for every connection:
        # one that loses the race must get EAGAIN at once (cheroot selects again), not wait in accept()
        # for up to cheroot's 1 s socket timeout while the kept-alive connections it holds wait for it.
        # That holds for the primary's own socket as much as for an inherited one.
        self.socket.settimeout(0)


class _SendfileGateway(wsgi.Gateway_10):
    """cheroot's WSGI gateway, sending bodies that are ranges of local files with ``sendfile(2)``.

    A body with ``file_ranges`` (``controller/protocol/file_body.py``) whose Content-Length is their
    total goes from the page cache to the socket in the kernel, as nginx sends files: the bytes never
    enter Python. Every other body, and any body over TLS, takes cheroot's own path.
    """

    def respond(self) -> None:
        response = self.req.server.wsgi_app(self.env, self.start_response)
        ranges = getattr(response, "file_ranges", None)
        if ranges is None or self.req.conn.ssl_env or self.remaining_bytes_out != sum(n for _, _, n in ranges):
            self._send_iterated(response)
            return
        try:
            self.req.ensure_headers_sent()  # cheroot's socket writer flushes every write
            for handle, offset, length in ranges:
                while length > 0:
                    sent = self.req.conn.socket.sendfile(handle, offset, length)
                    if sent == 0:  # the file is shorter than its range: cut the connection, as a read error would
                        raise OSError(f"{handle.name} ended {length} bytes before its range")
                    offset, length = offset + sent, length - sent
            self.remaining_bytes_out = 0
        finally:
            response.close()

    def _send_iterated(self, response) -> None:
        """cheroot's own ``respond`` for an application iterable already obtained."""
        try:
            for chunk in filter(None, response):
                self.write(chunk)
        finally:
            self.req.ensure_headers_sent()
            if hasattr(response, "close"):
                response.close()


class HttpServer:
    """A threaded HTTP server running in the background until :meth:`stop`."""

    def __init__(self, app, host: str, port: int, threads: int, *, inherited: socket.socket | None = None,
                 unix_path: str | None = None, tls: tuple[Path, Path] | None = None) -> None:
        """Serve ``app`` on ``host:port``, or on a listening socket ``inherited`` from another process, or on
        the Unix socket ``unix_path`` (where API workers relay to ``cloudlet up``); with ``tls`` (certificate
        chain and key files) over HTTPS."""
        self.kind = os.environ.get("CLOUDLET_HTTP_SERVER", "cheroot")
        if inherited is not None or unix_path is not None or tls is not None:
            self.kind = "cheroot"
        if self.kind == "waitress":
            from waitress.server import create_server

            self._server = create_server(app, host=host, port=port, threads=threads, channel_timeout=300,
                                         connection_limit=1000, ident="cloudlet")
            self._port = self._server.effective_port
        elif self.kind == "cheroot":
            self._server = _ReusableAddressServer(unix_path or (host, port), app, numthreads=threads, max=-1,
                                                  request_queue_size=256, shutdown_timeout=5, server_name="cloudlet")
            self._server.inherited = inherited
            self._server.gateway = _SendfileGateway
            if tls is not None:
                self._server.ssl_adapter = BuiltinSSLAdapter(str(tls[0]), str(tls[1]))
            # Large S3 bodies and slow clients: keep connections open like AWS does.
            self._server.timeout = 300
            self._server.prepare()
            self._port = 0 if unix_path else self._server.bind_addr[1]
        else:
            raise ValueError(f"unknown CLOUDLET_HTTP_SERVER {self.kind!r}: use cheroot or waitress")
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def listening_socket(self) -> socket.socket:
        """The socket this server accepts from (what API workers inherit)."""
        return self._server.socket

    def start(self) -> None:
        target = self._server.run if self.kind == "waitress" else self._server.serve
        self._thread = threading.Thread(target=target, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self.kind == "waitress":
            self._server.close()
        else:
            self._server.stop()
        if self._thread:
            self._thread.join(timeout=10)
