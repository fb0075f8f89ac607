"""The VPC tables: one row per AWS resource, associations as rows of their own.

The schema mirrors EC2's model so that each API rule is a query: a subnet's route table
is its row in ``ec2_route_table_associations`` (the VPC's main association otherwise), a
subnet's NACL its row in ``ec2_network_acl_associations`` (every subnet has one), a
private address is unique per subnet because ``(subnet_id, address)`` is a primary key.
Foreign keys (SQLite enforces them) back up the DependencyViolation checks. Route targets
are plain ids without foreign keys on purpose: a route outlives its target and then shows
``blackhole``. :func:`write` counts every committed VPC change in the hosts' generation
(``controller.hosts.generation``), so agents can tell a stale desired document from a fresh one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
    true,
)

from controller.hosts import generation
from controller.state import Database, JsonText, UtcDateTime, metadata

ID = 40  # room for the longest ids (``subnet-cidr-assoc-`` + 17 hex digits)
CIDR = 49  # an IPv6 CIDR written out in full

vpcs = Table(
    "ec2_vpcs", metadata,
    Column("vpc_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("cidr_block", String(CIDR), nullable=False),
    Column("cidr_association_id", String(ID), nullable=False),
    Column("ipv6_cidr_block", String(CIDR), unique=True),
    Column("ipv6_association_id", String(ID)),
    Column("is_default", Boolean, nullable=False),
    Column("instance_tenancy", String(16), nullable=False),
    Column("enable_dns_support", Boolean, nullable=False),
    Column("enable_dns_hostnames", Boolean, nullable=False),
    Column("enable_network_address_usage_metrics", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

#: Whether an account's default VPC was made (AWS makes it once; deleting it does not bring it back).
account_defaults = Table(
    "ec2_account_defaults", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("default_vpc_id", String(ID)),
    Column("created_at", UtcDateTime, nullable=False),
)

subnets = Table(
    "ec2_subnets", metadata,
    Column("subnet_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("vpc_id", String(ID), ForeignKey("ec2_vpcs.vpc_id"), nullable=False, index=True),
    Column("cidr_block", String(CIDR), nullable=False),
    Column("ipv6_cidr_block", String(CIDR)),
    Column("ipv6_association_id", String(ID)),
    Column("availability_zone", String(64), nullable=False),
    Column("map_public_ip_on_launch", Boolean, nullable=False),
    Column("assign_ipv6_address_on_creation", Boolean, nullable=False),
    Column("default_for_az", Boolean, nullable=False),
    #: VXLAN network identifier of the subnet's bridges when it spans hosts.
    Column("vni", Integer, nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
)

route_tables = Table(
    "ec2_route_tables", metadata,
    Column("route_table_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("vpc_id", String(ID), ForeignKey("ec2_vpcs.vpc_id"), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
)

route_table_associations = Table(
    "ec2_route_table_associations", metadata,
    Column("association_id", String(ID), primary_key=True),
    Column("route_table_id", String(ID), ForeignKey("ec2_route_tables.route_table_id"), nullable=False,
           index=True),
    Column("vpc_id", String(ID), ForeignKey("ec2_vpcs.vpc_id"), nullable=False),
    Column("subnet_id", String(ID), ForeignKey("ec2_subnets.subnet_id"), unique=True),
    Column("is_main", Boolean, nullable=False),
)
Index("ec2_one_main_route_table", route_table_associations.c.vpc_id, unique=True,
      sqlite_where=route_table_associations.c.is_main == true(),
      postgresql_where=route_table_associations.c.is_main == true())

routes = Table(
    "ec2_routes", metadata,
    Column("route_table_id", String(ID), ForeignKey("ec2_route_tables.route_table_id"), primary_key=True),
    #: A CIDR (either family) or a prefix list id.
    Column("destination", String(CIDR), primary_key=True),
    #: local | gateway (igw-) | nat | egress-only | peering | interface | instance
    Column("target_kind", String(16), nullable=False),
    Column("target_id", String(ID), nullable=False),
    #: For instance routes: the instance named (target_id holds its primary ENI).
    Column("instance_id", String(ID)),
    Column("origin", String(32), nullable=False),
)

internet_gateways = Table(
    "ec2_internet_gateways", metadata,
    Column("internet_gateway_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("vpc_id", String(ID), ForeignKey("ec2_vpcs.vpc_id"), unique=True),
    Column("created_at", UtcDateTime, nullable=False),
)

egress_only_gateways = Table(
    "ec2_egress_only_gateways", metadata,
    Column("egress_only_internet_gateway_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("vpc_id", String(ID), ForeignKey("ec2_vpcs.vpc_id"), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
)

network_interfaces = Table(
    "ec2_network_interfaces", metadata,
    Column("network_interface_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("vpc_id", String(ID), ForeignKey("ec2_vpcs.vpc_id"), nullable=False, index=True),
    Column("subnet_id", String(ID), ForeignKey("ec2_subnets.subnet_id"), nullable=False, index=True),
    Column("availability_zone", String(64), nullable=False),
    Column("mac_address", String(17), nullable=False, unique=True),
    Column("description", String(255), nullable=False),
    #: interface | nat_gateway (AWS's InterfaceType)
    Column("interface_type", String(32), nullable=False),
    Column("requester_managed", Boolean, nullable=False),
    Column("requester_id", String(64)),
    Column("source_dest_check", Boolean, nullable=False),
    #: An auto-assigned public IPv4 address (MapPublicIpOnLaunch); Elastic IPs live in ec2_addresses.
    Column("public_ip", String(15), unique=True),
    Column("attachment_id", String(ID), unique=True),
    Column("instance_id", String(ID), index=True),
    Column("instance_owner_id", String(12)),
    Column("device_index", Integer),
    Column("attach_time", UtcDateTime),
    Column("delete_on_termination", Boolean),
    #: Where the attached instance runs and how its frames reach the subnet bridge
    #: (agent.contract.network.Attachment as JSON); set by the compute side.
    Column("host_id", String(64), index=True),
    Column("port", JsonText),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("instance_id", "device_index", name="ec2_one_interface_per_device_index"),
)

interface_addresses = Table(
    "ec2_interface_addresses", metadata,
    Column("subnet_id", String(ID), ForeignKey("ec2_subnets.subnet_id"), primary_key=True),
    Column("address", String(39), primary_key=True),
    Column("network_interface_id", String(ID), ForeignKey("ec2_network_interfaces.network_interface_id"),
           nullable=False, index=True),
    Column("family", Integer, nullable=False),
    Column("is_primary", Boolean, nullable=False),
)

security_groups = Table(
    "ec2_security_groups", metadata,
    Column("group_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("vpc_id", String(ID), ForeignKey("ec2_vpcs.vpc_id"), nullable=False, index=True),
    Column("group_name", String(255), nullable=False),
    Column("description", String(255), nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("vpc_id", "group_name", name="ec2_group_name_per_vpc"),
)

security_group_rules = Table(
    "ec2_security_group_rules", metadata,
    Column("rule_id", String(ID), primary_key=True),
    Column("group_id", String(ID), ForeignKey("ec2_security_groups.group_id"), nullable=False, index=True),
    Column("is_egress", Boolean, nullable=False),
    #: -1 | tcp | udp | icmp | icmpv6 | a protocol number
    Column("ip_protocol", String(8), nullable=False),
    Column("from_port", Integer, nullable=False),
    Column("to_port", Integer, nullable=False),
    Column("cidr_ipv4", String(18)),
    Column("cidr_ipv6", String(CIDR)),
    Column("prefix_list_id", String(ID)),
    Column("referenced_group_id", String(ID), index=True),
    Column("referenced_account_id", String(12)),
    Column("description", String(255)),
    Column("created_seq", Integer, nullable=False),
)

interface_groups = Table(
    "ec2_interface_groups", metadata,
    Column("network_interface_id", String(ID), ForeignKey("ec2_network_interfaces.network_interface_id"),
           primary_key=True),
    Column("group_id", String(ID), ForeignKey("ec2_security_groups.group_id"), primary_key=True, index=True),
    Column("position", Integer, nullable=False),
)

network_acls = Table(
    "ec2_network_acls", metadata,
    Column("network_acl_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("vpc_id", String(ID), ForeignKey("ec2_vpcs.vpc_id"), nullable=False, index=True),
    Column("is_default", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

network_acl_entries = Table(
    "ec2_network_acl_entries", metadata,
    Column("network_acl_id", String(ID), ForeignKey("ec2_network_acls.network_acl_id"), primary_key=True),
    Column("egress", Boolean, primary_key=True),
    Column("rule_number", Integer, primary_key=True),
    #: AWS's protocol number as text ("-1" all, "6" tcp, "17" udp, "1" icmp, "58" icmpv6...)
    Column("protocol", String(8), nullable=False),
    Column("rule_action", String(8), nullable=False),
    Column("cidr_block", String(18)),
    Column("ipv6_cidr_block", String(CIDR)),
    Column("port_from", Integer),
    Column("port_to", Integer),
    Column("icmp_type", Integer),
    Column("icmp_code", Integer),
)

network_acl_associations = Table(
    "ec2_network_acl_associations", metadata,
    Column("association_id", String(ID), primary_key=True),
    Column("network_acl_id", String(ID), ForeignKey("ec2_network_acls.network_acl_id"), nullable=False,
           index=True),
    Column("subnet_id", String(ID), ForeignKey("ec2_subnets.subnet_id"), nullable=False, unique=True),
)

addresses = Table(
    "ec2_addresses", metadata,
    Column("allocation_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("public_ip", String(15), nullable=False, unique=True),
    Column("association_id", String(ID), unique=True),
    Column("network_interface_id", String(ID), index=True),
    Column("private_ip", String(15)),
    Column("created_at", UtcDateTime, nullable=False),
)

nat_gateways = Table(
    "ec2_nat_gateways", metadata,
    Column("nat_gateway_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("vpc_id", String(ID), nullable=False, index=True),
    Column("subnet_id", String(ID), nullable=False, index=True),
    Column("connectivity_type", String(16), nullable=False),
    Column("allocation_id", String(ID)),
    Column("public_ip", String(15)),
    Column("network_interface_id", String(ID)),
    Column("private_ip", String(15)),
    #: pending | available | deleting | deleted | failed; see nat_gateways.effective_state.
    Column("state", String(16), nullable=False),
    #: When a pending gateway becomes available, or a deleting one deleted.
    Column("settles_at", UtcDateTime, nullable=False),
    Column("failure_code", String(64)),
    Column("failure_message", String(255)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("deleted_at", UtcDateTime),
)

peering_connections = Table(
    "ec2_vpc_peering_connections", metadata,
    Column("vpc_peering_connection_id", String(ID), primary_key=True),
    Column("requester_account_id", String(12), nullable=False, index=True),
    Column("requester_vpc_id", String(ID), nullable=False, index=True),
    Column("accepter_account_id", String(12), nullable=False, index=True),
    Column("accepter_vpc_id", String(ID), nullable=False, index=True),
    Column("accepter_region", String(32), nullable=False),
    #: The VPCs' blocks when the request was made: {"requester": {...}, "accepter": {...}}.
    Column("cidrs", JsonText, nullable=False),
    #: initiating-request | pending-acceptance | active | rejected | deleted | expired | failed
    Column("status", String(24), nullable=False),
    Column("status_message", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

prefix_lists = Table(
    "ec2_prefix_lists", metadata,
    Column("prefix_list_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("address_family", String(8), nullable=False),
    Column("max_entries", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

prefix_list_entries = Table(
    "ec2_prefix_list_entries", metadata,
    Column("prefix_list_id", String(ID), ForeignKey("ec2_prefix_lists.prefix_list_id"), primary_key=True),
    Column("cidr", String(CIDR), primary_key=True),
    Column("description", String(255)),
)

#: VPC endpoints (controller/ec2/vpc/vpc_endpoints.py). A gateway endpoint's route tables are its rows in
#: ``ec2_routes`` (target_kind ``vpc-endpoint``), an interface endpoint's subnets its requester-managed ENIs.
vpc_endpoints = Table(
    "ec2_vpc_endpoints", metadata,
    Column("vpc_endpoint_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("vpc_id", String(ID), nullable=False, index=True),
    Column("service_name", String(255), nullable=False),
    #: Gateway | Interface
    Column("endpoint_type", String(16), nullable=False),
    #: pending | available | deleting | deleted; see vpc_endpoints.endpoint_state.
    Column("state", String(24), nullable=False),
    Column("settles_at", UtcDateTime, nullable=False),
    Column("policy_document", String, nullable=False),
    Column("private_dns_enabled", Boolean, nullable=False),
    #: Interface endpoints' security groups (their ENIs carry them too), in the caller's order.
    Column("security_group_ids", JsonText, nullable=False),
    #: The random part of the endpoint's regional DNS name (``vpce-…-<suffix>.<service>.<region>.vpce.<domain>``).
    Column("dns_suffix", String(16), nullable=False),
    Column("client_token", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
)

#: EC2 Instance Connect Endpoints (controller/ec2/vpc/instance_connect_endpoints.py): each owns a requester-managed
#: service ENI in its subnet, the address its tunnels reach instances from.
instance_connect_endpoints = Table(
    "ec2_instance_connect_endpoints", metadata,
    Column("instance_connect_endpoint_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("vpc_id", String(ID), nullable=False, index=True),
    Column("subnet_id", String(ID), nullable=False),
    Column("availability_zone", String(32), nullable=False),
    Column("network_interface_id", String(ID)),
    #: create-in-progress | delete-in-progress (then create-complete / gone once ``settles_at`` passed).
    Column("state", String(24), nullable=False),
    Column("settles_at", UtcDateTime, nullable=False),
    Column("preserve_client_ip", Boolean, nullable=False),
    Column("security_group_ids", JsonText, nullable=False),
    #: The random label of its DNS name (``eice-….<suffix>.ec2-instance-connect-endpoint.<region>.<domain>``).
    Column("dns_suffix", String(16), nullable=False),
    Column("client_token", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
)

tags = Table(
    "ec2_tags", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("resource_id", String(ID), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
    Column("resource_type", String(64), nullable=False),
)
Index("ec2_tags_by_resource", tags.c.resource_id)
Index("ec2_tags_by_key", tags.c.account_id, tags.c.key, tags.c.value)  # tag filters: the ids with a tag

@contextmanager
def write(db: Database) -> Iterator[Connection]:
    """A write transaction that counts a change of what hosts run: their agents wake when it commits."""
    with db.begin() as conn:
        yield conn
        generation.bump(conn)


def next_vni(conn: Connection) -> int:
    """A VXLAN id no subnet uses yet (VNIs are 24-bit; the low thousand are left to operators)."""
    highest = conn.execute(select(func.max(subnets.c.vni))).scalar()
    return max(int(highest or 0) + 1, 1000)

