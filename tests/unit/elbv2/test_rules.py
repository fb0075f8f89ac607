"""ELBv2's pure rules: names, attributes, health check defaults, paging, DNS names and target health."""

from __future__ import annotations

import datetime as dt

import pytest

from controller.elbv2 import dns, health, rules
from controller.elbv2.errors import ValidationError

NOW = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize("name", ["web", "a", "my-lb-1", "x" * 32])
def test_good_names(name: str) -> None:
    assert rules.check_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 33, "-web", "web-", "we_b", "we b", "internal-web"])
def test_bad_load_balancer_names(name: str) -> None:
    with pytest.raises(ValidationError):
        rules.check_name(name)


def test_internal_prefix_is_fine_for_target_groups() -> None:
    assert rules.check_name("internal-tg", "target group") == "internal-tg"


def test_dns_names_as_aws_makes_them() -> None:
    assert rules.dns_name("Web", "50dc6c495c0c9188", "internet-facing", "home-1", "example.net") == \
        "web-50dc6c495c0c9188.home-1.elb.example.net"
    assert rules.dns_name("web", "ab", "internal", "home-1", "amazonaws.com") == "internal-web-ab.home-1.elb.amazonaws.com"


def test_load_balancer_attributes_defaults_and_checks() -> None:
    current = rules.default_lb_attributes("application")
    assert current["idle_timeout.timeout_seconds"] == "60" and current["routing.http2.enabled"] == "true"
    assert "idle_timeout.timeout_seconds" not in rules.default_lb_attributes("network")
    updated = rules.modify_lb_attributes(current, "application", [{"Key": "idle_timeout.timeout_seconds",
                                                                   "Value": "300"}])
    assert updated["idle_timeout.timeout_seconds"] == "300" and current["idle_timeout.timeout_seconds"] == "60"
    for bad in ({"Key": "idle_timeout.timeout_seconds", "Value": "4001"}, {"Key": "nope", "Value": "1"},
                {"Key": "deletion_protection.enabled", "Value": "yes"}, {"Key": "access_logs.s3.enabled",
                                                                         "Value": "true"}):
        with pytest.raises(ValidationError):
            rules.modify_lb_attributes(current, "application", [bad])
    with pytest.raises(ValidationError):
        rules.modify_lb_attributes(rules.default_lb_attributes("network"), "network",
                                   [{"Key": "routing.http2.enabled", "Value": "true"}])


def test_target_group_attributes_by_protocol() -> None:
    assert rules.default_tg_attributes("HTTP", "instance")["stickiness.type"] == "lb_cookie"
    assert rules.default_tg_attributes("TCP", "instance")["stickiness.type"] == "source_ip"
    with pytest.raises(ValidationError):
        rules.modify_tg_attributes(rules.default_tg_attributes("TCP", "ip"), "TCP", "ip",
                                   [{"Key": "stickiness.lb_cookie.duration_seconds", "Value": "60"}])


def test_health_check_defaults_per_protocol() -> None:
    http = rules.health_check({}, "HTTP", "instance")
    assert (http["HealthCheckProtocol"], http["HealthCheckPath"], http["HealthCheckTimeoutSeconds"],
            http["Matcher"]) == ("HTTP", "/", 5, {"HttpCode": "200"})
    tcp = rules.health_check({}, "TCP", "instance")
    assert (tcp["HealthCheckProtocol"], tcp["HealthCheckTimeoutSeconds"], "HealthCheckPath" in tcp) == ("TCP", 10, False)
    nlb_http = rules.health_check({"HealthCheckProtocol": "HTTP"}, "TCP", "ip")
    assert nlb_http["Matcher"] == {"HttpCode": "200-399"} and nlb_http["HealthCheckTimeoutSeconds"] == 6
    kept = rules.health_check({"HealthCheckIntervalSeconds": 10}, "HTTP", "ip", {**http, "HealthCheckPath": "/h"})
    assert (kept["HealthCheckPath"], kept["HealthCheckIntervalSeconds"]) == ("/h", 10)


@pytest.mark.parametrize("params", [
    {"HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 5},
    {"HealthyThresholdCount": 11}, {"HealthCheckPort": "0"}, {"HealthCheckPath": "health"},
    {"Matcher": {"HttpCode": "2xx"}}, {"HealthCheckProtocol": "TCP"}])
def test_bad_health_checks(params: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        rules.health_check(params, "HTTP", "instance")


def test_paging_with_markers() -> None:
    items = list(range(5))
    first, marker = rules.page(items, None, 2)
    second, marker2 = rules.page(items, marker, 2)
    last, end = rules.page(items, marker2, 2)
    assert (first, second, last, end) == ([0, 1], [2, 3], [4], None)
    for marker, size in (("x", 2), ("9", 2), (None, 0), (None, 401)):
        with pytest.raises(ValidationError):
            rules.page(items, marker, size)


def test_target_health_states() -> None:
    later = NOW + dt.timedelta(seconds=30)
    report = health.Report("unhealthy", "Target.Timeout", None, 1.0)
    assert health.target_health(False, None, NOW, True, []) == health.NOT_REGISTERED
    assert health.target_health(True, later, NOW, True, [report]) == health.DRAINING
    assert health.target_health(True, NOW, NOW, True, []) == health.NOT_REGISTERED  # the delay passed
    assert health.target_health(True, None, NOW, False, [report]) == health.NOT_IN_USE
    assert health.target_health(True, None, NOW, True, []) == health.INITIAL
    assert health.target_health(True, None, NOW, True, [report]) == health.Health(
        "unhealthy", "Target.Timeout", "Request timed out")
    assert health.target_health(True, None, NOW, True, [report, health.Report("healthy", None, None, 0.5)]) == \
        health.Health("healthy")
    assert health.target_health(True, None, NOW, True, [health.Report("unhealthy", None, None, 2.0)]).reason == \
        "Target.FailedHealthChecks"


def test_dns_records_from_node_interfaces() -> None:
    enis = [
        {"network_interface_id": "eni-1", "vpc_id": "vpc-a", "requester_id": "amazon-elb",
         "description": "ELB app/web/abc", "public_ip": "198.51.100.7"},
        {"network_interface_id": "eni-2", "vpc_id": "vpc-a", "requester_id": "amazon-elb",
         "description": "ELB net/db/def", "public_ip": None},
        {"network_interface_id": "eni-3", "vpc_id": "vpc-a", "requester_id": "amazon-elb",
         "description": "something else", "public_ip": None},
        {"network_interface_id": "eni-4", "vpc_id": "vpc-a", "requester_id": None,
         "description": "ELB app/fake/123", "public_ip": None}]
    addresses = {e: [{"address": f"10.0.0.{i}", "family": 4, "is_primary": True}]
                 for i, e in enumerate(("eni-1", "eni-2", "eni-3", "eni-4"), start=1)}
    assert dns.dns_records(enis, addresses, "vpc-a", "home-1", "example.net") == [
        ("internal-db-def.home-1.elb.example.net", "10.0.0.2"), ("web-abc.home-1.elb.example.net", "198.51.100.7")]
    # another VPC resolves internet-facing names only
    assert dns.dns_records(enis, addresses, "vpc-b", "home-1", "example.net") == [
        ("web-abc.home-1.elb.example.net", "198.51.100.7")]
    assert dns.parse_description("ELB app/web/abc") == ("web", "abc") and dns.parse_description("ELB x/y/z") is None
