"""Session Manager on the agent's side: a shell on a pty (:mod:`.shell`), or a TCP port, joined to the
controller's websocket (:mod:`.channel`), and :func:`open_session`, which picks the one a request asks for.
"""

from __future__ import annotations

import contextlib
import socket
import ssl

from .channel import (
    CONNECT_TIMEOUT,
    DOCUMENTS,
    OUTPUT_CHUNK,
    PORT_DOCUMENT,
    REMOTE_PORT_DOCUMENT,
    SHELL_DOCUMENT,
    Session,
    SessionRequest,
)
from .destinations import AwsAccess
from .shell import ShellSession

__all__ = ["DOCUMENTS", "PORT_DOCUMENT", "REMOTE_PORT_DOCUMENT", "SHELL_DOCUMENT", "PortSession", "Session",
           "SessionRequest", "ShellSession", "open_session"]


class PortSession(Session):
    """AWS-StartPortForwardingSession(ToRemoteHost): one TCP connection from this machine to host:port."""

    ending_flags = ("DisconnectToPort", "TerminateSession")

    def __init__(self, request: SessionRequest, instance_id: str, ssl_context: ssl.SSLContext | None,
                 access: AwsAccess | None = None) -> None:
        super().__init__(request, instance_id, ssl_context, access)
        self.host, self.port = request.host(), request.port()
        self.connection: socket.socket | None = None

    def describe(self) -> str:
        return f" to {self.host}:{self.port}"

    def open_local(self) -> None:
        self.connection = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT)
        self.connection.settimeout(None)

    def local_failure(self) -> str:
        return f"Failed to connect to {self.host}:{self.port}"

    def local_fileno(self) -> int:
        assert self.connection is not None
        return self.connection.fileno()

    def read_local(self) -> bytes:
        assert self.connection is not None
        return self.connection.recv(OUTPUT_CHUNK)

    def write_local(self, data: bytes) -> None:
        assert self.connection is not None
        self.connection.sendall(data)

    def local_end_reason(self) -> str:
        return f"{self.host}:{self.port} closed the connection"

    def close_local(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()


def open_session(request: SessionRequest, instance_id: str, ssl_context: ssl.SSLContext | None,
                 access: AwsAccess | None = None) -> Session:
    """The session class that serves the request's document; ``access`` is how a shell stores its transcript
    (without it, a session whose preferences ask for logging is not logged, and says so)."""
    kind = ShellSession if request.document_name == SHELL_DOCUMENT else PortSession
    return kind(request, instance_id, ssl_context, access)
