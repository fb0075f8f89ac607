"""Session Manager's data channel on the agent's side: what every kind of session shares (:class:`Session`),
and the startSession request (:class:`SessionRequest`). The shell is in :mod:`.shell`, port forwarding in
:mod:`.sessions`.

The controller asks for a session through ec2messages (``aws.ssm.startSession``); the agent then dials the
session's StreamUrl itself, so a machine behind NAT still serves sessions. Every byte travels in an
:mod:`.agent_message` frame: the client's ``input_stream_data`` is acknowledged and applied once (duplicates
dropped, gaps never waited for: the websocket is reliable), and local output goes back as numbered
``output_stream_data``. Either side ends the session with ``channel_closed``.

A duplicate is a message sent again (same sequence number, same MessageId: what a client retransmits when an
acknowledgement is late). A known sequence number under a new MessageId means the client started numbering
over: after ResumeSession a new client connection counts from 0 again (the ssm-session npm client does).
"""

from __future__ import annotations

import contextlib
import json
import select
import ssl
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import AGENT_VERSION, iso_now, log
from . import agent_message as am
from . import websocket as ws
from .destinations import AwsAccess

SHELL_DOCUMENT = "SSM-SessionManagerRunShell"
PORT_DOCUMENT = "AWS-StartPortForwardingSession"
REMOTE_PORT_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"
DOCUMENTS = (SHELL_DOCUMENT, PORT_DOCUMENT, REMOTE_PORT_DOCUMENT)
#: The most output one ``output_stream_data`` message carries, as AWS's agent sends it.
OUTPUT_CHUNK = 4096
CONNECT_TIMEOUT = 10
#: How often an idle session looks whether it was asked to end: bounds how long stopping the agent takes.
IDLE_CHECK_SECONDS = 0.1
#: How long the other side gets to answer our close frame: short, as stopping the agent ends every session
#: within about a second (the shell's hangup, :mod:`.shell`, runs meanwhile).
CLOSE_WAIT_SECONDS = 0.3
#: How many applied inputs' MessageIds are remembered to recognise a retransmission (clients resend only
#: what is not yet acknowledged, and the agent acknowledges at once, so a resend is never far behind).
REMEMBERED_INPUTS = 1024
#: A shell's startup may discard what was typed before it was ready (readline flushes the terminal, a
#: profile's program reads it): keystrokes wait for the shell's first output, at most this long.
FIRST_OUTPUT_WAIT_SECONDS = 3.0
#: What the client is told when a session preference ended the session (AWS's wording).
IDLE_TIMEOUT_OUTPUT = "Your session timed out due to inactivity and has been terminated."
MAX_DURATION_OUTPUT = "Your session has been terminated because it reached the maximum session duration."


class SessionRefused(Exception):
    """The local end must not start (a RunAs user that does not exist): the message is the client's Output."""


def first_value(parameters: dict[str, Any], name: str, default: str) -> str:
    """A document parameter: AWS sends lists of strings (``{"portNumber": ["80"]}``); a bare value does."""
    value = parameters.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return default if value in (None, "") else str(value)


@dataclass(frozen=True)
class SessionRequest:
    """What a startSession message asks for, checked before the message is acknowledged."""

    session_id: str
    document_name: str
    stream_url: str
    token: str
    parameters: dict[str, Any] = field(default_factory=dict)
    #: The account's session preferences (its SSM-SessionManagerRunShell document's inputs), shells only.
    inputs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SessionRequest:
        """Raises ValueError (or KeyError) for a payload this agent cannot serve; preferences that are not an
        object are ignored, as a session without preferences is still a session."""
        inputs = payload.get("Inputs")
        request = cls(str(payload["SessionId"]), str(payload["DocumentName"]), str(payload["StreamUrl"]),
                      str(payload["TokenValue"]), dict(payload.get("Parameters") or {}),
                      dict(inputs) if isinstance(inputs, dict) else {})
        if request.document_name not in DOCUMENTS:
            raise ValueError(f"session document {request.document_name!r} is not supported")
        if urllib.parse.urlsplit(request.stream_url).scheme not in ("ws", "wss"):
            raise ValueError(f"StreamUrl {request.stream_url!r} is not a websocket URL")
        if request.document_name != SHELL_DOCUMENT:
            request.port()
        return request

    def port(self) -> int:
        text = first_value(self.parameters, "portNumber", "")
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise ValueError(f"portNumber {text!r} is not a TCP port")
        return int(text)

    def host(self) -> str:
        return first_value(self.parameters, "host", "localhost")


class Session:
    """One session's life: dial the stream, say who we are, pump both directions, close everything once.

    Two threads: :meth:`run`'s (local output to the websocket, then the ending) and a reader (websocket to
    the local end). Subclasses supply the local end: :meth:`open_local`, :meth:`local_fileno`,
    :meth:`read_local`, :meth:`write_local`, :meth:`close_local`; and may set :attr:`idle_seconds` and
    :attr:`max_seconds` (session preferences), which :meth:`run`'s thread enforces.
    """

    #: Flag payloads that end this kind of session.
    ending_flags: tuple[str, ...] = ("TerminateSession",)
    #: Whether the client's input waits for the local end's first output (a shell's first prompt).
    input_waits_for_output = False

    def __init__(self, request: SessionRequest, instance_id: str, ssl_context: ssl.SSLContext | None,
                 access: AwsAccess | None = None) -> None:
        self.request, self.instance_id, self.ssl_context = request, instance_id, ssl_context
        self.access = access  # how session logs reach S3 and CloudWatch Logs (None: they cannot)
        self.session_id = request.session_id
        self.websocket: ws.WebSocket | None = None
        self.ending = threading.Event()
        self.end_reason = ""
        self.closing_output = f"Exiting session with sessionId: {self.session_id}."
        self.output_sequence = 0  # only run()'s thread sends output, so no lock
        self.next_input_sequence = 0  # every input below it was applied...
        self.inputs_ahead: set[int] = set()  # ...and so were these, which arrived past a gap
        self.applied_ids: dict[int, uuid.UUID] = {}  # sequence number -> MessageId, the latest inputs'
        self.local_ready = threading.Event()  # set once input may reach the local end...
        self.release_lock = threading.Lock()  # ...by release_input, once, from either thread
        self.idle_seconds: float | None = None  # ended after this long without the client's input
        self.max_seconds: float | None = None  # ended this long after it started
        self.started_at = self.last_input_at = time.monotonic()  # last_input_at: written by the reader only

    # --- lifecycle -----------------------------------------------------------------------------------------
    def run(self) -> None:
        """The whole session, in the calling thread; returns once everything is closed."""
        target = urllib.parse.urlsplit(self.request.stream_url).netloc
        log(f"session {self.session_id} started ({self.request.document_name}{self.describe()}) via {target}")
        reader: threading.Thread | None = None
        try:
            self.websocket = ws.connect(self.request.stream_url, ssl_context=self.ssl_context,
                                        timeout=CONNECT_TIMEOUT)
            self.websocket.send_text(json.dumps({
                "MessageSchemaVersion": "1.0", "RequestId": str(uuid.uuid4()),
                "TokenValue": self.request.token, "ClientId": self.instance_id,
                "ClientVersion": AGENT_VERSION}))
            try:
                self.open_local()
            except SessionRefused as refused:
                self.closing_output = self.end(str(refused))
                return
            except OSError as error:
                self.closing_output = self.end(f"{self.local_failure()}: {error}")
                return
            if not self.input_waits_for_output:
                self.release_input()
            reader = threading.Thread(target=self.read_stream, daemon=True,
                                      name=f"session-{self.session_id}-reader")
            reader.start()
            self.pump_local_output()
        except (ws.WebSocketError, OSError) as error:
            self.end(f"the stream failed: {error}")
        finally:
            self.finish()
            if reader is not None:
                reader.join(CLOSE_WAIT_SECONDS)
            log(f"session {self.session_id} ended: {self.end_reason}")

    def release_input(self) -> None:
        """Lets the client's input reach the local end, once: :meth:`before_input` first (a shell profile's
        commands go before anything the client typed). Called by whichever thread gets there first: the output
        pump on the local end's first output, or the reader when that output is late."""
        with self.release_lock:
            if self.local_ready.is_set():
                return
            try:
                self.before_input()
            finally:
                self.local_ready.set()

    def end(self, reason: str) -> str:
        """Asks the session to end (from any thread); the first reason given is the one logged."""
        if not self.ending.is_set():
            self.end_reason = reason
            self.ending.set()
        return reason

    def finish(self) -> None:
        """channel_closed, the local end hung up, the websocket's close handshake, then the local end forced
        closed: the close handshake and the local end's exit overlap, so stopping stays quick."""
        self.end(self.end_reason or "ended")
        if self.websocket is not None:
            # Numbered after the last output, so a relay ordering by sequence number delivers it last.
            with contextlib.suppress(ws.WebSocketError, OSError):
                self.send(am.AgentMessage(am.CHANNEL_CLOSED, self.output_sequence, 0, json.dumps({
                    "MessageType": am.CHANNEL_CLOSED, "SessionId": self.session_id,
                    "Output": self.closing_output, "SchemaVersion": 1, "CreatedDate": iso_now(),
                    "DestinationId": self.instance_id, "MessageId": str(uuid.uuid4())}).encode()))
        self.hang_up_local()
        if self.websocket is not None:
            self.websocket.close(timeout=CLOSE_WAIT_SECONDS)
        self.close_local()

    # --- the two directions --------------------------------------------------------------------------------
    def pump_local_output(self) -> None:
        """Local output to the client until the local end closes or the session is asked to end."""
        fileno = self.local_fileno()
        while not self.ending.is_set() and not self.out_of_time():
            ready, _, _ = select.select([fileno], [], [], IDLE_CHECK_SECONDS)
            if not ready:
                if self.local_ended():
                    break
                continue
            try:
                data = self.read_local()
            except OSError:  # EIO: the pty's other side is gone with the shell
                data = b""
            if not data:
                break
            self.record_output(data)
            self.send(am.AgentMessage(am.OUTPUT_STREAM_DATA, self.output_sequence, am.OUTPUT, data))
            self.output_sequence += 1
            if not self.local_ready.is_set():
                self.release_input()
        if not self.ending.is_set():  # the local end finished (not asked to): say how
            self.end(self.local_end_reason())

    def out_of_time(self) -> bool:
        """Ends the session when its maximum duration or its idle timeout passed, telling the client why as
        AWS does; checked on every turn of the output pump, which turns at least every IDLE_CHECK_SECONDS."""
        now = time.monotonic()
        if self.max_seconds is not None and now - self.started_at >= self.max_seconds:
            output, reason = MAX_DURATION_OUTPUT, f"it reached its maximum duration ({self.max_seconds:g} s)"
        elif self.idle_seconds is not None and now - self.last_input_at >= self.idle_seconds:
            output, reason = IDLE_TIMEOUT_OUTPUT, f"no input for {self.idle_seconds:g} s (idle timeout)"
        else:
            return False
        if not self.ending.is_set():  # else the reason given first stands, and its Output with it
            self.closing_output = output
        self.end(reason)
        return True

    def read_stream(self) -> None:
        """The reader thread: every client message handled in arrival order until the websocket closes."""
        assert self.websocket is not None
        while True:
            try:
                opcode, data = self.websocket.receive()
            except ws.ConnectionClosed as closed:
                because = f": {closed.reason}" if closed.reason else ""
                self.end(f"the stream was closed ({closed.code}{because})")
                return
            except (ws.WebSocketError, OSError) as error:
                self.end(f"the stream failed: {error}")
                return
            if opcode != ws.BINARY:
                continue  # the controller's text frames are informational
            try:
                self.handle(am.decode(data))
            except am.AgentMessageError as error:
                log(f"session {self.session_id}: ignoring a malformed message: {error}")
            except (ws.WebSocketError, OSError) as error:
                self.end(f"the session's input failed: {error}")

    def handle(self, message: am.AgentMessage) -> None:
        if message.message_type == am.CHANNEL_CLOSED:
            self.end("the other side closed the channel")
        elif message.message_type == am.INPUT_STREAM_DATA:
            self.last_input_at = time.monotonic()
            self.send(am.acknowledgement(message))
            if self.first_delivery(message):
                self.apply_input(message)
        # acknowledge (and anything newer) needs nothing: the websocket never loses what we sent

    def first_delivery(self, message: am.AgentMessage) -> bool:
        """False for a retransmission of an applied input; order is not enforced, so a gap never blocks."""
        sequence_number = message.sequence_number
        if self.applied_ids.get(sequence_number) == message.message_id:
            return False
        if sequence_number < self.next_input_sequence or sequence_number in self.inputs_ahead:
            self.next_input_sequence, self.inputs_ahead = sequence_number, set()  # the client started over
            self.applied_ids.clear()
        self.applied_ids[sequence_number] = message.message_id
        if len(self.applied_ids) > REMEMBERED_INPUTS:
            del self.applied_ids[next(iter(self.applied_ids))]  # the oldest: dicts keep insertion order
        self.inputs_ahead.add(sequence_number)
        while self.next_input_sequence in self.inputs_ahead:
            self.inputs_ahead.remove(self.next_input_sequence)
            self.next_input_sequence += 1
        return True

    def apply_input(self, message: am.AgentMessage) -> None:
        if message.payload_type == am.OUTPUT:
            if not self.local_ready.wait(FIRST_OUTPUT_WAIT_SECONDS):
                self.release_input()
            self.write_local(message.payload)
        elif message.payload_type == am.SIZE:
            size = am.json_payload(message)
            with contextlib.suppress(TypeError, ValueError):
                self.resize(int(size.get("cols") or 0), int(size.get("rows") or 0))
        elif message.payload_type == am.FLAG:
            flag = am.flag_name(message.payload)
            if flag in self.ending_flags:
                self.end(f"the client sent {flag}")

    def send(self, message: am.AgentMessage) -> None:
        assert self.websocket is not None
        self.websocket.send_binary(am.encode(message))

    # --- the local end, supplied by subclasses -------------------------------------------------------------
    def describe(self) -> str:
        return ""

    def open_local(self) -> None:
        raise NotImplementedError

    def local_failure(self) -> str:
        return "the session could not start"

    def before_input(self) -> None:
        """What the local end gets before the client's first input (see :meth:`release_input`)."""

    def record_output(self, data: bytes) -> None:
        """Sees every piece of local output just before the client does (a shell keeps its transcript)."""

    def local_fileno(self) -> int:
        raise NotImplementedError

    def read_local(self) -> bytes:
        raise NotImplementedError

    def write_local(self, data: bytes) -> None:
        raise NotImplementedError

    def local_ended(self) -> bool:
        """Checked when the local end is idle: whether it ended without closing its output (a shell whose
        background child still holds the terminal)."""
        return False

    def local_end_reason(self) -> str:
        return "the local end closed"

    def resize(self, cols: int, rows: int) -> None:
        """Only a terminal has a size."""

    def hang_up_local(self) -> None:
        """Tells the local end to finish, without waiting for it (see :meth:`finish`)."""

    def close_local(self) -> None:
        raise NotImplementedError
