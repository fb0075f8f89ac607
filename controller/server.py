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

from cheroot import wsgi

log = logging.getLogger(__name__)


class _ReusableAddressServer(wsgi.Server):
    """cheroot's WSGI server, with SO_REUSEADDR even when asked for port 0.

    cheroot leaves the option off for an ephemeral port, and the connections it accepts inherit that. Their
    TIME-WAITs then refuse a restart on the port the first start was given, for up to a minute.
    """

    @staticmethod
    def bind_socket(socket_: socket.socket, bind_addr: tuple) -> socket.socket:
        socket_.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        socket_.bind(bind_addr)
        return socket_


class HttpServer:
    """A threaded HTTP server running in the background until :meth:`stop`."""

    def __init__(self, app, host: str, port: int, threads: int) -> None:
        self.kind = os.environ.get("CLOUDLET_HTTP_SERVER", "cheroot")
        if self.kind == "waitress":
            from waitress.server import create_server

            self._server = create_server(app, host=host, port=port, threads=threads, channel_timeout=300,
                                         connection_limit=1000, ident="cloudlet")
            self._port = self._server.effective_port
        elif self.kind == "cheroot":
            self._server = _ReusableAddressServer((host, port), app, numthreads=threads, max=-1,
                                                  request_queue_size=256, shutdown_timeout=5, server_name="cloudlet")
            # Large S3 bodies and slow clients: keep connections open like AWS does.
            self._server.timeout = 300
            self._server.prepare()
            self._port = self._server.bind_addr[1]
        else:
            raise ValueError(f"unknown CLOUDLET_HTTP_SERVER {self.kind!r}: use cheroot or waitress")
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

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
