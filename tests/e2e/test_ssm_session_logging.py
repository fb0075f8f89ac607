"""Session Manager preferences applied by the agent, against a real ``cloudlet up``: the account's
``SSM-SessionManagerRunShell`` document (created here with CreateDocument) travels to the agent with each shell
session, and the agent (a hybrid machine of :mod:`tests.e2e.ssm_fleet`) logs the session's transcript to S3 and
CloudWatch Logs with its own role, runs the shell profile first, and ends idle sessions.

The fleet's agents run with ``CLOUDLET_SSM_SECONDS_PER_MINUTE=2``: the controller, like AWS, takes whole minutes
only, and a 2-second minute lets an idle timeout of "2" fire after 4 s.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.sync.client import connect

from controller.ssmmessages import agent_message
from tests.e2e.helpers import Client, allow
from tests.e2e.ssm_fleet import Fleet, running_fleet
from tests.support import REPO, CloudletProcess, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")]

SHELL_CLIENT = REPO / "tests" / "node" / "ssm_shell.js"
PREFERENCES = "SSM-SessionManagerRunShell"
MINUTE_SECONDS = 2
#: What the machines' role needs for session logging, besides s3:PutObject, which every fleet's role has.
LOGGING = allow(["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"])


@pytest.fixture(scope="module")
def fleet(cloudlet: CloudletProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(cloudlet, tmp_path_factory.mktemp("logging-fleet"), size=1, role_statements=(LOGGING,),
                       agent_env={"CLOUDLET_SSM_SECONDS_PER_MINUTE": str(MINUTE_SECONDS)}) as machines:
        yield machines


@contextmanager
def preferences(ssm: Client, **inputs: Any) -> Iterator[None]:
    """The account's session preferences for the duration of a test (deleted after it: the document is the
    account's, so every later session would read it)."""
    ssm.create_document(Name=PREFERENCES, DocumentType="Session", DocumentFormat="JSON", Content=json.dumps({
        "schemaVersion": "1.0", "description": "Session Manager preferences of the logging tests",
        "sessionType": "Standard_Stream", "inputs": inputs}))
    try:
        yield
    finally:
        ssm.delete_document(Name=PREFERENCES)


@pytest.fixture
def destinations(fleet: Fleet, unique: str) -> Iterator[tuple[str, str]]:
    """A bucket and a log group for transcripts, removed with what the sessions put there."""
    s3, logs = fleet.cloudlet.client("s3"), fleet.cloudlet.client("logs")
    bucket, group = f"{unique}-sessions", f"/cloudlet/{unique}/sessions"
    s3.create_bucket(Bucket=bucket)
    logs.create_log_group(logGroupName=group)
    try:
        yield bucket, group
    finally:
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)
        logs.delete_log_group(logGroupName=group)


def drive(session: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Run the node client against a StartSession answer; its JSON report (see tests/node/ssm_shell.js)."""
    out = subprocess.run(["node", str(SHELL_CLIENT), session["StreamUrl"], session["TokenValue"], json.dumps(steps)],
                         capture_output=True, text=True, timeout=150)
    assert out.stdout, out.stderr
    return json.loads(out.stdout)


def status(ssm: Client, session_id: str, state: str) -> str | None:
    found = ssm.describe_sessions(State=state, Filters=[{"key": "SessionId", "value": session_id}])["Sessions"]
    return found[0]["Status"] if found else None


def stream_text(fleet: Fleet, group: str, session_id: str) -> str:
    """The session's log stream, its events joined (each keeps its line ending); "" until it exists."""
    logs = fleet.cloudlet.client("logs")
    try:
        events = logs.get_log_events(logGroupName=group, logStreamName=session_id, startFromHead=True)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return ""
    stamps = [event["timestamp"] for event in events]
    assert stamps == sorted(stamps), "events are chronological"
    return "".join(event["message"] for event in events)


def test_a_session_is_logged_to_s3_and_cloudwatch_logs(fleet: Fleet, destinations: tuple[str, str],
                                                       unique: str) -> None:
    bucket, group = destinations
    ssm, s3 = fleet.ssm, fleet.cloudlet.client("s3")
    with preferences(ssm, s3BucketName=bucket, s3KeyPrefix="shells", s3EncryptionEnabled=False,
                     cloudWatchLogGroupName=group, cloudWatchEncryptionEnabled=False,
                     cloudWatchStreamingEnabled=False, idleSessionTimeout="20",
                     shellProfile={"linux": "export PROFILE_MARK=profiled", "windows": ""}):
        session = ssm.start_session(Target=fleet.machines[0].instance_id)
        report = drive(session, [{"send": f"echo {unique}-$((6*7)) $PROFILE_MARK\n", "expect": f"{unique}-42 profiled"},
                                 {"send": "exit\n", "expect": ""}, {"expectClosed": True}])
    assert [step["ok"] for step in report["steps"]] == [True] * 3, report
    session_id = session["SessionId"]
    key = f"shells/{session_id}.log"
    wait_for(lambda: key in {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}, 20,
             "the transcript in S3")
    transcript = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert f"echo {unique}-$((6*7)) $PROFILE_MARK" in transcript and f"{unique}-42 profiled" in transcript
    assert transcript == report["output"], "the transcript is what the client saw, nothing stripped"
    logged = wait_for(lambda: stream_text(fleet, group, session_id), 20, "the transcript in CloudWatch Logs")
    assert logged == transcript
    wait_for(lambda: status(ssm, session_id, "History") == "Terminated", 15, "the session to end")


def test_streamed_logs_arrive_while_the_session_runs(fleet: Fleet, destinations: tuple[str, str],
                                                     unique: str) -> None:
    _, group = destinations
    ssm = fleet.ssm
    with preferences(ssm, cloudWatchLogGroupName=group, cloudWatchStreamingEnabled=True):
        session = ssm.start_session(Target=fleet.machines[0].instance_id)
    client = subprocess.Popen(["node", str(SHELL_CLIENT), session["StreamUrl"], session["TokenValue"],
                               json.dumps([{"send": f"echo live-$((40+2))-{unique}\n", "expect": f"live-42-{unique}"},
                                           {"expectClosed": True}])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: f"live-42-{unique}" in stream_text(fleet, group, session["SessionId"]), 20,
                 "the output in CloudWatch Logs while the session is open")
        assert status(ssm, session["SessionId"], "Active") == "Connected"
        ssm.terminate_session(SessionId=session["SessionId"])
        out, _ = client.communicate(timeout=30)
    finally:
        client.kill()
    report = json.loads(out)
    assert report["closed"] and all(step["ok"] for step in report["steps"]), report
    wait_for(lambda: stream_text(fleet, group, session["SessionId"]) == report["output"], 20,
             "the whole transcript in CloudWatch Logs once the session ended")


def read_until_closed(session: dict[str, Any], typed: bytes) -> tuple[bytes, dict[str, Any]]:
    """A client that types once and then only reads: the output, and the channel_closed payload that ends it
    (the node client does not report the payload, which says why the session ended)."""
    output = b""
    with connect(session["StreamUrl"], compression=None) as websocket:
        websocket.send(json.dumps({"MessageSchemaVersion": "1.0", "RequestId": str(uuid.uuid4()),
                                   "TokenValue": session["TokenValue"], "ClientId": str(uuid.uuid4()),
                                   "ClientVersion": "1.2.764.0"}))
        websocket.send(agent_message.encode(agent_message.AgentMessage(agent_message.INPUT_STREAM_DATA, typed)))
        while True:
            frame = websocket.recv(timeout=30)
            if not isinstance(frame, bytes):
                continue
            message = agent_message.decode(frame)
            if message.message_type == agent_message.OUTPUT_STREAM_DATA:
                output += message.payload
            elif message.message_type == agent_message.CHANNEL_CLOSED:
                return output, json.loads(message.payload)


def test_an_idle_session_times_out(fleet: Fleet) -> None:
    ssm = fleet.ssm
    machine = fleet.machines[0]
    with preferences(ssm, idleSessionTimeout="2"):  # 2 "minutes" of 2 s
        session = ssm.start_session(Target=machine.instance_id)
    started = time.monotonic()
    output, closed = read_until_closed(session, b"echo before-$((1+1))\n")
    assert MINUTE_SECONDS * 2 <= time.monotonic() - started < 15
    assert b"before-2" in output
    assert closed["Output"] == "Your session timed out due to inactivity and has been terminated."
    assert (closed["SessionId"], closed["DestinationId"]) == (session["SessionId"], machine.instance_id)
    wait_for(lambda: status(ssm, session["SessionId"], "History") == "Terminated", 15, "the session to end")
    ended = f"session {session['SessionId']} ended: no input for 4 s (idle timeout)"
    wait_for(lambda: ended in (machine.state_dir / "agent.log").read_text(), 5,  # logged once its shell is gone
             "the agent to log why the session ended")
