"""One VPC across simulated hosts: registered underlay addresses become VXLAN endpoints.

``cloudlet up``'s agent is host A, the designated gateway host (``--gateway``); a second agent process on
the same machine, with its own state dir and name prefix, is host B (``tests/e2e/hosts_lab.py``). Each
has an underlay namespace on a lab switch (198.18.0.0/24, a benchmark range, never the machine's own
network) and registers its underlay address; the controller's documents then carry each other's VTEP and
remote ports. In file order: namespace instances on A and B talk through the subnet's VXLAN with security
groups (including a group referenced by a rule) enforced on each side; a NAT gateway runs on gateway host A
only and B's instance reaches the lab Internet (a namespace on A's lab segment) through it; then B's agent
is SIGKILLed: B goes ``down``, its instance reads ``impaired`` and is not terminated, nothing new lands on
B, both dataplanes keep forwarding and A's agent keeps applying changes; B's restarted agent re-registers and
converges to exactly what it had built.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from agent.contract.hosts import CAPABILITY_GATEWAY
from agent.network import naming, netns
from tests.agent import dataplane_lab as lab
from tests.agent.compute_lab import ensure_libvirtd
from tests.agent.dataplane_lab import Probe
from tests.e2e.dataplane_helpers import (
    WHOAMI,
    addresses_in,
    assert_same,
    dataplane_snapshot,
    expect,
    run_in,
    wait_until,
)
from tests.e2e.eni_lab import tiny_image
from tests.e2e.helpers import teardown_vpc, terminate_all_instances, wait_for_nat
from tests.e2e.hosts_lab import SimulatedHost, build_underlay, host_command, registered_hosts, remove_underlay
from tests.prerequisites import missing_for_vms, missing_root, missing_tools, require
from tests.support import REPO, CloudletProcess

require(missing_root() + missing_tools("nft", "dnsmasq", "nsenter", "ping", "curl", "busybox"),
        "VPC dataplane tests")
pytestmark = pytest.mark.root

RUN = uuid.uuid4().hex[:5]
PREFIX = {"a": f"cl-{RUN}a-", "b": f"cl-{RUN}b-"}
UNDERLAY = {"a": "198.18.0.1", "b": "198.18.0.2"}
ADDRESS = {"a": "10.88.1.10", "b": "10.88.1.11"}
WORLD_IP, WHOAMI_PORT = "203.0.113.10", 9000
#: Short, so a dead agent is noticed within the test; agents heartbeat three times per timeout.
HEARTBEAT_TIMEOUT = 6.0


@dataclass
class Hosts:
    cloudlet: CloudletProcess
    a: SimulatedHost
    b: SimulatedHost
    namespaces: dict[str, lab.Instance] = field(default_factory=dict)
    vpc_id: str = ""
    subnet_id: str = ""
    web_group: str = ""
    nat_id: str = ""
    enis: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def ns(self, name: str) -> str:
        return self.namespaces[name].netns

    def host(self, name: str) -> SimulatedHost:
        return {"a": self.a, "b": self.b}[name]

    def registered(self) -> dict[str, Any]:
        return registered_hosts(self.cloudlet)

    def state(self, name: str) -> str:
        return self.registered().get(self.host(name).host_id(), {}).get("state", "")

    def netns_cli(self, *args: str) -> None:
        out = subprocess.run([sys.executable, "-m", "controller.cli", "netns", "--data-dir",
                              str(self.cloudlet.data_dir), *args], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr

    def managed(self, name: str) -> list[str]:
        """The namespaces host ``name``'s agent built."""
        return [n for n in netns.list_names() if naming.is_managed_netns(PREFIX[name], n)]


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    base = tmp_path_factory.mktemp("vpc-hosts")
    data = base / "data"
    data.mkdir()
    (data / "cloudlet.json").write_text(json.dumps({"host_heartbeat_timeout_seconds": HEARTBEAT_TIMEOUT,
                                                    "nat_gateway_transition_seconds": 0}))
    a = SimulatedHost("a", PREFIX["a"], data / "agent", UNDERLAY["a"], f"cl-{RUN}-ua")
    b = SimulatedHost("b", PREFIX["b"], base / "agent-b", UNDERLAY["b"], f"cl-{RUN}-ub")
    h = Hosts(CloudletProcess(data, agent=True, extra_env={**a.agent_env(), "CLOUDLET_AGENT_GATEWAY": "1"}), a, b)
    switch = f"cl-{RUN}-sw"
    try:
        build_underlay(switch, [a, b])
        for name in ("ia", "ib", "world"):
            h.namespaces[name] = lab.create_instance(f"cl-{RUN}-{name}")
        h.cloudlet.start()
        b.start(h.cloudlet)
        wait_until(lambda: all(x.host_id() in h.registered() for x in (a, b)), 20, "both agents to register")
        yield h
    finally:
        try:
            if h.cloudlet.proc is not None:
                terminate_all_instances(h.cloudlet.client("ec2"))
            if h.vpc_id:
                for eni in h.enis.values():
                    subprocess.run([sys.executable, "-m", "controller.cli", "netns", "--data-dir",
                                    str(h.cloudlet.data_dir), "detach", eni], cwd=REPO, capture_output=True)
                teardown_vpc(h.cloudlet.client("ec2"), h.vpc_id)
        finally:
            for process in h.processes:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            b.stop()
            h.cloudlet.stop()
            for host in (a, b):
                host.teardown()
            for instance in h.namespaces.values():
                lab.destroy(instance)
            remove_underlay(switch, [a, b])
            leftovers = [name for name in netns.list_names() if name.startswith(f"cl-{RUN}")]
            assert not leftovers, f"namespaces left behind: {leftovers}"


def test_a_subnet_spans_two_agents_over_vxlan(hosts: Hosts) -> None:
    h = hosts
    registered = h.registered()
    assert {registered[h.host(x).host_id()]["underlay_ip"] for x in ("a", "b")} == set(UNDERLAY.values())
    assert "vpc-dataplane" in registered[h.b.host_id()]["capabilities"]
    ec2 = h.cloudlet.client("ec2")
    h.vpc_id = ec2.create_vpc(CidrBlock="10.88.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=h.vpc_id, CidrBlock="10.88.1.0/24", AvailabilityZone="home-1a")["Subnet"]
    h.subnet_id = subnet["SubnetId"]
    for host in ("a", "b"):
        h.enis[host] = ec2.create_network_interface(SubnetId=subnet["SubnetId"], PrivateIpAddress=ADDRESS[host])[
            "NetworkInterface"]["NetworkInterfaceId"]
        h.netns_cli("attach", h.enis[host], h.ns(f"i{host}"), "--host", h.host(host).host_id())
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
    web = h.web_group = ec2.create_security_group(GroupName=f"{RUN}-web", Description="web",
                                                  VpcId=h.vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": default}]}])
    ec2.modify_network_interface_attribute(NetworkInterfaceId=h.enis["b"], Groups=[web])
    wait_until(lambda: not lab.run_probes([Probe("", b, "tcp", ADDRESS["a"], 22)], deny_timeout=0.2)[
        Probe("", b, "tcp", ADDRESS["a"], 22)], 5, "B to leave the default group on host A's side")
    expect([Probe("A -> B TCP 80 (A is in the referenced group)", a, "tcp", ADDRESS["b"], 80, b),
            Probe("A -> B TCP 22 closed by B's new group", a, "tcp", ADDRESS["b"], 22),
            Probe("B -> A TCP 22: B is no longer a member", b, "tcp", ADDRESS["a"], 22)])


def test_a_nat_gateway_runs_on_the_gateway_host_for_instances_on_every_host(hosts: Hosts) -> None:
    h = hosts
    registered = h.registered()
    assert CAPABILITY_GATEWAY in registered[h.a.host_id()]["capabilities"]
    assert CAPABILITY_GATEWAY not in registered[h.b.host_id()]["capabilities"]
    ec2 = h.cloudlet.client("ec2")
    public = ec2.create_subnet(VpcId=h.vpc_id, CidrBlock="10.88.0.0/24", AvailabilityZone="home-1a")["Subnet"][
        "SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=h.vpc_id)
    public_table = ec2.create_route_table(VpcId=h.vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_table, SubnetId=public)
    allocation = ec2.allocate_address(Domain="vpc")
    h.nat_id = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation["AllocationId"])["NatGateway"][
        "NatGatewayId"]
    private_table = ec2.create_route_table(VpcId=h.vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=h.nat_id)
    ec2.associate_route_table(RouteTableId=private_table, SubnetId=h.subnet_id)
    assert wait_for_nat(ec2, h.nat_id, "available")["State"] == "available"

    # The NAT gateway's namespace is built on gateway host A, and only there.
    wait_until(lambda: netns.exists(naming.nat_netns(PREFIX["a"], h.nat_id)), 15, "the NAT gateway on host A")
    assert not netns.exists(naming.nat_netns(PREFIX["b"], h.nat_id))
    # "The Internet": a namespace on host A's lab segment. B's own lab segment has nobody on it, so an answer
    # proves that B's traffic went over the public subnet's VXLAN to the NAT gateway on A.
    internet = naming.internet_netns(PREFIX["a"])
    wait_until(lambda: netns.exists(internet) and naming.INTERNET_BRIDGE in addresses_in(internet), 10,
               "host A's lab Internet segment")
    lab.plug_internet_host(internet, h.namespaces["world"], f"w{RUN}")
    lab.configure(h.namespaces["world"], WORLD_IP, 24, "203.0.113.1")
    lab.start_server(h.namespaces["world"])
    h.processes.append(run_in(h.ns("world"), WHOAMI, str(WHOAMI_PORT)))
    with contextlib.suppress(AssertionError):  # both agents apply the new route tables in their own time
        wait_until(lambda: not lab.failures(lab.run_probes(internet_probes(h))), 15, "the way out", interval=0.5)
    expect(internet_probes(h))


def internet_probes(h: Hosts) -> list[Probe]:
    """Both hosts' instances out through the NAT gateway on A, seen from the Internet as its EIP."""
    eip = h.cloudlet.client("ec2").describe_nat_gateways(NatGatewayIds=[h.nat_id])["NatGateways"][0][
        "NatGatewayAddresses"][0]["PublicIp"]
    world = h.ns("world")
    return [Probe("B -> Internet through the NAT gateway on A", h.ns("ib"), "tcp", WORLD_IP, 80, world),
            Probe("the Internet sees B as the NAT gateway's EIP", h.ns("ib"), "tcp", WORLD_IP, WHOAMI_PORT, eip),
            Probe("A -> Internet through the NAT gateway", h.ns("ia"), "tcp", WORLD_IP, 80, world),
            Probe("no way in through the NAT gateway", world, "tcp", eip, 80)]


@pytest.mark.vm
@pytest.mark.slow
def test_a_killed_agent_marks_its_host_down_and_its_instances_impaired_never_terminated(hosts: Hosts) -> None:
    missing = missing_for_vms()
    if missing:
        pytest.skip(f"an instance on host B needs {', '.join(missing)}")
    h = hosts
    ec2 = h.cloudlet.client("ec2")
    ensure_libvirtd()
    wait_until(lambda: h.registered()[h.b.host_id()]["hypervisor"] in ("kvm", "qemu"), 90,
               "host B's compute to find a hypervisor", interval=0.5)
    launch = {"ImageId": tiny_image(ec2), "InstanceType": "t3.nano", "MinCount": 1, "MaxCount": 1,
              "SubnetId": h.subnet_id, "SecurityGroupIds": [h.web_group]}
    # B is the only schedulable host while this instance is placed: the normal RunInstances path puts it there.
    host_command(h.cloudlet, "drain", h.a.host_id())
    try:
        instance_id = ec2.run_instances(**launch)["Instances"][0]["InstanceId"]
    finally:
        host_command(h.cloudlet, "undrain", h.a.host_id())
    assert h.cloudlet.query_state("SELECT host_id FROM ec2_instances WHERE instance_id = ?", (instance_id,)) == [
        (h.b.host_id(),)]
    wait_until(lambda: instance_state(ec2, instance_id) == "running", 120, "the instance on B to run", interval=0.5)
    assert system_status(ec2, instance_id) == "ok"
    built_on_b = dataplane_snapshot(h.managed("b"))

    old_pid = h.b.kill()
    seconds = wait_until(lambda: h.state("b") == "down", HEARTBEAT_TIMEOUT * 3, "host B to be marked down")
    print(f"host B marked down {seconds:.1f} s after its agent was killed (timeout {HEARTBEAT_TIMEOUT:g} s)")
    assert h.state("a") == "up"
    assert system_status(ec2, instance_id) == "impaired"
    assert instance_state(ec2, instance_id) == "running"
    # Nothing new lands on B: with A drained, B (down) is all that is left, and the launch is refused.
    host_command(h.cloudlet, "drain", h.a.host_id())
    try:
        with pytest.raises(ClientError) as refused:
            ec2.run_instances(**launch)
    finally:
        host_command(h.cloudlet, "undrain", h.a.host_id())
    assert refused.value.response["Error"]["Code"] == "InsufficientInstanceCapacity"
    # B's dataplane, programmed before the kill, keeps forwarding with no agent; so does A's.
    expect([Probe("A -> B TCP 80 over VXLAN, B's agent dead", h.ns("ia"), "tcp", ADDRESS["b"], 80, h.ns("ib")),
            Probe("B -> A TCP 8080: closed until A's agent opens it", h.ns("ib"), "tcp", ADDRESS["a"], 8080),
            *internet_probes(h)])
    # A's agent keeps applying changes: A's instance opens 8080 to anyone, and B's instance gets in.
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [h.vpc_id]},
                                                    {"Name": "group-name", "Values": ["default"]}])[
        "SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=default, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": ADDRESS["b"] + "/32"}]}])
    opened = Probe("B -> A TCP 8080 opened on A while B's agent is dead", h.ns("ib"), "tcp", ADDRESS["a"], 8080,
                   h.ns("ia"))
    wait_until(lambda: lab.run_probes([opened])[opened] == opened.expect, 10, "A's agent to open 8080")

    h.b.start(h.cloudlet)
    status = h.b.state_dir / "status.json"
    wait_until(lambda: h.state("b") == "up" and json.loads(status.read_text()).get("pid") not in (None, old_pid)
               and {"network", "instances"} <= set(json.loads(status.read_text()).get("applied", {})), 60,
               "host B's new agent to register and converge", interval=0.2)
    assert system_status(ec2, instance_id) == "ok"
    assert instance_state(ec2, instance_id) == "running"
    # Re-applying the same documents changes nothing: B's namespaces are exactly what the old agent built.
    with contextlib.suppress(AssertionError):
        wait_until(lambda: dataplane_snapshot(h.managed("b")) == built_on_b, 10, "B's dataplane to settle")
    assert_same(built_on_b, dataplane_snapshot(h.managed("b")))
    expect([opened, *internet_probes(h)])


def instance_state(ec2: Any, instance_id: str) -> str:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


def system_status(ec2: Any, instance_id: str) -> str:
    [status] = ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"]
    return status["SystemStatus"]["Status"]
