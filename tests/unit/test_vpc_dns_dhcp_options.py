"""DHCP options sets: the API as EC2 answers it, and what a VPC's DHCP then hands out."""

from __future__ import annotations

import pytest

from agent.contract import network as model
from controller.ec2.vpc import desired_network
from controller.ec2.vpc.desired_network import HostInfo
from controller.ec2.vpc.dhcp_options import dhcp_for_vpc
from tests.unit.harness import Clouds, VpcCloud


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc()


def create(cloud: VpcCloud, **options: list[str]) -> str:
    configurations = [{"Key": key.replace("_", "-"), "Values": values} for key, values in options.items()]
    return cloud.call("CreateDhcpOptions", {"DhcpConfigurations": configurations})["DhcpOptions"]["DhcpOptionsId"]


def dhcp_of(cloud: VpcCloud, vpc_id: str) -> model.DhcpOptions:
    subnet = cloud.call("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": "10.0.1.0/24"})["Subnet"]["SubnetId"]
    cloud.launch(subnet, "i-000000000000000c1", host_id="h1",
                 port={"port": "cl-c1", "kind": "veth", "instance_netns": "ns-c1", "guest_ifname": "eth0"})
    with cloud.db.read() as conn:
        rows = desired_network.load_network(conn)
    return desired_network.compile_host_network(rows, "h1", cloud.config, [HostInfo("h1", "home-1a")]).vpc(vpc_id).dhcp


def test_a_set_is_created_described_filtered_and_tagged(cloud: VpcCloud) -> None:
    made = cloud.call("CreateDhcpOptions", {
        "DhcpConfigurations": [{"Key": "domain-name", "Values": ["corp.example"]},
                               {"Key": "domain-name-servers", "Values": ["AmazonProvidedDNS", "198.18.0.53"]}],
        "TagSpecifications": [{"ResourceType": "dhcp-options", "Tags": [{"Key": "env", "Value": "lab"}]}]})[
        "DhcpOptions"]
    dopt = made["DhcpOptionsId"]
    assert dopt.startswith("dopt-") and made["OwnerId"] == cloud.account
    assert made["DhcpConfigurations"] == [
        {"Key": "domain-name", "Values": [{"Value": "corp.example"}]},
        {"Key": "domain-name-servers", "Values": [{"Value": "AmazonProvidedDNS"}, {"Value": "198.18.0.53"}]}]
    other = create(cloud, ntp_servers=["198.18.0.123"])
    listed = cloud.call("DescribeDhcpOptions")["DhcpOptions"]
    assert sorted(d["DhcpOptionsId"] for d in listed) == sorted([dopt, other])
    by_value = cloud.call("DescribeDhcpOptions", {"Filters": [{"Name": "value", "Values": ["corp.example"]}]})
    assert [d["DhcpOptionsId"] for d in by_value["DhcpOptions"]] == [dopt]
    by_tag = cloud.call("DescribeDhcpOptions", {"Filters": [{"Name": "tag:env", "Values": ["lab"]}]})
    assert [d["Tags"] for d in by_tag["DhcpOptions"]] == [[{"Key": "env", "Value": "lab"}]]
    cloud.call("CreateTags", {"Resources": [other], "Tags": [{"Key": "env", "Value": "ntp"}]})
    assert cloud.call("DescribeDhcpOptions", {"DhcpOptionsIds": [other]})["DhcpOptions"][0]["Tags"] == [
        {"Key": "env", "Value": "ntp"}]
    cloud.refused("DescribeDhcpOptions", {"DhcpOptionsIds": ["dopt-0123456789abcdef0"]},
                  "InvalidDhcpOptionID.NotFound")


def test_bad_configurations_are_refused(cloud: VpcCloud) -> None:
    for configurations in ([{"Key": "routers", "Values": ["10.0.0.1"]}],
                           [{"Key": "domain-name-servers", "Values": ["dns.example"]}],
                           [{"Key": "domain-name-servers", "Values": ["10.0.0.1"] * 5}],
                           [{"Key": "netbios-node-type", "Values": ["3"]}],
                           [{"Key": "domain-name", "Values": ["a"]}, {"Key": "domain-name", "Values": ["b"]}]):
        cloud.refused("CreateDhcpOptions", {"DhcpConfigurations": configurations}, "InvalidParameterValue")


def test_association_shows_on_the_vpc_and_blocks_deletion(cloud: VpcCloud) -> None:
    vpc = cloud.call("CreateVpc", {"CidrBlock": "10.0.0.0/16"})["Vpc"]["VpcId"]
    dopt = create(cloud, domain_name=["corp.example"])

    def shown() -> str:
        return cloud.call("DescribeVpcs", {"VpcIds": [vpc]})["Vpcs"][0]["DhcpOptionsId"]

    assert shown() == "default"
    cloud.call("AssociateDhcpOptions", {"DhcpOptionsId": dopt, "VpcId": vpc})
    assert shown() == dopt
    assert cloud.call("DescribeVpcs", {"Filters": [{"Name": "dhcp-options-id", "Values": [dopt]}]})["Vpcs"][0][
        "VpcId"] == vpc
    cloud.refused("DeleteDhcpOptions", {"DhcpOptionsId": dopt}, "DependencyViolation")
    cloud.refused("AssociateDhcpOptions", {"DhcpOptionsId": "dopt-0123456789abcdef0", "VpcId": vpc},
                  "InvalidDhcpOptionID.NotFound")
    assert shown() == dopt  # a failed association changes nothing
    cloud.call("AssociateDhcpOptions", {"DhcpOptionsId": "default", "VpcId": vpc})
    assert shown() == "default"
    cloud.call("DeleteDhcpOptions", {"DhcpOptionsId": dopt})
    assert cloud.call("DescribeDhcpOptions")["DhcpOptions"] == []


def test_the_vpc_hands_out_the_sets_domain_and_servers(cloud: VpcCloud) -> None:
    vpc = cloud.call("CreateVpc", {"CidrBlock": "10.0.0.0/16"})["Vpc"]["VpcId"]
    dopt = create(cloud, domain_name=["corp.example home-1.compute.internal"],
                  domain_name_servers=["198.18.0.53", "AmazonProvidedDNS"])
    cloud.call("AssociateDhcpOptions", {"DhcpOptionsId": dopt, "VpcId": vpc})
    dhcp = dhcp_of(cloud, vpc)
    assert dhcp.domain_name == "corp.example home-1.compute.internal"
    assert dhcp.domain_name_servers == ["198.18.0.53", "10.0.0.2"]


def test_amazon_provided_dns_follows_enable_dns_support() -> None:
    vpc = {"cidr_block": "10.0.0.0/16", "enable_dns_support": True}
    assert dhcp_for_vpc(vpc, None, "home-1") == ("home-1.compute.internal", ["10.0.0.2"])
    assert dhcp_for_vpc(vpc, None, "us-east-1") == ("ec2.internal", ["10.0.0.2"])
    servers = [{"Key": "domain-name-servers", "Values": ["AmazonProvidedDNS", "198.18.0.53"]}]
    assert dhcp_for_vpc(vpc, servers, "home-1") == ("", ["10.0.0.2", "198.18.0.53"])
    assert dhcp_for_vpc({**vpc, "enable_dns_support": False}, servers, "home-1") == ("", ["198.18.0.53"])
    assert dhcp_for_vpc({**vpc, "enable_dns_support": False}, None, "home-1") == ("home-1.compute.internal", [])
