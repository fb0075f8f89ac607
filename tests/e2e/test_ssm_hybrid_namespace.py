"""A hybrid machine that is not an instance, on a network of its own: it registers with an activation and runs
Run Command's work, reaching the API only the way an on-premises machine reaches AWS, by its public names.

One ``cloudlet up`` with its agent; the machine is a network namespace with its own process (Cloudlet's SSM agent),
plugged into a VPC subnet with an Elastic IP only to give it a way to the lab Internet: Cloudlet knows nothing of
it as an instance. It is given the region and the API's CA and nothing else: the agent calls
``https://ssm.home-1.amazonaws.com`` and ``https://ec2messages.home-1.amazonaws.com``, which the resolver answers
with the API relay, so every call it makes arrives from its public address. It listens on no port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.network import naming, netns
from tests.e2e.dataplane_helpers import addresses_in, wait_until
from tests.e2e.namespace_lab import NamespaceLab, running
from tests.e2e.ssm_fleet import AGENT, CORE_POLICY, wait_command
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import CloudletProcess

require(missing_root() + missing_tools("nft", "dnsmasq", "nsenter", "openssl"), "SSM hybrid namespace tests")
pytestmark = pytest.mark.root

RUN = uuid.uuid4().hex[:6]
PREFIX = f"cs-{RUN}-"
VPC_CIDR, PUBLIC_CIDR, MACHINE_IP = "10.79.0.0/16", "10.79.1.0/24", "10.79.1.10"
API_ADDRESS = "203.0.113.2"
VPC_RESOLVER = "10.79.0.2"


@dataclass
class Edge(NamespaceLab):
    eip: str = ""
    instance_id: str = ""
    state_dir: str = ""


def _network(e: Edge) -> None:
    e.eip = e.public_subnet(VPC_CIDR, PUBLIC_CIDR, MACHINE_IP)
    e.plug_instance("edge", MACHINE_IP)
    e.use_resolver(f"nameserver {VPC_RESOLVER}\n", hosts="127.0.0.1 localhost\n")
    internet = naming.internet_netns(PREFIX)
    wait_until(lambda: netns.exists(internet) and f"{API_ADDRESS}/32" in addresses_in(internet), 15,
               "the relay's address in the Internet namespace")
    wait_until(lambda: (e.cloudlet.data_dir / "api-ca.pem").exists(), 15, "the agent to fetch the relay's certificate")


def build(e: Edge) -> None:
    _network(e)
    iam = e.cloudlet.client("iam")
    role = f"edge-{RUN}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.attach_role_policy(RoleName=role, PolicyArn=CORE_POLICY)
    e.cleanup.append(lambda: iam.delete_role(RoleName=role))
    e.cleanup.append(lambda: iam.detach_role_policy(RoleName=role, PolicyArn=CORE_POLICY))
    # A user on the edge machine itself, as an instance profile's session would be minted.
    e.role_session(f"edge-user-{RUN}", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ssm:StartSession", "ssm:TerminateSession"], "Resource": "*"}]})
    ssm = e.cloudlet.client("ssm")
    activation = ssm.create_activation(IamRole=role, DefaultInstanceName="edge-box")
    e.cleanup.append(lambda: ssm.delete_activation(ActivationId=activation["ActivationId"]))
    e.state_dir = f"/tmp/{PREFIX}ssm-agent"
    e.cleanup.append(lambda: subprocess.run(["rm", "-rf", e.state_dir], check=False))
    ca_bundle = str(e.cloudlet.data_dir / "api-ca.pem")
    registered = e.in_instance(sys.executable, str(AGENT), "register", "--code", activation["ActivationCode"],
                               "--id", activation["ActivationId"], "--region", "home-1", "--ca-bundle", ca_bundle,
                               "--state-dir", e.state_dir)
    assert registered.returncode == 0, registered.stderr
    e.instance_id = registered.stdout.strip().split()[-1]
    assert e.instance_id.startswith("mi-"), registered.stdout
    assert e.instance is not None
    e.processes.append(subprocess.Popen(
        ["ip", "netns", "exec", e.instance.netns, sys.executable, str(AGENT), "run", "--state-dir", e.state_dir,
         "--ca-bundle", ca_bundle, "--ping-seconds", "5"],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": e.state_dir}, stdout=subprocess.DEVNULL,
        stderr=open(f"{e.state_dir}/agent.log", "w")))  # noqa: SIM115 (the process owns it until killed)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    data_dir = tmp_path_factory.mktemp("ssm-edge") / "data"
    cloud = CloudletProcess(data_dir, agent=True, extra_env={"CLOUDLET_AGENT_NAME_PREFIX": PREFIX})
    with running(Edge(cloud, PREFIX), build) as e:
        yield e


def _online(ssm: Any, instance_id: str) -> dict[str, Any] | None:
    found = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
    items = found["InstanceInformationList"]
    return items[0] if items and items[0]["PingStatus"] == "Online" and items[0].get("AgentVersion") else None


def test_the_machine_registers_and_runs_commands_through_the_public_names(edge: Edge) -> None:
    ssm = edge.cloudlet.client("ssm")
    deadline = time.monotonic() + 40
    while (info := _online(ssm, edge.instance_id)) is None:
        assert time.monotonic() < deadline, Path(edge.state_dir, "agent.log").read_text()[-2000:]
        time.sleep(0.5)
    assert (info["ResourceType"], info["Name"], info["IPAddress"]) == ("ManagedInstance", "edge-box", MACHINE_IP)
    sent = ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[edge.instance_id],
                            Parameters={"commands": ["ip -4 -o addr show | grep -c 10.79.1.10",
                                                     "getent ahostsv4 ec2messages.home-1.amazonaws.com | head -1"]}
                            )["Command"]
    assert wait_command(ssm, sent["CommandId"])["Status"] == "Success"
    output = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=edge.instance_id)
    lines = output["StandardOutputContent"].splitlines()
    assert lines[0] == "1" and lines[1].startswith(API_ADDRESS), output
    # The machine's calls came from its public address: the trail says so.
    trail = edge.cloudlet.client("cloudtrail").lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "UpdateInstanceInformation"}])["Events"]
    sources = {json.loads(event["CloudTrailEvent"])["sourceIPAddress"] for event in trail}
    assert edge.eip in sources, sources


def test_a_session_manager_shell_reaches_the_machine_through_the_relay(edge: Edge) -> None:
    """The agent opens the data channel at ``wss://ssmmessages.home-1.amazonaws.com`` (the relay carries the
    upgraded connection to the controller's listener); the user's ``aws ssm start-session`` meets it there."""
    env = edge.cloudlet.cli_env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    out = subprocess.run([str(Path(sys.executable).parent / "aws"), "ssm", "start-session", "--target",
                          edge.instance_id], input="ip -4 -o addr show | grep -c 10.79.1.1[0]\nexit\n", env=env,
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    assert "\n1\n" in out.stdout, out.stdout  # text mode: the terminal's \r\n reads as \n
    log = Path(edge.state_dir, "agent.log").read_text()
    assert "via ssmmessages.home-1.amazonaws.com" in log, log[-2000:]


START_FROM_INSIDE = """
import json, sys, boto3
ssm = boto3.session.Session(region_name="home-1").client("ssm")
started = ssm.start_session(Target=sys.argv[1])
ssm.terminate_session(SessionId=started["SessionId"])
print(json.dumps({"url": started["StreamUrl"], "endpoint": ssm.meta.endpoint_url}))
"""


def test_a_session_started_from_the_edge_names_its_data_channel_by_aws_name(edge: Edge) -> None:
    """A user who reached StartSession through the relay gets the data channel at ``ssmmessages``, which they
    can reach the same way (the listener's own address is the controller host's)."""
    done = edge.in_instance(sys.executable, "-c", START_FROM_INSIDE, edge.instance_id)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    assert seen["endpoint"] == "https://ssm.home-1.amazonaws.com"
    assert seen["url"].startswith("wss://ssmmessages.home-1.amazonaws.com/v1/data-channel/"), seen
