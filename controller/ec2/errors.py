"""The EC2 error codes the VPC API raises, with AWS's wording where it is fixed.

Not-found errors come from :meth:`controller.ec2.ids.Kind.missing`; everything else a
VPC operation can refuse is named here so the codes are spelled once.
"""

from __future__ import annotations

from controller.errors import ServiceError, error

InvalidParameterValue = error("InvalidParameterValue")
InvalidParameter = error("InvalidParameter")
InvalidID = error("InvalidID")
InvalidInstanceID = error("InvalidInstanceID")
InvalidParameterCombination = error("InvalidParameterCombination")
MissingParameter = error("MissingParameter")
DependencyViolation = error("DependencyViolation")
InvalidVpcRange = error("InvalidVpc.Range")
InvalidSubnetRange = error("InvalidSubnet.Range")
InvalidSubnetConflict = error("InvalidSubnet.Conflict")
InvalidGroupDuplicate = error("InvalidGroup.Duplicate")
InvalidGroupReserved = error("InvalidGroup.Reserved")
InvalidGroupNotFound = error("InvalidGroup.NotFound")
CannotDelete = error("CannotDelete")
InvalidPermissionDuplicate = error("InvalidPermission.Duplicate")
InvalidPermissionNotFound = error("InvalidPermission.NotFound")
InvalidPermissionMalformed = error("InvalidPermission.Malformed")
RulesPerSecurityGroupLimitExceeded = error("RulesPerSecurityGroupLimitExceeded")
SecurityGroupsPerInterfaceLimitExceeded = error("SecurityGroupsPerInterfaceLimitExceeded")
SecurityGroupLimitExceeded = error("SecurityGroupLimitExceeded")
ResourceAlreadyAssociated = error("Resource.AlreadyAssociated")
GatewayNotAttached = error("Gateway.NotAttached")
InvalidRouteNotFound = error("InvalidRoute.NotFound")
RouteAlreadyExists = error("RouteAlreadyExists")
InvalidRouteTableIdMalformed = error("InvalidRouteTableId.Malformed")
NetworkAclEntryAlreadyExists = error("NetworkAclEntryAlreadyExists")
InvalidNetworkAclEntryNotFound = error("InvalidNetworkAclEntry.NotFound")
AddressLimitExceeded = error("AddressLimitExceeded")
InsufficientAddressCapacity = error("InsufficientAddressCapacity", 500, sender_fault=False)
InvalidAddressNotFound = error("InvalidAddress.NotFound")
InvalidAddressMalformed = error("InvalidAddress.Malformed")
InvalidIPAddressInUse = error("InvalidIPAddress.InUse")
InsufficientFreeAddressesInSubnet = error("InsufficientFreeAddressesInSubnet")
InvalidNetworkInterfaceInUse = error("InvalidNetworkInterface.InUse")
InvalidStateTransition = error("InvalidStateTransition")
OperationNotPermitted = error("OperationNotPermitted")
VpcLimitExceeded = error("VpcLimitExceeded")
SubnetLimitExceeded = error("SubnetLimitExceeded")
InternetGatewayLimitExceeded = error("InternetGatewayLimitExceeded")
NatGatewayLimitExceeded = error("NatGatewayLimitExceeded")
InvalidPaginationToken = error("InvalidPaginationToken")
TagLimitExceeded = error("TagLimitExceeded")
DefaultVpcAlreadyExists = error("DefaultVpcAlreadyExists")
VpcIdNotSpecified = error("VPCIdNotSpecified")
IncorrectState = error("IncorrectState")
UnsupportedOperation = error("UnsupportedOperation")
CidrLimitExceeded = error("CidrLimitExceeded")
PrefixListVersionMismatch = error("PrefixListVersionMismatch")
IdempotentParameterMismatch = error("IdempotentParameterMismatch")
AnalysisExistsForNetworkInsightsPath = error("AnalysisExistsForNetworkInsightsPath")
DryRunOperation = error("DryRunOperation", 412)


def has_dependencies(noun: str, resource_id: str) -> ServiceError:
    """AWS's DependencyViolation for a resource other resources still use."""
    return DependencyViolation(f"The {noun} '{resource_id}' has dependencies and cannot be deleted.")


def invalid_value(value: object, parameter: str, reason: str = "") -> ServiceError:
    """``Value (x) for parameter y is invalid.`` with AWS's optional reason."""
    text = f"Value ({value}) for parameter {parameter} is invalid."
    return InvalidParameterValue(f"{text} {reason}" if reason else text)


def require(params: dict, *names: str) -> None:
    """MissingParameter for the first absent member (the protocol layer checks required
    members too; handlers called directly, and "one of" members, still need this)."""
    for name in names:
        if params.get(name) in (None, ""):
            raise MissingParameter(f"The request must contain the parameter {_wire(name)}")


def _wire(name: str) -> str:
    return name[:1].lower() + name[1:]
