"""The ``loadbalancers`` section of a host's desired document (contract section 1): the load balancer
nodes this host runs, each with its listeners, rules and the target groups they forward to.

A node runs on the host that runs its ENI: ``desired_network`` places service interfaces like NAT
gateways (rendezvous hashing over the live hosts of the zone), and this section uses the same function
on the same hosts, so both sections always agree. :func:`build_nodes` is pure (rows in, JSON out); a
deregistered target is listed ``draining`` until its delay passes and left out after, so the document
changes with time alone, which the desired long-poll's final check at the end of each wait delivers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import select

from agent.contract import cidr
from controller.auth.secrets import SecretBox
from controller.ec2 import ids, lookups
from controller.ec2.vpc.desired_network import HostInfo, place_nat_gateway
from controller.elbv2 import conditions, health, state
from controller.hosts.desired import HostContext
from controller.state import utcnow

Row = Mapping[str, Any]


def loadbalancers_section(ctx: HostContext) -> dict[str, Any]:
    hosts = [HostInfo(h.host_id, h.zone, up=h.state == "up") for h in ctx.hosts]
    asking = next((h for h in hosts if h.host_id == ctx.host_id), HostInfo(ctx.host_id, ctx.config.local_zone))
    with ctx.db.read() as conn:
        nodes = [n for n in conn.execute(select(state.nodes).order_by(state.nodes.c.network_interface_id)).mappings()
                 if place_nat_gateway(n["network_interface_id"], n["availability_zone"], hosts, asking) == ctx.host_id]
        if not nodes:
            return {"nodes": []}
        lbs = {r["arn"]: r for r in conn.execute(select(state.load_balancers)).mappings()}
        listeners = list(conn.execute(select(state.listeners).order_by(state.listeners.c.port)).mappings())
        rule_rows = list(conn.execute(select(state.rules).order_by(state.rules.c.priority)).mappings())
        groups = {r["arn"]: r for r in conn.execute(select(state.target_groups)).mappings()}
        targets = list(conn.execute(select(state.targets).order_by(state.targets.c.target_id,
                                                                   state.targets.c.port)).mappings())
        prefixes = {}
        for node in nodes:
            subnet = lookups.find(conn, ids.SUBNET, node["subnet_id"])
            if subnet is not None:
                prefixes[node["subnet_id"]] = cidr.network(subnet["cidr_block"]).prefixlen
    box = SecretBox(ctx.config.data_dir / "secret.key")
    return {"nodes": build_nodes(nodes, lbs, listeners, rule_rows, groups, targets, prefixes, utcnow(), box.decrypt)}


def build_nodes(nodes: Sequence[Row], lbs: Mapping[str, Row], listeners: Sequence[Row], rule_rows: Sequence[Row],
                groups: Mapping[str, Row], targets: Sequence[Row], prefixes: Mapping[str, int], now: dt.datetime,
                decrypt: Callable[[str], str]) -> list[dict[str, Any]]:
    """The section's ``nodes`` for these node rows (pure)."""
    found = []
    for node in nodes:
        lb = lbs.get(node["load_balancer_arn"])
        if lb is None:
            continue
        mine = [li for li in listeners if li["load_balancer_arn"] == lb["arn"]]
        used: dict[str, None] = {}
        rendered = []
        for listener in mine:
            rules_here = [r for r in rule_rows if r["listener_arn"] == listener["arn"]]
            for actions in [listener["default_actions"], *(r["actions"] for r in rules_here)]:
                used.update(dict.fromkeys(conditions.target_groups_of(actions)))
            rendered.append(_listener(listener, rules_here, decrypt))
        attributes = lb["attributes"]
        found.append({
            "load_balancer_arn": lb["arn"], "name": lb["name"], "type": lb["type"], "scheme": lb["scheme"],
            "vpc_id": lb["vpc_id"], "subnet_id": node["subnet_id"], "interface_id": node["network_interface_id"],
            "ip": node["private_ip"], "mac": node["mac_address"], "prefix_len": prefixes.get(node["subnet_id"], 24),
            "idle_timeout_seconds": int(attributes.get("idle_timeout.timeout_seconds", "350")),
            "listeners": rendered,
            "target_groups": [_group(groups[arn], targets, now) for arn in used if arn in groups]})
    return found


def _listener(listener: Row, rules_here: Sequence[Row], decrypt: Callable[[str], str]) -> dict[str, Any]:
    key = listener["private_key"]
    return {"listener_arn": listener["arn"], "port": listener["port"], "protocol": listener["protocol"],
            "certificate_pem": listener["certificate_pem"], "private_key_pem": decrypt(key) if key else None,
            "default_actions": [conditions.contract_action(a) for a in listener["default_actions"]],
            "rules": [{"rule_arn": r["arn"], "priority": r["priority"],
                       "conditions": [conditions.contract_condition(c) for c in r["conditions"]],
                       "actions": [conditions.contract_action(a) for a in r["actions"]]} for r in rules_here]}


def _group(group: Row, targets: Sequence[Row], now: dt.datetime) -> dict[str, Any]:
    check, attributes = group["health_check"], group["attributes"]
    health_check: dict[str, Any] = {
        "enabled": check["HealthCheckEnabled"], "protocol": check["HealthCheckProtocol"],
        "port": str(check["HealthCheckPort"]), "interval_seconds": check["HealthCheckIntervalSeconds"],
        "timeout_seconds": check["HealthCheckTimeoutSeconds"], "healthy_threshold": check["HealthyThresholdCount"],
        "unhealthy_threshold": check["UnhealthyThresholdCount"]}
    if check.get("HealthCheckPath"):
        health_check |= {"path": check["HealthCheckPath"], "matcher": check["Matcher"]["HttpCode"]}
    sticky_type = attributes.get("stickiness.type", "lb_cookie")
    duration = attributes.get("stickiness.app_cookie.duration_seconds" if sticky_type == "app_cookie"
                              else "stickiness.lb_cookie.duration_seconds", "86400")
    return {"target_group_arn": group["arn"], "name": group["name"], "protocol": group["protocol"],
            "port": group["port"], "target_type": group["target_type"], "health_check": health_check,
            "deregistration_delay_seconds": int(attributes.get("deregistration_delay.timeout_seconds", "300")),
            "load_balancing_algorithm": attributes.get("load_balancing.algorithm.type", "round_robin"),
            "stickiness": {"enabled": attributes.get("stickiness.enabled") == "true", "type": sticky_type,
                           "duration_seconds": int(duration)},
            "targets": [{"id": t["target_id"], "ip": t["ip"], "port": t["port"],
                         "draining": health.is_draining(t["draining_until"], now)}
                        for t in targets if t["target_group_arn"] == group["arn"]
                        and not health.is_gone(t["draining_until"], now)]}
