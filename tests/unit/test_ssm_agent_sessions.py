"""Session Manager in Cloudlet's SSM agent (images/ssm-agent): the AgentMessage codec, the websocket client
and whole sessions against a fake controller.

The fake controller is the ``websockets`` library's sync server on 127.0.0.1 (an independent implementation
of RFC 6455, so the agent's own client is checked against someone else's reading of the spec). The tests
drive it frame by frame the way the controller relays a user's client: token first, then AgentMessages.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed as ServerSideClosed
from websockets.sync.server import Server, ServerConnection, serve

from tests.unit.test_ssm_agent import (
    AGENT_DIR,
    INSTANCE_ID,
    REGION,
    SCRIPT,
    FakeCloud,
    StaticIdentity,
    make_agent,
)

if str(AGENT_DIR) not in sys.path:
    sys.path.insert(0, str(AGENT_DIR))  # the package sits beside its launcher, not in the repository's tree

from cloudlet_ssm_agent import AGENT_VERSION  # noqa: E402
from cloudlet_ssm_agent import agent_message as am  # noqa: E402
from cloudlet_ssm_agent import websocket as ws  # noqa: E402
from cloudlet_ssm_agent.channel import IDLE_TIMEOUT_OUTPUT, MAX_DURATION_OUTPUT  # noqa: E402
from cloudlet_ssm_agent.destinations import AwsAccess  # noqa: E402
from cloudlet_ssm_agent.identity import register  # noqa: E402
from cloudlet_ssm_agent.sessions import SessionRequest, open_session  # noqa: E402
from cloudlet_ssm_agent.wire import make_ssl_context  # noqa: E402

SESSION_ID = "alice-0123456789abcdef0"
AGENT_TOKEN = "agent-token-secret"


# --- AgentMessage ------------------------------------------------------------------------------------------


def test_agent_message_round_trip_and_layout() -> None:
    message = am.AgentMessage(am.OUTPUT_STREAM_DATA, 7, am.OUTPUT, b"hello", flags=1, created_date=1234567)
    raw = am.encode(message)
    assert am.decode(raw) == message
    assert len(raw) == 120 + 5
    assert struct.unpack_from(">I", raw, 0) == (116,)
    assert raw[4:36] == b"output_stream_data".ljust(32, b" ")
    assert struct.unpack_from(">IQqQ", raw, 36) == (1, 1234567, 7, 1)
    assert raw[80:112] == hashlib.sha256(b"hello").digest()
    assert struct.unpack_from(">II", raw, 112) == (am.OUTPUT, 5)
    assert raw[120:] == b"hello"


def test_message_ids_are_stored_with_their_halves_swapped() -> None:
    message_id = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
    raw = am.encode(am.AgentMessage(am.ACKNOWLEDGE, 0, 0, b"", message_id=message_id))
    assert raw[64:80] == bytes.fromhex("8899aabbccddeeff0011223344556677")
    assert am.decode(raw).message_id == message_id


def npm_frame(message_type: str, sequence_number: int, payload_type: int, payload: bytes) -> bytes:
    """A frame as the ssm-session npm client builds it: MessageType NUL-padded on the left, flags set, and
    the first 32 hex characters of the digest where the raw digest belongs."""
    digest = hashlib.sha256(payload).hexdigest()[:32].encode()
    return (struct.pack(">I32sIQqQ16s32sII", 116, message_type.encode().rjust(32, b"\x00"), 1,
                        int(time.time() * 1000), sequence_number, 3 if sequence_number == 0 else 0,
                        am.swap_uuid_halves(uuid.uuid4().bytes), digest, payload_type, len(payload))
            + payload)


def test_frames_from_the_npm_client_decode() -> None:
    decoded = am.decode(npm_frame("input_stream_data", 4, am.SIZE, b'{"cols": 80, "rows": 24}'))
    assert (decoded.message_type, decoded.sequence_number) == (am.INPUT_STREAM_DATA, 4)
    assert decoded.payload_type == am.SIZE
    assert am.json_payload(decoded) == {"cols": 80, "rows": 24}
    with pytest.raises(am.AgentMessageError):
        am.decode(npm_frame("input_stream_data", 0, 1, b"abc")[:-1])
    with pytest.raises(am.AgentMessageError):
        am.decode(b"\x00" * 100)


def test_flags_come_as_numbers_or_names() -> None:
    assert am.flag_name(struct.pack(">I", 2)) == "TerminateSession"
    assert am.flag_name(struct.pack(">I", 1)) == "DisconnectToPort"
    assert am.flag_name(b"TerminateSession") == "TerminateSession"


# --- A fake controller -------------------------------------------------------------------------------------


class FakeStream:
    """The controller's data-channel endpoint: hands each connection to the test, which drives it."""

    def __init__(self, ssl_context: Any = None) -> None:
        self.connections: queue.Queue[ServerConnection] = queue.Queue()
        self.released = threading.Event()
        self.server: Server = serve(self._handle, "127.0.0.1", 0, ssl=ssl_context, compression=None,
                                    ping_interval=None)
        self.port = self.server.socket.getsockname()[1]
        self.scheme = "wss" if ssl_context else "ws"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handle(self, connection: ServerConnection) -> None:
        self.connections.put(connection)
        self.released.wait(30)  # the connection lives while the handler runs

    def url(self, session_id: str = SESSION_ID) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/v1/data-channel/{session_id}?role=publish_subscribe"

    def accept(self, timeout: float = 10) -> tuple[ServerConnection, dict[str, Any]]:
        """The next agent connection and its opening (token) frame."""
        connection = self.connections.get(timeout=timeout)
        opening = connection.recv(timeout=timeout)
        assert isinstance(opening, str)
        return connection, json.loads(opening)

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Shells start in an empty home: no one's profile runs (nor leaves its lock files behind when a test
    ends a shell that is still starting)."""
    made = tmp_path / "home"
    made.mkdir()
    monkeypatch.setenv("HOME", str(made))
    return made


@pytest.fixture
def stream() -> Iterator[FakeStream]:
    made = FakeStream()
    yield made
    made.close()


@pytest.fixture
def cloud() -> Iterator[FakeCloud]:
    made = FakeCloud()
    yield made
    made.server.shutdown()
    made.server.server_close()


def receive_until(connection: ServerConnection, done: Callable[[list[am.AgentMessage]], bool],
                  timeout: float = 10) -> list[am.AgentMessage]:
    """The agent's messages until ``done`` says enough (or the connection closes, which fails the test)."""
    messages: list[am.AgentMessage] = []
    deadline = time.monotonic() + timeout
    while not done(messages):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out; received {messages}"
        frame = connection.recv(timeout=remaining)
        if isinstance(frame, bytes):
            messages.append(am.decode(frame))
    return messages


def output_of(messages: list[am.AgentMessage]) -> bytes:
    return b"".join(message.payload for message in messages if message.message_type == am.OUTPUT_STREAM_DATA)


def acknowledged(messages: list[am.AgentMessage]) -> set[int]:
    return {json.loads(message.payload)["AcknowledgedMessageSequenceNumber"] for message in messages
            if message.message_type == am.ACKNOWLEDGE}


def closed(messages: list[am.AgentMessage]) -> bool:
    return any(message.message_type == am.CHANNEL_CLOSED for message in messages)


def data(sequence_number: int, payload: bytes, payload_type: int = am.OUTPUT) -> bytes:
    return am.encode(am.AgentMessage(am.INPUT_STREAM_DATA, sequence_number, payload_type, payload))


def start_session(stream: FakeStream, document: str, *, inputs: dict[str, Any] | None = None,
                  access: AwsAccess | None = None, **parameters: list[str]) -> tuple[Any, threading.Thread]:
    request = SessionRequest(SESSION_ID, document, stream.url(), AGENT_TOKEN, dict(parameters), inputs or {})
    session = open_session(request, INSTANCE_ID, None, access)
    thread = threading.Thread(target=session.run, daemon=True)
    thread.start()
    return session, thread


# --- The websocket client ----------------------------------------------------------------------------------


def test_websocket_client_frames_against_an_independent_server(stream: FakeStream) -> None:
    client = ws.connect(stream.url())
    server = stream.connections.get(timeout=5)
    client.send_text(json.dumps({"hello": "é"}))
    assert json.loads(server.recv(timeout=5)) == {"hello": "é"}
    for size in (0, 125, 126, 65535, 65536, 200_000):  # 7-, 16- and 64-bit lengths
        payload = os.urandom(size)
        client.send_binary(payload)
        assert server.recv(timeout=5) == payload
        server.send(payload)
        assert client.receive() == (ws.BINARY, payload)
    server.send([b"frag", b"mented", b" message"])  # continuation frames
    pong = server.ping(b"are you there")
    assert client.receive() == (ws.BINARY, b"fragmented message")
    server.send("text")
    assert client.receive() == (ws.TEXT, b"text")
    assert pong.wait(5)
    client.close()
    with pytest.raises(ServerSideClosed):
        server.recv(timeout=5)
    assert server.close_code == 1000


def test_websocket_handshake_refusals_carry_status_and_body() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def refuse() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            body = b'{"message": "no such session"}'
            connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    threading.Thread(target=refuse, daemon=True).start()
    with listener, pytest.raises(ws.HandshakeError) as refused:
        ws.connect(f"ws://127.0.0.1:{listener.getsockname()[1]}/v1/data-channel/x")
    assert refused.value.status == 403 and refused.value.status_line == "HTTP/1.1 403 Forbidden"
    assert refused.value.body == '{"message": "no such session"}'


def test_websocket_over_tls_trusts_the_given_bundle(tmp_path: Path) -> None:
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    secure = FakeStream(server_context)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            ws.connect(secure.url(), ssl_context=make_ssl_context(None))
        client = ws.connect(secure.url(), ssl_context=make_ssl_context(str(cert)))
        server = secure.connections.get(timeout=5)
        client.send_binary(b"over tls")
        assert server.recv(timeout=5) == b"over tls"
        client.close()
    finally:
        secure.close()


# --- Sessions ----------------------------------------------------------------------------------------------


def test_a_shell_session_runs_commands_on_a_terminal(stream: FakeStream, home: Path) -> None:
    session, thread = start_session(stream, "SSM-SessionManagerRunShell")
    connection, opening = stream.accept()
    assert opening["TokenValue"] == AGENT_TOKEN and opening["ClientId"] == INSTANCE_ID
    assert opening["MessageSchemaVersion"] == "1.0" and opening["ClientVersion"] == AGENT_VERSION
    uuid.UUID(opening["RequestId"])
    # As the npm client sends them: the size first (sequence 0), then keystrokes.
    connection.send(npm_frame("input_stream_data", 0, am.SIZE, b'{"cols": 123, "rows": 45}'))
    connection.send(npm_frame("input_stream_data", 1, am.OUTPUT, b"echo hello-$((6*7)); stty size; pwd\r"))
    expected = (b"hello-42", b"45 123", f"\n{home}".encode())  # typed lines echo "$((6*7))", not "42"
    messages = receive_until(connection, lambda got: all(text in output_of(got) for text in expected)
                             and acknowledged(got) >= {0, 1})
    acknowledge = next(message for message in messages if message.message_type == am.ACKNOWLEDGE)
    assert json.loads(acknowledge.payload)["AcknowledgedMessageType"] == "input_stream_data"
    assert json.loads(acknowledge.payload)["IsSequentialMessage"] is True
    outputs = [message for message in messages if message.message_type == am.OUTPUT_STREAM_DATA]
    assert [message.sequence_number for message in outputs] == list(range(len(outputs)))
    assert all(message.payload_type == am.OUTPUT and len(message.payload) <= 4096 for message in outputs)

    # A message sent again (a client's retransmission) is acknowledged again but typed only once.
    repeated = data(2, b"echo dup-$((1+1))\n")
    connection.send(repeated)
    connection.send(repeated)
    connection.send(data(3, b"echo after-$((2+2))\n"))
    more = receive_until(connection, lambda got: b"after-4" in output_of(got) and acknowledged(got) >= {2, 3})
    assert output_of(more).count(b"dup-2") == 1
    assert sum(message.message_type == am.ACKNOWLEDGE for message in more) == 3

    # A client that reconnects after ResumeSession numbers from 0 again, with new MessageIds: still typed.
    connection.send(data(0, b'{"cols": 100, "rows": 30}', am.SIZE))
    connection.send(data(1, b"echo again-$((5*5)); stty size\n"))
    receive_until(connection, lambda got: b"again-25" in output_of(got) and b"30 100" in output_of(got))

    connection.send(data(2, b"exit\n"))
    end = receive_until(connection, closed)
    channel_closed = json.loads(end[-1].payload)
    assert channel_closed["Output"] == f"Exiting session with sessionId: {SESSION_ID}."
    assert channel_closed["SessionId"] == SESSION_ID and channel_closed["DestinationId"] == INSTANCE_ID
    assert channel_closed["MessageType"] == "channel_closed"
    with pytest.raises(ServerSideClosed):
        connection.recv(timeout=5)
    thread.join(5)
    assert not thread.is_alive() and session.exit_status == 0
    assert session.end_reason == "the shell exited (0)"


def test_terminate_session_kills_the_shell_and_its_children(stream: FakeStream) -> None:
    session, thread = start_session(stream, "SSM-SessionManagerRunShell")
    connection, _ = stream.accept()
    connection.send(data(0, b"sleep 300 & echo child=$!\n"))
    messages = receive_until(connection, lambda got: b"child=" in output_of(got).replace(b"child=$!", b""))
    text = output_of(messages).decode(errors="replace").replace("child=$!", "")
    child = int(text.split("child=", 1)[1].split()[0])
    connection.send(data(1, struct.pack(">I", 2), am.FLAG))  # TerminateSession
    receive_until(connection, closed)
    thread.join(5)
    assert not thread.is_alive() and session.exit_status is not None
    assert session.end_reason == "the client sent TerminateSession"
    assert process_gone(child)


def process_gone(pid: int, timeout: float = 2) -> bool:
    """Dead and reaped, or at least dead (a zombie waiting for a reaper that is not ours)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while chunk := self.request.recv(65536):
            if chunk.startswith(b"bye"):
                self.request.sendall(b"goodbye")
                return
            self.request.sendall(chunk)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), EchoHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_port_forwarding_carries_bytes_both_ways(stream: FakeStream, echo_port: int) -> None:
    session, thread = start_session(stream, "AWS-StartPortForwardingSessionToRemoteHost",
                                    portNumber=[str(echo_port)], host=["127.0.0.1"])
    connection, opening = stream.accept()
    assert opening["TokenValue"] == AGENT_TOKEN
    blob = os.urandom(20_000)
    connection.send(data(0, b"ping"))
    connection.send(data(1, blob))
    messages = receive_until(connection, lambda got: len(output_of(got)) >= 4 + len(blob)
                             and acknowledged(got) >= {0, 1})
    assert output_of(messages) == b"ping" + blob
    connection.send(data(2, b"TerminateSession", am.FLAG))
    receive_until(connection, closed)
    thread.join(5)
    assert not thread.is_alive() and session.end_reason == "the client sent TerminateSession"


def test_port_forwarding_ends_when_the_port_closes(stream: FakeStream, echo_port: int) -> None:
    session, thread = start_session(stream, "AWS-StartPortForwardingSession", portNumber=[str(echo_port)])
    connection, _ = stream.accept()
    connection.send(data(0, b"bye"))
    messages = receive_until(connection, closed)
    assert output_of(messages) == b"goodbye"
    thread.join(5)
    assert session.end_reason == f"localhost:{echo_port} closed the connection"


def test_port_forwarding_to_a_closed_port_says_what_failed(stream: FakeStream) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    session, thread = start_session(stream, "AWS-StartPortForwardingSessionToRemoteHost",
                                    portNumber=[str(port)], host=["127.0.0.1"])
    connection, _ = stream.accept()
    (channel_closed,) = receive_until(connection, closed)
    assert json.loads(channel_closed.payload)["Output"].startswith(f"Failed to connect to 127.0.0.1:{port}: ")
    thread.join(5)
    assert session.end_reason.startswith("Failed to connect")


# --- Through the agent -------------------------------------------------------------------------------------


def session_payload(stream: FakeStream, document: str = "SSM-SessionManagerRunShell",
                    **parameters: list[str]) -> dict[str, Any]:
    return {"SessionId": SESSION_ID, "DocumentName": document, "Parameters": parameters,
            "StreamUrl": stream.url(), "TokenValue": AGENT_TOKEN}


def test_the_agent_acknowledges_a_start_session_and_dials_the_stream(cloud: FakeCloud,
                                                                     stream: FakeStream) -> None:
    agent = make_agent(cloud)
    message_id = cloud.send("aws.ssm.startSession", session_payload(stream))
    agent.poll_once()
    connection, opening = stream.accept()
    assert opening["TokenValue"] == AGENT_TOKEN and opening["ClientId"] == INSTANCE_ID
    assert cloud.operations(message_id) == ["AcknowledgeMessage"]  # no SendReply for sessions
    connection.send(data(0, b"echo via-agent-$((3*3))\n"))
    receive_until(connection, lambda got: b"via-agent-9" in output_of(got))
    started = time.monotonic()
    agent.end_sessions()
    receive_until(connection, closed)
    assert agent.wait_for_sessions(2) and time.monotonic() - started < 1.0
    assert agent.sessions == {}


def test_the_agent_refuses_sessions_it_cannot_serve(cloud: FakeCloud, stream: FakeStream) -> None:
    agent = make_agent(cloud)
    unknown = cloud.send("aws.ssm.startSession", session_payload(stream, "AWS-StartInteractiveCommand"))
    no_port = cloud.send("aws.ssm.startSession", session_payload(stream, "AWS-StartPortForwardingSession"))
    tampered = cloud.send("aws.ssm.startSession", session_payload(stream), digest="0" * 64)
    agent.poll_once()
    for message_id in (unknown, no_port, tampered):
        assert cloud.operations(message_id) == ["FailMessage"]
    assert stream.connections.empty()


def test_sigterm_ends_open_sessions_within_a_second(cloud: FakeCloud, stream: FakeStream,
                                                    tmp_path: Path) -> None:
    state = tmp_path / "state"
    register("CODE", "ACT-1", "us-east-1", cloud.url, None, state)
    cloud.send("aws.ssm.startSession", session_payload(stream))
    service = subprocess.Popen([sys.executable, str(SCRIPT), "run", "--state-dir", str(state)],
                               stderr=subprocess.PIPE, text=True)  # inherits the test's HOME
    try:
        connection, _ = stream.accept()
        connection.send(data(0, b"echo shell=$$\n"))
        messages = receive_until(connection,
                                 lambda got: b"shell=" in output_of(got).replace(b"shell=$$", b""))
        shell = int(output_of(messages).decode().replace("shell=$$", "").split("shell=", 1)[1].split()[0])
        stopped_at = time.monotonic()
        os.kill(service.pid, signal.SIGTERM)
        receive_until(connection, closed)
        assert service.wait(timeout=3) == 0
        assert time.monotonic() - stopped_at < 1.0
        assert process_gone(shell)
        log = service.stderr.read() if service.stderr else ""
        assert f"session {SESSION_ID} started (SSM-SessionManagerRunShell)" in log
        assert f"session {SESSION_ID} ended: the agent is stopping" in log
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()


# --- Session preferences -----------------------------------------------------------------------------------

SHELL = "SSM-SessionManagerRunShell"


def quiet_for(connection: ServerConnection, seconds: float) -> list[am.AgentMessage]:
    """Everything the agent sends in the next ``seconds``, or until it closes the connection."""
    messages: list[am.AgentMessage] = []
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            frame = connection.recv(timeout=remaining)
        except (TimeoutError, ServerSideClosed):
            break
        if isinstance(frame, bytes):
            messages.append(am.decode(frame))
    return messages


def closing_output(messages: list[am.AgentMessage]) -> str:
    return next(json.loads(message.payload)["Output"] for message in messages
                if message.message_type == am.CHANNEL_CLOSED)


def test_an_idle_session_ends_after_its_idle_timeout(stream: FakeStream) -> None:
    """Fractional minutes: 0.02 is 1.2 s. Input (any input_stream_data) restarts the clock; output does not."""
    session, thread = start_session(stream, SHELL, inputs={"idleSessionTimeout": "0.02"})
    connection, _ = stream.accept()
    for number in range(5):  # 2 s of typing, every 0.4 s, keeps it open
        connection.send(data(number, b"\n" if number < 4 else b"while :; do echo busy; sleep 0.2; done\n"))
        last_input = time.monotonic()
        assert not closed(quiet_for(connection, 0.4))
    messages = receive_until(connection, closed)
    assert 1.1 < time.monotonic() - last_input < 3
    assert closing_output(messages) == IDLE_TIMEOUT_OUTPUT
    thread.join(5)
    assert session.end_reason == "no input for 1.2 s (idle timeout)"


def test_a_session_ends_at_its_maximum_duration(stream: FakeStream) -> None:
    session, thread = start_session(stream, SHELL, inputs={"maxSessionDuration": 0.025, "idleSessionTimeout": "60"})
    started = time.monotonic()
    connection, _ = stream.accept()
    messages: list[am.AgentMessage] = []
    for number in range(20):  # busy typing does not extend it
        connection.send(data(number, b"\n"))
        messages += quiet_for(connection, 0.25)
        if closed(messages):
            break
    assert 1.4 < time.monotonic() - started < 3
    assert closing_output(messages) == MAX_DURATION_OUTPUT
    thread.join(5)
    assert session.end_reason == "it reached its maximum duration (1.5 s)"


def test_the_shell_profile_runs_before_the_clients_input(stream: FakeStream) -> None:
    session, thread = start_session(stream, SHELL, inputs={"shellProfile": {
        "linux": "export PROFILE_MARK=from-profile\ncd /tmp", "windows": "ignored"}})
    connection, _ = stream.accept()
    connection.send(data(0, b"echo mark=$PROFILE_MARK dir=$(pwd)\n"))  # sent before the shell is even ready
    receive_until(connection, lambda got: b"mark=from-profile dir=/tmp" in output_of(got))
    connection.send(data(1, b"exit\n"))
    receive_until(connection, closed)
    thread.join(5)
    assert session.exit_status == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may start a shell as another user")
def test_run_as_starts_the_shell_as_that_user_or_not_at_all(stream: FakeStream) -> None:
    session, thread = start_session(stream, SHELL, inputs={"runAsEnabled": True, "runAsDefaultUser": "nobody"})
    connection, _ = stream.accept()
    connection.send(data(0, b"echo who=$(id -un) uid=$(id -u) home=$HOME dir=$(pwd); exit\n"))
    messages = receive_until(connection, closed)
    assert b"who=nobody uid=65534 home=/nonexistent dir=/" in output_of(messages)  # nologin: bash instead
    thread.join(5)
    assert session.exit_status == 0
    session, thread = start_session(stream, SHELL, inputs={"runAsEnabled": "true", "runAsDefaultUser": "no-such-7"})
    connection, _ = stream.accept()
    (channel_closed,) = receive_until(connection, closed)
    assert closing_output([channel_closed]) == ("Unable to start command: failed to start pty since RunAs user "
                                                "no-such-7 does not exist")
    thread.join(5)
    assert not thread.is_alive() and session.pid == 0  # no shell was started


def session_access(cloud: FakeCloud) -> AwsAccess:
    return AwsAccess(StaticIdentity().credentials, REGION, cloud.url, make_ssl_context(None))


def put_events(cloud: FakeCloud) -> list[dict[str, Any]]:
    return [event for body in cloud.bodies("PutLogEvents") for event in body["logEvents"]]


def test_the_transcript_goes_to_s3_and_cloudwatch_logs_at_the_end(cloud: FakeCloud, stream: FakeStream) -> None:
    """Through the agent: the Inputs of its startSession message, its endpoint and its credentials."""
    agent = make_agent(cloud)
    cloud.failures["CreateLogStream"] = (400, {"__type": "ResourceAlreadyExistsException", "message": "exists"})
    cloud.send("aws.ssm.startSession", {**session_payload(stream), "Inputs": {
        "s3BucketName": "audit", "s3KeyPrefix": "/shells/", "cloudWatchLogGroupName": "/ssm/sessions",
        "cloudWatchStreamingEnabled": False}})
    agent.poll_once()
    connection, _ = stream.accept()
    connection.send(data(0, b"printf 'caf\\303\\251 marker-%s\\n' $((6*7)); exit\n"))
    messages = receive_until(connection, closed)
    assert agent.wait_for_sessions(10)
    shown = output_of(messages)
    assert "café marker-42".encode() in shown
    body, headers = cloud.uploads[f"/audit/shells/{SESSION_ID}.log"]
    assert body == shown  # everything the client saw, nothing stripped
    assert "/us-east-1/s3/aws4_request" in headers["authorization"]
    assert headers["x-amz-security-token"] == "static-token"
    (create,) = cloud.bodies("CreateLogStream")
    assert create == {"logGroupName": "/ssm/sessions", "logStreamName": SESSION_ID}
    events = put_events(cloud)
    assert "".join(event["message"] for event in events).encode() == shown
    assert any(event["message"].endswith("café marker-42\r\n") for event in events)
    stamps = [event["timestamp"] for event in events]
    assert stamps == sorted(stamps) and abs(stamps[0] / 1000 - time.time()) < 30
    logs_headers = [headers for op, _, headers in cloud.calls if op == "PutLogEvents"][0]
    assert logs_headers["x-amz-target"] == "Logs_20140328.PutLogEvents"
    assert "/us-east-1/logs/aws4_request" in logs_headers["authorization"]


def test_streamed_logs_arrive_while_the_session_runs(cloud: FakeCloud, stream: FakeStream) -> None:
    session, thread = start_session(stream, SHELL, access=session_access(cloud), inputs={
        "cloudWatchLogGroupName": "live", "cloudWatchStreamingEnabled": True})
    connection, _ = stream.accept()
    connection.send(data(0, b"echo streamed-$((1+1))\n"))
    messages: list[am.AgentMessage] = []
    deadline = time.monotonic() + 5
    while not any("streamed-2" in event["message"] for event in put_events(cloud)):
        assert time.monotonic() < deadline, "no events while the session ran"
        messages += quiet_for(connection, 0.2)
    assert not session.ending.is_set()
    connection.send(data(1, b"exit\n"))
    messages += receive_until(connection, closed)
    thread.join(5)
    assert not thread.is_alive()
    assert "".join(event["message"] for event in put_events(cloud)).encode() == output_of(messages)
    assert len(cloud.bodies("CreateLogStream")) == 1 and len(cloud.bodies("PutLogEvents")) >= 2


def test_logging_failures_never_break_the_session(cloud: FakeCloud, stream: FakeStream,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    cloud.failures["PutObject"] = (403, {"__type": "AccessDenied", "message": "no"})
    cloud.failures["CreateLogStream"] = (400, {"__type": "ResourceNotFoundException", "message": "no group"})
    session, thread = start_session(stream, SHELL, access=session_access(cloud), inputs={
        "s3BucketName": "nope", "cloudWatchLogGroupName": "missing"})
    connection, _ = stream.accept()
    connection.send(data(0, b"exit 3\n"))
    messages = receive_until(connection, closed)
    assert closing_output(messages) == f"Exiting session with sessionId: {SESSION_ID}."
    thread.join(5)
    assert session.exit_status == 3 and cloud.uploads == {} and cloud.bodies("PutLogEvents") == []
    logged = capfd.readouterr().err
    assert f"transcript not stored in s3://nope/{SESSION_ID}.log" in logged
    assert "not logged to CloudWatch Logs group missing: ResourceNotFoundException" in logged
