"""IPv6 after creation: a VPC's Amazon-provided /56, a subnet's /64, an interface's addresses.

Cloudlet's VPCs have one IPv4 block (secondary IPv4 blocks are refused) and at most one
IPv6 /56 from the configured pool. Associating the /56 adds the ``local`` IPv6 route to
every route table of the VPC and the IPv6 allow rules (101) to its default ACL, as AWS
does; a block still used by subnets or addresses cannot be taken away.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import delete, func, select, update

from controller.api import Params, RequestContext
from controller.ec2 import lookups
from controller.ec2.errors import (
    CidrLimitExceeded,
    DependencyViolation,
    InsufficientAddressCapacity,
    InvalidParameterValue,
    MissingParameter,
    OperationNotPermitted,
    UnsupportedOperation,
)
from controller.ec2.ids import NETWORK_INTERFACE, SUBNET, SUBNET_CIDR_ASSOCIATION, VPC, VPC_CIDR_ASSOCIATION
from controller.ec2.operation import arns, vpc_operation
from controller.ec2.vpc import cidrs, eni_records, provision, state


def _vpc_association(vpc: dict, association_state: str, region: str) -> Params:
    return {"AssociationId": vpc["ipv6_association_id"], "Ipv6CidrBlock": vpc["ipv6_cidr_block"],
            "Ipv6CidrBlockState": {"State": association_state}, "NetworkBorderGroup": region, "Ipv6Pool": "Amazon",
            "Ipv6AddressAttribute": "public", "IpSource": "amazon"}


@vpc_operation("AssociateVpcCidrBlock", resources=arns((VPC, "VpcId")))
def associate_vpc_cidr_block(ctx: RequestContext, params: Params) -> Params:
    if params.get("CidrBlock") or params.get("Ipv4IpamPoolId"):
        raise UnsupportedOperation("Secondary IPv4 CIDR blocks are not supported by Cloudlet.")
    if params.get("Ipv6CidrBlock") or params.get("Ipv6Pool") or params.get("Ipv6IpamPoolId"):
        raise InvalidParameterValue("Only Amazon-provided IPv6 blocks (AmazonProvidedIpv6CidrBlock) are available.")
    if not params.get("AmazonProvidedIpv6CidrBlock"):
        raise MissingParameter("The request must contain the parameter amazonProvidedIpv6CidrBlock")
    with state.write(ctx.cloud.db) as conn:
        vpc = lookups.vpc(conn, params.get("VpcId"), ctx.account_id)
        vpc_id = vpc["vpc_id"]
        if vpc["ipv6_cidr_block"]:
            raise CidrLimitExceeded(f"This network '{vpc_id}' has met its maximum number of allowed CIDRs: 1")
        block = provision.allocate_ipv6_block(conn, ctx.cloud.config.vpc_ipv6_pool)
        if block is None:
            raise InsufficientAddressCapacity("There are no IPv6 CIDR blocks left in the Amazon pool.")
        association_id = VPC_CIDR_ASSOCIATION.new_id()
        conn.execute(update(state.vpcs).where(state.vpcs.c.vpc_id == vpc_id).values(
            ipv6_cidr_block=block, ipv6_association_id=association_id))
        for (table_id,) in conn.execute(select(state.route_tables.c.route_table_id)
                                        .where(state.route_tables.c.vpc_id == vpc_id)).all():
            provision.add_route(conn, table_id, block, "local", "local", origin="CreateRouteTable")
        acls = state.network_acls
        default_acl = conn.execute(select(acls.c.network_acl_id).where(acls.c.vpc_id == vpc_id, acls.c.is_default)
                                   ).scalar_one()
        entries = state.network_acl_entries
        for egress in (False, True):
            if not conn.execute(select(entries.c.rule_number).where(
                    entries.c.network_acl_id == default_acl, entries.c.egress == egress,
                    entries.c.rule_number == 101)).first():
                provision.add_acl_entry(conn, default_acl, egress=egress, rule_number=101, protocol="-1",
                                        action="allow", ipv6_cidr_block=provision.ALL_IPV6)
        updated = lookups.vpc(conn, vpc_id, ctx.account_id)
    return {"Ipv6CidrBlockAssociation": _vpc_association(dict(updated), "associating", ctx.region), "VpcId": vpc_id}


@vpc_operation("DisassociateVpcCidrBlock")
def disassociate_vpc_cidr_block(ctx: RequestContext, params: Params) -> Params:
    association_id = params.get("AssociationId") or ""
    vpcs, subnets = state.vpcs, state.subnets
    with state.write(ctx.cloud.db) as conn:
        vpc = conn.execute(select(vpcs).where(vpcs.c.account_id == ctx.account_id, (
            vpcs.c.ipv6_association_id == association_id) | (vpcs.c.cidr_association_id == association_id))
        ).mappings().first()
        if vpc is None:
            raise VPC_CIDR_ASSOCIATION.missing([association_id])
        if vpc["cidr_association_id"] == association_id:
            raise OperationNotPermitted(f"The vpc CIDR block with association ID {association_id} may not be "
                                        "disassociated. It is the primary IPv4 CIDR block of the VPC")
        if conn.execute(select(func.count()).select_from(subnets).where(
                subnets.c.vpc_id == vpc["vpc_id"], subnets.c.ipv6_cidr_block.is_not(None))).scalar_one():
            raise DependencyViolation(f"The IPv6 CIDR block {vpc['ipv6_cidr_block']} of {vpc['vpc_id']} is used by "
                                      "subnets.")
        routes, tables = state.routes, state.route_tables
        conn.execute(delete(routes).where(routes.c.destination == vpc["ipv6_cidr_block"], routes.c.route_table_id.in_(
            select(tables.c.route_table_id).where(tables.c.vpc_id == vpc["vpc_id"]))))
        conn.execute(update(vpcs).where(vpcs.c.vpc_id == vpc["vpc_id"]).values(ipv6_cidr_block=None,
                                                                               ipv6_association_id=None))
    return {"Ipv6CidrBlockAssociation": _vpc_association(dict(vpc), "disassociating", ctx.region),
            "VpcId": vpc["vpc_id"]}


@vpc_operation("AssociateSubnetCidrBlock", resources=arns((SUBNET, "SubnetId")))
def associate_subnet_cidr_block(ctx: RequestContext, params: Params) -> Params:
    if not params.get("Ipv6CidrBlock"):
        raise MissingParameter("The request must contain the parameter ipv6CidrBlock")
    cidrs.ipv6_network(params["Ipv6CidrBlock"])  # a block that is not one is refused before any lookup
    subnets = state.subnets
    with state.write(ctx.cloud.db) as conn:
        subnet = lookups.subnet(conn, params.get("SubnetId"), ctx.account_id)
        if subnet["ipv6_cidr_block"]:
            raise CidrLimitExceeded(f"This subnet '{subnet['subnet_id']}' has met its maximum number of allowed "
                                    "IPv6 CIDRs: 1")
        vpc = lookups.vpc(conn, subnet["vpc_id"], ctx.account_id)
        siblings = [r[0] for r in conn.execute(select(subnets.c.ipv6_cidr_block).where(
            subnets.c.vpc_id == vpc["vpc_id"], subnets.c.ipv6_cidr_block.is_not(None)))]
        block = str(cidrs.check_subnet_ipv6_cidr(params["Ipv6CidrBlock"], vpc["ipv6_cidr_block"], siblings))
        association_id = SUBNET_CIDR_ASSOCIATION.new_id()
        conn.execute(update(subnets).where(subnets.c.subnet_id == subnet["subnet_id"]).values(
            ipv6_cidr_block=block, ipv6_association_id=association_id))
    return {"Ipv6CidrBlockAssociation": {"AssociationId": association_id, "Ipv6CidrBlock": block,
                                         "Ipv6CidrBlockState": {"State": "associating"}},
            "SubnetId": subnet["subnet_id"]}


@vpc_operation("DisassociateSubnetCidrBlock")
def disassociate_subnet_cidr_block(ctx: RequestContext, params: Params) -> Params:
    association_id = params.get("AssociationId") or ""
    subnets, addresses = state.subnets, state.interface_addresses
    with state.write(ctx.cloud.db) as conn:
        subnet = conn.execute(select(subnets).where(subnets.c.ipv6_association_id == association_id,
                                                    subnets.c.account_id == ctx.account_id)).mappings().first()
        if subnet is None:
            raise SUBNET_CIDR_ASSOCIATION.missing([association_id])
        if conn.execute(select(func.count()).select_from(addresses).where(
                addresses.c.subnet_id == subnet["subnet_id"], addresses.c.family == 6)).scalar_one():
            raise DependencyViolation(f"The IPv6 CIDR block {subnet['ipv6_cidr_block']} of {subnet['subnet_id']} "
                                      "has addresses assigned.")
        conn.execute(update(subnets).where(subnets.c.subnet_id == subnet["subnet_id"]).values(
            ipv6_cidr_block=None, ipv6_association_id=None, assign_ipv6_address_on_creation=False))
    return {"Ipv6CidrBlockAssociation": {"AssociationId": association_id, "Ipv6CidrBlock": subnet["ipv6_cidr_block"],
                                         "Ipv6CidrBlockState": {"State": "disassociating"}},
            "SubnetId": subnet["subnet_id"]}


@vpc_operation("AssignIpv6Addresses", resources=arns((NETWORK_INTERFACE, "NetworkInterfaceId")))
def assign_ipv6_addresses(ctx: RequestContext, params: Params) -> Params:
    if params.get("Ipv6Prefixes") or params.get("Ipv6PrefixCount"):
        raise UnsupportedOperation("Prefix delegation is not supported by Cloudlet.")
    wanted, count = params.get("Ipv6Addresses") or [], params.get("Ipv6AddressCount") or 0
    if not wanted and count < 1:
        raise MissingParameter("The request must contain the parameter ipv6Addresses or ipv6AddressCount")
    with state.write(ctx.cloud.db) as conn:
        interface = lookups.fetch(conn, NETWORK_INTERFACE, params.get("NetworkInterfaceId"), ctx.account_id)
        subnet = lookups.subnet(conn, interface["subnet_id"], ctx.account_id)
        assigned = eni_records.assign_ipv6(conn, subnet, interface["network_interface_id"], wanted, count)
    return {"NetworkInterfaceId": interface["network_interface_id"], "AssignedIpv6Addresses": assigned,
            "AssignedIpv6Prefixes": []}


@vpc_operation("UnassignIpv6Addresses", resources=arns((NETWORK_INTERFACE, "NetworkInterfaceId")))
def unassign_ipv6_addresses(ctx: RequestContext, params: Params) -> Params:
    wanted = params.get("Ipv6Addresses") or []
    if not wanted:
        raise MissingParameter("The request must contain the parameter ipv6Addresses")
    table = state.interface_addresses
    with state.write(ctx.cloud.db) as conn:
        interface = lookups.fetch(conn, NETWORK_INTERFACE, params.get("NetworkInterfaceId"), ctx.account_id)
        interface_id = interface["network_interface_id"]
        held = {r[0] for r in conn.execute(select(table.c.address).where(
            table.c.network_interface_id == interface_id, table.c.family == 6))}
        normalized = [_canonical(a) for a in wanted]
        if any(a not in held for a in normalized):
            raise InvalidParameterValue(f"Some of the specified addresses are not assigned to interface "
                                        f"{interface_id}")
        conn.execute(delete(table).where(table.c.network_interface_id == interface_id,
                                         table.c.address.in_(normalized)))
    return {"NetworkInterfaceId": interface_id, "UnassignedIpv6Addresses": normalized, "UnassignedIpv6Prefixes": []}


def _canonical(address: str) -> str:
    """An IPv6 address in its canonical spelling (the text as given when it is not one)."""
    try:
        return str(ipaddress.IPv6Address(address))
    except ValueError:
        return address
