"""The load balancer agent's report (contract section 2): ``POST /_cloudlet/agent/v1/hosts/<id>/loadbalancers``.

Each node's targets' health is kept (the latest per target group, target, port and node) for
DescribeTargetHealth; its counters (deltas since its previous report) become CloudWatch datapoints in
AWS/ApplicationELB or AWS/NetworkELB through ``controller.cloudwatch.ingest`` (contract section 3), with
HealthyHostCount/UnHealthyHostCount per load balancer and target group. Health changes nothing a host
runs, so these writes do not move the hosts' generation.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, jsonify, request
from sqlalchemy import select

from controller.cloudwatch import ingest
from controller.elbv2 import records, state
from controller.hosts.rpc import blueprint
from controller.state import upsert

log = logging.getLogger(__name__)

STATES = ("initial", "healthy", "unhealthy", "draining", "unavailable")
COUNTERS = ("requests", "http_2xx", "http_3xx", "http_4xx", "http_5xx", "target_2xx", "target_3xx", "target_4xx",
            "target_5xx", "elb_5xx", "target_response_time_sum_seconds", "target_responses", "new_connections",
            "active_connections", "processed_bytes")


@dataclass(frozen=True)
class TargetReport:
    target_group_arn: str
    target_id: str
    port: int
    state: str
    reason: str | None
    description: str | None


@dataclass(frozen=True)
class NodeReport:
    load_balancer_arn: str
    interface_id: str
    targets: list[TargetReport] = field(default_factory=list)
    counters: dict[str, float] = field(default_factory=dict)


def _text(value: Any, what: str, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return value


def parse(body: Any) -> list[NodeReport]:
    """The report's nodes, or ValueError naming what is malformed (pure)."""
    if not isinstance(body, dict) or not isinstance(body.get("nodes"), list):
        raise ValueError("a report is an object with a 'nodes' list")
    found = []
    for node in body["nodes"]:
        if not isinstance(node, dict):
            raise ValueError("each node is an object")
        targets = []
        for target in node.get("targets") or []:
            if not isinstance(target, dict):
                raise ValueError("each target is an object")
            port = target.get("port")
            if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
                raise ValueError("a target's 'port' must be a port number")
            if target.get("state") not in STATES:
                raise ValueError(f"a target's 'state' must be one of {', '.join(STATES)}")
            targets.append(TargetReport(_text(target.get("target_group_arn"), "target_group_arn"),
                                        _text(target.get("id"), "id"), port, target["state"],
                                        _text(target.get("reason"), "reason", True),
                                        _text(target.get("description"), "description", True)))
        counters = node.get("counters") or {}
        if not isinstance(counters, dict) or any(
                not isinstance(v, int | float) or isinstance(v, bool) or v < 0 for v in counters.values()):
            raise ValueError("'counters' must map names to non-negative numbers")
        found.append(NodeReport(_text(node.get("load_balancer_arn"), "load_balancer_arn"),
                                _text(node.get("interface_id"), "interface_id"), targets,
                                {k: float(v) for k, v in counters.items() if k in COUNTERS}))
    return found


@blueprint.post("/hosts/<host_id>/loadbalancers")
def report_loadbalancers(host_id: str) -> Any:
    cloud = current_app.config["CLOUD"]
    try:
        nodes = parse(request.get_json(force=True, silent=True))
    except ValueError as exc:
        return jsonify(error=f"bad report: {exc}"), 400
    known = store(cloud, nodes)
    publish_metrics(cloud, [n for n in nodes if n.interface_id in known], known)
    return jsonify(ok=True)


def store(cloud: Any, nodes: list[NodeReport], now: float | None = None) -> dict[str, Mapping[str, Any]]:
    """Keep the reported health of the nodes that exist; returns their load balancers by interface id."""
    now = time.time() if now is None else now
    table = state.target_health
    with cloud.db.begin() as conn:
        rows = conn.execute(select(state.nodes.c.network_interface_id, state.load_balancers).join(
            state.load_balancers, state.load_balancers.c.arn == state.nodes.c.load_balancer_arn)).mappings().all()
        known = {r["network_interface_id"]: r for r in rows}
        for node in nodes:
            lb = known.get(node.interface_id)
            if lb is None or lb["arn"] != node.load_balancer_arn:
                continue
            for target in node.targets:
                values = {"state": target.state, "reason": target.reason, "description": target.description,
                          "reported_at": now}
                statement = upsert(table).values(target_group_arn=target.target_group_arn,
                                                        target_id=target.target_id, port=target.port,
                                                        interface_id=node.interface_id, **values)
                conn.execute(statement.on_conflict_do_update(
                    index_elements=[table.c.target_group_arn, table.c.target_id, table.c.port, table.c.interface_id],
                    set_=values))
    return {k: v for k, v in known.items() if any(n.interface_id == k and n.load_balancer_arn == v["arn"]
                                                  for n in nodes)}


def datums_for(node: NodeReport, lb: Mapping[str, Any], at: dt.datetime) -> list[tuple[str, tuple[tuple[str, str], ...],
                                                                                       float, str]]:
    """(metric, dimensions, value, unit) of one node's report (pure); TargetResponseTime is added apart."""
    lb_dim = ("LoadBalancer", records.lb_suffix(lb["arn"]))
    c = node.counters
    found = []
    if lb["type"] == "application":
        for metric, key in (("RequestCount", "requests"), ("HTTPCode_Target_2XX_Count", "target_2xx"),
                            ("HTTPCode_Target_3XX_Count", "target_3xx"), ("HTTPCode_Target_4XX_Count", "target_4xx"),
                            ("HTTPCode_Target_5XX_Count", "target_5xx"), ("HTTPCode_ELB_5XX_Count", "elb_5xx"),
                            ("NewConnectionCount", "new_connections"), ("ActiveConnectionCount", "active_connections")):
            if key in c:
                found.append((metric, (lb_dim,), c[key], "Count"))
    else:
        for metric, key in (("NewFlowCount", "new_connections"), ("ActiveFlowCount", "active_connections")):
            if key in c:
                found.append((metric, (lb_dim,), c[key], "Count"))
    if "processed_bytes" in c:
        found.append(("ProcessedBytes", (lb_dim,), c["processed_bytes"], "Bytes"))
    groups: dict[str, dict[tuple[str, int], bool]] = {}
    for target in node.targets:
        if target.state != "draining":
            groups.setdefault(target.target_group_arn, {})[(target.target_id, target.port)] = target.state == "healthy"
    for arn, seen in sorted(groups.items()):
        dims = tuple(sorted((lb_dim, ("TargetGroup", records.tg_suffix(arn)))))
        healthy = sum(seen.values())
        found.append(("HealthyHostCount", dims, float(healthy), "Count"))
        found.append(("UnHealthyHostCount", dims, float(len(seen) - healthy), "Count"))
        if lb["type"] == "application" and "requests" in c and len(groups) == 1 and healthy:
            found.append(("RequestCountPerTarget", dims, c["requests"] / healthy, "Count"))
    return found


def publish_metrics(cloud: Any, nodes: list[NodeReport], known: Mapping[str, Mapping[str, Any]]) -> None:
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for node in nodes:
        lb = known[node.interface_id]
        namespace = "AWS/ApplicationELB" if lb["type"] == "application" else "AWS/NetworkELB"
        datums = [ingest.Datum(metric_name=m, dimensions=d, timestamp=at, value=v, unit=u)
                  for m, d, v, u in datums_for(node, lb, at)]
        responses = node.counters.get("target_responses", 0)
        if lb["type"] == "application" and responses:
            mean = node.counters.get("target_response_time_sum_seconds", 0.0) / responses
            datums.append(ingest.Datum(
                metric_name="TargetResponseTime", dimensions=(("LoadBalancer", records.lb_suffix(lb["arn"])),),
                timestamp=at, unit="Seconds", statistics=ingest.StatisticSet(
                    responses, node.counters.get("target_response_time_sum_seconds", 0.0), mean, mean)))
        try:
            ingest.put(cloud, lb["account_id"], lb["region"], namespace, datums)
        except Exception:  # metrics must never fail the agent's report
            log.exception("storing load balancer metrics failed")
