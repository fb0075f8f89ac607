"""The SSM agent (images/ssm-agent: the cloudlet_ssm_agent package and its launcher) against a fake JSON 1.1
service on 127.0.0.1.

The fake stands in for the controller's ssm, ec2messages, s3 and IMDS endpoints and records every call, so
the tests check the wire the agent speaks: message order, reply payloads, signatures, the RSA proof.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

AGENT_DIR = Path(__file__).resolve().parents[2] / "images" / "ssm-agent"
SCRIPT = AGENT_DIR / "cloudlet-ssm-agent"
if str(AGENT_DIR) not in sys.path:
    sys.path.insert(0, str(AGENT_DIR))  # the package sits beside its launcher, not in the repository's tree

from cloudlet_ssm_agent import AGENT_VERSION  # noqa: E402
from cloudlet_ssm_agent.__main__ import main  # noqa: E402
from cloudlet_ssm_agent.destinations import AwsAccess  # noqa: E402
from cloudlet_ssm_agent.identity import HybridIdentity, ImdsIdentity, NotManagedError, register  # noqa: E402
from cloudlet_ssm_agent.preferences import SessionPreferences  # noqa: E402
from cloudlet_ssm_agent.service import Agent  # noqa: E402
from cloudlet_ssm_agent.session_logs import batches  # noqa: E402
from cloudlet_ssm_agent.sessions import SessionRequest, ShellSession  # noqa: E402
from cloudlet_ssm_agent.shell import SessionRefused  # noqa: E402
from cloudlet_ssm_agent.transcripts import MAX_EVENT_BYTES, TRUNCATED_NOTE, Transcript, log_events  # noqa: E402
from cloudlet_ssm_agent.wire import (  # noqa: E402
    Credentials,
    JsonClient,
    ServiceError,
    make_ssl_context,
    sigv4_headers,
)

REGION = "us-east-1"
INSTANCE_ID = "i-0123456789abcdef0"
HYBRID_ID = "mi-0123456789abcdef0"


def lowercase(headers: Any) -> dict[str, str]:
    """Header names are case-insensitive (urllib sends ``X-amz-date``): the tests read them lowercased."""
    return {name.lower(): value for name, value in headers}


class FakeCloud:
    """A threaded HTTP server answering the agent's JSON 1.1 calls, S3 PUTs and IMDS GETs; records them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.pending: list[dict[str, Any]] = []
        self.uploads: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.imds: dict[str, str] = {}
        self.failures: dict[str, tuple[int, dict[str, Any]]] = {}  # operation (or "PutObject") -> its error
        self.hold_seconds = 0.05  # how long an empty GetMessages is held open, as the real long poll does
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.block_on_close = False  # a long poll still held open must not delay the test's end
        self.server.handle_error = lambda request, address: None  # a client gone mid-poll (SIGTERM) is fine
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, answer: dict[str, Any] | str) -> None:
                raw = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", "0")))

            def do_POST(self) -> None:
                operation = self.headers["X-Amz-Target"].split(".", 1)[1]
                body = json.loads(self._body())
                with cloud.lock:
                    cloud.calls.append((operation, body, lowercase(self.headers.items())))
                status, answer = cloud.answer(operation, body)
                self._send(status, answer)

            def do_PUT(self) -> None:
                if self.path == "/latest/api/token":
                    self._send(200, "imds-token")
                    return
                body = self._body()
                if "PutObject" in cloud.failures:
                    status, answer = cloud.failures["PutObject"]
                    self._send(status, answer)
                    return
                with cloud.lock:
                    cloud.uploads[self.path] = (body, lowercase(self.headers.items()))
                self._send(200, "")

            def do_GET(self) -> None:
                if self.path not in cloud.imds:
                    self._send(404, "")
                elif self.headers.get("X-aws-ec2-metadata-token") != "imds-token":
                    self._send(401, "")
                else:
                    self._send(200, cloud.imds[self.path])

        return Handler

    def answer(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if operation in self.failures:
            return self.failures[operation]
        if operation == "GetMessages":
            with self.lock:
                messages, self.pending = self.pending, []
            if not messages:
                time.sleep(self.hold_seconds)
            return 200, {"Destination": body["Destination"], "MessagesRequestId": body["MessagesRequestId"],
                         "Messages": messages}
        if operation == "RegisterManagedInstance":
            return 200, {"InstanceId": HYBRID_ID}
        if operation == "RequestManagedInstanceRoleToken":
            return 200, {"AccessKeyId": "ASIAHYBRID", "SecretAccessKey": "secret", "SessionToken": "session",
                         "TokenExpirationDate": time.time() + 3600}
        if operation == "Explode":
            return 400, {"__type": "com.amazonaws.ssm#InvalidInstanceId", "message": "no such instance"}
        return 200, {}

    def send(self, topic: str, payload: dict[str, Any], *, digest: str | None = None) -> str:
        """Queues a message for the next GetMessages; returns its MessageId."""
        text = json.dumps(payload)
        message_id = str(uuid.uuid4())
        with self.lock:
            self.pending.append({
                "MessageId": message_id, "Destination": INSTANCE_ID, "Topic": f"{topic}.{REGION}",
                "CreatedDate": "2024-01-01T00:00:00.000Z", "Payload": text,
                "PayloadDigest": digest or hashlib.sha256(text.encode()).hexdigest()})
        return message_id

    def operations(self, message_id: str | None = None) -> list[str]:
        with self.lock:
            return [op for op, body, _ in self.calls
                    if message_id is None or body.get("MessageId") == message_id]

    def bodies(self, operation: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for op, body, _ in self.calls if op == operation]

    def replies(self, message_id: str) -> list[dict[str, Any]]:
        return [json.loads(body["Payload"]) for body in self.bodies("SendReply")
                if body["MessageId"] == message_id]


@pytest.fixture
def cloud() -> Iterator[FakeCloud]:
    made = FakeCloud()
    yield made
    made.server.shutdown()
    made.server.server_close()


class StaticIdentity:
    instance_id, region = INSTANCE_ID, REGION

    def credentials(self) -> Any:
        return Credentials("AKIDSTATIC", "static-secret", "static-token")


def make_agent(cloud: FakeCloud) -> Any:
    identity, context = StaticIdentity(), make_ssl_context(None)
    ssm = JsonClient(cloud.url, REGION, "ssm", "AmazonSSM", context, identity.credentials)
    messages = JsonClient(cloud.url, REGION, "ec2messages", "EC2WindowsMessageDeliveryService",
                                    context, identity.credentials)
    return Agent(identity, ssm, messages, cloud.url, 60, threading.Event())


def run_shell(commands: list[str], **parameters: Any) -> dict[str, Any]:
    return {"CommandId": str(uuid.uuid4()), "DocumentName": "AWS-RunShellScript",
            "Parameters": {"commands": commands, **parameters}}


def final_plugin(cloud: FakeCloud, message_id: str) -> dict[str, Any]:
    replies = cloud.replies(message_id)
    assert replies[0] == {"DocumentStatus": "InProgress", "RuntimeStatus": {}}
    assert len(replies) == 2
    plugin = replies[1]["RuntimeStatus"]["aws:runShellScript"]
    assert replies[1]["DocumentStatus"] == plugin["Status"]
    return plugin


# --- Signature Version 4 -----------------------------------------------------------------------------------


def test_signer_matches_the_aws_get_vanilla_example() -> None:
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    headers = sigv4_headers("GET", "https://example.amazonaws.com/", {}, b"", credentials,
                                      "us-east-1", "service", datetime(2015, 8, 30, 12, 36, 0, tzinfo=UTC))
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")


@pytest.mark.parametrize(("method", "url", "service", "extra"), [
    ("POST", "https://ssm.eu-west-3.amazonaws.com/", "ssm",
     {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.UpdateInstanceInformation"}),
    ("POST", "http://10.0.0.1:8443/", "ec2messages",
     {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Service.GetMessages"}),
    ("PUT", "https://s3.eu-west-3.amazonaws.com/bucket/a%20b/c/stdout?x=1&a=%2F", "s3", {}),
])
def test_signer_matches_botocore(monkeypatch: pytest.MonkeyPatch, method: str, url: str, service: str,
                                 extra: dict[str, str]) -> None:
    now = datetime(2024, 5, 17, 8, 9, 10, tzinfo=UTC)
    body = b'{"InstanceId": "i-1"}'
    if service == "s3":
        extra = {"x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    credentials = Credentials("AKID", "SECRET", "TOKEN")
    ours = sigv4_headers(method, url, dict(extra), body, credentials, "eu-west-3", service, now)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: now.replace(tzinfo=None))
    request = AWSRequest(method=method, url=url, data=body, headers=dict(extra))
    signer_class = S3SigV4Auth if service == "s3" else SigV4Auth
    signer_class(BotoCredentials("AKID", "SECRET", "TOKEN"), service, "eu-west-3").add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Security-Token"] == "TOKEN"


# --- Commands ----------------------------------------------------------------------------------------------


def test_send_command_succeeds_with_its_output(cloud: FakeCloud, tmp_path: Path) -> None:
    agent = make_agent(cloud)
    message_id = cloud.send("aws.ssm.sendCommand", run_shell(
        ["echo hello", "pwd", "echo oops >&2"], workingDirectory=[str(tmp_path)]))
    agent.poll_once()
    assert agent.wait_for_commands(10)
    plugin = final_plugin(cloud, message_id)
    assert plugin["Status"] == "Success" and plugin["Code"] == 0
    assert plugin["Output"] == f"hello\n{tmp_path}\n" == plugin["StandardOutput"]
    assert plugin["StandardError"] == "oops\n"
    assert plugin["StartDateTime"] <= plugin["EndDateTime"]
    assert cloud.operations(message_id) == ["AcknowledgeMessage", "SendReply", "SendReply"]
    ping = cloud.bodies("UpdateInstanceInformation")[0]
    assert ping["InstanceId"] == INSTANCE_ID and ping["AgentName"] == "cloudlet-ssm-agent"
    assert ping["AgentVersion"] == AGENT_VERSION and ping["PlatformType"] == "Linux"
    assert ping["IPAddress"] == "127.0.0.1"
    operation_headers = {op: headers for op, _, headers in cloud.calls}
    assert "/us-east-1/ec2messages/aws4_request" in operation_headers["GetMessages"]["authorization"]
    assert "/us-east-1/ssm/aws4_request" in operation_headers["UpdateInstanceInformation"]["authorization"]
    assert operation_headers["GetMessages"]["x-amz-security-token"] == "static-token"


def test_a_failing_command_reports_its_exit_code(cloud: FakeCloud) -> None:
    agent = make_agent(cloud)
    document = run_shell(["echo partial", "exit 3"], workingDirectory=[""])
    message_id = cloud.send("aws.ssm.sendCommand", document)
    agent.poll_once()
    assert agent.wait_for_commands(10)
    plugin = final_plugin(cloud, message_id)
    assert (plugin["Status"], plugin["Code"], plugin["Output"]) == ("Failed", 3, "partial\n")


def test_a_command_is_killed_at_its_execution_timeout(cloud: FakeCloud) -> None:
    agent = make_agent(cloud)
    message_id = cloud.send("aws.ssm.sendCommand", run_shell(["echo started", "sleep 30"],
                                                             executionTimeout=["1"]))
    started = time.monotonic()
    agent.poll_once()
    assert agent.wait_for_commands(10)
    assert time.monotonic() - started < 5
    plugin = final_plugin(cloud, message_id)
    assert (plugin["Status"], plugin["Code"], plugin["Output"]) == ("TimedOut", -1, "started\n")


def test_a_cancel_kills_the_running_command(cloud: FakeCloud) -> None:
    agent = make_agent(cloud)
    command_message = cloud.send("aws.ssm.sendCommand", run_shell(["sleep 30 & wait"]))
    agent.poll_once()
    cancel_message = cloud.send("aws.ssm.cancelCommand", {"CancelMessageId": command_message})
    agent.poll_once()
    assert agent.wait_for_commands(5)
    plugin = final_plugin(cloud, command_message)
    assert (plugin["Status"], plugin["Code"]) == ("Cancelled", -1)
    assert cloud.operations(cancel_message) == ["AcknowledgeMessage", "SendReply"]
    assert cloud.replies(cancel_message) == [{"DocumentStatus": "Success", "RuntimeStatus": {}}]


def test_a_payload_that_fails_its_digest_is_refused(cloud: FakeCloud) -> None:
    agent = make_agent(cloud)
    message_id = cloud.send("aws.ssm.sendCommand", run_shell(["touch /tmp/never"]), digest="0" * 64)
    agent.poll_once()
    assert agent.wait_for_commands(1)
    assert cloud.operations(message_id) == ["FailMessage"]
    assert cloud.bodies("FailMessage") == [
        {"MessageId": message_id, "FailureType": "InternalHandlerException"}]


def test_output_is_uploaded_to_s3_when_asked(cloud: FakeCloud) -> None:
    agent = make_agent(cloud)
    document = {**run_shell(["echo to-s3", "echo err >&2"]), "OutputS3BucketName": "logs",
                "OutputS3KeyPrefix": "runs/", "OutputS3Region": "eu-west-3"}
    message_id = cloud.send("aws.ssm.sendCommand", document)
    agent.poll_once()
    assert agent.wait_for_commands(10)
    folder = f"runs/{document['CommandId']}/{INSTANCE_ID}/awsrunShellScript/0.awsrunShellScript"
    body, headers = cloud.uploads[f"/logs/{folder}/stdout"]
    assert body == b"to-s3\n" and cloud.uploads[f"/logs/{folder}/stderr"][0] == b"err\n"
    assert headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
    assert "/eu-west-3/s3/aws4_request" in headers["authorization"]
    plugin = final_plugin(cloud, message_id)
    assert plugin["OutputS3BucketName"] == "logs" and plugin["OutputS3KeyPrefix"] == folder


def test_a_streamed_body_is_signed_with_its_hash_and_sent_whole(cloud: FakeCloud) -> None:
    """Session transcripts are PUT from chunks (they may be on disk): the payload hash the signature covers is
    the whole body's, so the signature matches the one over the body in memory."""
    now = datetime(2024, 5, 17, 8, 9, 10, tzinfo=UTC)
    body = b"line one\n" * 10_000
    credentials = Credentials("AKID", "SECRET", "TOKEN")
    url = "https://s3.us-east-1.amazonaws.com/bucket/key.log"
    digest = {"x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    assert sigv4_headers("PUT", url, dict(digest), b"", credentials, REGION, "s3", now,
                         payload_hash=digest["x-amz-content-sha256"]) == \
        sigv4_headers("PUT", url, dict(digest), body, credentials, REGION, "s3", now)
    access = AwsAccess(StaticIdentity().credentials, REGION, cloud.url, make_ssl_context(None))
    access.put_object("bucket", "a b/key.log", lambda: iter([body[:7], body[7:50_000], body[50_000:]]))
    uploaded, headers = cloud.uploads["/bucket/a%20b/key.log"]
    assert uploaded == body and headers["content-length"] == str(len(body))
    assert headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
    assert "/us-east-1/s3/aws4_request" in headers["authorization"]


def test_service_errors_carry_code_and_message(cloud: FakeCloud) -> None:
    with pytest.raises(ServiceError) as raised:
        make_agent(cloud).ssm.call("Explode", {})
    assert (raised.value.code, raised.value.message, raised.value.status) == (
        "InvalidInstanceId", "no such instance", 400)


# --- Identity ----------------------------------------------------------------------------------------------


def test_register_then_role_token_proves_the_key(cloud: FakeCloud, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    assert main(["register", "--code", "CODE", "--id", "ACT-1", "--region", REGION,
                           "--endpoint", cloud.url, "--state-dir", str(state)]) == 0
    assert capsys.readouterr().out.strip() == HYBRID_ID
    for name in ("key.pem", "registration.json"):
        assert (state / name).stat().st_mode & 0o777 == 0o600
    assert json.loads((state / "registration.json").read_text()) == {
        "InstanceId": HYBRID_ID, "Region": REGION, "Endpoint": cloud.url, "CaBundle": None}
    (registered,) = cloud.bodies("RegisterManagedInstance")
    assert (registered["ActivationCode"], registered["ActivationId"]) == ("CODE", "ACT-1")
    assert registered["PublicKeyType"] == "Rsa"
    assert registered["Fingerprint"] == hashlib.sha256(registered["PublicKey"].encode()).hexdigest()
    public_key = serialization.load_pem_public_key(registered["PublicKey"].encode())

    anonymous = JsonClient(cloud.url, REGION, "ssm", "AmazonSSM", make_ssl_context(None))
    identity = HybridIdentity(state, anonymous, HYBRID_ID, REGION)
    credentials = identity.credentials()
    assert identity.credentials() is credentials  # cached until five minutes before it expires
    assert (credentials.access_key_id, credentials.session_token) == ("ASIAHYBRID", "session")
    (request,) = cloud.bodies("RequestManagedInstanceRoleToken")
    assert request["InstanceId"] == HYBRID_ID
    assert abs(datetime.strptime(request["Timestamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
               - time.time()) < 60
    public_key.verify(base64.b64decode(request["Signature"]), f"{HYBRID_ID}\n{request['Timestamp']}".encode(),
                      padding.PKCS1v15(), hashes.SHA256())
    unsigned_headers = [headers for op, _, headers in cloud.calls if op != "UpdateInstanceInformation"]
    assert all("authorization" not in headers for headers in unsigned_headers)

    # The service, once, in hybrid mode: it finds the registration and runs a command with role credentials.
    message_id = cloud.send("aws.ssm.sendCommand", run_shell(["echo hybrid"]))
    assert main(["run", "--once", "--state-dir", str(state)]) == 0
    assert final_plugin(cloud, message_id)["Output"] == "hybrid\n"
    poll_headers = next(headers for op, _, headers in cloud.calls if op == "GetMessages")
    assert "Credential=ASIAHYBRID/" in poll_headers["authorization"]


def test_imds_identity(cloud: FakeCloud) -> None:
    base = "/latest/meta-data/"
    cloud.imds = {base + "instance-id": INSTANCE_ID, base + "placement/region": REGION,
                  base + "iam/security-credentials/": "web-role\n"}
    with pytest.raises(NotManagedError, match="no instance profile"):
        ImdsIdentity(cloud.url).credentials()
    cloud.imds[base + "iam/security-credentials/web-role"] = json.dumps({
        "AccessKeyId": "ASIAEC2", "SecretAccessKey": "s", "Token": "t", "Expiration": "2099-01-01T00:00:00Z"})
    identity = ImdsIdentity(cloud.url)
    assert (identity.instance_id, identity.region) == (INSTANCE_ID, REGION)
    credentials = identity.credentials()
    assert (credentials.access_key_id, credentials.session_token) == ("ASIAEC2", "t")
    assert credentials.expires_at == datetime(2099, 1, 1, tzinfo=UTC).timestamp()


def test_sigterm_stops_the_service_within_a_second(cloud: FakeCloud, tmp_path: Path) -> None:
    state = tmp_path / "state"
    register("CODE", "ACT-1", REGION, cloud.url, None, state)
    cloud.hold_seconds = 15  # the agent is stopped in the middle of a long poll
    service = subprocess.Popen([sys.executable, str(SCRIPT), "run", "--state-dir", str(state)],
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while "GetMessages" not in cloud.operations() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "GetMessages" in cloud.operations()
        stopped_at = time.monotonic()
        os.kill(service.pid, signal.SIGTERM)
        assert service.wait(timeout=3) == 0
        assert time.monotonic() - stopped_at < 1.0
        assert f"online as {HYBRID_ID}" in (service.stderr.read() if service.stderr else "")
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()


# --- Session preferences and transcripts (the sessions themselves: test_ssm_agent_sessions.py) ------------


def test_session_preferences_read_as_aws_writes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SessionPreferences.from_inputs({}) == SessionPreferences.from_inputs("not an object")
    default = SessionPreferences.from_inputs({})
    assert (default.idle_seconds, default.max_seconds, default.logs_anywhere) == (1200, None, False)
    read = SessionPreferences.from_inputs({
        "s3BucketName": "b", "s3KeyPrefix": "/a/b/", "cloudWatchLogGroupName": "g",
        "cloudWatchStreamingEnabled": "true", "idleSessionTimeout": "0.05", "maxSessionDuration": 2,
        "runAsEnabled": True, "runAsDefaultUser": " ops ", "shellProfile": {"linux": "cd /tmp", "windows": "x"}})
    assert (read.idle_seconds, read.max_seconds, read.cloudwatch_streaming) == (3, 120, True)
    assert (read.run_as_enabled, read.run_as_user, read.shell_profile) == (True, "ops", "cd /tmp")
    assert read.s3_key("s-1") == "a/b/s-1.log" and default.s3_key("s-1") == "s-1.log"
    odd = SessionPreferences.from_inputs({"idleSessionTimeout": "soon", "maxSessionDuration": "",
                                          "runAsEnabled": "no", "shellProfile": {"linux": "  "}})
    assert (odd.idle_seconds, odd.max_seconds, odd.run_as_enabled, odd.shell_profile) == (1200, None, False, "")
    monkeypatch.setenv("CLOUDLET_SSM_SECONDS_PER_MINUTE", "0.5")  # end-to-end tests' short minute
    assert SessionPreferences.from_inputs({"idleSessionTimeout": "3"}).idle_seconds == 1.5


def test_a_transcript_spills_to_disk_and_stops_at_its_limit() -> None:
    transcript = Transcript(spill_bytes=1000, max_bytes=5000)
    transcript.append(b"a" * 900, at=2_000)
    assert not transcript.file._rolled  # in memory while small
    transcript.append(b"b" * 900, at=1_000)  # the clock went back: times do not
    assert transcript.file._rolled and transcript.time_at(1_500) == 2_000
    transcript.append(b"c" * 4000, at=3_000)
    transcript.append(b"never", at=4_000)
    whole = b"".join(transcript.chunks(transcript.size))
    assert whole == b"a" * 900 + b"b" * 900 + b"c" * 3200 + TRUNCATED_NOTE
    assert (transcript.time_at(0), transcript.time_at(1_800)) == (2_000, 3_000)
    transcript.close()


def test_log_events_are_lines_and_pieces_of_long_ones() -> None:
    transcript = Transcript()
    transcript.append(b"$ echo hi\r\nhi\r\n\r\n$ ", at=1_000)
    events, reached = log_events(transcript, 0, transcript.size, final=False)
    assert [message for _, message, _ in events] == ["$ echo hi\r\n", "hi\r\n", "\r\n"]
    assert reached == events[-1][2] == transcript.size - 2  # the prompt waits for the line typed after it
    events, reached = log_events(transcript, reached, transcript.size, final=True)
    assert [message for _, message, _ in events] == ["$ "] and reached == transcript.size
    long = "aé".encode() * (MAX_EVENT_BYTES // 2) + b"\xff\n"  # cuts fall inside characters; \xff is no UTF-8
    transcript.append(long, at=2_000)
    start, messages = reached, []
    while start < transcript.size:
        events, start = log_events(transcript, start, transcript.size, final=True)
        messages += [message for _, message, _ in events]
        assert all(len(message.encode()) <= MAX_EVENT_BYTES and stamp == 2_000 for stamp, message, _ in events)
    assert "".join(messages) == long.decode(errors="replace") and len(messages) == 2
    transcript.close()


def test_batches_keep_put_log_events_limits() -> None:
    big = [(1, "x" * 200_000, 0)] * 12
    assert [len(batch) for batch in batches(big)] == [5, 5, 2]  # 1,048,576 bytes at most, 26 per event
    many = [(1, "x", 0)] * 10_001
    assert [len(batch) for batch in batches(many)] == [10_000, 1]
    day = 24 * 3600 * 1000
    assert [len(batch) for batch in batches([(0, "a", 0), (day, "b", 0), (day + 1, "c", 0)])] == [2, 1]


def test_run_as_applies_only_when_the_agent_is_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """As root the shell runs as the RunAs user (a user without a login shell gets the default one); an agent
    that is not root cannot switch users and keeps its own, as before."""
    nobody = pwd.getpwnam("nobody")
    inputs = {"runAsEnabled": True, "runAsDefaultUser": "nobody"}
    request = SessionRequest("s-1", "SSM-SessionManagerRunShell", "ws://127.0.0.1:1/", "token", {}, inputs)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert ShellSession(request, INSTANCE_ID, None).account().uid is None
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    account = ShellSession(request, INSTANCE_ID, None).account()
    assert (account.name, account.uid, account.gid, account.home) == ("nobody", nobody.pw_uid, nobody.pw_gid,
                                                                       nobody.pw_dir)
    assert nobody.pw_gid in account.groups and account.argv[0] in ("/bin/bash", "/bin/sh", nobody.pw_shell)
    unset = SessionRequest("s-1", "SSM-SessionManagerRunShell", "ws://127.0.0.1:1/", "token", {},
                           {"runAsEnabled": True})
    with pytest.raises(SessionRefused, match="please set the RunAs default user"):
        ShellSession(unset, INSTANCE_ID, None).account()


def test_an_instance_trusts_the_cloud_ca_from_imds(cloud: FakeCloud, tmp_path: Path) -> None:
    """In EC2 the agent calls AWS's names, which the relay serves with the cloud's certificate: it takes the CA
    from Cloudlet's ``meta-data/cloudlet/ca-bundle`` (none there: the system's trust store alone)."""
    from controller.hosts.api_tls import material

    base = "/latest/meta-data/"
    cloud.imds = {base + "instance-id": INSTANCE_ID, base + "placement/region": REGION}
    identity = ImdsIdentity(cloud.url)
    assert identity.cloud_ca() is None
    ca = material(tmp_path, REGION, "amazonaws.com").ca
    cloud.imds[base + "cloudlet/ca-bundle"] = ca
    assert identity.cloud_ca() == ca.strip()
    subjects = [dict(pair[0] for pair in cert["subject"]) for cert in make_ssl_context(None, ca).get_ca_certs()]
    assert any("Cloudlet" in subject.get("commonName", "") + subject.get("organizationName", "")
               for subject in subjects), subjects


def test_calls_reuse_a_kept_alive_connection_and_survive_its_closing(tmp_path: Path) -> None:
    """A Run Command message takes four calls: under emulation a TLS handshake each would cost more than the
    calls. One connection carries them; one the server closed while idle is replaced without an error."""
    connections: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            connections.append(1)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"Echo": self.headers["X-Amz-Target"]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = len(answered) == 4  # closed after the fifth, unannounced (idle timeout)
            answered.append(1)

        def log_message(self, *args: Any) -> None:
            pass

    answered: list[int] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = JsonClient(f"http://127.0.0.1:{server.server_port}", REGION, "ssm", "AmazonSSM",
                            make_ssl_context(None), StaticIdentity().credentials)
        assert [client.call("Ping", {})["Echo"] for _ in range(5)] == ["AmazonSSM.Ping"] * 5
        assert len(connections) == 1
        time.sleep(0.1)  # the server has closed its end by now
        assert client.call("Ping", {})["Echo"] == "AmazonSSM.Ping"
        assert len(connections) == 2
    finally:
        server.shutdown()
        server.server_close()
