"""The document turned into the kernel objects of every namespace (pure): what ``apply`` converges to.

A ``HostPlan`` lists namespaces in the order they must be configured (the Internet first, then VPC
routers, then NAT gateways), each with its links, addresses, routes, policy rules, pinned neighbours, VXLAN
FDB entries, sysctls, nft ruleset and dnsmasq files. Every name, MAC and table number comes from
``naming``, so planning the same document twice gives the same plan: that is what lets a restarted agent
recognise and keep what it built.

Point-to-point veths (a VPC's uplink, peering links) carry no IPv4 address: routes use a fixed link-local
next hop ``onlink`` and the neighbour entry for it is pinned to the far end's MAC, so no ARP is ever needed
and the same next hop can be reused on every link.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.contract import cidr
from agent.contract.network import HostNetwork, NatGateway, Vpc
from agent.network import naming, nft
from agent.network.dhcp import DhcpConfig, dnsmasq_config, vpc_mtu
from agent.network.routes import KernelRoute, subnet_routes

MAIN_TABLE = 254
RULE_LOOKUP_PRIORITY = 1000
RULE_UNREACHABLE_PRIORITY = 2000
VXLAN_MTU = 1450
#: The Internet namespace's leg towards the host in nat/bridge modes.
UPLINK_LAN_LINK = "lan"

ROUTER_SYSCTLS = {
    "net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1",
    "net/ipv4/conf/all/rp_filter": "0", "net/ipv4/conf/default/rp_filter": "0",
    "net/ipv4/conf/all/send_redirects": "0", "net/ipv4/conf/default/send_redirects": "0",
    "net/bridge/bridge-nf-call-iptables": "1", "net/bridge/bridge-nf-call-ip6tables": "1",
}


@dataclass(frozen=True)
class Link:
    """An interface in a namespace. ``kind``: loopback | bridge | veth (made here, far end elsewhere) |
    peer (the far end of a veth made by another namespace's plan) | tap (made by compute, adopted) | vxlan."""

    name: str
    kind: str
    mac: str | None = None
    master: str | None = None
    mtu: int | None = None
    addresses: tuple[str, ...] = ()
    peer: str | None = None
    peer_netns: str | None = None
    peer_mac: str | None = None
    vni: int | None = None


@dataclass(frozen=True)
class Rule:
    """``ip [-6] rule add pref PRIORITY iif IIF lookup TABLE`` (or ``unreachable`` when table is None)."""

    family: int
    priority: int
    iif: str
    table: int | None


@dataclass(frozen=True)
class Neighbour:
    device: str
    ip: str
    mac: str


@dataclass(frozen=True)
class Proxy:
    """``ip neigh add proxy IP dev DEVICE``: answer ARP for ``ip`` on ``device`` (forwarding must be on)."""

    device: str
    ip: str


@dataclass(frozen=True)
class FdbEntry:
    """A VXLAN forwarding entry: frames for ``mac`` go to the host ``vtep`` (all zeros: flood list)."""

    device: str
    mac: str
    vtep: str


@dataclass
class NamespacePlan:
    name: str
    kind: str  # internet | router | nat
    vpc_id: str | None = None
    links: list[Link] = field(default_factory=list)
    routes: list[KernelRoute] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    neighbours: list[Neighbour] = field(default_factory=list)
    fdb: list[FdbEntry] = field(default_factory=list)
    proxies: list[Proxy] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    ruleset: str | None = None
    dhcp: DhcpConfig | None = None
    #: Bridges whose foreign ports are kept (the lab Internet's segment, where outside hosts plug in).
    open_bridges: tuple[str, ...] = ()


@dataclass(frozen=True)
class UplinkPlan:
    """Everything the nat/bridge leg needs, on both sides. ``internet_*`` go into the Internet namespace's
    plan; ``host_*`` are converged in the host namespace by ``agent.network.uplink.converge_host``."""

    mode: str
    host_netns: str | None
    host_link: str
    host_mac: str
    internet_mac: str
    pool: str
    master: str | None = None
    interface: str | None = None
    host_routes: tuple[KernelRoute, ...] = ()
    host_neighbours: tuple[Neighbour, ...] = ()
    host_proxies: tuple[Proxy, ...] = ()
    host_sysctls: tuple[tuple[str, str], ...] = ()
    host_table: str = ""
    host_ruleset: str | None = None
    internet_link: str = UPLINK_LAN_LINK
    internet_addresses: tuple[str, ...] = ()
    internet_routes: tuple[KernelRoute, ...] = ()
    internet_neighbours: tuple[Neighbour, ...] = ()
    internet_proxies: tuple[Proxy, ...] = ()
    internet_sysctls: tuple[tuple[str, str], ...] = ()
    internet_ruleset: str = ""
    public_ips: tuple[str, ...] = field(default=())


@dataclass
class HostPlan:
    namespaces: list[NamespacePlan]
    underlay_netns: str | None = None
    underlay_ip: str | None = None
    underlay_port: int = 4789
    #: The host namespace's side of a nat/bridge uplink (None: lab, the host is left alone).
    uplink: UplinkPlan | None = None

    def namespace(self, name: str) -> NamespacePlan:
        for plan in self.namespaces:
            if plan.name == name:
                return plan
        raise KeyError(name)


def plan_host(doc: HostNetwork, run_dir: str, uplink: UplinkPlan | None = None) -> HostPlan:
    """Every namespace of the document, in configuration order. ``uplink`` (nat/bridge modes) adds the
    Internet namespace's leg towards the user's LAN; None is the sealed lab."""
    internet = _internet_plan(doc, uplink)
    routers = [_router_plan(doc, vpc, f"{run_dir}/{naming.router_netns(doc.name_prefix, vpc.id)}")
               for vpc in doc.vpcs]
    nats = [_nat_plan(doc, vpc, nat) for vpc in doc.vpcs for nat in vpc.nat_gateways if nat.local]
    underlay = doc.underlay
    return HostPlan([internet, *routers, *nats], underlay.netns if underlay else None,
                    underlay.local_ip if underlay else None, underlay.port if underlay else 4789, uplink)


def has_uplink(vpc: Vpc) -> bool:
    return bool(vpc.internet_gateway_id or vpc.egress_only_gateway_id)


def _internet_plan(doc: HostNetwork, host: UplinkPlan | None) -> NamespacePlan:
    """The Internet namespace: the lab segment and every VPC's IGW veth in every mode; in nat/bridge mode
    also the ``lan`` leg (made by ``agent.network.uplink``) with its address, routes and proxy entries."""
    uplink = doc.uplink
    world = cidr.network(uplink.internet_cidr)
    world6 = cidr.network(uplink.internet_ipv6_cidr)
    plan = NamespacePlan(naming.internet_netns(doc.name_prefix), "internet", open_bridges=(naming.INTERNET_BRIDGE,),
                         sysctls={
        "net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1",
        "net/ipv4/conf/all/rp_filter": "0", "net/ipv4/conf/default/rp_filter": "0"},
                         ruleset=host.internet_ruleset if host else None)
    if host is not None:
        plan.links.append(Link(host.internet_link, "peer", mac=host.internet_mac, addresses=host.internet_addresses))
        plan.routes += host.internet_routes
        plan.neighbours += host.internet_neighbours
        plan.proxies += host.internet_proxies
        plan.sysctls.update(host.internet_sysctls)
    # The Cloudlet API's relay address (agent/network/api_relay.py listens there): local, so VPCs reach it
    # through their IGW or NAT gateway the way they reach the Internet.
    api = (f"{doc.api.address}/32",) if doc.api else ()
    plan.links += [Link("lo", "loopback", addresses=api),
                   Link(naming.INTERNET_BRIDGE, "bridge", mac=naming.mac_for("internet"),
                                                addresses=(f"{world.network_address + 1}/{world.prefixlen}",
                                                           f"{world6.network_address + 1}/{world6.prefixlen}"))]
    for vpc in doc.vpcs:
        if not has_uplink(vpc):
            continue
        outside = naming.uplink_outside(vpc.id)
        inside_mac = naming.mac_for(f"{vpc.id}:up")
        plan.links.append(Link(outside, "peer", mac=naming.mac_for(f"{vpc.id}:up-out")))
        plan.neighbours += [Neighbour(outside, naming.P2P_NEAR_V4, inside_mac),
                            Neighbour(outside, naming.P2P_NEAR_V6, inside_mac)]
        if vpc.internet_gateway_id:
            plan.routes += [KernelRoute(MAIN_TABLE, f"{eip.public_ip}/32", device=outside, via=naming.P2P_NEAR_V4)
                            for eip in vpc.elastic_ips]
        plan.routes += [KernelRoute(MAIN_TABLE, block, device=outside, via=naming.P2P_NEAR_V6)
                        for block in vpc.ipv6_cidrs]
    return plan


def _router_plan(doc: HostNetwork, vpc: Vpc, run_dir: str) -> NamespacePlan:
    plan = NamespacePlan(naming.router_netns(doc.name_prefix, vpc.id), "router", vpc.id,
                         sysctls=dict(ROUTER_SYSCTLS), ruleset=nft.router_ruleset(doc, vpc))
    resolver = tuple(f"{address}/32" for address in vpc.dns.addresses) if vpc.dns else ()
    plan.links.append(Link("lo", "loopback", addresses=((f"{naming.METADATA_V4}/32",) if vpc.metadata else ())
                           + resolver))
    tables = naming.subnet_tables([subnet.id for subnet in vpc.subnets])
    spans_hosts = doc.underlay is not None
    for subnet in vpc.subnets:
        bridge = naming.subnet_bridge(subnet.id)
        addresses = [cidr.with_prefix(cidr.router_address(subnet.cidr), subnet.cidr)]
        if subnet.ipv6_cidr:
            addresses.append(cidr.with_prefix(cidr.router_address(subnet.ipv6_cidr), subnet.ipv6_cidr))
        # Same MAC on every host: the implicit router is anycast, so a migrating instance keeps its ARP entry.
        plan.links.append(Link(bridge, "bridge", mac=naming.mac_for(subnet.id), addresses=tuple(addresses)))
        if subnet.vni is not None and spans_hosts:
            vxlan = naming.subnet_vxlan(subnet.id)
            plan.links.append(Link(vxlan, "vxlan", mac=naming.mac_for(f"{subnet.id}:vxlan:{doc.host_id}"),
                                   master=bridge, mtu=VXLAN_MTU, vni=subnet.vni))
            plan.fdb += [FdbEntry(vxlan, "00:00:00:00:00:00", vtep) for vtep in sorted(vpc.remote_vteps)]
            plan.fdb += [FdbEntry(vxlan, port.mac.lower(), port.vtep) for port in subnet.remote_ports]
            plan.neighbours += [Neighbour(bridge, address, port.mac.lower()) for port in subnet.remote_ports
                                for address in port.addresses]
        table = tables[subnet.id]
        for family in (4, 6):
            plan.rules += [Rule(family, RULE_LOOKUP_PRIORITY, bridge, table),
                           Rule(family, RULE_UNREACHABLE_PRIORITY, bridge, None)]
        plan.routes += subnet_routes(vpc, subnet, table)
    for eni in vpc.enis:
        attachment = eni.attachment
        if attachment is None:
            continue
        master = naming.subnet_bridge(eni.subnet_id)
        naming.check_ifname(attachment.port)
        if attachment.kind in ("veth", "service"):
            far_netns = (attachment.instance_netns if attachment.kind == "veth"
                         else naming.service_netns(doc.name_prefix, eni.id))
            plan.links.append(eni_veth(eni.id, eni.subnet_id, eni.mac, attachment.port, far_netns,
                                       attachment.guest_ifname))
        else:
            plan.links.append(Link(attachment.port, "tap", master=master))
    for nat in vpc.nat_gateways:
        if nat.local:
            plan.links.append(Link(naming.nat_port(nat.id), "veth", mac=naming.mac_for(f"{nat.id}:port"),
                                   master=naming.subnet_bridge(nat.subnet_id), peer=naming.NAT_INSIDE,
                                   peer_netns=naming.nat_netns(doc.name_prefix, nat.id), peer_mac=nat.mac.lower()))
    if has_uplink(vpc):
        outside_mac = naming.mac_for(f"{vpc.id}:up-out")
        plan.links.append(Link(naming.UPLINK_INSIDE, "veth", mac=naming.mac_for(f"{vpc.id}:up"),
                               peer=naming.uplink_outside(vpc.id), peer_netns=naming.internet_netns(doc.name_prefix),
                               peer_mac=outside_mac))
        plan.neighbours += [Neighbour(naming.UPLINK_INSIDE, naming.P2P_FAR_V4, outside_mac),
                            Neighbour(naming.UPLINK_INSIDE, naming.P2P_FAR_V6, outside_mac)]
    for peering in vpc.peerings:
        link = naming.peering_link(peering.id)
        far_mac = naming.mac_for(f"{peering.id}:{peering.peer_vpc_id}")
        owner = vpc.id < peering.peer_vpc_id
        plan.links.append(Link(link, "veth" if owner else "peer", mac=naming.mac_for(f"{peering.id}:{vpc.id}"),
                               peer=link if owner else None,
                               peer_netns=naming.router_netns(doc.name_prefix, peering.peer_vpc_id) if owner else None,
                               peer_mac=far_mac if owner else None))
        plan.neighbours += [Neighbour(link, naming.P2P_FAR_V4, far_mac), Neighbour(link, naming.P2P_FAR_V6, far_mac)]
    plan.dhcp = dnsmasq_config(vpc, run_dir, doc.api, forward=doc.uplink.mode != "lab") if vpc.subnets else None
    mtu = vpc_mtu(vpc)
    if mtu != 1500:
        plan.links = [link if link.kind != "bridge" else _with_mtu(link, mtu) for link in plan.links]
    return plan


def eni_veth(eni_id: str, subnet_id: str, mac: str, port: str, far_netns: str, far_ifname: str) -> Link:
    """The veth that carries an ENI's frames onto its subnet's bridge (pure): ``port`` on the bridge, the far
    end ``far_ifname`` with the ENI's MAC in ``far_netns``. One definition for the plan and for a service
    that plugs its own ENI ahead of the next pass (``links.plug_veth``), so both always build the same link."""
    return Link(port, "veth", mac=naming.mac_for(f"{eni_id}:port"), master=naming.subnet_bridge(subnet_id),
                peer=far_ifname, peer_netns=far_netns, peer_mac=mac.lower())


def _with_mtu(link: Link, mtu: int) -> Link:
    return Link(link.name, link.kind, link.mac, link.master, mtu, link.addresses, link.peer, link.peer_netns,
                link.peer_mac, link.vni)


def _nat_plan(doc: HostNetwork, vpc: Vpc, nat: NatGateway) -> NamespacePlan:
    subnet = next(s for s in vpc.subnets if s.id == nat.subnet_id)
    plan = NamespacePlan(naming.nat_netns(doc.name_prefix, nat.id), "nat", vpc.id, ruleset=nft.nat_ruleset(vpc, nat),
                         sysctls={"net/ipv4/ip_forward": "1", "net/ipv4/conf/all/rp_filter": "0",
                                  "net/ipv4/conf/default/rp_filter": "0", "net/ipv4/conf/all/send_redirects": "0",
                                  "net/ipv4/conf/default/send_redirects": "0"})
    plan.links += [Link("lo", "loopback"),
                   Link(naming.NAT_INSIDE, "peer", mac=nat.mac.lower(),
                        addresses=(cidr.with_prefix(nat.private_ip, subnet.cidr),))]
    plan.routes.append(KernelRoute(MAIN_TABLE, "0.0.0.0/0", device=naming.NAT_INSIDE,
                                   via=cidr.router_address(subnet.cidr)))
    return plan
