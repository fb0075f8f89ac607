"""AWS's Lambda Runtime API, served to one execution environment on its own 127.0.0.1 port.

The runtime's client (``awslambdaric``, ``node_ric.js``, a custom ``bootstrap``) long-polls
``GET /2018-06-01/runtime/invocation/next`` for its next event and answers with ``.../{id}/response`` or
``.../{id}/error``; an environment that cannot start reports ``/runtime/init/error``. Paths, headers and
status codes follow https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html. The server knows
nothing of pools or processes: it hands each call to its :class:`Channel`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"


@dataclass
class Event:
    """One invocation as the runtime receives it, and how it ended."""

    request_id: str
    payload: bytes
    deadline_ms: int
    invoked_function_arn: str
    client_context: str | None = None
    delivered: bool = False
    #: ("response" | "error", body, error type header) once the runtime answered.
    answer: tuple[str, bytes, str | None] | None = None


@dataclass
class Channel:
    """What the environment and its Runtime API share, under one condition variable."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    #: The runtime asked for its first event: init is done.
    polling: bool = False
    event: Event | None = None
    init_error: bytes | None = None
    closed: bool = False

    def next_event(self) -> Event | None:
        """Block until an event is ready for the runtime (None once the environment is closing)."""
        with self.cond:
            self.polling = True
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.closed or (self.event is not None and not self.event.delivered))
            if self.closed or self.event is None:
                return None
            self.event.delivered = True
            return self.event

    def answer(self, request_id: str, kind: str, body: bytes, error_type: str | None) -> bool:
        with self.cond:
            event = self.event
            if event is None or event.request_id != request_id or not event.delivered or event.answer is not None:
                return False
            event.answer = (kind, body, error_type)
            self.cond.notify_all()
            return True

    def fail_init(self, body: bytes) -> None:
        with self.cond:
            self.init_error = body
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: RuntimeApiServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            return self._reply(404, {"errorType": "InvalidRequest", "errorMessage": f"no route {self.path}"})
        event = self.server.channel.next_event()
        if event is None:
            return self._reply(410, {"errorType": "Gone", "errorMessage": "the environment is shutting down"})
        headers = {"Lambda-Runtime-Aws-Request-Id": event.request_id,
                   "Lambda-Runtime-Deadline-Ms": str(event.deadline_ms),
                   "Lambda-Runtime-Invoked-Function-Arn": event.invoked_function_arn,
                   "Lambda-Runtime-Trace-Id": f"Root=1-{event.request_id[:8]}-{event.request_id.replace('-', '')[:24]};"
                                              "Sampled=0"}
        if event.client_context:
            headers["Lambda-Runtime-Client-Context"] = event.client_context
        headers["Content-Type"] = "application/json"
        self._send(200, event.payload, headers)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.removeprefix(PREFIX).strip("/").split("/")
        if parts == ["init", "error"]:
            self.server.channel.fail_init(body)
            return self._reply(202, {"status": "OK"})
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            kind = parts[2]
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type") if kind == "error" else None
            if self.server.channel.answer(parts[1], kind, body, error_type):
                return self._reply(202, {"status": "OK"})
            return self._reply(400, {"errorType": "InvalidStateTransition",
                                     "errorMessage": f"no invocation {parts[1]} awaits an answer"})
        self._reply(404, {"errorType": "InvalidRequest", "errorMessage": f"no route {self.path}"})

    def _reply(self, status: int, document: dict[str, str]) -> None:
        self._send(status, json.dumps(document).encode(), {"Content-Type": "application/json"})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class RuntimeApiServer(ThreadingHTTPServer):
    """The Runtime API of one environment; ``address`` is what AWS_LAMBDA_RUNTIME_API says."""

    daemon_threads = True

    def __init__(self, channel: Channel) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.channel = channel
        self.address = f"127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True,
                         name=f"runtime-api-{self.address}").start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A runtime that dies (killed at its timeout, out of memory) drops its connection: not an error here."""

    def close(self) -> None:
        self.channel.close()
        self.shutdown()
        self.server_close()
