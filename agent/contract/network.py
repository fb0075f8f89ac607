"""The ``network`` section of a host's desired document: the desired state of the VPCs on that host.

Plain dataclasses that round-trip through JSON (``agent.contract.codec``) under a schema version, so the
controller and the agent can evolve apart. The document is *complete* for the host: every VPC that has a
router here, with all of its subnets, route tables, ACLs and gateways, the security groups and ENIs that are
attached on this host, and the resolved membership of every security group or prefix list a rule refers to.
The agent never asks for more: ``apply(document)`` converges the machine to it, whatever was there before.

Conventions: IDs are AWS-style strings (``vpc-…``, ``subnet-…``); addresses and CIDRs are strings in their
canonical form; protocols are AWS's (``-1`` for all, ``tcp``, ``udp``, ``icmp``, ``icmpv6`` or a number);
port ``-1`` means "any". For ICMP rules ``from_port`` is the type and ``to_port`` the code, as in EC2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.contract.version import ContractError

#: Bumped on incompatible changes of the section; a document of another version is refused when read.
SCHEMA_VERSION = 1
#: The VPC resolver's link-local address (besides the VPC's base+2), as in EC2: the controller lists it in
#: ``VpcDns.addresses`` and the agent answers there.
RESOLVER_V4 = "169.254.169.253"


# --- routing ---------------------------------------------------------------------------------------------


@dataclass
class Route:
    """One route of a route table. ``target`` is ``local`` or a gateway/ENI/peering id.

    Targets: ``local`` (the VPC itself), ``igw-…``, ``nat-…``, ``eigw-…``, ``pcx-…``, ``eni-…``. For ``eni-``
    targets the controller resolves ``next_hop`` (the ENI's primary private address of the matching family),
    since the ENI may live on another host. ``state`` is ``blackhole`` when the target went away: such
    routes drop matching packets instead of falling through to a shorter prefix, as in EC2.
    """

    destination: str
    target: str
    state: str = "active"
    next_hop: str | None = None


@dataclass
class RouteTable:
    id: str
    routes: list[Route] = field(default_factory=list)


# --- filtering --------------------------------------------------------------------------------------------


@dataclass
class SgRule:
    """One allow rule of a security group; exactly one of ``cidr``, ``prefix_list_id``, ``group_id`` is set.

    For ingress rules the peer is the source, for egress the destination.
    """

    protocol: str = "-1"
    from_port: int = -1
    to_port: int = -1
    cidr: str | None = None
    prefix_list_id: str | None = None
    group_id: str | None = None


@dataclass
class SecurityGroup:
    id: str
    ingress: list[SgRule] = field(default_factory=list)
    egress: list[SgRule] = field(default_factory=list)


@dataclass
class NaclEntry:
    """A numbered NACL rule (1..32766); the implicit catch-all ``*`` deny is never listed."""

    rule_number: int
    egress: bool
    action: str  # allow | deny
    cidr: str
    protocol: str = "-1"
    from_port: int = -1
    to_port: int = -1


@dataclass
class NetworkAcl:
    id: str
    entries: list[NaclEntry] = field(default_factory=list)


# --- interfaces ---------------------------------------------------------------------------------------------


@dataclass
class Attachment:
    """Where an ENI's frames enter the subnet bridge: the "port".

    ``kind`` is ``tap`` (a VM's tap the compute driver made; the agent moves it into the VPC namespace and
    onto the bridge, and waits while it does not exist yet) or ``veth`` (a test instance: the agent makes a
    veth whose far end, named ``guest_ifname`` and carrying the ENI's MAC, goes into the existing namespace
    ``instance_netns``) or ``service`` (a service the agent itself runs behind the ENI, such as an EFS
    mount target's NFS server: like ``veth``, into the namespace ``naming.service_netns(prefix, eni_id)``,
    which that service's reconciler makes). ``port`` is the bridge-side interface name (at most 15
    characters).
    """

    port: str
    kind: str = "tap"
    instance_netns: str | None = None
    guest_ifname: str = "eth0"


@dataclass
class ImdsOptions:
    """Per-instance metadata options, as ModifyInstanceMetadataOptions sets them."""

    enabled: bool = True
    http_tokens: str = "optional"  # optional | required (IMDSv2 only)
    hop_limit: int = 1


@dataclass
class Eni:
    """An ENI attached on this host. ``private_ips[0]`` is the primary address."""

    id: str
    subnet_id: str
    mac: str
    private_ips: list[str]
    ipv6_addresses: list[str] = field(default_factory=list)
    security_group_ids: list[str] = field(default_factory=list)
    source_dest_check: bool = True
    attachment: Attachment | None = None
    instance_id: str | None = None
    hostname: str | None = None
    imds: ImdsOptions = field(default_factory=ImdsOptions)
    #: False for the one kind of interface AWS leaves open when it has no security group: a network load
    #: balancer's node (its targets' groups do the filtering). Every other ENI without a group accepts nothing.
    filtered: bool = True


@dataclass
class RemotePort:
    """An ENI of this subnet on another host: its MAC lives behind that host's VXLAN endpoint.

    ``addresses`` (its IPv4 addresses) are pinned to ``mac`` in this host's router: the router cannot ARP
    for them, as every host's router has the same (anycast) MAC and a reply to it stays on the host that
    got it. Older controllers send none; routed traffic to the port then depends on learned entries.
    """

    mac: str
    vtep: str
    addresses: list[str] = field(default_factory=list)


# --- topology -------------------------------------------------------------------------------------------------


@dataclass
class Subnet:
    """A subnet; ``route_table_id``/``network_acl_id`` of None mean the VPC's main table / default ACL."""

    id: str
    cidr: str
    availability_zone: str
    ipv6_cidr: str | None = None
    route_table_id: str | None = None
    network_acl_id: str | None = None
    #: VXLAN network identifier joining this subnet's bridges across hosts (None: single-host subnet).
    vni: int | None = None
    remote_ports: list[RemotePort] = field(default_factory=list)


@dataclass
class ElasticIp:
    """A public IPv4 address translated 1:1 to ``private_ip`` (an ENI's or a NAT gateway's) at the IGW."""

    allocation_id: str
    public_ip: str
    private_ip: str
    eni_id: str | None = None


@dataclass
class NatGateway:
    """A NAT gateway: a namespace with one interface in ``subnet_id`` that masquerades VPC traffic.

    Its EIP is listed in ``Vpc.elastic_ips`` like any other (the IGW translates its private address).
    ``local`` is False when another host runs it; the routes to it still point at ``private_ip``.
    """

    id: str
    subnet_id: str
    private_ip: str
    public_ip: str
    mac: str
    local: bool = True


@dataclass
class Peering:
    """An active peering connection from this VPC's side; the peer VPC must have a router on this host."""

    id: str
    peer_vpc_id: str
    peer_cidrs: list[str] = field(default_factory=list)
    peer_ipv6_cidrs: list[str] = field(default_factory=list)


@dataclass
class DhcpOptions:
    domain_name: str = "ec2.internal"
    domain_name_servers: list[str] = field(default_factory=list)
    mtu: int = 1500
    lease_seconds: int = 3600


@dataclass
class Vpc:
    id: str
    cidrs: list[str]
    main_route_table_id: str
    default_network_acl_id: str
    ipv6_cidrs: list[str] = field(default_factory=list)
    subnets: list[Subnet] = field(default_factory=list)
    route_tables: list[RouteTable] = field(default_factory=list)
    network_acls: list[NetworkAcl] = field(default_factory=list)
    security_groups: list[SecurityGroup] = field(default_factory=list)
    enis: list[Eni] = field(default_factory=list)
    internet_gateway_id: str | None = None
    egress_only_gateway_id: str | None = None
    elastic_ips: list[ElasticIp] = field(default_factory=list)
    nat_gateways: list[NatGateway] = field(default_factory=list)
    peerings: list[Peering] = field(default_factory=list)
    dhcp: DhcpOptions = field(default_factory=DhcpOptions)
    metadata: bool = True
    #: Underlay addresses of the other hosts that run a router for this VPC (VXLAN flooding list).
    remote_vteps: list[str] = field(default_factory=list)
    #: The VPC resolver; None when ``enableDnsSupport`` is off.
    dns: VpcDns | None = None
    #: VPC endpoints that carry traffic (gateway ones, and interface ones of any host: see ``VpcEndpoint``).
    endpoints: list[VpcEndpoint] = field(default_factory=list)


@dataclass
class VpcEndpoint:
    """A VPC endpoint: where the agent's API relay listens for requests that come through it.

    ``kind`` ``gateway`` (S3): route tables with a route to ``id`` (the S3 prefix list, i.e. the API
    ``address``/32) deliver that address locally in the VPC router namespace, where the relay listens with
    ``via=id``; ``route_table_ids`` are those tables. ``interface``: the relay listens on ``address``, the
    primary address of the requester-managed ENI ``eni_id`` in ``subnet_id``, inside that ENI's service
    namespace (``naming.service_netns``), on the host where the ENI is plugged (where it is in ``Vpc.enis``).
    """

    id: str
    kind: str  # gateway | interface | instance-connect
    address: str
    route_table_ids: list[str] = field(default_factory=list)
    eni_id: str | None = None
    subnet_id: str | None = None


# --- host-wide ------------------------------------------------------------------------------------------------


@dataclass
class Uplink:
    """Where IGW/EIP/NAT traffic leaves the host: the cloud-wide facts (the host's own choices, such as its
    mode and interface, are the agent's flags: ``agent.network.uplink.HostUplink``).

    The Internet namespace always exists: it joins every VPC's IGW veth and holds the lab Internet segment
    ``internet_cidr`` (where test hosts plug in, and where the API address lives). ``public_pool`` is where
    public IPv4 addresses come from: a CIDR or ranges ``A-B``, comma-separated; its first address is left to
    the uplink itself (the lab router, or the Internet namespace's own address on the user's LAN in
    ``bridge`` mode). In ``nat``/``bridge`` mode it is the user's ``--eip-pool``, addresses of their LAN.
    ``lan_pool`` is True then: the agent answers ARP for the pool's addresses on the LAN side.
    Never use 192.0.2.0/24 here (the machine's own uplink).
    """

    mode: str = "lab"
    public_pool: str = "198.51.100.0/24"
    internet_cidr: str = "203.0.113.0/24"
    internet_ipv6_cidr: str = "2001:db8:ffff::/64"
    lan_pool: bool = False


@dataclass
class ApiAccess:
    """How instances reach the Cloudlet API: ``address`` (on the Internet namespace's lab segment) serves
    HTTPS on 443 and HTTP on 80, relayed by the agent to the controller. Every name in ``names`` resolves to
    it inside VPCs, together with every name under it (``s3.home-1.amazonaws.com`` covers virtual-hosted
    buckets)."""

    address: str
    names: list[str] = field(default_factory=list)
    #: The controller's port for Session Manager's data channels (websockets), on the controller's host: the
    #: relay carries ``ssmmessages.<region>.<domain>`` upgrades there (0: no data channels).
    data_channel_port: int = 0


@dataclass
class DnsRecord:
    """A name the VPC resolver answers (A or AAAA by the address's family; the PTR record comes with it)."""

    name: str
    address: str


@dataclass
class VpcDns:
    """The Amazon-provided resolver of a VPC (present when ``enableDnsSupport`` is on).

    It listens at the VPC's base+2 and 169.254.169.253. ``records`` are the private names of every interface
    of the VPC (on any host), and, when ``enableDnsHostnames`` is on, the public names of those with a public
    address (resolving to the private address inside the VPC). Any other name is forwarded to the host's
    resolvers only when the host's uplink mode is ``nat`` or ``bridge``; in ``lab`` mode it is NXDOMAIN.
    """

    addresses: list[str]
    domain: str
    records: list[DnsRecord] = field(default_factory=list)


@dataclass
class Underlay:
    """The VXLAN underlay of this host: its address and, for lab hosts, the namespace holding it."""

    local_ip: str
    netns: str | None = None
    port: int = 4789


@dataclass
class HostNetwork:
    """The whole desired network state of one host (the document)."""

    host_id: str
    vpcs: list[Vpc] = field(default_factory=list)
    #: Resolved members (private IPv4/IPv6 addresses) of every security group some rule references.
    group_members: dict[str, list[str]] = field(default_factory=dict)
    #: Resolved CIDRs of every managed prefix list some rule references.
    prefix_lists: dict[str, list[str]] = field(default_factory=dict)
    uplink: Uplink = field(default_factory=Uplink)
    #: The Cloudlet API as instances reach it (None: not offered).
    api: ApiAccess | None = None
    underlay: Underlay | None = None
    #: Prefix of every namespace and host-visible interface the agent makes (leftover hunting by name).
    name_prefix: str = "cl-"
    #: The controller's monotonic revision of this document, for logs and stale-document detection.
    generation: int = 0
    version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.version != SCHEMA_VERSION:
            raise ContractError(f"document version {self.version} is not {SCHEMA_VERSION}")

    def vpc(self, vpc_id: str) -> Vpc:
        for vpc in self.vpcs:
            if vpc.id == vpc_id:
                return vpc
        raise KeyError(vpc_id)
