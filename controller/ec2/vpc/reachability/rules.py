"""Which security group rule, network ACL entry or route a packet header meets (pure).

A path names at least its source and protocol; whatever it leaves open (the destination port, an internet
address) is a range, as in AWS's ``AnalysisPacketHeader``. A header is therefore a set of packets: addresses
are CIDRs (a known address is a /32) and ports are ranges. An allow rule admits the header when it admits
*some* of its packets, and narrows the header to those (so the next hop judges only packets that got this
far); a deny rule stops the header only when it covers *all* of them. This finds a feasible path when one
exists, as Reachability Analyzer promises, without enumerating packets.

Security group and network ACL ports always describe the destination port, in both directions.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, replace

from controller.ec2.vpc.reachability.snapshot import AclEntry, Interface, Network, Route, SgRule

Cidr = ipaddress.IPv4Network
Ports = tuple[int, int]
ALL_PORTS: Ports = (0, 65535)
#: The ports a client's operating system picks its source port from, as AWS's analysis assumes.
EPHEMERAL_PORTS: Ports = (1024, 65535)
PROTOCOL_NUMBERS = {"tcp": "6", "udp": "17"}
ANYWHERE = ipaddress.IPv4Network("0.0.0.0/0")
#: The number of the deny-everything entry that ends every network ACL (EC2 shows it, never stores it).
CATCH_ALL_RULE = 32767


def cidr(text: str) -> Cidr:
    return ipaddress.IPv4Network(text, strict=False)


@dataclass(frozen=True)
class Header:
    """The packets still feasible at one hop: ``protocol`` is a number (``6`` or ``17``)."""

    source: Cidr
    destination: Cidr
    protocol: str
    source_ports: Ports = EPHEMERAL_PORTS
    destination_ports: Ports = ALL_PORTS

    def reply(self) -> Header:
        """The answer's packets: addresses and ports swapped."""
        return Header(self.destination, self.source, self.protocol, self.destination_ports, self.source_ports)

    def output(self) -> dict[str, object]:
        """AWS's ``AnalysisPacketHeader``."""
        return {"SourceAddresses": [str(self.source)], "DestinationAddresses": [str(self.destination)],
                "Protocol": self.protocol, "SourcePortRanges": [_range(self.source_ports)],
                "DestinationPortRanges": [_range(self.destination_ports)]}


def _range(ports: Ports) -> dict[str, int]:
    return {"From": ports[0], "To": ports[1]}


def _address_overlap(rule: Cidr, scope: Cidr, deny: bool) -> Cidr | None:
    """The part of ``scope`` a rule for ``rule`` meets: all of it or nothing for a deny (see the module)."""
    if rule.supernet_of(scope):
        return scope
    if not deny and scope.supernet_of(rule):
        return rule
    return None


def _port_overlap(low: int, high: int, scope: Ports, deny: bool) -> Ports | None:
    if low <= scope[0] and scope[1] <= high:
        return scope
    if deny or high < scope[0] or scope[1] < low:
        return None
    return max(low, scope[0]), min(high, scope[1])


def _protocol_matches(rule_protocol: str, protocol: str) -> bool:
    return rule_protocol == "-1" or PROTOCOL_NUMBERS.get(rule_protocol, rule_protocol) == protocol


# --- security groups ---------------------------------------------------------------------------------------


def _sg_peer(network: Network, rule: SgRule, scope: Cidr) -> Cidr | None:
    if rule.cidr:
        return _address_overlap(cidr(rule.cidr), scope, deny=False)
    if rule.prefix_list_id:
        return next((found for c in network.prefix_lists.get(rule.prefix_list_id, ())
                     if (found := _address_overlap(cidr(c), scope, deny=False)) is not None), None)
    if rule.referenced_group_id and scope.num_addresses == 1:
        members = network.group_members.get(rule.referenced_group_id, frozenset())
        return scope if str(scope.network_address) in members else None
    return None


def security_group_rule(network: Network, interface: Interface, header: Header,
                        egress: bool) -> tuple[SgRule, Header] | None:
    """The first rule of the interface's groups that admits some of ``header`` (egress: to its destination,
    ingress: from its source), with the header narrowed to what it admits; None when no rule does."""
    for group_id in interface.group_ids:
        for rule in network.group_rules.get(group_id, ()):
            if rule.egress != egress or not _protocol_matches(rule.protocol, header.protocol):
                continue
            ports = header.destination_ports
            if rule.protocol != "-1":
                ports = _port_overlap(rule.from_port, rule.to_port, ports, deny=False)
            peer = _sg_peer(network, rule, header.destination if egress else header.source)
            if ports is None or peer is None:
                continue
            narrowed = replace(header, destination=peer) if egress else replace(header, source=peer)
            return rule, replace(narrowed, destination_ports=ports)
    return None


def sg_rule_output(rule: SgRule) -> dict[str, object]:
    """AWS's ``AnalysisSecurityGroupRule``."""
    found: dict[str, object] = {"Direction": "egress" if rule.egress else "ingress", "SecurityGroupId": rule.group_id,
                                "Protocol": rule.protocol}
    if rule.protocol != "-1":
        found["PortRange"] = _range((rule.from_port, rule.to_port))
    if rule.cidr:
        found["Cidr"] = rule.cidr
    if rule.prefix_list_id:
        found["PrefixListId"] = rule.prefix_list_id
    return found


# --- network ACLs ------------------------------------------------------------------------------------------


def acl_entry(network: Network, acl_id: str, header: Header, egress: bool) -> tuple[AclEntry, Header | None]:
    """The entry that decides ``header`` leaving (egress) or entering a subnet, lowest rule number first (the
    catch-all deny when none does), and the narrowed header it lets through (None when it denies)."""
    for entry in network.acl_entries.get(acl_id, ()):
        if entry.egress != egress or entry.cidr is None or not _protocol_matches(entry.protocol, header.protocol):
            continue
        deny = entry.action == "deny"
        ports: Ports | None = header.destination_ports
        if entry.port_from is not None and entry.port_to is not None:
            ports = _port_overlap(entry.port_from, entry.port_to, header.destination_ports, deny)
        peer = _address_overlap(cidr(entry.cidr), header.destination if egress else header.source, deny)
        if ports is None or peer is None:
            continue
        if deny:
            return entry, None
        narrowed = replace(header, destination=peer) if egress else replace(header, source=peer)
        return entry, replace(narrowed, destination_ports=ports)
    return AclEntry(CATCH_ALL_RULE, egress, "-1", "deny", str(ANYWHERE)), None


def acl_rule_output(entry: AclEntry) -> dict[str, object]:
    """AWS's ``AnalysisAclRule``."""
    found: dict[str, object] = {"Cidr": entry.cidr, "Egress": entry.egress, "Protocol": entry.protocol,
                                "RuleAction": entry.action, "RuleNumber": entry.rule_number}
    if entry.port_from is not None:
        found["PortRange"] = _range((entry.port_from, entry.port_to or entry.port_from))
    return found


# --- routes --------------------------------------------------------------------------------------------------


def route_for(routes: Iterable[Route], header: Header, target_id: str | None = None) -> tuple[Route, Header] | None:
    """The route a route table picks for ``header``: the longest prefix holding all of its destinations.

    When none holds them all (a destination left open, such as "the peer VPC" or "the internet"), the
    most specific route to ``target_id`` that holds some of them, with the destination narrowed to it.
    """
    candidates = [(route, cidr(c)) for route in routes for c in route.cidrs]
    holding = [(r, c) for r, c in candidates if c.supernet_of(header.destination)]
    if holding:
        route, _ = max(holding, key=lambda rc: (rc[1].prefixlen, not rc[0].destination.startswith("pl-")))
        return route, header
    towards = [(r, c) for r, c in candidates if r.target_id == target_id and header.destination.supernet_of(c)]
    if not towards:
        return None
    route, block = max(towards, key=lambda rc: rc[1].prefixlen)
    return route, replace(header, destination=block)


#: Where a route target's id goes in ``AnalysisRouteTableRoute``.
_TARGET_MEMBERS = {"local": "GatewayId", "gateway": "GatewayId", "vpc-endpoint": "GatewayId", "nat": "NatGatewayId",
                   "egress-only": "EgressOnlyInternetGatewayId", "peering": "VpcPeeringConnectionId",
                   "interface": "NetworkInterfaceId", "instance": "NetworkInterfaceId"}


def route_output(route: Route) -> dict[str, object]:
    """AWS's ``AnalysisRouteTableRoute``."""
    found: dict[str, object] = {"Origin": route.origin, "State": route.state,
                                _TARGET_MEMBERS[route.target_kind]: route.target_id}
    found["DestinationPrefixListId" if route.destination.startswith("pl-") else "DestinationCidr"] = route.destination
    return found
