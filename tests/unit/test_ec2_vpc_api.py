"""VPCs, subnets, route tables, gateways, Elastic IPs, NAT gateways, ENIs and tags, called as functions."""

from __future__ import annotations

import pytest

from controller.ec2.vpc import eni_records, state
from tests.support import wait_for
from tests.unit.harness import ACCOUNT, OTHER_ACCOUNT, Clouds, VpcCloud, snapshot


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc(nat_gateway_transition_seconds=0.0)


def new_vpc(cloud: VpcCloud, cidr: str = "10.0.0.0/16", **extra) -> str:
    return cloud.call("CreateVpc", {"CidrBlock": cidr, **extra})["Vpc"]["VpcId"]


def new_subnet(cloud: VpcCloud, vpc_id: str, cidr: str, zone: str = "home-1a", **extra) -> str:
    return cloud.call("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": cidr, "AvailabilityZone": zone,
                                       **extra})["Subnet"]["SubnetId"]


def attached_igw(cloud: VpcCloud, vpc_id: str) -> str:
    igw = cloud.call("CreateInternetGateway")["InternetGateway"]["InternetGatewayId"]
    cloud.call("AttachInternetGateway", {"InternetGatewayId": igw, "VpcId": vpc_id})
    return igw


def one(items: list[dict]) -> dict:
    assert len(items) == 1, items
    return items[0]


def by_vpc(vpc_id: str) -> dict:
    return {"Filters": [{"Name": "vpc-id", "Values": [vpc_id]}]}


# --- the default VPC ------------------------------------------------------------------------------------------------


def test_every_account_starts_with_a_default_vpc_laid_out_as_aws_does(cloud: VpcCloud) -> None:
    vpc = one(cloud.call("DescribeVpcs")["Vpcs"])
    assert (vpc["CidrBlock"], vpc["IsDefault"], vpc["State"]) == ("172.31.0.0/16", True, "available")
    vpc_id = vpc["VpcId"]
    subnets = sorted(cloud.call("DescribeSubnets", by_vpc(vpc_id))["Subnets"], key=lambda s: s["CidrBlock"])
    assert [(s["CidrBlock"], s["AvailabilityZone"]) for s in subnets] == [
        ("172.31.0.0/20", "home-1a"), ("172.31.16.0/20", "home-1b")]
    assert all(s["DefaultForAz"] and s["MapPublicIpOnLaunch"] and s["AvailableIpAddressCount"] == 4091
               for s in subnets)
    igw = one(cloud.call("DescribeInternetGateways")["InternetGateways"])
    assert igw["Attachments"] == [{"State": "available", "VpcId": vpc_id}]
    table = one(cloud.call("DescribeRouteTables", by_vpc(vpc_id))["RouteTables"])
    assert table["Associations"][0]["Main"] is True
    assert [(r.get("DestinationCidrBlock"), r["GatewayId"], r["State"]) for r in table["Routes"]] == [
        ("172.31.0.0/16", "local", "active"), ("0.0.0.0/0", igw["InternetGatewayId"], "active")]
    acl = one(cloud.call("DescribeNetworkAcls", by_vpc(vpc_id))["NetworkAcls"])
    assert acl["IsDefault"] and len(acl["Associations"]) == 2
    assert [(e["RuleNumber"], e["Egress"], e["RuleAction"]) for e in acl["Entries"]] == [
        (100, True, "allow"), (32767, True, "deny"), (100, False, "allow"), (32767, False, "deny")]
    group = one(cloud.call("DescribeSecurityGroups", by_vpc(vpc_id))["SecurityGroups"])
    assert group["GroupName"] == "default"
    assert group["IpPermissions"][0]["UserIdGroupPairs"] == [{"GroupId": group["GroupId"], "UserId": ACCOUNT}]
    assert group["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]


def test_the_default_vpc_is_made_once_and_create_default_vpc_brings_it_back(cloud: VpcCloud) -> None:
    first = one(cloud.call("DescribeVpcs")["Vpcs"])["VpcId"]
    assert one(cloud.call("DescribeVpcs")["Vpcs"])["VpcId"] == first
    cloud.refused("CreateDefaultVpc", {}, "DefaultVpcAlreadyExists")
    for subnet in cloud.call("DescribeSubnets")["Subnets"]:
        cloud.call("DeleteSubnet", {"SubnetId": subnet["SubnetId"]})
    igw = one(cloud.call("DescribeInternetGateways")["InternetGateways"])["InternetGatewayId"]
    cloud.call("DetachInternetGateway", {"InternetGatewayId": igw, "VpcId": first})
    cloud.call("DeleteInternetGateway", {"InternetGatewayId": igw})
    cloud.call("DeleteVpc", {"VpcId": first})
    assert cloud.call("DescribeVpcs")["Vpcs"] == []
    assert cloud.call("DescribeSecurityGroups")["SecurityGroups"] == []
    second = cloud.call("CreateDefaultVpc")["Vpc"]["VpcId"]
    assert second != first and one(cloud.call("DescribeVpcs")["Vpcs"])["IsDefault"]
    # Accounts are apart: another account gets its own default VPC.
    other = one(cloud.call("DescribeVpcs", account=OTHER_ACCOUNT)["Vpcs"])
    assert other["OwnerId"] == OTHER_ACCOUNT and other["VpcId"] not in (first, second)


def test_dry_run_answers_dry_run_operation_and_changes_nothing(cloud: VpcCloud) -> None:
    before = snapshot(cloud)
    error = cloud.refused("CreateVpc", {"CidrBlock": "10.0.0.0/16", "DryRun": True}, "DryRunOperation")
    assert error.status == 412
    assert snapshot(cloud) == before


# --- VPCs and subnets -------------------------------------------------------------------------------------------------


def test_create_vpc_with_an_amazon_ipv6_block_and_attributes(cloud: VpcCloud) -> None:
    created = cloud.call("CreateVpc", {"CidrBlock": "10.1.0.0/16", "AmazonProvidedIpv6CidrBlock": True,
                                       "TagSpecifications": [{"ResourceType": "vpc",
                                                              "Tags": [{"Key": "Name", "Value": "lab"}]}]})["Vpc"]
    assert created["State"] == "pending" and created["Tags"] == [{"Key": "Name", "Value": "lab"}]
    block = created["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    assert block.endswith("/56") and block.startswith("2001:db8:10")
    second = new_vpc(cloud, "10.2.0.0/16", AmazonProvidedIpv6CidrBlock=True)
    other_block = one(cloud.call("DescribeVpcs", {"VpcIds": [second]})["Vpcs"])["Ipv6CidrBlockAssociationSet"][0]
    assert other_block["Ipv6CidrBlock"] != block
    vpc_id = created["VpcId"]
    assert cloud.call("DescribeVpcAttribute", {"VpcId": vpc_id, "Attribute": "enableDnsHostnames"}) == {
        "VpcId": vpc_id, "EnableDnsHostnames": {"Value": False}}
    cloud.call("ModifyVpcAttribute", {"VpcId": vpc_id, "EnableDnsHostnames": {"Value": True}})
    assert cloud.call("DescribeVpcAttribute", {"VpcId": vpc_id, "Attribute": "enableDnsHostnames"})[
        "EnableDnsHostnames"] == {"Value": True}
    cloud.refused("ModifyVpcAttribute", {"VpcId": vpc_id, "EnableDnsHostnames": {"Value": True},
                                         "EnableDnsSupport": {"Value": True}}, "InvalidParameterCombination")
    listed = cloud.call("DescribeVpcs", {"Filters": [{"Name": "tag:Name", "Values": ["l*"]}]})["Vpcs"]
    assert [v["VpcId"] for v in listed] == [vpc_id]
    assert one(cloud.call("DescribeVpcs", {"Filters": [{"Name": "cidr", "Values": ["10.1.0.0/16"]}]})["Vpcs"])


def test_bad_vpc_requests_get_aws_errors_and_change_nothing(cloud: VpcCloud) -> None:
    before = snapshot(cloud)
    cloud.refused("CreateVpc", {"CidrBlock": "10.0.0.0/8"}, "InvalidVpc.Range")
    cloud.refused("CreateVpc", {"CidrBlock": "10.0.0.0/29"}, "InvalidVpc.Range")
    cloud.refused("CreateVpc", {"CidrBlock": "10.0.0.7/16"}, "InvalidParameterValue")
    cloud.refused("CreateVpc", {}, "MissingParameter")
    cloud.refused("CreateVpc", {"CidrBlock": "10.0.0.0/16", "TagSpecifications": [
        {"ResourceType": "subnet", "Tags": [{"Key": "a", "Value": "b"}]}]}, "InvalidParameterValue")
    error = cloud.refused("DeleteVpc", {"VpcId": "vpc-12345678"}, "InvalidVpcID.NotFound")
    assert error.message == "The vpc ID 'vpc-12345678' does not exist"
    cloud.refused("DescribeVpcs", {"VpcIds": ["vpc-0123456789abcdef0"]}, "InvalidVpcID.NotFound")
    assert snapshot(cloud) == before


def test_vpc_quota(clouds: Clouds) -> None:
    cloud = clouds.vpc(vpcs_per_account=2)
    new_vpc(cloud)  # the default VPC counts too
    cloud.refused("CreateVpc", {"CidrBlock": "10.9.0.0/16"}, "VpcLimitExceeded")


def test_subnets_count_free_addresses_and_pick_zones(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    first = cloud.call("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": "10.0.1.0/24"})["Subnet"]
    second = cloud.call("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": "10.0.2.0/24"})["Subnet"]
    assert {first["AvailabilityZone"], second["AvailabilityZone"]} == {"home-1a", "home-1b"}
    assert first["AvailableIpAddressCount"] == 251 and first["MapPublicIpOnLaunch"] is False
    by_id = cloud.call("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": "10.0.3.0/28",
                                        "AvailabilityZoneId": "hom1-az2"})["Subnet"]
    assert (by_id["AvailabilityZone"], by_id["AvailableIpAddressCount"]) == ("home-1b", 11)
    cloud.call("CreateNetworkInterface", {"SubnetId": first["SubnetId"]})
    assert one(cloud.call("DescribeSubnets", {"SubnetIds": [first["SubnetId"]]})["Subnets"])[
        "AvailableIpAddressCount"] == 250
    cloud.call("ModifySubnetAttribute", {"SubnetId": first["SubnetId"], "MapPublicIpOnLaunch": {"Value": True}})
    public = cloud.call("DescribeSubnets", {"Filters": [{"Name": "map-public-ip-on-launch", "Values": ["true"]},
                                                        {"Name": "vpc-id", "Values": [vpc_id]}]})["Subnets"]
    assert [s["SubnetId"] for s in public] == [first["SubnetId"]]


def test_bad_subnets_get_aws_errors_and_change_nothing(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud, AmazonProvidedIpv6CidrBlock=True)
    new_subnet(cloud, vpc_id, "10.0.1.0/24")
    before = snapshot(cloud)
    cloud.refused("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": "10.0.1.128/25"}, "InvalidSubnet.Conflict")
    cloud.refused("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": "10.5.0.0/24", "AvailabilityZone": "home-1a"},
                  "InvalidSubnet.Range")
    cloud.refused("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": "10.0.2.0/24", "AvailabilityZone": "mars-1a"},
                  "InvalidParameterValue")
    cloud.refused("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": "10.0.2.0/24", "Ipv6CidrBlock": "2001:db8::/64"},
                  "InvalidSubnet.Range")
    cloud.refused("CreateSubnet", {"VpcId": "vpc-0000000000000000a", "CidrBlock": "10.0.2.0/24"},
                  "InvalidVpcID.NotFound")
    cloud.refused("DeleteSubnet", {"SubnetId": "subnet-12345678"}, "InvalidSubnetID.NotFound")
    assert snapshot(cloud) == before


def test_resources_of_another_account_do_not_exist_for_the_caller(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    cloud.refused("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": "10.0.1.0/24"}, "InvalidVpcID.NotFound",
                  account=OTHER_ACCOUNT)
    cloud.refused("DeleteVpc", {"VpcId": vpc_id}, "InvalidVpcID.NotFound", account=OTHER_ACCOUNT)
    assert vpc_id not in {v["VpcId"] for v in cloud.call("DescribeVpcs", account=OTHER_ACCOUNT)["Vpcs"]}


def test_describe_pages_through_max_results(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    made = {new_subnet(cloud, vpc_id, f"10.0.{i}.0/24") for i in range(7)}
    seen, token, pages = [], None, 0
    while True:
        params = {"MaxResults": 5, **by_vpc(vpc_id), **({"NextToken": token} if token else {})}
        result = cloud.call("DescribeSubnets", params)
        seen += [s["SubnetId"] for s in result["Subnets"]]
        pages += 1
        token = result.get("NextToken")
        if not token:
            break
    assert pages == 2 and set(seen) == made and len(seen) == 7
    cloud.refused("DescribeSubnets", {"MaxResults": 1001}, "InvalidParameterValue")


# --- route tables ------------------------------------------------------------------------------------------------------


def test_a_client_token_is_echoed_where_the_output_has_one(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    assert cloud.call("CreateRouteTable", {"VpcId": vpc_id, "ClientToken": "tok-1"})["ClientToken"] == "tok-1"
    assert "ClientToken" not in cloud.call("CreateRouteTable", {"VpcId": vpc_id})
    assert cloud.call("CreateNetworkAcl", {"VpcId": vpc_id, "ClientToken": "tok-2"})["ClientToken"] == "tok-2"


def test_routes_to_an_internet_gateway_turn_blackhole_when_it_leaves(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    table_id = cloud.call("CreateRouteTable", {"VpcId": vpc_id})["RouteTable"]["RouteTableId"]
    igw = cloud.call("CreateInternetGateway")["InternetGateway"]["InternetGatewayId"]
    route = {"RouteTableId": table_id, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw}
    cloud.refused("CreateRoute", route, "InvalidParameterValue")  # not attached to this VPC
    cloud.call("AttachInternetGateway", {"InternetGatewayId": igw, "VpcId": vpc_id})
    assert cloud.call("CreateRoute", route) == {"Return": True}
    cloud.refused("CreateRoute", route, "RouteAlreadyExists")

    def default_route() -> dict:
        table = one(cloud.call("DescribeRouteTables", {"RouteTableIds": [table_id]})["RouteTables"])
        return next(r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0")

    assert default_route()["State"] == "active"
    cloud.call("DetachInternetGateway", {"InternetGatewayId": igw, "VpcId": vpc_id})
    assert default_route()["State"] == "blackhole"
    blackholes = cloud.call("DescribeRouteTables", {"Filters": [{"Name": "route.state", "Values": ["blackhole"]}]})
    assert [t["RouteTableId"] for t in blackholes["RouteTables"]] == [table_id]
    cloud.call("DeleteRoute", {"RouteTableId": table_id, "DestinationCidrBlock": "0.0.0.0/0"})
    cloud.refused("DeleteRoute", {"RouteTableId": table_id, "DestinationCidrBlock": "0.0.0.0/0"},
                  "InvalidRoute.NotFound")
    cloud.refused("ReplaceRoute", route, "InvalidParameterValue")


def test_route_validation(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    igw = attached_igw(cloud, vpc_id)
    table_id = cloud.call("CreateRouteTable", {"VpcId": vpc_id})["RouteTable"]["RouteTableId"]
    base = {"RouteTableId": table_id}
    cloud.refused("CreateRoute", {**base, "DestinationCidrBlock": "10.0.0.0/16", "GatewayId": igw},
                  "RouteAlreadyExists")
    cloud.refused("CreateRoute", {**base, "DestinationCidrBlock": "10.0.1.0/24", "GatewayId": igw},
                  "InvalidParameterValue")
    cloud.refused("CreateRoute", {**base, "DestinationCidrBlock": "0.0.0.0/0"}, "MissingParameter")
    cloud.refused("CreateRoute", {**base, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw,
                                  "NatGatewayId": "nat-12345678"}, "InvalidParameterCombination")
    cloud.refused("CreateRoute", {**base, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-0000000000000000a"},
                  "InvalidGatewayID.NotFound")
    cloud.refused("CreateRoute", {**base, "DestinationCidrBlock": "0.0.0.0/0", "TransitGatewayId": "tgw-1"},
                  "UnsupportedOperation")
    cloud.refused("CreateRoute", {**base, "DestinationCidrBlock": "300.0.0.0/0", "GatewayId": igw},
                  "InvalidParameterValue")
    cloud.refused("DeleteRoute", {**base, "DestinationCidrBlock": "10.0.0.0/16"}, "InvalidParameterValue")
    cloud.refused("ReplaceRoute", {**base, "DestinationCidrBlock": "10.0.0.0/16", "GatewayId": igw},
                  "InvalidParameterValue")
    cloud.call("CreateRoute", {**base, "DestinationCidrBlock": "192.168.0.0/16", "GatewayId": igw})
    eigw = cloud.call("CreateEgressOnlyInternetGateway", {"VpcId": vpc_id})["EgressOnlyInternetGateway"]
    cloud.refused("CreateRoute", {**base, "DestinationCidrBlock": "8.8.8.0/24",
                                  "EgressOnlyInternetGatewayId": eigw["EgressOnlyInternetGatewayId"]},
                  "InvalidParameterValue")
    cloud.call("CreateRoute", {**base, "DestinationIpv6CidrBlock": "::/0",
                               "EgressOnlyInternetGatewayId": eigw["EgressOnlyInternetGatewayId"]})
    routes = one(cloud.call("DescribeRouteTables", {"RouteTableIds": [table_id]})["RouteTables"])["Routes"]
    assert {"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": eigw["EgressOnlyInternetGatewayId"],
            "Origin": "CreateRoute", "State": "active"} in routes


def test_associations_and_the_main_table(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    subnet_id = new_subnet(cloud, vpc_id, "10.0.1.0/24")
    custom = cloud.call("CreateRouteTable", {"VpcId": vpc_id})["RouteTable"]["RouteTableId"]
    main = one(cloud.call("DescribeRouteTables", {"Filters": [
        {"Name": "association.main", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc_id]}]})["RouteTables"])
    association = cloud.call("AssociateRouteTable", {"RouteTableId": custom, "SubnetId": subnet_id})
    assert association["AssociationState"] == {"State": "associated"}
    cloud.refused("AssociateRouteTable", {"RouteTableId": main["RouteTableId"], "SubnetId": subnet_id},
                  "Resource.AlreadyAssociated")
    other_vpc = new_vpc(cloud, "10.1.0.0/16")
    other_table = cloud.call("CreateRouteTable", {"VpcId": other_vpc})["RouteTable"]["RouteTableId"]
    cloud.refused("AssociateRouteTable", {"RouteTableId": other_table, "SubnetId": subnet_id},
                  "InvalidParameterValue")
    cloud.refused("DeleteRouteTable", {"RouteTableId": custom}, "DependencyViolation")
    cloud.refused("DeleteRouteTable", {"RouteTableId": main["RouteTableId"]}, "DependencyViolation")
    main_association = main["Associations"][0]["RouteTableAssociationId"]
    cloud.refused("DisassociateRouteTable", {"AssociationId": main_association}, "InvalidParameterValue")
    # The main association moves to the custom table; the old main table can then go.
    replaced = cloud.call("ReplaceRouteTableAssociation", {"AssociationId": main_association,
                                                           "RouteTableId": custom})
    assert replaced["NewAssociationId"] != main_association
    now_main = one(cloud.call("DescribeRouteTables", {"Filters": [
        {"Name": "association.main", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc_id]}]})["RouteTables"])
    assert now_main["RouteTableId"] == custom
    cloud.call("DeleteRouteTable", {"RouteTableId": main["RouteTableId"]})
    cloud.call("DisassociateRouteTable", {"AssociationId": association["AssociationId"]})
    cloud.refused("DisassociateRouteTable", {"AssociationId": association["AssociationId"]},
                  "InvalidAssociationID.NotFound")


# --- internet gateways, Elastic IPs, NAT gateways --------------------------------------------------------------------------


def test_one_internet_gateway_per_vpc(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    igw = attached_igw(cloud, vpc_id)
    second = cloud.call("CreateInternetGateway")["InternetGateway"]["InternetGatewayId"]
    cloud.refused("AttachInternetGateway", {"InternetGatewayId": second, "VpcId": vpc_id},
                  "InvalidParameterValue")
    cloud.refused("AttachInternetGateway", {"InternetGatewayId": igw, "VpcId": vpc_id}, "Resource.AlreadyAssociated")
    cloud.refused("DetachInternetGateway", {"InternetGatewayId": second, "VpcId": vpc_id}, "Gateway.NotAttached")
    cloud.refused("DeleteInternetGateway", {"InternetGatewayId": igw}, "DependencyViolation")
    cloud.refused("DeleteVpc", {"VpcId": vpc_id}, "DependencyViolation")
    cloud.call("DeleteInternetGateway", {"InternetGatewayId": second})
    attached = cloud.call("DescribeInternetGateways", {"Filters": [{"Name": "attachment.vpc-id",
                                                                     "Values": [vpc_id]}]})["InternetGateways"]
    assert [g["InternetGatewayId"] for g in attached] == [igw]


def test_elastic_ips_come_from_the_pool_and_need_an_internet_gateway(clouds: Clouds) -> None:
    cloud = clouds.vpc(elastic_ips_per_account=3)
    vpc_id = new_vpc(cloud)
    subnet_id = new_subnet(cloud, vpc_id, "10.0.1.0/24")
    eni = cloud.call("CreateNetworkInterface", {"SubnetId": subnet_id})["NetworkInterface"]
    first = cloud.call("AllocateAddress", {"Domain": "vpc"})
    assert (first["PublicIp"], first["Domain"]) == ("198.51.100.2", "vpc")
    chosen = cloud.call("AllocateAddress", {"Address": "198.51.100.77"})
    assert chosen["PublicIp"] == "198.51.100.77"
    cloud.refused("AllocateAddress", {"Address": "198.51.100.77"}, "InvalidIPAddress.InUse")
    cloud.refused("AllocateAddress", {"Address": "10.0.0.5"}, "InvalidParameterValue")
    cloud.call("AllocateAddress")
    cloud.refused("AllocateAddress", {}, "AddressLimitExceeded")
    target = {"AllocationId": first["AllocationId"], "NetworkInterfaceId": eni["NetworkInterfaceId"]}
    cloud.refused("AssociateAddress", target, "Gateway.NotAttached")
    attached_igw(cloud, vpc_id)
    association = cloud.call("AssociateAddress", target)["AssociationId"]
    listed = one(cloud.call("DescribeAddresses", {"PublicIps": ["198.51.100.2"]})["Addresses"])
    assert (listed["AssociationId"], listed["NetworkInterfaceId"], listed["PrivateIpAddress"]) == (
        association, eni["NetworkInterfaceId"], eni["PrivateIpAddress"])
    shown = one(cloud.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [eni["NetworkInterfaceId"]]})[
        "NetworkInterfaces"])
    assert shown["Association"]["PublicIp"] == "198.51.100.2"
    # Another address onto the same private IP takes the first one off.
    cloud.call("AssociateAddress", {"AllocationId": chosen["AllocationId"],
                                    "NetworkInterfaceId": eni["NetworkInterfaceId"]})
    assert "AssociationId" not in one(cloud.call("DescribeAddresses", {"AllocationIds": [first["AllocationId"]]})[
        "Addresses"])
    cloud.refused("ReleaseAddress", {"AllocationId": chosen["AllocationId"]}, "InvalidIPAddress.InUse")
    cloud.refused("DescribeAddresses", {"PublicIps": ["198.51.100.200"]}, "InvalidAddress.NotFound")
    cloud.refused("ReleaseAddress", {"AllocationId": "eipalloc-12345678"}, "InvalidAllocationID.NotFound")
    cloud.call("ReleaseAddress", {"AllocationId": first["AllocationId"]})


def test_nat_gateway_lifecycle(clouds: Clouds) -> None:
    cloud = clouds.vpc(nat_gateway_transition_seconds=3.0)
    vpc_id = new_vpc(cloud)
    public = new_subnet(cloud, vpc_id, "10.0.1.0/24")
    eip = cloud.call("AllocateAddress")["AllocationId"]
    failed = cloud.call("CreateNatGateway", {"SubnetId": public, "AllocationId": eip})["NatGateway"]
    assert failed["State"] == "pending"
    shown = one(cloud.call("DescribeNatGateways", {"NatGatewayIds": [failed["NatGatewayId"]]})["NatGateways"])
    assert (shown["State"], shown["FailureCode"]) == ("failed", "Gateway.NotAttached")
    attached_igw(cloud, vpc_id)
    cloud.refused("CreateNatGateway", {"SubnetId": public}, "MissingParameter")
    nat = cloud.call("CreateNatGateway", {"SubnetId": public, "AllocationId": eip})["NatGateway"]
    nat_id = nat["NatGatewayId"]
    address = nat["NatGatewayAddresses"][0]
    assert address["PublicIp"] == "198.51.100.2" and address["PrivateIp"] == "10.0.1.4"
    cloud.refused("CreateNatGateway", {"SubnetId": public, "AllocationId": eip}, "Resource.AlreadyAssociated")
    assert one(cloud.call("DescribeNatGateways", {"NatGatewayIds": [nat_id]})["NatGateways"])["State"] == "pending"
    available = wait_for(lambda: cloud.call("DescribeNatGateways", {"Filter": [
        {"Name": "state", "Values": ["available"]}]})["NatGateways"], timeout=10, what="the NAT gateway to settle")
    assert one(available)["NatGatewayId"] == nat_id
    eni = one(cloud.call("DescribeNetworkInterfaces", {"Filters": [{"Name": "interface-type",
                                                                     "Values": ["nat_gateway"]}]})["NetworkInterfaces"])
    assert eni["RequesterManaged"] and eni["Groups"] == []
    cloud.refused("DeleteNetworkInterface", {"NetworkInterfaceId": eni["NetworkInterfaceId"]}, "OperationNotPermitted")
    cloud.refused("DisassociateAddress", {"AssociationId": address["AssociationId"]}, "OperationNotPermitted")
    cloud.refused("DeleteSubnet", {"SubnetId": public}, "DependencyViolation")
    private_table = cloud.call("CreateRouteTable", {"VpcId": vpc_id})["RouteTable"]["RouteTableId"]
    cloud.call("CreateRoute", {"RouteTableId": private_table, "DestinationCidrBlock": "0.0.0.0/0",
                               "NatGatewayId": nat_id})
    assert cloud.call("DeleteNatGateway", {"NatGatewayId": nat_id}) == {"NatGatewayId": nat_id}
    assert one(cloud.call("DescribeNatGateways", {"NatGatewayIds": [nat_id]})["NatGateways"])["State"] == "deleting"
    cloud.refused("DeleteNatGateway", {"NatGatewayId": nat_id}, "NatGatewayNotFound")
    route = one(cloud.call("DescribeRouteTables", {"RouteTableIds": [private_table]})["RouteTables"])["Routes"][1]
    assert route["State"] == "blackhole"
    cloud.call("ReleaseAddress", {"AllocationId": eip})
    cloud.call("DeleteSubnet", {"SubnetId": public})


# --- network interfaces ---------------------------------------------------------------------------------------------------


def test_interfaces_get_free_non_reserved_addresses_and_macs(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    subnet_id = new_subnet(cloud, vpc_id, "10.0.1.0/28")
    made = [cloud.call("CreateNetworkInterface", {"SubnetId": subnet_id})["NetworkInterface"] for _ in range(3)]
    assert [m["PrivateIpAddress"] for m in made] == ["10.0.1.4", "10.0.1.5", "10.0.1.6"]
    assert len({m["MacAddress"] for m in made}) == 3 and all(m["MacAddress"].startswith("02:") for m in made)
    default_group = one(cloud.call("DescribeSecurityGroups", {"Filters": [
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]})["SecurityGroups"])
    assert made[0]["Groups"] == [{"GroupId": default_group["GroupId"], "GroupName": "default"}]
    assert made[0]["Status"] == "available" and made[0]["SourceDestCheck"] is True
    cloud.refused("CreateNetworkInterface", {"SubnetId": subnet_id, "PrivateIpAddress": "10.0.1.5"},
                  "InvalidIPAddress.InUse")
    cloud.refused("CreateNetworkInterface", {"SubnetId": subnet_id, "PrivateIpAddress": "10.0.1.1"},
                  "InvalidParameterValue")
    chosen = cloud.call("CreateNetworkInterface", {"SubnetId": subnet_id, "PrivateIpAddress": "10.0.1.14",
                                                   "SecondaryPrivateIpAddressCount": 2})["NetworkInterface"]
    assert [p["PrivateIpAddress"] for p in chosen["PrivateIpAddresses"]] == ["10.0.1.14", "10.0.1.7", "10.0.1.8"]
    cloud.call("DeleteNetworkInterface", {"NetworkInterfaceId": made[1]["NetworkInterfaceId"]})
    again = cloud.call("CreateNetworkInterface", {"SubnetId": subnet_id})["NetworkInterface"]
    assert again["PrivateIpAddress"] == "10.0.1.5"
    for _ in range(5):  # 11 usable (.4 to .14); 6 are taken
        cloud.call("CreateNetworkInterface", {"SubnetId": subnet_id})
    cloud.refused("CreateNetworkInterface", {"SubnetId": subnet_id}, "InsufficientFreeAddressesInSubnet")


def test_interface_groups_at_most_five_of_the_same_vpc(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    subnet_id = new_subnet(cloud, vpc_id, "10.0.1.0/24")
    groups = [cloud.call("CreateSecurityGroup", {"GroupName": f"g{i}", "Description": "d", "VpcId": vpc_id})[
        "GroupId"] for i in range(6)]
    eni = cloud.call("CreateNetworkInterface", {"SubnetId": subnet_id, "Groups": groups[:5]})["NetworkInterface"]
    assert [g["GroupId"] for g in eni["Groups"]] == groups[:5]
    cloud.refused("CreateNetworkInterface", {"SubnetId": subnet_id, "Groups": groups},
                  "SecurityGroupsPerInterfaceLimitExceeded")
    eni_id = eni["NetworkInterfaceId"]
    cloud.refused("ModifyNetworkInterfaceAttribute", {"NetworkInterfaceId": eni_id, "Groups": groups},
                  "SecurityGroupsPerInterfaceLimitExceeded")
    other_vpc = new_vpc(cloud, "10.1.0.0/16")
    foreign = cloud.call("CreateSecurityGroup", {"GroupName": "x", "Description": "d", "VpcId": other_vpc})["GroupId"]
    cloud.refused("ModifyNetworkInterfaceAttribute", {"NetworkInterfaceId": eni_id, "Groups": [foreign]},
                  "InvalidParameter")
    cloud.refused("ModifyNetworkInterfaceAttribute", {"NetworkInterfaceId": eni_id, "Groups": ["sg-0000000000000000a"]},
                  "InvalidGroup.NotFound")
    cloud.call("ModifyNetworkInterfaceAttribute", {"NetworkInterfaceId": eni_id, "Groups": [groups[5]]})
    cloud.call("ModifyNetworkInterfaceAttribute", {"NetworkInterfaceId": eni_id, "SourceDestCheck": {"Value": False}})
    attributes = cloud.call("DescribeNetworkInterfaceAttribute", {"NetworkInterfaceId": eni_id,
                                                                  "Attribute": "groupSet"})
    assert attributes["Groups"] == [{"GroupId": groups[5], "GroupName": "g5"}]
    assert cloud.call("DescribeNetworkInterfaceAttribute", {"NetworkInterfaceId": eni_id,
                                                            "Attribute": "sourceDestCheck"})["SourceDestCheck"] == {
        "Value": False}
    cloud.refused("DeleteSecurityGroup", {"GroupId": groups[5]}, "DependencyViolation")


def test_instance_interfaces_attach_detach_and_release(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    subnet_a = new_subnet(cloud, vpc_id, "10.0.1.0/24", "home-1a", )
    subnet_b = new_subnet(cloud, vpc_id, "10.0.2.0/24", "home-1b")
    cloud.call("ModifySubnetAttribute", {"SubnetId": subnet_a, "MapPublicIpOnLaunch": {"Value": True}})
    primary = cloud.launch(subnet_a, "i-0123456789abcdef0")
    shown = one(cloud.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [primary]})["NetworkInterfaces"])
    assert shown["Attachment"]["DeviceIndex"] == 0 and shown["Status"] == "in-use"
    assert shown["Association"]["IpOwnerId"] == "amazon" and shown["Association"]["PublicIp"] == "198.51.100.2"
    cloud.refused("DeleteNetworkInterface", {"NetworkInterfaceId": primary}, "InvalidNetworkInterface.InUse")
    cloud.refused("DetachNetworkInterface", {"AttachmentId": shown["Attachment"]["AttachmentId"]},
                  "OperationNotPermitted")
    extra = cloud.call("CreateNetworkInterface", {"SubnetId": subnet_a})["NetworkInterface"]["NetworkInterfaceId"]
    elsewhere = cloud.call("CreateNetworkInterface", {"SubnetId": subnet_b})["NetworkInterface"]["NetworkInterfaceId"]
    attach = {"InstanceId": "i-0123456789abcdef0", "DeviceIndex": 1}
    cloud.refused("AttachNetworkInterface", {**attach, "NetworkInterfaceId": elsewhere}, "InvalidParameterValue")
    cloud.refused("AttachNetworkInterface", {**attach, "NetworkInterfaceId": extra, "InstanceId": "i-00000000000000001"},
                  "InvalidInstanceID.NotFound")
    attachment = cloud.call("AttachNetworkInterface", {**attach, "NetworkInterfaceId": extra})["AttachmentId"]
    cloud.refused("AttachNetworkInterface", {**attach, "NetworkInterfaceId": elsewhere}, "InvalidParameterValue")
    # An instance route stands for the instance's only interface; with two it must name one.
    table = cloud.call("CreateRouteTable", {"VpcId": vpc_id})["RouteTable"]["RouteTableId"]
    cloud.refused("CreateRoute", {"RouteTableId": table, "DestinationCidrBlock": "192.168.0.0/16",
                                  "InstanceId": "i-0123456789abcdef0"}, "InvalidInstanceID")
    cloud.call("DetachNetworkInterface", {"AttachmentId": attachment})
    cloud.call("CreateRoute", {"RouteTableId": table, "DestinationCidrBlock": "192.168.0.0/16",
                               "InstanceId": "i-0123456789abcdef0"})
    route = one(cloud.call("DescribeRouteTables", {"RouteTableIds": [table]})["RouteTables"])["Routes"][1]
    assert (route["InstanceId"], route["NetworkInterfaceId"], route["State"]) == (
        "i-0123456789abcdef0", primary, "active")
    with state.write(cloud.db) as conn:
        eni_records.release_instance_interfaces(conn, "i-0123456789abcdef0")
    cloud.refused("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [primary]},
                  "InvalidNetworkInterfaceID.NotFound")
    route = one(cloud.call("DescribeRouteTables", {"RouteTableIds": [table]})["RouteTables"])["Routes"][1]
    assert route["State"] == "blackhole"
    assert cloud.call("AllocateAddress")["PublicIp"] == "198.51.100.2"  # the auto-assigned address came back


def test_secondary_addresses(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    subnet_id = new_subnet(cloud, vpc_id, "10.0.1.0/24")
    a = cloud.call("CreateNetworkInterface", {"SubnetId": subnet_id})["NetworkInterface"]["NetworkInterfaceId"]
    b = cloud.call("CreateNetworkInterface", {"SubnetId": subnet_id})["NetworkInterface"]["NetworkInterfaceId"]
    assigned = cloud.call("AssignPrivateIpAddresses", {"NetworkInterfaceId": a, "SecondaryPrivateIpAddressCount": 2})
    assert [x["PrivateIpAddress"] for x in assigned["AssignedPrivateIpAddresses"]] == ["10.0.1.6", "10.0.1.7"]
    cloud.refused("AssignPrivateIpAddresses", {"NetworkInterfaceId": b, "PrivateIpAddresses": ["10.0.1.6"]},
                  "InvalidIPAddress.InUse")
    cloud.call("AssignPrivateIpAddresses", {"NetworkInterfaceId": b, "PrivateIpAddresses": ["10.0.1.6"],
                                            "AllowReassignment": True})
    cloud.refused("UnassignPrivateIpAddresses", {"NetworkInterfaceId": a, "PrivateIpAddresses": ["10.0.1.6"]},
                  "InvalidParameterValue")
    cloud.refused("UnassignPrivateIpAddresses", {"NetworkInterfaceId": a, "PrivateIpAddresses": ["10.0.1.4"]},
                  "InvalidParameterValue")
    cloud.call("UnassignPrivateIpAddresses", {"NetworkInterfaceId": a, "PrivateIpAddresses": ["10.0.1.7"]})
    shown = one(cloud.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [a]})["NetworkInterfaces"])
    assert [p["PrivateIpAddress"] for p in shown["PrivateIpAddresses"]] == ["10.0.1.4"]


# --- tags --------------------------------------------------------------------------------------------------------------


def test_tags_on_any_vpc_resource(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    subnet_id = new_subnet(cloud, vpc_id, "10.0.1.0/24")
    cloud.call("CreateTags", {"Resources": [vpc_id, subnet_id], "Tags": [{"Key": "env", "Value": "lab"},
                                                                          {"Key": "Name", "Value": "x"}]})
    cloud.call("CreateTags", {"Resources": [subnet_id], "Tags": [{"Key": "env", "Value": "prod"}]})
    tags = cloud.call("DescribeTags", {"Filters": [{"Name": "key", "Values": ["env"]}]})["Tags"]
    assert {(t["ResourceId"], t["Value"], t["ResourceType"]) for t in tags} == {
        (vpc_id, "lab", "vpc"), (subnet_id, "prod", "subnet")}
    cloud.call("DeleteTags", {"Resources": [vpc_id, subnet_id], "Tags": [{"Key": "env", "Value": "lab"}]})
    left = cloud.call("DescribeTags", {"Filters": [{"Name": "key", "Values": ["env"]}]})["Tags"]
    assert [(t["ResourceId"], t["Value"]) for t in left] == [(subnet_id, "prod")]
    cloud.call("DeleteTags", {"Resources": [subnet_id], "Tags": [{"Key": "Name"}]})
    shown = one(cloud.call("DescribeSubnets", {"SubnetIds": [subnet_id]})["Subnets"])
    assert shown["Tags"] == [{"Key": "env", "Value": "prod"}]
    cloud.refused("CreateTags", {"Resources": ["vpc-0000000000000000a"], "Tags": [{"Key": "a", "Value": "b"}]},
                  "InvalidVpcID.NotFound")
    cloud.refused("CreateTags", {"Resources": ["banana"], "Tags": [{"Key": "a", "Value": "b"}]}, "InvalidID")
    cloud.refused("CreateTags", {"Resources": [vpc_id], "Tags": [{"Key": "aws:x", "Value": "b"}]},
                  "InvalidParameterValue")
    cloud.refused("CreateTags", {"Resources": [vpc_id], "Tags": [{"Key": f"k{i}", "Value": ""} for i in range(51)]},
                  "TagLimitExceeded")
    cloud.refused("CreateTags", {"Resources": [vpc_id], "Tags": [{"Key": "a", "Value": "b"}]},
                  "InvalidVpcID.NotFound", account=OTHER_ACCOUNT)
    cloud.call("DeleteSubnet", {"SubnetId": subnet_id})
    assert cloud.call("DescribeTags", {"Filters": [{"Name": "resource-id", "Values": [subnet_id]}]})["Tags"] == []


# --- IPv6 after creation ------------------------------------------------------------------------------------------------


def test_ipv6_blocks_added_and_removed_later(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    subnet_id = new_subnet(cloud, vpc_id, "10.0.1.0/24")
    cloud.refused("AssociateVpcCidrBlock", {"VpcId": vpc_id, "CidrBlock": "10.1.0.0/16"}, "UnsupportedOperation")
    cloud.refused("AssociateSubnetCidrBlock", {"SubnetId": subnet_id, "Ipv6CidrBlock": "2001:db8:1000::/64"},
                  "InvalidParameterValue")
    added = cloud.call("AssociateVpcCidrBlock", {"VpcId": vpc_id, "AmazonProvidedIpv6CidrBlock": True})
    block = added["Ipv6CidrBlockAssociation"]["Ipv6CidrBlock"]
    cloud.refused("AssociateVpcCidrBlock", {"VpcId": vpc_id, "AmazonProvidedIpv6CidrBlock": True},
                  "CidrLimitExceeded")
    routes = one(cloud.call("DescribeRouteTables", by_vpc(vpc_id))["RouteTables"])["Routes"]
    assert {"DestinationIpv6CidrBlock": block, "GatewayId": "local", "Origin": "CreateRouteTable",
            "State": "active"} in routes
    acl = one(cloud.call("DescribeNetworkAcls", by_vpc(vpc_id))["NetworkAcls"])
    assert [(e["RuleNumber"], e.get("Ipv6CidrBlock")) for e in acl["Entries"] if not e["Egress"]] == [
        (100, None), (101, "::/0"), (32767, None), (32768, "::/0")]
    subnet_block = block.replace("/56", "/64")
    association = cloud.call("AssociateSubnetCidrBlock", {"SubnetId": subnet_id, "Ipv6CidrBlock": subnet_block})[
        "Ipv6CidrBlockAssociation"]["AssociationId"]
    eni = cloud.call("CreateNetworkInterface", {"SubnetId": subnet_id, "Ipv6AddressCount": 2})["NetworkInterface"]
    addresses = [a["Ipv6Address"] for a in eni["Ipv6Addresses"]]
    assert len(addresses) == 2 and all(a.startswith(block.split("::")[0]) for a in addresses)
    cloud.refused("DisassociateVpcCidrBlock", {"AssociationId": added["Ipv6CidrBlockAssociation"]["AssociationId"]},
                  "DependencyViolation")
    cloud.refused("DisassociateSubnetCidrBlock", {"AssociationId": association}, "DependencyViolation")
    cloud.call("UnassignIpv6Addresses", {"NetworkInterfaceId": eni["NetworkInterfaceId"], "Ipv6Addresses": addresses})
    assigned = cloud.call("AssignIpv6Addresses", {"NetworkInterfaceId": eni["NetworkInterfaceId"],
                                                  "Ipv6AddressCount": 1})["AssignedIpv6Addresses"]
    cloud.call("UnassignIpv6Addresses", {"NetworkInterfaceId": eni["NetworkInterfaceId"], "Ipv6Addresses": assigned})
    cloud.refused("UnassignIpv6Addresses", {"NetworkInterfaceId": eni["NetworkInterfaceId"],
                                            "Ipv6Addresses": assigned}, "InvalidParameterValue")
    cloud.call("DisassociateSubnetCidrBlock", {"AssociationId": association})
    vpc = one(cloud.call("DescribeVpcs", {"VpcIds": [vpc_id]})["Vpcs"])
    primary = vpc["CidrBlockAssociationSet"][0]["AssociationId"]
    cloud.refused("DisassociateVpcCidrBlock", {"AssociationId": primary}, "OperationNotPermitted")
    cloud.call("DisassociateVpcCidrBlock", {"AssociationId": added["Ipv6CidrBlockAssociation"]["AssociationId"]})
    assert "Ipv6CidrBlockAssociationSet" not in one(cloud.call("DescribeVpcs", {"VpcIds": [vpc_id]})["Vpcs"])
    routes = one(cloud.call("DescribeRouteTables", by_vpc(vpc_id))["RouteTables"])["Routes"]
    assert all("DestinationIpv6CidrBlock" not in r for r in routes)
