"""The VPC network as Reachability Analyzer reads it: every row once, frozen into plain values.

An analysis must judge one consistent network, however long it takes and whatever changes meanwhile, and the
analysis itself must be a pure function that tests can feed by hand. So :func:`build` turns the rows that
``desired_network.load_network`` reads in one transaction (the same rows, with route states already worked
out, that the dataplane is compiled from) into frozen dataclasses keyed by id, with what each hop needs
already joined: a subnet knows its effective route table and network ACL, an interface its addresses,
public address and groups, a route its expanded prefix-list CIDRs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from controller.config import Config
from controller.ec2.vpc.desired_network import NetworkRows
from controller.ec2.vpc.endpoint_services import managed_prefix_lists


@dataclass(frozen=True)
class Interface:
    eni_id: str
    vpc_id: str
    subnet_id: str
    private_ips: tuple[str, ...]
    group_ids: tuple[str, ...]
    #: The public IPv4 address the internet gateway maps to the primary address (EIP or auto-assigned).
    public_ip: str | None = None
    instance_id: str | None = None
    device_index: int | None = None
    #: Who manages it (``nat-…``, ``vpce-…``) when requester-managed.
    requester_id: str | None = None
    #: Attached to an instance, or managed by a service: the internet gateway maps only such interfaces.
    attached: bool = True

    @property
    def primary_ip(self) -> str | None:
        return self.private_ips[0] if self.private_ips else None


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    vpc_id: str
    cidr: str
    route_table_id: str
    network_acl_id: str


@dataclass(frozen=True)
class Vpc:
    vpc_id: str
    account_id: str
    cidr: str
    internet_gateway_id: str | None = None


@dataclass(frozen=True)
class SgRule:
    group_id: str
    egress: bool
    #: ``-1``, ``tcp``, ``udp``, ``icmp``… or a protocol number, as security group rules store it.
    protocol: str
    from_port: int
    to_port: int
    cidr: str | None = None
    prefix_list_id: str | None = None
    referenced_group_id: str | None = None


@dataclass(frozen=True)
class AclEntry:
    rule_number: int
    egress: bool
    #: ``-1`` or a protocol number.
    protocol: str
    action: str
    cidr: str | None
    port_from: int | None = None
    port_to: int | None = None


@dataclass(frozen=True)
class Route:
    route_table_id: str
    #: The CIDR, or a prefix list id whose CIDRs are ``cidrs``.
    destination: str
    cidrs: tuple[str, ...]
    #: local | gateway | nat | egress-only | peering | interface | instance | vpc-endpoint
    target_kind: str
    target_id: str
    state: str
    origin: str


@dataclass(frozen=True)
class NatGateway:
    nat_id: str
    vpc_id: str
    subnet_id: str
    eni_id: str | None
    private_ip: str | None
    public_ip: str | None


@dataclass(frozen=True)
class Peering:
    pcx_id: str
    requester_vpc_id: str
    accepter_vpc_id: str

    def other_side(self, vpc_id: str) -> str | None:
        """The VPC across the connection from ``vpc_id`` (None when ``vpc_id`` is neither side)."""
        sides = {self.requester_vpc_id: self.accepter_vpc_id, self.accepter_vpc_id: self.requester_vpc_id}
        return sides.get(vpc_id)


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    vpc_id: str
    #: Gateway | Interface
    endpoint_type: str


def _frozen(items: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(items))


@dataclass(frozen=True)
class Network:
    """Everything the analysis reads, by id. ``arn_prefix`` is ``arn:<partition>:ec2:<region>:``.

    Whether a gateway, NAT gateway, peering connection or endpoint carries traffic now is its routes'
    ``state`` (``blackhole`` otherwise), worked out once by ``route_tables.route_states``.
    """

    arn_prefix: str
    vpcs: Mapping[str, Vpc] = field(default_factory=dict)
    subnets: Mapping[str, Subnet] = field(default_factory=dict)
    interfaces: Mapping[str, Interface] = field(default_factory=dict)
    #: Security group id -> its rules.
    group_rules: Mapping[str, tuple[SgRule, ...]] = field(default_factory=dict)
    #: Security group id -> the private addresses of the interfaces in it (for group-referencing rules).
    group_members: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: Network ACL id -> its stored entries, sorted by rule number (the catch-all deny is implied).
    acl_entries: Mapping[str, tuple[AclEntry, ...]] = field(default_factory=dict)
    route_tables: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)
    #: Internet gateway id -> the VPC it is attached to (None when detached).
    internet_gateways: Mapping[str, str | None] = field(default_factory=dict)
    nat_gateways: Mapping[str, NatGateway] = field(default_factory=dict)
    peerings: Mapping[str, Peering] = field(default_factory=dict)
    endpoints: Mapping[str, Endpoint] = field(default_factory=dict)
    prefix_lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def arn(self, resource_type: str, resource_id: str, vpc_id: str | None = None) -> str:
        """A component's ARN, in the account that owns its VPC."""
        vpc = self.vpcs.get(vpc_id or "")
        return f"{self.arn_prefix}{vpc.account_id if vpc else ''}:{resource_type}/{resource_id}"

    def interface_with_address(self, address: str) -> Interface | None:
        """The interface that owns ``address`` as one of its private addresses."""
        return next((i for i in self.interfaces.values() if address in i.private_ips), None)

    def primary_interface(self, instance_id: str) -> Interface | None:
        return next((i for i in self.interfaces.values() if i.instance_id == instance_id and i.device_index == 0), None)


def build(rows: NetworkRows, config: Config) -> Network:
    """The frozen network of ``rows`` (as ``desired_network.load_network`` read them)."""
    prefix_lists: dict[str, list[str]] = {k: list(v) for k, v in managed_prefix_lists(config).items()}
    for entry in rows.prefix_list_entries:
        prefix_lists.setdefault(entry["prefix_list_id"], []).append(entry["cidr"])

    def prefix_list(list_id: str) -> tuple[str, ...]:
        return tuple(sorted(c for c in prefix_lists.get(list_id, []) if ":" not in c))

    addresses: dict[str, list[Any]] = {}
    for address in sorted(rows.interface_addresses, key=lambda a: (not a["is_primary"], a["address"])):
        if address["family"] == 4:
            addresses.setdefault(address["network_interface_id"], []).append(address["address"])
    eips = {a["network_interface_id"]: a["public_ip"] for a in rows.addresses if a["association_id"]}
    groups: dict[str, list[Any]] = {}
    for membership in sorted(rows.interface_groups, key=lambda g: g["position"]):
        groups.setdefault(membership["network_interface_id"], []).append(membership["group_id"])
    interfaces = {e["network_interface_id"]: Interface(
        eni_id=e["network_interface_id"], vpc_id=e["vpc_id"], subnet_id=e["subnet_id"],
        private_ips=tuple(addresses.get(e["network_interface_id"], [])),
        group_ids=tuple(groups.get(e["network_interface_id"], [])),
        public_ip=eips.get(e["network_interface_id"]) or e["public_ip"], instance_id=e["instance_id"],
        device_index=e["device_index"], requester_id=e["requester_id"],
        attached=bool(e["attachment_id"]) or bool(e["requester_managed"])) for e in rows.network_interfaces}
    members: dict[str, set[str]] = {}
    for eni in interfaces.values():
        for group_id in eni.group_ids:
            members.setdefault(group_id, set()).update(eni.private_ips)
    rules: dict[str, list[SgRule]] = {g["group_id"]: [] for g in rows.security_groups}
    for rule in sorted(rows.security_group_rules, key=lambda r: r["created_seq"]):
        rules.setdefault(rule["group_id"], []).append(SgRule(
            group_id=rule["group_id"], egress=rule["is_egress"], protocol=rule["ip_protocol"],
            from_port=rule["from_port"], to_port=rule["to_port"], cidr=rule["cidr_ipv4"],
            prefix_list_id=rule["prefix_list_id"], referenced_group_id=rule["referenced_group_id"]))
    entries: dict[str, list[AclEntry]] = {a["network_acl_id"]: [] for a in rows.network_acls}
    for entry in sorted(rows.network_acl_entries, key=lambda e: e["rule_number"]):
        entries.setdefault(entry["network_acl_id"], []).append(AclEntry(
            rule_number=entry["rule_number"], egress=entry["egress"], protocol=entry["protocol"],
            action=entry["rule_action"], cidr=entry["cidr_block"], port_from=entry["port_from"],
            port_to=entry["port_to"]))
    tables: dict[str, list[Route]] = {t["route_table_id"]: [] for t in rows.route_tables}
    for route in rows.routes:
        destination = route["destination"]
        cidrs = prefix_list(destination) if destination.startswith("pl-") else (destination,)
        tables.setdefault(route["route_table_id"], []).append(Route(
            route_table_id=route["route_table_id"], destination=destination,
            cidrs=tuple(c for c in cidrs if ":" not in c), target_kind=route["target_kind"],
            target_id=route["target_id"], state=route["state"], origin=route["origin"]))
    main_tables = {a["vpc_id"]: a["route_table_id"] for a in rows.route_table_associations if a["is_main"]}
    explicit_tables = {a["subnet_id"]: a["route_table_id"] for a in rows.route_table_associations if a["subnet_id"]}
    acls = {a["subnet_id"]: a["network_acl_id"] for a in rows.network_acl_associations}
    attached_igws = {g["vpc_id"]: g["internet_gateway_id"] for g in rows.internet_gateways if g["vpc_id"]}
    return Network(
        arn_prefix=f"arn:{config.partition}:ec2:{config.region}:",
        vpcs=_frozen({v["vpc_id"]: Vpc(v["vpc_id"], v["account_id"], v["cidr_block"], attached_igws.get(v["vpc_id"]))
                      for v in rows.vpcs}),
        subnets=_frozen({s["subnet_id"]: Subnet(
            s["subnet_id"], s["vpc_id"], s["cidr_block"],
            explicit_tables.get(s["subnet_id"]) or main_tables.get(s["vpc_id"], ""), acls.get(s["subnet_id"], ""))
            for s in rows.subnets}),
        interfaces=_frozen(interfaces),
        group_rules=_frozen({k: tuple(v) for k, v in rules.items()}),
        group_members=_frozen({k: frozenset(v) for k, v in members.items()}),
        acl_entries=_frozen({k: tuple(sorted(v, key=lambda e: e.rule_number)) for k, v in entries.items()}),
        route_tables=_frozen({k: tuple(v) for k, v in tables.items()}),
        internet_gateways=_frozen({g["internet_gateway_id"]: g["vpc_id"] for g in rows.internet_gateways}),
        nat_gateways=_frozen({n["nat_gateway_id"]: NatGateway(
            n["nat_gateway_id"], n["vpc_id"], n["subnet_id"], n["network_interface_id"], n["private_ip"],
            n["public_ip"]) for n in rows.nat_gateways}),
        peerings=_frozen({p["vpc_peering_connection_id"]: Peering(
            p["vpc_peering_connection_id"], p["requester_vpc_id"], p["accepter_vpc_id"])
            for p in rows.peering_connections}),
        endpoints=_frozen({e["vpc_endpoint_id"]: Endpoint(
            e["vpc_endpoint_id"], e["vpc_id"], e["endpoint_type"])
            for e in rows.vpc_endpoints}),
        prefix_lists=_frozen({list_id: prefix_list(list_id) for list_id in prefix_lists}))
