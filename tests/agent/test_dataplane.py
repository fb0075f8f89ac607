"""The VPC dataplane with real packets: a reachability matrix over namespaces standing in for instances.

Topology (one lab, built once per module, torn down even on failure):

* VPC A 10.10.0.0/16 + 2001:db8:a::/56 with an IGW and an egress-only IGW:
  - ``pub`` 10.10.1.0/24: routes 0/0 and ::/0 to the IGW, 10.20/16 to pcx-ab. a1 (.10, EIP 198.51.100.10,
    sg-web) and a2 (.11, sg-admin), and the NAT gateway (.5, EIP 198.51.100.5).
  - ``prv`` 10.10.2.0/24: 0/0 to the NAT gateway, ::/0 to the egress-only IGW. a3 (sg-app).
  - ``acl`` 10.10.3.0/24: main table (local only), a strict stateless NACL. a4 (sg-open).
* VPC B 10.20.0.0/16, peered with A and with C; b1. VPC C 10.30.0.0/16, peered with B only (its table
  routes A's block to pcx-bc anyway: peering must not be transitive); c1.
* VPC D 10.40.0.0/16, not peered; d1. VPC E reuses A's CIDR 10.10.0.0/16 (namespaces keep them apart); e1.
* The lab Internet: w1 203.0.113.10 / 2001:db8:ffff::10.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from agent.contract.network import (
    Attachment,
    ElasticIp,
    Eni,
    HostNetwork,
    NaclEntry,
    NatGateway,
    NetworkAcl,
    Peering,
    Route,
    RouteTable,
    SecurityGroup,
    SgRule,
    Subnet,
    Vpc,
)
from agent.network import naming, netns
from agent.network.dataplane import Dataplane
from tests.agent import dataplane_lab as lab
from tests.agent.dataplane_lab import Probe
from tests.prerequisites import missing_root, require

require(missing_root(), "network namespace tests")
pytestmark = pytest.mark.root

ALLOW_ALL_ACL = [NaclEntry(100, False, "allow", "0.0.0.0/0"), NaclEntry(100, True, "allow", "0.0.0.0/0"),
                 NaclEntry(101, False, "allow", "::/0"), NaclEntry(101, True, "allow", "::/0")]
EGRESS_ALL = [SgRule("-1", cidr="0.0.0.0/0"), SgRule("-1", cidr="::/0")]


def eni(eni_id: str, subnet: str, ip: str, groups: list[str], ns: str, ipv6: str | None = None) -> Eni:
    mac = naming.mac_for(f"test:{ns}")
    return Eni(eni_id, subnet, mac, [ip], [ipv6] if ipv6 else [], groups,
               attachment=Attachment(port="i" + naming.digest(ns, 9), kind="veth", instance_netns=ns))


def simple_vpc(vpc_id: str, block: str, subnet_block: str, ns: str, ip: str, routes: list[Route],
               peerings: list[Peering]) -> Vpc:
    return Vpc(vpc_id, [block], f"rtb-{vpc_id}", f"acl-{vpc_id}",
               subnets=[Subnet(f"subnet-{vpc_id}", subnet_block, "az1")],
               route_tables=[RouteTable(f"rtb-{vpc_id}", [Route(block, "local"), *routes])],
               network_acls=[NetworkAcl(f"acl-{vpc_id}", ALLOW_ALL_ACL)],
               security_groups=[SecurityGroup(f"sg-{vpc_id}", [SgRule("-1", cidr="10.0.0.0/8")], EGRESS_ALL)],
               enis=[eni(f"eni-{vpc_id}", f"subnet-{vpc_id}", ip, [f"sg-{vpc_id}"], ns)], peerings=peerings)


def build_document(run: str, ns: dict[str, str]) -> HostNetwork:
    """The lab's desired state; ``ns`` maps instance names (a1, b1...) to their namespaces."""
    strict_acl = NetworkAcl("acl-strict", [
        NaclEntry(100, False, "allow", "10.10.0.0/16", "tcp", 22, 22),
        NaclEntry(110, False, "deny", "10.10.1.11/32", "icmp"),
        NaclEntry(120, False, "allow", "10.10.0.0/16", "icmp"),
        NaclEntry(130, False, "allow", "10.10.0.0/16", "tcp", 1024, 65535),
        NaclEntry(100, True, "allow", "10.10.0.0/16", "tcp", 1024, 65535),
        NaclEntry(110, True, "allow", "10.10.0.0/16", "icmp"),
    ])
    vpc_a = Vpc(
        "vpc-a", ["10.10.0.0/16"], "rtb-amain", "acl-adefault", ipv6_cidrs=["2001:db8:a::/56"],
        subnets=[Subnet("subnet-pub", "10.10.1.0/24", "az1", "2001:db8:a:1::/64", route_table_id="rtb-pub"),
                 Subnet("subnet-prv", "10.10.2.0/24", "az1", "2001:db8:a:2::/64", route_table_id="rtb-prv"),
                 Subnet("subnet-acl", "10.10.3.0/24", "az1", network_acl_id="acl-strict")],
        route_tables=[
            RouteTable("rtb-amain", [Route("10.10.0.0/16", "local")]),
            RouteTable("rtb-pub", [Route("10.10.0.0/16", "local"), Route("2001:db8:a::/56", "local"),
                                   Route("0.0.0.0/0", "igw-a"), Route("::/0", "igw-a"),
                                   Route("10.20.0.0/16", "pcx-ab")]),
            RouteTable("rtb-prv", [Route("10.10.0.0/16", "local"), Route("2001:db8:a::/56", "local"),
                                   Route("0.0.0.0/0", "nat-a"), Route("::/0", "eigw-a"),
                                   Route("10.20.0.0/16", "pcx-ab")]),
        ],
        network_acls=[NetworkAcl("acl-adefault", ALLOW_ALL_ACL), strict_acl],
        security_groups=[
            SecurityGroup("sg-web", [SgRule("tcp", 80, 80, cidr="0.0.0.0/0"), SgRule("tcp", 80, 80, cidr="::/0"),
                                     SgRule("icmp", -1, -1, cidr="0.0.0.0/0"),
                                     SgRule("tcp", 22, 22, group_id="sg-admin")], EGRESS_ALL),
            SecurityGroup("sg-admin", [SgRule("-1", group_id="sg-admin")], EGRESS_ALL),
            SecurityGroup("sg-app", [SgRule("tcp", 8080, 8080, group_id="sg-web"),
                                     SgRule("udp", 5353, 5353, cidr="10.10.0.0/16"),
                                     SgRule("tcp", 22, 22, cidr="10.20.0.0/16")],
                          [SgRule("tcp", 80, 80, cidr="0.0.0.0/0"), SgRule("tcp", 22, 22, cidr="10.0.0.0/8"),
                           SgRule("udp", 7000, 7000, cidr="0.0.0.0/0"),
                           SgRule("tcp", 80, 80, cidr="::/0"), SgRule("icmp", cidr="0.0.0.0/0")]),
            SecurityGroup("sg-open", [SgRule("-1", cidr="10.0.0.0/8")], EGRESS_ALL),
        ],
        enis=[eni("eni-a1", "subnet-pub", "10.10.1.10", ["sg-web"], ns["a1"], "2001:db8:a:1::10"),
              eni("eni-a2", "subnet-pub", "10.10.1.11", ["sg-admin"], ns["a2"]),
              eni("eni-a3", "subnet-prv", "10.10.2.10", ["sg-app"], ns["a3"], "2001:db8:a:2::10"),
              eni("eni-a4", "subnet-acl", "10.10.3.10", ["sg-open"], ns["a4"])],
        internet_gateway_id="igw-a", egress_only_gateway_id="eigw-a",
        elastic_ips=[ElasticIp("eipalloc-a1", "198.51.100.10", "10.10.1.10", "eni-a1"),
                     ElasticIp("eipalloc-nat", "198.51.100.5", "10.10.1.5")],
        nat_gateways=[NatGateway("nat-a", "subnet-pub", "10.10.1.5", "198.51.100.5", naming.mac_for("nat-a"))],
        peerings=[Peering("pcx-ab", "vpc-b", ["10.20.0.0/16"])])
    vpc_b = simple_vpc("vpc-b", "10.20.0.0/16", "10.20.1.0/24", ns["b1"], "10.20.1.10",
                       [Route("10.10.0.0/16", "pcx-ab"), Route("10.30.0.0/16", "pcx-bc")],
                       [Peering("pcx-ab", "vpc-a", ["10.10.0.0/16"]), Peering("pcx-bc", "vpc-c", ["10.30.0.0/16"])])
    vpc_c = simple_vpc("vpc-c", "10.30.0.0/16", "10.30.1.0/24", ns["c1"], "10.30.1.10",
                       [Route("10.20.0.0/16", "pcx-bc"), Route("10.10.0.0/16", "pcx-bc")],
                       [Peering("pcx-bc", "vpc-b", ["10.20.0.0/16"])])
    vpc_d = simple_vpc("vpc-d", "10.40.0.0/16", "10.40.1.0/24", ns["d1"], "10.40.1.10", [], [])
    vpc_e = simple_vpc("vpc-e", "10.10.0.0/16", "10.10.1.0/24", ns["e1"], "10.10.1.10", [], [])
    return HostNetwork("host-test", [vpc_a, vpc_b, vpc_c, vpc_d, vpc_e], name_prefix=f"cl-{run}-",
                       group_members={"sg-admin": ["10.10.1.11"], "sg-web": ["10.10.1.10", "2001:db8:a:1::10"]})


ADDRESSING = {  # instance: (ipv4, gateway, ipv6, gateway6)
    "a1": ("10.10.1.10", "10.10.1.1", "2001:db8:a:1::10", "2001:db8:a:1::1"),
    "a2": ("10.10.1.11", "10.10.1.1", None, None),
    "a3": ("10.10.2.10", "10.10.2.1", "2001:db8:a:2::10", "2001:db8:a:2::1"),
    "a4": ("10.10.3.10", "10.10.3.1", None, None),
    "b1": ("10.20.1.10", "10.20.1.1", None, None),
    "c1": ("10.30.1.10", "10.30.1.1", None, None),
    "d1": ("10.40.1.10", "10.40.1.1", None, None),
    "e1": ("10.10.1.10", "10.10.1.1", None, None),
}


class Lab:
    def __init__(self) -> None:
        self.run = uuid.uuid4().hex[:5]
        self.ns = {name: f"cl-{self.run}-i-{name}" for name in [*ADDRESSING, "w1", "x1"]}
        self.instances = {name: lab.create_instance(ns) for name, ns in self.ns.items()}
        self.doc = build_document(self.run, self.ns)
        self.run_dir = f"/tmp/cloudlet-net-test-{self.run}"
        self.dataplane = Dataplane(run_dir=self.run_dir)

    def start(self) -> None:
        self.dataplane.apply(self.doc)
        for name, (ip, gateway, ip6, gateway6) in ADDRESSING.items():
            lab.configure(self.instances[name], ip, 24, gateway, ip6, gateway6)
        internet = naming.internet_netns(self.doc.name_prefix)
        lab.plug_internet_host(internet, self.instances["w1"], "w1")
        lab.configure(self.instances["w1"], "203.0.113.10", 24, "203.0.113.1", "2001:db8:ffff::10",
                      "2001:db8:ffff::1")
        lab.wait_ipv6(list(self.instances.values()))

    def apply(self, doc: HostNetwork) -> None:
        self.doc = doc
        self.dataplane.apply(doc)

    def close(self) -> None:
        try:
            self.dataplane.teardown(self.doc.name_prefix)
        finally:
            for instance in self.instances.values():
                lab.destroy(instance)


@pytest.fixture(scope="module")
def vpc_lab() -> Iterator[Lab]:
    built = Lab()
    try:
        built.start()
        yield built
    finally:
        built.close()


def n(vpc_lab: Lab, name: str) -> str:
    return vpc_lab.ns[name]


def matrix(L: Lab) -> list[Probe]:  # noqa: N803 - the lab reads better short here
    s = L.ns
    return [
        # same subnet, security groups
        Probe("same subnet: sg-web allows 80 from anywhere", s["a2"], "tcp", "10.10.1.10", 80, s["a1"]),
        Probe("same subnet: sg-web has no rule for 23", s["a2"], "tcp", "10.10.1.10", 23, None),
        Probe("same subnet: sg-web allows ICMP", s["a2"], "icmp", "10.10.1.10", 0, "pong"),
        Probe("same subnet: 22 allowed from sg-admin members (a2)", s["a2"], "tcp", "10.10.1.10", 22, s["a1"]),
        Probe("same subnet: sg-admin lets its own members in, a1 is not one", s["a1"], "tcp", "10.10.1.11", 80, None),
        Probe("same subnet: sg-admin member reference, UDP", s["a1"], "udp", "10.10.1.11", 5353, None),
        Probe("same subnet: no ICMP into sg-admin from non-members", s["a1"], "icmp", "10.10.1.11", 0, None),
        # across subnets of one VPC (routing + SG + NACL)
        Probe("across subnets: 8080 from sg-web member a1", s["a1"], "tcp", "10.10.2.10", 8080, s["a3"]),
        Probe("across subnets: 8080 not from a2 (not in sg-web)", s["a2"], "tcp", "10.10.2.10", 8080, None),
        Probe("across subnets: UDP 5353 from the VPC", s["a2"], "udp", "10.10.2.10", 5353, s["a3"]),
        Probe("across subnets: UDP 5354 not opened", s["a2"], "udp", "10.10.2.10", 5354, None),
        Probe("across subnets: sg-app egress allows 80 out, reply via conntrack", s["a3"], "tcp", "10.10.1.10", 80,
              s["a1"]),
        Probe("across subnets: sg-app egress has no 8080", s["a3"], "tcp", "10.10.1.10", 8080, None),
        Probe("SG egress: sg-app allows ICMP out, sg-web lets it in", s["a3"], "icmp", "10.10.1.10", 0, "pong"),
        # NACL (acl subnet): numbered, stateless
        Probe("NACL 100 allows 22 in, 100 egress lets the ephemeral reply out", s["a1"], "tcp", "10.10.3.10", 22,
              s["a4"]),
        Probe("NACL has no rule for 23 in: * deny", s["a1"], "tcp", "10.10.3.10", 23, None),
        Probe("NACL 110 denies ICMP from a2 before 120 allows the VPC", s["a2"], "icmp", "10.10.3.10", 0, None),
        Probe("NACL 120 allows ICMP from a1", s["a1"], "icmp", "10.10.3.10", 0, "pong"),
        Probe("NACL stateless: a4's SYN to 80 leaves by no egress rule", s["a4"], "tcp", "10.10.1.10", 80, None),
        Probe("NACL stateless: a4 to a1:8080 egress ok (1024+) but SG-web closed", s["a4"], "tcp", "10.10.2.10", 8080,
              None),
        Probe("NACL stateless: UDP into acl subnet has no rule", s["a2"], "udp", "10.10.3.10", 5353, None),
        # the implicit router itself
        Probe("router answers ICMP at base+1", s["a3"], "icmp", "10.10.2.1", 0, "pong"),
        Probe("router has no open TCP port", s["a3"], "tcp", "10.10.2.1", 22, None),
        # peering A <-> B, non-transitive B <-> C
        Probe("peering: a1 -> b1 (B's SG opens 10/8)", s["a1"], "tcp", "10.20.1.10", 22, s["b1"]),
        Probe("peering: b1 -> a3:22 allowed by sg-app from 10.20/16", s["b1"], "tcp", "10.10.2.10", 22, s["a3"]),
        Probe("peering: b1 -> a1:23 refused by sg-web", s["b1"], "tcp", "10.10.1.10", 23, None),
        Probe("peering: b1 -> c1 over pcx-bc", s["b1"], "icmp", "10.30.1.10", 0, "pong"),
        Probe("peering: c1 -> a1 through B is not transitive", s["c1"], "tcp", "10.10.1.10", 80, None),
        Probe("peering: a1 -> c1 has no route (blackhole by design)", s["a1"], "icmp", "10.30.1.10", 0, None),
        Probe("peering: acl subnet uses the main table, no pcx route", s["a4"], "tcp", "10.20.1.10", 22, None),
        # no peering, overlapping CIDRs
        Probe("no peering: a1 -> d1", s["a1"], "icmp", "10.40.1.10", 0, None),
        Probe("no peering: d1 -> a1", s["d1"], "tcp", "10.10.1.10", 80, None),
        Probe("overlapping VPC E answers for itself only", s["e1"], "tcp", "10.10.1.10", 80, s["e1"]),
        Probe("same CIDR in A is a1, not e1", s["a2"], "tcp", "10.10.1.10", 80, s["a1"]),
        # Internet through IGW + EIP
        Probe("Internet -> EIP:80 reaches a1 (1:1 NAT)", s["w1"], "tcp", "198.51.100.10", 80, s["a1"]),
        Probe("Internet -> EIP:22 blocked by sg-web (22 only from sg-admin)", s["w1"], "tcp", "198.51.100.10", 22,
              None),
        Probe("Internet -> EIP ICMP", s["w1"], "icmp", "198.51.100.10", 0, "pong"),
        Probe("Internet -> private address is not routed in", s["w1"], "tcp", "10.10.1.10", 80, None),
        Probe("Internet -> unassigned public address", s["w1"], "icmp", "198.51.100.99", 0, None),
        Probe("a1 -> Internet with its EIP", s["a1"], "tcp", "203.0.113.10", 80, s["w1"]),
        Probe("a2 has no public IP: no Internet", s["a2"], "tcp", "203.0.113.10", 80, None),
        # NAT gateway
        Probe("a3 -> Internet through the NAT gateway", s["a3"], "tcp", "203.0.113.10", 80, s["w1"]),
        Probe("a3 -> Internet ICMP through NAT", s["a3"], "icmp", "203.0.113.10", 0, "pong"),
        Probe("NAT gateway drops unsolicited inbound", s["w1"], "tcp", "198.51.100.5", 80, None),
        Probe("NAT gateway: inbound ICMP unsolicited", s["w1"], "icmp", "198.51.100.5", 0, None),
        Probe("NAT egress still bound by a3's SG (no 8080 out)", s["a3"], "tcp", "203.0.113.10", 8080, None),
        Probe("acl subnet has no Internet route", s["a4"], "tcp", "203.0.113.10", 80, None),
        # IPv6: SGs apply, IGW is two-way, egress-only IGW is one-way
        Probe("IPv6 Internet -> a1:80 via IGW", s["w1"], "tcp", "2001:db8:a:1::10", 80, s["a1"]),
        Probe("IPv6 Internet -> a1:23 blocked by SG (no v6 bypass)", s["w1"], "tcp", "2001:db8:a:1::10", 23, None),
        Probe("IPv6 a3 -> Internet via egress-only IGW", s["a3"], "tcp", "2001:db8:ffff::10", 80, s["w1"]),
        Probe("IPv6 Internet -> a3 refused by egress-only IGW", s["w1"], "tcp", "2001:db8:a:2::10", 22, None),
        Probe("IPv6 same VPC a3 -> a1:80", s["a3"], "tcp", "2001:db8:a:1::10", 80, s["a1"]),
        Probe("IPv6 a1 -> a3:8080 (sg-web member by its v6 address)", s["a1"], "tcp", "2001:db8:a:2::10", 8080, s["a3"]),
        Probe("IPv6 a1 -> a3:5353/udp not allowed from v6", s["a1"], "udp", "2001:db8:a:2::10", 5353, None),
    ]


def assert_all(probes: list[Probe]) -> None:
    problems = lab.failures(lab.run_probes(probes))
    assert not problems, "\n".join(problems)


def test_reachability_matrix(vpc_lab: Lab) -> None:
    probes = matrix(vpc_lab)
    assert len(probes) >= 40
    assert_all(probes)


def test_instances_see_only_private_addresses(vpc_lab: Lab) -> None:
    """1:1 NAT: a1 never holds its EIP, and the Internet host sees the EIP as the source of a1's traffic."""
    out = subprocess.run(["ip", "-n", n(vpc_lab, "a1"), "-br", "addr"], capture_output=True, text=True).stdout
    assert "198.51.100.10" not in out and "10.10.1.10" in out
    seen = _source_seen_by_internet(vpc_lab, "a1")
    assert seen == "198.51.100.10"
    assert _source_seen_by_internet(vpc_lab, "a3") == "198.51.100.5"  # through the NAT gateway's EIP


def _source_seen_by_internet(L: Lab, src: str) -> str:  # noqa: N803
    """Start a one-shot UDP echo of the peer address in w1 and send to it from ``src``."""
    code = ("import socket,sys;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',7000));"
            "print('ready',flush=True);d,a=s.recvfrom(100);s.sendto(a[0].encode(),a)")
    server = subprocess.Popen(["nsenter", f"--net={netns.path(L.ns['w1'])}", sys.executable, "-c", code],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and "ready" in server.stdout.readline()
        client = ("import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(2);"
                  "s.sendto(b'x',('203.0.113.10',7000));print(s.recv(100).decode())")
        return subprocess.run(["nsenter", f"--net={netns.path(L.ns[src])}", sys.executable, "-c", client],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    finally:
        server.kill()
        server.wait()


def test_sg_rule_change_applies_to_new_packets_at_once(vpc_lab: Lab) -> None:
    L = vpc_lab  # noqa: N806
    before = copy.deepcopy(L.doc)
    probe = Probe("a2 -> a3:8080 after the rule", L.ns["a2"], "tcp", "10.10.2.10", 8080, L.ns["a3"])
    assert_all([Probe(probe.label, probe.src, probe.proto, probe.ip, probe.port, None)])
    changed = copy.deepcopy(before)
    app = next(g for g in changed.vpc("vpc-a").security_groups if g.id == "sg-app")
    app.ingress.append(SgRule("tcp", 8080, 8080, cidr="10.10.1.11/32"))
    started = time.monotonic()
    L.apply(changed)
    assert_all([probe])
    assert time.monotonic() - started < 3
    L.apply(before)
    assert_all([Probe("a2 -> a3:8080 once the rule is gone", probe.src, "tcp", "10.10.2.10", 8080, None)])


def test_security_groups_are_stateful(vpc_lab: Lab) -> None:
    """A connection a1 opened to a3 keeps flowing after a1's group loses every ingress rule (return traffic is
    conntrack's), while a new connection to a1 is refused."""
    L = vpc_lab  # noqa: N806
    before = copy.deepcopy(L.doc)
    holder = _hold_connection(L, "a1", "10.10.2.10", 8080)
    try:
        changed = copy.deepcopy(before)
        web = next(g for g in changed.vpc("vpc-a").security_groups if g.id == "sg-web")
        web.ingress = []
        L.apply(changed)
        assert _ping_connection(holder) == L.ns["a3"]
        assert_all([Probe("new connection into a1 refused", L.ns["a2"], "tcp", "10.10.1.10", 80, None)])
    finally:
        holder.kill()
        holder.wait()
        L.apply(before)


def _hold_connection(L: Lab, src: str, ip: str, port: int) -> subprocess.Popen[str]:  # noqa: N803
    """A process in ``src`` holding one TCP connection; each line on its stdin reconnects nothing, it
    re-reads: the server side answers once per connect, so we check liveness with a keepalive probe."""
    code = ("import socket,sys;s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=2);"
            "first=s.recv(100).decode().strip();print(first,flush=True);sys.stdin.readline();"
            "s.settimeout(1);\ntry:\n s.sendall(b'ping');print('alive',flush=True)\nexcept OSError:\n print('dead',flush=True)")
    proc = subprocess.Popen(["nsenter", f"--net={netns.path(L.ns[src])}", sys.executable, "-c", code, ip, str(port)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.first = proc.stdout.readline().strip()  # type: ignore[attr-defined]
    return proc


def _ping_connection(proc: subprocess.Popen[str]) -> str:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "alive"
    return proc.first  # type: ignore[attr-defined]


def test_nacl_return_traffic_needs_its_own_rule(vpc_lab: Lab) -> None:
    L = vpc_lab  # noqa: N806
    before = copy.deepcopy(L.doc)
    changed = copy.deepcopy(before)
    strict = next(a for a in changed.vpc("vpc-a").network_acls if a.id == "acl-strict")
    strict.entries = [e for e in strict.entries if not (e.egress and e.protocol == "tcp")]
    L.apply(changed)
    try:
        assert_all([Probe("22 still allowed in, but the reply cannot leave", L.ns["a1"], "tcp", "10.10.3.10", 22,
                          None),
                    Probe("ICMP both ways still fine", L.ns["a1"], "icmp", "10.10.3.10", 0, "pong")])
    finally:
        L.apply(before)
    assert_all([Probe("egress rule back: 22 works", L.ns["a1"], "tcp", "10.10.3.10", 22, L.ns["a4"])])


def test_route_to_removed_gateway_becomes_blackhole(vpc_lab: Lab) -> None:
    L = vpc_lab  # noqa: N806
    before = copy.deepcopy(L.doc)
    changed = copy.deepcopy(before)
    changed.vpc("vpc-a").nat_gateways = []
    changed.vpc("vpc-a").elastic_ips = [e for e in changed.vpc("vpc-a").elastic_ips if e.eni_id]
    L.apply(changed)
    try:
        table = subprocess.run(["ip", "-n", naming.router_netns(changed.name_prefix, "vpc-a"), "route", "show",
                                "table", "all", "type", "blackhole"], capture_output=True, text=True).stdout
        assert "blackhole default" in table
        assert_all([Probe("no NAT gateway: a3 is offline", L.ns["a3"], "tcp", "203.0.113.10", 80, None)])
        assert not netns.exists(naming.nat_netns(changed.name_prefix, "nat-a"))
    finally:
        L.apply(before)
    assert_all([Probe("NAT gateway back", L.ns["a3"], "tcp", "203.0.113.10", 80, L.ns["w1"])])


def test_agent_restart_keeps_everything(vpc_lab: Lab) -> None:
    """A fresh Dataplane (a restarted agent) applying the same document changes no link, reloads the rulesets,
    and a live connection survives."""
    L = vpc_lab  # noqa: N806
    holder = _hold_connection(L, "a1", "10.10.2.10", 8080)
    try:
        report = Dataplane(run_dir=L.run_dir).apply(L.doc)
        assert report.created_links == [] and report.removed_links == [] and report.created_namespaces == []
        assert report.removed_namespaces == [] and report.dhcp_restarted == []
        assert len(report.rulesets_loaded) == len(L.doc.vpcs) + 1
        assert _ping_connection(holder) == L.ns["a3"]
    finally:
        holder.kill()
        holder.wait()
    assert_all(matrix(L)[:12])


def test_dhcp_hands_out_the_reservation(vpc_lab: Lab) -> None:
    """An ENI attached to x1 gets its controller-assigned address from the VPC's dnsmasq."""
    L = vpc_lab  # noqa: N806
    before = copy.deepcopy(L.doc)
    changed = copy.deepcopy(before)
    changed.vpc("vpc-a").enis.append(eni("eni-x1", "subnet-prv", "10.10.2.42", ["sg-app"], L.ns["x1"]))
    L.apply(changed)
    try:
        subprocess.run(["ip", "-n", L.ns["x1"], "link", "set", "eth0", "up"], check=True)
        out = subprocess.run(["nsenter", f"--net={netns.path(L.ns['x1'])}", "busybox", "udhcpc", "-i", "eth0",
                              "-n", "-q", "-f", "-t", "5", "-T", "1", "-s", "/bin/true", "-O", "mtu"],
                             capture_output=True, text=True, timeout=30)
        assert "10.10.2.42" in out.stdout + out.stderr
    finally:
        L.apply(before)
