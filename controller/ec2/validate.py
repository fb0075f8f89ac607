"""Checking what a request alone can get wrong (enum values, id shapes, addresses) before any lookup.

EC2 answers ``InvalidXxxID.Malformed`` for an id that cannot be one (wrong prefix, or not
8 or 17 lowercase hex digits after it) before it looks anything up, and
``InvalidXxxID.NotFound`` only for a well-formed id it cannot find: a client that gets
``NotFound`` may create the resource and retry, one that gets ``Malformed`` knows the
value itself is wrong. :func:`check_shapes` runs before every VPC handler (see
:mod:`controller.ec2.operation`), so each handler's lookups only ever see well-formed ids.

The members are those of the operations Cloudlet serves; a member whose kind depends on
the operation (``AssociationId``, ``GroupIds``, ``Groups``) is listed per operation. Elastic IP
addresses named by value get ``InvalidAddress.Malformed`` when they are not IPv4 addresses, and a
value that is none of its member's documented enum values (matched without regard to case, which
the handlers then sort out) gets ``InvalidParameterValue`` rather than being stored or ignored.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.model import Shape

from controller.ec2 import ids, image_references
from controller.ec2.errors import InvalidAddressMalformed, invalid_value
from controller.ec2.ids import Kind
from controller.protocol.models import cached_on, load_service_model

#: Members that name the same kind of resource in every operation that has them.
_MEMBERS: dict[str, Kind] = {
    "VpcId": ids.VPC, "VpcIds": ids.VPC, "PeerVpcId": ids.VPC,
    "LaunchTemplateId": ids.LAUNCH_TEMPLATE, "LaunchTemplateIds": ids.LAUNCH_TEMPLATE,
    "SubnetId": ids.SUBNET, "SubnetIds": ids.SUBNET, "AssociatedSubnetIds": ids.SUBNET,
    "RouteTableId": ids.ROUTE_TABLE, "RouteTableIds": ids.ROUTE_TABLE,
    "InternetGatewayId": ids.INTERNET_GATEWAY, "InternetGatewayIds": ids.INTERNET_GATEWAY,
    "EgressOnlyInternetGatewayId": ids.EGRESS_ONLY_GATEWAY, "EgressOnlyInternetGatewayIds": ids.EGRESS_ONLY_GATEWAY,
    "NatGatewayId": ids.NAT_GATEWAY, "NatGatewayIds": ids.NAT_GATEWAY,
    "AllocationId": ids.ELASTIC_IP, "AllocationIds": ids.ELASTIC_IP, "SecondaryAllocationIds": ids.ELASTIC_IP,
    "GroupId": ids.SECURITY_GROUP, "SecurityGroupIds": ids.SECURITY_GROUP,
    "SecurityGroupRuleIds": ids.SECURITY_GROUP_RULE,
    "NetworkAclId": ids.NETWORK_ACL, "NetworkAclIds": ids.NETWORK_ACL,
    "NetworkInterfaceId": ids.NETWORK_INTERFACE, "NetworkInterfaceIds": ids.NETWORK_INTERFACE,
    "AttachmentId": ids.INTERFACE_ATTACHMENT,
    "VpcPeeringConnectionId": ids.PEERING, "VpcPeeringConnectionIds": ids.PEERING,
    "PrefixListId": ids.PREFIX_LIST, "PrefixListIds": ids.PREFIX_LIST, "DestinationPrefixListId": ids.PREFIX_LIST,
    "InstanceId": ids.INSTANCE, "InstanceIds": ids.INSTANCE,
    "VpcEndpointId": ids.VPC_ENDPOINT, "VpcEndpointIds": ids.VPC_ENDPOINT,
    "DhcpOptionsId": ids.DHCP_OPTIONS, "DhcpOptionsIds": ids.DHCP_OPTIONS,
    "InstanceConnectEndpointId": ids.INSTANCE_CONNECT_ENDPOINT,
    "InstanceConnectEndpointIds": ids.INSTANCE_CONNECT_ENDPOINT,
    "AddRouteTableIds": ids.ROUTE_TABLE, "RemoveRouteTableIds": ids.ROUTE_TABLE,
    "AddSubnetIds": ids.SUBNET, "RemoveSubnetIds": ids.SUBNET,
    "AddSecurityGroupIds": ids.SECURITY_GROUP, "RemoveSecurityGroupIds": ids.SECURITY_GROUP,
    "VolumeId": ids.VOLUME, "VolumeIds": ids.VOLUME,
    "SnapshotId": ids.SNAPSHOT, "SnapshotIds": ids.SNAPSHOT, "SourceSnapshotId": ids.SNAPSHOT,
    "SpotInstanceRequestIds": ids.SPOT_REQUEST,
    "NetworkInsightsPathId": ids.NETWORK_INSIGHTS_PATH, "NetworkInsightsPathIds": ids.NETWORK_INSIGHTS_PATH,
    "NetworkInsightsAnalysisId": ids.NETWORK_INSIGHTS_ANALYSIS,
    "NetworkInsightsAnalysisIds": ids.NETWORK_INSIGHTS_ANALYSIS,
}

#: Members whose kind depends on the operation.
_BY_OPERATION: dict[str, dict[str, Kind]] = {
    "DisassociateRouteTable": {"AssociationId": ids.ROUTE_TABLE_ASSOCIATION},
    "ReplaceRouteTableAssociation": {"AssociationId": ids.ROUTE_TABLE_ASSOCIATION},
    "ReplaceNetworkAclAssociation": {"AssociationId": ids.NETWORK_ACL_ASSOCIATION},
    "DisassociateAddress": {"AssociationId": ids.ADDRESS_ASSOCIATION},
    "DisassociateVpcCidrBlock": {"AssociationId": ids.VPC_CIDR_ASSOCIATION},
    "DisassociateSubnetCidrBlock": {"AssociationId": ids.SUBNET_CIDR_ASSOCIATION},
    "DescribeSecurityGroups": {"GroupIds": ids.SECURITY_GROUP},
    "CreateNetworkInterface": {"Groups": ids.SECURITY_GROUP},
    "ModifyNetworkInterfaceAttribute": {"Groups": ids.SECURITY_GROUP},
}

#: Words a member takes besides ids of its kind (AssociateDhcpOptions' ``default``: no options set).
_WORDS: dict[tuple[str, str], frozenset[str]] = {("AssociateDhcpOptions", "DhcpOptionsId"): frozenset({"default"})}

#: Members whose model enum lists fewer values than EC2 accepts (DescribeAccountAttributes takes every
#: attribute its API page documents; the model names two), left to their handlers.
_OPEN_ENUMS: dict[str, tuple[str, ...]] = {"DescribeAccountAttributes": ("AttributeNames",)}

#: Members that name Elastic IP addresses by their public address.
_ADDRESS_MEMBERS = ("Address", "PublicIp", "PublicIps")
_ADDRESS_OPERATIONS = ("AllocateAddress", "AssociateAddress", "DisassociateAddress", "ReleaseAddress",
                       "DescribeAddresses")

#: Members of RunInstances' NetworkInterfaces entries that name resources.
_INTERFACE_SPEC_MEMBERS = {"NetworkInterfaceId": ids.NETWORK_INTERFACE, "SubnetId": ids.SUBNET,
                           "Groups": ids.SECURITY_GROUP}


def check_shapes(operation: str, params: Mapping[str, Any]) -> None:
    """Refuse the first value that is none of its enum's values, then the first id that is not shaped
    like an id of its kind, then the first public address that is not an IPv4 address."""
    input_shape = load_service_model("ec2").operation_model(operation).input_shape
    if input_shape is not None:
        open_members = _OPEN_ENUMS.get(operation, ())
        _check_enums(input_shape, {k: v for k, v in params.items() if k not in open_members})
    for kind, value in _named_ids(operation, params):
        if not isinstance(value, str) or not kind.well_formed(value):
            raise kind.malformed(str(value))
    if operation in _ADDRESS_OPERATIONS:
        for name in _ADDRESS_MEMBERS:
            for address in _values(params.get(name)):
                _check_address(address)


def _values(value: Any) -> list[Any]:
    """A member's values: the list itself, one value, or none."""
    return value if isinstance(value, list) else [] if value is None else [value]


def _check_address(address: Any) -> None:
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        raise InvalidAddressMalformed(f"Invalid Address: '{address}'. The specified IP address is not valid.") \
            from None


def _check_enums(shape: Shape, value: Any, name: str = "") -> None:
    if shape.type_name == "structure" and isinstance(value, Mapping):
        for member, member_shape in shape.members.items():
            if value.get(member) is not None:
                _check_enums(member_shape, value[member], member[:1].lower() + member[1:])
    elif shape.type_name == "list" and isinstance(value, list):
        for item in value:
            _check_enums(shape.member, item, name)
    elif shape.type_name == "string" and shape.enum and isinstance(value, str) \
            and value.lower() not in cached_on(shape, "enum_lower", lambda: {v.lower() for v in shape.enum}):
        raise invalid_value(value, name)


def _named_ids(operation: str, params: Mapping[str, Any]) -> Iterator[tuple[Kind, Any]]:
    members = _members_of(operation)
    for name, value in params.items():
        kind = members.get(name)
        if kind is not None:
            words = _WORDS.get((operation, name), frozenset())
            indirect = name == "ImageId" and image_references.is_reference(value)  # resolve:ssm:..., read later
            yield from ((kind, v) for v in _values(value) if v not in words and not indirect)
    if operation == "RunInstances":
        for spec in params.get("NetworkInterfaces") or []:
            for name, kind in _INTERFACE_SPEC_MEMBERS.items():
                yield from ((kind, v) for v in _values(spec.get(name) if isinstance(spec, dict) else None))


#: Ids an operation checks itself because AWS answers a malformed one in the output, not as the call's error
#: (DeleteLaunchTemplateVersions reports ``launchTemplateIdMalformed`` per version).
SELF_CHECKED = frozenset({("DeleteLaunchTemplateVersions", "LaunchTemplateId")})


@functools.cache
def _members_of(operation: str) -> dict[str, Kind]:
    members = {**_MEMBERS, **_INSTANCE_KINDS.get(operation, {}), **_BY_OPERATION.get(operation, {})}
    return {name: kind for name, kind in members.items() if (operation, name) not in SELF_CHECKED}


def _instance_kinds() -> dict[str, dict[str, Kind]]:
    """The kinds of the instance-side operations' ids, by operation and member."""
    image_ops = ("DeregisterImage", "DescribeImageAttribute", "ModifyImageAttribute", "ResetImageAttribute",
                 "RunInstances", "DescribeImages")
    kinds: dict[str, dict[str, Kind]] = {op: {"ImageId": ids.IMAGE, "ImageIds": ids.IMAGE} for op in image_ops}
    kinds["DeleteKeyPair"] = {"KeyPairId": ids.KEY_PAIR}
    kinds["DescribeKeyPairs"] = {"KeyPairIds": ids.KEY_PAIR}
    kinds["DescribePlacementGroups"] = {"GroupIds": ids.PLACEMENT_GROUP}
    for op in ("DescribeHosts", "ReleaseHosts"):
        kinds[op] = {"HostIds": ids.DEDICATED_HOST}
    association = ids.IAM_INSTANCE_PROFILE_ASSOCIATION
    for op in ("DisassociateIamInstanceProfile", "ReplaceIamInstanceProfileAssociation"):
        kinds[op] = {"AssociationId": association}
    kinds["DescribeIamInstanceProfileAssociations"] = {"AssociationIds": association}
    return kinds


_INSTANCE_KINDS = _instance_kinds()
