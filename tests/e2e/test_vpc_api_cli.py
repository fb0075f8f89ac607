"""The issue's VPC walk-through with the stock AWS CLI against a real ``cloudlet up``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.helpers import teardown_vpc, wait_for_nat
from tests.support import CloudletProcess


class Cli:
    """``aws ec2 ...`` with JSON output parsed."""

    def __init__(self, cloudlet: CloudletProcess) -> None:
        self.cloudlet = cloudlet

    def __call__(self, *args: str) -> Any:
        out = self.cloudlet.aws("ec2", *args, "--output", "json")
        return json.loads(out.stdout) if out.stdout.strip() else {}

    def refused(self, code: str, *args: str) -> str:
        """Run a command that must fail with AWS error ``code``; returns the CLI's error text."""
        out = self.cloudlet.aws("ec2", *args, check=False)
        assert out.returncode != 0, out.stdout
        assert f"({code})" in out.stderr, out.stderr
        return out.stderr


@pytest.fixture
def cli(cloudlet: CloudletProcess) -> Cli:
    return Cli(cloudlet)


def tags(kind: str, name: str) -> str:
    return f"ResourceType={kind},Tags=[{{Key=Name,Value={name}}}]"


def test_the_walkthrough_with_the_aws_cli(cli: Cli, cloudlet: CloudletProcess, unique: str) -> None:
    ec2 = cloudlet.client("ec2")
    vpc_id = cli("create-vpc", "--cidr-block", "10.30.0.0/16", "--tag-specifications", tags("vpc", unique))[
        "Vpc"]["VpcId"]
    allocations: list[str] = []
    try:
        public = cli("create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.30.1.0/24",
                     "--availability-zone", "home-1a")["Subnet"]["SubnetId"]
        private = cli("create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.30.2.0/24",
                      "--availability-zone", "home-1b")["Subnet"]["SubnetId"]
        cli("modify-subnet-attribute", "--subnet-id", public, "--map-public-ip-on-launch")
        igw = cli("create-internet-gateway")["InternetGateway"]["InternetGatewayId"]
        cli("attach-internet-gateway", "--internet-gateway-id", igw, "--vpc-id", vpc_id)
        eip = cli("allocate-address", "--domain", "vpc", "--tag-specifications", tags("elastic-ip", unique))
        allocations.append(eip["AllocationId"])
        nat = cli("create-nat-gateway", "--subnet-id", public, "--allocation-id", eip["AllocationId"])["NatGateway"]
        assert wait_for_nat(ec2, nat["NatGatewayId"], "available")["State"] == "available"
        public_rt = cli("create-route-table", "--vpc-id", vpc_id)["RouteTable"]["RouteTableId"]
        cli("create-route", "--route-table-id", public_rt, "--destination-cidr-block", "0.0.0.0/0",
            "--gateway-id", igw)
        cli("associate-route-table", "--route-table-id", public_rt, "--subnet-id", public)
        private_rt = cli("create-route-table", "--vpc-id", vpc_id)["RouteTable"]["RouteTableId"]
        cli("create-route", "--route-table-id", private_rt, "--destination-cidr-block", "0.0.0.0/0",
            "--nat-gateway-id", nat["NatGatewayId"])
        cli("associate-route-table", "--route-table-id", private_rt, "--subnet-id", private)
        group = cli("create-security-group", "--group-name", f"{unique}-web", "--description", "web servers",
                    "--vpc-id", vpc_id)["GroupId"]
        cli("authorize-security-group-ingress", "--group-id", group, "--protocol", "tcp", "--port", "22",
            "--cidr", "0.0.0.0/0")
        cli("authorize-security-group-ingress", "--group-id", group, "--ip-permissions",
            "IpProtocol=tcp,FromPort=80,ToPort=80,IpRanges=[{CidrIp=10.0.0.0/8}],Ipv6Ranges=[{CidrIpv6=::/0}]")
        cli.refused("InvalidPermission.Duplicate", "authorize-security-group-ingress", "--group-id", group,
                    "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
        acl = cli("create-network-acl", "--vpc-id", vpc_id)["NetworkAcl"]["NetworkAclId"]
        cli("create-network-acl-entry", "--network-acl-id", acl, "--ingress", "--rule-number", "100",
            "--protocol", "tcp", "--port-range", "From=22,To=22", "--cidr-block", "0.0.0.0/0", "--rule-action",
            "allow")
        cli("create-network-acl-entry", "--network-acl-id", acl, "--egress", "--rule-number", "100",
            "--protocol", "-1", "--cidr-block", "0.0.0.0/0", "--rule-action", "allow")
        cli.refused("NetworkAclEntryAlreadyExists", "create-network-acl-entry", "--network-acl-id", acl, "--egress",
                    "--rule-number", "100", "--protocol", "-1", "--cidr-block", "0.0.0.0/0", "--rule-action", "deny")
        association = cli("describe-network-acls", "--filters", f"Name=association.subnet-id,Values={public}")[
            "NetworkAcls"][0]["Associations"]
        association_id = next(a["NetworkAclAssociationId"] for a in association if a["SubnetId"] == public)
        cli("replace-network-acl-association", "--association-id", association_id, "--network-acl-id", acl)

        # Describe* shows it all.
        routes = cli("describe-route-tables", "--route-table-ids", private_rt)["RouteTables"][0]["Routes"]
        assert [(r["DestinationCidrBlock"], r.get("NatGatewayId") or r["GatewayId"]) for r in routes] == [
            ("10.30.0.0/16", "local"), ("0.0.0.0/0", nat["NatGatewayId"])]
        permissions = cli("describe-security-groups", "--group-ids", group)["SecurityGroups"][0]["IpPermissions"]
        assert [(p["FromPort"], p["IpRanges"]) for p in permissions] == [
            (22, [{"CidrIp": "0.0.0.0/0"}]), (80, [{"CidrIp": "10.0.0.0/8"}])]
        entries = cli("describe-network-acls", "--network-acl-ids", acl)["NetworkAcls"][0]["Entries"]
        assert {(e["RuleNumber"], e["Egress"], e["Protocol"]) for e in entries} == {
            (100, False, "6"), (100, True, "-1"), (32767, False, "-1"), (32767, True, "-1")}
        subnets = cli("describe-subnets", "--filters", f"Name=vpc-id,Values={vpc_id}",
                      "Name=map-public-ip-on-launch,Values=true")["Subnets"]
        assert [s["SubnetId"] for s in subnets] == [public]

        # The wrong order is refused and nothing moves.
        before = cli("describe-route-tables", "--filters", f"Name=vpc-id,Values={vpc_id}")
        text = cli.refused("DependencyViolation", "delete-vpc", "--vpc-id", vpc_id)
        assert f"The vpc '{vpc_id}' has dependencies and cannot be deleted." in text
        cli.refused("DependencyViolation", "delete-subnet", "--subnet-id", public)
        cli.refused("DependencyViolation", "detach-internet-gateway", "--internet-gateway-id", igw, "--vpc-id", vpc_id)
        cli.refused("DependencyViolation", "delete-route-table", "--route-table-id", public_rt)
        cli.refused("InvalidVpc.Range", "create-vpc", "--cidr-block", "10.0.0.0/12")
        cli.refused("InvalidSubnet.Conflict", "create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.30.1.0/26")
        cli.refused("InvalidVpcID.NotFound", "describe-vpcs", "--vpc-ids", "vpc-0000000000000000f")
        assert cli("describe-route-tables", "--filters", f"Name=vpc-id,Values={vpc_id}") == before
        assert cli("describe-vpcs", "--vpc-ids", vpc_id)["Vpcs"][0]["State"] == "available"

        cli("delete-nat-gateway", "--nat-gateway-id", nat["NatGatewayId"])
        cli("release-address", "--allocation-id", eip["AllocationId"])
        allocations.clear()
    finally:
        teardown_vpc(ec2, vpc_id)
        for allocation in allocations:
            ec2.release_address(AllocationId=allocation)
    cli.refused("InvalidVpcID.NotFound", "delete-vpc", "--vpc-id", vpc_id)
