"""The controller's HTTP server can be restarted on the port an ephemeral first start was given."""

from __future__ import annotations

import http.client

from controller.server import HttpServer


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def _get(connection: http.client.HTTPConnection) -> bytes:
    connection.request("GET", "/")
    return connection.getresponse().read()


def test_a_restart_on_the_given_port_survives_the_first_servers_time_waits() -> None:
    first = HttpServer(_hello, "127.0.0.1", 0, 2)
    first.start()
    port = first.port
    kept_alive = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        assert _get(kept_alive) == b"hello"
    finally:
        first.stop()  # closes the kept-alive connection first: its TIME-WAIT stays on the server's port
        kept_alive.close()
    second = HttpServer(_hello, "127.0.0.1", port, 2)  # plain cheroot: EADDRINUSE for up to a minute
    second.start()
    fresh = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        assert _get(fresh) == b"hello"
    finally:
        fresh.close()
        second.stop()
