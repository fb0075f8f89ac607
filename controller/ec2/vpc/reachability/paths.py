"""Network insights paths: CreateNetworkInsightsPath, DescribeNetworkInsightsPaths, DeleteNetworkInsightsPath.

A path names what Reachability Analyzer should judge: a source and a destination (ids or ARNs of
instances, interfaces, internet and NAT gateways, peering connections and VPC endpoints; or a destination
address alone), a protocol, and optionally addresses and a port. Everything is checked when the path is
made, so an analysis only ever starts from a well-formed path whose resources existed.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, select

from controller.api import Params, RequestContext
from controller.ec2 import ids, lookups
from controller.ec2.describe import describe, listing
from controller.ec2.errors import (
    AnalysisExistsForNetworkInsightsPath,
    IdempotentParameterMismatch,
    InvalidParameterCombination,
    MissingParameter,
    invalid_value,
)
from controller.ec2.ids import NETWORK_INSIGHTS_PATH, Kind
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import can_see, drop_tags, tag_new_resource, tags_of
from controller.ec2.vpc.reachability import state
from controller.state import utcnow

#: The kinds of resources a path may start or end at, by id prefix.
ENDPOINT_KINDS: dict[str, Kind] = {k.prefix: k for k in (
    ids.INSTANCE, ids.NETWORK_INTERFACE, ids.INTERNET_GATEWAY, ids.NAT_GATEWAY, ids.PEERING, ids.VPC_ENDPOINT)}
MAX_PORT = 65535


def _resource_id(ctx: RequestContext, conn: Connection, value: str, member: str) -> str:
    """The id a Source/Destination names (an id or the ARN of one), once the caller is known to see it."""
    resource_id = value
    if value.startswith("arn:"):
        parts = value.split(":", 5)
        resource_type, _, resource_id = parts[5].partition("/") if len(parts) == 6 else ("", "", "")
        prefix = resource_id.rpartition("-")[0]
        kind = ENDPOINT_KINDS.get(prefix)
        if (kind is None or parts[2] != "ec2" or parts[1] != ctx.cloud.config.partition or parts[3] != ctx.region
                or resource_type != kind.resource_type):
            raise invalid_value(value, member, "It is not the ARN of a supported resource in this Region.")
        if parts[4] != ctx.account_id:
            raise invalid_value(value, member, "Resources of other accounts need AdditionalAccounts, which this "
                                               "cloud does not support.")
    kind = ENDPOINT_KINDS.get(resource_id.rpartition("-")[0])
    if kind is None:
        raise invalid_value(value, member, "The resource must be an instance, network interface, internet gateway, "
                                           "NAT gateway, VPC peering connection or VPC endpoint.")
    if not kind.well_formed(resource_id):
        raise kind.malformed(resource_id)
    if not can_see(conn, ctx.account_id, kind, resource_id):
        raise kind.missing([resource_id])
    return resource_id


def _address(value: Any, member: str) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise invalid_value(value, member, "It must be an IPv4 address.") from None


def _port_range(value: Any, member: str) -> dict[str, int] | None:
    if value is None:
        return None
    low, high = value.get("FromPort", 0), value.get("ToPort", MAX_PORT)
    if not 0 <= low <= high <= MAX_PORT:
        raise invalid_value(f"{low}-{high}", member, f"Ports must be between 0 and {MAX_PORT}, FromPort <= ToPort.")
    return {"FromPort": low, "ToPort": high}


def _path_filter(value: Any, member: str) -> dict[str, Any] | None:
    """A PathFilter as stored and answered: addresses checked, port ranges completed."""
    if not value:
        return None
    checked = {"SourceAddress": _address(value.get("SourceAddress"), f"{member}.SourceAddress"),
               "DestinationAddress": _address(value.get("DestinationAddress"), f"{member}.DestinationAddress"),
               "SourcePortRange": _port_range(value.get("SourcePortRange"), f"{member}.SourcePortRange"),
               "DestinationPortRange": _port_range(value.get("DestinationPortRange"),
                                                   f"{member}.DestinationPortRange")}
    return {k: v for k, v in checked.items() if v is not None}


def _checked(params: Params) -> dict[str, Any]:
    """The stored columns of a CreateNetworkInsightsPath request, checked before any lookup."""
    if not params.get("Source"):
        raise MissingParameter("The request must contain the parameter source")
    if not params.get("Destination") and not params.get("DestinationIp"):
        raise MissingParameter("The request must contain the parameter destination or destinationIp")
    protocol = str(params.get("Protocol") or "").lower()
    if protocol not in ("tcp", "udp"):
        raise invalid_value(params.get("Protocol"), "protocol", "Valid values are tcp and udp.")
    port = params.get("DestinationPort")
    if port is not None and not 0 <= port <= MAX_PORT:
        raise invalid_value(port, "destinationPort", f"It must be between 0 and {MAX_PORT}.")
    at_source, at_destination = params.get("FilterAtSource"), params.get("FilterAtDestination")
    if at_source and (params.get("SourceIp") or port is not None):
        raise InvalidParameterCombination("FilterAtSource cannot be used with SourceIp or DestinationPort.")
    if at_destination and params.get("DestinationIp"):
        raise InvalidParameterCombination("FilterAtDestination cannot be used with DestinationIp.")
    return {"source": params["Source"], "destination": params.get("Destination"), "protocol": protocol,
            "source_ip": _address(params.get("SourceIp"), "sourceIp"),
            "destination_ip": _address(params.get("DestinationIp"), "destinationIp"), "destination_port": port,
            "filter_at_source": _path_filter(at_source, "filterAtSource"),
            "filter_at_destination": _path_filter(at_destination, "filterAtDestination")}


def path_output(ctx: RequestContext, row: RowMapping | dict[str, Any], tags: list[dict[str, str]]) -> Params:
    """AWS's ``NetworkInsightsPath``."""
    output: Params = {
        "NetworkInsightsPathId": row["path_id"], "NetworkInsightsPathArn": NETWORK_INSIGHTS_PATH.arn(ctx, row["path_id"]),
        "CreatedDate": row["created_at"], "Source": row["source"],
        "SourceArn": ENDPOINT_KINDS[row["source_id"].rpartition("-")[0]].arn(ctx, row["source_id"]),
        "Protocol": row["protocol"], "Tags": tags}
    if row["destination_id"]:
        output.update(Destination=row["destination"], DestinationArn=ENDPOINT_KINDS[
            row["destination_id"].rpartition("-")[0]].arn(ctx, row["destination_id"]))
    optional = {"SourceIp": row["source_ip"], "DestinationIp": row["destination_ip"],
                "DestinationPort": row["destination_port"], "FilterAtSource": row["filter_at_source"],
                "FilterAtDestination": row["filter_at_destination"]}
    output.update({k: v for k, v in optional.items() if v is not None})
    return output


@vpc_operation("CreateNetworkInsightsPath", resources=arns((NETWORK_INSIGHTS_PATH, NEW)))
def create_network_insights_path(ctx: RequestContext, params: Params) -> Params:
    """A new path; the same ClientToken with the same request answers the path it made before."""
    values = _checked(params)
    table, token = state.paths, params.get("ClientToken")
    with ctx.cloud.db.begin() as conn:
        if token:
            earlier = conn.execute(select(table).where(table.c.account_id == ctx.account_id,
                                                       table.c.client_token == token)).mappings().first()
            if earlier is not None:
                if any(earlier[k] != v for k, v in values.items()):
                    raise IdempotentParameterMismatch("The client token has already been used with a different "
                                                      "request.")
                return {"NetworkInsightsPath": path_output(ctx, earlier, tags_of(
                    conn, ctx.account_id, [earlier["path_id"]])[earlier["path_id"]])}
        values["source_id"] = _resource_id(ctx, conn, values["source"], "source")
        values["destination_id"] = (_resource_id(ctx, conn, values["destination"], "destination")
                                    if values["destination"] else None)
        path_id = NETWORK_INSIGHTS_PATH.new_id()
        row = {**values, "path_id": path_id, "account_id": ctx.account_id, "client_token": token,
               "created_at": utcnow()}
        conn.execute(table.insert().values(**row))
        new_tags = tag_new_resource(conn, ctx.account_id, NETWORK_INSIGHTS_PATH, path_id,
                                    params.get("TagSpecifications"))
    ctx.audit_resources.append(NETWORK_INSIGHTS_PATH.arn(ctx, path_id))
    return {"NetworkInsightsPath": path_output(ctx, row, new_tags)}


def _range_text(member: str, field: str) -> Any:
    """A port range filter's value: ``from-to``."""

    def value(item: Params) -> str | None:
        ports = (item.get(member) or {}).get(field)
        return f"{ports['FromPort']}-{ports['ToPort']}" if ports else None

    return value


def _resource_ids(member: str) -> Any:
    """A source/destination filter's values: the resource as the path names it, and its id."""
    return lambda item: [item.get(member), (item.get(member) or "").rpartition("/")[2]]


#: API_DescribeNetworkInsightsPaths.html
PATH_FILTERS = {
    "destination": _resource_ids("Destination"), "source": _resource_ids("Source"), "protocol": "Protocol",
    "filter-at-source.source-address": "FilterAtSource.SourceAddress",
    "filter-at-source.source-port-range": _range_text("FilterAtSource", "SourcePortRange"),
    "filter-at-source.destination-address": "FilterAtSource.DestinationAddress",
    "filter-at-source.destination-port-range": _range_text("FilterAtSource", "DestinationPortRange"),
    "filter-at-destination.source-address": "FilterAtDestination.SourceAddress",
    "filter-at-destination.source-port-range": _range_text("FilterAtDestination", "SourcePortRange"),
    "filter-at-destination.destination-address": "FilterAtDestination.DestinationAddress",
    "filter-at-destination.destination-port-range": _range_text("FilterAtDestination", "DestinationPortRange"),
}


@vpc_operation("DescribeNetworkInsightsPaths")
def describe_network_insights_paths(ctx: RequestContext, params: Params) -> Params:
    table = state.paths
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(table).where(table.c.account_id == ctx.account_id)).mappings().all()
        tags = tags_of(conn, ctx.account_id, [r["path_id"] for r in rows])
    items = [path_output(ctx, r, tags[r["path_id"]]) for r in rows]
    listed, token = describe(items, params, key="NetworkInsightsPathId", ids_param="NetworkInsightsPathIds",
                             kind=NETWORK_INSIGHTS_PATH, page_limits=(1, 100), fields=PATH_FILTERS)
    return listing("NetworkInsightsPaths", listed, token)


@vpc_operation("DeleteNetworkInsightsPath", resources=arns((NETWORK_INSIGHTS_PATH, "NetworkInsightsPathId")))
def delete_network_insights_path(ctx: RequestContext, params: Params) -> Params:
    """Delete a path; refused while analyses of it exist, as AWS refuses it."""
    with ctx.cloud.db.begin() as conn:
        row = lookups.fetch(conn, NETWORK_INSIGHTS_PATH, params.get("NetworkInsightsPathId"),
                    ctx.account_id)
        path_id = row["path_id"]
        analyses = conn.execute(select(state.analyses.c.analysis_id).where(
            state.analyses.c.path_id == path_id).order_by(state.analyses.c.analysis_id)).scalars().all()
        if analyses:
            raise AnalysisExistsForNetworkInsightsPath(
                f"At least one analysis [{', '.join(analyses)}] exists for path {path_id}. Delete all the analyses "
                "before deleting this network path.")
        conn.execute(delete(state.paths).where(state.paths.c.path_id == path_id))
        drop_tags(conn, [path_id])
    return {"NetworkInsightsPathId": path_id}
