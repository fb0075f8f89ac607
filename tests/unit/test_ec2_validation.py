"""EC2 input validation: malformed ids before lookups, AWS's parameter rules, refusals of resources in use.

Each check follows the EC2 API reference: "Error codes for the Amazon EC2 API" (errors-overview.html:
``InvalidXxxID.Malformed`` for an id that is not shaped like one, ``InvalidXxxID.NotFound`` for a
well-formed id that does not exist, ``InvalidParameterCombination``, ``...InUse``) and the operation's
own page where it states a rule (API_AssociateAddress: "You can specify either the instance ID or the
network interface ID, but not both"; API_ModifyVpcAttribute: "You can only enable DNS hostnames if
you've enabled DNS support").
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.session import Session
from sqlalchemy import func, select

import controller.ec2 as ec2
from controller.ec2 import ids, validate
from controller.ec2.instances import state
from controller.errors import ServiceError
from tests.unit.harness import Clouds, InstanceCloud, VpcCloud, snapshot

#: Id-named members that are not ids of resources EC2 issues here, so no shape is checked: account ids,
#: zone ids, kernel/ramdisk ids, ids of resource types Cloudlet does not have (each refused by its handler),
#: GatewayId, which names any of several gateway kinds (its handler sorts them out), and KMS key ids (KMS
#: resolves them).
NOT_CHECKED = {
    "AssetIds", "AvailabilityZoneId", "ZoneIds", "CarrierGatewayId", "LocalGatewayId", "TransitGatewayId",
    "VpcEndpointId", "GatewayId", "IpamPoolId", "Ipv4IpamPoolId", "Ipv6IpamPoolId", "KernelId", "RamdiskId",
    "LinkedGroupId", "ParentGroupId", "PeerOwnerId", "SourceSecurityGroupOwnerId", "UserIds",
    "KmsKeyId", "OwnerIds", "RestorableByUserIds",
}


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc()


def test_every_id_member_of_every_served_operation_is_checked_for_shape() -> None:
    """Walk the model: every top-level member named ``...Id``/``...Ids`` is either checked or listed above."""
    model = Session().get_service_model("ec2")
    unchecked = []
    for operation in sorted(ec2.api.operations):
        shape = model.operation_model(operation).input_shape
        for member in (shape.members if shape else {}):
            if member.endswith(("Id", "Ids")) and member not in NOT_CHECKED \
                    and member not in validate._members_of(operation) \
                    and (operation, member) not in validate.SELF_CHECKED:
                unchecked.append(f"{operation}.{member}")
    assert unchecked == []


@pytest.mark.parametrize(("value", "well_formed"), [
    ("vpc-12345678", True), ("vpc-0123456789abcdef0", True), ("vpc-123", False), ("vpc-012345678", False),
    ("vpc-0123456789ABCDEF0", False), ("subnet-0123456789abcdef0", False), ("vpc-", False), ("", False),
    ("vpc-0123456789abcdef0 ", False), ("vpc-0123456789abcdefg", False)])
def test_id_shapes_are_aws_s(value: str, well_formed: bool) -> None:
    assert ids.VPC.well_formed(value) is well_formed
    expected = "InvalidVpcID.NotFound" if well_formed else "InvalidVpcID.Malformed"
    assert ids.VPC.missing([value]).code == expected


#: The codes of "Error codes for the Amazon EC2 API" (errors-overview.html), spelled as AWS spells them:
#: ``ID`` and ``Id`` differ between a kind's NotFound and Malformed codes, and EC2 documents no Malformed
#: code for allocation or association ids (a malformed one is NotFound). Clients match these exactly.
DOCUMENTED_CODES = {
    ids.VPC: ("InvalidVpcID.NotFound", "InvalidVpcID.Malformed"),
    ids.DHCP_OPTIONS: ("InvalidDhcpOptionID.NotFound", "InvalidDhcpOptionsId.Malformed"),
    ids.SUBNET: ("InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed"),
    ids.ROUTE_TABLE: ("InvalidRouteTableID.NotFound", "InvalidRouteTableId.Malformed"),
    ids.INTERNET_GATEWAY: ("InvalidInternetGatewayID.NotFound", "InvalidInternetGatewayId.Malformed"),
    ids.NAT_GATEWAY: ("NatGatewayNotFound", "NatGatewayMalformed"),
    ids.ELASTIC_IP: ("InvalidAllocationID.NotFound", "InvalidAllocationID.NotFound"),
    ids.SECURITY_GROUP: ("InvalidGroup.NotFound", "InvalidGroupId.Malformed"),
    ids.NETWORK_ACL: ("InvalidNetworkAclID.NotFound", "InvalidNetworkAclId.Malformed"),
    ids.NETWORK_INTERFACE: ("InvalidNetworkInterfaceID.NotFound", "InvalidNetworkInterfaceId.Malformed"),
    ids.INTERFACE_ATTACHMENT: ("InvalidAttachmentID.NotFound", "InvalidNetworkInterfaceAttachmentId.Malformed"),
    ids.PEERING: ("InvalidVpcPeeringConnectionID.NotFound", "InvalidVpcPeeringConnectionId.Malformed"),
    ids.PREFIX_LIST: ("InvalidPrefixListId.NotFound", "InvalidPrefixListId.Malformed"),
    ids.INSTANCE: ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"),
    ids.ROUTE_TABLE_ASSOCIATION: ("InvalidAssociationID.NotFound", "InvalidAssociationID.NotFound"),
    ids.NETWORK_ACL_ASSOCIATION: ("InvalidAssociationID.NotFound", "InvalidAssociationID.NotFound"),
    ids.ADDRESS_ASSOCIATION: ("InvalidAssociationID.NotFound", "InvalidAssociationID.NotFound"),
}


def test_kinds_carry_the_documented_codes() -> None:
    assert {kind.prefix: (kind.not_found_code, kind.malformed_code) for kind in DOCUMENTED_CODES} == {
        kind.prefix: codes for kind, codes in DOCUMENTED_CODES.items()}
    for kind, (not_found, malformed) in DOCUMENTED_CODES.items():
        assert kind.missing([f"{kind.prefix}-0123456789abcdef0"]).code == not_found
        assert kind.missing([f"{kind.prefix}-zz"]).code == malformed


def test_check_shapes_names_the_kind_of_each_member() -> None:
    with pytest.raises(ServiceError) as excinfo:
        validate.check_shapes("DisassociateRouteTable", {"AssociationId": "eipassoc-0123456789abcdef0"})
    assert (excinfo.value.code, excinfo.value.message) == (
        "InvalidAssociationID.NotFound", 'Invalid id: "eipassoc-0123456789abcdef0" (expecting "rtbassoc-...")')
    with pytest.raises(ServiceError) as excinfo:
        validate.check_shapes("DescribePlacementGroups", {"GroupIds": ["sg-0123456789abcdef0"]})
    assert excinfo.value.code == "InvalidPlacementGroupId.Malformed"
    with pytest.raises(ServiceError) as excinfo:
        validate.check_shapes("RunInstances", {"NetworkInterfaces": [{"DeviceIndex": 0, "NetworkInterfaceId": "eni-1"}]})
    assert excinfo.value.code == "InvalidNetworkInterfaceId.Malformed"
    validate.check_shapes("DescribeSecurityGroups", {"GroupIds": ["sg-0123456789abcdef0"], "VpcId": None})


def test_dhcp_options_ids_are_checked_and_default_is_a_word(cloud: VpcCloud) -> None:
    vpc = cloud.call("CreateVpc", {"CidrBlock": "10.0.0.0/16"})["Vpc"]["VpcId"]
    cloud.refused("DescribeDhcpOptions", {"DhcpOptionsIds": ["dopt-zz"]}, "InvalidDhcpOptionsId.Malformed")
    cloud.refused("DeleteDhcpOptions", {"DhcpOptionsId": "dhcp-1"}, "InvalidDhcpOptionsId.Malformed")
    cloud.refused("AssociateDhcpOptions", {"DhcpOptionsId": "dopt-0123456789abcdef0", "VpcId": vpc},
                  "InvalidDhcpOptionID.NotFound")
    cloud.call("AssociateDhcpOptions", {"DhcpOptionsId": "default", "VpcId": vpc})  # no set: not an id


def test_malformed_ids_are_refused_before_anything_is_looked_up(cloud: VpcCloud) -> None:
    vpc = cloud.call("CreateVpc", {"CidrBlock": "10.0.0.0/16"})["Vpc"]["VpcId"]
    # A well-formed id that does not exist is NotFound; one that cannot be an id is Malformed, wherever it is.
    cloud.refused("DescribeVpcs", {"VpcIds": [vpc, "vpc-0000000000000000f"]}, "InvalidVpcID.NotFound")
    cloud.refused("DescribeVpcs", {"VpcIds": ["vpc-0000000000000000f", "vpc-zz"]}, "InvalidVpcID.Malformed")
    cloud.refused("CreateSubnet", {"VpcId": "vpc-zz", "CidrBlock": "10.0.1.0/24"}, "InvalidVpcID.Malformed")
    cloud.refused("CreateRoute", {"RouteTableId": "rtb-1", "DestinationCidrBlock": "0.0.0.0/0",
                                  "GatewayId": "igw-0000000000000000f"}, "InvalidRouteTableId.Malformed")
    cloud.refused("CreateRoute", {"RouteTableId": "rtb-0000000000000000f", "DestinationCidrBlock": "0.0.0.0/0",
                                  "NatGatewayId": "nat-x"}, "NatGatewayMalformed")
    cloud.refused("ReleaseAddress", {"AllocationId": "eipalloc-"}, "InvalidAllocationID.NotFound")
    cloud.refused("DeleteSecurityGroup", {"GroupId": "sg-0123456789abcdef"}, "InvalidGroupId.Malformed")
    cloud.refused("DisassociateRouteTable", {"AssociationId": "rtbassoc-xyz"}, "InvalidAssociationID.NotFound")
    cloud.refused("ReplaceNetworkAclAssociation", {"AssociationId": "rtbassoc-0123456789abcdef0",
                                                   "NetworkAclId": "acl-0123456789abcdef0"},
                  "InvalidAssociationID.NotFound")
    cloud.refused("CreateNetworkInterface", {"SubnetId": "subnet-0123456789abcdef0", "Groups": ["default"]},
                  "InvalidGroupId.Malformed")
    cloud.refused("DescribeKeyPairs", {"KeyPairIds": ["key-1"]}, "InvalidKeyPairId.Malformed")
    # A security group named by name in a rule is a name, not a malformed id.
    group = cloud.call("CreateSecurityGroup", {"GroupName": "g", "Description": "g", "VpcId": vpc})["GroupId"]
    before = snapshot(cloud)
    error = cloud.refused("AuthorizeSecurityGroupIngress", {"GroupId": group, "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "UserIdGroupPairs": [{"GroupName": "nope"}]}]},
        "InvalidGroup.NotFound")
    assert "'nope'" in error.message
    assert snapshot(cloud) == before


UNKNOWN = {"vpc": "vpc-0123456789abcdef0", "subnet": "subnet-0123456789abcdef0", "rtb": "rtb-0123456789abcdef0",
           "acl": "acl-0123456789abcdef0", "sg": "sg-0123456789abcdef0", "igw": "igw-0123456789abcdef0",
           "eni": "eni-0123456789abcdef0", "eipalloc": "eipalloc-0123456789abcdef0"}


@pytest.mark.parametrize(("operation", "params", "code"), [
    ("CreateSubnet", {"VpcId": UNKNOWN["vpc"], "CidrBlock": "10.0.0.0/33"}, "InvalidParameterValue"),
    ("CreateSubnet", {"VpcId": UNKNOWN["vpc"], "CidrBlock": "10.0.0.0/24", "AvailabilityZone": "mars-1a"},
     "InvalidParameterValue"),
    ("CreateRoute", {"RouteTableId": UNKNOWN["rtb"], "DestinationCidrBlock": "junk", "GatewayId": UNKNOWN["igw"]},
     "InvalidParameterValue"),
    ("CreateRoute", {"RouteTableId": UNKNOWN["rtb"], "DestinationCidrBlock": "0.0.0.0/0"}, "MissingParameter"),
    ("CreateRoute", {"RouteTableId": UNKNOWN["rtb"], "DestinationCidrBlock": "0.0.0.0/0",
                     "GatewayId": UNKNOWN["igw"], "NetworkInterfaceId": UNKNOWN["eni"]}, "InvalidParameterCombination"),
    ("ReplaceRoute", {"RouteTableId": UNKNOWN["rtb"], "DestinationCidrBlock": "1.2.3.4/8",
                      "GatewayId": UNKNOWN["igw"]}, "InvalidParameterValue"),
    ("DeleteRoute", {"RouteTableId": UNKNOWN["rtb"]}, "MissingParameter"),
    ("CreateNetworkAclEntry", {"NetworkAclId": UNKNOWN["acl"], "RuleNumber": 1, "Protocol": "tcpx",
                               "RuleAction": "allow", "Egress": False, "CidrBlock": "0.0.0.0/0"},
     "InvalidParameterValue"),
    ("DeleteNetworkAclEntry", {"NetworkAclId": UNKNOWN["acl"], "RuleNumber": 40000, "Egress": False},
     "InvalidParameterValue"),
    ("AuthorizeSecurityGroupIngress", {"GroupId": UNKNOWN["sg"], "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.1/8"}]}]},
     "InvalidParameterValue"),
    ("RevokeSecurityGroupEgress", {"GroupId": UNKNOWN["sg"], "IpPermissions": [
        {"IpProtocol": "bogus", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]}, "InvalidParameterValue"),
    ("CreateNetworkInterface", {"SubnetId": UNKNOWN["subnet"], "PrivateIpAddress": "10.0.0.300"},
     "InvalidParameterValue"),
    ("CreateNetworkInterface", {"SubnetId": UNKNOWN["subnet"], "SecondaryPrivateIpAddressCount": -1},
     "InvalidParameterValue"),
    ("AssociateAddress", {"AllocationId": UNKNOWN["eipalloc"], "NetworkInterfaceId": UNKNOWN["eni"],
                          "PrivateIpAddress": "not-an-ip"}, "InvalidParameterValue"),
    ("CreateSecurityGroup", {"GroupName": "sg-web", "Description": "d", "VpcId": UNKNOWN["vpc"]},
     "InvalidParameterValue"),
    # Values outside their member's enum (the model's), wherever they are in the request.
    ("AllocateAddress", {"Domain": "classic"}, "InvalidParameterValue"),
    ("CreateNatGateway", {"SubnetId": UNKNOWN["subnet"], "ConnectivityType": "both"}, "InvalidParameterValue"),
    ("ModifySubnetAttribute", {"SubnetId": UNKNOWN["subnet"], "PrivateDnsHostnameTypeOnLaunch": "dns-name"},
     "InvalidParameterValue"),
    ("CreateVpc", {"CidrBlock": "10.0.0.0/16", "TagSpecifications": [{"ResourceType": "vpcs", "Tags": []}]},
     "InvalidParameterValue"),
    ("AssociateSubnetCidrBlock", {"SubnetId": UNKNOWN["subnet"], "Ipv6CidrBlock": "2001:db8::/zz"},
     "InvalidParameterValue"),
    # API_ModifyNetworkInterfaceAttribute: "You can specify only one attribute at a time."
    ("ModifyNetworkInterfaceAttribute", {"NetworkInterfaceId": UNKNOWN["eni"], "Description": {"Value": "d"},
                                         "SourceDestCheck": {"Value": False}}, "InvalidParameterCombination"),
    # API_ModifySubnetAttribute: "You can only modify one attribute at a time."
    ("ModifySubnetAttribute", {"SubnetId": UNKNOWN["subnet"], "MapPublicIpOnLaunch": {"Value": True},
                               "AssignIpv6AddressOnCreation": {"Value": True}}, "InvalidParameterCombination"),
])
def test_the_request_is_checked_before_the_resources_it_names(cloud: VpcCloud, operation: str,
                                                              params: dict[str, Any], code: str) -> None:
    """Each request names resources that do not exist *and* has a mistake of its own: EC2 reports the
    mistake (InvalidParameterValue, MissingParameter, InvalidParameterCombination), not a NotFound."""
    cloud.refused(operation, params, code)


def test_addresses_named_by_value_must_be_ipv4_addresses(cloud: VpcCloud) -> None:
    """errors-overview.html: InvalidAddress.Malformed, "ensure that you provide the address in the form
    xx.xx.xx.xx"; a well-formed address the caller does not hold is InvalidAddress.NotFound."""
    cloud.refused("AllocateAddress", {"Address": "junk"}, "InvalidAddress.Malformed")
    cloud.refused("DescribeAddresses", {"PublicIps": ["198.51.100.7", "198.51.100"]}, "InvalidAddress.Malformed")
    cloud.refused("ReleaseAddress", {"PublicIp": "::1"}, "InvalidAddress.Malformed")
    cloud.refused("DisassociateAddress", {"PublicIp": "x"}, "InvalidAddress.Malformed")
    cloud.refused("ReleaseAddress", {"PublicIp": "198.51.100.7"}, "InvalidAddress.NotFound")
    assert cloud.call("DescribeAddresses", {})["Addresses"] == []


def test_placement_group_spread_level_is_host_or_rack(cloud: VpcCloud) -> None:
    cloud.refused("CreatePlacementGroup", {"GroupName": "g", "Strategy": "spread", "SpreadLevel": "zone"},
                  "InvalidParameterValue")
    assert cloud.call("DescribePlacementGroups", {})["PlacementGroups"] == []
    made = cloud.call("CreatePlacementGroup", {"GroupName": "g", "Strategy": "spread", "SpreadLevel": "host"})
    assert made["PlacementGroup"]["SpreadLevel"] == "host"


def test_parameter_rules_of_addresses_and_attributes(cloud: VpcCloud) -> None:
    vpc = cloud.call("CreateVpc", {"CidrBlock": "10.1.0.0/16"})["Vpc"]["VpcId"]
    subnet = cloud.call("CreateSubnet", {"VpcId": vpc, "CidrBlock": "10.1.1.0/24"})["Subnet"]["SubnetId"]
    eni = cloud.call("CreateNetworkInterface", {"SubnetId": subnet})["NetworkInterface"]["NetworkInterfaceId"]
    address = cloud.call("AllocateAddress", {})
    before = snapshot(cloud)
    cloud.refused("AssociateAddress", {"AllocationId": address["AllocationId"], "NetworkInterfaceId": eni,
                                       "InstanceId": "i-0123456789abcdef0"}, "InvalidParameterCombination")
    cloud.refused("AssociateAddress", {"AllocationId": address["AllocationId"]}, "MissingParameter")
    cloud.refused("ReleaseAddress", {"AllocationId": address["AllocationId"], "PublicIp": address["PublicIp"]},
                  "InvalidParameterCombination")
    cloud.refused("CreateSecurityGroup", {"GroupName": "g", "Description": "", "VpcId": vpc}, "MissingParameter")
    cloud.refused("CreateNetworkInterface", {"SubnetId": subnet, "PrivateIpAddresses": [{"Primary": True}]},
                  "MissingParameter")
    assert snapshot(cloud) == before
    cloud.call("ModifyVpcAttribute", {"VpcId": vpc, "EnableDnsSupport": {"Value": False}})
    before = snapshot(cloud)
    cloud.refused("ModifyVpcAttribute", {"VpcId": vpc, "EnableDnsHostnames": {"Value": True}},
                  "InvalidParameterValue")
    assert snapshot(cloud) == before
    assert cloud.call("DescribeVpcAttribute", {"VpcId": vpc, "Attribute": "enableDnsHostnames"})[
        "EnableDnsHostnames"] == {"Value": False}


def test_addresses_in_use(cloud: VpcCloud) -> None:
    vpc = cloud.call("CreateVpc", {"CidrBlock": "10.2.0.0/16"})["Vpc"]["VpcId"]
    subnet = cloud.call("CreateSubnet", {"VpcId": vpc, "CidrBlock": "10.2.1.0/24"})["Subnet"]["SubnetId"]
    igw = cloud.call("CreateInternetGateway", {})["InternetGateway"]["InternetGatewayId"]
    cloud.call("AttachInternetGateway", {"InternetGatewayId": igw, "VpcId": vpc})
    first, second = (cloud.call("CreateNetworkInterface", {"SubnetId": subnet})["NetworkInterface"][
        "NetworkInterfaceId"] for _ in range(2))
    address = cloud.call("AllocateAddress", {})["AllocationId"]
    cloud.call("AssociateAddress", {"AllocationId": address, "NetworkInterfaceId": first})
    before = snapshot(cloud)
    # API_ReleaseAddress: "you must first disassociate it" -- AWS answers InvalidIPAddress.InUse.
    cloud.refused("ReleaseAddress", {"AllocationId": address}, "InvalidIPAddress.InUse")
    # API_AssociateAddress: reassociation is automatic unless AllowReassociation is false.
    cloud.refused("AssociateAddress", {"AllocationId": address, "NetworkInterfaceId": second,
                                       "AllowReassociation": False}, "Resource.AlreadyAssociated")
    assert snapshot(cloud) == before
    cloud.call("AssociateAddress", {"AllocationId": address, "NetworkInterfaceId": second})
    moved = cloud.call("DescribeAddresses", {"AllocationIds": [address]})["Addresses"][0]
    assert moved["NetworkInterfaceId"] == second
    # A NAT gateway's address stays with it.
    nat_address = cloud.call("AllocateAddress", {})["AllocationId"]
    cloud.call("CreateNatGateway", {"SubnetId": subnet, "AllocationId": nat_address})
    before = snapshot(cloud)
    cloud.refused("AssociateAddress", {"AllocationId": nat_address, "NetworkInterfaceId": first},
                  "Resource.AlreadyAssociated")
    cloud.refused("ReleaseAddress", {"AllocationId": nat_address}, "InvalidIPAddress.InUse")
    assert snapshot(cloud) == before


def test_import_key_pair_refuses_empty_and_malformed_keys(cloud: VpcCloud) -> None:
    for material in (b"", b"   ", b"ssh-rsa", b"ssh-rsa AAAA", b"not a key at all"):
        cloud.refused("ImportKeyPair", {"KeyName": "k", "PublicKeyMaterial": material}, "InvalidKey.Format")
    assert cloud.call("DescribeKeyPairs", {})["KeyPairs"] == []


def _instance_count(ic: InstanceCloud) -> int:
    with ic.db.read() as conn:
        return conn.execute(select(func.count()).select_from(state.instances)).scalar_one()


def test_run_instances_refuses_an_interface_in_use(ic: InstanceCloud) -> None:
    """API_RunInstances with NetworkInterfaces[].NetworkInterfaceId: an interface attached to another
    instance is InvalidNetworkInterface.InUse, and nothing is launched."""
    running = ic.run()[0]
    taken = running["NetworkInterfaces"][0]["NetworkInterfaceId"]
    subnet = running["SubnetId"]
    free = ic.call("CreateNetworkInterface", {"SubnetId": subnet})["NetworkInterface"]["NetworkInterfaceId"]
    launched = _instance_count(ic)
    ic.refused("RunInstances", {"ImageId": ic.tiny_image(), "MinCount": 1, "MaxCount": 1,
                                "NetworkInterfaces": [{"DeviceIndex": 0, "NetworkInterfaceId": taken}]},
               "InvalidNetworkInterface.InUse")
    ic.refused("RunInstances", {"ImageId": ic.tiny_image(), "MinCount": 1, "MaxCount": 1, "NetworkInterfaces": [
        {"DeviceIndex": 0, "NetworkInterfaceId": free}, {"DeviceIndex": 1, "NetworkInterfaceId": taken}]},
               "InvalidNetworkInterface.InUse")
    assert _instance_count(ic) == launched
    assert ic.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [free]})["NetworkInterfaces"][0][
        "Status"] == "available"
    # The free interface launches, and is then in use itself.
    again = ic.run(NetworkInterfaces=[{"DeviceIndex": 0, "NetworkInterfaceId": free}])[0]
    assert again["NetworkInterfaces"][0]["NetworkInterfaceId"] == free
    ic.refused("DeleteNetworkInterface", {"NetworkInterfaceId": free}, "InvalidNetworkInterface.InUse")
    ic.refused("AssociateAddress", {"AllocationId": ic.call("AllocateAddress", {})["AllocationId"],
                                    "InstanceId": again["InstanceId"], "NetworkInterfaceId": free},
               "InvalidParameterCombination")


def test_run_instances_refuses_values_outside_their_enums(ic: InstanceCloud) -> None:
    """A market type, hostname type or metadata option EC2 does not know is refused, not ignored."""
    launched = _instance_count(ic)
    for extra in ({"InstanceMarketOptions": {"MarketType": "auction"}},
                  {"PrivateDnsNameOptions": {"HostnameType": "fqdn"}},
                  {"MetadataOptions": {"HttpTokens": "sometimes"}},
                  {"CapacityReservationSpecification": {"CapacityReservationPreference": "maybe"}}):
        ic.refused("RunInstances", {"ImageId": ic.tiny_image(), "MinCount": 1, "MaxCount": 1, **extra},
                   "InvalidParameterValue")
    assert _instance_count(ic) == launched


def test_instance_attributes_read_back_what_was_written(ic: InstanceCloud) -> None:
    instance = ic.run()[0]["InstanceId"]

    def attribute(name: str, member: str | None = None) -> Any:
        answer = ic.call("DescribeInstanceAttribute", {"InstanceId": instance, "Attribute": name})
        assert answer["InstanceId"] == instance
        return answer[member or name[:1].upper() + name[1:]]

    assert attribute("disableApiTermination") == {"Value": False}
    ic.call("ModifyInstanceAttribute", {"InstanceId": instance, "DisableApiTermination": {"Value": True}})
    assert attribute("disableApiTermination") == {"Value": True}
    ic.call("ModifyInstanceAttribute", {"InstanceId": instance,
                                        "InstanceInitiatedShutdownBehavior": {"Value": "terminate"}})
    assert attribute("instanceInitiatedShutdownBehavior") == {"Value": "terminate"}
    assert ic.instance(instance)["InstanceId"] == instance
    ic.refused("TerminateInstances", {"InstanceIds": [instance]}, "OperationNotPermitted")
    ic.call("ModifyInstanceAttribute", {"InstanceId": instance, "DisableApiTermination": {"Value": False}})
    assert attribute("disableApiTermination") == {"Value": False}
    ic.refused("ModifyInstanceAttribute", {"InstanceId": instance, "DisableApiStop": {"Value": True},
                                           "EbsOptimized": {"Value": True}}, "InvalidParameterCombination")
    assert attribute("disableApiStop") == {"Value": False}
    # Groups and source/dest checking are the primary interface's, read back through the instance.
    vpc = ic.instance(instance)["VpcId"]
    group = ic.call("CreateSecurityGroup", {"GroupName": "web", "Description": "web", "VpcId": vpc})["GroupId"]
    ic.call("ModifyInstanceAttribute", {"InstanceId": instance, "Groups": [group]})
    assert attribute("groupSet", "Groups") == [{"GroupId": group, "GroupName": "web"}]
    ic.call("ModifyInstanceAttribute", {"InstanceId": instance, "SourceDestCheck": {"Value": False}})
    assert attribute("sourceDestCheck") == {"Value": False}
    assert ic.instance(instance)["SourceDestCheck"] is False


def test_an_instance_with_several_interfaces_is_named_by_interface(ic: InstanceCloud) -> None:
    """errors-overview.html, InvalidInstanceID: "an operation on an instance that has multiple network
    interfaces" (an address, a source/destination check, groups) must name the interface instead."""
    instance = ic.run()[0]
    extra = ic.call("CreateNetworkInterface", {"SubnetId": instance["SubnetId"]})["NetworkInterface"][
        "NetworkInterfaceId"]
    ic.call("AttachNetworkInterface", {"NetworkInterfaceId": extra, "InstanceId": instance["InstanceId"],
                                       "DeviceIndex": 1})
    address = ic.call("AllocateAddress", {})["AllocationId"]
    ic.refused("AssociateAddress", {"AllocationId": address, "InstanceId": instance["InstanceId"]},
               "InvalidInstanceID")
    ic.refused("ModifyInstanceAttribute", {"InstanceId": instance["InstanceId"], "SourceDestCheck": {"Value": False}},
               "InvalidInstanceID")
    ic.call("ModifyNetworkInterfaceAttribute", {"NetworkInterfaceId": extra, "SourceDestCheck": {"Value": False}})
    checks = {i["NetworkInterfaceId"]: i["SourceDestCheck"] for i in ic.instance(instance["InstanceId"])[
        "NetworkInterfaces"]}
    assert checks == {instance["NetworkInterfaces"][0]["NetworkInterfaceId"]: True, extra: False}
    ic.call("AssociateAddress", {"AllocationId": address, "NetworkInterfaceId": extra})
    # The second interface is in use: another launch cannot take it, nor can it be deleted.
    ic.refused("RunInstances", {"ImageId": ic.tiny_image(), "MinCount": 1, "MaxCount": 1,
                                "NetworkInterfaces": [{"DeviceIndex": 0, "NetworkInterfaceId": extra}]},
               "InvalidNetworkInterface.InUse")
    ic.refused("DeleteNetworkInterface", {"NetworkInterfaceId": extra}, "InvalidNetworkInterface.InUse")
