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
from typing import Any

from flask import current_app, jsonify
from sqlalchemy import select

from agent.contract.reports import LoadBalancerNodeReport, LoadBalancersReport
from controller.cloudwatch import ingest
from controller.elbv2 import records, state
from controller.hosts.rpc import blueprint, read_message
from controller.state import upsert

log = logging.getLogger(__name__)

@blueprint.post("/hosts/<host_id>/loadbalancers")
def report_loadbalancers(host_id: str) -> Any:
    cloud = current_app.config["CLOUD"]
    nodes = read_message(LoadBalancersReport).nodes
    known = store(cloud, nodes)
    publish_metrics(cloud, [n for n in nodes if n.interface_id in known], known)
    return jsonify(ok=True)


def store(cloud: Any, nodes: list[LoadBalancerNodeReport], now: float | None = None) -> dict[str, Mapping[str, Any]]:
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
                                                        target_id=target.id, port=target.port,
                                                        interface_id=node.interface_id, **values)
                conn.execute(statement.on_conflict_do_update(
                    index_elements=[table.c.target_group_arn, table.c.target_id, table.c.port, table.c.interface_id],
                    set_=values))
    return {k: v for k, v in known.items() if any(n.interface_id == k and n.load_balancer_arn == v["arn"]
                                                  for n in nodes)}


def datums_for(node: LoadBalancerNodeReport, lb: Mapping[str, Any], at: dt.datetime) -> list[tuple[str, tuple[tuple[str, str], ...],
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
            groups.setdefault(target.target_group_arn, {})[(target.id, target.port)] = target.state == "healthy"
    for arn, seen in sorted(groups.items()):
        dims = tuple(sorted((lb_dim, ("TargetGroup", records.tg_suffix(arn)))))
        healthy = sum(seen.values())
        found.append(("HealthyHostCount", dims, float(healthy), "Count"))
        found.append(("UnHealthyHostCount", dims, float(len(seen) - healthy), "Count"))
        if lb["type"] == "application" and "requests" in c and len(groups) == 1 and healthy:
            found.append(("RequestCountPerTarget", dims, c["requests"] / healthy, "Count"))
    return found


def publish_metrics(cloud: Any, nodes: list[LoadBalancerNodeReport], known: Mapping[str, Mapping[str, Any]]) -> None:
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
