"""The nat and bridge uplinks with real packets, a namespace standing in for the host and others for its LAN.

Topology (built per test, torn down even on failure; nothing leaves the namespaces made here):

* ``host``: plays the machine the agent runs on. ``eth0`` 198.18.5.2/24 on the LAN, default via
  198.18.5.1. In bridge mode ``eth0`` is a port of the host's bridge ``cl-tbr0``, which holds the address.
* ``lan``: the LAN switch (bridge ``sw``) and its upstream router (198.18.5.1 on ``sw``, 198.18.99.1 towards
  ``far``, the "far Internet"). ``client`` 198.18.5.10 is another machine of the LAN.
* The VPC 10.77.0.0/16: ``pub`` (0/0 to the IGW) with i1 (10.77.1.10, EIP 198.18.5.201, tcp 80 and ICMP
  open) and the NAT gateway (10.77.1.5, EIP 198.18.5.202); ``prv`` (0/0 to the NAT gateway) with i2.
* EIP pool 198.18.5.200-198.18.5.220 (198.18.5.200 is the uplink's own).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from agent.contract.network import (
    Attachment,
    ElasticIp,
    Eni,
    HostNetwork,
    NaclEntry,
    NatGateway,
    NetworkAcl,
    Route,
    RouteTable,
    SecurityGroup,
    SgRule,
    Subnet,
    Uplink,
    Vpc,
)
from agent.network import naming, netns
from agent.network.dataplane import Dataplane
from agent.network.uplink import ROUTE_PROTO, HostUplink, host_link_name, host_table_name
from tests.agent import dataplane_lab as lab
from tests.agent.dataplane_lab import Probe
from tests.prerequisites import missing_root, missing_tools, require

require(missing_root() + missing_tools("curl", "ping", "nft"), "uplink namespace tests")
pytestmark = pytest.mark.root

POOL = "198.18.5.200-198.18.5.220"
EIP_I1, EIP_NAT = "198.18.5.201", "198.18.5.202"
FAR = "198.18.99.10"
ALLOW_ALL_ACL = [NaclEntry(100, False, "allow", "0.0.0.0/0"), NaclEntry(100, True, "allow", "0.0.0.0/0")]

#: The instance's web server: HTTP on 80 answering its name, and a TCP listener on 22 (closed by its group).
WEB = r"""
import http.server, socket, sys, threading
name = sys.argv[1].encode()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", str(len(name))); self.end_headers()
        self.wfile.write(name)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("0.0.0.0", 80), Handler)
ssh = socket.create_server(("0.0.0.0", 22))
def answer():
    while True:
        conn, _ = ssh.accept(); conn.sendall(name + b"\n"); conn.close()
threading.Thread(target=answer, daemon=True).start()
print("ready", flush=True)
server.serve_forever()
"""


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def inside(ns: str, *argv: str, check: bool = True, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={netns.path(ns)}", *argv], capture_output=True, text=True,
                          check=check, timeout=timeout)


def eni(eni_id: str, subnet: str, ip: str, groups: list[str], ns: str) -> Eni:
    return Eni(eni_id, subnet, naming.mac_for(f"test:{ns}"), [ip], [], groups,
               attachment=Attachment(port="i" + naming.digest(ns, 9), kind="veth", instance_netns=ns))


def document(prefix: str, i1: str, i2: str, mode: str) -> HostNetwork:
    vpc = Vpc(
        "vpc-up", ["10.77.0.0/16"], "rtb-main", "acl-all",
        subnets=[Subnet("subnet-pub", "10.77.1.0/24", "az1", route_table_id="rtb-pub"),
                 Subnet("subnet-prv", "10.77.2.0/24", "az1", route_table_id="rtb-prv")],
        route_tables=[RouteTable("rtb-main", [Route("10.77.0.0/16", "local")]),
                      RouteTable("rtb-pub", [Route("10.77.0.0/16", "local"), Route("0.0.0.0/0", "igw-up")]),
                      RouteTable("rtb-prv", [Route("10.77.0.0/16", "local"), Route("0.0.0.0/0", "nat-up")])],
        network_acls=[NetworkAcl("acl-all", ALLOW_ALL_ACL)],
        security_groups=[SecurityGroup("sg-web", [SgRule("tcp", 80, 80, cidr="0.0.0.0/0"),
                                                  SgRule("icmp", -1, -1, cidr="0.0.0.0/0")],
                                       [SgRule("-1", cidr="0.0.0.0/0")]),
                         SecurityGroup("sg-prv", [], [SgRule("-1", cidr="0.0.0.0/0")])],
        enis=[eni("eni-i1", "subnet-pub", "10.77.1.10", ["sg-web"], i1),
              eni("eni-i2", "subnet-prv", "10.77.2.10", ["sg-prv"], i2)],
        internet_gateway_id="igw-up",
        elastic_ips=[ElasticIp("eipalloc-i1", EIP_I1, "10.77.1.10", "eni-i1"),
                     ElasticIp("eipalloc-nat", EIP_NAT, "10.77.1.5")],
        nat_gateways=[NatGateway("nat-up", "subnet-pub", "10.77.1.5", EIP_NAT, naming.mac_for("nat-up"))])
    return HostNetwork("host-uplink", [vpc], name_prefix=prefix,
                       uplink=Uplink(mode=mode, public_pool=POOL, lan_pool=True))


@dataclass
class LanLab:
    """The host, its LAN, the far Internet and two instances; ``mode`` is nat or bridge."""

    mode: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:4])
    servers: list[subprocess.Popen[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.prefix = f"cl-t{self.run}-"
        names = ("host", "lan", "cli", "far", "i1", "i2")
        self.ns = {name: f"cl-t{self.run}-{name}" for name in names}
        self.instances = {name: lab.create_instance(self.ns[name]) for name in names}
        self.run_dir = f"/tmp/cloudlet-uplink-test-{self.run}"
        bridge = f"cl-t{self.run}br" if self.mode == "bridge" else None
        self.bridge = bridge
        self.uplink = HostUplink(self.mode, bridge=bridge, host_netns=self.ns["host"])
        self.dataplane = Dataplane(self.run_dir, uplink=self.uplink)
        self.doc = document(self.prefix, self.ns["i1"], self.ns["i2"], self.mode)

    def build(self) -> None:
        host, lan, cli, far = (self.ns[n] for n in ("host", "lan", "cli", "far"))
        sh("ip", "-n", lan, "link", "add", "sw", "type", "bridge")
        sh("ip", "-n", lan, "addr", "add", "198.18.5.1/24", "dev", "sw")
        sh("ip", "-n", lan, "link", "set", "sw", "up")
        for name, peer_ns in (("h0", host), ("c0", cli)):
            sh("ip", "link", "add", name, "netns", lan, "type", "veth", "peer", "name", "eth0", "netns", peer_ns)
            sh("ip", "-n", lan, "link", "set", name, "master", "sw", "up")
        sh("ip", "link", "add", "f0", "netns", lan, "type", "veth", "peer", "name", "eth0", "netns", far)
        sh("ip", "-n", lan, "addr", "add", "198.18.99.1/24", "dev", "f0")
        sh("ip", "-n", lan, "link", "set", "f0", "up")
        netns.write_sysctls(lan, {"net/ipv4/ip_forward": "1"})
        lab.configure(self.instances["cli"], "198.18.5.10", 24, "198.18.5.1")
        lab.configure(self.instances["far"], FAR, 24, "198.18.99.1")
        if self.bridge:
            sh("ip", "-n", host, "link", "add", self.bridge, "type", "bridge")
            sh("ip", "-n", host, "link", "set", "eth0", "master", self.bridge, "up")
            sh("ip", "-n", host, "link", "set", self.bridge, "up")
            device = self.bridge
        else:
            sh("ip", "-n", host, "link", "set", "eth0", "up")
            device = "eth0"
        sh("ip", "-n", host, "link", "set", "lo", "up")
        sh("ip", "-n", host, "addr", "add", "198.18.5.2/24", "dev", device)
        sh("ip", "-n", host, "route", "add", "default", "via", "198.18.5.1")
        self.forward_before = inside(host, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip()
        self.dataplane.apply(self.doc)
        for name, ip, gateway in (("i1", "10.77.1.10", "10.77.1.1"), ("i2", "10.77.2.10", "10.77.2.1")):
            ns = self.ns[name]
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            sh("ip", "-n", ns, "route", "add", "default", "via", gateway)
        web = subprocess.Popen(["nsenter", f"--net={netns.path(self.ns['i1'])}", sys.executable, "-c", WEB,
                                self.ns["i1"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.servers.append(web)
        assert web.stdout is not None and "ready" in web.stdout.readline()

    def host_leftovers(self) -> list[str]:
        """Everything of the agent's still in the host namespace (empty after a teardown or lab apply)."""
        host = self.ns["host"]
        found = []
        link = host_link_name(self.prefix)
        if inside(host, "ip", "link", "show", link, check=False).returncode == 0:
            found.append(f"link {link}")
        routes = json.loads(inside(host, "ip", "-j", "route", "show", "proto", str(ROUTE_PROTO)).stdout or "[]")
        found += [f"route {r['dst']}" for r in routes]
        proxies = json.loads(inside(host, "ip", "-j", "neigh", "show", "proxy").stdout or "[]")
        found += [f"proxy {p['dst']}" for p in proxies]
        tables = inside(host, "nft", "list", "tables").stdout
        if host_table_name(self.prefix) in tables:
            found.append("nft table")
        forward = inside(host, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip()
        if forward != self.forward_before:
            found.append(f"ip_forward={forward}")
        return found

    def close(self) -> None:
        try:
            for server in self.servers:
                server.kill()
                server.wait()
            self.dataplane.teardown(self.prefix)
        finally:
            for instance in self.instances.values():
                lab.destroy(instance)


@pytest.fixture(params=["nat", "bridge"])
def lan_lab(request: pytest.FixtureRequest) -> Iterator[LanLab]:
    built = LanLab(request.param)
    try:
        built.build()
        yield built
    finally:
        built.close()


def curl(ns: str, url: str) -> str | None:
    result = inside(ns, "curl", "-sS", "--max-time", "3", url, check=False)
    return result.stdout if result.returncode == 0 else None


def test_the_lan_reaches_an_instance_at_its_eip_on_open_ports_only(lan_lab: LanLab) -> None:
    L = lan_lab  # noqa: N806 - the lab reads better short here
    cli, i1, i2 = L.ns["cli"], L.ns["i1"], L.ns["i2"]
    assert curl(cli, f"http://{EIP_I1}/") == i1
    results = lab.run_probes([
        Probe("LAN pings the EIP", cli, "icmp", EIP_I1, expect="pong"),
        Probe("port 22 is closed by the security group", cli, "tcp", EIP_I1, 22),
        Probe("the NAT gateway's EIP takes nothing inbound", cli, "tcp", EIP_NAT, 80),
        Probe("the pool's other addresses are nobody's", cli, "icmp", "198.18.5.210"),
        Probe("the instance reaches the far Internet", i1, "tcp", FAR, 80, expect=L.ns["far"]),
        Probe("the private instance reaches it through its NAT gateway", i2, "tcp", FAR, 80, expect=L.ns["far"]),
    ], deny_timeout=1.0)
    assert not lab.failures(results)


def test_the_far_internet_sees_the_eips_and_only_the_nat_gateway_carries_the_private_subnet(lan_lab: LanLab) -> None:
    L = lan_lab  # noqa: N806
    for source, eip in ((L.ns["i1"], EIP_I1), (L.ns["i2"], EIP_NAT)):
        assert _source_seen_by_far(L, source) == eip
    doc = copy.deepcopy(L.doc)
    doc.vpcs[0].route_tables[2].routes = [Route("10.77.0.0/16", "local")]
    L.dataplane.apply(doc)
    results = lab.run_probes([Probe("no NAT gateway route, no way out", L.ns["i2"], "tcp", FAR, 80)], deny_timeout=1.0)
    assert not lab.failures(results)


def _source_seen_by_far(L: LanLab, src: str) -> str:  # noqa: N803
    """Ask the far server which address connected (a one-shot listener replying with the peer's address)."""
    listener = subprocess.Popen(
        ["nsenter", f"--net={netns.path(L.ns['far'])}", sys.executable, "-c",
         "import socket\ns = socket.create_server(('0.0.0.0', 9000)); print('ready', flush=True)\n"
         "c, a = s.accept(); c.sendall(a[0].encode()); c.close()"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None and "ready" in listener.stdout.readline()
        out = inside(src, sys.executable, "-c", f"import socket\nc = socket.create_connection(('{FAR}', 9000), 3)\n"
                     "print(c.recv(100).decode())")
        return out.stdout.strip()
    finally:
        listener.kill()
        listener.wait()


def test_teardown_and_lab_mode_leave_nothing_on_the_host(lan_lab: LanLab) -> None:
    L = lan_lab  # noqa: N806
    assert L.host_leftovers(), "the leg should be there before it is removed"
    again = Dataplane(L.run_dir, uplink=L.uplink).apply(L.doc)  # a restarted agent keeps the leg as it is
    assert not again.created_links and not again.removed_links
    assert curl(L.ns["cli"], f"http://{EIP_I1}/") == L.ns["i1"]
    Dataplane(L.run_dir, uplink=HostUplink(host_netns=L.ns["host"])).apply(L.doc)  # switched to lab
    assert L.host_leftovers() == []
    assert not lab.failures(lab.run_probes([Probe("lab mode: the LAN is cut off", L.ns["cli"], "tcp", EIP_I1, 80)],
                                           deny_timeout=1.0))
    L.dataplane.apply(L.doc, full=True)  # back to this mode: the periodic full apply rebuilds the leg
    assert curl(L.ns["cli"], f"http://{EIP_I1}/") == L.ns["i1"]
    L.dataplane.teardown(L.prefix)
    assert L.host_leftovers() == []


@pytest.mark.parametrize("lan_lab", ["bridge"], indirect=True)
def test_a_mode_change_converges_in_place(lan_lab: LanLab) -> None:
    """bridge -> nat (the LAN interface is then the host's bridge) -> bridge, each by the next agent's apply.
    The EIP's MAC changes each time: the client and the LAN's router learn the new one from the gratuitous
    ARP the agent sends (their caches are warm from the previous mode)."""
    L = lan_lab  # noqa: N806
    host = L.ns["host"]
    for uplink in (HostUplink("nat", host_netns=host), L.uplink):
        Dataplane(L.run_dir, uplink=uplink).apply(L.doc)
        assert curl(L.ns["cli"], f"http://{EIP_I1}/") == L.ns["i1"], uplink.mode
        assert _source_seen_by_far(L, L.ns["i1"]) == EIP_I1
        nft = inside(host, "nft", "list", "tables").stdout
        assert (host_table_name(L.prefix) in nft) == (uplink.mode == "nat")
    master = json.loads(inside(host, "ip", "-j", "link", "show", host_link_name(L.prefix)).stdout)[0].get("master")
    assert master == L.bridge
    L.dataplane.teardown(L.prefix)
    assert L.host_leftovers() == []
