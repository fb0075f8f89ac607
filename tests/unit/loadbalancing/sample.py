"""A realistic ``loadbalancers`` section node (contract §1) the unit tests vary."""

from __future__ import annotations

import copy
from typing import Any

LB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
TG_A = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/73e2d6bc24d8a067"
TG_B = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api-tg/0123456789abcdef"
ENI = "eni-0123456789abcdef0"


def group(arn: str, targets: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"target_group_arn": arn, "name": arn.split("/")[-2], "protocol": "HTTP", "port": 80,
            "target_type": "instance",
            "health_check": {"enabled": True, "protocol": "HTTP", "port": "traffic-port", "path": "/health",
                             "interval_seconds": 5, "timeout_seconds": 2, "healthy_threshold": 2,
                             "unhealthy_threshold": 2, "matcher": "200-299"},
            "deregistration_delay_seconds": 30,
            "stickiness": {"enabled": False, "type": "lb_cookie", "duration_seconds": 86400},
            "targets": targets, **extra}


def forward(*arns_weights: tuple[str, int]) -> dict[str, Any]:
    return {"type": "forward", "target_groups": [{"target_group_arn": arn, "weight": weight}
                                                 for arn, weight in arns_weights]}


def node(**overrides: Any) -> dict[str, Any]:
    base = {
        "load_balancer_arn": LB_ARN, "name": "web", "type": "application", "scheme": "internet-facing",
        "vpc_id": "vpc-0123456789abcdef0", "subnet_id": "subnet-0123456789abcdef0", "interface_id": ENI,
        "ip": "10.0.1.20", "mac": "02:00:00:00:01:14", "prefix_len": 24, "idle_timeout_seconds": 60,
        "listeners": [{
            "listener_arn": LB_ARN.replace(":loadbalancer/", ":listener/") + "/f2f7dc8efc522ab2",
            "port": 80, "protocol": "HTTP", "certificate_pem": None, "private_key_pem": None,
            "default_actions": [forward((TG_A, 1))],
            "rules": [
                {"rule_arn": "r1", "priority": 10, "conditions": [{"field": "path-pattern", "values": ["/api/*"]}],
                 "actions": [forward((TG_B, 1))]},
                {"rule_arn": "r2", "priority": 20, "conditions": [{"field": "path-pattern", "values": ["/fixed"]}],
                 "actions": [{"type": "fixed-response", "status_code": "418", "content_type": "text/plain",
                              "message_body": "I'm a teapot"}]},
                {"rule_arn": "r3", "priority": 30, "conditions": [{"field": "path-pattern", "values": ["/old/*"]}],
                 "actions": [{"type": "redirect", "protocol": "#{protocol}", "host": "#{host}", "port": "#{port}",
                              "path": "/new/#{path}", "query": "#{query}", "status_code": "HTTP_301"}]},
            ]}],
        "target_groups": [
            group(TG_A, [{"id": "i-0aaaaaaaaaaaaaaa1", "ip": "10.0.1.5", "port": 8000, "draining": False},
                         {"id": "i-0aaaaaaaaaaaaaaa2", "ip": "10.0.1.6", "port": 8000, "draining": False}]),
            group(TG_B, [{"id": "10.0.1.7", "ip": "10.0.1.7", "port": 8001, "draining": False}]),
        ]}
    result = copy.deepcopy(base)
    result.update(overrides)
    return result
