"""EC2 resource kinds: their id prefixes, ARN types, tag resource types and not-found errors.

Every VPC resource id is ``<prefix>-`` and 17 lowercase hex digits, as AWS issues them
today. A :class:`Kind` keeps together what the API needs to know about one resource type
so that "unknown id" handling, ARNs and DescribeTags' ``ResourceType`` are written once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.errors import ServiceError

if TYPE_CHECKING:
    from controller.api import RequestContext

HEX_DIGITS = 17
ID_SUFFIX = re.compile(r"[0-9a-f]{8}|[0-9a-f]{17}")


@dataclass(frozen=True)
class Kind:
    """One EC2 resource type.

    ``resource_type`` is both the TagSpecification/DescribeTags type and the ARN resource
    type (EC2 uses the same word for both). ``not_found`` formats the message for the
    missing ids (joined with ", ").
    """

    prefix: str
    resource_type: str
    not_found_code: str
    not_found: str
    #: AWS's code for a value that cannot be an id of this kind; for kinds whose malformed ids EC2
    #: documents no code of their own (allocations, associations), it is the NotFound code.
    malformed_code: str

    def new_id(self) -> str:
        return new_id(self.prefix)

    def well_formed(self, value: str) -> bool:
        """Whether ``value`` has the shape of this kind's ids: ``prefix-`` and 8 or 17 lowercase hex
        digits (the short form is AWS's from before 2018)."""
        head = self.prefix + "-"
        return value.startswith(head) and ID_SUFFIX.fullmatch(value[len(head):]) is not None

    def malformed(self, value: str) -> ServiceError:
        """AWS's ``InvalidXxxID.Malformed`` for a value that cannot be an id of this kind."""
        return ServiceError(f'Invalid id: "{value}" (expecting "{self.prefix}-...")', code=self.malformed_code)

    def missing(self, ids: Iterable[str]) -> ServiceError:
        """The error AWS returns when the caller named ids it cannot see: Malformed for a value
        that cannot be an id, NotFound for a well-formed one."""
        wanted = list(ids)
        malformed = [i for i in wanted if not self.well_formed(i)]
        if malformed:
            return self.malformed(malformed[0])
        return ServiceError(self.not_found.format(", ".join(wanted)), code=self.not_found_code)

    def arn(self, ctx: RequestContext, resource_id: str, account_id: str | None = None) -> str:
        config = ctx.cloud.config
        return (f"arn:{config.partition}:ec2:{ctx.region}:{account_id or ctx.account_id}:"
                f"{self.resource_type}/{resource_id}")


def new_id(prefix: str) -> str:
    """``prefix-`` followed by 17 random hex digits."""
    return f"{prefix}-{secrets.token_hex(9)[:HEX_DIGITS]}"


def new_mac() -> str:
    """A locally administered unicast MAC (``02:xx:xx:xx:xx:xx``), as EC2 gives ENIs."""
    return "02:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(5))


VPC = Kind("vpc", "vpc", "InvalidVpcID.NotFound", "The vpc ID '{}' does not exist", "InvalidVpcID.Malformed")
SUBNET = Kind("subnet", "subnet", "InvalidSubnetID.NotFound", "The subnet ID '{}' does not exist",
              "InvalidSubnetID.Malformed")
ROUTE_TABLE = Kind("rtb", "route-table", "InvalidRouteTableID.NotFound", "The routeTable ID '{}' does not exist",
                   "InvalidRouteTableId.Malformed")
INTERNET_GATEWAY = Kind("igw", "internet-gateway", "InvalidInternetGatewayID.NotFound",
                        "The internetGateway ID '{}' does not exist", "InvalidInternetGatewayId.Malformed")
EGRESS_ONLY_GATEWAY = Kind("eigw", "egress-only-internet-gateway", "InvalidGatewayID.NotFound",
                           "The eigw ID '{}' does not exist", "InvalidEgressOnlyInternetGatewayId.Malformed")
NAT_GATEWAY = Kind("nat", "natgateway", "NatGatewayNotFound", "The Nat Gateway {} was not found",
                   "NatGatewayMalformed")
ELASTIC_IP = Kind("eipalloc", "elastic-ip", "InvalidAllocationID.NotFound",
                  "The allocation ID '{}' does not exist", "InvalidAllocationID.NotFound")
SECURITY_GROUP = Kind("sg", "security-group", "InvalidGroup.NotFound", "The security group '{}' does not exist",
                      "InvalidGroupId.Malformed")
SECURITY_GROUP_RULE = Kind("sgr", "security-group-rule", "InvalidSecurityGroupRuleId.NotFound",
                           "The security group rule ID '{}' does not exist", "InvalidSecurityGroupRuleId.Malformed")
NETWORK_ACL = Kind("acl", "network-acl", "InvalidNetworkAclID.NotFound", "The networkAcl ID '{}' does not exist",
                   "InvalidNetworkAclId.Malformed")
NETWORK_INTERFACE = Kind("eni", "network-interface", "InvalidNetworkInterfaceID.NotFound",
                         "The networkInterface ID '{}' does not exist", "InvalidNetworkInterfaceId.Malformed")
PEERING = Kind("pcx", "vpc-peering-connection", "InvalidVpcPeeringConnectionID.NotFound",
               "The vpcPeeringConnection ID '{}' does not exist", "InvalidVpcPeeringConnectionId.Malformed")
PREFIX_LIST = Kind("pl", "prefix-list", "InvalidPrefixListId.NotFound", "The prefix list ID '{}' does not exist",
                   "InvalidPrefixListId.Malformed")
VPC_ENDPOINT = Kind("vpce", "vpc-endpoint", "InvalidVpcEndpointId.NotFound", "The Vpc Endpoint Id '{}' does not exist",
                   "InvalidVpcEndpointId.Malformed")
DHCP_OPTIONS = Kind("dopt", "dhcp-options", "InvalidDhcpOptionID.NotFound", "The dhcpOption ID '{}' does not exist",
                    "InvalidDhcpOptionsId.Malformed")
INSTANCE = Kind("i", "instance", "InvalidInstanceID.NotFound", "The instance ID '{}' does not exist",
                "InvalidInstanceID.Malformed")
# Associations and attachments are not taggable; only their lookups need a Kind.
ROUTE_TABLE_ASSOCIATION = Kind("rtbassoc", "route-table-association", "InvalidAssociationID.NotFound",
                               "The association ID '{}' does not exist", "InvalidAssociationID.NotFound")
NETWORK_ACL_ASSOCIATION = Kind("aclassoc", "network-acl-association", "InvalidAssociationID.NotFound",
                               "The association ID '{}' does not exist", "InvalidAssociationID.NotFound")
ADDRESS_ASSOCIATION = Kind("eipassoc", "elastic-ip-association", "InvalidAssociationID.NotFound",
                           "The association ID '{}' does not exist", "InvalidAssociationID.NotFound")
INTERFACE_ATTACHMENT = Kind("eni-attach", "network-interface-attachment", "InvalidAttachmentID.NotFound",
                            "The attachment ID '{}' does not exist",
                            "InvalidNetworkInterfaceAttachmentId.Malformed")
VPC_CIDR_ASSOCIATION = Kind("vpc-cidr-assoc", "vpc-cidr-association", "InvalidVpcCidrBlockAssociationID.NotFound",
                            "The vpc CIDR block association ID '{}' does not exist",
                            "InvalidVpcCidrBlockAssociationID.Malformed")
SUBNET_CIDR_ASSOCIATION = Kind("subnet-cidr-assoc", "subnet-cidr-association",
                               "InvalidSubnetCidrBlockAssociationID.NotFound",
                               "The subnet CIDR block with association ID '{}' does not exist",
                               "InvalidSubnetCidrBlockAssociationID.Malformed")
INSTANCE_CONNECT_ENDPOINT = Kind("eice", "instance-connect-endpoint", "InvalidInstanceConnectEndpointId.NotFound",
                                 "The instanceConnectEndpoint ID '{}' does not exist",
                                 "InvalidInstanceConnectEndpointId.Malformed")

NETWORK_INSIGHTS_PATH = Kind("nip", "network-insights-path", "InvalidNetworkInsightsPathId.NotFound",
                             "The network insights path ID '{}' does not exist",
                             "InvalidNetworkInsightsPathId.Malformed")
NETWORK_INSIGHTS_ANALYSIS = Kind("nia", "network-insights-analysis", "InvalidNetworkInsightsAnalysisId.NotFound",
                                 "The network insights analysis ID '{}' does not exist",
                                 "InvalidNetworkInsightsAnalysisId.Malformed")

#: Kinds whose resources carry tags, keyed by id prefix (longest prefixes first when matching).
TAGGABLE: dict[str, Kind] = {k.prefix: k for k in (
    VPC, SUBNET, ROUTE_TABLE, INTERNET_GATEWAY, EGRESS_ONLY_GATEWAY, NAT_GATEWAY, ELASTIC_IP, SECURITY_GROUP,
    SECURITY_GROUP_RULE, NETWORK_ACL, NETWORK_INTERFACE, PEERING, PREFIX_LIST, VPC_ENDPOINT, NETWORK_INSIGHTS_PATH,
    NETWORK_INSIGHTS_ANALYSIS)}


def kind_of(resource_id: str) -> Kind | None:
    """The taggable kind an id belongs to, from its prefix (None for unknown prefixes)."""
    prefix, _, rest = resource_id.rpartition("-")
    return TAGGABLE.get(prefix) if rest else None
IMAGE = Kind("ami", "image", "InvalidAMIID.NotFound", "The image id '[{}]' does not exist", "InvalidAMIID.Malformed")
LAUNCH_TEMPLATE = Kind("lt", "launch-template", "InvalidLaunchTemplateId.NotFound",
                       "The specified launch template, with template ID {}, does not exist.",
                       "InvalidLaunchTemplateId.Malformed")
KEY_PAIR = Kind("key", "key-pair", "InvalidKeyPair.NotFound", "The key pair '{}' does not exist",
                "InvalidKeyPairId.Malformed")
PLACEMENT_GROUP = Kind("pg", "placement-group", "InvalidPlacementGroup.Unknown",
                       "The Placement Group '{}' is unknown.", "InvalidPlacementGroupId.Malformed")
DEDICATED_HOST = Kind("h", "dedicated-host", "InvalidHostID.NotFound", "The host ID '{}' does not exist",
                      "InvalidHostID.Malformed")
VOLUME = Kind("vol", "volume", "InvalidVolume.NotFound", "The volume '{}' does not exist.",
              "InvalidVolumeID.Malformed")
SNAPSHOT = Kind("snap", "snapshot", "InvalidSnapshot.NotFound", "The snapshot '{}' does not exist.",
                "InvalidSnapshotID.Malformed")
IAM_INSTANCE_PROFILE_ASSOCIATION = Kind(
    "iip-assoc", "iam-instance-profile-association", "InvalidAssociationID.NotFound",
    "An association with ID {} does not exist.", "InvalidAssociationID.NotFound")
SPOT_REQUEST = Kind("sir", "spot-instances-request", "InvalidSpotInstanceRequestID.NotFound",
                    "The spot instance request ID '{}' does not exist", "InvalidSpotInstanceRequestID.Malformed")
