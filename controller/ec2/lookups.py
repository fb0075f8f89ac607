"""Loading one resource by id for the caller, or AWS's "does not exist" error.

A resource of another account is reported as missing, exactly like an unknown id: EC2
never reveals that an id exists elsewhere.
"""

from __future__ import annotations

from sqlalchemy import Connection, RowMapping, Table, select

from controller.ec2 import ids
from controller.ec2.ids import Kind
from controller.ec2.vpc import state
from controller.ec2.vpc.reachability import state as reachability

_TABLES: dict[str, tuple[Table, str]] = {
    ids.VPC.prefix: (state.vpcs, "vpc_id"),
    ids.SUBNET.prefix: (state.subnets, "subnet_id"),
    ids.ROUTE_TABLE.prefix: (state.route_tables, "route_table_id"),
    ids.INTERNET_GATEWAY.prefix: (state.internet_gateways, "internet_gateway_id"),
    ids.EGRESS_ONLY_GATEWAY.prefix: (state.egress_only_gateways, "egress_only_internet_gateway_id"),
    ids.NAT_GATEWAY.prefix: (state.nat_gateways, "nat_gateway_id"),
    ids.ELASTIC_IP.prefix: (state.addresses, "allocation_id"),
    ids.SECURITY_GROUP.prefix: (state.security_groups, "group_id"),
    ids.NETWORK_ACL.prefix: (state.network_acls, "network_acl_id"),
    ids.NETWORK_INTERFACE.prefix: (state.network_interfaces, "network_interface_id"),
    ids.PREFIX_LIST.prefix: (state.prefix_lists, "prefix_list_id"),
    ids.NETWORK_INSIGHTS_PATH.prefix: (reachability.paths, "path_id"),
    ids.NETWORK_INSIGHTS_ANALYSIS.prefix: (reachability.analyses, "analysis_id"),
}


def fetch(conn: Connection, kind: Kind, resource_id: str | None, account: str) -> RowMapping:
    """The caller's resource of ``kind`` named ``resource_id``; the kind's NotFound error otherwise."""
    table, column = _TABLES[kind.prefix]
    row = None
    if resource_id:
        row = conn.execute(select(table).where(table.c[column] == resource_id,
                                               table.c.account_id == account)).mappings().first()
    if row is None:
        raise kind.missing([resource_id or ""])
    return row


def find(conn: Connection, kind: Kind, resource_id: str) -> RowMapping | None:
    """A resource of any account (for cross-account references such as peering), or None."""
    table, column = _TABLES[kind.prefix]
    return conn.execute(select(table).where(table.c[column] == resource_id)).mappings().first()


def vpc(conn: Connection, vpc_id: str | None, account: str) -> RowMapping:
    return fetch(conn, ids.VPC, vpc_id, account)


def subnet(conn: Connection, subnet_id: str | None, account: str) -> RowMapping:
    return fetch(conn, ids.SUBNET, subnet_id, account)


def default_vpc(conn: Connection, account: str) -> RowMapping | None:
    return conn.execute(select(state.vpcs).where(state.vpcs.c.account_id == account,
                                                 state.vpcs.c.is_default)).mappings().first()


def instance_primary_interface(conn: Connection, instance_id: str, account: str) -> RowMapping:
    """The primary ENI (device index 0) of one of the caller's instances.

    An instance exists for the VPC layer exactly when it has a primary interface, which
    every VPC instance has from launch to termination.
    """
    eni = state.network_interfaces
    row = conn.execute(select(eni).where(eni.c.instance_id == instance_id, eni.c.device_index == 0,
                                         eni.c.instance_owner_id == account)).mappings().first()
    if row is None:
        raise ids.INSTANCE.missing([instance_id])
    return row
