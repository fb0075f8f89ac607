"""The console's browser shell on a real VM: a console session of the root user opens the shell websocket of
a private tiny-AMI instance (no key pair, no public address) and runs commands in the guest.

The websocket is driven with the ``websockets`` client exactly as the page's shell.js drives it (the console
session's cookie, the page's one-time ticket, binary keystrokes, a JSON resize); the page itself and the
browser's refusal are tests/console/test_console_shell.py's. The server pushes a throwaway key
(SendSSHPublicKey), opens the VPC's Instance Connect Endpoint tunnel to port 22 and logs in with paramiko, so
this covers the whole path; CloudTrail shows both calls as the console's. The cloud and its agent are
tests/e2e/test_instance_connect_vm.py's fixture (one boot for this module). Skipped like the other VM tests.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

import pytest
import requests
from websockets.sync.client import connect

from tests.e2e.test_instance_connect_vm import (  # noqa: F401 (cloud: its fixture)
    cloud,
    login,
    private_instance,
    throwaway_key,
)
from tests.support import REPO, CloudletProcess, wait_for

pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow]

PASSWORD = "Console-Shell-Pa55word!"
#: The end of a shell prompt (root's "# ", a user's "$ "), maybe followed by terminal escapes.
PROMPT = r"[#$] ?(\x1b\[[0-9;?]*[A-Za-z])*$"


def console_session(process: CloudletProcess) -> requests.Session:
    """The root user's console session, signed in through the sign-in form as a browser does."""
    subprocess.run([sys.executable, "-m", "controller.cli", "account", "root-password", "--data-dir",
                    str(process.data_dir), "--account", process.account_id], input=PASSWORD + "\n", text=True,
                   check=True, cwd=REPO, timeout=60, capture_output=True)
    http = requests.Session()
    form = http.get(f"{process.endpoint}/console/signin").text
    token = re.search(r'name="_csrf" value="([^"]+)"', form).group(1)
    signed_in = http.post(f"{process.endpoint}/console/signin", allow_redirects=False, data={
        "_csrf": token, "account": process.account_id, "user_name": "root", "password": PASSWORD})
    assert signed_in.status_code == 303, signed_in.text
    return http


def read_until(shell: Any, pattern: str, timeout: float) -> tuple[str, list[dict[str, Any]]]:
    """The terminal's text until ``pattern`` appears in it, and the control messages seen on the way."""
    text, controls, deadline = "", [], time.monotonic() + timeout
    while not re.search(pattern, text):
        message = shell.recv(timeout=max(0.1, deadline - time.monotonic()))
        if isinstance(message, str):
            controls.append(json.loads(message))
            assert "error" not in controls[-1], controls[-1]
        else:
            text += message.decode("utf-8", "replace")
    return text, controls


def test_a_console_session_runs_commands_in_a_private_instance(cloud: tuple[CloudletProcess, str]) -> None:  # noqa: F811
    process, _ = cloud
    ec2 = process.client("ec2")
    endpoint, described = private_instance(ec2, "10.83")
    instance_id = described["InstanceId"]
    wait_for(lambda: login(process, endpoint, described["PrivateIpAddress"], throwaway_key()) == "refused", 120,
             "the guest's SSH server answering through the endpoint")
    http = console_session(process)
    rows = http.get(f"{process.endpoint}/console/ec2/instances").text
    assert f'id="connect-{instance_id}"' in rows  # the instances list's Connect button
    page = http.get(f"{process.endpoint}/console/ec2/instances/{instance_id}/shell").text
    url, ticket = (re.search(rf'{name}="([^"]+)"', page).group(1) for name in ("data-url", "data-ticket"))
    assert 'value="root"' in page  # what the tiny AMI logs in as
    started = time.monotonic()
    cookie = f"cloudlet_console={http.cookies['cloudlet_console']}"
    with connect(f"{url}?ticket={ticket}", additional_headers={"Cookie": cookie}, open_timeout=10) as shell:
        shell.send(json.dumps({"resize": [100, 30]}))
        prompt, controls = read_until(shell, PROMPT, 40)
        shell.send(b"echo hello-$RANDOM; uname -n; stty size\r")
        output, _ = read_until(shell, r"\d+ 100\r?\n", 20)
        shell.send(b"exit\r")
    print(f"\nconsole shell: {time.monotonic() - started:.1f} s to a prompt and back\n{prompt}{output}")
    assert [c["status"].split(" ")[0] for c in controls] == ["Pushing", "Connecting"]
    lines = [line.strip() for line in output.splitlines()]
    assert any(re.fullmatch(r"hello-\d+", line) for line in lines), output
    hostname = described["PrivateDnsName"].split(".")[0]
    assert hostname in lines or instance_id in lines, output
    assert "30 100" in lines, output  # the page's size reached the guest's PTY
    events = process.client("cloudtrail").lookup_events(LookupAttributes=[
        {"AttributeKey": "EventSource", "AttributeValue": "ec2-instance-connect.amazonaws.com"}])["Events"]
    names = {json.loads(e["CloudTrailEvent"])["eventName"] for e in events}
    assert {"SendSSHPublicKey", "OpenTunnel"} <= names
