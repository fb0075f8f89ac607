"""Session Manager against a real ``cloudlet up``: shells on hybrid machines (:mod:`tests.e2e.ssm_fleet`) opened with
StartSession and driven by the ``ssm-session`` npm library over its websocket (tests/node/ssm_shell.js), as a
browser terminal drives them: AWS's binary AgentMessage protocol end to end. The machines listen on no port:
their agents connect out. Also ResumeSession, TerminateSession, DescribeSessions, IAM on ``ssm:StartSession`` with
instance tags, and AWS's errors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import Cleanup, Client, allow, denied, document, new_user, refused
from tests.e2e.ssm_fleet import SHELL_CLIENT, Fleet, drive, once_the_key_works, running_fleet
from tests.support import REPO, CloudletProcess, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")]

@pytest.fixture(scope="module")
def fleet(cloudlet: CloudletProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(cloudlet, tmp_path_factory.mktemp("session-fleet")) as machines:
        yield machines


def _status(ssm: Client, session_id: str, state: str = "Active") -> str | None:
    found = ssm.describe_sessions(State=state, Filters=[{"key": "SessionId", "value": session_id}])["Sessions"]
    return found[0]["Status"] if found else None


def test_a_shell_through_session_manager(fleet: Fleet) -> None:
    ssm = fleet.ssm
    target = fleet.machines[0].instance_id
    session = ssm.start_session(Target=target, Reason="maintenance")
    assert re.fullmatch(r"[\w.@=,-]+-[0-9a-f]{17}", session["SessionId"]), session["SessionId"]
    assert session["StreamUrl"].startswith("ws://") and f"/v1/data-channel/{session['SessionId']}" in \
        session["StreamUrl"]
    report = drive(session, [{"send": "echo hello-$((6*7))\n", "expect": "hello-42"},
                             {"send": "stty size\n", "expect": "40 120"},
                             {"send": "cd /tmp && echo dir=$(pwd)\n", "expect": "dir=/tmp"},
                             {"send": "exit\n", "expect": ""}, {"expectClosed": True}])
    assert [step["ok"] for step in report["steps"]] == [True] * 5, report
    assert report["acknowledged"] >= 4, "the agent acknowledges every input message"
    wait_for(lambda: _status(ssm, session["SessionId"], "History") == "Terminated", 15,
             "the session to end when its shell exits")
    ended = ssm.describe_sessions(State="History", Filters=[{"key": "SessionId", "value": session["SessionId"]}])
    item = ended["Sessions"][0]
    assert (item["Target"], item["Reason"], item["DocumentName"]) == (target, "maintenance",
                                                                         "SSM-SessionManagerRunShell")
    assert item["Owner"].endswith(":root") and item["EndDate"] >= item["StartDate"]


def test_terminate_session_closes_both_ends(fleet: Fleet) -> None:
    ssm = fleet.ssm
    session = ssm.start_session(Target=fleet.machines[1].instance_id)
    wait_for(lambda: _status(ssm, session["SessionId"]) == "Connecting", 5, "the session to be recorded")
    client = subprocess.Popen(["node", str(SHELL_CLIENT), session["StreamUrl"], session["TokenValue"],
                               json.dumps([{"send": "echo u\"\"p\n", "expect": "up"}, {"expectClosed": True}])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _status(ssm, session["SessionId"]) == "Connected", 20, "both ends to connect")
        assert ssm.terminate_session(SessionId=session["SessionId"])["SessionId"] == session["SessionId"]
        out, _ = client.communicate(timeout=30)
    finally:
        client.kill()
    report = json.loads(out)
    assert report["closed"] and [step["ok"] for step in report["steps"]] == [True, True], report
    assert _status(ssm, session["SessionId"], "History") == "Terminated"
    refused(ssm.resume_session, "DoesNotExistException", SessionId=session["SessionId"])


def test_resume_session_gives_a_new_token_and_the_old_one_stops_working(fleet: Fleet) -> None:
    ssm = fleet.ssm
    session = ssm.start_session(Target=fleet.machines[0].instance_id)
    first = drive(session, [{"send": "export MARK=kept\n", "expect": ""}, {"send": "echo s\"\"et\n", "expect": "set"}])
    assert first["steps"][-1]["ok"], first
    wait_for(lambda: _status(ssm, session["SessionId"]) == "Disconnected", 15, "the client's leaving to show")
    resumed = ssm.resume_session(SessionId=session["SessionId"])
    assert resumed["TokenValue"] != session["TokenValue"] and resumed["StreamUrl"] == session["StreamUrl"]
    again = drive(resumed, [{"send": "echo $MARK\n", "expect": "kept"}])
    assert again["steps"][0]["ok"], "the same shell is still there: " + json.dumps(again)
    stale = drive(session, [{"expectClosed": True}])
    assert stale["closed"] and "kept" not in stale["output"]
    ssm.terminate_session(SessionId=session["SessionId"])


def test_iam_decides_who_may_open_a_shell_on_which_machine(fleet: Fleet, cloudlet: CloudletProcess,
                                                           unique: str) -> None:
    iam = cloudlet.client("iam")
    cleanup = Cleanup(iam)
    try:
        key = new_user(iam, cleanup, f"{unique}-oncall")
        instances = f"arn:aws:ssm:{cloudlet.region}:{cloudlet.account_id}:managed-instance/*"
        iam.put_user_policy(UserName=f"{unique}-oncall", PolicyName="web-shells", PolicyDocument=document(
            allow("ssm:StartSession", instances, Condition={"StringEquals": {"ssm:resourceTag/team": "web"}}),
            allow("ssm:StartSession", f"arn:aws:ssm:{cloudlet.region}:{cloudlet.account_id}:document/"
                                      "SSM-SessionManagerRunShell"),
            allow(["ssm:TerminateSession", "ssm:ResumeSession"],
                  f"arn:aws:ssm:*:*:session/{unique}-oncall-*")))
        oncall = cloudlet.client("ssm", key)
        web, other = fleet.machines[1].instance_id, fleet.machines[0].instance_id
        session = wait_for(lambda: once_the_key_works(lambda: oncall.start_session(Target=web)), 10,
                           "the new key to work")
        assert session["SessionId"].startswith(f"{unique}-oncall-")
        code, status, message = denied(oncall.start_session, Target=other)
        assert (code, status) == ("AccessDeniedException", 400) and "ssm:StartSession" in message
        oncall.terminate_session(SessionId=session["SessionId"])
        someone_elses = fleet.ssm.start_session(Target=web)
        code, _, _ = denied(oncall.terminate_session, SessionId=someone_elses["SessionId"])
        assert code == "AccessDeniedException"
        fleet.ssm.terminate_session(SessionId=someone_elses["SessionId"])
    finally:
        cleanup.run()


def test_bad_session_requests_get_aws_errors(fleet: Fleet) -> None:
    ssm = fleet.ssm
    refused(ssm.start_session, "TargetNotConnected", Target="mi-0123456789abcdef0")
    refused(ssm.start_session, "InvalidDocument", Target=fleet.machines[0].instance_id, DocumentName="AWS-Nope")
    refused(ssm.start_session, "ValidationException", Target=fleet.machines[0].instance_id,
            DocumentName="AWS-StartPortForwardingSession", Parameters={"portNumber": ["99999"]})
    refused(ssm.resume_session, "DoesNotExistException", SessionId="root-0123456789abcdef0")
    refused(ssm.describe_sessions, "InvalidFilterKey", State="Active", Filters=[{"key": "Nope", "value": "x"}])
    assert ssm.terminate_session(SessionId="root-0123456789abcdef0")["SessionId"] == "root-0123456789abcdef0"


def _cli_env(cloudlet: CloudletProcess) -> dict[str, str]:
    """The AWS CLI's environment, with the virtualenv's ``session-manager-plugin`` on the PATH."""
    env = cloudlet.cli_env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_aws_cli_opens_a_shell_with_the_plugin(fleet: Fleet) -> None:
    cloudlet = fleet.cloudlet
    target = fleet.machines[0].instance_id
    out = subprocess.run([str(Path(sys.executable).parent / "aws"), "ssm", "start-session", "--target", target],
                         input="echo via-cli-$((40+2))\nexit\n", env=_cli_env(cloudlet), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "via-cli-42" in out.stdout and "Starting session with SessionId" in out.stderr, out
    session_id = re.search(r"SessionId: (\S+)", out.stderr).group(1)
    wait_for(lambda: _status(fleet.ssm, session_id, "History") == "Terminated", 15, "the session to end")


def test_cloudlet_ssh_ssm_opens_the_same_shell(fleet: Fleet) -> None:
    cloudlet = fleet.cloudlet
    out = subprocess.run([sys.executable, "-m", "controller.cli", "--data-dir", str(cloudlet.data_dir), "ssh", "--ssm",
                          "--profile", "cloudlet", fleet.machines[1].instance_id],
                         input="hostname; echo from-$((1+1))-cloudlet\n", env=_cli_env(cloudlet), capture_output=True,
                         text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "from-2-cloudlet" in out.stdout, out


def test_port_forwarding_reaches_a_port_on_the_machine(fleet: Fleet) -> None:
    """A TCP echo server on the machine (this host), reached through a local port the plugin opens."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        remote_port = server.getsockname()[1]

        def echo() -> None:
            while True:
                try:
                    connection, _ = server.accept()
                except OSError:
                    return
                with connection:
                    while data := connection.recv(65536):
                        connection.sendall(data.upper())

        threading.Thread(target=echo, daemon=True).start()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            local_port = probe.getsockname()[1]
        plugin = subprocess.Popen(
            [str(Path(sys.executable).parent / "aws"), "ssm", "start-session", "--target", fleet.machines[0].instance_id,
             "--document-name", "AWS-StartPortForwardingSession", "--parameters",
             json.dumps({"portNumber": [str(remote_port)], "localPortNumber": [str(local_port)]})],
            env=_cli_env(fleet.cloudlet), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        lines: list[str] = []

        def read_stdout() -> None:
            for line in plugin.stdout:
                lines.append(line)

        threading.Thread(target=read_stdout, daemon=True).start()
        try:
            wait_for(lambda: any("Waiting for connections" in line for line in lines), 20,
                     "the plugin to open the local port")
            assert any(f"Port {local_port} opened" in line for line in lines), lines
            for round_trip in range(2):  # the second connection rides a session of its own
                with socket.create_connection(("127.0.0.1", local_port), timeout=10) as client:
                    payload = f"forwarded bytes {round_trip} ".encode() * 5000
                    client.sendall(payload)
                    received = b""
                    while len(received) < len(payload):
                        chunk = client.recv(65536)
                        assert chunk, "the forwarded connection closed early"
                        received += chunk
                    assert received == payload.upper()
        finally:
            os.killpg(plugin.pid, signal.SIGINT)  # Ctrl-C reaches the CLI and its plugin, as in a terminal
            plugin.wait(timeout=15)
    documents = {item["DocumentName"] for item in fleet.ssm.describe_sessions(State="Active")["Sessions"]} | {
        item["DocumentName"] for item in fleet.ssm.describe_sessions(State="History")["Sessions"]}
    assert "AWS-StartPortForwardingSession" in documents

