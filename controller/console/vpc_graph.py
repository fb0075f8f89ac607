"""The VPC topology picture as data: a pure function from the Describe* answers to a graph document.

The page (``static/vpc_topology.js``) draws the document with Cytoscape and polls for it; the document's
:func:`digest` is its ETag, so an unchanged VPC costs the browser a 304 and no redraw. Positions are
computed here rather than by a force layout in the browser: one column per availability zone, subnets
stacked in it, their interfaces and instances in a grid; so the picture is the same on every refresh and a
new subnet appears where it belongs instead of shuffling everything else.

Security groups are drawn once each, with an edge per group-to-group reference ("members of B may reach
members of A") and a faint membership edge from each interface to its groups. Edges between the
interfaces themselves would grow with the square of the members (every default group references itself),
which no one can read at 500 interfaces.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Document = dict[str, Any]

#: Layout grid, in Cytoscape's model units.
COLUMN_WIDTH = 520
CELL_WIDTH = 120
CELL_HEIGHT = 64
CELLS_PER_ROW = 4
SUBNET_GAP = 70
TOP_ROW_Y = -220
ROUTE_TABLE_ROW_Y = -110


@dataclass(frozen=True)
class Answers:
    """What the builder needs: one Describe answer's list per resource kind, already narrowed to one VPC."""

    vpc: dict[str, Any]
    subnets: list[dict[str, Any]]
    route_tables: list[dict[str, Any]]
    internet_gateways: list[dict[str, Any]]
    egress_only_gateways: list[dict[str, Any]]
    nat_gateways: list[dict[str, Any]]
    peerings: list[dict[str, Any]]
    endpoints: list[dict[str, Any]]
    interfaces: list[dict[str, Any]]
    instances: list[dict[str, Any]]
    security_groups: list[dict[str, Any]]


def name_of(resource: dict[str, Any]) -> str:
    """The resource's Name tag, or empty."""
    return next((t["Value"] for t in resource.get("Tags") or [] if t.get("Key") == "Name"), "")


def _label(resource_id: str, *extra: str) -> str:
    return "\n".join([resource_id, *(e for e in extra if e)])


class _Builder:
    """Collects nodes and edges; ids are the resources' own, so the page can highlight any component the
    Reachability Analyzer names."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.edges: list[dict[str, Any]] = []
        self.ids: set[str] = set()

    def node(self, node_id: str, kind: str, label: str, *, parent: str | None = None,
             position: tuple[float, float] | None = None, **data: Any) -> None:
        if node_id in self.ids:
            return
        self.ids.add(node_id)
        entry: dict[str, Any] = {"data": {"id": node_id, "kind": kind, "label": label, **data}, "classes": kind}
        if parent:
            entry["data"]["parent"] = parent
        if position is not None:
            entry["position"] = {"x": position[0], "y": position[1]}
        self.nodes.append(entry)

    def edge(self, source: str, target: str, kind: str, label: str = "", **data: Any) -> None:
        if source not in self.ids or target not in self.ids:
            return
        edge_id = f"{kind}:{source}>{target}"
        self.edges.append({"data": {"id": edge_id, "source": source, "target": target, "kind": kind,
                                    "label": label, **data}, "classes": kind})


def build(answers: Answers) -> Document:
    """The graph document of one VPC (Cytoscape's ``elements`` plus a text summary for the page's list)."""
    b = _Builder()
    vpc = answers.vpc
    vpc_id = vpc["VpcId"]
    b.node(vpc_id, "vpc", _label(vpc_id, name_of(vpc), vpc.get("CidrBlock", "")))
    zones = sorted({s.get("AvailabilityZone", "") for s in answers.subnets})
    column = {zone: index for index, zone in enumerate(zones)}
    for zone in zones:
        b.node(f"az:{zone}", "zone", zone, parent=vpc_id)
    subnet_items = _subnet_items(answers)
    next_y: dict[str, float] = defaultdict(float)
    for subnet in sorted(answers.subnets, key=lambda s: (s.get("AvailabilityZone", ""), s.get("CidrBlock", ""),
                                                        s["SubnetId"])):
        zone = subnet.get("AvailabilityZone", "")
        x0, y0 = column[zone] * COLUMN_WIDTH, next_y[zone]
        items = subnet_items.get(subnet["SubnetId"], [])
        b.node(subnet["SubnetId"], "subnet", _label(subnet["SubnetId"], name_of(subnet), subnet.get("CidrBlock", "")),
               parent=f"az:{zone}", position=(x0, y0), cidr=subnet.get("CidrBlock", ""), zone=zone)
        for index, (item_id, kind, label) in enumerate(items):
            row, col = divmod(index, CELLS_PER_ROW)
            b.node(item_id, kind, label, parent=subnet["SubnetId"],
                   position=(x0 + col * CELL_WIDTH, y0 + row * CELL_HEIGHT))
        rows = max(1, -(-len(items) // CELLS_PER_ROW))
        next_y[zone] = y0 + rows * CELL_HEIGHT + SUBNET_GAP
    _gateways(b, answers, vpc_id)
    _route_tables(b, answers, vpc_id)
    bottom = max(next_y.values(), default=0.0) + SUBNET_GAP
    _security_groups(b, answers, vpc_id, bottom)
    for instance in answers.instances:
        for attachment in instance.get("NetworkInterfaces") or []:
            b.edge(instance["InstanceId"], attachment["NetworkInterfaceId"], "attachment")
    return {"vpc": {"id": vpc_id, "name": name_of(vpc), "cidr": vpc.get("CidrBlock", ""),
                    "state": vpc.get("State", "")},
            "elements": {"nodes": b.nodes, "edges": b.edges},
            "summary": _summary(answers, subnet_items, zones)}


def _subnet_items(answers: Answers) -> dict[str, list[tuple[str, str, str]]]:
    """Per subnet, what sits in it (id, kind, label): NAT gateways, instances, then interfaces, each sorted.
    The interfaces a NAT gateway or an endpoint requested are folded into that node (they share its
    address), so the picture shows the gateway, not its plumbing."""
    items: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for nat in sorted(answers.nat_gateways, key=lambda n: n["NatGatewayId"]):
        addresses = nat.get("NatGatewayAddresses") or [{}]
        items[nat.get("SubnetId", "")].append(
            (nat["NatGatewayId"], "nat", _label(nat["NatGatewayId"], "NAT " + nat.get("State", ""),
                                                addresses[0].get("PublicIp", ""))))
    for instance in sorted(answers.instances, key=lambda i: i["InstanceId"]):
        state = instance.get("State", {}).get("Name", "")
        items[instance.get("SubnetId", "")].append(
            (instance["InstanceId"], "instance", _label(instance["InstanceId"], name_of(instance), state)))
    folded = {n.get("NetworkInterfaceId") for nat in answers.nat_gateways
              for n in nat.get("NatGatewayAddresses") or []}
    for eni in sorted(answers.interfaces, key=lambda n: n["NetworkInterfaceId"]):
        if eni["NetworkInterfaceId"] in folded:
            continue
        owner = (eni.get("Attachment") or {}).get("InstanceId", "")
        items[eni.get("SubnetId", "")].append(
            (eni["NetworkInterfaceId"], "eni", _label(eni["NetworkInterfaceId"], eni.get("PrivateIpAddress", ""),
                                                      owner or eni.get("Description", "")[:24])))
    return items


def _gateways(b: _Builder, answers: Answers, vpc_id: str) -> None:
    """Internet, egress-only, peering and endpoint nodes in the row above the zones."""
    x = 0.0
    row: list[tuple[str, str, str]] = []
    row += [(g["InternetGatewayId"], "igw", _label(g["InternetGatewayId"], "internet gateway"))
            for g in answers.internet_gateways]
    row += [(g["EgressOnlyInternetGatewayId"], "eigw", _label(g["EgressOnlyInternetGatewayId"], "egress-only IGW"))
            for g in answers.egress_only_gateways]
    row += [(e["VpcEndpointId"], "endpoint", _label(e["VpcEndpointId"], e.get("ServiceName", "").split(".")[-1],
                                                     e.get("VpcEndpointType", "")))
            for e in answers.endpoints]
    for node_id, kind, label in sorted(row, key=lambda r: (r[1], r[0])):
        b.node(node_id, kind, label, parent=vpc_id, position=(x, TOP_ROW_Y))
        x += CELL_WIDTH * 1.4
    for peering in sorted(answers.peerings, key=lambda p: p["VpcPeeringConnectionId"]):
        sides = (peering.get("RequesterVpcInfo") or {}, peering.get("AccepterVpcInfo") or {})
        peer = next((side for side in sides if side.get("VpcId") != vpc_id), sides[1])
        status = (peering.get("Status") or {}).get("Code", "")
        b.node(peering["VpcPeeringConnectionId"], "peering",
               _label(peering["VpcPeeringConnectionId"], f"peer {peer.get('VpcId', '')}", status),
               position=(x, TOP_ROW_Y - CELL_HEIGHT * 2))
        b.edge(peering["VpcPeeringConnectionId"], vpc_id, "peering", status)
        x += CELL_WIDTH * 1.4
    for endpoint in answers.endpoints:  # an interface endpoint's network interfaces are in its subnets
        for eni_id in endpoint.get("NetworkInterfaceIds") or []:
            b.edge(endpoint["VpcEndpointId"], eni_id, "attachment")


def _route_tables(b: _Builder, answers: Answers, vpc_id: str) -> None:
    """Route tables in their row, an edge to each subnet they serve (the main table serves every subnet
    without an explicit association) and one to each gateway their routes name."""
    explicit = {a["SubnetId"] for t in answers.route_tables for a in t.get("Associations") or []
                if a.get("SubnetId")}
    for x, table in enumerate(sorted(answers.route_tables, key=lambda t: t["RouteTableId"])):
        associations = table.get("Associations") or []
        main = any(a.get("Main") for a in associations)
        b.node(table["RouteTableId"], "route-table", _label(table["RouteTableId"], "main" if main else "",
                                                             name_of(table)),
               parent=vpc_id, position=(x * CELL_WIDTH * 1.4, ROUTE_TABLE_ROW_Y), main=main)
        served = {a["SubnetId"] for a in associations if a.get("SubnetId")}
        if main:
            served |= {s["SubnetId"] for s in answers.subnets if s["SubnetId"] not in explicit}
        for subnet_id in sorted(served):
            b.edge(table["RouteTableId"], subnet_id, "serves")
        targets: dict[str, list[str]] = defaultdict(list)
        for route in table.get("Routes") or []:
            target = _route_target(route)
            if target:
                targets[target].append(route.get("DestinationCidrBlock") or route.get("DestinationIpv6CidrBlock")
                                       or route.get("DestinationPrefixListId", ""))
        for target, destinations in sorted(targets.items()):
            b.edge(table["RouteTableId"], target, "route", ", ".join(destinations))


def _route_target(route: dict[str, Any]) -> str:
    """The gateway, NAT gateway, peering, endpoint or interface a route sends to ("local" names none)."""
    for member in ("GatewayId", "NatGatewayId", "EgressOnlyInternetGatewayId", "VpcPeeringConnectionId",
                   "NetworkInterfaceId", "InstanceId"):
        value = route.get(member)
        if value and value != "local":
            return str(value)
    return ""


def _security_groups(b: _Builder, answers: Answers, vpc_id: str, y: float) -> None:
    """One node per group of the VPC in a row below the zones; group-to-group reference edges; membership."""
    groups = sorted(answers.security_groups, key=lambda g: g["GroupId"])
    for x, group in enumerate(groups):
        b.node(group["GroupId"], "security-group", _label(group["GroupId"], group.get("GroupName", "")),
               parent=vpc_id, position=(x * CELL_WIDTH * 1.4, y))
    for group in groups:
        referenced: dict[str, set[str]] = defaultdict(set)
        for permission in group.get("IpPermissions") or []:
            for pair in permission.get("UserIdGroupPairs") or []:
                if pair.get("GroupId"):
                    referenced[pair["GroupId"]].add(_ports(permission))
        for source, ports in sorted(referenced.items()):
            b.edge(source, group["GroupId"], "sg-reference", ", ".join(sorted(ports)))
    for eni in answers.interfaces:
        for group in eni.get("Groups") or []:
            b.edge(eni["NetworkInterfaceId"], group["GroupId"], "member")


def _ports(permission: dict[str, Any]) -> str:
    """A permission's protocol and ports in a few characters: ``tcp/22``, ``udp/1000-2000``, ``all``."""
    protocol = str(permission.get("IpProtocol", "-1"))
    if protocol == "-1":
        return "all"
    low, high = permission.get("FromPort"), permission.get("ToPort")
    if low is None or low == -1 or (protocol in ("tcp", "udp") and (low, high) == (0, 65535)):
        return protocol
    return f"{protocol}/{low}" if low == high else f"{protocol}/{low}-{high}"


def _summary(answers: Answers, subnet_items: dict[str, list[tuple[str, str, str]]],
             zones: Iterable[str]) -> list[dict[str, Any]]:
    """The text alternative of the picture: per zone, its subnets with what each holds."""
    by_zone: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for subnet in sorted(answers.subnets, key=lambda s: (s.get("CidrBlock", ""), s["SubnetId"])):
        items = subnet_items.get(subnet["SubnetId"], [])
        by_zone[subnet.get("AvailabilityZone", "")].append({
            "id": subnet["SubnetId"], "name": name_of(subnet), "cidr": subnet.get("CidrBlock", ""),
            "counts": {kind: sum(1 for _, k, _ in items if k == kind) for kind in ("instance", "eni", "nat")}})
    return [{"zone": zone, "subnets": by_zone[zone]} for zone in zones]


def digest(document: Document) -> str:
    """A short fingerprint of the document: the page's ETag, so an unchanged VPC is never redrawn."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
