"""EC2 refusals over HTTP: AWS's client error codes for bad input and for resources in use.

The codes are those of "Error codes for the Amazon EC2 API" (APIReference/errors-overview.html):
every refusal is an HTTP 400 with AWS's code, and a refused call changes nothing (each test compares
everything Describe* shows before and after). The first test is the issue's three user-hit bugs.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.helpers import Client, everything, refused, tagged, wait_for_nat


def test_the_reported_refusals(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    """Releasing an associated Elastic IP, launching with an interface in use, importing an empty key."""
    vpc_id = ec2.create_vpc(CidrBlock="10.70.0.0/16", TagSpecifications=tagged("vpc", unique))["Vpc"]["VpcId"]
    vpc_cleanup.append(vpc_id)
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.70.1.0/24")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    address = ec2.allocate_address(Domain="vpc", TagSpecifications=tagged("elastic-ip", unique))
    ec2.associate_address(AllocationId=address["AllocationId"], NetworkInterfaceId=eni)
    nat_address = ec2.allocate_address(Domain="vpc", TagSpecifications=tagged("elastic-ip", unique))
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=nat_address["AllocationId"])["NatGateway"]
    nat_eni = wait_for_nat(ec2, nat["NatGatewayId"], "available")["NatGatewayAddresses"][0]["NetworkInterfaceId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    before = everything(ec2, vpc_id)
    # API_ReleaseAddress: an address still associated is in use.
    refused(ec2.release_address, "InvalidIPAddress.InUse", AllocationId=address["AllocationId"])
    refused(ec2.release_address, "InvalidIPAddress.InUse", AllocationId=nat_address["AllocationId"])
    # API_RunInstances: an interface that is in use (here a NAT gateway's) is refused before capacity is sought.
    refused(ec2.run_instances, "InvalidNetworkInterface.InUse", ImageId=image, InstanceType="t3.micro", MinCount=1,
            MaxCount=1, NetworkInterfaces=[{"DeviceIndex": 0, "NetworkInterfaceId": nat_eni}])
    # API_ImportKeyPair: the key must be a public key in a supported format.
    for material in (b"", b"ssh-ed25519", b"ssh-rsa not-base64!"):
        refused(ec2.import_key_pair, "InvalidKey.Format", KeyName=f"{unique}-k", PublicKeyMaterial=material)
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [f"{unique}-k"]}])["KeyPairs"] == []
    assert everything(ec2, vpc_id) == before
    ec2.disassociate_address(AssociationId=ec2.describe_addresses(AllocationIds=[address["AllocationId"]])[
        "Addresses"][0]["AssociationId"])
    ec2.release_address(AllocationId=address["AllocationId"])
    ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
    wait_for_nat(ec2, nat["NatGatewayId"], "deleted")


def test_malformed_ids_come_before_not_found(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    vpc_id = ec2.create_vpc(CidrBlock="10.71.0.0/16", TagSpecifications=tagged("vpc", unique))["Vpc"]["VpcId"]
    vpc_cleanup.append(vpc_id)
    before = everything(ec2, vpc_id)
    assert refused(ec2.describe_vpcs, "InvalidVpcID.Malformed", VpcIds=["vpc-012345678"]) == \
        'Invalid id: "vpc-012345678" (expecting "vpc-...")'
    refused(ec2.describe_vpcs, "InvalidVpcID.NotFound", VpcIds=["vpc-0123456789abcdef0"])
    refused(ec2.create_subnet, "InvalidVpcID.Malformed", VpcId="vpc-nothex00", CidrBlock="10.71.1.0/24")
    refused(ec2.delete_subnet, "InvalidSubnetID.Malformed", SubnetId="subnet-")
    refused(ec2.attach_internet_gateway, "InvalidInternetGatewayId.Malformed", InternetGatewayId="igw-1",
            VpcId=vpc_id)
    refused(ec2.attach_internet_gateway, "InvalidVpcID.Malformed", InternetGatewayId="igw-0123456789abcdef0",
            VpcId="vpc-1")
    refused(ec2.describe_security_groups, "InvalidGroupId.Malformed", GroupIds=["sg-0123456789abcdef"])
    # EC2 documents no Malformed code for association and allocation ids: a malformed one is NotFound.
    refused(ec2.disassociate_route_table, "InvalidAssociationID.NotFound", AssociationId="rtbassoc-1")
    refused(ec2.disassociate_route_table, "InvalidAssociationID.NotFound", AssociationId="rtbassoc-0123456789abcdef0")
    refused(ec2.release_address, "InvalidAllocationID.NotFound", AllocationId="eipalloc-x")
    refused(ec2.describe_network_interfaces, "InvalidNetworkInterfaceId.Malformed", NetworkInterfaceIds=["eni-1"])
    refused(ec2.delete_key_pair, "InvalidKeyPairId.Malformed", KeyPairId="key-1")
    assert everything(ec2, vpc_id) == before


def test_resources_in_use_are_refused(ec2: Client, unique: str, vpc_cleanup: list[str]) -> None:
    vpc_id = ec2.create_vpc(CidrBlock="10.72.0.0/16", TagSpecifications=tagged("vpc", unique))["Vpc"]["VpcId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.73.0.0/16", TagSpecifications=tagged("vpc", unique))["Vpc"]["VpcId"]
    vpc_cleanup.extend([vpc_id, other_vpc])
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.72.1.0/24")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    spare_igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    target = ec2.create_security_group(GroupName=f"{unique}-db", Description="db", VpcId=vpc_id)["GroupId"]
    source = ec2.create_security_group(GroupName=f"{unique}-app", Description="app", VpcId=vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=target, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": source}]}])
    eni = ec2.create_network_interface(SubnetId=subnet, Groups=[source])["NetworkInterface"]["NetworkInterfaceId"]
    second_eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    main = next(t for t in tables if any(a["Main"] for a in t["Associations"]))
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NetworkAcls"]
    address = ec2.allocate_address(Domain="vpc", TagSpecifications=tagged("elastic-ip", unique))["AllocationId"]
    ec2.associate_address(AllocationId=address, NetworkInterfaceId=eni)
    before = everything(ec2, vpc_id)

    # Internet gateways: one per VPC, one VPC per gateway; detaching needs the right VPC and no mapped addresses.
    refused(ec2.attach_internet_gateway, "Resource.AlreadyAssociated", InternetGatewayId=igw, VpcId=vpc_id)
    refused(ec2.attach_internet_gateway, "Resource.AlreadyAssociated", InternetGatewayId=igw, VpcId=other_vpc)
    # A second gateway on a VPC is AWS's InvalidParameterValue ("Network vpc-... already has an internet
    # gateway attached"), as its answers to infrastructure tools show.
    refused(ec2.attach_internet_gateway, "InvalidParameterValue", InternetGatewayId=spare_igw, VpcId=vpc_id)
    refused(ec2.detach_internet_gateway, "Gateway.NotAttached", InternetGatewayId=spare_igw, VpcId=vpc_id)
    refused(ec2.detach_internet_gateway, "Gateway.NotAttached", InternetGatewayId=igw, VpcId=other_vpc)
    refused(ec2.detach_internet_gateway, "DependencyViolation", InternetGatewayId=igw, VpcId=vpc_id)
    refused(ec2.delete_internet_gateway, "DependencyViolation", InternetGatewayId=igw)
    # Security groups: referenced by another group's rule, used by an interface, or the default group.
    refused(ec2.delete_security_group, "DependencyViolation", GroupId=source)
    default = next(g["GroupId"] for g in before["groups"]["SecurityGroups"] if g["GroupName"] == "default")
    refused(ec2.delete_security_group, "CannotDelete", GroupId=default)
    # Route tables: the main association stays; a table with associations stays; a subnet has one table.
    refused(ec2.disassociate_route_table, "InvalidParameterValue",
            AssociationId=main["Associations"][0]["RouteTableAssociationId"])
    refused(ec2.delete_route_table, "DependencyViolation", RouteTableId=main["RouteTableId"])
    refused(ec2.delete_route_table, "DependencyViolation", RouteTableId=table)
    refused(ec2.associate_route_table, "Resource.AlreadyAssociated", RouteTableId=table, SubnetId=subnet)
    # Network ACLs: the default one stays.
    refused(ec2.delete_network_acl, "InvalidParameterValue", NetworkAclId=only_default(acls))
    # Interfaces and addresses: an address is released only when free; an interface in use stays.
    refused(ec2.release_address, "InvalidIPAddress.InUse", AllocationId=address)
    refused(ec2.associate_address, "Resource.AlreadyAssociated", AllocationId=address, AllowReassociation=False,
            NetworkInterfaceId=second_eni)
    # Subnets and VPCs with something in them stay.
    refused(ec2.delete_subnet, "DependencyViolation", SubnetId=subnet)
    refused(ec2.delete_vpc, "DependencyViolation", VpcId=vpc_id)
    assert everything(ec2, vpc_id) == before
    ec2.delete_internet_gateway(InternetGatewayId=spare_igw)


def only_default(acls: list[dict[str, Any]]) -> str:
    return next(a["NetworkAclId"] for a in acls if a["IsDefault"])
