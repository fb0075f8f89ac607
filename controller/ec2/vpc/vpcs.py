"""CreateVpc, DescribeVpcs, DeleteVpc, Modify/DescribeVpcAttribute and CreateDefaultVpc."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, delete, false, func, or_, select, update

from controller.api import Params, RequestContext
from controller.ec2 import lookups
from controller.ec2.describe import describe, listing
from controller.ec2.errors import (
    DefaultVpcAlreadyExists,
    InsufficientAddressCapacity,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    VpcLimitExceeded,
    has_dependencies,
    invalid_value,
)
from controller.ec2.ids import VPC
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import drop_tags, tag_new_resource, tags_of
from controller.ec2.vpc import cidrs, dhcp_options, provision, state
from controller.ec2.vpc import default_vpc as defaults
from controller.state import utcnow

TENANCIES = ("default", "dedicated")
_ATTRIBUTES = {"EnableDnsSupport": "enable_dns_support", "EnableDnsHostnames": "enable_dns_hostnames",
               "EnableNetworkAddressUsageMetrics": "enable_network_address_usage_metrics"}


def vpc_output(row: RowMapping, tags: list[dict[str, str]], region: str, vpc_state: str = "available") -> Params:
    result: Params = {
        "VpcId": row["vpc_id"], "OwnerId": row["account_id"], "State": vpc_state, "CidrBlock": row["cidr_block"],
        "DhcpOptionsId": "default", "InstanceTenancy": row["instance_tenancy"], "IsDefault": row["is_default"],
        "CidrBlockAssociationSet": [{"AssociationId": row["cidr_association_id"], "CidrBlock": row["cidr_block"],
                                     "CidrBlockState": {"State": "associated"}}],
        "Tags": tags,
    }
    if row["ipv6_cidr_block"]:
        result["Ipv6CidrBlockAssociationSet"] = [{
            "AssociationId": row["ipv6_association_id"], "Ipv6CidrBlock": row["ipv6_cidr_block"],
            "Ipv6CidrBlockState": {"State": "associated"}, "NetworkBorderGroup": region, "Ipv6Pool": "Amazon",
            "Ipv6AddressAttribute": "public", "IpSource": "amazon"}]
    return result


def _vpc_filters() -> dict[str, Any]:
    def ipv6(field: str) -> Any:
        return lambda v: [a[field] for a in v.get("Ipv6CidrBlockAssociationSet", [])]

    # API_DescribeVpcs.html; ``cidr-block``, ``cidrBlock`` and ``isDefault`` are the names earlier versions of
    # the reference gave, which EC2 still takes and tools still send (Ansible's ec2_vpc_net sends ``cidr-block``).
    return {
        "vpc-id": lambda v: v["VpcId"], "cidr": lambda v: v["CidrBlock"], "state": lambda v: v["State"],
        "cidr-block": lambda v: v["CidrBlock"], "cidrBlock": lambda v: v["CidrBlock"],
        "isDefault": lambda v: v["IsDefault"],
        "owner-id": lambda v: v["OwnerId"], "is-default": lambda v: v["IsDefault"],
        "dhcp-options-id": lambda v: v["DhcpOptionsId"], "instance-tenancy": lambda v: v["InstanceTenancy"],
        "cidr-block-association.cidr-block": lambda v: [a["CidrBlock"] for a in v["CidrBlockAssociationSet"]],
        "cidr-block-association.association-id":
            lambda v: [a["AssociationId"] for a in v["CidrBlockAssociationSet"]],
        "cidr-block-association.state": lambda v: [a["CidrBlockState"]["State"] for a in v["CidrBlockAssociationSet"]],
        "ipv6-cidr-block-association.ipv6-cidr-block": ipv6("Ipv6CidrBlock"),
        "ipv6-cidr-block-association.association-id": ipv6("AssociationId"),
        "ipv6-cidr-block-association.ipv6-pool": ipv6("Ipv6Pool"),
        "ipv6-cidr-block-association.state": lambda v: [a["Ipv6CidrBlockState"]["State"]
                                                        for a in v.get("Ipv6CidrBlockAssociationSet", [])],
    }


VPC_FILTERS = _vpc_filters()


@vpc_operation("CreateVpc", resources=arns((VPC, NEW)))
def create_vpc(ctx: RequestContext, params: Params) -> Params:
    if not params.get("CidrBlock"):
        raise MissingParameter("Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
    cidr = str(cidrs.check_vpc_cidr(params["CidrBlock"]))
    tenancy = params.get("InstanceTenancy") or "default"
    if tenancy not in TENANCIES:
        raise invalid_value(tenancy, "instanceTenancy", "The tenancy value is not supported.")
    if params.get("Ipv6CidrBlock") or params.get("Ipv6Pool") or params.get("Ipv4IpamPoolId"):
        raise InvalidParameterValue("Only Amazon-provided IPv6 blocks (AmazonProvidedIpv6CidrBlock) are available.")
    config = ctx.cloud.config
    with state.write(ctx.cloud.db) as conn:
        count = conn.execute(select(func.count()).select_from(state.vpcs)
                             .where(state.vpcs.c.account_id == ctx.account_id)).scalar_one()
        if count >= config.vpcs_per_account:
            raise VpcLimitExceeded("The maximum number of VPCs has been reached.")
        ipv6 = None
        if params.get("AmazonProvidedIpv6CidrBlock"):
            ipv6 = provision.allocate_ipv6_block(conn, config.vpc_ipv6_pool)
            if ipv6 is None:
                raise InsufficientAddressCapacity("There are no IPv6 CIDR blocks left in the Amazon pool.")
        vpc = provision.create_vpc(conn, ctx.account_id, cidr, ipv6_cidr=ipv6, tenancy=tenancy)
        new_tags = tag_new_resource(conn, ctx.account_id, VPC, vpc["vpc_id"], params.get("TagSpecifications"))
    ctx.audit_resources.append(VPC.arn(ctx, vpc["vpc_id"]))
    return {"Vpc": vpc_output(vpc, new_tags, ctx.region, "pending")}


@vpc_operation("CreateDefaultVpc", resources=arns((VPC, NEW)))
def create_default_vpc(ctx: RequestContext, params: Params) -> Params:
    """A new default VPC, for an account whose default VPC was deleted."""
    with state.write(ctx.cloud.db) as conn:
        if lookups.default_vpc(conn, ctx.account_id) is not None:
            raise DefaultVpcAlreadyExists("A Default VPC already exists for this account in this region.")
        vpc = defaults.create_default_vpc(conn, ctx.cloud.config, ctx.account_id)
        conn.execute(update(state.account_defaults).where(state.account_defaults.c.account_id == ctx.account_id)
                     .values(default_vpc_id=vpc["vpc_id"]))
    ctx.audit_resources.append(VPC.arn(ctx, vpc["vpc_id"]))
    return {"Vpc": vpc_output(vpc, [], ctx.region, "pending")}


@vpc_operation("DescribeVpcs")
def describe_vpcs(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(state.vpcs).where(state.vpcs.c.account_id == ctx.account_id)).mappings().all()
        tags = tags_of(conn, ctx.account_id, [r["vpc_id"] for r in rows])
        sets = dhcp_options.associations(conn, [r["vpc_id"] for r in rows])
    items = [{**vpc_output(r, tags[r["vpc_id"]], ctx.region), "DhcpOptionsId": sets.get(r["vpc_id"], "default")}
             for r in rows]
    listed, token = describe(items, params, key="VpcId", ids_param="VpcIds", kind=VPC, fields=VPC_FILTERS,
                             page_limits=(5, 1000))
    return listing("Vpcs", listed, token)


@vpc_operation("DeleteVpc", resources=arns((VPC, "VpcId")))
def delete_vpc(ctx: RequestContext, params: Params) -> Params:
    """Delete a VPC that has nothing left in it but what AWS made with it."""
    with state.write(ctx.cloud.db) as conn:
        vpc = lookups.vpc(conn, params.get("VpcId"), ctx.account_id)
        vpc_id = vpc["vpc_id"]
        if _has_dependencies(conn, vpc_id):
            raise has_dependencies("vpc", vpc_id)
        _delete_vpc_rows(conn, vpc_id)
        if vpc["is_default"]:
            conn.execute(update(state.account_defaults).where(state.account_defaults.c.account_id == ctx.account_id)
                         .values(default_vpc_id=None))
    return {}


def _has_dependencies(conn: Connection, vpc_id: str) -> bool:
    """Subnets, gateways, extra groups, tables or ACLs, interfaces, or references to its default group."""

    def exists(table: Any, *conditions: Any) -> bool:
        return conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one() > 0

    groups = state.security_groups
    default_groups = select(groups.c.group_id).where(groups.c.vpc_id == vpc_id)
    rules = state.security_group_rules
    return (exists(state.subnets, state.subnets.c.vpc_id == vpc_id)
            or exists(state.network_interfaces, state.network_interfaces.c.vpc_id == vpc_id)
            or exists(state.internet_gateways, state.internet_gateways.c.vpc_id == vpc_id)
            or exists(state.egress_only_gateways, state.egress_only_gateways.c.vpc_id == vpc_id)
            or exists(state.vpc_endpoints, state.vpc_endpoints.c.vpc_id == vpc_id,
                      state.vpc_endpoints.c.state != "deleting")
            or exists(groups, groups.c.vpc_id == vpc_id, groups.c.is_default == false())
            or exists(state.network_acls, state.network_acls.c.vpc_id == vpc_id,
                      state.network_acls.c.is_default == false())
            or exists(state.route_tables, state.route_tables.c.vpc_id == vpc_id,
                      state.route_tables.c.route_table_id != provision.main_route_table(conn, vpc_id))
            or exists(rules, rules.c.referenced_group_id.in_(default_groups), rules.c.group_id.not_in(default_groups)))


def _delete_vpc_rows(conn: Connection, vpc_id: str) -> None:
    """The VPC, its main route table, default ACL and default group; its peerings end as ``deleted``."""
    main_table = provision.main_route_table(conn, vpc_id)
    acl_ids = [r[0] for r in conn.execute(select(state.network_acls.c.network_acl_id)
                                          .where(state.network_acls.c.vpc_id == vpc_id))]
    group_ids = [r[0] for r in conn.execute(select(state.security_groups.c.group_id)
                                            .where(state.security_groups.c.vpc_id == vpc_id))]
    conn.execute(delete(state.routes).where(state.routes.c.route_table_id == main_table))
    conn.execute(delete(state.route_table_associations).where(state.route_table_associations.c.vpc_id == vpc_id))
    conn.execute(delete(state.route_tables).where(state.route_tables.c.route_table_id == main_table))
    conn.execute(delete(state.network_acl_entries).where(state.network_acl_entries.c.network_acl_id.in_(acl_ids)))
    conn.execute(delete(state.network_acls).where(state.network_acls.c.network_acl_id.in_(acl_ids)))
    rule_ids = [r[0] for r in conn.execute(select(state.security_group_rules.c.rule_id)
                                           .where(state.security_group_rules.c.group_id.in_(group_ids)))]
    conn.execute(delete(state.security_group_rules).where(state.security_group_rules.c.group_id.in_(group_ids)))
    conn.execute(delete(state.security_groups).where(state.security_groups.c.group_id.in_(group_ids)))
    pcx = state.peering_connections
    now = utcnow()
    conn.execute(update(pcx).where(or_(pcx.c.requester_vpc_id == vpc_id, pcx.c.accepter_vpc_id == vpc_id),
                                   pcx.c.status.in_(("active", "pending-acceptance", "initiating-request")))
                 .values(status="deleted", status_message=f"Deleted with {vpc_id}", updated_at=now))
    conn.execute(delete(state.vpcs).where(state.vpcs.c.vpc_id == vpc_id))
    drop_tags(conn, [vpc_id, main_table, *acl_ids, *group_ids, *rule_ids])


@vpc_operation("ModifyVpcAttribute", resources=arns((VPC, "VpcId")))
def modify_vpc_attribute(ctx: RequestContext, params: Params) -> Params:
    given = [name for name in _ATTRIBUTES if params.get(name) is not None]
    if not given:
        raise InvalidParameterCombination("No attributes specified.")
    if len(given) > 1:
        names = ", ".join(name[:1].lower() + name[1:] for name in given)
        raise InvalidParameterCombination(f"Fields for multiple attribute types specified: {names}")
    name = given[0]
    value = params[name].get("Value")
    if value is None:
        raise invalid_value(None, f"{name[:1].lower() + name[1:]}.value")
    with state.write(ctx.cloud.db) as conn:
        vpc = lookups.vpc(conn, params.get("VpcId"), ctx.account_id)
        if name == "EnableDnsHostnames" and value and not vpc["enable_dns_support"]:
            # API_ModifyVpcAttribute: "You can only enable DNS hostnames if you've enabled DNS support."
            raise invalid_value(value, "enableDnsHostnames.value",
                                f"DNS hostnames cannot be enabled while DNS support is disabled for {vpc['vpc_id']}.")
        conn.execute(update(state.vpcs).where(state.vpcs.c.vpc_id == vpc["vpc_id"])
                     .values({_ATTRIBUTES[name]: bool(value)}))
    return {}


@vpc_operation("DescribeVpcAttribute", resources=arns((VPC, "VpcId")))
def describe_vpc_attribute(ctx: RequestContext, params: Params) -> Params:
    attribute = params.get("Attribute") or ""
    member = attribute[:1].upper() + attribute[1:]
    if member not in _ATTRIBUTES:
        raise invalid_value(attribute, "attribute", "Unknown attribute.")
    with ctx.cloud.db.read() as conn:
        vpc = lookups.vpc(conn, params.get("VpcId"), ctx.account_id)
    return {"VpcId": vpc["vpc_id"], member: {"Value": vpc[_ATTRIBUTES[member]]}}

