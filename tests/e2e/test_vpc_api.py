"""The EC2 VPC API end to end with boto3 against a real ``cloudlet up``.

The issue's walk-through: a VPC with public and private subnets, an internet gateway, a
NAT gateway with an Elastic IP, route tables, security groups and network ACLs, checked
through Describe*; deleting in the wrong order gets DependencyViolation and changes
nothing; bad input gets AWS's errors. Every test tags what it makes with its unique
prefix and removes it, so reruns and other tests never see leftovers.
"""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from tests.e2e.helpers import Client, error_of, everything, refused, tagged, teardown_vpc, wait_for_nat
from tests.support import CloudletProcess, Credentials


def test_the_walkthrough_with_boto3(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=tagged("vpc", unique))["Vpc"]
    vpc_id = vpc["VpcId"]
    vpc_cleanup.append(vpc_id)
    assert vpc["CidrBlock"] == "10.20.0.0/16" and not vpc["IsDefault"]
    public = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24", AvailabilityZone="home-1a",
                               TagSpecifications=tagged("subnet", f"{unique}-public"))["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.2.0/24", AvailabilityZone="home-1a",
                                TagSpecifications=tagged("subnet", f"{unique}-private"))["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": True})
    igw = ec2.create_internet_gateway(TagSpecifications=tagged("internet-gateway", unique))["InternetGateway"][
        "InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=tagged("elastic-ip", unique))
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=eip["AllocationId"],
                                 TagSpecifications=tagged("natgateway", unique))["NatGateway"]
    assert nat["State"] == "pending" and nat["NatGatewayAddresses"][0]["PublicIp"] == eip["PublicIp"]
    assert wait_for_nat(ec2, nat["NatGatewayId"], "available")["State"] == "available"
    public_rt = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_rt, SubnetId=public)
    private_rt = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat["NatGatewayId"])
    ec2.associate_route_table(RouteTableId=private_rt, SubnetId=private)
    web = ec2.create_security_group(GroupName=f"{unique}-web", Description="web", VpcId=vpc_id)["GroupId"]
    app = ec2.create_security_group(GroupName=f"{unique}-app", Description="app", VpcId=vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_ingress(GroupId=app, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": web}]}])
    acl = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]["NetworkAclId"]
    for egress, ports in ((False, (443, 443)), (True, (1024, 65535))):
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6", RuleAction="allow",
                                     Egress=egress, CidrBlock="0.0.0.0/0", PortRange={"From": ports[0], "To": ports[1]})
    association = next(a for a in ec2.describe_network_acls(Filters=[
        {"Name": "association.subnet-id", "Values": [public]}])["NetworkAcls"][0]["Associations"]
        if a["SubnetId"] == public)
    ec2.replace_network_acl_association(AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl)
    eni = ec2.create_network_interface(SubnetId=public, Groups=[web])["NetworkInterface"]["NetworkInterfaceId"]
    ec2.associate_address(AllocationId=ec2.allocate_address(TagSpecifications=tagged("elastic-ip", unique))[
        "AllocationId"], NetworkInterfaceId=eni)

    # The state, as Describe* shows it.
    tables = {t["RouteTableId"]: t for t in ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]}
    assert {(r.get("DestinationCidrBlock"), r.get("GatewayId") or r.get("NatGatewayId"), r["State"])
            for r in tables[private_rt]["Routes"]} == {("10.20.0.0/16", "local", "active"),
                                                       ("0.0.0.0/0", nat["NatGatewayId"], "active")}
    assert [a["SubnetId"] for a in tables[public_rt]["Associations"]] == [public]
    subnets = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": [f"{unique}-*"]}])["Subnets"]
    assert {s["SubnetId"]: s["AvailableIpAddressCount"] for s in subnets} == {public: 249, private: 251}
    app_group = ec2.describe_security_groups(GroupIds=[app])["SecurityGroups"][0]
    assert app_group["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == web
    acl_shown = ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]
    assert [a["SubnetId"] for a in acl_shown["Associations"]] == [public]
    assert [(e["RuleNumber"], e["Egress"]) for e in acl_shown["Entries"]] == [
        (100, True), (32767, True), (100, False), (32767, False)]
    nat_eni = ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                       {"Name": "interface-type", "Values": ["nat_gateway"]}])
    assert nat_eni["NetworkInterfaces"][0]["Association"]["PublicIp"] == eip["PublicIp"]

    # Wrong order: AWS's DependencyViolation, and nothing changes.
    before = everything(ec2, vpc_id)
    refused(ec2.delete_vpc, "DependencyViolation", VpcId=vpc_id)
    refused(ec2.delete_subnet, "DependencyViolation", SubnetId=public)
    refused(ec2.detach_internet_gateway, "DependencyViolation", InternetGatewayId=igw, VpcId=vpc_id)
    refused(ec2.delete_internet_gateway, "DependencyViolation", InternetGatewayId=igw)
    refused(ec2.delete_security_group, "DependencyViolation", GroupId=web)
    refused(ec2.delete_route_table, "DependencyViolation", RouteTableId=private_rt)
    refused(ec2.delete_network_acl, "DependencyViolation", NetworkAclId=acl)
    refused(ec2.release_address, "InvalidIPAddress.InUse", AllocationId=eip["AllocationId"])
    message = refused(ec2.delete_vpc, "DependencyViolation", VpcId=vpc_id)
    assert message == f"The vpc '{vpc_id}' has dependencies and cannot be deleted."
    assert everything(ec2, vpc_id) == before

    # The right order takes it all down.
    ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
    assert wait_for_nat(ec2, nat["NatGatewayId"], "deleted")["State"] == "deleted"
    ec2.release_address(AllocationId=eip["AllocationId"])
    teardown_vpc(ec2, vpc_id)
    refused(ec2.describe_vpcs, "InvalidVpcID.NotFound", VpcIds=[vpc_id])


def test_bad_input_gets_aws_errors_and_changes_nothing(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    vpc_id = ec2.create_vpc(CidrBlock="10.21.0.0/16", TagSpecifications=tagged("vpc", unique))["Vpc"]["VpcId"]
    vpc_cleanup.append(vpc_id)
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.21.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"{unique}-g", Description="g", VpcId=vpc_id)["GroupId"]
    ssh = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=ssh)
    ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress="10.21.1.4")
    before = everything(ec2, vpc_id)
    assert refused(ec2.create_vpc, "InvalidVpc.Range", CidrBlock="10.0.0.0/8") == "The CIDR '10.0.0.0/8' is invalid."
    refused(ec2.create_vpc, "InvalidParameterValue", CidrBlock="10.0.0.300/16")
    refused(ec2.create_subnet, "InvalidSubnet.Conflict", VpcId=vpc_id, CidrBlock="10.21.1.0/25")
    refused(ec2.create_subnet, "InvalidSubnet.Range", VpcId=vpc_id, CidrBlock="10.22.0.0/24")
    assert refused(ec2.delete_vpc, "InvalidVpcID.NotFound", VpcId="vpc-12345678") == "The vpc ID 'vpc-12345678' does not exist"
    refused(ec2.delete_subnet, "InvalidSubnetID.NotFound", SubnetId="subnet-0000000000000000f")
    refused(ec2.describe_route_tables, "InvalidRouteTableID.NotFound", RouteTableIds=["rtb-0000000000000000f"])
    refused(ec2.attach_internet_gateway, "InvalidInternetGatewayID.NotFound", InternetGatewayId="igw-0000000000000000f",
            VpcId=vpc_id)
    refused(ec2.authorize_security_group_ingress, "InvalidPermission.Duplicate", GroupId=group, IpPermissions=ssh)
    refused(ec2.authorize_security_group_ingress, "InvalidGroup.NotFound", GroupId="sg-0000000000000000f",
            IpPermissions=ssh)
    refused(ec2.create_security_group, "InvalidGroup.Duplicate", GroupName=f"{unique}-g", Description="g",
            VpcId=vpc_id)
    refused(ec2.create_network_interface, "InvalidIPAddress.InUse", SubnetId=subnet, PrivateIpAddress="10.21.1.4")
    refused(ec2.create_network_interface, "InvalidParameterValue", SubnetId=subnet, PrivateIpAddress="10.21.1.255")
    refused(ec2.create_route, "InvalidParameterValue", RouteTableId=before["tables"]["RouteTables"][0]["RouteTableId"],
            DestinationCidrBlock="0.0.0.0/0", GatewayId="local")
    refused(ec2.associate_address, "InvalidAllocationID.NotFound", AllocationId="eipalloc-0000000000000000f",
            NetworkInterfaceId="eni-0000000000000000f")
    refused(ec2.accept_vpc_peering_connection, "InvalidVpcPeeringConnectionID.NotFound",
            VpcPeeringConnectionId="pcx-0000000000000000f")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.create_vpc(CidrBlock="10.23.0.0/16", DryRun=True)
    assert error_of(excinfo)[:2] == ("DryRunOperation", 412)
    assert everything(ec2, vpc_id) == before


def test_default_vpc_filters_and_pages(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert [v["CidrBlock"] for v in default] == ["172.31.0.0/16"]
    zones = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in zones) == ["home-1a", "home-1b"]
    assert all(s["MapPublicIpOnLaunch"] for s in zones)
    vpc_id = ec2.create_vpc(CidrBlock="10.24.0.0/16", TagSpecifications=tagged("vpc", unique))["Vpc"]["VpcId"]
    vpc_cleanup.append(vpc_id)
    made = {ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.24.{i}.0/24",
                              TagSpecifications=tagged("subnet", f"{unique}-{i}"))["Subnet"]["SubnetId"]
            for i in range(7)}
    pages = list(ec2.get_paginator("describe_subnets").paginate(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}], PaginationConfig={"PageSize": 5}))
    assert [len(p["Subnets"]) for p in pages] == [5, 2]
    assert {s["SubnetId"] for p in pages for s in p["Subnets"]} == made
    named = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": [f"{unique}-3"]}])["Subnets"]
    assert len(named) == 1 and named[0]["CidrBlock"] == "10.24.3.0/24"
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["Tags"]
    assert tags == [{"Key": "Name", "ResourceId": vpc_id, "ResourceType": "vpc", "Value": unique}]


def test_peering_routes_and_eigw(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    left = ec2.create_vpc(CidrBlock="10.25.0.0/16", AmazonProvidedIpv6CidrBlock=True,
                          TagSpecifications=tagged("vpc", unique))["Vpc"]["VpcId"]
    right = ec2.create_vpc(CidrBlock="10.26.0.0/16", TagSpecifications=tagged("vpc", unique))["Vpc"]["VpcId"]
    vpc_cleanup.extend([left, right])
    pcx = ec2.create_vpc_peering_connection(VpcId=left, PeerVpcId=right)["VpcPeeringConnection"][
        "VpcPeeringConnectionId"]
    pending = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"][0]
    assert pending["Status"]["Code"] == "pending-acceptance"
    assert ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)["VpcPeeringConnection"]["Status"][
        "Code"] == "active"
    table = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [left]}])["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="10.26.0.0/16", VpcPeeringConnectionId=pcx)
    eigw = ec2.create_egress_only_internet_gateway(VpcId=left)["EgressOnlyInternetGateway"][
        "EgressOnlyInternetGatewayId"]
    ec2.create_route(RouteTableId=table, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=eigw)
    routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
    assert {(r.get("VpcPeeringConnectionId") or r.get("EgressOnlyInternetGatewayId")
             or r["GatewayId"], r["State"]) for r in routes} >= {(pcx, "active"), (eigw, "active")}
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
    assert next(r for r in routes if r.get("VpcPeeringConnectionId") == pcx)["State"] == "blackhole"
    overlap = ec2.create_vpc(CidrBlock="10.25.128.0/17", TagSpecifications=tagged("vpc", unique))["Vpc"]["VpcId"]
    vpc_cleanup.append(overlap)
    failed = ec2.create_vpc_peering_connection(VpcId=left, PeerVpcId=overlap)["VpcPeeringConnection"][
        "VpcPeeringConnectionId"]
    assert ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[failed])["VpcPeeringConnections"][0][
        "Status"]["Code"] == "failed"
    refused(ec2.accept_vpc_peering_connection, "InvalidStateTransition", VpcPeeringConnectionId=failed)


def test_iam_policies_see_vpc_arns_and_tags(cloudlet: CloudletProcess, ec2: Client, unique: str,
                                            vpc_cleanup: list[str]) -> None:
    """A user allowed to delete only subnets tagged team=blue, in one VPC, gets UnauthorizedOperation elsewhere."""
    vpc_id = ec2.create_vpc(CidrBlock="10.27.0.0/16", TagSpecifications=tagged("vpc", unique))["Vpc"]["VpcId"]
    vpc_cleanup.append(vpc_id)
    blue, red = (ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.27.{i}.0/24", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": [{"Key": "team", "Value": team}]}])["Subnet"]["SubnetId"]
        for i, team in ((1, "blue"), (2, "red")))
    account = cloudlet.account_id
    iam = cloudlet.client("iam")
    user = f"{unique}-netops"
    iam.create_user(UserName=user)
    try:
        iam.put_user_policy(UserName=user, PolicyName="subnets", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"},
                {"Effect": "Allow", "Action": "ec2:DeleteSubnet",
                 "Resource": f"arn:aws:ec2:{cloudlet.region}:{account}:subnet/*",
                 "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}},
                {"Effect": "Allow", "Action": "ec2:CreateSubnet",
                 "Resource": [f"arn:aws:ec2:{cloudlet.region}:{account}:subnet/*",
                              f"arn:aws:ec2:{cloudlet.region}:{account}:vpc/{vpc_id}"]}]}))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        as_user = cloudlet.client("ec2", Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
        assert {s["SubnetId"] for s in as_user.describe_subnets(Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]} == {blue, red}
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            as_user.delete_subnet(SubnetId=red)
        assert error_of(excinfo)[:2] == ("UnauthorizedOperation", 403)
        as_user.delete_subnet(SubnetId=blue)
        as_user.create_subnet(VpcId=vpc_id, CidrBlock="10.27.3.0/24")
        other_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            as_user.create_subnet(VpcId=other_vpc, CidrBlock="172.31.200.0/24")
        assert error_of(excinfo)[:2] == ("UnauthorizedOperation", 403)
    finally:
        for access_key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
            iam.delete_access_key(UserName=user, AccessKeyId=access_key["AccessKeyId"])
        iam.delete_user_policy(UserName=user, PolicyName="subnets")
        iam.delete_user(UserName=user)
