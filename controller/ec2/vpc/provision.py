"""Creating resources' rows together with what AWS creates alongside them.

A new VPC comes with its main route table (the ``local`` routes), its default network
ACL (rules 100 allowing everything both ways) and its default security group (all out,
in only from itself); a new subnet is associated with the VPC's default ACL; a new
security group allows all egress. The API handlers and the default VPC both build on
these functions, so a VPC looks the same however it was made. Validation is the
callers' job: these functions only write.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, select

from agent.contract import cidr
from controller.ec2 import ids
from controller.ec2.vpc import state
from controller.state import utcnow

DEFAULT_GROUP_NAME = "default"
ALL_IPV4, ALL_IPV6 = "0.0.0.0/0", "::/0"


def create_vpc(conn: Connection, account: str, cidr_block: str, *, ipv6_cidr: str | None = None,
               is_default: bool = False, tenancy: str = "default", now: dt.datetime | None = None) -> RowMapping:
    """A VPC with its main route table, default network ACL and default security group."""
    now = now or utcnow()
    vpc_id = ids.VPC.new_id()
    conn.execute(insert(state.vpcs).values(
        vpc_id=vpc_id, account_id=account, cidr_block=cidr_block, cidr_association_id=ids.new_id("vpc-cidr-assoc"),
        ipv6_cidr_block=ipv6_cidr, ipv6_association_id=ids.new_id("vpc-cidr-assoc") if ipv6_cidr else None,
        is_default=is_default, instance_tenancy=tenancy, enable_dns_support=True, enable_dns_hostnames=is_default,
        enable_network_address_usage_metrics=False, created_at=now))
    vpc = conn.execute(select(state.vpcs).where(state.vpcs.c.vpc_id == vpc_id)).mappings().one()
    main_table = create_route_table(conn, account, vpc, now=now)
    conn.execute(insert(state.route_table_associations).values(
        association_id=ids.ROUTE_TABLE_ASSOCIATION.new_id(), route_table_id=main_table, vpc_id=vpc_id,
        subnet_id=None, is_main=True))
    create_network_acl(conn, account, vpc, is_default=True, now=now)
    create_security_group(conn, account, vpc, DEFAULT_GROUP_NAME, "default VPC security group", is_default=True,
                          now=now)
    return vpc


def allocate_ipv6_block(conn: Connection, pool: str) -> str | None:
    """The first free /56 of the configured IPv6 pool (None when the pool is used up)."""
    used = [r[0] for r in conn.execute(select(state.vpcs.c.ipv6_cidr_block)
                                       .where(state.vpcs.c.ipv6_cidr_block.is_not(None)))]
    return cidr.free_block(pool, cidr.VPC_IPV6_PREFIX, used)


def create_route_table(conn: Connection, account: str, vpc: RowMapping, *, now: dt.datetime | None = None) -> str:
    """A route table holding the VPC's ``local`` routes (one per VPC block)."""
    table_id = ids.ROUTE_TABLE.new_id()
    conn.execute(insert(state.route_tables).values(route_table_id=table_id, account_id=account,
                                                   vpc_id=vpc["vpc_id"], created_at=now or utcnow()))
    for block in (vpc["cidr_block"], vpc["ipv6_cidr_block"]):
        if block:
            add_route(conn, table_id, block, "local", "local", origin="CreateRouteTable")
    return table_id


def add_route(conn: Connection, table_id: str, destination: str, target_kind: str, target_id: str, *,
              origin: str = "CreateRoute", instance_id: str | None = None) -> None:
    conn.execute(insert(state.routes).values(route_table_id=table_id, destination=destination,
                                             target_kind=target_kind, target_id=target_id,
                                             instance_id=instance_id, origin=origin))


def create_network_acl(conn: Connection, account: str, vpc: RowMapping, *, is_default: bool,
                       now: dt.datetime | None = None) -> str:
    """A network ACL; the default one allows all traffic both ways (rule 100, and 101 for IPv6)."""
    acl_id = ids.NETWORK_ACL.new_id()
    conn.execute(insert(state.network_acls).values(network_acl_id=acl_id, account_id=account,
                                                   vpc_id=vpc["vpc_id"], is_default=is_default,
                                                   created_at=now or utcnow()))
    if is_default:
        for egress in (False, True):
            add_acl_entry(conn, acl_id, egress=egress, rule_number=100, protocol="-1", action="allow",
                          cidr_block=ALL_IPV4)
            if vpc["ipv6_cidr_block"]:
                add_acl_entry(conn, acl_id, egress=egress, rule_number=101, protocol="-1", action="allow",
                              ipv6_cidr_block=ALL_IPV6)
    return acl_id


def add_acl_entry(conn: Connection, acl_id: str, *, egress: bool, rule_number: int, protocol: str, action: str,
                  cidr_block: str | None = None, ipv6_cidr_block: str | None = None,
                  port_range: tuple[int, int] | None = None, icmp: tuple[int, int] | None = None) -> None:
    conn.execute(insert(state.network_acl_entries).values(
        network_acl_id=acl_id, egress=egress, rule_number=rule_number, protocol=protocol, rule_action=action,
        cidr_block=cidr_block, ipv6_cidr_block=ipv6_cidr_block,
        port_from=port_range[0] if port_range else None, port_to=port_range[1] if port_range else None,
        icmp_type=icmp[0] if icmp else None, icmp_code=icmp[1] if icmp else None))


def create_security_group(conn: Connection, account: str, vpc: RowMapping, name: str, description: str, *,
                          is_default: bool = False, now: dt.datetime | None = None) -> str:
    """A security group allowing all egress (IPv6 too in an IPv6 VPC); the default one also
    allows all ingress from its own members."""
    group_id = ids.SECURITY_GROUP.new_id()
    conn.execute(insert(state.security_groups).values(
        group_id=group_id, account_id=account, vpc_id=vpc["vpc_id"], group_name=name, description=description,
        is_default=is_default, created_at=now or utcnow()))
    if is_default:
        add_group_rule(conn, group_id, is_egress=False, protocol="-1", referenced_group_id=group_id,
                       referenced_account_id=account)
    add_group_rule(conn, group_id, is_egress=True, protocol="-1", cidr_ipv4=ALL_IPV4)
    if vpc["ipv6_cidr_block"]:
        add_group_rule(conn, group_id, is_egress=True, protocol="-1", cidr_ipv6=ALL_IPV6)
    return group_id


def add_group_rule(conn: Connection, group_id: str, *, is_egress: bool, protocol: str, from_port: int = -1,
                   to_port: int = -1, description: str | None = None, **peer: Any) -> str:
    """Store one security group rule; ``peer`` is one of cidr_ipv4, cidr_ipv6, prefix_list_id or
    referenced_group_id (with referenced_account_id)."""
    rule_id = ids.SECURITY_GROUP_RULE.new_id()
    rules = state.security_group_rules
    seq = conn.execute(select(func.coalesce(func.max(rules.c.created_seq), 0))).scalar_one() + 1
    conn.execute(insert(rules).values(rule_id=rule_id, group_id=group_id, is_egress=is_egress,
                                      ip_protocol=protocol, from_port=from_port, to_port=to_port,
                                      description=description, created_seq=seq, **peer))
    return rule_id


def create_subnet(conn: Connection, account: str, vpc: RowMapping, cidr_block: str, zone: str, *,
                  ipv6_cidr: str | None = None, map_public_ip: bool = False, default_for_az: bool = False,
                  now: dt.datetime | None = None) -> str:
    """A subnet, associated with its VPC's default network ACL as every new subnet is."""
    subnet_id = ids.SUBNET.new_id()
    conn.execute(insert(state.subnets).values(
        subnet_id=subnet_id, account_id=account, vpc_id=vpc["vpc_id"], cidr_block=cidr_block, ipv6_cidr_block=ipv6_cidr,
        ipv6_association_id=ids.SUBNET_CIDR_ASSOCIATION.new_id() if ipv6_cidr else None, availability_zone=zone,
        map_public_ip_on_launch=map_public_ip, assign_ipv6_address_on_creation=False, default_for_az=default_for_az,
        vni=state.next_vni(conn), created_at=now or utcnow()))
    acls = state.network_acls
    default_acl = conn.execute(select(acls.c.network_acl_id).where(acls.c.vpc_id == vpc["vpc_id"],
                                                                  acls.c.is_default)).scalar_one()
    conn.execute(insert(state.network_acl_associations).values(
        association_id=ids.NETWORK_ACL_ASSOCIATION.new_id(), network_acl_id=default_acl, subnet_id=subnet_id))
    return subnet_id


def create_internet_gateway(conn: Connection, account: str, *, vpc_id: str | None = None,
                            now: dt.datetime | None = None) -> str:
    igw_id = ids.INTERNET_GATEWAY.new_id()
    conn.execute(insert(state.internet_gateways).values(internet_gateway_id=igw_id, account_id=account,
                                                        vpc_id=vpc_id, created_at=now or utcnow()))
    return igw_id


def main_route_table(conn: Connection, vpc_id: str) -> str:
    assoc = state.route_table_associations
    return conn.execute(select(assoc.c.route_table_id).where(assoc.c.vpc_id == vpc_id, assoc.c.is_main)
                        ).scalar_one()


def free_public_ip(conn: Connection, pool: str) -> str | None:
    """The first public address no Elastic IP and no interface holds (None when the pool is used up)."""
    held = {r[0] for r in conn.execute(select(state.addresses.c.public_ip))}
    held.update(r[0] for r in conn.execute(select(state.network_interfaces.c.public_ip)
                                           .where(state.network_interfaces.c.public_ip.is_not(None))))
    return next((ip for ip in cidr.public_addresses(pool) if ip not in held), None)
