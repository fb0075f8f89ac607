"""Serving the WSGI app with cheroot, a production HTTP/1.1 server with keep-alive.

cheroot was picked by measurement (bench/bench_api.py): on this workload it beat
waitress and Werkzeug's threaded server on requests/s and p99 over keep-alive.
"""

from __future__ import annotations

import logging
import threading

from cheroot import wsgi

log = logging.getLogger(__name__)


class HttpServer:
    """A threaded HTTP server running in the background until :meth:`stop`."""

    def __init__(self, app, host: str, port: int, threads: int) -> None:
        self._server = wsgi.Server((host, port), app, numthreads=threads, max=-1,
                                   request_queue_size=256, shutdown_timeout=5, server_name="cloudlet")
        # Large S3 bodies and slow clients: keep connections open like AWS does.
        self._server.timeout = 300
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.bind_addr[1]

    def start(self) -> None:
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.stop()
        if self._thread:
            self._thread.join(timeout=10)
