"""Consistency checks on a document before anything is touched (pure).

The controller validates API calls with AWS's errors; this is the agent's own guard: a document that breaks
an invariant the dataplane relies on (an address outside its subnet, a reserved address handed out, a
peering whose other side is missing, a lab uplink overlapping the host's real network, an EIP outside the
public pool) is refused whole, with every problem listed, instead of half-applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from agent.contract import cidr
from agent.contract.network import HostNetwork, Vpc
from agent.network import naming

MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
ATTACHMENT_KINDS = ("tap", "veth", "service")


class DocumentError(ValueError):
    """The document is inconsistent; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def problems(doc: HostNetwork, host_networks: Iterable[str] = ()) -> list[str]:
    """Every inconsistency of ``doc``; ``host_networks`` are the host's own networks the lab must avoid."""
    found = _uplink_problems(doc, list(host_networks))
    vpc_ids = {vpc.id for vpc in doc.vpcs}
    if len(vpc_ids) != len(doc.vpcs):
        found.append("duplicate VPC ids")
    ports: set[str] = set()
    for vpc in doc.vpcs:
        found += [f"{vpc.id}: {problem}" for problem in _vpc_problems(doc, vpc, ports)]
    return found


def _uplink_problems(doc: HostNetwork, host_networks: list[str]) -> list[str]:
    """The lab segment must stay off the host's networks in every mode; the pool too in lab mode (in nat and
    bridge modes it is made of the LAN's addresses on purpose, but must stay off the lab segment)."""
    uplink = doc.uplink
    try:
        pool = cidr.pool_networks(uplink.public_pool)
    except cidr.CidrError as exc:
        return [f"public pool: {exc}"]
    blocks = [("Internet", uplink.internet_cidr)] + ([("public pool", block) for block in pool]
                                                     if uplink.mode == "lab" else [])
    found = [f"lab uplink {label} {block} overlaps the host's network {own}"
             for label, block in blocks for own in host_networks if cidr.overlaps(block, own)]
    if uplink.mode != "lab":
        found += [f"{uplink.mode} uplink public pool {block} overlaps the lab Internet {uplink.internet_cidr}"
                  for block in pool if cidr.overlaps(block, uplink.internet_cidr)]
    return found


def check(doc: HostNetwork, host_networks: Iterable[str] = ()) -> None:
    found = problems(doc, host_networks)
    if found:
        raise DocumentError(found)


class _Assignable:
    """``cidr.is_assignable`` for one subnet, parsed once (documents carry thousands of ENIs)."""

    def __init__(self, block: str) -> None:
        self.network = cidr.network(block)
        self.reserved = set(cidr.reserved_addresses(block))

    def accepts(self, ip: str) -> bool:
        try:
            parsed = cidr.address(ip)
        except cidr.CidrError:
            return False
        return parsed.version == self.network.version and parsed in self.network and str(parsed) not in self.reserved


def _vpc_problems(doc: HostNetwork, vpc: Vpc, ports: set[str]) -> list[str]:
    found: list[str] = []
    try:
        for block in vpc.cidrs:
            cidr.check_vpc_cidr(block)
    except cidr.CidrError as exc:
        return [str(exc)]
    tables = {table.id for table in vpc.route_tables}
    if vpc.main_route_table_id not in tables:
        found.append(f"main route table {vpc.main_route_table_id} is missing")
    subnets = {subnet.id: subnet for subnet in vpc.subnets}
    for i, subnet in enumerate(vpc.subnets):
        if not any(cidr.contains(block, subnet.cidr) for block in vpc.cidrs):
            found.append(f"subnet {subnet.id} {subnet.cidr} is outside the VPC's CIDRs")
        if subnet.ipv6_cidr and not any(cidr.contains(block, subnet.ipv6_cidr) for block in vpc.ipv6_cidrs):
            found.append(f"subnet {subnet.id} {subnet.ipv6_cidr} is outside the VPC's IPv6 CIDRs")
        for other in vpc.subnets[i + 1:]:
            if cidr.overlaps(subnet.cidr, other.cidr):
                found.append(f"subnets {subnet.id} and {other.id} overlap")
        if subnet.route_table_id and subnet.route_table_id not in tables:
            found.append(f"subnet {subnet.id}: route table {subnet.route_table_id} is missing")
    assignable = {subnet.id: _Assignable(subnet.cidr) for subnet in vpc.subnets}
    for eni in vpc.enis:
        subnet = subnets.get(eni.subnet_id)
        if subnet is None:
            found.append(f"ENI {eni.id}: subnet {eni.subnet_id} is missing")
            continue
        if not MAC.match(eni.mac):
            found.append(f"ENI {eni.id}: MAC {eni.mac!r} is malformed")
        if not eni.private_ips:
            found.append(f"ENI {eni.id} has no private address")
        for ip in eni.private_ips:
            if not assignable[subnet.id].accepts(ip):
                found.append(f"ENI {eni.id}: {ip} is not an assignable address of {subnet.cidr}")
        for ip in eni.ipv6_addresses:
            if not subnet.ipv6_cidr or not cidr.is_assignable(subnet.ipv6_cidr, ip):
                found.append(f"ENI {eni.id}: {ip} is not an assignable address of the subnet's IPv6 block")
        if eni.attachment:
            try:
                naming.check_ifname(eni.attachment.port)
            except ValueError as exc:
                found.append(f"ENI {eni.id}: {exc}")
            if eni.attachment.port in ports:
                found.append(f"ENI {eni.id}: port {eni.attachment.port} is used twice")
            ports.add(eni.attachment.port)
            if eni.attachment.kind not in ATTACHMENT_KINDS:
                found.append(f"ENI {eni.id}: attachment kind {eni.attachment.kind!r} is not one of "
                             f"{', '.join(ATTACHMENT_KINDS)}")
            if eni.attachment.kind == "veth" and not eni.attachment.instance_netns:
                found.append(f"ENI {eni.id}: a veth attachment needs instance_netns")
    for nat in vpc.nat_gateways:
        subnet = subnets.get(nat.subnet_id)
        if subnet is None or not cidr.is_assignable(subnet.cidr, nat.private_ip):
            found.append(f"NAT gateway {nat.id}: {nat.private_ip} is not assignable in subnet {nat.subnet_id}")
    for eip in vpc.elastic_ips:
        if not _in_pool(doc.uplink.public_pool, eip.public_ip):
            found.append(f"EIP {eip.public_ip} is outside the public pool {doc.uplink.public_pool} "
                         "or is its first address (the uplink's own)")
        if not any(cidr.contains(block, eip.private_ip) for block in vpc.cidrs):
            found.append(f"EIP {eip.public_ip}: {eip.private_ip} is outside the VPC")
    doc_vpcs = {other.id: other for other in doc.vpcs}
    for peering in vpc.peerings:
        peer = doc_vpcs.get(peering.peer_vpc_id)
        if peer is None or not any(p.id == peering.id for p in peer.peerings):
            found.append(f"peering {peering.id}: VPC {peering.peer_vpc_id} has no router here or no matching side")
        if any(cidr.overlaps(own, theirs) for own in vpc.cidrs for theirs in peering.peer_cidrs):
            found.append(f"peering {peering.id}: CIDRs overlap")
    return found


def _in_pool(pool: str, ip: str) -> bool:
    """``cidr.in_pool``, False for a malformed pool (reported once by ``_uplink_problems``)."""
    try:
        return cidr.in_pool(pool, ip)
    except cidr.CidrError:
        return False
