"""Two "hosts" (each its own agent, prefix and underlay namespace) joined by VXLAN: one subnet spans both."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from agent.contract.network import (
    Attachment,
    Eni,
    HostNetwork,
    NaclEntry,
    NetworkAcl,
    RemotePort,
    Route,
    RouteTable,
    SecurityGroup,
    SgRule,
    Subnet,
    Underlay,
    Vpc,
)
from agent.network import naming, netns
from agent.network.dataplane import Dataplane
from tests.agent import dataplane_lab as lab
from tests.agent.dataplane_lab import Probe
from tests.prerequisites import missing_root, require

require(missing_root(), "network namespace tests")
pytestmark = pytest.mark.root

UNDERLAY = {"h1": "198.18.0.1", "h2": "198.18.0.2"}
INSTANCE_IP = {"h1": "10.80.1.10", "h2": "10.80.1.11"}


def host_document(run: str, host: str, ns: dict[str, str]) -> HostNetwork:
    other = "h2" if host == "h1" else "h1"
    eni = Eni(f"eni-{host}", "subnet-x", naming.mac_for(ns[host]), [INSTANCE_IP[host]], [], ["sg-x"],
              attachment=Attachment("i" + naming.digest(ns[host], 9), "veth", ns[host]))
    subnet = Subnet("subnet-x", "10.80.1.0/24", "az1", vni=4242,
                    remote_ports=[RemotePort(naming.mac_for(ns[other]), UNDERLAY[other], [INSTANCE_IP[other]])])
    vpc = Vpc("vpc-x", ["10.80.0.0/16"], "rtb-x", "acl-x", subnets=[subnet],
              route_tables=[RouteTable("rtb-x", [Route("10.80.0.0/16", "local")])],
              network_acls=[NetworkAcl("acl-x", [NaclEntry(100, False, "allow", "0.0.0.0/0"),
                                                 NaclEntry(100, True, "allow", "0.0.0.0/0")])],
              security_groups=[SecurityGroup("sg-x", [SgRule("tcp", 80, 80, cidr="10.80.0.0/16"),
                                                      SgRule("icmp", cidr="10.80.0.0/16")],
                                             [SgRule("-1", cidr="0.0.0.0/0")])],
              enis=[eni], remote_vteps=[UNDERLAY[other]])
    return HostNetwork(host, [vpc], name_prefix=f"cl-{run}{host}-",
                       underlay=Underlay(UNDERLAY[host], netns=ns[f"u{host[1]}"]))


@dataclass
class TwoHosts:
    ns: dict[str, str]
    docs: dict[str, HostNetwork]
    planes: dict[str, Dataplane]


@pytest.fixture
def two_hosts() -> Iterator[TwoHosts]:
    run = uuid.uuid4().hex[:4]
    ns = {name: f"cl-{run}-x-{name}" for name in ("h1", "h2", "u1", "u2")}
    instances = {name: lab.create_instance(n) for name, n in ns.items()}
    lab.sh("ip", "link", "add", "eth0", "netns", ns["u1"], "type", "veth", "peer", "name", "eth0", "netns", ns["u2"])
    for index, underlay in (("1", "u1"), ("2", "u2")):
        lab.sh("ip", "-n", ns[underlay], "addr", "add", f"{UNDERLAY['h' + index]}/24", "dev", "eth0")
        lab.sh("ip", "-n", ns[underlay], "link", "set", "eth0", "up")
    docs = {host: host_document(run, host, ns) for host in ("h1", "h2")}
    planes = {host: Dataplane(run_dir=f"/tmp/cloudlet-vxlan-{run}{host}") for host in docs}
    try:
        for host, doc in docs.items():
            planes[host].apply(doc)
        for host in ("h1", "h2"):
            lab.configure(instances[host], INSTANCE_IP[host], 24, "10.80.1.1")
        yield TwoHosts(ns, docs, planes)
    finally:
        for host, doc in docs.items():
            planes[host].teardown(doc.name_prefix)
        for instance in instances.values():
            lab.destroy(instance)
        assert not any(name.startswith(f"cl-{run}") for name in netns.list_names())


def test_subnet_spans_hosts_over_vxlan_with_security_groups(two_hosts: TwoHosts) -> None:
    ns = two_hosts.ns
    problems = lab.failures(lab.run_probes([
        Probe("h1 -> h2 TCP 80 over VXLAN", ns["h1"], "tcp", "10.80.1.11", 80, ns["h2"]),
        Probe("h2 -> h1 ICMP over VXLAN", ns["h2"], "icmp", "10.80.1.10", 0, "pong"),
        Probe("h1 -> h2 TCP 22 refused by h2's group", ns["h1"], "tcp", "10.80.1.11", 22, None),
    ]))
    assert not problems, "\n".join(problems)


def test_routers_pin_remote_ports_and_unpin_them_when_they_go(two_hosts: TwoHosts) -> None:
    """A router cannot ARP across hosts (its anycast MAC keeps the answer on the far host): the remote port's
    address is pinned to its MAC, and unpinned once the port is no longer remote."""
    doc = two_hosts.docs["h1"]
    router = naming.router_netns(doc.name_prefix, "vpc-x")

    def pinned() -> str:
        return netns.command(router, ["ip", "neigh", "show", "nud", "permanent", INSTANCE_IP["h2"]])

    assert naming.mac_for(two_hosts.ns["h2"]) in pinned()
    doc.vpcs[0].subnets[0].remote_ports = []
    two_hosts.planes["h1"].apply(doc)
    assert pinned().strip() == ""
