"""Write, read back, compare: every EC2 resource type reads back in AWS's canonical form.

Infrastructure-as-code tools write a resource, read it back with Describe* and compare what
they read with what they asked for; any difference is a perpetual "drift". Each test here
writes one resource type over HTTP with boto3 and compares the read-back with what AWS returns
for that write, member by member, including AWS's normalisations:

- network ACL entries: protocol as a number string (``tcp`` -> ``"6"``, ``-1`` for all), and no
  PortRange/IcmpTypeCode where they do not apply (API_NetworkAclEntry, "PortRange ... Required if
  specifying protocol 6 (TCP) or 17 (UDP)");
- security group rules: IpPermissions grouped by protocol and ports, protocol names for
  tcp/udp/icmp/icmpv6 and numbers otherwise, no ports for -1 or other protocols ("specifying -1 or a
  protocol number other than tcp, udp, icmp, or icmpv6 allows traffic on all ports", API_IpPermission);
- routes: Origin CreateRouteTable/CreateRoute, State active/blackhole, GatewayId local (API_Route);
- route table associations: Main and AssociationState (API_RouteTableAssociation);
- attributes: DescribeVpcAttribute after ModifyVpcAttribute, DescribeSubnets after ModifySubnetAttribute.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.e2e.helpers import Client, tagged, wait_for_nat


def only(items: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(items) == 1, items
    return items[0]


def new_vpc(ec2: Client, vpc_cleanup: list[str], unique: str, cidr: str) -> str:
    vpc_id = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=tagged("vpc", unique))["Vpc"]["VpcId"]
    vpc_cleanup.append(vpc_id)
    return vpc_id


def test_vpc_and_its_attributes(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    created = ec2.create_vpc(CidrBlock="10.60.0.0/16", InstanceTenancy="default",
                             TagSpecifications=[{"ResourceType": "vpc", "Tags": [
                                 {"Key": "Name", "Value": unique}, {"Key": "team", "Value": ""}]}])["Vpc"]
    vpc_id = created["VpcId"]
    vpc_cleanup.append(vpc_id)
    read = only(ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"])
    assert {k: read[k] for k in ("CidrBlock", "InstanceTenancy", "IsDefault", "State", "VpcId")} == {
        "CidrBlock": "10.60.0.0/16", "InstanceTenancy": "default", "IsDefault": False, "State": "available",
        "VpcId": vpc_id}
    assert sorted(read["Tags"], key=lambda t: t["Key"]) == [{"Key": "Name", "Value": unique},
                                                            {"Key": "team", "Value": ""}]
    association = only(read["CidrBlockAssociationSet"])
    assert association["CidrBlock"] == "10.60.0.0/16" and association["CidrBlockState"] == {"State": "associated"}
    assert read["OwnerId"] == created["OwnerId"]
    # A new VPC resolves names but gives no public DNS hostnames (AWS's defaults for a non-default VPC).
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")["EnableDnsSupport"] == {
        "Value": True}
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"] == {
        "Value": False}
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    answer = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")
    assert (answer["VpcId"], answer["EnableDnsHostnames"]) == (vpc_id, {"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": False})
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")["EnableDnsSupport"] == {
        "Value": False}
    metrics = "EnableNetworkAddressUsageMetrics"
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableNetworkAddressUsageMetrics")[metrics] == {
        "Value": False}
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableNetworkAddressUsageMetrics={"Value": True})
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableNetworkAddressUsageMetrics")[metrics] == {
        "Value": True}


def test_tags_read_back_as_written(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    """API_CreateTags overwrites a key's value; API_DeleteTags removes a key whatever its value when no
    value is given, and only when the value matches when one is (an empty one included)."""
    vpc_id = new_vpc(ec2, vpc_cleanup, unique, "10.59.0.0/16")
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "env", "Value": "dev"}, {"Key": "empty", "Value": ""},
                                              {"Key": "owner", "Value": "ops"}, {"Key": "team", "Value": "blue"}])
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "env", "Value": "prod"}])
    ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": "owner", "Value": "someone-else"}, {"Key": "team"},
                                              {"Key": "empty", "Value": ""}])

    def read() -> list[dict[str, str]]:
        return sorted(only(ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"])["Tags"], key=lambda t: t["Key"])

    assert read() == [{"Key": "Name", "Value": unique}, {"Key": "env", "Value": "prod"},
                      {"Key": "owner", "Value": "ops"}]
    described = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["Tags"]
    assert sorted((t["Key"], t["Value"], t["ResourceType"]) for t in described) == [
        ("Name", unique, "vpc"), ("env", "prod", "vpc"), ("owner", "ops", "vpc")]


def test_tags_and_type_offerings_page_through_boto3s_paginators(ec2: Client, unique: str,
                                                                 vpc_cleanup: list[str]) -> None:
    """DescribeTags and DescribeInstanceTypeOfferings hand out NextTokens that resume where the page ended:
    every item once, in order, whatever the page size."""
    vpc_id = new_vpc(ec2, vpc_cleanup, unique, "10.58.0.0/16")
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": f"k{i}", "Value": str(i)} for i in range(7)])
    filters = [{"Name": "resource-id", "Values": [vpc_id]}]
    whole = ec2.describe_tags(Filters=filters)["Tags"]
    paged = [tag for page in ec2.get_paginator("describe_tags").paginate(
        Filters=filters, PaginationConfig={"PageSize": 5}) for tag in page["Tags"]]
    assert len(whole) == 8 and paged == whole
    offerings = ec2.describe_instance_type_offerings()["InstanceTypeOfferings"]
    paged_offerings = [o for page in ec2.get_paginator("describe_instance_type_offerings").paginate(
        PaginationConfig={"PageSize": 5}) for o in page["InstanceTypeOfferings"]]
    assert len(offerings) > 5 and paged_offerings == offerings


def test_subnet_and_modify_subnet_attribute(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    vpc_id = new_vpc(ec2, vpc_cleanup, unique, "10.61.0.0/16")
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.61.3.0/24", AvailabilityZone="home-1b",
                               TagSpecifications=tagged("subnet", unique))["Subnet"]
    read = only(ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"])
    assert read == {**subnet, "State": "available"}  # CreateSubnet answers "pending", as AWS does
    assert (read["CidrBlock"], read["AvailabilityZone"], read["VpcId"], read["MapPublicIpOnLaunch"],
            read["DefaultForAz"], read["AvailableIpAddressCount"]) == ("10.61.3.0/24", "home-1b", vpc_id, False,
                                                                       False, 251)
    ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    # Tools write every attribute: writing the defaults of those Cloudlet keeps fixed reads back the same,
    # and a value it cannot honour is refused, never accepted and lost.
    ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], PrivateDnsHostnameTypeOnLaunch="ip-name")
    ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], EnableResourceNameDnsARecordOnLaunch={"Value": False})
    with pytest.raises(ec2.exceptions.ClientError) as excinfo:
        ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], EnableDns64={"Value": True})
    assert excinfo.value.response["Error"]["Code"] == "UnsupportedOperation"
    read = only(ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"])
    assert (read["MapPublicIpOnLaunch"], read["EnableDns64"]) == (True, False)
    assert read["PrivateDnsNameOptionsOnLaunch"] == {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False,
                                                     "EnableResourceNameDnsAAAARecord": False}
    assert read["Tags"] == [{"Key": "Name", "Value": unique}]


def test_route_tables_routes_and_associations(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    vpc_id = new_vpc(ec2, vpc_cleanup, unique, "10.62.0.0/16")
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.62.1.0/24")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    table = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=tagged("route-table", unique))["RouteTable"]
    table_id = table["RouteTableId"]
    assert table["Routes"] == [{"DestinationCidrBlock": "10.62.0.0/16", "GatewayId": "local",
                                "Origin": "CreateRouteTable", "State": "active"}]
    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="192.168.0.0/16", NetworkInterfaceId=eni)
    association = ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet)
    assert association["AssociationState"] == {"State": "associated"}
    read = only(ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"])
    assert read["Routes"][:2] == [
        {"DestinationCidrBlock": "10.62.0.0/16", "GatewayId": "local", "Origin": "CreateRouteTable",
         "State": "active"},
        {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw, "Origin": "CreateRoute", "State": "active"}]
    eni_route = read["Routes"][2]
    assert {k: eni_route[k] for k in ("DestinationCidrBlock", "NetworkInterfaceId", "Origin")} == {
        "DestinationCidrBlock": "192.168.0.0/16", "NetworkInterfaceId": eni, "Origin": "CreateRoute"}
    assert read["Associations"] == [{"Main": False, "RouteTableAssociationId": association["AssociationId"],
                                     "RouteTableId": table_id, "SubnetId": subnet,
                                     "AssociationState": {"State": "associated"}}]
    assert read["Tags"] == [{"Key": "Name", "Value": unique}] and read["VpcId"] == vpc_id
    main = only(ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                   {"Name": "association.main", "Values": ["true"]}])["RouteTables"])
    main_association = only(main["Associations"])
    assert main_association["Main"] is True and "SubnetId" not in main_association
    assert main_association["AssociationState"] == {"State": "associated"}
    # Making another table the main one moves the main association (as aws_main_route_table_association does).
    moved = ec2.replace_route_table_association(AssociationId=main_association["RouteTableAssociationId"],
                                                RouteTableId=table_id)
    tables = {t["RouteTableId"]: t for t in ec2.describe_route_tables(RouteTableIds=[table_id, main["RouteTableId"]])[
        "RouteTables"]}
    assert tables[main["RouteTableId"]]["Associations"] == []
    assert {(a["RouteTableAssociationId"], a["Main"]) for a in tables[table_id]["Associations"]} == {
        (moved["NewAssociationId"], True), (association["AssociationId"], False)}
    ec2.replace_route_table_association(AssociationId=moved["NewAssociationId"], RouteTableId=main["RouteTableId"])
    # Replacing a route reads back the new target; the gateway detached leaves a blackhole.
    ec2.replace_route(RouteTableId=table_id, DestinationCidrBlock="192.168.0.0/16", GatewayId=igw)
    replaced = only(ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"])["Routes"][2]
    assert replaced == {"DestinationCidrBlock": "192.168.0.0/16", "GatewayId": igw, "Origin": "CreateRoute",
                        "State": "active"}
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    states = {r["DestinationCidrBlock"]: r["State"]
              for r in only(ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"])["Routes"]}
    assert states == {"10.62.0.0/16": "active", "0.0.0.0/0": "blackhole", "192.168.0.0/16": "blackhole"}
    ec2.delete_internet_gateway(InternetGatewayId=igw)


def test_internet_and_egress_only_gateways(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    vpc_id = new_vpc(ec2, vpc_cleanup, unique, "10.63.0.0/16")
    igw = ec2.create_internet_gateway(TagSpecifications=tagged("internet-gateway", unique))["InternetGateway"]
    assert igw["Attachments"] == [] and igw["Tags"] == [{"Key": "Name", "Value": unique}]
    ec2.attach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id)
    read = only(ec2.describe_internet_gateways(InternetGatewayIds=[igw["InternetGatewayId"]])["InternetGateways"])
    assert read["Attachments"] == [{"State": "available", "VpcId": vpc_id}]
    assert read["Tags"] == [{"Key": "Name", "Value": unique}] and read["OwnerId"] == igw["OwnerId"]
    eigw = ec2.create_egress_only_internet_gateway(
        VpcId=vpc_id, TagSpecifications=tagged("egress-only-internet-gateway", unique))["EgressOnlyInternetGateway"]
    read = only(ec2.describe_egress_only_internet_gateways(
        EgressOnlyInternetGatewayIds=[eigw["EgressOnlyInternetGatewayId"]])["EgressOnlyInternetGateways"])
    assert read["Attachments"] == [{"State": "attached", "VpcId": vpc_id}]
    assert read["Tags"] == [{"Key": "Name", "Value": unique}]
    assert read["EgressOnlyInternetGatewayId"] == eigw["EgressOnlyInternetGatewayId"]


def test_nat_gateway_and_elastic_ips(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    vpc_id = new_vpc(ec2, vpc_cleanup, unique, "10.64.0.0/16")
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.64.1.0/24")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    for_nat = ec2.allocate_address(Domain="vpc", TagSpecifications=tagged("elastic-ip", unique))
    assert (for_nat["Domain"], for_nat["PublicIpv4Pool"]) == ("vpc", "amazon")
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=for_nat["AllocationId"],
                                 TagSpecifications=tagged("natgateway", unique))["NatGateway"]
    read = wait_for_nat(ec2, nat["NatGatewayId"], "available")
    assert (read["State"], read["SubnetId"], read["VpcId"], read["ConnectivityType"]) == (
        "available", subnet, vpc_id, "public")
    address = only(read["NatGatewayAddresses"])
    assert (address["AllocationId"], address["PublicIp"], address["IsPrimary"], address["Status"]) == (
        for_nat["AllocationId"], for_nat["PublicIp"], True, "succeeded")
    assert read["Tags"] == [{"Key": "Name", "Value": unique}]
    # An Elastic IP associated with an interface reads back with its association.
    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=tagged("elastic-ip", unique))
    eni = ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress="10.64.1.50")["NetworkInterface"]
    association = ec2.associate_address(AllocationId=eip["AllocationId"],
                                        NetworkInterfaceId=eni["NetworkInterfaceId"])["AssociationId"]
    read = only(ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"])
    assert read == {"PublicIp": eip["PublicIp"], "AllocationId": eip["AllocationId"], "Domain": "vpc",
                    "PublicIpv4Pool": "amazon", "NetworkBorderGroup": "home-1",
                    "Tags": [{"Key": "Name", "Value": unique}], "AssociationId": association,
                    "NetworkInterfaceId": eni["NetworkInterfaceId"], "NetworkInterfaceOwnerId": eni["OwnerId"],
                    "PrivateIpAddress": "10.64.1.50"}
    ec2.disassociate_address(AssociationId=association)
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
    wait_for_nat(ec2, nat["NatGatewayId"], "deleted")
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=igw)


def test_network_acl_entries_read_back_canonically(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    vpc_id = new_vpc(ec2, vpc_cleanup, unique, "10.65.0.0/16")
    acl_id = ec2.create_network_acl(VpcId=vpc_id, TagSpecifications=tagged("network-acl", unique))["NetworkAcl"][
        "NetworkAclId"]
    written = [
        # (what a tool sends, what AWS reads back)
        (dict(RuleNumber=100, Protocol="tcp", RuleAction="allow", Egress=False, CidrBlock="10.0.0.0/8",
              PortRange={"From": 22, "To": 22}),
         {"RuleNumber": 100, "Protocol": "6", "RuleAction": "allow", "Egress": False, "CidrBlock": "10.0.0.0/8",
          "PortRange": {"From": 22, "To": 22}}),
        (dict(RuleNumber=110, Protocol="-1", RuleAction="deny", Egress=False, CidrBlock="192.168.0.0/16",
              PortRange={"From": 0, "To": 0}),
         {"RuleNumber": 110, "Protocol": "-1", "RuleAction": "deny", "Egress": False, "CidrBlock": "192.168.0.0/16"}),
        (dict(RuleNumber=120, Protocol="1", RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0",
              IcmpTypeCode={"Type": 8, "Code": -1}),
         {"RuleNumber": 120, "Protocol": "1", "RuleAction": "allow", "Egress": False, "CidrBlock": "0.0.0.0/0",
          "IcmpTypeCode": {"Type": 8, "Code": -1}}),
        (dict(RuleNumber=130, Protocol="47", RuleAction="allow", Egress=False, CidrBlock="172.16.0.0/12",
              PortRange={"From": 1, "To": 2}),
         {"RuleNumber": 130, "Protocol": "47", "RuleAction": "allow", "Egress": False, "CidrBlock": "172.16.0.0/12"}),
        (dict(RuleNumber=100, Protocol="UDP", RuleAction="allow", Egress=True, CidrBlock="0.0.0.0/0",
              PortRange={"From": 53, "To": 53}),
         {"RuleNumber": 100, "Protocol": "17", "RuleAction": "allow", "Egress": True, "CidrBlock": "0.0.0.0/0",
          "PortRange": {"From": 53, "To": 53}}),
        (dict(RuleNumber=200, Protocol="6", RuleAction="allow", Egress=True, CidrBlock="10.0.0.0/8",
              PortRange={"From": 1024, "To": 65535}, IcmpTypeCode={"Type": 3, "Code": 4}),
         {"RuleNumber": 200, "Protocol": "6", "RuleAction": "allow", "Egress": True, "CidrBlock": "10.0.0.0/8",
          "PortRange": {"From": 1024, "To": 65535}}),
    ]
    for request, _ in written:
        ec2.create_network_acl_entry(NetworkAclId=acl_id, **request)
    read = only(ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"])
    catch_all = [{"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": egress,
                  "CidrBlock": "0.0.0.0/0"} for egress in (True, False)]
    expected = [answer for _, answer in written] + catch_all
    key = lambda e: (e["Egress"], e["RuleNumber"])  # noqa: E731
    assert sorted(read["Entries"], key=key) == sorted(expected, key=key)
    assert (read["IsDefault"], read["VpcId"], read["Tags"]) == (False, vpc_id, [{"Key": "Name", "Value": unique}])
    # Replacing an entry with protocol -1 drops its port range too.
    ec2.replace_network_acl_entry(NetworkAclId=acl_id, RuleNumber=100, Protocol="-1", RuleAction="deny",
                                  Egress=False, CidrBlock="10.0.0.0/8", PortRange={"From": 22, "To": 22})
    entry = next(e for e in only(ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"])["Entries"]
                 if (e["RuleNumber"], e["Egress"]) == (100, False))
    assert entry == {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "deny", "Egress": False,
                     "CidrBlock": "10.0.0.0/8"}


def test_security_group_rules_read_back_canonically(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    vpc_id = new_vpc(ec2, vpc_cleanup, unique, "10.66.0.0/16")
    peer = ec2.create_security_group(GroupName=f"{unique}-peer", Description="peer", VpcId=vpc_id)["GroupId"]
    group = ec2.create_security_group(GroupName=f"{unique}-web", Description="web servers", VpcId=vpc_id,
                                      TagSpecifications=tagged("security-group", unique))["GroupId"]
    account = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["OwnerId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "6", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "web"}]},
        {"IpProtocol": "TCP", "FromPort": 443, "ToPort": 443, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "UserIdGroupPairs": [{"GroupId": peer, "Description": "from peers"}]},
        {"IpProtocol": "-1", "FromPort": 5, "ToPort": 6, "IpRanges": [{"CidrIp": "10.66.0.0/16"}]},
        {"IpProtocol": "47", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.66.0.0/16"}]},
        {"IpProtocol": "1", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.66.0.0/16"}]},
        {"IpProtocol": "58", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": "fd00::/8"}]},
    ])
    read = only(ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"])
    empty = {"IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}
    expected = [
        {**empty, "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "web"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
         "UserIdGroupPairs": [{"GroupId": peer, "UserId": account, "Description": "from peers"}]},
        {**empty, "IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.66.0.0/16"}]},
        {**empty, "IpProtocol": "47", "IpRanges": [{"CidrIp": "10.66.0.0/16"}]},
        {**empty, "IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.66.0.0/16"}]},
        {**empty, "IpProtocol": "icmpv6", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": "fd00::/8"}]},
    ]
    key = lambda p: p["IpProtocol"]  # noqa: E731
    assert sorted(read["IpPermissions"], key=key) == sorted(expected, key=key)
    assert read["IpPermissionsEgress"] == [{**empty, "IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    assert (read["GroupName"], read["Description"], read["VpcId"], read["Tags"]) == (
        f"{unique}-web", "web servers", vpc_id, [{"Key": "Name", "Value": unique}])
    # What was read back is what a tool would send again to converge: it is already there.
    with pytest.raises(ec2.exceptions.ClientError) as excinfo:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[read["IpPermissions"][0]])
    assert excinfo.value.response["Error"]["Code"] == "InvalidPermission.Duplicate"
    # Descriptions change in place (API_UpdateSecurityGroupRuleDescriptionsIngress): by permission, where a
    # permission without a description clears it, and by rule id.
    ec2.update_security_group_rule_descriptions_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
         "UserIdGroupPairs": [{"GroupId": peer, "Description": "peers, renamed"}]}])
    gre = next(r for r in ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])[
        "SecurityGroupRules"] if r["IpProtocol"] == "47")
    ec2.update_security_group_rule_descriptions_ingress(GroupId=group, SecurityGroupRuleDescriptions=[
        {"SecurityGroupRuleId": gre["SecurityGroupRuleId"], "Description": "tunnels"}])
    read = only(ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"])
    by_protocol = {p["IpProtocol"]: p for p in read["IpPermissions"]}
    assert by_protocol["tcp"]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert by_protocol["tcp"]["UserIdGroupPairs"] == [{"GroupId": peer, "UserId": account,
                                                       "Description": "peers, renamed"}]
    assert by_protocol["47"]["IpRanges"] == [{"CidrIp": "10.66.0.0/16", "Description": "tunnels"}]
    with pytest.raises(ec2.exceptions.ClientError) as excinfo:
        ec2.update_security_group_rule_descriptions_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert excinfo.value.response["Error"]["Code"] == "InvalidPermission.NotFound"
    # Revoking with the read-back form removes exactly those rules.
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=read["IpPermissions"])
    assert only(ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"])["IpPermissions"] == []
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]
    assert [(r["IsEgress"], r["IpProtocol"], r["FromPort"], r["ToPort"], r["CidrIpv4"]) for r in rules] == [
        (True, "-1", -1, -1, "0.0.0.0/0")]


def test_network_interface_and_its_attributes(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    vpc_id = new_vpc(ec2, vpc_cleanup, unique, "10.67.0.0/16")
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.67.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"{unique}-g", Description="g", VpcId=vpc_id)["GroupId"]
    created = ec2.create_network_interface(SubnetId=subnet, Groups=[group], Description="app", PrivateIpAddresses=[
        {"PrivateIpAddress": "10.67.1.10", "Primary": True}, {"PrivateIpAddress": "10.67.1.11", "Primary": False}],
        TagSpecifications=tagged("network-interface", unique))["NetworkInterface"]
    eni_id = created["NetworkInterfaceId"]
    read = only(ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"])
    assert read == created
    assert (read["Description"], read["PrivateIpAddress"], read["SubnetId"], read["VpcId"], read["Status"],
            read["SourceDestCheck"], read["InterfaceType"]) == ("app", "10.67.1.10", subnet, vpc_id, "available",
                                                                True, "interface")
    assert [(a["PrivateIpAddress"], a["Primary"]) for a in read["PrivateIpAddresses"]] == [
        ("10.67.1.10", True), ("10.67.1.11", False)]
    assert read["Groups"] == [{"GroupId": group, "GroupName": f"{unique}-g"}]
    assert read["TagSet"] == [{"Key": "Name", "Value": unique}]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, SourceDestCheck={"Value": False})
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, Description={"Value": "changed"})
    assert ec2.describe_network_interface_attribute(NetworkInterfaceId=eni_id, Attribute="sourceDestCheck")[
        "SourceDestCheck"] == {"Value": False}
    assert ec2.describe_network_interface_attribute(NetworkInterfaceId=eni_id, Attribute="description")[
        "Description"] == {"Value": "changed"}
    read = only(ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"])
    assert (read["SourceDestCheck"], read["Description"]) == (False, "changed")


def test_key_pairs(ec2: Client, unique: str) -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    imported = ec2.import_key_pair(KeyName=f"{unique}-imported", PublicKeyMaterial=f"{line} me@host".encode(),
                                   TagSpecifications=tagged("key-pair", unique))
    created = ec2.create_key_pair(KeyName=f"{unique}-created", KeyType="rsa")
    try:
        read = ec2.describe_key_pairs(KeyNames=[f"{unique}-imported", f"{unique}-created"], IncludePublicKey=True)[
            "KeyPairs"]
        by_name = {k["KeyName"]: k for k in read}
        mine = by_name[f"{unique}-imported"]
        assert (mine["KeyPairId"], mine["KeyFingerprint"], mine["KeyType"], mine["Tags"]) == (
            imported["KeyPairId"], imported["KeyFingerprint"], "ed25519", [{"Key": "Name", "Value": unique}])
        assert mine["PublicKey"].split()[:2] == line.split()[:2]
        blob = base64.b64decode(line.split()[1])
        assert base64.b64decode(mine["KeyFingerprint"]) != blob  # a SHA-256 of the blob, not the blob
        theirs = by_name[f"{unique}-created"]
        assert (theirs["KeyPairId"], theirs["KeyFingerprint"], theirs["KeyType"]) == (
            created["KeyPairId"], created["KeyFingerprint"], "rsa")
    finally:
        ec2.delete_key_pair(KeyName=f"{unique}-imported")
        ec2.delete_key_pair(KeyName=f"{unique}-created")


def test_peering_connection(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    left = new_vpc(ec2, vpc_cleanup, unique, "10.68.0.0/16")
    right = new_vpc(ec2, vpc_cleanup, unique, "10.69.0.0/16")
    created = ec2.create_vpc_peering_connection(VpcId=left, PeerVpcId=right, TagSpecifications=tagged(
        "vpc-peering-connection", unique))["VpcPeeringConnection"]
    pcx = created["VpcPeeringConnectionId"]
    read = only(ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"])
    assert read["Status"]["Code"] == "pending-acceptance"
    assert (read["RequesterVpcInfo"]["VpcId"], read["RequesterVpcInfo"]["CidrBlock"]) == (left, "10.68.0.0/16")
    assert read["AccepterVpcInfo"]["VpcId"] == right and read["Tags"] == [{"Key": "Name", "Value": unique}]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    read = only(ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"])
    assert read["Status"] == {"Code": "active", "Message": "Active"}
    assert read["AccepterVpcInfo"]["CidrBlock"] == "10.69.0.0/16"
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)


def test_placement_groups(ec2: Client, unique: str) -> None:
    made = ec2.create_placement_group(GroupName=f"{unique}-p", Strategy="partition", PartitionCount=3,
                                      TagSpecifications=tagged("placement-group", unique))["PlacementGroup"]
    spread = ec2.create_placement_group(GroupName=f"{unique}-s", Strategy="spread")["PlacementGroup"]
    try:
        read = {g["GroupName"]: g for g in ec2.describe_placement_groups(
            GroupNames=[f"{unique}-p", f"{unique}-s"])["PlacementGroups"]}
        assert read[f"{unique}-p"] == made
        assert (made["Strategy"], made["PartitionCount"], made["State"], made["Tags"]) == (
            "partition", 3, "available", [{"Key": "Name", "Value": unique}])
        assert read[f"{unique}-s"] == spread and spread["SpreadLevel"] == "rack"
    finally:
        ec2.delete_placement_group(GroupName=f"{unique}-p")
        ec2.delete_placement_group(GroupName=f"{unique}-s")
