"""Issue 5's "Done when", end to end: the AWS CLI builds a VPC, ``cloudlet up``'s agent makes it real.

One ``cloudlet up`` WITH its agent (as root), a name prefix of its own (``cl-<run>-``) so nothing else on
the machine is touched. The AWS CLI creates a VPC with a public and a private subnet, an internet gateway,
a NAT gateway with an Elastic IP, route tables, security groups and a network ACL; two namespace instances
are plugged in with ``cloudlet netns attach``; a namespace on the lab Internet's segment stands for the
rest of the world (203.0.113.10). Nothing routes to the machine's real network (192.0.2.0/24 is its own).

The tests run in file order on one topology: reachability through the NAT gateway and the EIP, a security
group change enforced within a second, wrong-order deletes refused with the dataplane unchanged, the agent
SIGKILLed and restarted (and ``cloudlet up`` restarted) with every rule still there, then the teardown in
the right order, after which the agent has removed the VPC from the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.network import naming, netns
from tests.agent import dataplane_lab as lab
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
from tests.e2e.helpers import teardown_vpc, wait_for_nat
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import REPO, CloudletProcess

require(missing_root() + missing_tools("nft", "dnsmasq", "nsenter", "ping", "curl", "busybox"),
        "VPC dataplane tests")
pytestmark = pytest.mark.root

RUN = uuid.uuid4().hex[:6]
PREFIX = f"cl-{RUN}-"
VPC_CIDR, PUBLIC_CIDR, PRIVATE_CIDR = "10.77.0.0/16", "10.77.1.0/24", "10.77.2.0/24"
PUBLIC_IP, PRIVATE_IP = "10.77.1.10", "10.77.2.10"
WORLD_IP = "203.0.113.10"
WHOAMI_PORT = 9000
DHCP_IP = "10.77.2.20"
#: udhcpc's event script: print what the lease says instead of configuring anything.
UDHCPC_SCRIPT = '#!/bin/sh\n[ "$1" = bound ] && echo "lease $ip $router $mtu"\nexit 0\n'

#: Inside a namespace: connect to IP:PORT every 20 ms until it succeeds (``open``) or fails (``closed``);
#: prints the wall-clock time when it did.
WATCH_PORT = r"""
import socket, sys, time
ip, port, want, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
print("ready", flush=True)
end = time.time() + limit
while time.time() < end:
    try:
        with socket.create_connection((ip, port), timeout=0.15):
            state = "open"
    except OSError:
        state = "closed"
    if state == want:
        print(time.time(), flush=True)
        sys.exit(0)
    time.sleep(0.02)
sys.exit(1)
"""


@dataclass
class Topology:
    cloudlet: CloudletProcess
    vpc_id: str = ""
    public_subnet: str = ""
    private_subnet: str = ""
    igw: str = ""
    nat_id: str = ""
    nat_eip: str = ""
    public_eip: str = ""
    web_sg: str = ""
    app_sg: str = ""
    public_eni: str = ""
    private_eni: str = ""
    dhcp_eni: str = ""
    allocations: list[str] = field(default_factory=list)
    instances: dict[str, lab.Instance] = field(default_factory=dict)
    whoami: subprocess.Popen[str] | None = None

    def ns(self, name: str) -> str:
        return self.instances[name].netns

    def ec2(self) -> Any:
        return self.cloudlet.client("ec2")

    def aws(self, *args: str) -> Any:
        out = self.cloudlet.aws("ec2", *args, "--output", "json")
        return json.loads(out.stdout) if out.stdout.strip() else {}

    def refused(self, code: str, *args: str) -> None:
        out = self.cloudlet.aws("ec2", *args, check=False)
        assert out.returncode != 0 and f"({code})" in out.stderr, (args, out.stdout, out.stderr)

    def cloudlet_cli(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "controller.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "CLOUDLET_DATA_DIR": str(self.cloudlet.data_dir)})
        assert out.returncode == 0, out.stderr
        return out.stdout

    @property
    def state_dir(self) -> Path:
        return self.cloudlet.data_dir / "agent"

    def status(self) -> dict[str, Any]:
        try:
            return json.loads((self.state_dir / "status.json").read_text())
        except (OSError, ValueError):
            return {}


def managed_namespaces() -> list[str]:
    return [name for name in netns.list_names() if naming.is_managed_netns(PREFIX, name)]


def snapshot() -> dict[str, str]:
    return dataplane_snapshot(managed_namespaces())


def tags(kind: str, name: str) -> str:
    return f"ResourceType={kind},Tags=[{{Key=Name,Value={name}}}]"


def build(t: Topology) -> None:
    """The issue's VPC with the AWS CLI, two namespace instances and an Internet host."""
    t.vpc_id = t.aws("create-vpc", "--cidr-block", VPC_CIDR, "--tag-specifications", tags("vpc", RUN))["Vpc"]["VpcId"]
    t.public_subnet = t.aws("create-subnet", "--vpc-id", t.vpc_id, "--cidr-block", PUBLIC_CIDR,
                            "--availability-zone", "home-1a")["Subnet"]["SubnetId"]
    t.private_subnet = t.aws("create-subnet", "--vpc-id", t.vpc_id, "--cidr-block", PRIVATE_CIDR,
                             "--availability-zone", "home-1a")["Subnet"]["SubnetId"]
    t.igw = t.aws("create-internet-gateway")["InternetGateway"]["InternetGatewayId"]
    t.aws("attach-internet-gateway", "--internet-gateway-id", t.igw, "--vpc-id", t.vpc_id)
    nat_eip = t.aws("allocate-address", "--domain", "vpc")
    t.allocations.append(nat_eip["AllocationId"])
    t.nat_eip = nat_eip["PublicIp"]
    t.nat_id = t.aws("create-nat-gateway", "--subnet-id", t.public_subnet, "--allocation-id",
                     nat_eip["AllocationId"])["NatGateway"]["NatGatewayId"]
    public_rt = t.aws("create-route-table", "--vpc-id", t.vpc_id)["RouteTable"]["RouteTableId"]
    t.aws("create-route", "--route-table-id", public_rt, "--destination-cidr-block", "0.0.0.0/0",
          "--gateway-id", t.igw)
    t.aws("associate-route-table", "--route-table-id", public_rt, "--subnet-id", t.public_subnet)
    private_rt = t.aws("create-route-table", "--vpc-id", t.vpc_id)["RouteTable"]["RouteTableId"]
    t.aws("create-route", "--route-table-id", private_rt, "--destination-cidr-block", "0.0.0.0/0",
          "--nat-gateway-id", t.nat_id)
    t.aws("associate-route-table", "--route-table-id", private_rt, "--subnet-id", t.private_subnet)
    t.web_sg = t.aws("create-security-group", "--group-name", f"{RUN}-web", "--description", "web",
                     "--vpc-id", t.vpc_id)["GroupId"]
    for port in ("80", "23"):
        t.aws("authorize-security-group-ingress", "--group-id", t.web_sg, "--protocol", "tcp", "--port", port,
              "--cidr", "0.0.0.0/0")
    t.app_sg = t.aws("create-security-group", "--group-name", f"{RUN}-app", "--description", "app",
                     "--vpc-id", t.vpc_id)["GroupId"]
    t.aws("authorize-security-group-ingress", "--group-id", t.app_sg, "--protocol", "tcp", "--port", "22",
          "--cidr", VPC_CIDR)
    # The public subnet's ACL denies telnet before allowing the rest: the ACL wins over the group that opens it.
    acl = t.aws("create-network-acl", "--vpc-id", t.vpc_id)["NetworkAcl"]["NetworkAclId"]
    t.aws("create-network-acl-entry", "--network-acl-id", acl, "--ingress", "--rule-number", "90", "--protocol",
          "tcp", "--port-range", "From=23,To=23", "--cidr-block", "0.0.0.0/0", "--rule-action", "deny")
    for direction in ("--ingress", "--egress"):
        t.aws("create-network-acl-entry", "--network-acl-id", acl, direction, "--rule-number", "100", "--protocol",
              "-1", "--cidr-block", "0.0.0.0/0", "--rule-action", "allow")
    associations = t.aws("describe-network-acls", "--filters",
                         f"Name=association.subnet-id,Values={t.public_subnet}")["NetworkAcls"][0]["Associations"]
    association = next(a["NetworkAclAssociationId"] for a in associations if a["SubnetId"] == t.public_subnet)
    t.aws("replace-network-acl-association", "--association-id", association, "--network-acl-id", acl)
    t.public_eni = t.aws("create-network-interface", "--subnet-id", t.public_subnet, "--groups", t.web_sg,
                         "--private-ip-address", PUBLIC_IP)["NetworkInterface"]["NetworkInterfaceId"]
    t.private_eni = t.aws("create-network-interface", "--subnet-id", t.private_subnet, "--groups", t.app_sg,
                          "--private-ip-address", PRIVATE_IP)["NetworkInterface"]["NetworkInterfaceId"]
    public_eip = t.aws("allocate-address", "--domain", "vpc")
    t.allocations.append(public_eip["AllocationId"])
    t.public_eip = public_eip["PublicIp"]
    t.aws("associate-address", "--allocation-id", public_eip["AllocationId"], "--network-interface-id", t.public_eni)
    assert wait_for_nat(t.ec2(), t.nat_id, "available")["State"] == "available"

    for name in ("pub", "prv", "world"):
        t.instances[name] = lab.create_instance(f"{PREFIX}{name}")
    wait_until(lambda: "network" in t.status().get("applied", {}), 20, "the agent to register and converge")
    t.cloudlet_cli("netns", "attach", t.public_eni, t.ns("pub"))
    t.cloudlet_cli("netns", "attach", t.private_eni, t.ns("prv"))
    internet = naming.internet_netns(PREFIX)
    wait_until(lambda: netns.exists(internet), 10, "the lab Internet namespace")
    lab.plug_internet_host(internet, t.instances["world"], f"w{RUN}")
    lab.configure(t.instances["world"], WORLD_IP, 24, "203.0.113.1")
    t.whoami = run_in(t.ns("world"), WHOAMI, str(WHOAMI_PORT))
    for name, ip in (("pub", PUBLIC_IP), ("prv", PRIVATE_IP)):
        ns = t.ns(name)
        wait_until(lambda ns=ns, ip=ip: f"{ip}/24" in addresses_in(ns), 10, f"{ip} in {name}")
        lab.start_server(t.instances[name])


def destroy(t: Topology) -> None:
    """Best-effort cleanup (the last test checks the orderly teardown; this runs even when it failed)."""
    ec2 = t.ec2() if t.cloudlet.proc is not None else None
    for eni in (t.public_eni, t.private_eni, t.dhcp_eni):
        if eni and ec2 is not None:
            subprocess.run([sys.executable, "-m", "controller.cli", "netns", "--data-dir", str(t.cloudlet.data_dir),
                            "detach", eni], cwd=REPO, capture_output=True, timeout=60)
    if ec2 is not None and t.vpc_id:
        if t.nat_id and ec2.describe_nat_gateways(NatGatewayIds=[t.nat_id])["NatGateways"][0]["State"] in (
                "pending", "available"):
            ec2.delete_nat_gateway(NatGatewayId=t.nat_id)  # its interface, and so its EIP association, go too
        for allocation in t.allocations:
            for address in ec2.describe_addresses(AllocationIds=[allocation])["Addresses"]:
                if address.get("AssociationId"):
                    ec2.disassociate_address(AssociationId=address["AssociationId"])
        teardown_vpc(ec2, t.vpc_id)
        for allocation in t.allocations:
            ec2.release_address(AllocationId=allocation)


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    data_dir = tmp_path_factory.mktemp("vpc-dataplane") / "data"
    cloudlet = CloudletProcess(data_dir, agent=True, extra_env={"CLOUDLET_AGENT_NAME_PREFIX": PREFIX})
    t = Topology(cloudlet)
    try:
        cloudlet.start()
        build(t)
        yield t
    finally:
        try:
            destroy(t)
        finally:
            if t.whoami is not None:
                os.killpg(t.whoami.pid, signal.SIGKILL)
                t.whoami.wait()
            for instance in t.instances.values():
                lab.destroy(instance)
            cloudlet.stop()
            subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix", PREFIX,
                            "--state-dir", str(data_dir / "agent")], cwd=REPO, capture_output=True, timeout=60)
            leftovers = [name for name in netns.list_names() if name.startswith(PREFIX)]
            assert not leftovers, f"namespaces left behind: {leftovers}"


def reachability(t: Topology) -> list[Probe]:
    """What must hold at every stage: through the NAT only, the EIP on the group's open ports only."""
    pub, prv, world = t.ns("pub"), t.ns("prv"), t.ns("world")
    return [
        # The private instance reaches the Internet through the NAT gateway, seen as the NAT's EIP...
        Probe("private out via NAT", prv, "tcp", WORLD_IP, 80, world),
        Probe("Internet sees the NAT's EIP", prv, "tcp", WORLD_IP, WHOAMI_PORT, t.nat_eip),
        Probe("private pings out", prv, "icmp", WORLD_IP, expect="pong"),
        # ...and nothing unsolicited comes back in.
        Probe("no inbound through the NAT", world, "tcp", t.nat_eip, 22),
        Probe("no inbound through the NAT (80)", world, "tcp", t.nat_eip, 80),
        Probe("private address unroutable", world, "tcp", PRIVATE_IP, 22),
        # The public instance is reachable on its EIP where its group opens it, and nowhere else.
        Probe("EIP port 80 open", world, "tcp", t.public_eip, 80, pub),
        Probe("EIP port 22 closed (group)", world, "tcp", t.public_eip, 22),
        Probe("EIP port 8080 closed (group)", world, "tcp", t.public_eip, 8080),
        Probe("EIP port 23 closed (ACL deny)", world, "tcp", t.public_eip, 23),
        Probe("EIP UDP closed (group)", world, "udp", t.public_eip, 5353),
        Probe("Internet sees the public EIP", pub, "tcp", WORLD_IP, WHOAMI_PORT, t.public_eip),
        # Inside the VPC: groups by source.
        Probe("private -> public web", prv, "tcp", PUBLIC_IP, 80, pub),
        Probe("public -> private ssh (VPC CIDR)", pub, "tcp", PRIVATE_IP, 22, prv),
        Probe("public -> private web closed", pub, "tcp", PRIVATE_IP, 80),
    ]


def test_private_instance_reaches_the_internet_only_through_the_nat_gateway(topology: Topology) -> None:
    expect([p for p in reachability(topology) if p.src == topology.ns("prv") or "NAT" in p.label
            or "unroutable" in p.label])


def test_public_instance_is_reachable_on_the_ports_its_group_opens(topology: Topology) -> None:
    expect(reachability(topology))
    assert topology.public_eip not in addresses_in(topology.ns("pub")), "the instance must never see its EIP"


def test_metadata_service_answers_in_the_instance(topology: Topology) -> None:
    out = subprocess.run(["nsenter", f"--net={netns.path(topology.ns('pub'))}", "curl", "-s", "-m", "2", "-X", "PUT",
                          "-H", "x-aws-ec2-metadata-token-ttl-seconds: 60", "-w", " %{http_code}",
                          "http://169.254.169.254/latest/api/token"], capture_output=True, text=True)
    token, _, status = out.stdout.rpartition(" ")
    assert status == "200" and len(token) > 20, out


def measure_port(t: Topology, want: str, change: Any) -> float:
    """Seconds from an API call to the Internet host seeing the EIP's port 22 ``want`` (open/closed)."""
    watcher = run_in(t.ns("world"), WATCH_PORT, t.public_eip, "22", want, "10")
    started = time.time()
    change()
    assert watcher.wait(timeout=15) == 0, f"port 22 never became {want}"
    assert watcher.stdout is not None
    return float(watcher.stdout.read().strip()) - started


def test_security_group_change_is_enforced_within_a_second(topology: Topology) -> None:
    """Three rounds, every one within a second: a stall shows up in some rounds only (a kept-alive API
    connection once waited up to 1 s behind a process that lost the race for another connection)."""
    ec2 = topology.ec2()
    ssh = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    opened, closed = [], []
    for _ in range(3):
        opened.append(measure_port(topology, "open", lambda: ec2.authorize_security_group_ingress(
            GroupId=topology.web_sg, IpPermissions=ssh)))
        closed.append(measure_port(topology, "closed", lambda: ec2.revoke_security_group_ingress(
            GroupId=topology.web_sg, IpPermissions=ssh)))
    print(f"\nSG rule enforced {statistics.median(opened) * 1000:.0f} ms (median of 3) after "
          f"AuthorizeSecurityGroupIngress, removed {statistics.median(closed) * 1000:.0f} ms after "
          f"RevokeSecurityGroupIngress; slowest {max(opened + closed) * 1000:.0f} ms")
    assert max(opened + closed) < 1.0, (opened, closed)


def test_wrong_order_deletes_are_refused_and_leave_the_dataplane_alone(topology: Topology) -> None:
    t = topology
    before = snapshot()
    t.refused("DependencyViolation", "delete-vpc", "--vpc-id", t.vpc_id)
    t.refused("DependencyViolation", "delete-subnet", "--subnet-id", t.private_subnet)
    t.refused("DependencyViolation", "delete-security-group", "--group-id", t.web_sg)
    t.refused("DependencyViolation", "detach-internet-gateway", "--internet-gateway-id", t.igw, "--vpc-id", t.vpc_id)
    t.refused("DependencyViolation", "delete-internet-gateway", "--internet-gateway-id", t.igw)
    t.refused("InvalidNetworkInterface.InUse", "delete-network-interface", "--network-interface-id", t.public_eni)
    attachment = t.aws("describe-network-interfaces", "--network-interface-ids", t.public_eni)[
        "NetworkInterfaces"][0]["Attachment"]["AttachmentId"]
    t.refused("OperationNotPermitted", "detach-network-interface", "--attachment-id", attachment)
    time.sleep(0.3)  # a wrongly bumped generation would have reached the agent by now
    assert_same(before, snapshot())
    expect(reachability(t))


def kill_agent(t: Topology) -> int:
    pid = t.status()["pid"]
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1:3] == [b"-m", b"agent.main"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2],
               5, "the agent to die")
    return pid


def wait_converged(t: Topology, old_pid: int) -> None:
    """Until a new agent process has applied the network and namespace sections."""
    wait_until(lambda: t.status().get("pid") not in (None, old_pid)
               and {"network", "namespaces"} <= set(t.status().get("applied", {})), 20, "the new agent to converge")


def test_agent_sigkill_and_restart_lose_no_rule(topology: Topology) -> None:
    t = topology
    before = snapshot()
    assert before, "the agent made no namespaces"
    old = kill_agent(t)
    expect(reachability(t))  # packets flow with no agent at all
    # A change made while the agent is dead is applied by the next one, from the controller's state.
    web = [{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    t.ec2().authorize_security_group_ingress(GroupId=t.web_sg, IpPermissions=web)
    t.cloudlet.restart()
    wait_converged(t, old)
    expect([Probe("8080 opened while the agent was down", t.ns("world"), "tcp", t.public_eip, 8080, t.ns("pub"))])
    t.ec2().revoke_security_group_ingress(GroupId=t.web_sg, IpPermissions=web)
    with contextlib.suppress(AssertionError):  # the revocation takes a moment to arrive; then compare
        wait_until(lambda: snapshot() == before, 5, "the ruleset to be exactly what it was before the kill")
    assert_same(before, snapshot())
    expect(reachability(t))


def test_cloudlet_restart_keeps_the_dataplane_in_place(topology: Topology) -> None:
    t = topology
    before = snapshot()
    old = t.status()["pid"]
    t.cloudlet.stop(teardown=False)  # SIGINT: cloudlet up stops its agent with SIGTERM, which tears nothing down
    assert_same(before, snapshot())
    expect([p for p in reachability(t) if "EIP port 80" in p.label or "via NAT" in p.label])
    t.cloudlet.start()
    wait_converged(t, old)
    assert_same(before, snapshot())
    test_metadata_service_answers_in_the_instance(t)


def test_a_dhcp_namespace_instance_gets_its_address_from_the_vpc(topology: Topology, tmp_path: Path) -> None:
    t = topology
    t.dhcp_eni = t.aws("create-network-interface", "--subnet-id", t.private_subnet, "--groups", t.app_sg,
                       "--private-ip-address", DHCP_IP)["NetworkInterface"]["NetworkInterfaceId"]
    t.instances["dhcp"] = lab.create_instance(f"{PREFIX}dhcp")
    ns = t.ns("dhcp")
    t.cloudlet_cli("netns", "attach", t.dhcp_eni, ns, "--dhcp")
    wait_until(lambda: "eth0" in addresses_in(ns), 10, "the veth in the DHCP namespace")
    assert DHCP_IP not in addresses_in(ns)  # addressing is left to the namespace's DHCP client
    script = tmp_path / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    lab.sh("ip", "-n", ns, "link", "set", "eth0", "up")
    out = subprocess.run(["nsenter", f"--net={netns.path(ns)}", "busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n",
                          "-t", "5", "-T", "1", "-O", "mtu", "-s", str(script)], capture_output=True, text=True,
                         timeout=30)
    assert f"lease {DHCP_IP} 10.77.2.1 1500" in out.stdout, out


def test_orderly_teardown_removes_the_vpc_from_the_host(topology: Topology) -> None:
    t = topology
    router, nat = naming.router_netns(PREFIX, t.vpc_id), naming.nat_netns(PREFIX, t.nat_id)
    assert {router, nat} <= set(managed_namespaces())
    t.cloudlet_cli("netns", "detach", t.public_eni)
    wait_until(lambda: f"{PUBLIC_IP}/24" not in addresses_in(t.ns("pub")), 5, "the public veth to go")
    listed = t.cloudlet_cli("netns", "list")
    assert t.private_eni in listed and t.public_eni not in listed
    t.cloudlet_cli("netns", "detach", t.private_eni)
    if t.dhcp_eni:
        t.cloudlet_cli("netns", "detach", t.dhcp_eni)
    destroy(t)
    t.vpc_id = ""
    wait_until(lambda: not {router, nat} & set(managed_namespaces()), 5, "the VPC's namespaces to go")
    assert managed_namespaces() == [naming.internet_netns(PREFIX)]
