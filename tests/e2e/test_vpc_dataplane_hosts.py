"""One VPC subnet across two agents: registered underlay addresses become VXLAN endpoints.

``cloudlet up``'s agent is host A; a second agent process on the same machine, with its own state dir and
name prefix, is host B. Each has an underlay namespace (198.18.0.0/24, a benchmark range, never the
machine's own network) and registers its underlay address; the controller's documents then carry each
other's VTEP and remote ports, and a namespace instance on A talks to one on B through the subnet's VXLAN,
with security groups (including a group referenced by a rule) enforced on each side.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.network import netns
from tests.agent import dataplane_lab as lab
from tests.agent.dataplane_lab import Probe
from tests.e2e.dataplane_helpers import addresses_in, expect, wait_until
from tests.e2e.helpers import teardown_vpc
from tests.e2e.hosts_lab import UNDERLAY, underlay_pair
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import REPO, CloudletProcess

require(missing_root() + missing_tools("nft", "dnsmasq", "nsenter", "ping", "curl", "busybox"),
        "VPC dataplane tests")
pytestmark = pytest.mark.root

RUN = uuid.uuid4().hex[:5]
PREFIX = {"a": f"cl-{RUN}a-", "b": f"cl-{RUN}b-"}
ADDRESS = {"a": "10.88.1.10", "b": "10.88.1.11"}


@dataclass
class Hosts:
    cloudlet: CloudletProcess
    agent_b: subprocess.Popen[str] | None = None
    state_b: Path = Path()
    namespaces: dict[str, lab.Instance] = field(default_factory=dict)
    vpc_id: str = ""
    enis: dict[str, str] = field(default_factory=dict)

    def ns(self, name: str) -> str:
        return self.namespaces[name].netns

    def host_id_file(self, host: str) -> Path:
        return (self.cloudlet.data_dir / "agent" if host == "a" else self.state_b) / "host-id"

    def host_id(self, host: str) -> str:
        return self.host_id_file(host).read_text().strip()

    def registered(self) -> dict[str, Any]:
        token = (self.cloudlet.data_dir / "agent.token").read_text().strip()
        request = urllib.request.Request(self.cloudlet.endpoint + "/_cloudlet/agent/v1/hosts",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return {h["host_id"]: h for h in json.load(response)["hosts"]}

    def netns_cli(self, *args: str) -> None:
        out = subprocess.run([sys.executable, "-m", "controller.cli", "netns", "--data-dir",
                              str(self.cloudlet.data_dir), *args], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    base = tmp_path_factory.mktemp("vpc-hosts")
    env = {"CLOUDLET_AGENT_NAME_PREFIX": PREFIX["a"], "CLOUDLET_AGENT_UNDERLAY_IP": UNDERLAY["a"],
           "CLOUDLET_AGENT_UNDERLAY_NETNS": f"cl-{RUN}-ua"}
    h = Hosts(CloudletProcess(base / "data", agent=True, extra_env=env), state_b=base / "agent-b")
    try:
        h.namespaces.update({f"u{host}": namespace for host, namespace in underlay_pair(RUN).items()})
        for name in ("ia", "ib"):
            h.namespaces[name] = lab.create_instance(f"cl-{RUN}-{name}")
        h.cloudlet.start()
        h.agent_b = subprocess.Popen(
            [sys.executable, "-m", "agent.main", "--controller", h.cloudlet.endpoint, "--token-file",
             str(h.cloudlet.data_dir / "agent.token"), "--zone", "home-1a", "--state-dir", str(h.state_b),
             "--name-prefix", PREFIX["b"], "--underlay-ip", UNDERLAY["b"], "--underlay-netns", h.ns("ub")],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(lambda: all(h.host_id_file(x).exists() and h.host_id(x) in h.registered() for x in ("a", "b")),
                   20, "both agents to register")
        yield h
    finally:
        try:
            if h.vpc_id:
                for eni in h.enis.values():
                    subprocess.run([sys.executable, "-m", "controller.cli", "netns", "--data-dir",
                                    str(h.cloudlet.data_dir), "detach", eni], cwd=REPO, capture_output=True)
                teardown_vpc(h.cloudlet.client("ec2"), h.vpc_id)
        finally:
            if h.agent_b is not None:
                os.killpg(h.agent_b.pid, signal.SIGTERM)
                h.agent_b.wait(timeout=20)
            h.cloudlet.stop()
            for host, state_dir in (("a", h.cloudlet.data_dir / "agent"), ("b", h.state_b)):
                subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix", PREFIX[host],
                                "--state-dir", str(state_dir)], cwd=REPO, capture_output=True, timeout=60)
            for instance in h.namespaces.values():
                lab.destroy(instance)
            leftovers = [name for name in netns.list_names() if name.startswith(f"cl-{RUN}")]
            assert not leftovers, f"namespaces left behind: {leftovers}"


def test_a_subnet_spans_two_agents_over_vxlan(hosts: Hosts) -> None:
    h = hosts
    registered = h.registered()
    assert {registered[h.host_id(x)]["underlay_ip"] for x in ("a", "b")} == set(UNDERLAY.values())
    assert "vpc-dataplane" in registered[h.host_id("b")]["capabilities"]
    ec2 = h.cloudlet.client("ec2")
    h.vpc_id = ec2.create_vpc(CidrBlock="10.88.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=h.vpc_id, CidrBlock="10.88.1.0/24", AvailabilityZone="home-1a")["Subnet"]
    for host in ("a", "b"):
        h.enis[host] = ec2.create_network_interface(SubnetId=subnet["SubnetId"], PrivateIpAddress=ADDRESS[host])[
            "NetworkInterface"]["NetworkInterfaceId"]
        h.netns_cli("attach", h.enis[host], h.ns(f"i{host}"), "--host", h.host_id(host))
    for host in ("a", "b"):
        namespace = h.ns(f"i{host}")
        wait_until(lambda ns=namespace, ip=ADDRESS[host]: f"{ip}/24" in addresses_in(ns), 10, f"{namespace} up")
        lab.start_server(h.namespaces[f"i{host}"])
    a, b = h.ns("ia"), h.ns("ib")
    # The default group admits its own members: both instances are, each on its own host.
    expect([Probe("A -> B TCP 80 over VXLAN", a, "tcp", ADDRESS["b"], 80, b),
            Probe("B -> A ICMP over VXLAN", b, "icmp", ADDRESS["a"], expect="pong"),
            Probe("B -> A TCP 22 (same group)", b, "tcp", ADDRESS["a"], 22, a)])

    # B moves to a group that admits only port 80 from the default group: membership is resolved across hosts.
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [h.vpc_id]},
                                                    {"Name": "group-name", "Values": ["default"]}])[
        "SecurityGroups"][0]["GroupId"]
    web = ec2.create_security_group(GroupName=f"{RUN}-web", Description="web", VpcId=h.vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": default}]}])
    ec2.modify_network_interface_attribute(NetworkInterfaceId=h.enis["b"], Groups=[web])
    wait_until(lambda: not lab.run_probes([Probe("", b, "tcp", ADDRESS["a"], 22)], deny_timeout=0.2)[
        Probe("", b, "tcp", ADDRESS["a"], 22)], 5, "B to leave the default group on host A's side")
    expect([Probe("A -> B TCP 80 (A is in the referenced group)", a, "tcp", ADDRESS["b"], 80, b),
            Probe("A -> B TCP 22 closed by B's new group", a, "tcp", ADDRESS["b"], 22),
            Probe("B -> A TCP 22: B is no longer a member", b, "tcp", ADDRESS["a"], 22)])
