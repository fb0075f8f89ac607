"""The VPC resolver end to end: the AWS CLI changes the VPC, a namespace instance's libc resolves the names.

One ``cloudlet up`` with its agent (lab mode, a name prefix of its own). The AWS CLI makes a VPC with an
internet gateway, an interface plugged into a namespace instance (``cloudlet netns attach``) and a second
one with an Elastic IP that is attached nowhere. The instance's ``/etc/netns/<ns>/resolv.conf`` names the
VPC's base+2 with the region's search domain, as DHCP would, and ``getent`` (glibc, what any program uses)
asks through ``ip netns exec``: private names both ways, the Cloudlet API's names (the relay's address),
nothing else in lab mode. ModifyVpcAttribute turns public names on, then DNS off.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.dataplane_helpers import wait_until
from tests.e2e.namespace_lab import NamespaceLab, running
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import CloudletProcess

require(missing_root() + missing_tools("nft", "dnsmasq", "nsenter", "getent"), "VPC DNS tests")
pytestmark = pytest.mark.root

RUN = uuid.uuid4().hex[:6]
PREFIX = f"cl-{RUN}-"
DOMAIN = "home-1.compute.internal"
INSTANCE_IP, OTHER_IP = "10.79.1.10", "10.79.1.11"


@dataclass
class Names(NamespaceLab):
    other: str = ""
    eip: str = ""

    def getent(self, *args: str) -> str | None:
        """What the instance's libc answers (None: the name does not resolve)."""
        assert self.instance is not None
        done = subprocess.run(["ip", "netns", "exec", self.instance.netns, "getent", *args], capture_output=True,
                              text=True, timeout=30)
        return " ".join(done.stdout.split()) if done.returncode == 0 else None


def build(n: Names) -> None:
    n.vpc_id = n.aws("ec2", "create-vpc", "--cidr-block", "10.79.0.0/16")["Vpc"]["VpcId"]
    subnet = n.aws("ec2", "create-subnet", "--vpc-id", n.vpc_id, "--cidr-block", "10.79.1.0/24",
                   "--availability-zone", "home-1a")["Subnet"]["SubnetId"]
    igw = n.aws("ec2", "create-internet-gateway")["InternetGateway"]["InternetGatewayId"]
    n.aws("ec2", "attach-internet-gateway", "--internet-gateway-id", igw, "--vpc-id", n.vpc_id)
    n.eni = n.aws("ec2", "create-network-interface", "--subnet-id", subnet, "--private-ip-address",
                  INSTANCE_IP)["NetworkInterface"]["NetworkInterfaceId"]
    n.other = n.aws("ec2", "create-network-interface", "--subnet-id", subnet, "--private-ip-address",
                    OTHER_IP)["NetworkInterface"]["NetworkInterfaceId"]
    address = n.aws("ec2", "allocate-address", "--domain", "vpc")
    n.allocation, n.eip = address["AllocationId"], address["PublicIp"]
    n.aws("ec2", "associate-address", "--allocation-id", n.allocation, "--network-interface-id", n.other)
    n.plug_instance("dns", INSTANCE_IP)
    n.use_resolver(f"nameserver 10.79.0.2\nsearch {DOMAIN}\noptions timeout:1 attempts:1\n")


@pytest.fixture(scope="module")
def names(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Names]:
    data_dir = tmp_path_factory.mktemp("vpc-dns") / "data"
    cloud = CloudletProcess(data_dir, agent=True, extra_env={"CLOUDLET_AGENT_NAME_PREFIX": PREFIX})
    with running(Names(cloud, PREFIX), build) as n:
        yield n


def test_private_names_resolve_both_ways_and_lab_mode_forwards_nothing(names: Names) -> None:
    other = f"ip-10-79-1-11.{DOMAIN}"
    wait_until(lambda: names.getent("hosts", other) is not None, 20, "the VPC resolver to answer")
    assert names.getent("hosts", other) == f"{OTHER_IP} {other}"
    assert names.getent("hosts", "ip-10-79-1-10") == f"{INSTANCE_IP} ip-10-79-1-10.{DOMAIN}"  # the search domain
    assert names.getent("hosts", INSTANCE_IP) == f"{INSTANCE_IP} ip-10-79-1-10.{DOMAIN}"  # reverse
    assert names.getent("hosts", "example.com") is None  # lab mode: NXDOMAIN, nothing forwarded


def test_the_api_names_resolve_to_the_relay(names: Names) -> None:
    for name in ("sts.home-1.amazonaws.com", "s3.home-1.amazonaws.com", "my-bucket.s3.home-1.amazonaws.com"):
        assert (names.getent("ahostsv4", name) or "").split()[:1] == ["203.0.113.2"], name


def test_public_names_appear_with_dns_hostnames_and_resolve_to_the_private_address(names: Names) -> None:
    public = f"ec2-{names.eip.replace('.', '-')}.home-1.compute.amazonaws.com"

    def shown() -> str:
        return names.aws("ec2", "describe-network-interfaces", "--network-interface-ids", names.other)[
            "NetworkInterfaces"][0]["Association"]["PublicDnsName"]

    assert shown() == "" and names.getent("hosts", public) is None
    names.aws("ec2", "modify-vpc-attribute", "--vpc-id", names.vpc_id, "--enable-dns-hostnames", '{"Value":true}')
    assert shown() == public
    wait_until(lambda: names.getent("hosts", public) is not None, 20, "the public name in the VPC")
    assert names.getent("hosts", public) == f"{OTHER_IP} {public}"


def test_dns_support_off_silences_the_resolver(names: Names) -> None:
    other = f"ip-10-79-1-11.{DOMAIN}"
    assert names.getent("hosts", other) is not None
    names.aws("ec2", "modify-vpc-attribute", "--vpc-id", names.vpc_id, "--enable-dns-hostnames", '{"Value":false}')
    names.aws("ec2", "modify-vpc-attribute", "--vpc-id", names.vpc_id, "--enable-dns-support", '{"Value":false}')
    wait_until(lambda: names.getent("hosts", other) is None, 20, "the resolver to go away")
    names.aws("ec2", "modify-vpc-attribute", "--vpc-id", names.vpc_id, "--enable-dns-support", '{"Value":true}')
    wait_until(lambda: names.getent("hosts", other) is not None, 20, "the resolver to come back")


def test_a_dhcp_options_set_through_the_aws_cli(names: Names) -> None:
    made = names.aws("ec2", "create-dhcp-options", "--dhcp-configurations",
                     "Key=domain-name,Values=corp.example", "Key=domain-name-servers,Values=AmazonProvidedDNS")
    dopt = made["DhcpOptions"]["DhcpOptionsId"]
    assert made["DhcpOptions"]["DhcpConfigurations"][0] == {"Key": "domain-name", "Values": [{"Value": "corp.example"}]}
    names.aws("ec2", "associate-dhcp-options", "--dhcp-options-id", dopt, "--vpc-id", names.vpc_id)
    assert names.aws("ec2", "describe-vpcs", "--vpc-ids", names.vpc_id)["Vpcs"][0]["DhcpOptionsId"] == dopt
    names.aws("ec2", "associate-dhcp-options", "--dhcp-options-id", "default", "--vpc-id", names.vpc_id)
    names.aws("ec2", "delete-dhcp-options", "--dhcp-options-id", dopt)
    assert names.aws("ec2", "describe-dhcp-options")["DhcpOptions"] == []
