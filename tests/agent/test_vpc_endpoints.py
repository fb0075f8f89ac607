"""VPC endpoints with real namespaces: the API relay reached from a private subnet through a gateway endpoint
(the router delivers the API address locally only for subnets whose table routes it to the endpoint) and
through an interface endpoint's ENI (its own namespace, behind its security group, named by private DNS).

Topology: VPC 10.72.0.0/16, subnet P (its table routes the S3 prefix list, i.e. 203.0.113.2/32, to
``vpce-g``) and subnet O (main table, local only); no internet gateway. Instance ``p`` in P, ``o`` in O; the
STS interface endpoint ``vpce-i`` has ENI 10.72.1.50 in P. The controller is a stand-in that echoes the
relay's trusted headers back.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.contract.naming import service_port
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
    SgRule,
    Subnet,
    Vpc,
    VpcDns,
    VpcEndpoint,
)
from agent.network import endpoints, naming, netns
from agent.network.api_relay import ApiRelay, TlsPair
from agent.network.dataplane import Dataplane
from controller.hosts import api_tls
from tests.agent import dataplane_lab as lab
from tests.agent.test_vpc_dns import answer
from tests.prerequisites import missing_root, require

require(missing_root(), "network namespace tests")
pytestmark = pytest.mark.root

API = "203.0.113.2"
ENDPOINT_IP = "10.72.1.50"
STS = "sts.home-1.amazonaws.com"


class Echo(http.server.BaseHTTPRequestHandler):
    """The controller stand-in: answers with the headers it got."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def document(prefix: str, names: dict[str, str], endpoint_ingress: list[SgRule]) -> HostNetwork:
    eni = Eni("eni-0e0e0e0e0e0e0e0e0", "subnet-p", naming.mac_for("endpoint"), [ENDPOINT_IP], [], ["sg-e"],
              attachment=Attachment(service_port("eni-0e0e0e0e0e0e0e0e0"), "service"))
    instances = [Eni(f"eni-{key}", subnet, naming.mac_for(names[key]), [address], [], ["sg-i"],
                     attachment=Attachment("i" + naming.digest(names[key], 9), "veth", names[key]))
                 for key, subnet, address in (("p", "subnet-p", "10.72.1.10"), ("o", "subnet-o", "10.72.2.10"))]
    vpc = Vpc("vpc-e", ["10.72.0.0/16"], "rtb-m", "acl-e",
              subnets=[Subnet("subnet-p", "10.72.1.0/24", "az1", route_table_id="rtb-p"),
                       Subnet("subnet-o", "10.72.2.0/24", "az1")],
              route_tables=[RouteTable("rtb-m", [Route("10.72.0.0/16", "local")]),
                            RouteTable("rtb-p", [Route("10.72.0.0/16", "local"), Route(f"{API}/32", "vpce-g")])],
              network_acls=[NetworkAcl("acl-e", [NaclEntry(100, False, "allow", "0.0.0.0/0"),
                                                 NaclEntry(100, True, "allow", "0.0.0.0/0")])],
              security_groups=[SecurityGroup("sg-i", egress=[SgRule(cidr="0.0.0.0/0")]),
                               SecurityGroup("sg-e", ingress=endpoint_ingress)],
              enis=[eni, *instances],
              dns=VpcDns(["10.72.0.2", RESOLVER_V4], "home-1.compute.internal", [DnsRecord(STS, ENDPOINT_IP)]),
              endpoints=[VpcEndpoint("vpce-g", "gateway", API, ["rtb-p"]),
                         VpcEndpoint("vpce-i", "interface", ENDPOINT_IP, eni_id=eni.id, subnet_id="subnet-p")])
    return HostNetwork("h", [vpc], name_prefix=prefix,
                       api=ApiAccess(API, ["s3.home-1.amazonaws.com", STS]))


HTTPS = [SgRule("tcp", 443, 443, cidr="10.72.0.0/16"), SgRule("tcp", 80, 80, cidr="10.72.0.0/16")]


@pytest.fixture
def endpoint_lab(tmp_path: Path) -> Iterator[dict[str, Any]]:
    run = uuid.uuid4().hex[:5]
    prefix = f"cl-{run}-"
    names = {"p": f"{prefix}i-p", "o": f"{prefix}i-o"}
    made = [lab.create_instance(ns) for ns in names.values()]
    # Not under tmp_path (0700): dnsmasq reads its hosts files after dropping to ``nobody``.
    run_dir = f"/tmp/cloudlet-vpce-{run}"
    dataplane, spaces = Dataplane(run_dir=run_dir), endpoints.EndpointNamespaces(run_dir)
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    material = api_tls.material(tmp_path, "home-1", "amazonaws.com")
    (tmp_path / "ca.pem").write_text(material.ca)
    relay = ApiRelay(f"http://127.0.0.1:{upstream.server_port}", "agents-token",
                     tls=lambda: TlsPair(material.certificate_chain, material.private_key))
    try:
        doc = document(prefix, names, HTTPS)

        def apply(doc: HostNetwork) -> None:
            """What the network reconciler does with a document (agent/service/network.py)."""
            spaces.prepare(doc)
            dataplane.apply(doc)
            spaces.configure(doc)
            relay.update(endpoints.relay_listeners(doc))

        apply(doc)
        lab.configure(made[0], "10.72.1.10", 24, "10.72.1.1")
        lab.configure(made[1], "10.72.2.10", 24, "10.72.2.1")
        yield {"apply": apply, "names": names, "prefix": prefix, "ca": tmp_path / "ca.pem", "spaces": spaces}
    finally:
        relay.close()
        upstream.shutdown()
        upstream.server_close()
        spaces.teardown()
        dataplane.teardown(prefix)
        for instance in made:
            lab.destroy(instance)
        shutil.rmtree(run_dir, ignore_errors=True)


def curl(endpoint_lab: dict[str, Any], source: str, url: str, *resolve: str,
         seconds: float = 3) -> subprocess.CompletedProcess[str]:
    args = [arg for entry in resolve for arg in ("--resolve", entry)]
    return subprocess.run(["ip", "netns", "exec", endpoint_lab["names"][source], "curl", "-sS", "--max-time", str(seconds),
                           "--cacert", str(endpoint_lab["ca"]), *args, url],
                          capture_output=True, text=True, timeout=15)


def test_a_private_subnet_reaches_the_api_through_its_gateway_endpoint_only(endpoint_lab: dict[str, Any]) -> None:
    done = curl(endpoint_lab, "p", "https://s3.home-1.amazonaws.com/bucket", f"s3.home-1.amazonaws.com:443:{API}")
    assert done.returncode == 0, done.stderr
    headers = json.loads(done.stdout)
    assert (headers["x-cloudlet-via"], headers["x-cloudlet-source-vpc"], headers["x-cloudlet-source-ip"]) == (
        "vpce-g", "vpc-e", "10.72.1.10")
    assert curl(endpoint_lab, "p", f"http://{API}/plain").returncode == 0
    # Subnet O's table has no route to the endpoint (and the VPC no internet gateway): nothing answers.
    assert curl(endpoint_lab, "o", f"http://{API}/plain", seconds=1).returncode != 0


def test_an_interface_endpoint_answers_on_its_eni_behind_its_security_group(endpoint_lab: dict[str, Any]) -> None:
    p, o = endpoint_lab["names"]["p"], endpoint_lab["names"]["o"]
    # Private DNS: the service's name is the ENI's address inside the VPC, other API names the relay's.
    assert answer(p, "10.72.0.2", STS) == ("NOERROR", [ENDPOINT_IP])
    assert answer(o, "10.72.0.2", "s3.home-1.amazonaws.com") == ("NOERROR", [API])
    for source in ("p", "o"):
        done = curl(endpoint_lab, source, f"https://{STS}/?Action=GetCallerIdentity", f"{STS}:443:{ENDPOINT_IP}")
        assert done.returncode == 0, done.stderr
        headers = json.loads(done.stdout)
        assert (headers["x-cloudlet-via"], headers["x-cloudlet-source-vpc"]) == ("vpce-i", "vpc-e")
    names = endpoint_lab["names"]
    endpoint_lab["apply"](document(endpoint_lab["prefix"], names, [SgRule("tcp", 443, 443, cidr="10.72.2.0/24")]))
    assert curl(endpoint_lab, "o", f"https://{STS}/", f"{STS}:443:{ENDPOINT_IP}").returncode == 0
    assert curl(endpoint_lab, "p", f"https://{STS}/", f"{STS}:443:{ENDPOINT_IP}", seconds=1).returncode != 0


def test_an_endpoint_that_leaves_the_document_takes_its_namespace_and_route(endpoint_lab: dict[str, Any]) -> None:
    doc = document(endpoint_lab["prefix"], endpoint_lab["names"], HTTPS)
    vpc = doc.vpcs[0]
    vpc.endpoints, vpc.enis = [], vpc.enis[1:]
    vpc.route_tables[1].routes = vpc.route_tables[1].routes[:1]
    endpoint_lab["apply"](doc)
    assert not netns.exists(naming.service_netns(endpoint_lab["prefix"], "eni-0e0e0e0e0e0e0e0e0"))
    assert curl(endpoint_lab, "p", f"http://{API}/plain", seconds=1).returncode != 0
    assert curl(endpoint_lab, "p", f"http://{ENDPOINT_IP}/plain", seconds=1).returncode != 0
