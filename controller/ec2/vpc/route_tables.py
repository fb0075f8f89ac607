"""Route tables, their associations and routes.

Every VPC has one main route table (its association has ``Main``); a subnet without an
explicit association uses it. Routes point at ``local``, an internet gateway, a NAT
gateway, an egress-only gateway, a peering connection, an ENI or an instance (whose
primary ENI is recorded too). A route whose target went away or stopped forwarding
(detached gateway, deleted NAT, peering not active, ENI deleted or detached) is
``blackhole``: its state is worked out when read, so no deletion has to chase routes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, or_, select, update

from agent.contract import cidr
from controller.api import Params, RequestContext
from controller.ec2 import ids, lookups
from controller.ec2.describe import describe, listing
from controller.ec2.errors import (
    InvalidParameterCombination,
    InvalidParameterValue,
    InvalidRouteNotFound,
    MissingParameter,
    ResourceAlreadyAssociated,
    RouteAlreadyExists,
    UnsupportedOperation,
    has_dependencies,
)
from controller.ec2.ids import ROUTE_TABLE, ROUTE_TABLE_ASSOCIATION, SUBNET, VPC, Kind
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import drop_tags, tag_new_resource, tags_of
from controller.ec2.vpc import cidrs, endpoint_services, provision, state, timed_states
from controller.errors import ServiceError
from controller.state import utcnow

#: Route target members, in AWS's order, and the target kind each one stores.
TARGETS = {"GatewayId": "gateway", "NatGatewayId": "nat", "EgressOnlyInternetGatewayId": "egress-only",
           "VpcPeeringConnectionId": "peering", "NetworkInterfaceId": "interface", "InstanceId": "instance"}
UNSUPPORTED_TARGETS = ("TransitGatewayId", "LocalGatewayId", "CarrierGatewayId", "VpcEndpointId", "CoreNetworkArn",
                       "OdbNetworkArn")
DESTINATIONS = ("DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId")
_OUTPUT_TARGET = {"local": "GatewayId", "gateway": "GatewayId", "nat": "NatGatewayId",
                  "egress-only": "EgressOnlyInternetGatewayId", "peering": "VpcPeeringConnectionId",
                  "interface": "NetworkInterfaceId", "instance": "InstanceId", "vpc-endpoint": "GatewayId"}
GATEWAY_NOT_FOUND = Kind("igw", "internet-gateway", "InvalidGatewayID.NotFound", "The gateway ID '{}' does not exist",
                         "InvalidGatewayID.Malformed")
NAT_NOT_FOUND = Kind("nat", "natgateway", "InvalidNatGatewayID.NotFound", "The natGateway ID '{}' does not exist",
                     "NatGatewayMalformed")


# --- route states ----------------------------------------------------------------------------------------


def route_states(conn: Connection, routes: Sequence[RowMapping], now: dt.datetime) -> list[str]:
    """``active`` or ``blackhole`` for each route (rows of ``ec2_routes`` joined with the table's vpc_id)."""
    wanted: dict[str, set[str]] = {}
    for route in routes:
        wanted.setdefault(route["target_kind"], set()).add(route["target_id"])
    live = _live_targets(conn, wanted, now)
    return ["active" if route["target_kind"] == "local" or (route["target_id"], route["vpc_id"]) in live
            else "blackhole" for route in routes]


def _live_targets(conn: Connection, wanted: dict[str, set[str]], now: dt.datetime) -> set[tuple[str, str]]:
    """(target id, VPC id) pairs that forward traffic now, for the targets routes name."""
    live: set[tuple[str, str]] = set()
    if wanted.get("gateway"):
        igw = state.internet_gateways
        live.update(tuple(row) for row in conn.execute(select(igw.c.internet_gateway_id, igw.c.vpc_id).where(
            igw.c.internet_gateway_id.in_(wanted["gateway"]), igw.c.vpc_id.is_not(None))).all())
    if wanted.get("egress-only"):
        eigw = state.egress_only_gateways
        live.update(tuple(row) for row in conn.execute(select(eigw.c.egress_only_internet_gateway_id, eigw.c.vpc_id).where(
            eigw.c.egress_only_internet_gateway_id.in_(wanted["egress-only"]))).all())
    if wanted.get("nat"):
        nat = state.nat_gateways
        for row in conn.execute(select(nat).where(nat.c.nat_gateway_id.in_(wanted["nat"]))).mappings():
            if timed_states.nat_state(row, now) in timed_states.NAT_FORWARDS:
                live.add((row["nat_gateway_id"], row["vpc_id"]))
    interfaces = wanted.get("interface", set()) | wanted.get("instance", set())
    if interfaces:
        eni = state.network_interfaces
        live.update(tuple(row) for row in conn.execute(select(eni.c.network_interface_id, eni.c.vpc_id).where(
            eni.c.network_interface_id.in_(interfaces), eni.c.attachment_id.is_not(None))).all())
    if wanted.get("vpc-endpoint"):  # gateway endpoints' prefix-list routes (vpc_endpoints.py)
        live.update(endpoint_services.live_endpoints(conn, wanted["vpc-endpoint"], now))
    if wanted.get("peering"):
        pcx = state.peering_connections
        for row in conn.execute(select(pcx).where(pcx.c.vpc_peering_connection_id.in_(wanted["peering"]))
                                ).mappings():
            if timed_states.peering_status(row, now) == "active":
                for side in ("requester_vpc_id", "accepter_vpc_id"):
                    live.add((row["vpc_peering_connection_id"], row[side]))
    return live


def route_output(route: RowMapping, route_state: str, account: str) -> Params:
    destination = route["destination"]
    if destination.startswith("pl-"):
        result: Params = {"DestinationPrefixListId": destination}
    elif ":" in destination:
        result = {"DestinationIpv6CidrBlock": destination}
    else:
        result = {"DestinationCidrBlock": destination}
    result[_OUTPUT_TARGET[route["target_kind"]]] = route["instance_id"] or route["target_id"]
    if route["target_kind"] == "instance":
        result.update(InstanceOwnerId=account, NetworkInterfaceId=route["target_id"])
    result.update(Origin=route["origin"], State=route_state)
    return result


# --- describe ----------------------------------------------------------------------------------------------


def table_outputs(conn: Connection, account: str, tables: Sequence[RowMapping]) -> list[Params]:
    """DescribeRouteTables items for the given route table rows."""
    table_ids = [t["route_table_id"] for t in tables]
    routes_table, assoc = state.routes, state.route_table_associations
    routes = conn.execute(select(routes_table, state.route_tables.c.vpc_id)
                          .join(state.route_tables, state.route_tables.c.route_table_id == routes_table.c.route_table_id)
                          .where(routes_table.c.route_table_id.in_(table_ids))).mappings().all()
    states = route_states(conn, routes, utcnow())
    by_table: dict[str, list[Params]] = {t: [] for t in table_ids}
    for route, route_state in zip(routes, states, strict=True):
        by_table[route["route_table_id"]].append(route_output(route, route_state, account))
    associations: dict[str, list[Params]] = {t: [] for t in table_ids}
    for row in conn.execute(select(assoc).where(assoc.c.route_table_id.in_(table_ids))).mappings():
        item: Params = {"Main": row["is_main"], "RouteTableAssociationId": row["association_id"],
                        "RouteTableId": row["route_table_id"], "AssociationState": {"State": "associated"}}
        if row["subnet_id"]:
            item["SubnetId"] = row["subnet_id"]
        associations[row["route_table_id"]].append(item)
    tags = tags_of(conn, account, table_ids)
    return [{"RouteTableId": t["route_table_id"], "VpcId": t["vpc_id"], "OwnerId": t["account_id"],
             "Routes": sorted(by_table[t["route_table_id"]], key=_route_order),
             "Associations": associations[t["route_table_id"]], "PropagatingVgws": [],
             "Tags": tags[t["route_table_id"]]} for t in tables]


def _route_order(route: Params) -> tuple[int, str]:
    """Local routes first, then by destination, as the console lists them."""
    destination = route.get("DestinationCidrBlock") or route.get("DestinationIpv6CidrBlock") or route.get(
        "DestinationPrefixListId", "")
    return (0 if route.get("GatewayId") == "local" else 1, destination)


def _routes(field: str) -> Any:
    return lambda t: [r.get(field) for r in t["Routes"]]


def _associations(field: str) -> Any:
    return lambda t: [a.get(field) for a in t["Associations"]]


#: API_DescribeRouteTables.html (and ``association.association-state``, ``route.network-interface-id``).
ROUTE_TABLE_FILTERS = {
    "route-table-id": lambda t: t["RouteTableId"], "vpc-id": lambda t: t["VpcId"], "owner-id": lambda t: t["OwnerId"],
    "association.route-table-association-id": _associations("RouteTableAssociationId"),
    "association.route-table-id": _associations("RouteTableId"),
    "association.subnet-id": _associations("SubnetId"), "association.main": _associations("Main"),
    "association.gateway-id": _associations("GatewayId"), "route.transit-gateway-id": _routes("TransitGatewayId"),
    "association.association-state": lambda t: [a["AssociationState"]["State"] for a in t["Associations"]],
    "route.destination-cidr-block": _routes("DestinationCidrBlock"),
    "route.destination-ipv6-cidr-block": _routes("DestinationIpv6CidrBlock"),
    "route.destination-prefix-list-id": _routes("DestinationPrefixListId"),
    "route.gateway-id": _routes("GatewayId"), "route.nat-gateway-id": _routes("NatGatewayId"),
    "route.egress-only-internet-gateway-id": _routes("EgressOnlyInternetGatewayId"),
    "route.instance-id": _routes("InstanceId"), "route.vpc-peering-connection-id": _routes("VpcPeeringConnectionId"),
    "route.network-interface-id": _routes("NetworkInterfaceId"),
    "route.origin": _routes("Origin"), "route.state": _routes("State"),
}


@vpc_operation("DescribeRouteTables")
def describe_route_tables(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        tables = conn.execute(select(state.route_tables).where(state.route_tables.c.account_id == ctx.account_id)
                              ).mappings().all()
        items = table_outputs(conn, ctx.account_id, tables)
    listed, token = describe(items, params, key="RouteTableId", ids_param="RouteTableIds", kind=ROUTE_TABLE,
                             fields=ROUTE_TABLE_FILTERS, page_limits=(5, 100))
    return listing("RouteTables", listed, token)


# --- tables and associations -------------------------------------------------------------------------------


@vpc_operation("CreateRouteTable", resources=arns((ROUTE_TABLE, NEW), (VPC, "VpcId")))
def create_route_table(ctx: RequestContext, params: Params) -> Params:
    with state.write(ctx.cloud.db) as conn:
        vpc = lookups.vpc(conn, params.get("VpcId"), ctx.account_id)
        table_id = provision.create_route_table(conn, ctx.account_id, vpc)
        tag_new_resource(conn, ctx.account_id, ROUTE_TABLE, table_id, params.get("TagSpecifications"))
        table = lookups.fetch(conn, ROUTE_TABLE, table_id, ctx.account_id)
        output = table_outputs(conn, ctx.account_id, [table])[0]
    ctx.audit_resources.append(ROUTE_TABLE.arn(ctx, table_id))
    result: Params = {"RouteTable": output}
    return result


@vpc_operation("DeleteRouteTable", resources=arns((ROUTE_TABLE, "RouteTableId")))
def delete_route_table(ctx: RequestContext, params: Params) -> Params:
    """Delete a route table that is neither main nor associated with a subnet."""
    with state.write(ctx.cloud.db) as conn:
        table = lookups.fetch(conn, ROUTE_TABLE, params.get("RouteTableId"), ctx.account_id)
        table_id = table["route_table_id"]
        assoc = state.route_table_associations
        if conn.execute(select(func.count()).select_from(assoc).where(assoc.c.route_table_id == table_id)
                        ).scalar_one():
            raise has_dependencies("routeTable", table_id)
        conn.execute(delete(state.routes).where(state.routes.c.route_table_id == table_id))
        conn.execute(delete(state.route_tables).where(state.route_tables.c.route_table_id == table_id))
        drop_tags(conn, [table_id])
    return {}


def _association(conn: Connection, association_id: str | None, account: str) -> RowMapping:
    assoc = state.route_table_associations
    row = None
    if association_id:
        row = conn.execute(select(assoc).join(state.route_tables,
                                              state.route_tables.c.route_table_id == assoc.c.route_table_id)
                           .where(assoc.c.association_id == association_id,
                                  state.route_tables.c.account_id == account)).mappings().first()
    if row is None:
        raise ROUTE_TABLE_ASSOCIATION.missing([association_id or ""])
    return row


@vpc_operation("AssociateRouteTable", resources=arns((ROUTE_TABLE, "RouteTableId"), (SUBNET, "SubnetId")))
def associate_route_table(ctx: RequestContext, params: Params) -> Params:
    if params.get("GatewayId") or params.get("PublicIpv4Pool"):
        raise UnsupportedOperation("Gateway route table associations are not supported by Cloudlet.")
    if not params.get("SubnetId"):
        raise MissingParameter("The request must contain the parameter subnetId or gatewayId")
    with state.write(ctx.cloud.db) as conn:
        table = lookups.fetch(conn, ROUTE_TABLE, params.get("RouteTableId"), ctx.account_id)
        subnet = lookups.subnet(conn, params["SubnetId"], ctx.account_id)
        if subnet["vpc_id"] != table["vpc_id"]:
            raise InvalidParameterValue(f"Route table {table['route_table_id']} and subnet {subnet['subnet_id']} "
                                        "belong to different networks")
        assoc = state.route_table_associations
        if conn.execute(select(assoc.c.association_id).where(assoc.c.subnet_id == subnet["subnet_id"])).first():
            raise ResourceAlreadyAssociated(f"the specified association for route table {table['route_table_id']} "
                                            "conflicts with an existing association")
        association_id = ROUTE_TABLE_ASSOCIATION.new_id()
        conn.execute(assoc.insert().values(association_id=association_id, route_table_id=table["route_table_id"],
                                           vpc_id=table["vpc_id"], subnet_id=subnet["subnet_id"], is_main=False))
    return {"AssociationId": association_id, "AssociationState": {"State": "associated"}}


@vpc_operation("DisassociateRouteTable")
def disassociate_route_table(ctx: RequestContext, params: Params) -> Params:
    with state.write(ctx.cloud.db) as conn:
        association = _association(conn, params.get("AssociationId"), ctx.account_id)
        if association["is_main"]:
            raise InvalidParameterValue(f"cannot disassociate the main route table association "
                                        f"{association['association_id']}")
        conn.execute(delete(state.route_table_associations)
                     .where(state.route_table_associations.c.association_id == association["association_id"]))
    return {}


@vpc_operation("ReplaceRouteTableAssociation", resources=arns((ROUTE_TABLE, "RouteTableId")))
def replace_route_table_association(ctx: RequestContext, params: Params) -> Params:
    """Point a subnet's association (or the VPC's main association) at another table of the VPC."""
    with state.write(ctx.cloud.db) as conn:
        association = _association(conn, params.get("AssociationId"), ctx.account_id)
        table = lookups.fetch(conn, ROUTE_TABLE, params.get("RouteTableId"), ctx.account_id)
        if table["vpc_id"] != association["vpc_id"]:
            raise InvalidParameterValue(f"Route table {table['route_table_id']} and association "
                                        f"{association['association_id']} belong to different networks")
        new_id = ROUTE_TABLE_ASSOCIATION.new_id()
        assoc = state.route_table_associations
        conn.execute(update(assoc).where(assoc.c.association_id == association["association_id"])
                     .values(association_id=new_id, route_table_id=table["route_table_id"]))
    return {"NewAssociationId": new_id, "AssociationState": {"State": "associated"}}


# --- routes ---------------------------------------------------------------------------------------------------


def _requested_destination(params: Params) -> tuple[str, str]:
    """The request's one destination member and its value, CIDRs in canonical form (checked before any lookup)."""
    given = [name for name in DESTINATIONS if params.get(name)]
    if not given:
        raise MissingParameter("The request must contain the parameter destinationCidrBlock or "
                               "destinationIpv6CidrBlock or destinationPrefixListId")
    if len(given) > 1:
        raise InvalidParameterCombination(f"The parameter {_wire(given[0])} cannot be used with the parameter "
                                          f"{_wire(given[1])}")
    name = given[0]
    value = params[name]
    if name == "DestinationCidrBlock":
        return name, str(cidrs.ipv4_network(value, "destinationCidrBlock"))
    if name == "DestinationIpv6CidrBlock":
        return name, str(cidrs.ipv6_network(value, "destinationIpv6CidrBlock"))
    return name, value


def _destination(conn: Connection, requested: tuple[str, str], account: str) -> str:
    """The route's destination: the CIDR, or the id of the caller's prefix list."""
    name, value = requested
    if name != "DestinationPrefixListId":
        return value
    return lookups.fetch(conn, ids.PREFIX_LIST, value, account)["prefix_list_id"]


def _wire(name: str) -> str:
    return name[:1].lower() + name[1:]


def _requested_target(params: Params) -> str:
    """The request's one target member (checked before any lookup)."""
    unsupported = [name for name in UNSUPPORTED_TARGETS if params.get(name)]
    if unsupported:
        raise UnsupportedOperation(f"Routes to {_wire(unsupported[0])} are not supported by Cloudlet.")
    given = [name for name in TARGETS if params.get(name)]
    if not given:
        raise MissingParameter("The request must contain the parameter gatewayId, natGatewayId, "
                               "egressOnlyInternetGatewayId, vpcPeeringConnectionId, networkInterfaceId or instanceId")
    if len(given) > 1:
        raise InvalidParameterCombination(f"The parameter {_wire(given[0])} cannot be used with the parameter "
                                          f"{_wire(given[1])}")
    return given[0]


def _target(conn: Connection, params: Params, member: str, account: str, table: RowMapping,
            destination: str) -> tuple[str, str, str | None]:
    """(target kind, target id, instance id) of a route request, checked against the table's VPC."""
    kind, target_id = TARGETS[member], params[member]
    vpc_id, table_id = table["vpc_id"], table["route_table_id"]
    ipv6 = ":" in destination
    if kind == "gateway" and target_id == "local":
        raise InvalidParameterValue(f"The route to {destination} cannot target 'local': local routes are the "
                                    "VPC's own CIDR blocks, made with the route table.")
    if kind == "gateway":
        igw = lookups.find(conn, ids.INTERNET_GATEWAY, target_id)
        if igw is None or igw["account_id"] != account:
            raise GATEWAY_NOT_FOUND.missing([target_id])
        if igw["vpc_id"] != vpc_id:
            raise InvalidParameterValue(f"route table {table_id} and network gateway {target_id} belong to "
                                        "different networks")
    elif kind == "nat":
        nat = lookups.find(conn, ids.NAT_GATEWAY, target_id)
        if (nat is None or nat["account_id"] != account
                or timed_states.nat_state(nat, utcnow()) not in timed_states.NAT_FORWARDS):
            raise NAT_NOT_FOUND.missing([target_id])
        if nat["vpc_id"] != vpc_id:
            raise InvalidParameterValue(f"route table {table_id} and NAT gateway {target_id} belong to different "
                                        "networks")
        if ipv6:
            raise InvalidParameterValue("NAT gateways can only be the target of IPv4 routes")
    elif kind == "egress-only":
        eigw = lookups.fetch(conn, ids.EGRESS_ONLY_GATEWAY, target_id, account)
        if eigw["vpc_id"] != vpc_id:
            raise InvalidParameterValue(f"route table {table_id} and network gateway {target_id} belong to "
                                        "different networks")
        if not ipv6:
            raise InvalidParameterValue("Egress-only internet gateways can only be the target of IPv6 routes")
    elif kind == "peering":
        _check_peering_target(conn, target_id, account, vpc_id)
    elif kind == "interface":
        eni = lookups.fetch(conn, ids.NETWORK_INTERFACE, target_id, account)
        if eni["vpc_id"] != vpc_id:
            raise InvalidParameterValue(f"route table {table_id} and network interface {target_id} belong to "
                                        "different networks")
    else:
        return "instance", _instance_interface(conn, target_id, account, vpc_id, table_id), target_id
    return kind, target_id, None


def _check_peering_target(conn: Connection, pcx_id: str, account: str, vpc_id: str) -> None:
    pcx = state.peering_connections
    row = conn.execute(select(pcx).where(pcx.c.vpc_peering_connection_id == pcx_id, or_(
        pcx.c.requester_account_id == account, pcx.c.accepter_account_id == account))).mappings().first()
    if row is None or timed_states.peering_status(row, utcnow()) not in ("active", "pending-acceptance"):
        raise ids.PEERING.missing([pcx_id])
    if vpc_id not in (row["requester_vpc_id"], row["accepter_vpc_id"]):
        raise InvalidParameterValue(f"The VPC peering connection {pcx_id} does not involve the route table's VPC "
                                    f"{vpc_id}")


def _instance_interface(conn: Connection, instance_id: str, account: str, vpc_id: str, table_id: str) -> str:
    """The ENI an instance route stands for: the instance's only interface in this VPC."""
    lookups.instance_primary_interface(conn, instance_id, account)
    eni = state.network_interfaces
    attached = conn.execute(select(eni.c.network_interface_id, eni.c.vpc_id).where(
        eni.c.instance_id == instance_id)).all()
    if len(attached) > 1:
        raise ServiceError(f"There are multiple interfaces attached to instance '{instance_id}'. Please specify an "
                           "interface ID for the operation instead.", code="InvalidInstanceID")
    interface_id, interface_vpc = attached[0]
    if interface_vpc != vpc_id:
        raise InvalidParameterValue(f"route table {table_id} and instance {instance_id} belong to different networks")
    return interface_id


def _check_not_local(conn: Connection, table: RowMapping, destination: str, target_kind: str) -> None:
    """Routes inside the VPC's own blocks may only point at an interface (middlebox routing)."""
    vpc = lookups.vpc(conn, table["vpc_id"], table["account_id"])
    for block in (vpc["cidr_block"], vpc["ipv6_cidr_block"]):
        if block and not destination.startswith("pl-") and cidr.contains(block, destination) \
                and target_kind not in ("interface", "instance"):
            raise InvalidParameterValue(
                f"The destination CIDR block {destination} is equal to or more specific than one of this VPC's "
                "CIDR blocks. This route can target only an interface or an instance.")


def _refuse_endpoint_route(conn: Connection, table_id: str, requested: tuple[str, str], verb: str) -> None:
    """A gateway endpoint's route (its service's AWS-managed prefix list) is the endpoint's own: AWS lets no
    route table API change it ("You cannot explicitly add, modify, or delete an endpoint route", gateway
    endpoints guide); ModifyVpcEndpoint's route table lists do. Checked before the list is looked up, since
    it is AWS's, not the caller's."""
    name, value = requested
    if name != "DestinationPrefixListId":
        return
    route = _route(conn, table_id, value)
    if route is not None and route["target_kind"] == "vpc-endpoint":
        raise InvalidParameterValue(f"Cannot {verb} route {value} in route table {table_id}: it is managed by VPC "
                                    f"endpoint {route['target_id']}. Use ModifyVpcEndpoint to change the route "
                                    "tables of a gateway endpoint.")


def _route(conn: Connection, table_id: str, destination: str) -> RowMapping | None:
    routes = state.routes
    return conn.execute(select(routes).where(routes.c.route_table_id == table_id,
                                             routes.c.destination == destination)).mappings().first()


@vpc_operation("CreateRoute", resources=arns((ROUTE_TABLE, "RouteTableId")))
def create_route(ctx: RequestContext, params: Params) -> Params:
    requested, member = _requested_destination(params), _requested_target(params)
    with state.write(ctx.cloud.db) as conn:
        table = lookups.fetch(conn, ROUTE_TABLE, params.get("RouteTableId"), ctx.account_id)
        destination = _destination(conn, requested, ctx.account_id)
        if _route(conn, table["route_table_id"], destination) is not None:
            raise RouteAlreadyExists(f"The route identified by {destination} already exists.")
        kind, target_id, instance_id = _target(conn, params, member, ctx.account_id, table, destination)
        _check_not_local(conn, table, destination, kind)
        provision.add_route(conn, table["route_table_id"], destination, kind, target_id, instance_id=instance_id)
    return {"Return": True}


@vpc_operation("ReplaceRoute", resources=arns((ROUTE_TABLE, "RouteTableId")))
def replace_route(ctx: RequestContext, params: Params) -> Params:
    requested = _requested_destination(params)
    member = None if params.get("LocalTarget") else _requested_target(params)
    with state.write(ctx.cloud.db) as conn:
        table = lookups.fetch(conn, ROUTE_TABLE, params.get("RouteTableId"), ctx.account_id)
        table_id = table["route_table_id"]
        _refuse_endpoint_route(conn, table_id, requested, "replace")
        destination = _destination(conn, requested, ctx.account_id)
        existing = _route(conn, table_id, destination)
        if existing is None:
            raise InvalidParameterValue(f"There is no route defined for '{destination}' in the route table. "
                                        "Use CreateRoute instead.")
        if existing["target_kind"] == "local":
            if params.get("LocalTarget"):
                return {}
            raise InvalidParameterValue(f"cannot replace local route {destination} in route table {table_id}")
        if member is None:
            raise InvalidParameterValue(f"The route to {destination} is not local; LocalTarget only restores a "
                                        "local route.")
        kind, target_id, instance_id = _target(conn, params, member, ctx.account_id, table, destination)
        _check_not_local(conn, table, destination, kind)
        routes = state.routes
        conn.execute(update(routes).where(routes.c.route_table_id == table_id, routes.c.destination == destination)
                     .values(target_kind=kind, target_id=target_id, instance_id=instance_id, origin="CreateRoute"))
    return {}


@vpc_operation("DeleteRoute", resources=arns((ROUTE_TABLE, "RouteTableId")))
def delete_route(ctx: RequestContext, params: Params) -> Params:
    requested = _requested_destination(params)
    with state.write(ctx.cloud.db) as conn:
        table = lookups.fetch(conn, ROUTE_TABLE, params.get("RouteTableId"), ctx.account_id)
        table_id = table["route_table_id"]
        _refuse_endpoint_route(conn, table_id, requested, "delete")
        destination = _destination(conn, requested, ctx.account_id)
        existing = _route(conn, table_id, destination)
        if existing is None:
            raise InvalidRouteNotFound(f"no route with destination-cidr-block {destination} in route table "
                                       f"{table_id}")
        if existing["target_kind"] == "local":
            raise InvalidParameterValue(f"cannot remove local route {destination} in route table {table_id}")
        routes = state.routes
        conn.execute(delete(routes).where(routes.c.route_table_id == table_id, routes.c.destination == destination))
    return {}
