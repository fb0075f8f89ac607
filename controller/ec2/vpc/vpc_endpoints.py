"""VPC endpoints: CreateVpcEndpoint, DescribeVpcEndpoints, ModifyVpcEndpoint, DeleteVpcEndpoints,
DescribeVpcEndpointServices and DescribePrefixLists.

A gateway endpoint (S3) is a route ``<the S3 prefix list> -> vpce-…`` in each chosen route table (rows of
``ec2_routes`` with target kind ``vpc-endpoint``; DescribeRouteTables shows them with ``GatewayId``). An
interface endpoint is a requester-managed ENI (``InterfaceType`` ``vpc_endpoint``) in each chosen subnet,
with the endpoint's security groups, behind which the host's agent relays the API
(``agent.contract.network.Attachment`` kind ``service``); with private DNS on, the service's regional name
resolves to those ENIs inside the VPC. The services, the managed prefix list, states and the policy gate
are in :mod:`controller.ec2.vpc.endpoint_services`; what the agents get is compiled in
:mod:`controller.ec2.vpc.desired_endpoints`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, select, update

from controller.api import Params, RequestContext
from controller.config import Config
from controller.ec2 import lookups
from controller.ec2.describe import describe, listing
from controller.ec2.errors import (
    InvalidParameter,
    MissingParameter,
    RouteAlreadyExists,
    invalid_value,
)
from controller.ec2.ids import PREFIX_LIST, ROUTE_TABLE, SUBNET, VPC, VPC_ENDPOINT
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import drop_tags, owned_by_account, register_taggable, tag_new_resource, tags_of
from controller.ec2.vpc import eni_records, state
from controller.ec2.vpc.endpoint_services import (
    FULL_ACCESS_POLICY,
    GATEWAY,
    INTERFACE,
    EndpointService,
    endpoint_state,
    s3_prefix_list_cidrs,
    s3_prefix_list_id,
    s3_prefix_list_name,
    services,
)
from controller.errors import ServiceError, error
from controller.iam import policy as iam_policy
from controller.state import utcnow

InvalidServiceName = error("InvalidServiceName")
InvalidPolicyDocument = error("InvalidPolicyDocument")
DuplicateSubnetsInSameZone = error("DuplicateSubnetsInSameZone")
IdempotentParameterMismatch = error("IdempotentParameterMismatch")
#: The code DeleteVpcEndpoints puts in an Unsuccessful item for an id it cannot find.
ITEM_NOT_FOUND = "InvalidVpcEndpoint.NotFound"
#: Route 53's hosted zone id of the vpce DNS names (one region, one zone).
HOSTED_ZONE_ID = "Z7HUB22UULQXV"
ENDPOINT_ROUTE = "vpc-endpoint"

register_taggable(VPC_ENDPOINT, owned_by_account(state.vpc_endpoints, "vpc_endpoint_id"))


# --- output -------------------------------------------------------------------------------------------------


def _interfaces(conn: Connection, endpoint_ids: Sequence[str]) -> dict[str, list[RowMapping]]:
    """Each endpoint's ENIs (requester-managed, ``requester_id`` the endpoint), by subnet order."""
    eni = state.network_interfaces
    found: dict[str, list[RowMapping]] = {e: [] for e in endpoint_ids}
    for row in conn.execute(select(eni).where(eni.c.requester_id.in_(list(endpoint_ids)))
                            .order_by(eni.c.subnet_id)).mappings():
        found[row["requester_id"]].append(row)
    return found


def _route_tables(conn: Connection, endpoint_ids: Sequence[str]) -> dict[str, list[str]]:
    routes = state.routes
    found: dict[str, list[str]] = {e: [] for e in endpoint_ids}
    for table_id, target in conn.execute(select(routes.c.route_table_id, routes.c.target_id).where(
            routes.c.target_kind == ENDPOINT_ROUTE, routes.c.target_id.in_(list(endpoint_ids)))
            .order_by(routes.c.route_table_id)):
        found[target].append(table_id)
    return found


def dns_names(config: Config, row: RowMapping, service: EndpointService, zones: Sequence[str]) -> list[str]:
    """An interface endpoint's names: regional, one per zone of its subnets, then the private name."""
    if row["endpoint_type"] != INTERFACE:
        return []
    head = f"{row['vpc_endpoint_id']}-{row['dns_suffix']}"
    tail = f"{service.prefix}.{config.region}.vpce.{config.service_domain}"
    names = [f"{head}.{tail}"] + [f"{head}-{zone}.{tail}" for zone in dict.fromkeys(zones)]
    private = service.private_dns_name(config)
    if row["private_dns_enabled"] and private:
        names.append(private)
    return names


def endpoint_outputs(conn: Connection, config: Config, account: str, rows: Sequence[RowMapping],
                     now: dt.datetime) -> list[Params]:
    endpoint_ids = [r["vpc_endpoint_id"] for r in rows]
    interfaces, tables = _interfaces(conn, endpoint_ids), _route_tables(conn, endpoint_ids)
    tags = tags_of(conn, account, endpoint_ids)
    groups = state.security_groups
    names = dict(conn.execute(select(groups.c.group_id, groups.c.group_name).where(groups.c.group_id.in_(
        [g for r in rows for g in r["security_group_ids"]]))).all())
    catalog = services(config)
    outputs = []
    for row in rows:
        endpoint_id = row["vpc_endpoint_id"]
        enis = interfaces[endpoint_id]
        service = catalog.get(row["service_name"])
        entries = dns_names(config, row, service, [e["availability_zone"] for e in enis]) if service else []
        outputs.append({
            "VpcEndpointId": endpoint_id, "VpcEndpointType": row["endpoint_type"], "VpcId": row["vpc_id"],
            "ServiceName": row["service_name"], "State": endpoint_state(row, now),
            "PolicyDocument": row["policy_document"], "RouteTableIds": tables[endpoint_id],
            "SubnetIds": [e["subnet_id"] for e in enis],
            "Groups": [{"GroupId": g, "GroupName": names.get(g, "")} for g in row["security_group_ids"]],
            "IpAddressType": "ipv4",
            **({"DnsOptions": {"DnsRecordIpType": "ipv4"}} if row["endpoint_type"] == INTERFACE else {}),
            "PrivateDnsEnabled": row["private_dns_enabled"], "RequesterManaged": False,
            "NetworkInterfaceIds": [e["network_interface_id"] for e in enis],
            "DnsEntries": [{"DnsName": name, "HostedZoneId": HOSTED_ZONE_ID} for name in entries],
            "CreationTimestamp": row["created_at"], "Tags": tags[endpoint_id], "OwnerId": row["account_id"],
            "ServiceRegion": config.region})
    return outputs


# --- checks -------------------------------------------------------------------------------------------------


def _policy(text: Any) -> str:
    """The endpoint policy to store: the caller's, if IAM would take it as a resource policy."""
    if text is None:
        return FULL_ACCESS_POLICY
    try:
        iam_policy.validate_policy(str(text), kind="resource", max_size=20480)
    except iam_policy.PolicyError as exc:
        raise InvalidPolicyDocument(f"Invalid policy document: {exc}") from None
    return str(text)


def _service(config: Config, name: Any, endpoint_type: str) -> EndpointService:
    service = services(config).get(str(name or ""))
    if service is None:
        raise InvalidServiceName(f"The Vpc Endpoint Service '{name}' does not exist")
    if service.type != endpoint_type:
        raise InvalidParameter(f"The VPC endpoint service {service.name} does not support the VPC endpoint type "
                               f"{endpoint_type}.")
    return service


def _check_private_dns(conn: Connection, vpc: RowMapping, service: EndpointService, config: Config,
                       except_id: str = "") -> None:
    """AWS's two rules: the VPC resolves names and hostnames, and no other endpoint of the VPC claims the name."""
    if not (vpc["enable_dns_support"] and vpc["enable_dns_hostnames"]):
        raise InvalidParameter(f"Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC "
                               f"attributes set to true for {vpc['vpc_id']}")
    table, now = state.vpc_endpoints, utcnow()
    for other in conn.execute(select(table).where(
            table.c.vpc_id == vpc["vpc_id"], table.c.service_name == service.name, table.c.private_dns_enabled,
            table.c.vpc_endpoint_id != except_id)).mappings():
        if endpoint_state(other, now) in ("pending", "available"):
            raise InvalidParameter(f"private-dns-enabled cannot be set because there is already a conflicting DNS "
                                   f"domain for {service.private_dns_name(config)} in the VPC "
                                   f"{vpc['vpc_id']}")


def _route_table(conn: Connection, table_id: str, account: str, vpc_id: str) -> RowMapping:
    table = lookups.fetch(conn, ROUTE_TABLE, table_id, account)
    if table["vpc_id"] != vpc_id:
        raise InvalidParameter(f"Route table {table_id} does not belong to {vpc_id}.")
    return table


def _add_routes(conn: Connection, config: Config, endpoint_id: str, table_ids: Sequence[str], account: str,
                vpc_id: str) -> None:
    routes, destination = state.routes, s3_prefix_list_id(config)
    for table_id in dict.fromkeys(table_ids):
        _route_table(conn, table_id, account, vpc_id)
        if conn.execute(select(routes.c.target_id).where(routes.c.route_table_id == table_id,
                                                         routes.c.destination == destination)).first():
            raise RouteAlreadyExists(f"route table {table_id} already has a route with destination-prefix-list-id "
                                     f"{destination}")
        conn.execute(routes.insert().values(route_table_id=table_id, destination=destination,
                                            target_kind=ENDPOINT_ROUTE, target_id=endpoint_id, origin="CreateRoute"))


def _remove_routes(conn: Connection, endpoint_id: str, table_ids: Sequence[str] | None = None) -> None:
    routes = state.routes
    query = delete(routes).where(routes.c.target_kind == ENDPOINT_ROUTE, routes.c.target_id == endpoint_id)
    if table_ids is not None:
        query = query.where(routes.c.route_table_id.in_(list(table_ids)))
    conn.execute(query)


def _add_interfaces(conn: Connection, config: Config, endpoint_id: str, subnet_ids: Sequence[str], account: str,
                    vpc_id: str, group_ids: Sequence[str]) -> None:
    """One ENI per subnet; at most one subnet per zone (counting the endpoint's present ones)."""
    zones = {e["availability_zone"]: e["subnet_id"] for e in _interfaces(conn, [endpoint_id])[endpoint_id]}
    eni = state.network_interfaces
    for subnet_id in dict.fromkeys(subnet_ids):
        subnet = lookups.subnet(conn, subnet_id, account)
        if subnet["vpc_id"] != vpc_id:
            raise InvalidParameter(f"The subnet ID '{subnet_id}' does not belong to {vpc_id}.")
        if subnet["availability_zone"] in zones:
            raise DuplicateSubnetsInSameZone(
                f"Found another VPC endpoint subnet in the availability zone of {subnet_id}. VPC endpoint subnets "
                "should be in different availability zones supported by the VPC endpoint service.")
        zones[subnet["availability_zone"]] = subnet_id
        interface_id, _, _ = eni_records.create_service_interface(
            conn, config, account, subnet, requester_id=endpoint_id, group_ids=group_ids,
            description=f"VPC Endpoint Interface {endpoint_id}")
        conn.execute(update(eni).where(eni.c.network_interface_id == interface_id)
                     .values(interface_type="vpc_endpoint"))


def _remove_interfaces(conn: Connection, endpoint_id: str, subnet_ids: Sequence[str] | None = None) -> None:
    for row in _interfaces(conn, [endpoint_id])[endpoint_id]:
        if subnet_ids is None or row["subnet_id"] in subnet_ids:
            eni_records.delete_interface(conn, row["network_interface_id"])


def _groups(conn: Connection, config: Config, account: str, vpc_id: str, group_ids: Sequence[str]) -> list[str]:
    return eni_records.check_groups(conn, account, vpc_id, "", group_ids, config.security_groups_per_interface) \
        if group_ids else [eni_records.default_group(conn, vpc_id)]


def _fetch(conn: Connection, endpoint_id: str | None, account: str, now: dt.datetime) -> RowMapping:
    table = state.vpc_endpoints
    row = conn.execute(select(table).where(table.c.vpc_endpoint_id == (endpoint_id or ""),
                                           table.c.account_id == account)).mappings().first()
    if row is None or endpoint_state(row, now) in ("deleting", "deleted"):
        raise VPC_ENDPOINT.missing([endpoint_id or ""])
    return row


def _purge(conn: Connection, now: dt.datetime) -> None:
    """Forget endpoints whose deletion has settled."""
    table = state.vpc_endpoints
    gone = [r["vpc_endpoint_id"] for r in conn.execute(select(table).where(table.c.state == "deleting")).mappings()
            if endpoint_state(r, now) == "deleted"]
    if gone:
        conn.execute(delete(table).where(table.c.vpc_endpoint_id.in_(gone)))
        drop_tags(conn, gone)


# --- operations ---------------------------------------------------------------------------------------------


def _same_request(row: RowMapping, params: Params, endpoint_type: str) -> bool:
    return (row["vpc_id"], row["service_name"], row["endpoint_type"]) == (
        params.get("VpcId"), params.get("ServiceName"), endpoint_type)


@vpc_operation("CreateVpcEndpoint", resources=arns((VPC_ENDPOINT, NEW), (VPC, "VpcId"), (SUBNET, "SubnetIds"),
                                                 (ROUTE_TABLE, "RouteTableIds")))
def create_vpc_endpoint(ctx: RequestContext, params: Params) -> Params:
    endpoint_type = params.get("VpcEndpointType") or GATEWAY
    if endpoint_type not in (GATEWAY, INTERFACE):
        raise invalid_value(endpoint_type, "VpcEndpointType", "Cloudlet serves Gateway and Interface endpoints.")
    if not params.get("VpcId"):
        raise MissingParameter("The request must contain the parameter VpcId")
    if not params.get("ServiceName"):
        raise MissingParameter("The request must contain the parameter ServiceName")
    if params.get("IpAddressType", "ipv4") != "ipv4":
        raise InvalidParameter("Cloudlet's VPC endpoints are IPv4 only.")
    if endpoint_type == GATEWAY and (params.get("SubnetIds") or params.get("SecurityGroupIds")):
        raise InvalidParameter("Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC "
                               "Endpoints." if params.get("SubnetIds") else
                               "Security group IDs are only supported for Interface type VPC Endpoints.")
    if endpoint_type == INTERFACE and params.get("RouteTableIds"):
        raise InvalidParameter("Route table IDs are only supported for Gateway type VPC Endpoints.")
    private_dns = bool(params.get("PrivateDnsEnabled", endpoint_type == INTERFACE))
    if endpoint_type == GATEWAY and private_dns:
        raise InvalidParameter("Private DNS can only be enabled for Interface type VPC Endpoints.")
    config, now, token = ctx.cloud.config, utcnow(), params.get("ClientToken")
    service = _service(config, params["ServiceName"], endpoint_type)
    policy_text = _policy(params.get("PolicyDocument"))
    table = state.vpc_endpoints
    with state.write(ctx.cloud.db) as conn:
        _purge(conn, now)
        if token:
            again = conn.execute(select(table).where(table.c.account_id == ctx.account_id,
                                                     table.c.client_token == token)).mappings().first()
            if again is not None:
                if not _same_request(again, params, endpoint_type):
                    raise IdempotentParameterMismatch("The client token has already been used with a different "
                                                      "request.")
                return {"VpcEndpoint": endpoint_outputs(conn, config, ctx.account_id, [again], now)[0]}
        vpc = lookups.vpc(conn, params["VpcId"], ctx.account_id)
        if private_dns:
            _check_private_dns(conn, vpc, service, config)
        endpoint_id = VPC_ENDPOINT.new_id()
        groups = _groups(conn, config, ctx.account_id, vpc["vpc_id"], params.get("SecurityGroupIds") or []) \
            if endpoint_type == INTERFACE else []
        settles = now if endpoint_type == GATEWAY else now + dt.timedelta(
            seconds=config.nat_gateway_transition_seconds)
        conn.execute(table.insert().values(
            vpc_endpoint_id=endpoint_id, account_id=ctx.account_id, vpc_id=vpc["vpc_id"], service_name=service.name,
            endpoint_type=endpoint_type, state="available" if endpoint_type == GATEWAY else "pending",
            settles_at=settles, policy_document=policy_text, private_dns_enabled=private_dns,
            security_group_ids=groups, dns_suffix=secrets.token_hex(4), client_token=token, created_at=now))
        if endpoint_type == GATEWAY:
            _add_routes(conn, config, endpoint_id, params.get("RouteTableIds") or [], ctx.account_id, vpc["vpc_id"])
        else:
            _add_interfaces(conn, config, endpoint_id, params.get("SubnetIds") or [], ctx.account_id,
                            vpc["vpc_id"], groups)
        tag_new_resource(conn, ctx.account_id, VPC_ENDPOINT, endpoint_id, params.get("TagSpecifications"))
        row = _fetch(conn, endpoint_id, ctx.account_id, now)
        output = endpoint_outputs(conn, config, ctx.account_id, [row], now)[0]
    if endpoint_type == INTERFACE:  # the create call answers "pending" however fast the endpoint settles
        output["State"] = "pending"
    ctx.audit_resources.append(VPC_ENDPOINT.arn(ctx, endpoint_id))
    return {"VpcEndpoint": output}


@vpc_operation("ModifyVpcEndpoint", resources=arns((VPC_ENDPOINT, "VpcEndpointId")))
def modify_vpc_endpoint(ctx: RequestContext, params: Params) -> Params:
    config, now, table = ctx.cloud.config, utcnow(), state.vpc_endpoints
    if params.get("ResetPolicy") and params.get("PolicyDocument") is not None:
        raise InvalidParameter("ResetPolicy and PolicyDocument cannot be used together.")
    with state.write(ctx.cloud.db) as conn:
        row = _fetch(conn, params.get("VpcEndpointId"), ctx.account_id, now)
        endpoint_id, vpc_id, kind = row["vpc_endpoint_id"], row["vpc_id"], row["endpoint_type"]
        gateway_only = ("AddRouteTableIds", "RemoveRouteTableIds")
        interface_only = ("AddSubnetIds", "RemoveSubnetIds", "AddSecurityGroupIds", "RemoveSecurityGroupIds")
        for name in gateway_only if kind == INTERFACE else interface_only:
            if params.get(name):
                raise InvalidParameter(f"{name} is not supported for {kind} type VPC Endpoints.")
        values: dict[str, Any] = {}
        if params.get("ResetPolicy"):
            values["policy_document"] = FULL_ACCESS_POLICY
        elif params.get("PolicyDocument") is not None:
            values["policy_document"] = _policy(params["PolicyDocument"])
        if params.get("PrivateDnsEnabled") is not None:
            if kind == GATEWAY and params["PrivateDnsEnabled"]:
                raise InvalidParameter("Private DNS can only be enabled for Interface type VPC Endpoints.")
            if params["PrivateDnsEnabled"] and not row["private_dns_enabled"]:
                service = _service(config, row["service_name"], kind)
                _check_private_dns(conn, lookups.vpc(conn, vpc_id, ctx.account_id), service, config, endpoint_id)
            values["private_dns_enabled"] = bool(params["PrivateDnsEnabled"])
        if kind == GATEWAY:
            removing = list(dict.fromkeys(params.get("RemoveRouteTableIds") or []))
            for table_id in removing:
                _route_table(conn, table_id, ctx.account_id, vpc_id)
            _remove_routes(conn, endpoint_id, removing)
            _add_routes(conn, config, endpoint_id, params.get("AddRouteTableIds") or [], ctx.account_id, vpc_id)
        else:
            groups = [g for g in row["security_group_ids"] if g not in (params.get("RemoveSecurityGroupIds") or [])]
            groups += [g for g in params.get("AddSecurityGroupIds") or [] if g not in groups]
            if groups != list(row["security_group_ids"]):
                if not groups:
                    raise InvalidParameter("A VPC endpoint of type Interface must have at least one security group.")
                groups = _groups(conn, config, ctx.account_id, vpc_id, groups)
                values["security_group_ids"] = groups
                for eni in _interfaces(conn, [endpoint_id])[endpoint_id]:
                    eni_records.set_groups(conn, eni["network_interface_id"], groups)
            _remove_interfaces(conn, endpoint_id, params.get("RemoveSubnetIds") or [])
            _add_interfaces(conn, config, endpoint_id, params.get("AddSubnetIds") or [], ctx.account_id, vpc_id,
                            groups)
        if values:
            conn.execute(update(table).where(table.c.vpc_endpoint_id == endpoint_id).values(**values))
    return {"Return": True}


@vpc_operation("DeleteVpcEndpoints", resources=arns((VPC_ENDPOINT, "VpcEndpointIds")))
def delete_vpc_endpoints(ctx: RequestContext, params: Params) -> Params:
    """Delete each endpoint named; the ones that cannot be are listed in ``Unsuccessful``, as AWS answers."""
    wanted = params.get("VpcEndpointIds") or []
    if not wanted:
        raise MissingParameter("The request must contain the parameter VpcEndpointId")
    now, table, unsuccessful = utcnow(), state.vpc_endpoints, []
    settles = now + dt.timedelta(seconds=ctx.cloud.config.nat_gateway_transition_seconds)
    with state.write(ctx.cloud.db) as conn:
        for endpoint_id in dict.fromkeys(wanted):
            try:
                row = _fetch(conn, endpoint_id, ctx.account_id, now)
            except ServiceError:
                unsuccessful.append({"Error": {"Code": ITEM_NOT_FOUND, "Message": f"The VPC Endpoint Id "
                                               f"'{endpoint_id}' does not exist"}, "ResourceId": endpoint_id})
                continue
            _remove_routes(conn, row["vpc_endpoint_id"])
            _remove_interfaces(conn, row["vpc_endpoint_id"])
            conn.execute(update(table).where(table.c.vpc_endpoint_id == row["vpc_endpoint_id"])
                         .values(state="deleting", settles_at=settles, client_token=None))
    return {"Unsuccessful": unsuccessful}


#: API_DescribeVpcEndpoints.html
ENDPOINT_FILTERS = {
    "ip-address-type": "IpAddressType", "service-name": "ServiceName", "service-region": "ServiceRegion",
    "vpc-id": "VpcId",
    "vpc-endpoint-id": "VpcEndpointId", "vpc-endpoint-state": "State", "vpc-endpoint-type": "VpcEndpointType",
}


@vpc_operation("DescribeVpcEndpoints")
def describe_vpc_endpoints(ctx: RequestContext, params: Params) -> Params:
    now, table = utcnow(), state.vpc_endpoints
    with ctx.cloud.db.read() as conn:
        rows = [r for r in conn.execute(select(table).where(table.c.account_id == ctx.account_id)).mappings()
                if endpoint_state(r, now) != "deleted"]
        items = endpoint_outputs(conn, ctx.cloud.config, ctx.account_id, rows, now)
    if params.get("MaxResults") is not None:  # "If the value is greater than 1,000, we return only 1,000 items."
        params = {**params, "MaxResults": min(int(params["MaxResults"]), 1000)}
    listed, token = describe(items, params, key="VpcEndpointId", ids_param="VpcEndpointIds", kind=VPC_ENDPOINT,
                             fields=ENDPOINT_FILTERS)
    return listing("VpcEndpoints", listed, token)


# --- the services and the prefix list -----------------------------------------------------------------------


def service_detail(config: Config, service: EndpointService) -> Params:
    detail: Params = {
        "ServiceName": service.name, "ServiceId": service.service_id(), "ServiceType": [{"ServiceType": service.type}],
        "ServiceRegion": config.region, "AvailabilityZones": list(config.availability_zones), "Owner": "amazon",
        "BaseEndpointDnsNames": [service.base_dns_name(config)], "VpcEndpointPolicySupported": True,
        "AcceptanceRequired": False, "ManagesVpcEndpoints": False, "SupportedIpAddressTypes": ["ipv4"], "Tags": []}
    private = service.private_dns_name(config)
    if private:
        detail.update(PrivateDnsName=private, PrivateDnsNames=[{"PrivateDnsName": private}],
                      PrivateDnsNameVerificationState="verified")
    return detail


#: API_DescribeVpcEndpointServices.html
SERVICE_FILTERS = {
    "owner": "Owner", "service-name": "ServiceName", "service-region": "ServiceRegion",
    "service-type": "ServiceType[].ServiceType", "supported-ip-address-types": "SupportedIpAddressTypes",
}


@vpc_operation("DescribeVpcEndpointServices")
def describe_vpc_endpoint_services(ctx: RequestContext, params: Params) -> Params:
    config = ctx.cloud.config
    catalog = services(config)
    wanted = params.get("ServiceNames") or []
    unknown = [name for name in wanted if name not in catalog]
    if unknown:
        raise InvalidServiceName(f"The Vpc Endpoint Service '{unknown[0]}' does not exist")
    regions = params.get("ServiceRegions")
    if regions and config.region not in regions:
        catalog = {}
    items = [service_detail(config, s) for s in catalog.values() if not wanted or s.name in wanted]
    listed, token = describe(items, {k: v for k, v in params.items() if k != "ServiceNames"}, key="ServiceName",
                             fields=SERVICE_FILTERS)
    result = listing("ServiceDetails", listed, token)
    result["ServiceNames"] = [item["ServiceName"] for item in listed]
    return result


#: API_DescribePrefixLists.html
PREFIX_LIST_FILTERS = {"prefix-list-id": "PrefixListId", "prefix-list-name": "PrefixListName"}


@vpc_operation("DescribePrefixLists")
def describe_prefix_lists(ctx: RequestContext, params: Params) -> Params:
    """The AWS-managed prefix lists of the services gateway endpoints reach (S3's)."""
    config = ctx.cloud.config
    items = [{"PrefixListId": s3_prefix_list_id(config), "PrefixListName": s3_prefix_list_name(config),
              "Cidrs": s3_prefix_list_cidrs(config)}]
    listed, token = describe(items, params, key="PrefixListId", ids_param="PrefixListIds",
                             kind=PREFIX_LIST, fields=PREFIX_LIST_FILTERS, tags_key=None)
    return listing("PrefixLists", listed, token)
