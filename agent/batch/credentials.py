"""ECS's container credentials endpoint for Batch jobs: ``http://169.254.170.2/v2/credentials/<uuid>``.

A job with a job role finds ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` in its environment; the SDKs' container
provider asks this endpoint for the role's temporary credentials (``AccessKeyId``, ``SecretAccessKey``,
``Token``, ``Expiration``, ``RoleArn``). One listener per job, opened inside the job's own namespace from the
agent process (as ``agent.network.imds`` opens its sockets), so only that job can reach it, and it answers
only its own URI. The credentials are the controller's (``controller.batch.credentials``), asked when the
container first asks and again :data:`REFRESH_MARGIN` before they expire; nothing secret is kept on disk.

``answer`` is pure (request in, response out); ``CredentialsEndpoints`` is the edge.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.network import netns

log = logging.getLogger("cloudlet.agent.batch")

#: ECS's container credentials endpoint address (the host of ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``).
CREDENTIALS_ADDRESS = "169.254.170.2"
#: Credentials are asked again this long before they expire.
REFRESH_MARGIN = 15 * 60.0
PORT = 80

#: (job id, attempt) -> the controller's credentials document, or None when it has none for the attempt
Fetch = Callable[[str, int], dict[str, Any] | None]


@dataclass
class JobCredentials:
    """What one job's listener serves: its URI, and the document it last had (with its expiry)."""

    job_id: str
    attempt: int
    relative_uri: str
    document: dict[str, Any] | None = None
    expires_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def expiry(document: dict[str, Any]) -> float:
    """The document's ``Expiration`` as a Unix time (0 when unreadable: asked again next time)."""
    try:
        return dt.datetime.strptime(document["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=dt.UTC).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0


def answer(method: str, path: str, job: JobCredentials, fetch: Fetch, now: float,
           client_ip: str = CREDENTIALS_ADDRESS) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) for one request to a job's endpoint. Only the namespace itself may ask: its
    own connections to 169.254.170.2 come from that address; a neighbour on the subnet that sends frames to
    the job's MAC for it comes from its own (anti-spoofing keeps it so) and is refused."""
    if client_ip != CREDENTIALS_ADDRESS:
        return 403, {"code": "AccessDenied", "message": "Credentials are served to the task only"}
    if method != "GET":
        return 405, {"code": "MethodNotAllowed", "message": f"{method} is not supported"}
    if path.split("?", 1)[0] != job.relative_uri:
        return 404, {"code": "NotFound", "message": "Unable to find credentials for the request"}
    with job.lock:
        if job.document is None or job.expires_at - now <= REFRESH_MARGIN:
            document = fetch(job.job_id, job.attempt)
            if document is None:
                return 404, {"code": "NotFound", "message": "Unable to find credentials for the request"}
            job.document, job.expires_at = document, expiry(document)
        return 200, job.document


class CredentialsEndpoints:
    """One HTTP listener on 169.254.170.2:80 inside each job namespace that has a job role."""

    def __init__(self, fetch: Fetch, port: int = PORT, clock: Callable[[], float] = time.time) -> None:
        self.fetch, self.port, self.clock = fetch, port, clock
        self._servers: dict[str, http.server.ThreadingHTTPServer] = {}

    def ensure(self, namespace: str, job: JobCredentials) -> None:
        """Serve ``job``'s credentials inside ``namespace`` (already serving: nothing to do)."""
        if namespace in self._servers:
            return
        sock = netns.run_inside(namespace, self._bind)
        server = http.server.ThreadingHTTPServer((CREDENTIALS_ADDRESS, self.port), _handler(self, job),
                                                 bind_and_activate=False)
        server.socket.close()
        server.socket = sock
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name=f"batch-credentials-{namespace}", daemon=True).start()
        self._servers[namespace] = server

    def close(self, namespace: str) -> None:
        """Stop serving in ``namespace`` (an open socket would keep a deleted namespace alive). On a thread of
        its own: ``shutdown`` waits for the serving loop's next poll, up to half a second per listener."""
        server = self._servers.pop(namespace, None)
        if server is not None:
            threading.Thread(target=_stop, args=(server,), name=f"batch-credentials-stop-{namespace}",
                             daemon=True).start()

    def close_all(self) -> None:
        for namespace in list(self._servers):
            self.close(namespace)

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((CREDENTIALS_ADDRESS, self.port))
        sock.listen(64)
        return sock


def _stop(server: http.server.ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


def _handler(endpoints: CredentialsEndpoints, job: JobCredentials) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "ecs-agent"
        sys_version = ""

        def _answer(self) -> None:
            try:
                status, body = answer(self.command, self.path, job, endpoints.fetch, endpoints.clock(),
                                      self.client_address[0])
            except OSError as exc:  # the controller cannot be reached: the SDK retries
                log.warning("job %s credentials: %s", job.job_id, exc)
                status, body = 503, {"code": "ServiceUnavailable", "message": "credentials are not available"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = _answer  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            log.debug("credentials %s: %s", job.job_id, format % args)

    return Handler
