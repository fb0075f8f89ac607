"""Finding ELBv2 resources for the caller, their ARNs, the write transaction and the API's outputs.

A resource of another account or region is reported as missing, exactly like an unknown ARN. Every
write goes through :func:`write`, which counts it in the hosts' generation: the ``loadbalancers``
section (and the ``network`` section, for nodes' ENIs) of some host may change with it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, RowMapping, Table, func, select

from controller.api import Params, RequestContext, ResourceMapper
from controller.elbv2 import rules, state
from controller.elbv2.errors import ListenerNotFound, LoadBalancerNotFound, RuleNotFound, TargetGroupNotFound
from controller.hosts import generation
from controller.state import Database


@contextmanager
def write(db: Database) -> Iterator[Connection]:
    """A write transaction that counts a change of what hosts run: their agents wake when it commits."""
    with db.begin() as conn:
        yield conn
        generation.bump(conn)


def next_seq(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.max(table.c.seq))).scalar() or 0) + 1


def new_id() -> str:
    return secrets.token_hex(8)


def arn_prefix(ctx: RequestContext) -> str:
    return f"arn:{ctx.cloud.config.partition}:elasticloadbalancing:{ctx.region}:{ctx.account_id}:"


def lb_suffix(arn: str) -> str:
    """``app/web/50dc6c495c0c9188``: the ARN after ``loadbalancer/`` (CloudWatch's LoadBalancer dimension)."""
    return arn.split(":loadbalancer/", 1)[-1]


def tg_suffix(arn: str) -> str:
    """``targetgroup/web-tg/73e2d6bc24d8a067`` (CloudWatch's TargetGroup dimension)."""
    return arn.rsplit(":", 1)[-1]


def arns_of(*keys: str) -> ResourceMapper:
    """IAM's resources of an operation: the ARNs its input names under ``keys`` (AWS authorizes ELBv2 calls
    on the load balancer, target group, listener or rule they act on)."""

    def mapper(ctx: RequestContext, params: Params) -> list[str]:
        found: list[str] = []
        for key in keys:
            value = params.get(key)
            found += [v for v in value if isinstance(v, str)] if isinstance(value, list) else \
                [value] if isinstance(value, str) and value else []
        return found or ["*"]

    return mapper


# --- lookups --------------------------------------------------------------------------------------------------


def _owned(conn: Connection, table: Table, ctx: RequestContext, arn: str) -> RowMapping | None:
    return conn.execute(select(table).where(table.c.arn == arn, table.c.account_id == ctx.account_id)) \
        .mappings().first()


def load_balancer(conn: Connection, ctx: RequestContext, arn: str) -> RowMapping:
    row = _owned(conn, state.load_balancers, ctx, arn)
    if row is None or row["region"] != ctx.region:
        raise LoadBalancerNotFound(f"Load balancer '{arn}' not found")
    return row


def target_group(conn: Connection, ctx: RequestContext, arn: str) -> RowMapping:
    row = _owned(conn, state.target_groups, ctx, arn)
    if row is None or row["region"] != ctx.region:
        raise TargetGroupNotFound(f"Target group '{arn}' not found")
    return row


def listener(conn: Connection, ctx: RequestContext, arn: str) -> RowMapping:
    row = _owned(conn, state.listeners, ctx, arn)
    if row is None:
        raise ListenerNotFound(f"Listener '{arn}' not found")
    return row


def rule(conn: Connection, ctx: RequestContext, arn: str) -> tuple[RowMapping | None, RowMapping]:
    """(rule row, its listener) for a rule ARN; the row is None for a listener's default rule."""
    row = _owned(conn, state.rules, ctx, arn)
    if row is not None:
        return row, listener(conn, ctx, row["listener_arn"])
    table = state.listeners
    owner = conn.execute(select(table).where(table.c.default_rule_arn == arn, table.c.account_id == ctx.account_id)) \
        .mappings().first()
    if owner is None:
        raise RuleNotFound(f"Rule '{arn}' not found")
    return None, owner


def nodes_of(conn: Connection, lb_arn: str) -> list[RowMapping]:
    table = state.nodes
    return list(conn.execute(select(table).where(table.c.load_balancer_arn == lb_arn)
                             .order_by(table.c.availability_zone)).mappings())


def used_target_groups(conn: Connection) -> dict[str, set[str]]:
    """Target group ARN -> the load balancers whose listeners or rules forward to it."""
    from controller.elbv2.conditions import target_groups_of

    used: dict[str, set[str]] = {}
    listeners = {r["arn"]: r for r in conn.execute(select(state.listeners)).mappings()}
    for row in listeners.values():
        for tg in target_groups_of(row["default_actions"]):
            used.setdefault(tg, set()).add(row["load_balancer_arn"])
    for row in conn.execute(select(state.rules)).mappings():
        owner = listeners.get(row["listener_arn"])
        for tg in target_groups_of(row["actions"]):
            if owner is not None:
                used.setdefault(tg, set()).add(owner["load_balancer_arn"])
    return used


# --- outputs --------------------------------------------------------------------------------------------------


def load_balancer_output(row: RowMapping, nodes: list[RowMapping], service_domain: str) -> Params:
    found: Params = {
        "LoadBalancerArn": row["arn"],
        "DNSName": rules.dns_name(row["name"], row["lb_id"], row["scheme"], row["region"], service_domain),
        "CanonicalHostedZoneId": rules.HOSTED_ZONES[row["type"]], "CreatedTime": row["created_at"],
        "LoadBalancerName": row["name"], "Scheme": row["scheme"], "VpcId": row["vpc_id"],
        "State": {"Code": row["state"]}, "Type": row["type"], "IpAddressType": row["ip_address_type"],
        "AvailabilityZones": [_zone(n, row["scheme"]) for n in nodes]}
    if row["type"] == "application" or row["security_groups"]:
        found["SecurityGroups"] = list(row["security_groups"])
    return found


def _zone(node: RowMapping, scheme: str) -> Params:
    address: dict[str, Any] = {"PrivateIPv4Address": node["private_ip"]}
    if scheme == "internet-facing" and node["public_ip"]:
        address["IpAddress"] = node["public_ip"]
    return {"ZoneName": node["availability_zone"], "SubnetId": node["subnet_id"],
            "LoadBalancerAddresses": [address]}


def target_group_output(row: RowMapping, lb_arns: set[str]) -> Params:
    found: Params = {"TargetGroupArn": row["arn"], "TargetGroupName": row["name"], "TargetType": row["target_type"],
                     "LoadBalancerArns": sorted(lb_arns), "IpAddressType": row["ip_address_type"],
                     **row["health_check"]}
    for key, column in (("Protocol", "protocol"), ("Port", "port"), ("VpcId", "vpc_id"),
                        ("ProtocolVersion", "protocol_version")):
        if row[column] is not None:
            found[key] = row[column]
    return found


def listener_output(row: RowMapping) -> Params:
    found: Params = {"ListenerArn": row["arn"], "LoadBalancerArn": row["load_balancer_arn"], "Port": row["port"],
                     "Protocol": row["protocol"], "DefaultActions": row["default_actions"]}
    if row["certificates"]:
        found["Certificates"] = row["certificates"]
    if row["ssl_policy"]:
        found["SslPolicy"] = row["ssl_policy"]
    if row["alpn_policy"]:
        found["AlpnPolicy"] = row["alpn_policy"]
    return found


def rule_output(row: RowMapping | None, owner: RowMapping) -> Params:
    if row is None:
        return {"RuleArn": owner["default_rule_arn"], "Priority": "default", "Conditions": [],
                "Actions": owner["default_actions"], "IsDefault": True}
    return {"RuleArn": row["arn"], "Priority": str(row["priority"]), "Conditions": row["conditions"],
            "Actions": row["actions"], "IsDefault": False}
