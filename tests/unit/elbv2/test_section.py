"""The ``loadbalancers`` section built from rows (pure), and the agent report's parsing and metrics."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from agent.contract.codec import from_json
from agent.contract.reports import LoadBalancersReport
from agent.contract.version import ContractError
from controller.elbv2 import conditions, desired, reports, rules

NOW = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
LB = "arn:aws:elasticloadbalancing:home-1:111111111111:loadbalancer/app/web/50dc6c495c0c9188"
OTHER_LB = "arn:aws:elasticloadbalancing:home-1:111111111111:loadbalancer/app/other/60dc6c495c0c9188"
LISTENER = "arn:aws:elasticloadbalancing:home-1:111111111111:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
TG = "arn:aws:elasticloadbalancing:home-1:111111111111:targetgroup/web-tg/73e2d6bc24d8a067"
TG_RULE = "arn:aws:elasticloadbalancing:home-1:111111111111:targetgroup/api-tg/83e2d6bc24d8a067"
TG_UNUSED = "arn:aws:elasticloadbalancing:home-1:111111111111:targetgroup/idle/93e2d6bc24d8a067"


def _group(arn: str, name: str) -> dict[str, Any]:
    return {"arn": arn, "name": name, "protocol": "HTTP", "port": 80, "target_type": "ip",
            "health_check": rules.health_check({}, "HTTP", "ip"),
            "attributes": rules.default_tg_attributes("HTTP", "ip")}


def _rows() -> dict[str, Any]:
    forward = conditions.normalize_actions([{"Type": "forward", "TargetGroupArn": TG}], "application")
    to_api = conditions.normalize_actions([{"Type": "forward", "TargetGroupArn": TG_RULE}], "application")
    return {
        "nodes": [{"network_interface_id": "eni-0123456789abcdef0", "load_balancer_arn": LB, "subnet_id": "subnet-0123456789abcdef0",
                   "availability_zone": "home-1a", "private_ip": "10.0.1.20", "public_ip": "198.51.100.7",
                   "mac_address": "02:00:00:00:00:01"}],
        "lbs": {LB: {"arn": LB, "name": "web", "type": "application", "scheme": "internet-facing", "vpc_id": "vpc-0123456789abcdef0",
                     "attributes": rules.default_lb_attributes("application")}},
        "listeners": [{"arn": LISTENER, "load_balancer_arn": LB, "port": 443, "protocol": "HTTPS",
                       "certificate_pem": "CERT", "private_key": "sealed", "default_actions": forward},
                      {"arn": LISTENER + "x", "load_balancer_arn": OTHER_LB, "port": 80, "protocol": "HTTP",
                       "certificate_pem": None, "private_key": None, "default_actions": forward}],
        "rule_rows": [{"arn": "rule-1", "listener_arn": LISTENER, "priority": 10, "actions": to_api,
                       "conditions": conditions.normalize_conditions([{"Field": "path-pattern", "Values": ["/a*"]}])}],
        "groups": {TG: _group(TG, "web-tg"), TG_RULE: _group(TG_RULE, "api-tg"), TG_UNUSED: _group(TG_UNUSED, "idle")},
        "targets": [
            {"target_group_arn": TG, "target_id": "10.0.1.5", "ip": "10.0.1.5", "port": 80, "draining_until": None},
            {"target_group_arn": TG, "target_id": "10.0.1.6", "ip": "10.0.1.6", "port": 80,
             "draining_until": NOW + dt.timedelta(seconds=10)},
            {"target_group_arn": TG, "target_id": "10.0.1.7", "ip": "10.0.1.7", "port": 80,
             "draining_until": NOW - dt.timedelta(seconds=1)},
            {"target_group_arn": TG_UNUSED, "target_id": "10.0.1.8", "ip": "10.0.1.8", "port": 80,
             "draining_until": None}],
        "prefixes": {"subnet-0123456789abcdef0": 24}}


def test_section_nodes_from_rows() -> None:
    rows = _rows()
    [node] = desired.build_nodes(rows["nodes"], rows["lbs"], rows["listeners"], rows["rule_rows"], rows["groups"],
                                 rows["targets"], rows["prefixes"], NOW, lambda sealed: f"KEY({sealed})")
    assert {k: node[k] for k in ("load_balancer_arn", "name", "type", "scheme", "vpc_id", "subnet_id", "interface_id",
                                 "ip", "mac", "prefix_len", "idle_timeout_seconds")} == {
        "load_balancer_arn": LB, "name": "web", "type": "application", "scheme": "internet-facing",
        "vpc_id": "vpc-0123456789abcdef0", "subnet_id": "subnet-0123456789abcdef0", "interface_id": "eni-0123456789abcdef0", "ip": "10.0.1.20",
        "mac": "02:00:00:00:00:01", "prefix_len": 24, "idle_timeout_seconds": 60}
    [listener] = node["listeners"]  # the other load balancer's listener is not this node's
    assert (listener["port"], listener["certificate_pem"], listener["private_key_pem"]) == (443, "CERT", "KEY(sealed)")
    assert listener["rules"] == [{"rule_arn": "rule-1", "priority": 10,
                                  "conditions": [{"field": "path-pattern", "values": ["/a*"]}],
                                  "actions": [{"type": "forward", "target_groups": [
                                      {"target_group_arn": TG_RULE, "weight": 1}],
                                      "stickiness": {"enabled": False, "duration_seconds": 3600}}]}]
    groups = {g["target_group_arn"]: g for g in node["target_groups"]}
    assert set(groups) == {TG, TG_RULE}  # only the groups its listeners and rules forward to
    assert groups[TG]["targets"] == [{"id": "10.0.1.5", "ip": "10.0.1.5", "port": 80, "draining": False},
                                     {"id": "10.0.1.6", "ip": "10.0.1.6", "port": 80, "draining": True}]
    assert groups[TG]["stickiness"] == {"enabled": False, "type": "lb_cookie", "duration_seconds": 86400}
    assert groups[TG]["deregistration_delay_seconds"] == 300
    assert groups[TG]["health_check"]["matcher"] == "200" and groups[TG]["health_check"]["path"] == "/"


def test_nodes_of_deleted_load_balancers_are_left_out() -> None:
    rows = _rows()
    assert desired.build_nodes(rows["nodes"], {}, [], [], {}, [], {}, NOW, str) == []


def test_report_parsing() -> None:
    [node] = from_json(LoadBalancersReport, {"nodes": [{"load_balancer_arn": LB, "interface_id": "eni-0123456789abcdef0", "targets": [
        {"target_group_arn": TG, "id": "10.0.1.5", "port": 80, "state": "healthy", "reason": None}],
        "counters": {"requests": 3, "unknown": 1}}]}).nodes
    assert node.targets[0].state == "healthy" and node.counters["requests"] == 3.0


@pytest.mark.parametrize("body", [
    None, [], {"nodes": {}}, {"nodes": [1]}, {"nodes": [{"interface_id": "eni-0123456789abcdef0"}]},
    {"nodes": [{"load_balancer_arn": LB, "interface_id": "eni-0123456789abcdef0", "targets": [
        {"target_group_arn": TG, "id": "x", "port": "80", "state": "healthy"}]}]},
    {"nodes": [{"load_balancer_arn": LB, "interface_id": "eni-0123456789abcdef0", "targets": [
        {"target_group_arn": TG, "id": "x", "port": 80, "state": "fine"}]}]},
    {"nodes": [{"load_balancer_arn": LB, "interface_id": "eni-0123456789abcdef0", "counters": {"requests": -1}}]},
])
def test_malformed_reports(body: Any) -> None:
    with pytest.raises(ContractError):
        from_json(LoadBalancersReport, body)


def test_report_metrics() -> None:
    [node] = from_json(LoadBalancersReport, {"nodes": [{"load_balancer_arn": LB, "interface_id": "eni-0123456789abcdef0", "targets": [
        {"target_group_arn": TG, "id": "a", "port": 80, "state": "healthy"},
        {"target_group_arn": TG, "id": "b", "port": 80, "state": "unhealthy"},
        {"target_group_arn": TG, "id": "c", "port": 80, "state": "draining"}],
        "counters": {"requests": 4, "target_2xx": 3, "processed_bytes": 100}}]}).nodes
    found = {(m, d): (v, u) for m, d, v, u in reports.datums_for(node, {"arn": LB, "type": "application"}, NOW)}
    lb_dim = (("LoadBalancer", "app/web/50dc6c495c0c9188"),)
    both = (("LoadBalancer", "app/web/50dc6c495c0c9188"), ("TargetGroup", "targetgroup/web-tg/73e2d6bc24d8a067"))
    assert found[("RequestCount", lb_dim)] == (4.0, "Count")
    assert found[("HTTPCode_Target_2XX_Count", lb_dim)] == (3.0, "Count")
    assert found[("ProcessedBytes", lb_dim)] == (100.0, "Bytes")
    assert found[("HealthyHostCount", both)] == (1.0, "Count")
    assert found[("UnHealthyHostCount", both)] == (1.0, "Count")
    assert found[("RequestCountPerTarget", both)] == (4.0, "Count")


def test_the_agent_parses_the_section() -> None:
    """The contract end to end: what the controller sends is what the agent's parser accepts."""
    section = pytest.importorskip("agent.contract.loadbalancers")
    rows = _rows()
    nodes = desired.build_nodes(rows["nodes"], rows["lbs"], rows["listeners"], rows["rule_rows"], rows["groups"],
                                rows["targets"], rows["prefixes"], NOW, lambda sealed: "KEY")
    parsed = section.parse({"nodes": nodes})
    assert parsed is not None
