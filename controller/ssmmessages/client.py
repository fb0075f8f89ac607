"""The user's end of a data channel, as AWS's session-manager-plugin speaks it: a shell or a forwarded port.

:class:`DataChannel` opens StartSession's StreamUrl, sends the token, and then exchanges AgentMessages: the user's
keystrokes (or a forwarded connection's bytes) go out as ``input_stream_data`` (payload type 1), the terminal's
size as payload type 3, and every ``output_stream_data`` from the agent is acknowledged and delivered once, in
order of arrival (the websocket is reliable; a repeated sequence number is a duplicate and is dropped).
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from controller.ssmmessages import agent_message
from controller.ssmmessages.agent_message import AgentMessage

#: What the plugin reports to the AWS CLI (``session-manager-plugin --version``): new enough for the CLI to pass
#: StartSession's answer through the environment rather than the command line.
PLUGIN_VERSION = "1.2.764.0"
PAYLOAD_SIZE = 3
PAYLOAD_FLAG = 10
_CHUNK = 4096


class DataChannel:
    """One session's data channel, from the user's side; safe to send from one thread while another receives."""

    def __init__(self, stream_url: str, token: str, *, open_timeout: float = 10) -> None:
        self._ws: ClientConnection = connect(stream_url, max_size=2**20, compression=None,
                                             open_timeout=open_timeout)
        self._ws.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # keystrokes: no Nagle delay
        self._ws.send(json.dumps({"MessageSchemaVersion": "1.0", "RequestId": str(uuid.uuid4()),
                                  "TokenValue": token, "ClientId": str(uuid.uuid4()),
                                  "ClientVersion": PLUGIN_VERSION}))
        self._lock = threading.Lock()
        self._sequence = 0

    def _send(self, payload: bytes, payload_type: int) -> None:
        with self._lock:
            frame = agent_message.encode(AgentMessage(agent_message.INPUT_STREAM_DATA, payload, self._sequence,
                                                      payload_type))
            self._sequence += 1
            self._ws.send(frame)

    def send_input(self, data: bytes) -> None:
        for start in range(0, len(data), _CHUNK):
            self._send(data[start:start + _CHUNK], agent_message.PAYLOAD_OUTPUT)

    def send_size(self, cols: int, rows: int) -> None:
        self._send(json.dumps({"cols": cols, "rows": rows}).encode(), PAYLOAD_SIZE)

    def send_flag(self, flag: str) -> None:
        """``TerminateSession`` or ``DisconnectToPort``: tells the agent to end the session or its connection."""
        self._send(flag.encode(), PAYLOAD_FLAG)

    def _acknowledge(self, message: AgentMessage) -> None:
        payload = json.dumps({"AcknowledgedMessageType": message.message_type,
                              "AcknowledgedMessageId": str(message.message_id),
                              "AcknowledgedMessageSequenceNumber": message.sequence_number,
                              "IsSequentialMessage": True}).encode()
        with self._lock:
            self._ws.send(agent_message.encode(AgentMessage(agent_message.ACKNOWLEDGE, payload,
                                                            message.sequence_number, 0)))

    def output(self) -> Iterator[bytes]:
        """The agent's output, until it closes the channel (or the connection drops)."""
        seen: set[int] = set()
        try:
            for frame in self._ws:
                if not isinstance(frame, bytes):
                    continue
                try:
                    message = agent_message.decode(frame)
                except ValueError:
                    continue
                if message.message_type == agent_message.OUTPUT_STREAM_DATA:
                    self._acknowledge(message)
                    if message.sequence_number not in seen:
                        seen.add(message.sequence_number)
                        yield message.payload
                elif message.message_type == agent_message.CHANNEL_CLOSED:
                    return
        except ConnectionClosed:
            return

    def close(self) -> None:
        self._ws.close()
