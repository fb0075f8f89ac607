"""Internet gateways (one per VPC, attach/detach) and egress-only internet gateways (IPv6 out only)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, select, update

from controller.api import Params, RequestContext
from controller.ec2 import lookups
from controller.ec2.describe import describe, listing
from controller.ec2.errors import (
    DependencyViolation,
    GatewayNotAttached,
    InternetGatewayLimitExceeded,
    InvalidParameterValue,
    ResourceAlreadyAssociated,
    has_dependencies,
)
from controller.ec2.ids import EGRESS_ONLY_GATEWAY, INTERNET_GATEWAY, VPC
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import drop_tags, tag_new_resource, tags_of
from controller.ec2.vpc import provision, state, timed_states
from controller.state import utcnow

_ATTACHMENT_FILTERS = {"attachment.state": "Attachments[].State", "attachment.vpc-id": "Attachments[].VpcId"}
#: API_DescribeInternetGateways.html
INTERNET_GATEWAY_FILTERS = {"internet-gateway-id": "InternetGatewayId", "owner-id": "OwnerId", **_ATTACHMENT_FILTERS}
#: API_DescribeEgressOnlyInternetGateways.html documents only the tag filters; the id and attachment ones
#: are taken as well, as for internet gateways.
EGRESS_ONLY_GATEWAY_FILTERS = {"egress-only-internet-gateway-id": "EgressOnlyInternetGatewayId", **_ATTACHMENT_FILTERS}


def internet_gateway_output(row: dict, tags: list[dict[str, str]]) -> Params:
    """AWS reports an attached internet gateway's attachment state as ``available``."""
    attachments = [{"State": "available", "VpcId": row["vpc_id"]}] if row["vpc_id"] else []
    return {"InternetGatewayId": row["internet_gateway_id"], "OwnerId": row["account_id"],
            "Attachments": attachments, "Tags": tags}


@vpc_operation("CreateInternetGateway", resources=arns((INTERNET_GATEWAY, NEW)))
def create_internet_gateway(ctx: RequestContext, params: Params) -> Params:
    igws = state.internet_gateways
    with state.write(ctx.cloud.db) as conn:
        count = conn.execute(select(func.count()).select_from(igws).where(igws.c.account_id == ctx.account_id)
                             ).scalar_one()
        if count >= ctx.cloud.config.internet_gateways_per_account:
            raise InternetGatewayLimitExceeded("The maximum number of internet gateways has been reached.")
        igw_id = provision.create_internet_gateway(conn, ctx.account_id)
        new_tags = tag_new_resource(conn, ctx.account_id, INTERNET_GATEWAY, igw_id, params.get("TagSpecifications"))
    ctx.audit_resources.append(INTERNET_GATEWAY.arn(ctx, igw_id))
    return {"InternetGateway": internet_gateway_output(
        {"internet_gateway_id": igw_id, "account_id": ctx.account_id, "vpc_id": None}, new_tags)}


@vpc_operation("AttachInternetGateway", resources=arns((INTERNET_GATEWAY, "InternetGatewayId"), (VPC, "VpcId")))
def attach_internet_gateway(ctx: RequestContext, params: Params) -> Params:
    igws = state.internet_gateways
    with state.write(ctx.cloud.db) as conn:
        igw = lookups.fetch(conn, INTERNET_GATEWAY, params.get("InternetGatewayId"), ctx.account_id)
        vpc = lookups.vpc(conn, params.get("VpcId"), ctx.account_id)
        if igw["vpc_id"]:
            raise ResourceAlreadyAssociated(f"resource {igw['internet_gateway_id']} is already attached to network "
                                            f"{igw['vpc_id']}")
        if conn.execute(select(igws.c.internet_gateway_id).where(igws.c.vpc_id == vpc["vpc_id"])).first():
            # AWS's code for a second gateway on a VPC (the gateway itself being free) is this one.
            raise InvalidParameterValue(f"Network {vpc['vpc_id']} already has an internet gateway attached")
        conn.execute(update(igws).where(igws.c.internet_gateway_id == igw["internet_gateway_id"])
                     .values(vpc_id=vpc["vpc_id"]))
    return {}


@vpc_operation("DetachInternetGateway", resources=arns((INTERNET_GATEWAY, "InternetGatewayId"), (VPC, "VpcId")))
def detach_internet_gateway(ctx: RequestContext, params: Params) -> Params:
    """Detach a gateway, unless public addresses are still mapped through it."""
    igws = state.internet_gateways
    with state.write(ctx.cloud.db) as conn:
        igw = lookups.fetch(conn, INTERNET_GATEWAY, params.get("InternetGatewayId"), ctx.account_id)
        vpc = lookups.vpc(conn, params.get("VpcId"), ctx.account_id)
        if igw["vpc_id"] != vpc["vpc_id"]:
            raise GatewayNotAttached(f"resource {igw['internet_gateway_id']} is not attached to network "
                                     f"{vpc['vpc_id']}")
        if has_public_mappings(conn, vpc["vpc_id"]):
            raise DependencyViolation(f"Network {vpc['vpc_id']} has some mapped public address(es). Please unmap "
                                      "those public address(es) before detaching the gateway.")
        conn.execute(update(igws).where(igws.c.internet_gateway_id == igw["internet_gateway_id"]).values(vpc_id=None))
    return {}


def has_public_mappings(conn: Connection, vpc_id: str) -> bool:
    """Whether any public IPv4 address (Elastic, auto-assigned or a NAT gateway's) maps into the VPC."""
    eni, eip = state.network_interfaces, state.addresses
    mapped = conn.execute(select(func.count()).select_from(eip.join(
        eni, eni.c.network_interface_id == eip.c.network_interface_id)).where(eni.c.vpc_id == vpc_id)).scalar_one()
    auto = conn.execute(select(func.count()).select_from(eni).where(eni.c.vpc_id == vpc_id,
                                                                    eni.c.public_ip.is_not(None))).scalar_one()
    nat = state.nat_gateways
    now = utcnow()
    nats = conn.execute(select(nat).where(nat.c.vpc_id == vpc_id, nat.c.public_ip.is_not(None))).mappings()
    return bool(mapped or auto or any(timed_states.nat_state(n, now) in timed_states.NAT_FORWARDS for n in nats))


@vpc_operation("DeleteInternetGateway", resources=arns((INTERNET_GATEWAY, "InternetGatewayId")))
def delete_internet_gateway(ctx: RequestContext, params: Params) -> Params:
    igws = state.internet_gateways
    with state.write(ctx.cloud.db) as conn:
        igw = lookups.fetch(conn, INTERNET_GATEWAY, params.get("InternetGatewayId"), ctx.account_id)
        if igw["vpc_id"]:
            raise has_dependencies("internetGateway", igw["internet_gateway_id"])
        conn.execute(delete(igws).where(igws.c.internet_gateway_id == igw["internet_gateway_id"]))
        drop_tags(conn, [igw["internet_gateway_id"]])
    return {}


@vpc_operation("DescribeInternetGateways")
def describe_internet_gateways(ctx: RequestContext, params: Params) -> Params:
    igws = state.internet_gateways
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(igws).where(igws.c.account_id == ctx.account_id)).mappings().all()
        tags = tags_of(conn, ctx.account_id, [r["internet_gateway_id"] for r in rows])
    items = [internet_gateway_output(dict(r), tags[r["internet_gateway_id"]]) for r in rows]
    listed, token = describe(items, params, key="InternetGatewayId", ids_param="InternetGatewayIds",
                             kind=INTERNET_GATEWAY, page_limits=(5, 1000), fields=INTERNET_GATEWAY_FILTERS)
    return listing("InternetGateways", listed, token)


# --- egress-only internet gateways -------------------------------------------------------------------------


def egress_only_output(row: dict, tags: list[dict[str, str]]) -> Params:
    return {"EgressOnlyInternetGatewayId": row["egress_only_internet_gateway_id"],
            "Attachments": [{"State": "attached", "VpcId": row["vpc_id"]}], "Tags": tags}


@vpc_operation("CreateEgressOnlyInternetGateway", resources=arns((EGRESS_ONLY_GATEWAY, NEW), (VPC, "VpcId")))
def create_egress_only_internet_gateway(ctx: RequestContext, params: Params) -> Params:
    """One egress-only gateway per VPC (the dataplane gives each VPC one IPv6 way out)."""
    eigws = state.egress_only_gateways
    with state.write(ctx.cloud.db) as conn:
        vpc = lookups.vpc(conn, params.get("VpcId"), ctx.account_id)
        if conn.execute(select(eigws.c.egress_only_internet_gateway_id).where(eigws.c.vpc_id == vpc["vpc_id"])
                        ).first():
            raise ResourceAlreadyAssociated(f"Network {vpc['vpc_id']} already has an egress-only internet gateway "
                                            "attached")
        eigw_id = EGRESS_ONLY_GATEWAY.new_id()
        conn.execute(eigws.insert().values(egress_only_internet_gateway_id=eigw_id, account_id=ctx.account_id,
                                           vpc_id=vpc["vpc_id"], created_at=utcnow()))
        new_tags = tag_new_resource(conn, ctx.account_id, EGRESS_ONLY_GATEWAY, eigw_id,
                                    params.get("TagSpecifications"))
    ctx.audit_resources.append(EGRESS_ONLY_GATEWAY.arn(ctx, eigw_id))
    result: Params = {"EgressOnlyInternetGateway": egress_only_output(
        {"egress_only_internet_gateway_id": eigw_id, "vpc_id": vpc["vpc_id"]}, new_tags)}
    return result


@vpc_operation("DeleteEgressOnlyInternetGateway",
               resources=arns((EGRESS_ONLY_GATEWAY, "EgressOnlyInternetGatewayId")))
def delete_egress_only_internet_gateway(ctx: RequestContext, params: Params) -> Params:
    eigws = state.egress_only_gateways
    with state.write(ctx.cloud.db) as conn:
        eigw = lookups.fetch(conn, EGRESS_ONLY_GATEWAY, params.get("EgressOnlyInternetGatewayId"), ctx.account_id)
        eigw_id = eigw["egress_only_internet_gateway_id"]
        conn.execute(delete(eigws).where(eigws.c.egress_only_internet_gateway_id == eigw_id))
        drop_tags(conn, [eigw_id])
    return {"ReturnCode": True}


@vpc_operation("DescribeEgressOnlyInternetGateways")
def describe_egress_only_internet_gateways(ctx: RequestContext, params: Params) -> Params:
    eigws = state.egress_only_gateways
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(eigws).where(eigws.c.account_id == ctx.account_id)).mappings().all()
        tags = tags_of(conn, ctx.account_id, [r["egress_only_internet_gateway_id"] for r in rows])
    items = [egress_only_output(dict(r), tags[r["egress_only_internet_gateway_id"]]) for r in rows]
    listed, token = describe(items, params, key="EgressOnlyInternetGatewayId",
                             ids_param="EgressOnlyInternetGatewayIds", kind=EGRESS_ONLY_GATEWAY, page_limits=(5, 255),
                             fields=EGRESS_ONLY_GATEWAY_FILTERS)
    return listing("EgressOnlyInternetGateways", listed, token)
