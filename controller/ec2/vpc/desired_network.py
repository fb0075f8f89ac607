"""The desired network of one host: the controller's VPC state compiled into the agent's document.

:func:`load_network` reads every VPC row once (one read transaction, route states worked
out there); :func:`compile_host_network` is pure: rows in, ``agent.contract.network.HostNetwork``
out. :func:`desired_network_for_host` joins the two for the agent RPC.

What a host gets: every VPC with a router here, that is, a VPC with an interface
attached on this host or a NAT gateway placed here, plus the VPCs actively peered with
those (so peering traffic has somewhere to land; peering stays non-transitive because a
peer's own peerings are only listed when that third VPC is here too). For each: all its
subnets, route tables, ACLs, gateways, Elastic IPs and NAT gateways; the interfaces
attached here and their security groups; and the resolved members of every group and
prefix list a rule names. NAT gateways are placed by rendezvous hashing over the live
hosts of their zone, so every agent agrees where each one runs without storing it; when hosts are
designated gateway hosts (an agent started with ``--gateway``), only those run NAT gateways, and the
NAT gateway's Elastic IP is translated there (instances elsewhere reach it over the subnet's VXLAN).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, select

from agent.contract import cidr, codec
from agent.contract import network as model
from agent.contract.hosts import CAPABILITY_GATEWAY, HostRecord
from agent.contract.network import RESOLVER_V4
from controller.config import Config
from controller.ec2.vpc import desired_endpoints, dhcp_options, state, timed_states
from controller.ec2.vpc.eni_records import (
    internal_domain,
    namespace_attachments,
    private_dns_name,
    public_dns_name,
)
from controller.ec2.vpc.route_tables import route_states
from controller.ec2.vpc.sg_rules import PROTOCOL_NAMES
from controller.hosts import generation as host_generation
from controller.hosts.api_access import api_access
from controller.hosts.desired import HostContext
from controller.hosts.state import list_hosts
from controller.state import Database, utcnow

Row = Mapping[str, Any]


@dataclass
class HostInfo:
    """What placement needs to know about a host."""

    host_id: str
    zone: str
    up: bool = True
    #: Its VXLAN underlay address, when known.
    vtep: str | None = None
    #: A designated gateway host (its agent reports ``CAPABILITY_GATEWAY``): NAT gateways run there.
    gateway: bool = False

    @classmethod
    def of(cls, record: HostRecord) -> HostInfo:
        """What placement reads of a registered host."""
        return cls(record.host_id, record.zone, up=record.state == "up", vtep=record.underlay_ip,
                   gateway=CAPABILITY_GATEWAY in record.capabilities)


@dataclass
class NetworkRows:
    """Every VPC row the compiler reads; ``routes`` carry their computed ``state``."""

    vpcs: list[Row] = field(default_factory=list)
    subnets: list[Row] = field(default_factory=list)
    route_tables: list[Row] = field(default_factory=list)
    route_table_associations: list[Row] = field(default_factory=list)
    routes: list[Row] = field(default_factory=list)
    internet_gateways: list[Row] = field(default_factory=list)
    egress_only_gateways: list[Row] = field(default_factory=list)
    network_interfaces: list[Row] = field(default_factory=list)
    interface_addresses: list[Row] = field(default_factory=list)
    interface_groups: list[Row] = field(default_factory=list)
    security_groups: list[Row] = field(default_factory=list)
    security_group_rules: list[Row] = field(default_factory=list)
    network_acls: list[Row] = field(default_factory=list)
    network_acl_entries: list[Row] = field(default_factory=list)
    network_acl_associations: list[Row] = field(default_factory=list)
    addresses: list[Row] = field(default_factory=list)
    nat_gateways: list[Row] = field(default_factory=list)
    peering_connections: list[Row] = field(default_factory=list)
    prefix_list_entries: list[Row] = field(default_factory=list)
    #: VPC id -> its DHCP options set's configurations (VPCs without a set are absent).
    vpc_dhcp: dict[str, list[Row]] = field(default_factory=dict)
    vpc_endpoints: list[Row] = field(default_factory=list)
    generation: int = 0
    now: dt.datetime = field(default_factory=utcnow)


def load_network(conn: Connection) -> NetworkRows:
    """All VPC state in one consistent read."""
    rows = NetworkRows(now=utcnow(), generation=host_generation.current(conn))
    for name in ("vpcs", "subnets", "route_tables", "route_table_associations", "internet_gateways",
                 "egress_only_gateways", "network_interfaces", "interface_addresses", "interface_groups",
                 "security_groups", "security_group_rules", "network_acls", "network_acl_entries",
                 "network_acl_associations", "addresses", "nat_gateways", "peering_connections",
                 "prefix_list_entries", "vpc_endpoints"):
        table = getattr(state, name)
        setattr(rows, name, [dict(r) for r in conn.execute(select(table)).mappings()])
    routes = conn.execute(select(state.routes, state.route_tables.c.vpc_id).join(
        state.route_tables, state.route_tables.c.route_table_id == state.routes.c.route_table_id)).mappings().all()
    rows.vpc_dhcp = dhcp_options.vpc_sets(conn)
    rows.routes = [{**r, "state": s} for r, s in zip(routes, route_states(conn, routes, rows.now), strict=True)]
    return rows


def desired_network_for_host(db: Database, host_id: str, config: Config) -> dict[str, Any]:
    """The JSON document (``agent.contract.network.HostNetwork``) the agent on ``host_id`` should apply."""
    hosts = [replace(HostInfo.of(h), vtep=None) for h in list_hosts(db)]
    with db.read() as conn:
        rows = load_network(conn)
    return codec.to_json(compile_host_network(rows, host_id, config, hosts))


# --- placement ------------------------------------------------------------------------------------------------


def place_nat_gateway(nat_id: str, zone: str, hosts: Sequence[HostInfo], asking: HostInfo) -> str:
    """The host that runs a NAT gateway: highest rendezvous score among the live hosts of its zone
    (any live host when its zone has none). The asking host always counts as live."""
    live = {h.host_id: h for h in hosts if h.up}
    live[asking.host_id] = asking
    candidates = [h for h in live.values() if h.zone == zone] or list(live.values())
    return max(candidates, key=lambda h: hashlib.sha256(f"{nat_id}|{h.host_id}".encode()).hexdigest()).host_id


def place_on_gateway(nat_id: str, zone: str, hosts: Sequence[HostInfo], asking: HostInfo) -> str:
    """The host that runs a NAT gateway (and so translates its Elastic IP): one of the live designated
    gateway hosts, its zone's first; with none designated (or none up) any live host, as
    :func:`place_nat_gateway` picks, so a single-host cloud keeps everything on its one host."""
    gateways = [h for h in hosts if h.gateway and (h.up or h.host_id == asking.host_id)]
    if not gateways:
        return place_nat_gateway(nat_id, zone, hosts, asking)
    return place_nat_gateway(nat_id, zone, gateways, next((h for h in gateways if h.host_id == asking.host_id),
                                                          gateways[0]))


# --- compilation ------------------------------------------------------------------------------------------------


def compile_host_network(rows: NetworkRows, host_id: str, config: Config,
                         hosts: Sequence[HostInfo] = ()) -> model.HostNetwork:
    """The document for ``host_id`` (pure: no I/O)."""
    return _Compiler(rows, host_id, config, hosts).document()


def _group_by(items: Iterable[Row], key: str) -> dict[Any, list[Row]]:
    grouped: dict[Any, list[Row]] = {}
    for item in items:
        grouped.setdefault(item[key], []).append(item)
    return grouped


class _Compiler:
    def __init__(self, rows: NetworkRows, host_id: str, config: Config, hosts: Sequence[HostInfo]) -> None:
        self.rows, self.host_id, self.config = rows, host_id, config
        by_id = {h.host_id: h for h in hosts}
        self.asking = by_id.get(host_id, HostInfo(host_id, config.local_zone))
        self.hosts = list(hosts)
        self.vteps = {h.host_id: h.vtep for h in hosts if h.vtep}
        self.vpcs = {v["vpc_id"]: v for v in rows.vpcs}
        self.subnets = {s["subnet_id"]: s for s in rows.subnets}
        self.enis = {e["network_interface_id"]: e for e in rows.network_interfaces}
        self.addresses = _group_by(sorted(rows.interface_addresses, key=lambda a: (not a["is_primary"], a["address"])),
                                   "network_interface_id")
        self.eni_groups = {k: [g["group_id"] for g in sorted(v, key=lambda g: g["position"])]
                           for k, v in _group_by(rows.interface_groups, "network_interface_id").items()}
        self.nats = [n for n in rows.nat_gateways if n["network_interface_id"]
                     and timed_states.nat_state(n, rows.now) in timed_states.NAT_FORWARDS]
        self.nat_hosts = {n["nat_gateway_id"]: place_on_gateway(
            n["nat_gateway_id"], self.subnets[n["subnet_id"]]["availability_zone"], self.hosts, self.asking)
            for n in self.nats if n["subnet_id"] in self.subnets}
        self.peerings = [p for p in rows.peering_connections if timed_states.peering_status(p, rows.now) == "active"]
        #: Requester-managed interfaces behind which an agent runs a service (EFS mount targets), placed
        #: like NAT gateways: the owning service's host section uses the same function on the same hosts.
        #: One whose service chose its host (a Batch job's, on the attempt's host) stays there.
        self.service_hosts = {e["network_interface_id"]: e["host_id"] or place_nat_gateway(
            e["network_interface_id"], e["availability_zone"], self.hosts, self.asking)
            for e in rows.network_interfaces if (e["port"] or {}).get("kind") == "service"}

    # which VPCs ----------------------------------------------------------------------------------------------

    def _local_enis(self) -> list[Row]:
        return [e for e in self.rows.network_interfaces
                if (e["host_id"] == self.host_id and e["attachment_id"] and not e["requester_managed"])
                or self.service_hosts.get(e["network_interface_id"]) == self.host_id]

    def _vpc_ids(self) -> set[str]:
        core = {e["vpc_id"] for e in self._local_enis()}
        core |= {n["vpc_id"] for n in self.nats if self.nat_hosts.get(n["nat_gateway_id"]) == self.host_id}
        here = set(core)
        for pcx in self.peerings:
            if pcx["requester_vpc_id"] in core:
                here.add(pcx["accepter_vpc_id"])
            if pcx["accepter_vpc_id"] in core:
                here.add(pcx["requester_vpc_id"])
        return {v for v in here if v in self.vpcs}

    def document(self) -> model.HostNetwork:
        vpc_ids = sorted(self._vpc_ids())
        vpcs = [self._vpc(self.vpcs[v], set(vpc_ids)) for v in vpc_ids]
        referenced_groups = {r.group_id for v in vpcs for g in v.security_groups for r in g.ingress + g.egress
                             if r.group_id}
        prefix_lists = {r.prefix_list_id for v in vpcs for g in v.security_groups for r in g.ingress + g.egress
                        if r.prefix_list_id}
        return model.HostNetwork(
            host_id=self.host_id, vpcs=vpcs, group_members=self._group_members(referenced_groups),
            prefix_lists={p: self._prefix_list(p) for p in sorted(prefix_lists)},
            uplink=model.Uplink(mode=self.config.uplink, public_pool=self.config.public_pool,
                                internet_cidr=self.config.lab_internet_cidr,
                                internet_ipv6_cidr=self.config.lab_internet_ipv6_cidr,
                                lan_pool=self.config.uplink != "lab"),
            api=api_access(self.config), generation=self.rows.generation)

    # one VPC ---------------------------------------------------------------------------------------------------

    def _vpc(self, vpc: Row, here: set[str]) -> model.Vpc:
        vpc_id = vpc["vpc_id"]
        subnets = sorted((s for s in self.rows.subnets if s["vpc_id"] == vpc_id), key=lambda s: s["subnet_id"])
        main_table = next(a["route_table_id"] for a in self.rows.route_table_associations
                          if a["vpc_id"] == vpc_id and a["is_main"])
        acls = sorted((a for a in self.rows.network_acls if a["vpc_id"] == vpc_id), key=lambda a: a["network_acl_id"])
        local_enis = [e for e in self._local_enis() if e["vpc_id"] == vpc_id]
        group_ids = sorted({g for e in local_enis for g in self.eni_groups.get(e["network_interface_id"], [])})
        igw = next((g["internet_gateway_id"] for g in self.rows.internet_gateways if g["vpc_id"] == vpc_id), None)
        eigw = next((g["egress_only_internet_gateway_id"] for g in self.rows.egress_only_gateways
                     if g["vpc_id"] == vpc_id), None)
        return model.Vpc(
            id=vpc_id, cidrs=[vpc["cidr_block"]], ipv6_cidrs=[vpc["ipv6_cidr_block"]] if vpc["ipv6_cidr_block"] else [],
            main_route_table_id=main_table,
            default_network_acl_id=next(a["network_acl_id"] for a in acls if a["is_default"]),
            subnets=[self._subnet(s) for s in subnets],
            route_tables=[self._route_table(t) for t in sorted(
                (t for t in self.rows.route_tables if t["vpc_id"] == vpc_id), key=lambda t: t["route_table_id"])],
            network_acls=[self._network_acl(a) for a in acls],
            security_groups=[self._security_group(g) for g in group_ids],
            enis=[self._eni(e) for e in sorted(local_enis, key=lambda e: e["network_interface_id"])],
            internet_gateway_id=igw, egress_only_gateway_id=eigw,
            elastic_ips=self._elastic_ips(vpc_id) if igw else [],
            nat_gateways=[self._nat(n) for n in sorted(self.nats, key=lambda n: n["nat_gateway_id"])
                          if n["vpc_id"] == vpc_id],
            peerings=self._peerings(vpc_id, here),
            dhcp=self._dhcp(vpc),
            remote_vteps=self._remote_vteps(vpc_id), dns=self._dns(vpc),
            endpoints=desired_endpoints.vpc_endpoints(self.rows.vpc_endpoints, self.rows.routes,
                                                      self.rows.network_interfaces, self.rows.interface_addresses,
                                                      vpc_id, self.config, self.rows.now))

    def _subnet(self, subnet: Row) -> model.Subnet:
        subnet_id = subnet["subnet_id"]
        table = next((a["route_table_id"] for a in self.rows.route_table_associations
                      if a["subnet_id"] == subnet_id), None)
        acl = next((a["network_acl_id"] for a in self.rows.network_acl_associations if a["subnet_id"] == subnet_id),
                   None)
        remote = self._remote_ports(subnet_id)
        # Every subnet of a VPC that spans hosts carries its VNI, also where all its ports are local: other
        # hosts' routers reach those ports through it (instances elsewhere to a NAT gateway here).
        spans = bool(remote) or bool(self._remote_vteps(subnet["vpc_id"]))
        return model.Subnet(id=subnet_id, cidr=subnet["cidr_block"], availability_zone=subnet["availability_zone"],
                            ipv6_cidr=subnet["ipv6_cidr_block"], route_table_id=table, network_acl_id=acl,
                            vni=subnet["vni"] if spans else None, remote_ports=remote)

    def _remote_ports(self, subnet_id: str) -> list[model.RemotePort]:
        """This subnet's interfaces (and NAT gateways) on other hosts whose underlay address is known."""
        ports = []
        for eni in self.rows.network_interfaces:
            if eni["subnet_id"] != subnet_id:
                continue
            where = self.service_hosts.get(eni["network_interface_id"]) or (
                self.nat_hosts.get(eni["requester_id"] or "") if eni["requester_managed"] else eni["host_id"])
            if where and where != self.host_id and where in self.vteps:
                ipv4 = [a["address"] for a in self.addresses.get(eni["network_interface_id"], []) if a["family"] == 4]
                ports.append(model.RemotePort(mac=eni["mac_address"], vtep=self.vteps[where], addresses=ipv4))
        return sorted(ports, key=lambda p: p.mac)

    def _remote_vteps(self, vpc_id: str) -> list[str]:
        hosts = {e["host_id"] for e in self.rows.network_interfaces if e["vpc_id"] == vpc_id and e["host_id"]}
        hosts |= {self.nat_hosts[n["nat_gateway_id"]] for n in self.nats
                  if n["vpc_id"] == vpc_id and n["nat_gateway_id"] in self.nat_hosts}
        hosts |= {h for e, h in self.service_hosts.items() if self.enis[e]["vpc_id"] == vpc_id}
        return sorted({self.vteps[h] for h in hosts if h != self.host_id and h in self.vteps})

    def _route_table(self, table: Row) -> model.RouteTable:
        mine = [r for r in self.rows.routes if r["route_table_id"] == table["route_table_id"]]
        explicit = {r["destination"] for r in mine if not r["destination"].startswith("pl-")}
        routes = []
        for route in sorted(mine, key=lambda r: r["destination"]):
            destinations = [route["destination"]]
            if route["destination"].startswith("pl-"):
                # A prefix-list route stands for one route per entry; an explicit route of the same prefix wins.
                destinations = [c for c in self._prefix_list(route["destination"]) if c not in explicit]
            for destination in destinations:
                routes.append(self._route(route, destination))
        return model.RouteTable(id=table["route_table_id"], routes=routes)

    def _route(self, route: Row, destination: str) -> model.Route:
        kind = route["target_kind"]
        if kind in ("interface", "instance"):
            eni_id = route["target_id"]
            family = 6 if ":" in destination else 4
            next_hop = next((a["address"] for a in self.addresses.get(eni_id, []) if a["family"] == family), None)
            return model.Route(destination=destination, target=eni_id, state=route["state"], next_hop=next_hop)
        return model.Route(destination=destination, target=route["target_id"], state=route["state"])

    def _network_acl(self, acl: Row) -> model.NetworkAcl:
        entries = sorted((e for e in self.rows.network_acl_entries if e["network_acl_id"] == acl["network_acl_id"]),
                         key=lambda e: (e["egress"], e["rule_number"]))
        return model.NetworkAcl(id=acl["network_acl_id"], entries=[_acl_entry(e) for e in entries])

    def _security_group(self, group_id: str) -> model.SecurityGroup:
        rules = sorted((r for r in self.rows.security_group_rules if r["group_id"] == group_id),
                       key=lambda r: r["created_seq"])
        return model.SecurityGroup(id=group_id, ingress=[_sg_rule(r) for r in rules if not r["is_egress"]],
                                   egress=[_sg_rule(r) for r in rules if r["is_egress"]])

    def _eni(self, eni: Row) -> model.Eni:
        eni_id = eni["network_interface_id"]
        addresses = self.addresses.get(eni_id, [])
        ipv4 = [a["address"] for a in addresses if a["family"] == 4]
        port = eni["port"]
        return model.Eni(
            id=eni_id, subnet_id=eni["subnet_id"], mac=eni["mac_address"], private_ips=ipv4,
            ipv6_addresses=[a["address"] for a in addresses if a["family"] == 6],
            security_group_ids=self.eni_groups.get(eni_id, []), source_dest_check=eni["source_dest_check"],
            attachment=codec.from_json(model.Attachment, port) if port else None, instance_id=eni["instance_id"],
            hostname=f"ip-{ipv4[0].replace('.', '-')}" if ipv4 else None,
            filtered=bool(self.eni_groups.get(eni_id)) or eni["interface_type"] != "network_load_balancer")

    def _dhcp(self, vpc: Row) -> model.DhcpOptions:
        domain, servers = dhcp_options.dhcp_for_vpc(vpc, self.rows.vpc_dhcp.get(vpc["vpc_id"]), self.config.region)
        return model.DhcpOptions(domain_name=domain, domain_name_servers=servers)

    def _dns(self, vpc: Row) -> model.VpcDns | None:
        """The VPC resolver (None when ``enableDnsSupport`` is off): the private name of every IPv4 address of
        every interface of the VPC, on any host; with ``enableDnsHostnames``, also the public name of each
        public address (EIP or auto-assigned), resolving to the private address it translates to."""
        if not vpc["enable_dns_support"]:
            return None
        region = self.config.region
        eni_ids = {e["network_interface_id"] for e in self.rows.network_interfaces if e["vpc_id"] == vpc["vpc_id"]}
        records = {(private_dns_name(region, a["address"]), a["address"])
                   for eni_id in eni_ids for a in self.addresses.get(eni_id, []) if a["family"] == 4}
        if vpc["enable_dns_hostnames"]:
            records |= {(public_dns_name(region, public, self.config.service_domain), private)
                        for public, private in self._public_addresses(eni_ids)}
        records |= {(r.name, r.address) for r in desired_endpoints.dns_records(
            self.rows.vpc_endpoints, self.rows.network_interfaces, self.rows.interface_addresses, vpc["vpc_id"],
            self.config, self.rows.now)}
        records |= set(self._load_balancer_records(vpc["vpc_id"]))
        return model.VpcDns(addresses=[cidr.dns_address(vpc["cidr_block"]), RESOLVER_V4],
                            domain=internal_domain(region),
                            records=[model.DnsRecord(name, address) for name, address in sorted(records)])

    def _load_balancer_records(self, vpc_id: str) -> list[tuple[str, str]]:
        """Load balancers' DNS names (ELBv2 recognizes its nodes' ENIs: controller/elbv2/dns.py)."""
        from controller.elbv2 import dns as elbv2_dns  # lazily: elbv2 places its nodes with this module

        return elbv2_dns.dns_records(self.rows.network_interfaces, self.addresses, vpc_id, self.config.region,
                                     self.config.service_domain)

    def _public_addresses(self, eni_ids: set[str]) -> set[tuple[str, str]]:
        """(public, private) pairs of these interfaces: associated Elastic IPs and auto-assigned addresses."""
        pairs = {(eip["public_ip"], eip["private_ip"]) for eip in self.rows.addresses
                 if eip["association_id"] and eip["network_interface_id"] in eni_ids and eip["private_ip"]}
        for eni in self.rows.network_interfaces:
            if eni["network_interface_id"] in eni_ids and eni["public_ip"]:
                primary = next((a["address"] for a in self.addresses.get(eni["network_interface_id"], [])
                                if a["is_primary"] and a["family"] == 4), None)
                if primary:
                    pairs.add((eni["public_ip"], primary))
        return pairs

    def _elastic_ips(self, vpc_id: str) -> list[model.ElasticIp]:
        """Public addresses translated at this VPC's internet gateway: Elastic IPs (instances' and NAT
        gateways') and auto-assigned public addresses (which have no allocation id)."""
        found = []
        for eip in self.rows.addresses:
            eni = self.enis.get(eip["network_interface_id"] or "")
            if eip["association_id"] and eni is not None and eni["vpc_id"] == vpc_id:
                found.append(model.ElasticIp(allocation_id=eip["allocation_id"], public_ip=eip["public_ip"],
                                             private_ip=eip["private_ip"], eni_id=eni["network_interface_id"]))
        for eni in self.rows.network_interfaces:
            if eni["vpc_id"] == vpc_id and eni["public_ip"]:
                primary = next(a["address"] for a in self.addresses[eni["network_interface_id"]] if a["is_primary"])
                found.append(model.ElasticIp(allocation_id="", public_ip=eni["public_ip"], private_ip=primary,
                                             eni_id=eni["network_interface_id"]))
        return sorted(found, key=lambda e: e.public_ip)

    def _nat(self, nat: Row) -> model.NatGateway:
        eni = self.enis[nat["network_interface_id"]]
        return model.NatGateway(id=nat["nat_gateway_id"], subnet_id=nat["subnet_id"], private_ip=nat["private_ip"],
                                public_ip=nat["public_ip"] or "", mac=eni["mac_address"],
                                local=self.nat_hosts.get(nat["nat_gateway_id"]) == self.host_id)

    def _peerings(self, vpc_id: str, here: set[str]) -> list[model.Peering]:
        found = []
        for pcx in self.peerings:
            sides = {pcx["requester_vpc_id"], pcx["accepter_vpc_id"]}
            if vpc_id not in sides:
                continue
            peer_id = (sides - {vpc_id}).pop()
            peer = self.vpcs.get(peer_id)
            if peer is None or peer_id not in here:
                continue
            found.append(model.Peering(id=pcx["vpc_peering_connection_id"], peer_vpc_id=peer_id,
                                       peer_cidrs=[peer["cidr_block"]],
                                       peer_ipv6_cidrs=[peer["ipv6_cidr_block"]] if peer["ipv6_cidr_block"] else []))
        return sorted(found, key=lambda p: p.id)

    def _group_members(self, group_ids: set[str]) -> dict[str, list[str]]:
        members: dict[str, set[str]] = {g: set() for g in group_ids}
        for eni_id, groups in self.eni_groups.items():
            for group_id in groups:
                if group_id in members:
                    members[group_id].update(a["address"] for a in self.addresses.get(eni_id, []))
        return {g: sorted(members[g]) for g in sorted(members)}

    def _prefix_list(self, prefix_list_id: str) -> list[str]:
        return sorted(e["cidr"] for e in self.rows.prefix_list_entries if e["prefix_list_id"] == prefix_list_id) \
            or desired_endpoints.managed_prefix_list(self.config, prefix_list_id)


def _acl_entry(entry: Row) -> model.NaclEntry:
    protocol = PROTOCOL_NAMES.get(entry["protocol"], entry["protocol"])
    low, high = -1, -1
    if entry["port_from"] is not None:
        low, high = entry["port_from"], entry["port_to"]
    elif entry["icmp_type"] is not None:
        low, high = entry["icmp_type"], entry["icmp_code"]
    return model.NaclEntry(rule_number=entry["rule_number"], egress=entry["egress"], action=entry["rule_action"],
                           cidr=entry["cidr_block"] or entry["ipv6_cidr_block"], protocol=protocol,
                           from_port=low, to_port=high)


def _sg_rule(rule: Row) -> model.SgRule:
    return model.SgRule(protocol=rule["ip_protocol"], from_port=rule["from_port"], to_port=rule["to_port"],
                        cidr=rule["cidr_ipv4"] or rule["cidr_ipv6"], prefix_list_id=rule["prefix_list_id"],
                        group_id=rule["referenced_group_id"])


def network_section(ctx: HostContext) -> dict[str, Any]:
    """The ``network`` section of a host's desired document: the VPC dataplane document, with the other
    hosts' underlay addresses so VXLAN flooding lists and remote ports are known."""
    hosts = [HostInfo.of(h) for h in ctx.hosts]
    with ctx.db.read() as conn:
        rows = load_network(conn)
    return codec.to_json(compile_host_network(rows, ctx.host_id, ctx.config, hosts))


def namespaces_section(ctx: HostContext) -> list[dict[str, Any]]:
    """The ``namespaces`` section of a host's desired document: the namespace instances plugged there."""
    with ctx.db.read() as conn:
        return namespace_attachments(conn, ctx.host_id)
