"""The controller's HTTP server can be restarted on the port an ephemeral first start was given."""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time

from controller.server import HttpServer
from tests.support import REPO


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


def test_a_kept_alive_connection_never_waits_behind_a_lost_race_for_another() -> None:
    """``cloudlet up`` and an API worker process accept from one listening socket, and both are woken for
    every new connection: the one that loses the race must not sit in accept() while its kept-alive client
    waits for its next answer."""
    primary = HttpServer(_named(b"primary"), "127.0.0.1", 0, 2)
    primary.start()
    fd = primary.listening_socket.fileno()
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(fd)], pass_fds=[fd], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    stop = threading.Event()
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "serving"
        kept_alive = _connection_to(primary.port, b"primary")
        threading.Thread(target=_new_connections, args=(primary.port, stop), daemon=True).start()
        slowest = 0.0
        for _ in range(100):
            started = time.monotonic()
            assert _get(kept_alive) == b"primary"
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.04)
        assert slowest < 0.5, f"a kept-alive request waited {slowest:.2f} s"
    finally:
        stop.set()
        worker.kill()
        worker.wait()
        primary.stop()


#: An API worker: a cheroot server of its own on the listening socket it inherited.
WORKER = """
import socket, sys, threading
from controller.server import HttpServer
from tests.support import REPO
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
    return [b"worker"]
inherited = socket.socket(fileno=int(sys.argv[1]))
HttpServer(app, "127.0.0.1", 0, 2, inherited=inherited).start()
print("serving", flush=True)
threading.Event().wait()
"""


def _named(name: bytes):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(name)))])
        return [name]
    return app


def _connection_to(port: int, name: bytes) -> http.client.HTTPConnection:
    """A kept-alive connection that the server called ``name`` accepted."""
    for _ in range(200):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        if _get(connection) == name:
            return connection
        connection.close()
    raise AssertionError(f"no connection reached {name!r}")


def _new_connections(port: int, stop: threading.Event) -> None:
    """A short-lived client now and then, as agents and CLI calls are: the server that loses the race for
    one would wait in accept() until the next arrives (or its socket timeout passes)."""
    while not stop.is_set():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            _get(connection)
        except OSError:
            pass
        finally:
            connection.close()
        stop.wait(0.7)
