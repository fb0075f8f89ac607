"""The metadata service at 169.254.169.254 through the real dataplane: each instance reads its own data."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from agent.contract.network import (
    Attachment,
    Eni,
    HostNetwork,
    NaclEntry,
    NetworkAcl,
    Route,
    RouteTable,
    SecurityGroup,
    Subnet,
    Vpc,
)
from agent.network import naming, netns
from agent.network.dataplane import Dataplane
from agent.network.imds import Caller, InstanceMetadata, MetadataService
from tests.agent import dataplane_lab as lab
from tests.prerequisites import missing_root, require

require(missing_root(), "network namespace tests")
pytestmark = pytest.mark.root

CLIENT = r"""
import http.client, sys
def call(method, path, headers):
    c = http.client.HTTPConnection("169.254.169.254", 80, timeout=3)
    c.request(method, path, headers=headers)
    r = c.getresponse()
    return r.status, r.read().decode()
token = sys.argv[1] if len(sys.argv) > 1 else None
if token == "new":
    print(call("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})[1])
else:
    status, body = call("GET", "/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": token} if token else {})
    print(status, body)
"""


def provider(caller: Caller) -> InstanceMetadata | None:
    return InstanceMetadata({"instance-id": caller.instance_id or "", "local-ipv4": caller.private_ip})


@pytest.fixture
def imds_lab() -> Iterator[dict[str, str]]:
    run = uuid.uuid4().hex[:5]
    names = {name: f"cl-{run}-i-{name}" for name in ("m1", "m2")}
    instances = {name: lab.create_instance(ns) for name, ns in names.items()}
    enis = [Eni(f"eni-{name}", "subnet-m", naming.mac_for(ns), [f"10.70.1.{10 + i}"], [], ["sg-m"],
                instance_id=f"i-{name}", attachment=Attachment("i" + naming.digest(ns, 9), "veth", ns))
            for i, (name, ns) in enumerate(names.items())]
    vpc = Vpc("vpc-m", ["10.70.0.0/16"], "rtb-m", "acl-m", subnets=[Subnet("subnet-m", "10.70.1.0/24", "az1")],
              route_tables=[RouteTable("rtb-m", [Route("10.70.0.0/16", "local")])],
              network_acls=[NetworkAcl("acl-m", [NaclEntry(100, False, "deny", "0.0.0.0/0")])],
              security_groups=[SecurityGroup("sg-m")], enis=enis)
    doc = HostNetwork("h", [vpc], name_prefix=f"cl-{run}-")
    service = MetadataService(provider)
    dataplane = Dataplane(run_dir=f"/tmp/cloudlet-imds-{run}", metadata=service)
    try:
        dataplane.apply(doc)
        for i, name in enumerate(names):
            lab.configure(instances[name], f"10.70.1.{10 + i}", 24, "10.70.1.1")
        yield names
    finally:
        service.close()
        dataplane.teardown(doc.name_prefix)
        for instance in instances.values():
            lab.destroy(instance)


def ask(ns: str, *args: str) -> str:
    return subprocess.run(["nsenter", f"--net={netns.path(ns)}", sys.executable, "-c", CLIENT, *args],
                          capture_output=True, text=True, timeout=20, check=True).stdout.strip()


def test_each_instance_reads_its_own_metadata_despite_sg_and_nacl(imds_lab: dict[str, str]) -> None:
    """The group admits nothing and the ACL denies everything, yet metadata answers (as in EC2)."""
    assert ask(imds_lab["m1"]) == "200 i-m1"
    assert ask(imds_lab["m2"]) == "200 i-m2"


def test_imdsv2_token_is_bound_to_the_instance_that_asked(imds_lab: dict[str, str]) -> None:
    token = ask(imds_lab["m1"], "new")
    assert ask(imds_lab["m1"], token) == "200 i-m1"
    assert ask(imds_lab["m2"], token).startswith("401")
