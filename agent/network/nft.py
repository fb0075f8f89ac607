"""nftables rulesets, as text, for the namespaces of the VPC dataplane (pure: document in, ruleset out).

One text per namespace, loaded with one ``nft -f``: it recreates the agent's tables inside a single
transaction (``table``; ``delete table``; ``table { … }``), so an update is atomic and conntrack survives it.

The VPC router namespace holds, in the order a forwarded packet meets them:

* ``bridge cloudlet`` (bridge prerouting): anti-spoofing per instance port (MAC, IPv4/IPv6 source, ARP),
  so that source addresses are trustworthy for everything below.
* ``inet cloudlet``:
  - ``eip_in``/``eip_out`` (nat): Elastic IPs, 1:1 ``dnat``/``snat`` by maps on the uplink veth.
  - ``edge`` (forward, -20): no transit between edges (non-transitive peering, no IGW<->peer), no Internet
    for an address without a public IP, unsolicited IPv4 from the Internet only when translated, unsolicited
    IPv6 only to subnets that route through an IGW (an egress-only IGW lets replies in, nothing else),
    peer traffic only from the peer's CIDRs.
  - ``nacl`` (forward, -10): stateless, per subnet direction, rule-number order, ``*`` deny at the end;
    traffic that stays inside one subnet is not subject to ACLs.
  - ``sg_out`` (forward, 0) and ``sg_in`` (forward, 10): stateful security groups. Under br_netfilter the
    forward hook sees only the bridge, so ENIs are selected by address: a verdict map from source address
    to the ENI's egress chain and from destination address to its ingress chain (ENIs with the same
    groups share that chain); it jumps to each group's chain and drops what none of them accepts. Referenced groups and prefix lists are named
    sets. ``ct state established,related accept`` comes first, so return traffic needs no rule.
  - ``router`` (input): DHCP, metadata and ICMP to the implicit router from the subnets, DNS to the VPC
    resolver's addresses when ``enableDnsSupport`` is on; nothing else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from agent.contract import cidr
from agent.contract.network import Eni, HostNetwork, NaclEntry, NatGateway, SgRule, Vpc
from agent.network import naming
from agent.network.routes import route_table_of

TABLE = "cloudlet"
ND_TYPES = "nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert"
_PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}
_PROTOCOL_NAMES = {number: name for name, number in _PROTOCOL_NUMBERS.items()}


class RulesetError(ValueError):
    """A rule the dataplane cannot express (unknown protocol, bad port range)."""


# --- small renderers ---------------------------------------------------------------------------------------


def protocol_name(protocol: str) -> str | None:
    """Normalise an EC2 protocol (``-1``, ``tcp``, ``6``…) to an nft name or number; None means all."""
    text = str(protocol).lower()
    if text in ("-1", "all"):
        return None
    if text.isdigit():
        return _PROTOCOL_NAMES.get(int(text), text)
    if text in _PROTOCOL_NUMBERS:
        return text
    raise RulesetError(f"unsupported protocol {protocol!r}")


def l4_match(protocol: str, from_port: int, to_port: int) -> str:
    """The transport part of a rule: ports for TCP/UDP, type/code for ICMP, nothing for ``-1``."""
    name = protocol_name(protocol)
    if name is None:
        return ""
    if name in ("tcp", "udp"):
        if from_port in (-1, None) or (from_port <= 0 and to_port >= 65535):
            return f"meta l4proto {name}"
        if not 0 <= from_port <= to_port <= 65535:
            raise RulesetError(f"invalid port range {from_port}-{to_port}")
        ports = str(from_port) if from_port == to_port else f"{from_port}-{to_port}"
        return f"{name} dport {ports}"
    if name in ("icmp", "icmpv6"):
        parts = [f"meta l4proto {name}"]
        if from_port not in (-1, None):
            parts.append(f"{name} type {from_port}")
            if to_port not in (-1, None):
                parts.append(f"{name} code {to_port}")
        return " ".join(parts)
    return f"meta l4proto {name}"


def addr_match(direction: str, block: str) -> str:
    """``ip saddr 10.0.0.0/16``; the all-addresses blocks only pin the family."""
    net = cidr.network(block)
    if net.prefixlen == 0:
        return "meta nfproto ipv4" if net.version == 4 else "meta nfproto ipv6"
    return f"{'ip' if net.version == 4 else 'ip6'} {direction} {net}"


def collapse(addresses: Iterable[str], version: int) -> list[str]:
    """Deduplicate and merge addresses/CIDRs of one family (nft interval sets refuse overlaps)."""
    nets = [ipaddress.ip_network(a, strict=False) for a in addresses if cidr.family(a) == version]
    return [str(net) for net in ipaddress.collapse_addresses(nets)]  # type: ignore[arg-type]


def names(items: Iterable[str]) -> str:
    return "{ " + ", ".join(f'"{item}"' for item in items) + " }"


def elements(items: Iterable[str]) -> str:
    return "{ " + ", ".join(items) + " }"


def _set(name: str, version: int, members: list[str]) -> list[str]:
    kind = "ipv4_addr" if version == 4 else "ipv6_addr"
    body = [f"\tset {name} {{", f"\t\ttype {kind}; flags interval;"]
    if members:
        body.append(f"\t\telements = {elements(members)}")
    return [*body, "\t}"]


# --- security groups ---------------------------------------------------------------------------------------


def sg_rule_lines(rule: SgRule, ingress: bool, doc: HostNetwork) -> list[str]:
    """The nft rules (0, 1 or 2: one per family) that accept what one SG rule allows."""
    direction = "saddr" if ingress else "daddr"
    l4 = l4_match(rule.protocol, rule.from_port, rule.to_port)
    peers: list[str] = []
    if rule.cidr:
        peers.append(addr_match(direction, rule.cidr))
    for kind, ref, pool in (("sg", rule.group_id, doc.group_members), ("pl", rule.prefix_list_id, doc.prefix_lists)):
        if ref:
            for version, family in ((4, "ip"), (6, "ip6")):
                if collapse(pool.get(ref, []), version):
                    peers.append(f"{family} {direction} @{kind}_{naming.nft_id(ref)}_{version}")
    return [" ".join(part for part in (peer, l4, "accept") if part) for peer in peers]


def referenced_sets(doc: HostNetwork, vpc: Vpc) -> list[str]:
    """Named sets for the groups and prefix lists the VPC's rules refer to (empty families skipped)."""
    groups, lists = set(), set()
    for group in vpc.security_groups:
        for rule in group.ingress + group.egress:
            if rule.group_id:
                groups.add(rule.group_id)
            if rule.prefix_list_id:
                lists.add(rule.prefix_list_id)
    lines: list[str] = []
    for kind, refs, pool in (("sg", groups, doc.group_members), ("pl", lists, doc.prefix_lists)):
        for ref in sorted(refs):
            for version in (4, 6):
                members = collapse(pool.get(ref, []), version)
                if members:
                    lines += _set(f"{kind}_{naming.nft_id(ref)}_{version}", version, members)
    return lines


def eni_addresses(eni: Eni) -> list[str]:
    return [*eni.private_ips, *eni.ipv6_addresses]


def _security_chains(doc: HostNetwork, vpc: Vpc) -> tuple[list[str], dict[str, list[str]]]:
    """Group and ENI chains, and the verdict-map elements that select ENI chains by address."""
    lines: list[str] = []
    known = {group.id for group in vpc.security_groups}
    for group in vpc.security_groups:
        for direction, rules, ingress in (("in", group.ingress, True), ("out", group.egress, False)):
            lines.append(f"\tchain sg_{naming.nft_id(group.id)}_{direction} {{")
            for rule in rules:
                lines += [f"\t\t{line}" for line in sg_rule_lines(rule, ingress, doc)]
            lines.append("\t}")
    maps: dict[str, list[str]] = {"in4": [], "in6": [], "out4": [], "out6": []}
    # ENIs with the same groups share one chain pair: the verdict maps still pick it per ENI address, and a
    # thousand ENIs of one group cost a thousand map elements, not two thousand chains.
    chains: dict[tuple[str, ...], str] = {}
    for eni in vpc.enis:
        if not eni.filtered:
            continue  # no verdict: its traffic is accepted like the router's
        groups = tuple(group_id for group_id in eni.security_group_ids if group_id in known)
        if groups not in chains:
            chain = chains[groups] = f"enis_{naming.digest(','.join(groups), 12)}"
            for direction in ("in", "out"):
                lines.append(f"\tchain {chain}_{direction} {{")
                lines += [f"\t\tjump sg_{naming.nft_id(group_id)}_{direction}" for group_id in groups]
                lines += ["\t\tdrop", "\t}"]
        for direction in ("in", "out"):
            for ip in eni_addresses(eni):
                maps[f"{direction}{cidr.family(ip)}"].append(f"{ip} : jump {chains[groups]}_{direction}")
    return lines, maps


# --- network ACLs --------------------------------------------------------------------------------------------


def nacl_entry_line(entry: NaclEntry) -> str:
    """One NACL entry: allow returns to the base chain (next check), deny drops."""
    direction = "daddr" if entry.egress else "saddr"
    if entry.action not in ("allow", "deny"):
        raise RulesetError(f"NACL rule {entry.rule_number}: action {entry.action!r} is not allow/deny")
    parts = [addr_match(direction, entry.cidr), l4_match(entry.protocol, entry.from_port, entry.to_port),
             "return" if entry.action == "allow" else "drop"]
    return " ".join(part for part in parts if part)


def _nacl_chains(vpc: Vpc) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Chains per ACL direction, and which chain each subnet bridge uses leaving and entering the subnet."""
    lines: list[str] = []
    acls = {acl.id: acl for acl in vpc.network_acls}
    used: set[str] = set()
    leaving: dict[str, str] = {}
    entering: dict[str, str] = {}
    for subnet in vpc.subnets:
        acl_id = subnet.network_acl_id or vpc.default_network_acl_id
        bridge = naming.subnet_bridge(subnet.id)
        leaving[bridge] = f"nacl_{naming.nft_id(acl_id)}_out"
        entering[bridge] = f"nacl_{naming.nft_id(acl_id)}_in"
        used.add(acl_id)
    for acl_id in sorted(used):
        entries = acls[acl_id].entries if acl_id in acls else []
        for direction, egress in (("in", False), ("out", True)):
            lines.append(f"\tchain nacl_{naming.nft_id(acl_id)}_{direction} {{")
            ordered = sorted((e for e in entries if e.egress == egress), key=lambda e: e.rule_number)
            lines += [f"\t\t{nacl_entry_line(entry)}" for entry in ordered]
            lines += ["\t\tdrop", "\t}"]
    return lines, leaving, entering


# --- the router namespace -------------------------------------------------------------------------------------


def _v6_internet_bridges(vpc: Vpc) -> list[str]:
    """Bridges of subnets whose table sends some IPv6 prefix to the IGW: the Internet may open flows to them."""
    bridges = []
    for subnet in vpc.subnets:
        table = route_table_of(vpc, subnet)
        if any(r.target == vpc.internet_gateway_id and r.state == "active" and cidr.family(r.destination) == 6
               for r in table.routes if vpc.internet_gateway_id):
            bridges.append(naming.subnet_bridge(subnet.id))
    return bridges


def _edge_rules(vpc: Vpc, bridges: list[str]) -> list[str]:
    up = naming.UPLINK_INSIDE
    rules = []
    if bridges:
        rules.append(f"iifname != {names(bridges)} oifname != {names(bridges)} drop")
    rules += [
        f'oifname "{up}" meta nfproto ipv4 ip saddr != @eip_private drop',
        f'iifname "{up}" meta nfproto ipv4 ct status & (snat | dnat) == 0 drop',
    ]
    open_v6 = _v6_internet_bridges(vpc)
    if open_v6:
        rules.append(f'iifname "{up}" meta nfproto ipv6 ct state new oifname != {names(open_v6)} drop')
    else:
        rules.append(f'iifname "{up}" meta nfproto ipv6 ct state new drop')
    for peering in vpc.peerings:
        link = naming.peering_link(peering.id)
        for version, family, blocks in ((4, "ip", peering.peer_cidrs), (6, "ip6", peering.peer_ipv6_cidrs)):
            allowed = collapse(blocks, version)
            nfproto = "ipv4" if version == 4 else "ipv6"
            if allowed:
                rules.append(f'iifname "{link}" meta nfproto {nfproto} {family} saddr != {elements(allowed)} drop')
            else:
                rules.append(f'iifname "{link}" meta nfproto {nfproto} drop')
    return rules


def router_ruleset(doc: HostNetwork, vpc: Vpc) -> str:
    """The whole ruleset of a VPC's router namespace (inet and bridge tables), one atomic transaction."""
    bridges = [naming.subnet_bridge(subnet.id) for subnet in vpc.subnets]
    eips = sorted(vpc.elastic_ips, key=lambda e: e.public_ip)
    sg_lines, maps = _security_chains(doc, vpc)
    nacl_lines, leaving, entering = _nacl_chains(vpc)
    up = naming.UPLINK_INSIDE

    lines = [f"table inet {TABLE}", f"delete table inet {TABLE}", f"table inet {TABLE} {{"]
    lines += referenced_sets(doc, vpc)
    lines += _set("eip_private", 4, collapse((e.private_ip for e in eips), 4))
    for name, pairs in (("eip_dnat", [f"{e.public_ip} : {e.private_ip}" for e in eips]),
                        ("eip_snat", [f"{e.private_ip} : {e.public_ip}" for e in eips])):
        lines += [f"\tmap {name} {{", "\t\ttype ipv4_addr : ipv4_addr;"]
        if pairs:
            lines.append(f"\t\telements = {elements(pairs)}")
        lines.append("\t}")
    for name, version in (("in4", 4), ("in6", 6), ("out4", 4), ("out6", 6)):
        lines += [f"\tmap eni_{name} {{", f"\t\ttype {'ipv4_addr' if version == 4 else 'ipv6_addr'} : verdict;"]
        if maps[name]:
            lines.append(f"\t\telements = {elements(maps[name])}")
        lines.append("\t}")

    lines += ["\tchain eip_in {", "\t\ttype nat hook prerouting priority dstnat; policy accept;",
              f'\t\tiifname "{up}" dnat ip to ip daddr map @eip_dnat', "\t}",
              "\tchain eip_out {", "\t\ttype nat hook postrouting priority srcnat; policy accept;",
              f'\t\toifname "{up}" snat ip to ip saddr map @eip_snat', "\t}"]

    lines += ["\tchain edge {", "\t\ttype filter hook forward priority -20; policy accept;"]
    lines += [f"\t\t{rule}" for rule in _edge_rules(vpc, bridges)]
    lines.append("\t}")

    lines += ["\tchain nacl {", "\t\ttype filter hook forward priority -10; policy accept;"]
    if bridges:
        same = ", ".join(f'"{b}" . "{b}"' for b in bridges)
        lines.append(f"\t\tiifname . oifname {{ {same} }} accept")
        lines.append(f"\t\tiifname vmap {{ {', '.join(f'{chr(34)}{b}{chr(34)} : jump {leaving[b]}' for b in bridges)} }}")
        lines.append(f"\t\toifname vmap {{ {', '.join(f'{chr(34)}{b}{chr(34)} : jump {entering[b]}' for b in bridges)} }}")
    lines.append("\t}")
    lines += nacl_lines

    for direction, priority, field in (("out", 0, "saddr"), ("in", 10, "daddr")):
        lines += [f"\tchain sg_{direction} {{", f"\t\ttype filter hook forward priority {priority}; policy accept;",
                  "\t\tct state established,related accept",
                  f"\t\ticmpv6 type {{ {ND_TYPES} }} accept",
                  f"\t\tip {field} vmap @eni_{direction}4",
                  f"\t\tip6 {field} vmap @eni_{direction}6", "\t}"]
    lines += sg_lines

    lines += ["\tchain router {", "\t\ttype filter hook input priority 0; policy drop;",
              "\t\tct state established,related accept", '\t\tiifname "lo" accept',
              f"\t\ticmpv6 type {{ {ND_TYPES} }} accept"]
    if bridges:
        lines.append(f"\t\tiifname {names(bridges)} udp dport {{ 67, 547 }} accept")
        if vpc.dns is not None:
            # The resolver answers only at its own addresses (dnsmasq also binds the subnet routers').
            resolver = f"ip daddr {{ {', '.join(vpc.dns.addresses)} }}"
            lines += [f"\t\tiifname {names(bridges)} {resolver} udp dport 53 accept",
                      f"\t\tiifname {names(bridges)} {resolver} tcp dport 53 accept"]
        relayed = sorted({e.address for e in vpc.endpoints if e.kind == "gateway"})
        if relayed:  # the API relay of gateway VPC endpoints (routes.py delivers it here only where routed)
            lines.append(f"\t\tiifname {names(bridges)} ip daddr {{ {', '.join(relayed)} }} tcp dport {{ 80, 443 }} "
                         "accept")
        lines += [f"\t\tiifname {names(bridges)} ip daddr {naming.METADATA_V4} tcp dport 80 accept",
                  f"\t\tiifname {names(bridges)} icmp type echo-request accept",
                  f"\t\tiifname {names(bridges)} icmpv6 type echo-request accept"]
    lines += ["\t}", "}"]
    lines += bridge_ruleset(vpc)
    return "\n".join(lines) + "\n"


def bridge_ruleset(vpc: Vpc) -> list[str]:
    """Anti-spoofing per instance port: only the ENI's MAC and addresses (plus the DHCP and DAD sources),
    no rogue DHCP servers or router adverts. Source/dest check off lifts the IP checks, never the MAC one.

    Ports and their allowed sources live in concatenated sets (port . address), not per-port chains, so a
    thousand ports cost a thousand set elements rather than a thousand chains with anonymous sets."""
    lines = [f"table bridge {TABLE}", f"delete table bridge {TABLE}", f"table bridge {TABLE} {{"]
    ports = [(eni.attachment.port, eni) for eni in vpc.enis if eni.attachment]
    ports += [(naming.nat_port(nat.id), _nat_as_eni(nat)) for nat in vpc.nat_gateways if nat.local]
    guarded = [f'"{port}"' for port, _ in ports]
    unchecked = [f'"{port}"' for port, eni in ports if not eni.source_dest_check]
    macs = [f'"{port}" . {eni.mac.lower()}' for port, eni in ports]
    # An ENI's own addresses never overlap each other or these fixed sources, so no collapsing is needed.
    ip4 = [f'"{port}" . {ip}' for port, eni in ports for ip in sorted({*eni.private_ips, "0.0.0.0"})]
    ip6 = [f'"{port}" . {ip}' for port, eni in ports for ip in sorted({*eni.ipv6_addresses, "fe80::/10", "::"})]
    for name, kind, members, interval in (("guarded", "ifname", guarded, False),
                                          ("unchecked", "ifname", unchecked, False),
                                          ("port_mac", "ifname . ether_addr", macs, False),
                                          ("port_ip4", "ifname . ipv4_addr", ip4, True),
                                          ("port_ip6", "ifname . ipv6_addr", ip6, True)):
        lines += [f"\tset {name} {{", f"\t\ttype {kind};" + (" flags interval;" if interval else "")]
        if members:
            lines.append(f"\t\telements = {elements(members)}")
        lines.append("\t}")
    lines += ["\tchain ports {", "\t\ttype filter hook prerouting priority -200; policy accept;",
              "\t\tiifname != @guarded accept",
              "\t\tiifname . ether saddr != @port_mac drop",
              "\t\tether type arp iifname . arp saddr ether != @port_mac drop",
              "\t\tudp sport { 67, 547 } drop",
              "\t\ticmpv6 type nd-router-advert drop",
              "\t\tiifname @unchecked accept",
              "\t\tether type arp iifname . arp saddr ip != @port_ip4 drop",
              "\t\tether type ip iifname . ip saddr != @port_ip4 drop",
              "\t\tether type ip6 iifname . ip6 saddr != @port_ip6 drop", "\t}"]
    return [*lines, "}"]


def _nat_as_eni(nat: NatGateway) -> Eni:
    """A NAT gateway's port is guarded like an ENI whose source/dest check is off (it forwards for others)."""
    return Eni(id=nat.id, subnet_id=nat.subnet_id, mac=nat.mac, private_ips=[nat.private_ip],
               source_dest_check=False)


# --- NAT gateway namespace -------------------------------------------------------------------------------------


def nat_ruleset(vpc: Vpc, nat: NatGateway) -> str:
    """Masquerade VPC traffic to the NAT gateway's private address; nothing unsolicited gets in."""
    inside = elements(collapse(vpc.cidrs, 4))
    dev = naming.NAT_INSIDE
    return "\n".join([
        f"table inet {TABLE}", f"delete table inet {TABLE}", f"table inet {TABLE} {{",
        "\tchain forward {", "\t\ttype filter hook forward priority 0; policy drop;",
        "\t\tct state established,related accept",
        f'\t\tiifname "{dev}" oifname "{dev}" ip saddr {inside} ip daddr != {inside} accept', "\t}",
        "\tchain input {", "\t\ttype filter hook input priority 0; policy drop;",
        "\t\tct state established,related accept",
        f"\t\tip saddr {inside} icmp type echo-request accept", "\t}",
        "\tchain nat_out {", "\t\ttype nat hook postrouting priority srcnat; policy accept;",
        f'\t\toifname "{dev}" ip saddr {inside} ip saddr != {nat.private_ip} ip daddr != {inside} '
        f"snat ip to {nat.private_ip}", "\t}",
        "}"]) + "\n"
