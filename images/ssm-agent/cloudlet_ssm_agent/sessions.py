"""Session Manager on the agent's side: a shell on a pty, or a TCP port, joined to the controller's websocket.

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
import fcntl
import json
import os
import pty
import pwd
import select
import signal
import socket
import ssl
import struct
import termios
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import AGENT_VERSION, iso_now, log
from . import agent_message as am
from . import websocket as ws

SHELL_DOCUMENT = "SSM-SessionManagerRunShell"
PORT_DOCUMENT = "AWS-StartPortForwardingSession"
REMOTE_PORT_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"
DOCUMENTS = (SHELL_DOCUMENT, PORT_DOCUMENT, REMOTE_PORT_DOCUMENT)
#: The most output one ``output_stream_data`` message carries, as AWS's agent sends it.
OUTPUT_CHUNK = 4096
CONNECT_TIMEOUT = 10
#: How often an idle session looks whether it was asked to end: bounds how long stopping the agent takes.
IDLE_CHECK_SECONDS = 0.1
#: How long the other side gets to answer our close frame, and the shell's processes to exit on SIGHUP (both
#: run at once), before force: short, as stopping the agent ends every session within about a second, yet long
#: enough for exit traps to run (a SIGKILLed startup script can leave a lock behind, as pyenv's rehash does).
CLOSE_WAIT_SECONDS = 0.3
HANGUP_WAIT_SECONDS = 0.5
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: How many applied inputs' MessageIds are remembered to recognise a retransmission (clients resend only
#: what is not yet acknowledged, and the agent acknowledges at once, so a resend is never far behind).
REMEMBERED_INPUTS = 1024
#: A shell's startup may discard what was typed before it was ready (readline flushes the terminal, a
#: profile's program reads it): keystrokes wait for the shell's first output, at most this long.
FIRST_OUTPUT_WAIT_SECONDS = 3.0


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

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SessionRequest:
        """Raises ValueError (or KeyError) for a payload this agent cannot serve."""
        request = cls(str(payload["SessionId"]), str(payload["DocumentName"]), str(payload["StreamUrl"]),
                      str(payload["TokenValue"]), dict(payload.get("Parameters") or {}))
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
    :meth:`read_local`, :meth:`write_local`, :meth:`close_local`.
    """

    #: Flag payloads that end this kind of session.
    ending_flags: tuple[str, ...] = ("TerminateSession",)
    #: Whether the client's input waits for the local end's first output (a shell's first prompt).
    input_waits_for_output = False

    def __init__(self, request: SessionRequest, instance_id: str, ssl_context: ssl.SSLContext | None) -> None:
        self.request, self.instance_id, self.ssl_context = request, instance_id, ssl_context
        self.session_id = request.session_id
        self.websocket: ws.WebSocket | None = None
        self.ending = threading.Event()
        self.end_reason = ""
        self.closing_output = f"Exiting session with sessionId: {self.session_id}."
        self.output_sequence = 0  # only run()'s thread sends output, so no lock
        self.next_input_sequence = 0  # every input below it was applied...
        self.inputs_ahead: set[int] = set()  # ...and so were these, which arrived past a gap
        self.applied_ids: dict[int, uuid.UUID] = {}  # sequence number -> MessageId, the latest inputs'
        self.local_ready = threading.Event()  # set once input may reach the local end

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
            except OSError as error:
                self.closing_output = self.end(f"{self.local_failure()}: {error}")
                return
            if not self.input_waits_for_output:
                self.local_ready.set()
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
        while not self.ending.is_set():
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
            self.send(am.AgentMessage(am.OUTPUT_STREAM_DATA, self.output_sequence, am.OUTPUT, data))
            self.output_sequence += 1
            self.local_ready.set()
        if not self.ending.is_set():  # the local end finished (not asked to): say how
            self.end(self.local_end_reason())

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
            self.local_ready.wait(FIRST_OUTPUT_WAIT_SECONDS)
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


def login_shell() -> list[str]:
    """bash if there is one, else sh; argv[0] starting with ``-`` makes any of them a login shell (profile
    read, as after ssh), ``-i`` an interactive one with a prompt, also busybox's sh."""
    if os.access("/bin/bash", os.X_OK):
        return ["/bin/bash", "-bash", "-i"]
    return ["/bin/sh", "-sh", "-i"]


def account_home_and_name() -> tuple[str, str]:
    """The home the shell starts in: the agent's $HOME when its service manager set one (as login tools and
    Python's expanduser prefer it), else the account's passwd entry; and the account's name."""
    try:
        account = pwd.getpwuid(os.getuid())
        home, user = account.pw_dir, account.pw_name
    except KeyError:  # a uid without a passwd entry (containers)
        home, user = "", str(os.getuid())
    return os.environ.get("HOME") or home or "/", user


def shell_environment(home: str, user: str, shell: str) -> dict[str, str]:
    """A fresh environment, as a login gives: the agent's own (its service's settings) stays out."""
    environment = {"HOME": home, "USER": user, "LOGNAME": user, "SHELL": shell, "TERM": "xterm-256color",
                   "PATH": os.environ.get("PATH") or DEFAULT_PATH}
    for name in ("LANG", "LC_ALL", "TZ"):
        if os.environ.get(name):
            environment[name] = os.environ[name]
    return environment


class ShellSession(Session):
    """SSM-SessionManagerRunShell: a login shell on a pseudo-terminal, as the agent's user."""

    input_waits_for_output = True

    def __init__(self, request: SessionRequest, instance_id: str, ssl_context: ssl.SSLContext | None) -> None:
        super().__init__(request, instance_id, ssl_context)
        self.pid = 0
        self.master_fd = -1
        self.exit_status: int | None = None  # set once reaped
        self.hangup_deadline = 0.0
        self.local_lock = threading.Lock()  # the reader resizes and writes while run() reads and closes

    def open_local(self) -> None:
        home, user = account_home_and_name()
        program, *argv = login_shell()
        environment = shell_environment(home, user, program)
        pid, master_fd = pty.fork()
        if pid == 0:  # the child: nothing but exec, as other threads' locks were copied mid-use
            try:
                os.chdir(home if os.path.isdir(home) else "/")
                os.execve(program, argv, environment)
            finally:
                os.write(2, f"cannot start {program}\r\n".encode())
                os._exit(127)
        self.pid, self.master_fd = pid, master_fd
        self.resize(80, 24)  # until the client says its size: a 0x0 terminal breaks full-screen programs

    def local_failure(self) -> str:
        return "Failed to start a shell"

    def local_fileno(self) -> int:
        return self.master_fd

    def read_local(self) -> bytes:
        return os.read(self.master_fd, OUTPUT_CHUNK)

    def write_local(self, data: bytes) -> None:
        with self.local_lock:
            view = memoryview(data)
            while view and self.master_fd >= 0:
                written = os.write(self.master_fd, view)
                view = view[written:]

    def resize(self, cols: int, rows: int) -> None:
        if cols <= 0 or rows <= 0:
            return
        with self.local_lock:
            if self.master_fd >= 0:
                fcntl.ioctl(self.master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def exit_code(self) -> int | None:
        """The shell's exit code once it exited, read without reaping it: until :meth:`close_local` reaps it
        its pid stays taken, so its process group id can never name a stranger's group when we signal it."""
        if self.exit_status is not None or not self.pid:
            return self.exit_status
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return None
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    def local_ended(self) -> bool:
        return self.exit_code() is not None

    def local_end_reason(self) -> str:
        code = self.exit_code()
        deadline = time.monotonic() + HANGUP_WAIT_SECONDS
        while code is None and time.monotonic() < deadline:  # the terminal closes just before the shell exits
            time.sleep(0.01)
            code = self.exit_code()
        return "the shell exited" + (f" ({code})" if code is not None else "")

    def hang_up_local(self) -> None:
        """As a dropped ssh connection does: SIGHUP to the shell's group (an interactive shell passes it on to
        its jobs) and the terminal's master side closed."""
        if not self.pid:
            return
        self.hangup_deadline = time.monotonic() + HANGUP_WAIT_SECONDS
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGHUP)
        with self.local_lock:
            if self.master_fd >= 0:
                os.close(self.master_fd)
                self.master_fd = -1

    def close_local(self) -> None:
        """Waits what is left of the hangup's grace for the shell's group to exit, SIGKILLs what did not, and
        reaps the shell (only now, see :meth:`exit_code`)."""
        if not self.pid or self.exit_status is not None:
            return
        while time.monotonic() < self.hangup_deadline and (
                self.exit_code() is None or group_has_live_members(self.pid)):
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        _, status = os.waitpid(self.pid, 0)
        self.exit_status = os.waitstatus_to_exitcode(status)


def group_has_live_members(process_group: int) -> bool:
    """Whether a process other than a zombie is in the group (/proc's stat: state, ppid, pgrp after the
    command name). Without /proc it answers False: the shell's own exit is then all that is waited for."""
    try:
        entries = [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return False
    for name in entries:
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                state, _, group = stat.read().rsplit(b")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue  # gone meanwhile
        if int(group) == process_group and state not in (b"Z", b"X"):
            return True
    return False


class PortSession(Session):
    """AWS-StartPortForwardingSession(ToRemoteHost): one TCP connection from this machine to host:port."""

    ending_flags = ("DisconnectToPort", "TerminateSession")

    def __init__(self, request: SessionRequest, instance_id: str, ssl_context: ssl.SSLContext | None) -> None:
        super().__init__(request, instance_id, ssl_context)
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


def open_session(request: SessionRequest, instance_id: str, ssl_context: ssl.SSLContext | None) -> Session:
    """The session class that serves the request's document."""
    kind = ShellSession if request.document_name == SHELL_DOCUMENT else PortSession
    return kind(request, instance_id, ssl_context)
