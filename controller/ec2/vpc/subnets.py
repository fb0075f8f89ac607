"""CreateSubnet, DescribeSubnets, DeleteSubnet and ModifySubnetAttribute."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, select, update

from agent.contract import cidr
from controller.api import Params, RequestContext
from controller.config import Config
from controller.ec2 import lookups
from controller.ec2.describe import describe, listing
from controller.ec2.errors import (
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    SubnetLimitExceeded,
    UnsupportedOperation,
    has_dependencies,
    invalid_value,
)
from controller.ec2.ids import SUBNET, VPC
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.regions import zone_ids
from controller.ec2.tags import drop_tags, tag_new_resource, tags_of
from controller.ec2.vpc import cidrs, provision, state


def used_ipv4_counts(conn: Connection, subnet_ids: list[str]) -> dict[str, int]:
    """How many IPv4 addresses each subnet has handed out."""
    addresses = state.interface_addresses
    rows = conn.execute(select(addresses.c.subnet_id, func.count()).where(
        addresses.c.subnet_id.in_(subnet_ids), addresses.c.family == 4).group_by(addresses.c.subnet_id))
    return dict(rows.all())


def subnet_output(ctx: RequestContext, row: RowMapping, tags: list[dict[str, str]], used: int) -> Params:
    result: Params = {
        "SubnetId": row["subnet_id"], "SubnetArn": SUBNET.arn(ctx, row["subnet_id"], row["account_id"]),
        "VpcId": row["vpc_id"], "OwnerId": row["account_id"], "State": "available",
        "CidrBlock": row["cidr_block"], "AvailabilityZone": row["availability_zone"],
        "AvailabilityZoneId": zone_ids(ctx.cloud.config).get(row["availability_zone"], ""),
        "AvailableIpAddressCount": cidr.usable_addresses(row["cidr_block"]) - used,
        "DefaultForAz": row["default_for_az"], "MapPublicIpOnLaunch": row["map_public_ip_on_launch"],
        "MapCustomerOwnedIpOnLaunch": False, "AssignIpv6AddressOnCreation": row["assign_ipv6_address_on_creation"],
        "EnableDns64": False, "Ipv6Native": False, "Ipv6CidrBlockAssociationSet": [],
        "PrivateDnsNameOptionsOnLaunch": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False,
                                          "EnableResourceNameDnsAAAARecord": False},
        "Tags": tags,
    }
    if row["ipv6_cidr_block"]:
        result["Ipv6CidrBlockAssociationSet"] = [{
            "AssociationId": row["ipv6_association_id"], "Ipv6CidrBlock": row["ipv6_cidr_block"],
            "Ipv6CidrBlockState": {"State": "associated"}}]
    return result


def _ipv6(field: str) -> Any:
    return lambda s: [a[field] for a in s["Ipv6CidrBlockAssociationSet"]]


#: API_DescribeSubnets.html (``cidr``, ``cidrBlock``, ``availabilityZone``, ``defaultForAz`` from its earlier versions).
SUBNET_FILTERS = {
    "subnet-id": lambda s: s["SubnetId"], "vpc-id": lambda s: s["VpcId"], "state": lambda s: s["State"],
    "cidr-block": lambda s: s["CidrBlock"], "cidr": lambda s: s["CidrBlock"], "cidrBlock": lambda s: s["CidrBlock"],
    "availability-zone": lambda s: s["AvailabilityZone"], "availabilityZone": lambda s: s["AvailabilityZone"],
    "availability-zone-id": lambda s: s["AvailabilityZoneId"],
    "available-ip-address-count": lambda s: s["AvailableIpAddressCount"],
    "default-for-az": lambda s: s["DefaultForAz"], "defaultForAz": lambda s: s["DefaultForAz"],
    "map-public-ip-on-launch": lambda s: s["MapPublicIpOnLaunch"], "owner-id": lambda s: s["OwnerId"],
    "subnet-arn": lambda s: s["SubnetArn"],
    "assign-ipv6-address-on-creation": lambda s: s["AssignIpv6AddressOnCreation"],
    "customer-owned-ipv4-pool": "CustomerOwnedIpv4Pool", "enable-dns64": "EnableDns64",
    "enable-lni-at-device-index": "EnableLniAtDeviceIndex", "ipv6-native": "Ipv6Native",
    "map-customer-owned-ip-on-launch": "MapCustomerOwnedIpOnLaunch", "outpost-arn": "OutpostArn",
    "private-dns-name-options-on-launch.hostname-type": "PrivateDnsNameOptionsOnLaunch.HostnameType",
    "private-dns-name-options-on-launch.enable-resource-name-dns-a-record":
        "PrivateDnsNameOptionsOnLaunch.EnableResourceNameDnsARecord",
    "private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record":
        "PrivateDnsNameOptionsOnLaunch.EnableResourceNameDnsAAAARecord",
    "ipv6-cidr-block-association.ipv6-cidr-block": _ipv6("Ipv6CidrBlock"),
    "ipv6-cidr-block-association.association-id": _ipv6("AssociationId"),
    "ipv6-cidr-block-association.state": lambda s: [a["Ipv6CidrBlockState"]["State"]
                                                    for a in s["Ipv6CidrBlockAssociationSet"]],
}


def _requested_zone(config: Config, params: Params) -> str | None:
    """The zone asked for, by name or id (None when the request leaves the choice to EC2)."""
    zone, zone_id = params.get("AvailabilityZone"), params.get("AvailabilityZoneId")
    allowed = ", ".join(config.availability_zones)
    if zone:
        if zone not in config.availability_zones:
            raise invalid_value(zone, "availabilityZone",
                                f"Subnets can currently only be created in the following availability zones: "
                                f"{allowed}.")
        return zone
    if zone_id:
        by_id = {v: k for k, v in zone_ids(config).items()}
        if zone_id not in by_id:
            raise invalid_value(zone_id, "availabilityZoneId",
                                f"Subnets can currently only be created in the following availability zones: "
                                f"{allowed}.")
        return by_id[zone_id]
    return None


def _least_used_zone(config: Config, conn: Connection, vpc_id: str) -> str:
    """The configured zone with the fewest of this VPC's subnets."""
    subnets = state.subnets
    counts = dict(conn.execute(select(subnets.c.availability_zone, func.count())
                               .where(subnets.c.vpc_id == vpc_id)
                               .group_by(subnets.c.availability_zone)).all())
    return min(config.availability_zones, key=lambda z: counts.get(z, 0))


@vpc_operation("CreateSubnet", resources=arns((SUBNET, NEW), (VPC, "VpcId")))
def create_subnet(ctx: RequestContext, params: Params) -> Params:
    if params.get("Ipv6Native"):
        raise InvalidParameterValue("IPv6-only subnets are not available; give the subnet an IPv4 CIDR block.")
    if not params.get("CidrBlock"):
        raise MissingParameter("The request must contain the parameter cidrBlock")
    # What the request alone can get wrong is refused before anything is looked up.
    cidrs.ipv4_network(params["CidrBlock"])
    if params.get("Ipv6CidrBlock"):
        cidrs.ipv6_network(params["Ipv6CidrBlock"])
    requested_zone = _requested_zone(ctx.cloud.config, params)
    with state.write(ctx.cloud.db) as conn:
        vpc = lookups.vpc(conn, params.get("VpcId"), ctx.account_id)
        siblings = conn.execute(select(state.subnets).where(state.subnets.c.vpc_id == vpc["vpc_id"])
                                ).mappings().all()
        if len(siblings) >= ctx.cloud.config.subnets_per_vpc:
            raise SubnetLimitExceeded("The maximum number of subnets has been reached.")
        block = str(cidrs.check_subnet_cidr(params["CidrBlock"], vpc["cidr_block"], [s["cidr_block"] for s in siblings]))
        ipv6 = None
        if params.get("Ipv6CidrBlock"):
            ipv6 = str(cidrs.check_subnet_ipv6_cidr(params["Ipv6CidrBlock"], vpc["ipv6_cidr_block"],
                                                    [s["ipv6_cidr_block"] for s in siblings if s["ipv6_cidr_block"]]))
        zone = requested_zone or _least_used_zone(ctx.cloud.config, conn, vpc["vpc_id"])
        subnet_id = provision.create_subnet(conn, ctx.account_id, vpc, block, zone, ipv6_cidr=ipv6)
        new_tags = tag_new_resource(conn, ctx.account_id, SUBNET, subnet_id, params.get("TagSpecifications"))
        row = lookups.subnet(conn, subnet_id, ctx.account_id)
    ctx.audit_resources.append(SUBNET.arn(ctx, subnet_id))
    output = subnet_output(ctx, row, new_tags, 0)
    output["State"] = "pending"
    return {"Subnet": output}


@vpc_operation("DescribeSubnets")
def describe_subnets(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(state.subnets).where(state.subnets.c.account_id == ctx.account_id)
                            ).mappings().all()
        ids = [r["subnet_id"] for r in rows]
        tags = tags_of(conn, ctx.account_id, ids)
        used = used_ipv4_counts(conn, ids)
    items = [subnet_output(ctx, r, tags[r["subnet_id"]], used.get(r["subnet_id"], 0)) for r in rows]
    listed, token = describe(items, params, key="SubnetId", ids_param="SubnetIds", kind=SUBNET,
                             fields=SUBNET_FILTERS, page_limits=(5, 1000))
    return listing("Subnets", listed, token)


@vpc_operation("DeleteSubnet", resources=arns((SUBNET, "SubnetId")))
def delete_subnet(ctx: RequestContext, params: Params) -> Params:
    """Delete a subnet without network interfaces (instances, NAT gateways and others have some)."""
    with state.write(ctx.cloud.db) as conn:
        subnet = lookups.subnet(conn, params.get("SubnetId"), ctx.account_id)
        subnet_id = subnet["subnet_id"]
        enis = state.network_interfaces
        if conn.execute(select(func.count()).select_from(enis).where(enis.c.subnet_id == subnet_id)).scalar_one():
            raise has_dependencies("subnet", subnet_id)
        conn.execute(delete(state.route_table_associations)
                     .where(state.route_table_associations.c.subnet_id == subnet_id))
        conn.execute(delete(state.network_acl_associations)
                     .where(state.network_acl_associations.c.subnet_id == subnet_id))
        conn.execute(delete(state.subnets).where(state.subnets.c.subnet_id == subnet_id))
        drop_tags(conn, [subnet_id])
    return {}


_SUBNET_ATTRIBUTES = {"MapPublicIpOnLaunch": "map_public_ip_on_launch",
                      "AssignIpv6AddressOnCreation": "assign_ipv6_address_on_creation"}
#: Attributes every subnet here has at AWS's default value (what DescribeSubnets shows): setting one to
#: that value changes nothing and is accepted, as tools that write every attribute do; any other value is
#: refused as unsupported rather than accepted and not read back.
_FIXED_ATTRIBUTES: dict[str, object] = {
    "MapCustomerOwnedIpOnLaunch": False, "EnableDns64": False, "PrivateDnsHostnameTypeOnLaunch": "ip-name",
    "EnableResourceNameDnsARecordOnLaunch": False, "EnableResourceNameDnsAAAARecordOnLaunch": False}
_UNSUPPORTED_ATTRIBUTES = ("CustomerOwnedIpv4Pool", "EnableLniAtDeviceIndex", "DisableLniAtDeviceIndex")


def _fixed_value(value: object) -> object:
    return value.get("Value") if isinstance(value, dict) else value


@vpc_operation("ModifySubnetAttribute", resources=arns((SUBNET, "SubnetId")))
def modify_subnet_attribute(ctx: RequestContext, params: Params) -> Params:
    """One attribute per call, as API_ModifySubnetAttribute says ("You can only modify one attribute at a
    time"; CustomerOwnedIpv4Pool goes with MapCustomerOwnedIpOnLaunch as one)."""
    given = [name for name in (*_SUBNET_ATTRIBUTES, *_FIXED_ATTRIBUTES, *_UNSUPPORTED_ATTRIBUTES)
             if params.get(name) is not None and name != "CustomerOwnedIpv4Pool"]
    if len(given) > 1:
        names = ", ".join(name[:1].lower() + name[1:] for name in given)
        raise InvalidParameterCombination(f"Fields for multiple attribute types specified: {names}")
    unsupported = [name for name in _UNSUPPORTED_ATTRIBUTES if params.get(name) is not None]
    unsupported += [name for name, default in _FIXED_ATTRIBUTES.items()
                    if params.get(name) is not None and _fixed_value(params[name]) != default]
    if unsupported:
        raise UnsupportedOperation(f"The subnet attribute {unsupported[0]} is not supported by Cloudlet "
                                   "(only its default value is).")
    changes = {column: bool(params[name].get("Value")) for name, column in _SUBNET_ATTRIBUTES.items()
               if params.get(name) is not None}
    fixed = [name for name in _FIXED_ATTRIBUTES if params.get(name) is not None]
    if not changes and not fixed:
        raise MissingParameter("The request must contain the parameter mapPublicIpOnLaunch or "
                               "assignIpv6AddressOnCreation")
    with state.write(ctx.cloud.db) as conn:
        subnet = lookups.subnet(conn, params.get("SubnetId"), ctx.account_id)
        if changes.get("assign_ipv6_address_on_creation") and not subnet["ipv6_cidr_block"]:
            raise InvalidParameterValue(f"Subnet {subnet['subnet_id']} has no IPv6 CIDR block; it cannot assign "
                                        "IPv6 addresses on creation.")
        if changes:
            conn.execute(update(state.subnets).where(state.subnets.c.subnet_id == subnet["subnet_id"])
                         .values(changes))
    return {}
