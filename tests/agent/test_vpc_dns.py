"""The VPC resolver with real namespaces: dnsmasq in the router namespace answers at base+2 and
169.254.169.253, the agent's forwarder carries other names to an upstream only in nat mode.

Topology: VPC 10.70.0.0/16 with two subnets (10.70.0.0/24 holds the resolver's base+2 address itself, so one
instance reaches it on its own link and the other through its router), a NACL that denies everything (the
resolver, like AWS's, is not behind ACLs or groups), two veth instances. "The host" is a namespace with a
veth to an upstream namespace where a stub DNS server answers every question with 198.18.99.99 and counts
them: the proof that lab mode sends nothing out.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.contract.network import (
    RESOLVER_V4,
    ApiAccess,
    Attachment,
    DnsRecord,
    Eni,
    HostNetwork,
    NaclEntry,
    NetworkAcl,
    Route,
    RouteTable,
    SecurityGroup,
    Subnet,
    Vpc,
    VpcDns,
)
from agent.network import dns, naming, netns
from agent.network.dataplane import Dataplane
from agent.network.dns_forwarder import DnsForwarder
from agent.network.uplink import HostUplink
from tests.agent import dataplane_lab as lab
from tests.prerequisites import missing_root, require

require(missing_root(), "network namespace tests")
pytestmark = pytest.mark.root

DOMAIN = "home-1.compute.internal"
PUBLIC = "ec2-198-51-100-7.home-1.compute.amazonaws.com"
STUB_ANSWER = "198.18.99.99"
UPSTREAM = "198.18.53.2"


class StubUpstream:
    """A DNS server in its own namespace: answers every question (UDP and TCP) with one A record, counts them."""

    def __init__(self, ns: str, address: str) -> None:
        self.questions: list[str] = []
        self._stop = threading.Event()

        def bind() -> tuple[socket.socket, socket.socket]:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((address, 53))
            tcp = socket.socket()
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((address, 53))
            tcp.listen(8)
            return udp, tcp

        self.udp, self.tcp = netns.run_inside(ns, bind)
        for sock in (self.udp, self.tcp):
            sock.settimeout(0.2)
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]
        for thread in self._threads:
            thread.start()

    def answer(self, query: bytes) -> bytes:
        message = dns.parse(query)
        assert message.question is not None
        self.questions.append(message.question[0])
        _, end = dns._read_name(query, 12)
        record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + socket.inet_aton(STUB_ANSWER)
        return struct.pack("!HHHHHH", message.ident, 0x8180, 1, 1, 0, 0) + query[12:end + 4] + record

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                query, peer = self.udp.recvfrom(4096)
            except OSError:
                continue
            self.udp.sendto(self.answer(query), peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                size = struct.unpack("!H", conn.recv(2))[0]
                reply = self.answer(conn.recv(size))
                conn.sendall(struct.pack("!H", len(reply)) + reply)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.udp.close()
        self.tcp.close()


def ask(ns: str, server: str, name: str, qtype: str = "A", tcp: bool = False,
        timeout: float = 2.0) -> dns.Message | None:
    """One question from inside ``ns``; None when nothing answers in time."""
    query = dns.encode_query(name, qtype)

    def go() -> dns.Message | None:
        kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect((server, 53))
                if tcp:
                    sock.sendall(struct.pack("!H", len(query)) + query)
                    size = struct.unpack("!H", sock.recv(2))[0]
                    data = b""
                    while len(data) < size:
                        data += sock.recv(size - len(data))
                else:
                    sock.send(query)
                    data = sock.recv(4096)
            except OSError:
                return None
        return dns.parse(data)

    return netns.run_inside(ns, go)


def answer(ns: str, server: str, name: str, qtype: str = "A", tcp: bool = False) -> tuple[str, list[str]]:
    message = ask(ns, server, name, qtype, tcp)
    assert message is not None, f"no answer to {name} from {server}"
    return message.rcode, [text for _, text in message.answers]


@dataclass
class DnsLab:
    run: str
    doc: HostNetwork
    dataplane: Dataplane
    stub: StubUpstream
    host: str
    instances: dict[str, str]
    forwarders: list[DnsForwarder] = field(default_factory=list)

    def apply(self, mode: str) -> DnsForwarder:
        """The document and a forwarder as a host of uplink ``mode`` runs them (upstream: the stub)."""
        for old in self.forwarders:
            old.close()
        self.doc.uplink.mode = mode
        self.dataplane.apply(self.doc)
        forwarder = DnsForwarder(HostUplink(mode=mode, host_netns=self.host, dns_upstreams=(UPSTREAM,)))
        forwarder.update(self.doc)
        self.forwarders.append(forwarder)
        return forwarder

    @property
    def router(self) -> str:
        return naming.router_netns(self.doc.name_prefix, "vpc-d")


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


@pytest.fixture
def dns_lab() -> Iterator[DnsLab]:
    run = uuid.uuid4().hex[:5]
    prefix = f"cl-{run}-"
    host, upstream = f"cl-t{run}-host", f"cl-t{run}-up"
    names = {"d1": f"{prefix}i-d1", "d2": f"{prefix}i-d2"}
    made = [lab.create_instance(ns) for ns in names.values()]
    for ns in (host, upstream):
        made.append(lab.create_instance(ns))
    stub = None
    dataplane = Dataplane(run_dir=f"/tmp/cloudlet-dns-{run}")
    try:
        sh("ip", "link", "add", "up0", "netns", host, "type", "veth", "peer", "name", "up0", "netns", upstream)
        for ns, address in ((host, "198.18.53.1/30"), (upstream, f"{UPSTREAM}/30")):
            sh("ip", "-n", ns, "addr", "add", address, "dev", "up0")
            sh("ip", "-n", ns, "link", "set", "up0", "up")
        stub = StubUpstream(upstream, UPSTREAM)
        enis = [Eni("eni-d1", "subnet-d1", naming.mac_for(names["d1"]), ["10.70.1.10"], [], ["sg-d"],
                    attachment=Attachment("i" + naming.digest(names["d1"], 9), "veth", names["d1"])),
                Eni("eni-d2", "subnet-d0", naming.mac_for(names["d2"]), ["10.70.0.10"], [], ["sg-d"],
                    attachment=Attachment("i" + naming.digest(names["d2"], 9), "veth", names["d2"]))]
        records = [DnsRecord(f"ip-10-70-1-10.{DOMAIN}", "10.70.1.10"), DnsRecord(PUBLIC, "10.70.1.10"),
                   DnsRecord(f"ip-10-70-0-10.{DOMAIN}", "10.70.0.10")]
        vpc = Vpc("vpc-d", ["10.70.0.0/16"], "rtb-d", "acl-d",
                  subnets=[Subnet("subnet-d0", "10.70.0.0/24", "az1"), Subnet("subnet-d1", "10.70.1.0/24", "az1")],
                  route_tables=[RouteTable("rtb-d", [Route("10.70.0.0/16", "local")])],
                  network_acls=[NetworkAcl("acl-d", [NaclEntry(100, False, "deny", "0.0.0.0/0"),
                                                     NaclEntry(100, True, "deny", "0.0.0.0/0")])],
                  security_groups=[SecurityGroup("sg-d")], enis=enis,
                  dns=VpcDns(["10.70.0.2", RESOLVER_V4], DOMAIN, records))
        doc = HostNetwork("h", [vpc], name_prefix=prefix,
                          api=ApiAccess("203.0.113.2", ["s3.home-1.amazonaws.com", "sts.home-1.amazonaws.com"]))
        dataplane.apply(doc)
        lab.configure(made[0], "10.70.1.10", 24, "10.70.1.1")
        lab.configure(made[1], "10.70.0.10", 24, "10.70.0.1")
        yield DnsLab(run, doc, dataplane, stub, host, names)
    finally:
        if stub is not None:
            stub.close()
        dataplane.teardown(prefix)
        for instance in made:
            lab.destroy(instance)


def test_lab_mode_answers_the_vpc_names_and_nothing_goes_out(dns_lab: DnsLab) -> None:
    forwarder = dns_lab.apply("lab")
    assert not forwarder.enabled
    d1, d2 = dns_lab.instances["d1"], dns_lab.instances["d2"]
    for server in ("10.70.0.2", RESOLVER_V4):
        assert answer(d1, server, f"ip-10-70-0-10.{DOMAIN}") == ("NOERROR", ["10.70.0.10"])
        assert answer(d1, server, PUBLIC) == ("NOERROR", ["10.70.1.10"])  # the private address, inside
        assert answer(d1, server, dns.reverse_name("10.70.1.10"), "PTR") == ("NOERROR", [f"ip-10-70-1-10.{DOMAIN}"])
        assert answer(d1, server, "sts.home-1.amazonaws.com") == ("NOERROR", ["203.0.113.2"])
        assert answer(d1, server, "bucket.s3.home-1.amazonaws.com") == ("NOERROR", ["203.0.113.2"])
        assert answer(d1, server, "bucket.s3.home-1.amazonaws.com", "AAAA") == ("NOERROR", [])
        assert answer(d1, server, "example.com") == ("NXDOMAIN", [])
        assert answer(d1, server, "example.com", tcp=True) == ("NXDOMAIN", [])
    # From the subnet that holds base+2 itself (ARP on its own link) too.
    assert answer(d2, "10.70.0.2", f"ip-10-70-1-10.{DOMAIN}", tcp=True) == ("NOERROR", ["10.70.1.10"])
    # The subnet router's address is not a resolver (dnsmasq binds it, the router's input chain drops it).
    assert ask(d1, "10.70.1.1", f"ip-10-70-1-10.{DOMAIN}", timeout=0.5) is None
    assert dns_lab.stub.questions == []


def test_a_new_interface_in_the_vpc_is_a_reload_not_a_restart(dns_lab: DnsLab) -> None:
    dns_lab.apply("lab")
    d1 = dns_lab.instances["d1"]
    pid = (Path(dns_lab.dataplane.run_dir) / dns_lab.router / "dnsmasq.pid").read_text()
    assert answer(d1, "10.70.0.2", f"ip-10-70-1-99.{DOMAIN}") == ("NXDOMAIN", [])
    dns_lab.doc.vpcs[0].dns.records.append(DnsRecord(f"ip-10-70-1-99.{DOMAIN}", "10.70.1.99"))
    report = dns_lab.dataplane.apply(dns_lab.doc)
    assert report.dhcp_restarted == []
    assert (Path(dns_lab.dataplane.run_dir) / dns_lab.router / "dnsmasq.pid").read_text() == pid
    wait = time.monotonic() + 5
    while answer(d1, "10.70.0.2", f"ip-10-70-1-99.{DOMAIN}")[0] != "NOERROR" and time.monotonic() < wait:
        time.sleep(0.05)
    assert answer(d1, "10.70.0.2", f"ip-10-70-1-99.{DOMAIN}") == ("NOERROR", ["10.70.1.99"])


def test_nat_mode_forwards_other_names_to_the_hosts_resolver(dns_lab: DnsLab) -> None:
    dns_lab.apply("nat")
    d1 = dns_lab.instances["d1"]
    assert answer(d1, "10.70.0.2", "example.com") == ("NOERROR", [STUB_ANSWER])
    assert answer(d1, RESOLVER_V4, "www.example.org", tcp=True) == ("NOERROR", [STUB_ANSWER])
    # The VPC's own names and the API's stay inside, known or not.
    assert answer(d1, "10.70.0.2", f"ip-10-70-1-10.{DOMAIN}") == ("NOERROR", ["10.70.1.10"])
    assert answer(d1, "10.70.0.2", f"ip-10-70-9-9.{DOMAIN}") == ("NXDOMAIN", [])
    assert answer(d1, "10.70.0.2", dns.reverse_name("10.70.9.9"), "PTR")[0] == "NXDOMAIN"
    assert answer(d1, "10.70.0.2", "s3.home-1.amazonaws.com", "AAAA") == ("NOERROR", [])
    assert sorted(set(dns_lab.stub.questions)) == ["example.com", "www.example.org"]


def test_turning_dns_support_off_removes_the_resolver(dns_lab: DnsLab) -> None:
    forwarder = dns_lab.apply("nat")
    d1 = dns_lab.instances["d1"]
    assert answer(d1, "10.70.0.2", f"ip-10-70-1-10.{DOMAIN}")[0] == "NOERROR"
    dns_lab.doc.vpcs[0].dns = None
    dns_lab.dataplane.apply(dns_lab.doc)
    forwarder.update(dns_lab.doc)
    for server in ("10.70.0.2", RESOLVER_V4):
        assert ask(d1, server, f"ip-10-70-1-10.{DOMAIN}", timeout=0.5) is None
    lo = subprocess.run(["ip", "-n", dns_lab.router, "-4", "-o", "addr", "show", "dev", "lo"],
                        capture_output=True, text=True, check=True).stdout
    assert "10.70.0.2" not in lo and RESOLVER_V4 not in lo
    forwarders = netns.run_inside(dns_lab.router, lambda: socket.socket().connect_ex(("127.0.0.1", dns.FORWARDER_PORT)))
    assert forwarders != 0  # nothing listens for forwarding any more


def test_a_router_namespace_made_anew_gets_a_new_forwarder_listener(dns_lab: DnsLab) -> None:
    forwarder = dns_lab.apply("nat")

    def listening() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", dns.FORWARDER_PORT)) == 0

    assert netns.run_inside(dns_lab.router, listening)
    # What a repair does after someone deleted the namespace: a new one of the same name.
    netns.remove(dns_lab.router)
    netns.create(dns_lab.router)
    subprocess.run(["ip", "-n", dns_lab.router, "link", "set", "lo", "up"], check=True)
    assert not netns.run_inside(dns_lab.router, listening)
    forwarder.update(dns_lab.doc)
    assert netns.run_inside(dns_lab.router, listening)


def test_dhcp_announces_the_resolver_and_the_domains_only_while_dns_is_on(dns_lab: DnsLab, tmp_path: Path) -> None:
    script = tmp_path / "lease.sh"
    script.write_text('#!/bin/sh\n[ "$1" = bound ] && echo "dns=$dns domain=$domain search=$search"\n')
    script.chmod(0o755)

    def lease() -> str:
        out = subprocess.run(["nsenter", f"--net={netns.path(dns_lab.instances['d1'])}", "busybox", "udhcpc", "-i",
                              "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1", "-O", "search", "-s", str(script)],
                             capture_output=True, text=True, timeout=30)
        return next((line for line in out.stdout.splitlines() if line.startswith("dns=")), out.stderr)

    vpc = dns_lab.doc.vpcs[0]
    vpc.dhcp.domain_name, vpc.dhcp.domain_name_servers = f"corp.example {DOMAIN}", ["10.70.0.2"]
    dns_lab.apply("lab")
    assert lease() == f"dns=10.70.0.2 domain=corp.example search=corp.example {DOMAIN}"
    vpc.dns, vpc.dhcp.domain_name_servers = None, []
    dns_lab.apply("lab")
    assert lease() == f"dns= domain=corp.example search=corp.example {DOMAIN}"
