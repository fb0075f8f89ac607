"""Reachability Analyzer's verdict on one path: a pure function of a frozen network and the path.

:func:`analyze` walks the path hop by hop as AWS's analysis does: the source interface's security groups
(egress), its subnet's route table (longest prefix) and network ACL (outbound, when the packet leaves the
subnet), then the next hop the route names (the VPC itself, an internet gateway, a NAT gateway, a peering
connection, a gateway endpoint), and on the destination's side its subnet's network ACL (inbound) and its
security groups (ingress). Security groups are stateful and let the answer back; network ACLs are not,
so the answer is checked against each ACL the request crossed, in the opposite direction, and against
the route back out of an internet gateway or peering connection. The first hop that stops the packets
ends the walk with AWS's explanation code for it (``ENI_SG_RULES_MISMATCH``, ``SUBNET_ACL_RESTRICTION``,
``NO_ROUTE_TO_DESTINATION``…).

The verdict carries a :class:`Probe`: the interfaces, addresses, protocol and port a real packet uses
to confirm it through the dataplane (:mod:`.probes` has an agent send it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from controller.ec2.vpc.reachability.rules import (
    ALL_PORTS,
    ANYWHERE,
    PROTOCOL_NUMBERS,
    Cidr,
    Header,
    acl_entry,
    acl_rule_output,
    cidr,
    route_for,
    route_output,
    security_group_rule,
    sg_rule_output,
)
from controller.ec2.vpc.reachability.snapshot import Interface, Network, Route, Subnet

Component = dict[str, Any]


@dataclass(frozen=True)
class PathQuery:
    """What a network insights path asks: resource ids (ARNs already reduced to ids) and the packet."""

    source: str
    destination: str | None
    protocol: str
    source_ip: str | None = None
    destination_ip: str | None = None
    destination_port: int | None = None
    #: FilterAtSource / FilterAtDestination as the API takes them (``PathFilter``).
    filters: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Probe:
    """What a probe packet through the dataplane needs to confirm a verdict (see :mod:`.probes`)."""

    protocol: str
    source_eni: str | None = None
    destination_eni: str | None = None
    source_address: str | None = None
    destination_address: str | None = None
    destination_port: int | None = None


@dataclass(frozen=True)
class Verdict:
    path_found: bool
    forward: tuple[Component, ...]
    returning: tuple[Component, ...]
    explanations: tuple[Component, ...]
    probe: Probe


def analyze(network: Network, query: PathQuery) -> Verdict:
    """The verdict of ``query`` over ``network``."""
    walk = _Walk(network, query)
    found = walk.run()
    return Verdict(found, tuple(walk.forward), tuple(walk.returning), tuple(walk.explanations), walk.probe)


@dataclass
class _Crossing:
    """A network ACL the request passed, so the answer must pass it the other way."""

    subnet: Subnet
    egress: bool
    header: Header


@dataclass
class _Target:
    """Where the path ends: an interface, or a gateway/connection/endpoint id with its kind."""

    kind: str
    resource_id: str | None = None
    interface: Interface | None = None


@dataclass
class _Walk:
    network: Network
    query: PathQuery
    forward: list[Component] = field(default_factory=list)
    returning: list[Component] = field(default_factory=list)
    explanations: list[Component] = field(default_factory=list)
    crossings: list[_Crossing] = field(default_factory=list)
    probe: Probe = field(init=False)

    def __post_init__(self) -> None:
        self.probe = Probe(protocol=self.query.protocol, destination_port=self.query.destination_port)

    # components ---------------------------------------------------------------------------------------------

    def ref(self, resource_type: str, resource_id: str, vpc_id: str | None) -> Component:
        return {"Id": resource_id, "Arn": self.network.arn(resource_type, resource_id, vpc_id)}

    def emit(self, path: list[Component], resource_type: str, resource_id: str, vpc_id: str | None,
             **members: Any) -> None:
        component = {"SequenceNumber": len(path) + 1, "Component": self.ref(resource_type, resource_id, vpc_id)}
        if vpc_id:
            component["Vpc"] = self.ref("vpc", vpc_id, vpc_id)
        path.append({**component, **{k: v for k, v in members.items() if v is not None}})

    def explain(self, code: str, vpc_id: str | None = None, **members: Any) -> bool:
        explanation: Component = {"ExplanationCode": code, **{k: v for k, v in members.items() if v is not None}}
        if vpc_id:
            explanation["Vpc"] = self.ref("vpc", vpc_id, vpc_id)
        self.explanations.append(explanation)
        return False

    def subnet_ref(self, subnet: Subnet) -> Component:
        return self.ref("subnet", subnet.subnet_id, subnet.vpc_id)

    # the endpoints --------------------------------------------------------------------------------------------

    def interface_of(self, resource_id: str) -> Interface | None:
        """The interface a resource sends and receives through: an instance's primary one, a NAT gateway's,
        an interface endpoint's first."""
        net = self.network
        if resource_id.startswith("i-"):
            return net.primary_interface(resource_id)
        if resource_id.startswith("eni-"):
            return net.interfaces.get(resource_id)
        if resource_id.startswith("nat-"):
            nat = net.nat_gateways.get(resource_id)
            return net.interfaces.get(nat.eni_id or "") if nat else None
        if resource_id.startswith("vpce-"):
            return next((i for i in sorted(net.interfaces.values(), key=lambda i: i.eni_id)
                         if i.requester_id == resource_id), None)
        return None

    def target(self) -> _Target | None:
        destination, address = self.query.destination, self.query.destination_ip
        if destination is None:
            owner = self.network.interface_with_address(address or "")
            return _Target("interface", owner.eni_id, owner) if owner else _Target("address")
        if destination.startswith("igw-"):
            return _Target("igw", destination) if destination in self.network.internet_gateways else None
        if destination.startswith("pcx-"):
            return _Target("pcx", destination) if destination in self.network.peerings else None
        endpoint = self.network.endpoints.get(destination)
        if endpoint is not None and endpoint.endpoint_type != "Interface":
            return _Target("gateway-endpoint", destination)
        interface = self.interface_of(destination)
        return _Target("interface", destination, interface) if interface else None

    def initial_header(self, source: Cidr, target: _Target) -> Header:
        query = self.query
        if query.destination_ip:
            destination = cidr(query.destination_ip)
        elif target.interface is not None and target.interface.primary_ip:
            destination = cidr(target.interface.primary_ip)
        else:
            destination = ANYWHERE
        port = query.destination_port
        header = Header(source, destination, PROTOCOL_NUMBERS[query.protocol],
                        destination_ports=(port, port) if port is not None else ALL_PORTS)
        for path_filter in query.filters:
            header = _filtered(header, path_filter)
        return header

    # the walk ---------------------------------------------------------------------------------------------------

    def run(self) -> bool:
        query, net = self.query, self.network
        target = self.target()
        if target is None:
            return self.explain("NO_SOURCE_OR_DESTINATION", Component={"Id": query.destination})
        if query.source.startswith("igw-"):
            return self.from_internet(query.source, target)
        source = self.interface_of(query.source)
        if source is None:
            if query.source.startswith(("pcx-", "vpce-", "nat-", "i-", "eni-")) and not self.known(query.source):
                return self.explain("NO_SOURCE_OR_DESTINATION", Component={"Id": query.source})
            return self.explain("UNSUPPORTED_COMPONENT", Component={"Id": query.source})
        address = query.source_ip or source.primary_ip
        if address is None:
            return self.explain("UNASSOCIATED_COMPONENT", Component={"Id": query.source})
        header = self.initial_header(cidr(address), target)
        self.probe = replace(self.probe, source_eni=source.eni_id, source_address=address,
                             destination_eni=target.interface.eni_id if target.interface else None,
                             destination_address=str(header.destination.network_address)
                             if header.destination.num_addresses == 1 else None)
        subnet = net.subnets[source.subnet_id]
        if query.source.startswith("i-"):
            self.emit(self.forward, "instance", query.source, source.vpc_id, OutboundHeader=header.output())
        self.emit(self.forward, "network-interface", source.eni_id, source.vpc_id, Subnet=self.subnet_ref(subnet))
        if source.group_ids:
            admitted = security_group_rule(net, source, header, egress=True)
            if admitted is None:
                return self.sg_mismatch(source, "egress")
            rule, header = admitted
            self.emit(self.forward, "security-group", rule.group_id, source.vpc_id,
                      SecurityGroupRule=sg_rule_output(rule))
        return self.route_out(subnet, header, target, source) and self.check_return()

    def known(self, resource_id: str) -> bool:
        net = self.network
        return any(resource_id in table for table in (net.peerings, net.endpoints, net.nat_gateways))

    def sg_mismatch(self, interface: Interface, direction: str) -> bool:
        return self.explain("ENI_SG_RULES_MISMATCH", interface.vpc_id, Direction=direction,
                            NetworkInterface=self.ref("network-interface", interface.eni_id, interface.vpc_id),
                            SecurityGroups=[self.ref("security-group", g, interface.vpc_id) for g in interface.group_ids],
                            Subnet=self.subnet_ref(self.network.subnets[interface.subnet_id]))

    def through_acl(self, path: list[Component], subnet: Subnet, header: Header, egress: bool) -> Header | None:
        """``header`` leaving (egress) or entering ``subnet`` through its network ACL."""
        entry, passed = acl_entry(self.network, subnet.network_acl_id, header, egress)
        self.emit(path, "network-acl", subnet.network_acl_id, subnet.vpc_id, AclRule=acl_rule_output(entry),
                  Subnet=self.subnet_ref(subnet))
        if passed is None:
            self.explain("SUBNET_ACL_RESTRICTION", subnet.vpc_id, Direction="egress" if egress else "ingress",
                         Acl=self.ref("network-acl", subnet.network_acl_id, subnet.vpc_id),
                         AclRule=acl_rule_output(entry), Subnet=self.subnet_ref(subnet))
        elif path is self.forward:
            self.crossings.append(_Crossing(subnet, egress, passed))
        return passed

    def route(self, path: list[Component], subnet: Subnet, header: Header,
              target_id: str | None) -> tuple[Route, Header] | None:
        """The route ``subnet``'s table picks, or None (explained) when there is none or it is a blackhole."""
        table_id = subnet.route_table_id
        table = self.ref("route-table", table_id, subnet.vpc_id)
        chosen = route_for(self.network.route_tables.get(table_id, ()), header, target_id)
        if chosen is None:
            destination = self.query.destination or self.query.destination_ip
            self.explain("NO_ROUTE_TO_DESTINATION", subnet.vpc_id, RouteTable=table, Subnet=self.subnet_ref(subnet),
                         Destination={"Id": destination} if destination else None)
            return None
        route, header = chosen
        if route.state != "active":
            self.explain("BAD_STATE_ROUTE", subnet.vpc_id, RouteTable=table, RouteTableRoute=route_output(route),
                         State=route.state)
            return None
        self.emit(path, "route-table", table_id, subnet.vpc_id, RouteTableRoute=route_output(route))
        return route, header

    def route_out(self, subnet: Subnet, header: Header, target: _Target, source: Interface) -> bool:
        """From ``subnet`` towards ``target``: route table, outbound ACL, then the hop the route names."""
        wanted = target.resource_id if target.kind in ("igw", "pcx", "gateway-endpoint") else None
        chosen = self.route(self.forward, subnet, header, wanted)
        if chosen is None:
            return False
        route, header = chosen
        same_subnet = route.target_kind == "local" and target.interface is not None \
            and target.interface.subnet_id == subnet.subnet_id
        if not same_subnet:
            passed = self.through_acl(self.forward, subnet, header, egress=True)
            if passed is None:
                return False
            header = passed
        hops: dict[str, Callable[[], bool]] = {
            "local": lambda: self.deliver_in_vpc(subnet, header, target, same_subnet),
            "gateway": lambda: self.to_internet(route, header, target, source.public_ip if source.attached else None,
                                                subnet.vpc_id),
            "nat": lambda: self.through_nat(route, header, target),
            "peering": lambda: self.through_peering(route, subnet, header, target),
            "vpc-endpoint": lambda: self.at_gateway_endpoint(route, subnet, target)}
        hop = hops.get(route.target_kind)
        if hop is None:
            return self.explain("UNSUPPORTED_COMPONENT", subnet.vpc_id, Component={"Id": route.target_id})
        return hop()

    def deliver_in_vpc(self, subnet: Subnet, header: Header, target: _Target, same_subnet: bool) -> bool:
        if target.interface is None or target.interface.vpc_id != subnet.vpc_id:
            return self.no_route(subnet)
        return self.arrive(target.interface, header, crossed=not same_subnet)

    def no_route(self, subnet: Subnet) -> bool:
        destination = self.query.destination or self.query.destination_ip
        return self.explain("NO_ROUTE_TO_DESTINATION", subnet.vpc_id, Subnet=self.subnet_ref(subnet),
                            RouteTable=self.ref("route-table", subnet.route_table_id, subnet.vpc_id),
                            Destination={"Id": destination} if destination else None)

    def arrive(self, interface: Interface, header: Header, *, crossed: bool) -> bool:
        """The destination's side: its subnet's inbound ACL (when the packet came from outside the subnet),
        then its security groups."""
        subnet = self.network.subnets[interface.subnet_id]
        if crossed:
            passed = self.through_acl(self.forward, subnet, header, egress=False)
            if passed is None:
                return False
            header = passed
        if interface.group_ids:
            admitted = security_group_rule(self.network, interface, header, egress=False)
            if admitted is None:
                return self.sg_mismatch(interface, "ingress")
            rule, header = admitted
            self.emit(self.forward, "security-group", rule.group_id, interface.vpc_id,
                      SecurityGroupRule=sg_rule_output(rule))
        self.emit(self.forward, "network-interface", interface.eni_id, interface.vpc_id,
                  Subnet=self.subnet_ref(subnet), InboundHeader=header.output())
        if interface.instance_id and (self.query.destination or "").startswith("i-"):
            self.emit(self.forward, "instance", interface.instance_id, interface.vpc_id)
        return True

    def to_internet(self, route: Route, header: Header, target: _Target, public_ip: str | None, vpc_id: str) -> bool:
        """Out of an internet gateway: only to the internet, and only from an address it can map."""
        igw = route.target_id
        if target.kind == "interface" or (target.kind in ("igw", "pcx", "gateway-endpoint")
                                          and target.resource_id != igw):
            return self.no_route(self.network.subnets[self.source_subnet()])
        if public_ip is None:
            return self.explain("IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS", vpc_id,
                                InternetGateway=self.ref("internet-gateway", igw, vpc_id))
        translated = replace(header, source=cidr(public_ip))
        self.emit(self.forward, "internet-gateway", igw, vpc_id, OutboundHeader=translated.output())
        return True

    def source_subnet(self) -> str:
        source = self.interface_of(self.query.source)
        return source.subnet_id if source else ""

    def through_nat(self, route: Route, header: Header, target: _Target) -> bool:
        """Into a NAT gateway's subnet, out again with its address, on to the internet gateway."""
        net = self.network
        nat = net.nat_gateways[route.target_id]
        subnet = net.subnets[nat.subnet_id]
        passed = self.through_acl(self.forward, subnet, header, egress=False)
        if passed is None:
            return False
        translated = replace(passed, source=cidr(nat.private_ip or "0.0.0.0/0"))
        self.emit(self.forward, "natgateway", nat.nat_id, nat.vpc_id, OutboundHeader=translated.output())
        wanted = target.resource_id if target.kind == "igw" else None
        chosen = self.route(self.forward, subnet, translated, wanted)
        if chosen is None:
            return False
        onward, translated = chosen
        if onward.target_kind != "gateway":
            return self.no_route(subnet)
        leaving = self.through_acl(self.forward, subnet, translated, egress=True)
        if leaving is None:
            return False
        return self.to_internet(onward, leaving, target, nat.public_ip, nat.vpc_id)

    def through_peering(self, route: Route, subnet: Subnet, header: Header, target: _Target) -> bool:
        net = self.network
        peering = net.peerings[route.target_id]
        peer_vpc = peering.other_side(subnet.vpc_id)
        self.emit(self.forward, "vpc-peering-connection", peering.pcx_id, subnet.vpc_id,
                  SourceVpc=self.ref("vpc", subnet.vpc_id, subnet.vpc_id),
                  DestinationVpc=self.ref("vpc", peer_vpc, peer_vpc) if peer_vpc else None)
        if target.kind == "pcx":
            return target.resource_id == peering.pcx_id or self.no_route(subnet)
        interface = target.interface
        if interface is None or interface.vpc_id != peer_vpc or peer_vpc not in net.vpcs:
            return self.no_route(subnet)
        if not cidr(net.vpcs[peer_vpc].cidr).supernet_of(header.destination):
            return self.explain("PCX_REQUIRES_ADDRESS_IN_VPC_CIDR", peer_vpc,
                                VpcPeeringConnection=self.ref("vpc-peering-connection", peering.pcx_id, peer_vpc),
                                Cidrs=[net.vpcs[peer_vpc].cidr])
        if not self.arrive(interface, header, crossed=True):
            return False
        back = self.route(self.returning, net.subnets[interface.subnet_id], header.reply(), peering.pcx_id)
        if back is None:
            return False
        return back[0].target_id == peering.pcx_id or self.no_route(net.subnets[interface.subnet_id])

    def at_gateway_endpoint(self, route: Route, subnet: Subnet, target: _Target) -> bool:
        if target.kind != "gateway-endpoint" or target.resource_id != route.target_id:
            return self.no_route(subnet)
        self.emit(self.forward, "vpc-endpoint", route.target_id, subnet.vpc_id)
        return True

    def from_internet(self, igw: str, target: _Target) -> bool:
        """From an internet gateway to an interface: it must be attached to the interface's VPC, and the
        interface must have a public address for it to translate."""
        net, query = self.network, self.query
        interface = target.interface
        if interface is None:
            return self.explain("UNSUPPORTED_COMPONENT", Component={"Id": query.destination})
        vpc_id = net.internet_gateways.get(igw, "")
        if not vpc_id:
            return self.explain("UNASSOCIATED_COMPONENT", Component=self.ref("internet-gateway", igw, None))
        if vpc_id != interface.vpc_id:
            return self.explain("DISCONNECTED_VPCS", SourceVpc=self.ref("vpc", vpc_id, vpc_id),
                                DestinationVpc=self.ref("vpc", interface.vpc_id, interface.vpc_id))
        if interface.public_ip is None or interface.primary_ip is None or not interface.attached:
            return self.explain("IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS", vpc_id,
                                InternetGateway=self.ref("internet-gateway", igw, vpc_id),
                                NetworkInterface=self.ref("network-interface", interface.eni_id, vpc_id))
        source = cidr(query.source_ip) if query.source_ip else ANYWHERE
        header = self.initial_header(source, replace(target, interface=None))
        header = replace(header, destination=cidr(interface.public_ip))
        self.probe = replace(self.probe, destination_eni=interface.eni_id, destination_address=interface.public_ip,
                             source_address=query.source_ip)
        self.emit(self.forward, "internet-gateway", igw, vpc_id, OutboundHeader=header.output())
        translated = replace(header, destination=cidr(interface.primary_ip))
        if not self.arrive(interface, translated, crossed=True):
            return False
        subnet = net.subnets[interface.subnet_id]
        back = self.route(self.returning, subnet, translated.reply(), igw)
        if back is None:
            return False
        if back[0].target_id != igw:
            return self.no_route(subnet)
        return self.check_return()

    def check_return(self) -> bool:
        """The answer through every network ACL the request crossed, the other way, last crossed first."""
        for crossing in reversed(self.crossings):
            if self.through_acl(self.returning, crossing.subnet, crossing.header.reply(),
                                egress=not crossing.egress) is None:
                return False
        return True



def _filtered(header: Header, path_filter: dict[str, Any]) -> Header:
    """``header`` restricted by a ``PathFilter`` (addresses and port ranges)."""
    if path_filter.get("SourceAddress"):
        header = replace(header, source=cidr(path_filter["SourceAddress"]))
    if path_filter.get("DestinationAddress"):
        header = replace(header, destination=cidr(path_filter["DestinationAddress"]))
    for member, name in (("SourcePortRange", "source_ports"), ("DestinationPortRange", "destination_ports")):
        ports = path_filter.get(member)
        if ports:
            header = replace(header, **{name: (ports.get("FromPort", 0), ports.get("ToPort", 65535))})
    return header
