"""The fleet the Systems Manager tests share: hybrid machines registered with an activation, each an agent process
(``images/ssm-agent/cloudlet-ssm-agent``) on this host with a state directory of its own, talking to the
controller's endpoint: what the agent does on an on-premises machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import botocore.exceptions

from tests.e2e.helpers import Client, allow, document
from tests.support import REPO, CloudletProcess, wait_for

T = TypeVar("T")
AGENT = REPO / "images" / "ssm-agent" / "cloudlet-ssm-agent"
CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
#: Drives a Session Manager shell with the npm ``ssm-session`` library (AWS's AgentMessage protocol).
SHELL_CLIENT = REPO / "tests" / "node" / "ssm_shell.js"


@dataclass
class Machine:
    instance_id: str
    state_dir: Path
    process: subprocess.Popen[str]


@dataclass
class Fleet:
    cloudlet: CloudletProcess
    ssm: Client
    role: str
    activation_id: str
    code: str
    machines: list[Machine] = field(default_factory=list)

    def register(self, state_dir: Path, code: str | None = None,
                 activation_id: str | None = None) -> subprocess.CompletedProcess[str]:
        return agent("register", "--code", code or self.code, "--id", activation_id or self.activation_id,
                     "--region", self.cloudlet.region, "--endpoint", self.cloudlet.endpoint,
                     "--state-dir", str(state_dir))


def once_the_key_works(call: Callable[[], T]) -> T | None:
    """``call()``'s answer, or None while a new access key is not yet known (its first use may race its write)."""
    try:
        return call()
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "InvalidClientTokenId":
            return None
        raise


def drive(session: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Run the ``ssm-session`` node client against a StartSession/ResumeSession answer; its JSON report."""
    out = subprocess.run(["node", str(SHELL_CLIENT), session["StreamUrl"], session["TokenValue"], json.dumps(steps)],
                         capture_output=True, text=True, timeout=150)
    assert out.stdout, out.stderr
    return json.loads(out.stdout)


def agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(AGENT), *args], capture_output=True, text=True, timeout=60)


def wait_command(ssm: Client, command_id: str, timeout: float = 60) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        command = ssm.list_commands(CommandId=command_id)["Commands"][0]
        return command if command["Status"] not in ("Pending", "InProgress", "Cancelling") else None
    return wait_for(finished, timeout, f"command {command_id} to finish")


@contextmanager
def running_fleet(cloudlet: CloudletProcess, state_root: Path, size: int = 2, *,
                  role_statements: tuple[dict[str, Any], ...] = (),
                  agent_env: dict[str, str] | None = None) -> Iterator[Fleet]:
    """``size`` registered machines with running agents, all Online; the last is tagged ``team=web``.

    ``role_statements`` add to what the machines' role may do (session logging needs S3 and Logs), and
    ``agent_env`` to the agents' environment. The machines are deregistered at the end, so a later fleet in
    the same cloud sees only its own (tags included)."""
    iam, ssm = cloudlet.client("iam"), cloudlet.client("ssm")
    role = f"ssm-hybrid-{int(time.time() * 1000) % 10**8}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.attach_role_policy(RoleName=role, PolicyArn=CORE_POLICY)
    # The agents upload Run Command output to S3 with the machine's role, as AWS's agent does.
    iam.put_role_policy(RoleName=role, PolicyName="output",
                        PolicyDocument=document(allow("s3:PutObject"), *role_statements))
    created = ssm.create_activation(IamRole=role, RegistrationLimit=size, DefaultInstanceName="edge",
                                    Description="lab machines")
    fleet = Fleet(cloudlet, ssm, role, created["ActivationId"], created["ActivationCode"])
    try:
        for index in range(size):
            state_dir = state_root / f"machine{index}"
            registered = fleet.register(state_dir)
            assert registered.returncode == 0, registered.stderr
            instance_id = json.loads((state_dir / "registration.json").read_text())["InstanceId"]
            # A home of its own: session shells read its (empty) profile, not this host's root's.
            home = state_dir / "home"
            home.mkdir()
            process = subprocess.Popen([sys.executable, str(AGENT), "run", "--state-dir", str(state_dir),
                                        "--ping-seconds", "5"], stdout=subprocess.DEVNULL,
                                       stderr=(state_dir / "agent.log").open("w"), text=True,
                                       env={**os.environ, **(agent_env or {}), "HOME": str(home)})
            fleet.machines.append(Machine(instance_id, state_dir, process))
        ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=fleet.machines[-1].instance_id,
                                 Tags=[{"Key": "team", "Value": "web"}])
        ids = {machine.instance_id for machine in fleet.machines}
        wait_for(lambda: {item["InstanceId"] for item in ssm.describe_instance_information()
                          ["InstanceInformationList"] if item["PingStatus"] == "Online"
                          and item.get("AgentVersion")} >= ids, 30, "the agents to report Online")
        yield fleet
    finally:
        for machine in fleet.machines:
            machine.process.terminate()
            machine.process.wait(timeout=10)
            ssm.deregister_managed_instance(InstanceId=machine.instance_id)
        iam.detach_role_policy(RoleName=role, PolicyArn=CORE_POLICY)
        iam.delete_role_policy(RoleName=role, PolicyName="output")
        iam.delete_role(RoleName=role)
