"""The data-channel websocket listener: where StartSession's StreamUrl points, for clients and agents alike.

An end connects to ``/v1/data-channel/<session id>`` and sends, as its first (text) frame, the
``OpenDataChannelInput`` AWS's clients send: ``{"MessageSchemaVersion": "1.0", "RequestId": …, "TokenValue": …}``.
The token says which end it is: the client's (from StartSession or ResumeSession) or the agent's (from the
startSession message). A connection without a valid token for a live session is closed with 1008 (policy
violation) and a reason that says what was wrong. Session ids are not secrets; the tokens are, and only their
digests are stored.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import threading
from typing import Any

from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from controller.ssm.fleet_state import sessions
from controller.ssm.sessions import token_digest, write_status
from controller.ssmmessages.channels import AGENT, CLIENT, SessionChannels

log = logging.getLogger(__name__)

PATH_PREFIX = "/v1/data-channel/"
#: How long an end has to send its token after connecting.
OPEN_TIMEOUT_SECONDS = 10
#: Statuses a data channel may still join.
_OPEN = ("Connecting", "Connected", "Disconnected")
#: In the data dir: the listener's URL, for tools on this machine.
URL_FILE = "session-manager-url"


class DataChannelListener:
    """The websocket listener on a daemon thread; ``cloud.session_channels.url`` says where it listens."""

    def __init__(self, cloud: Any, host: str, port: int) -> None:
        self.cloud = cloud
        self.channels: SessionChannels = cloud.session_channels
        self._server: Server = serve(self._serve, host, port, max_size=2**20, compression=None)
        bound_host, bound_port = self._server.socket.getsockname()[:2]
        self.address = f"{bound_host}:{bound_port}"
        self.channels.url = f"ws://{self.address}"
        (cloud.config.data_dir / URL_FILE).write_text(self.channels.url + "\n")
        threading.Thread(target=self._server.serve_forever, name="ssm-data-channels", daemon=True).start()

    def close(self) -> None:
        self.channels.close()
        self._server.shutdown()

    def _identify(self, session_id: str, token: str) -> str | None:
        """Which end ``token`` opens for the session (None: no live session has it)."""
        digest = token_digest(token)
        with self.cloud.db.read() as conn:
            row = conn.execute(select(sessions.c.client_token_digest, sessions.c.agent_token_digest,
                                      sessions.c.status).where(sessions.c.session_id == session_id)).first()
        if row is None or row.status not in _OPEN:
            return None
        if secrets.compare_digest(digest, row.client_token_digest):
            return CLIENT
        if secrets.compare_digest(digest, row.agent_token_digest):
            return AGENT
        return None

    def _serve(self, connection: ServerConnection) -> None:
        # Small frames back to back (keystrokes, their acknowledgements): Nagle's algorithm would hold each
        # second one for a delayed ACK (40 ms).
        connection.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        path = (connection.request.path if connection.request else "").split("?", 1)[0]
        if not path.startswith(PATH_PREFIX):
            connection.close(1008, "unknown path: data channels are /v1/data-channel/<session id>")
            return
        session_id = path[len(PATH_PREFIX):]
        try:
            opening = json.loads(connection.recv(timeout=OPEN_TIMEOUT_SECONDS))
            token = opening["TokenValue"] if isinstance(opening, dict) else None
        except (TimeoutError, ValueError, KeyError, TypeError, ConnectionClosed):
            token = None
        end = self._identify(session_id, token) if isinstance(token, str) else None
        if end is None:
            connection.close(1008, "the first frame must carry a valid TokenValue for a live session "
                                   "(StartSession or ResumeSession gives one)")
            return
        self.channels.attach(session_id, end, connection)
        try:
            for frame in connection:
                if not self.channels.relay(session_id, end, frame):
                    log.warning("session %s: the %s end sent too much before its peer connected", session_id, end)
                    write_status(self.cloud, session_id, "Failed")
                    break
        except ConnectionClosed:
            pass
        finally:
            self.channels.detach(session_id, end, connection)
