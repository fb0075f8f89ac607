"""Listener rule conditions and actions: AWS's limits, the stored shape, and the agent's contract shape."""

from __future__ import annotations

from typing import Any

import pytest

from controller.elbv2 import conditions
from controller.elbv2.errors import InvalidLoadBalancerAction, TooManyActions, ValidationError

TG = "arn:aws:elasticloadbalancing:home-1:111111111111:targetgroup/web/73e2d6bc24d8a067"
TG2 = "arn:aws:elasticloadbalancing:home-1:111111111111:targetgroup/api/83e2d6bc24d8a067"


def test_conditions_are_stored_with_their_configs() -> None:
    stored = conditions.normalize_conditions([
        {"Field": "path-pattern", "Values": ["/api/*"]},
        {"Field": "host-header", "HostHeaderConfig": {"Values": ["*.example.com"]}},
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ["beta"]}},
        {"Field": "query-string", "QueryStringConfig": {"Values": [{"Value": "v1"}]}},
        {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/16"]}}])
    assert stored[0] == {"Field": "path-pattern", "Values": ["/api/*"], "PathPatternConfig": {"Values": ["/api/*"]}}
    assert stored[1]["Values"] == ["*.example.com"]
    assert [conditions.contract_condition(c) for c in stored] == [
        {"field": "path-pattern", "values": ["/api/*"]},
        {"field": "host-header", "values": ["*.example.com"]},
        {"field": "http-header", "header_name": "X-Env", "values": ["beta"]},
        {"field": "query-string", "query": [{"key": None, "value": "v1"}]},
        {"field": "source-ip", "values": ["10.0.0.0/16"]}]


@pytest.mark.parametrize("given", [
    [{"Field": "nope", "Values": ["x"]}],
    [{"Field": "path-pattern", "Values": []}],
    [{"Field": "path-pattern", "Values": ["/a b"]}],
    [{"Field": "path-pattern", "Values": ["/" + "a" * 128]}],
    [{"Field": "path-pattern", "Values": ["/a"]}, {"Field": "path-pattern", "Values": ["/b"]}],
    [{"Field": "path-pattern", "Values": ["/a"], "PathPatternConfig": {"Values": ["/b"]}}],
    [{"Field": "host-header", "Values": ["bad_host"]}],
    [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "Bad Name", "Values": ["x"]}}],
    [{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["get"]}}],
    [{"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "k"}]}}],
    [{"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/33"]}}],
    [{"Field": "path-pattern", "Values": ["/1", "/2", "/3"]}, {"Field": "host-header", "Values": ["a", "b", "c"]}],
    [{"Field": "path-pattern", "Values": ["/*/*/*"]}, {"Field": "host-header", "Values": ["*.*.*"]}],
])
def test_conditions_refused(given: list[dict[str, Any]]) -> None:
    with pytest.raises(ValidationError):
        conditions.normalize_conditions(given)


def test_http_headers_and_query_strings_may_repeat() -> None:
    stored = conditions.normalize_conditions([
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "A", "Values": ["1"]}},
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "B", "Values": ["2"]}}])
    assert len(stored) == 2


def test_forward_actions_normalized_and_translated() -> None:
    [single] = conditions.normalize_actions([{"Type": "forward", "TargetGroupArn": TG}], "application")
    assert single == {"Type": "forward", "Order": 1, "TargetGroupArn": TG, "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": TG, "Weight": 1}], "TargetGroupStickinessConfig": {"Enabled": False}}}
    [weighted] = conditions.normalize_actions([{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": TG, "Weight": 3}, {"TargetGroupArn": TG2}],
        "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60}}}], "application")
    assert "TargetGroupArn" not in weighted and conditions.target_groups_of([weighted]) == [TG, TG2]
    assert conditions.contract_action(weighted) == {
        "type": "forward", "target_groups": [{"target_group_arn": TG, "weight": 3},
                                             {"target_group_arn": TG2, "weight": 1}],
        "stickiness": {"enabled": True, "duration_seconds": 60}}


@pytest.mark.parametrize(("given", "lb_type", "error"), [
    ([], "application", ValidationError),
    ([{"Type": "authenticate-oidc"}], "application", InvalidLoadBalancerAction),
    ([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}], "network", InvalidLoadBalancerAction),
    ([{"Type": "forward"}], "application", ValidationError),
    ([{"Type": "forward", "TargetGroupArn": TG, "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG2}]}}],
     "application", ValidationError),
    ([{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG}, {"TargetGroupArn": TG2}]}}],
     "network", ValidationError),
    ([{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG, "Weight": 1000}]}}],
     "application", ValidationError),
    ([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "302"}}], "application", ValidationError),
    ([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "ContentType": "image/png"}}],
     "application", ValidationError),
    ([{"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_301"}}], "application", ValidationError),
    ([{"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_307", "Protocol": "HTTPS"}}], "application",
     ValidationError),
    ([{"Type": "forward", "TargetGroupArn": TG}] * 2, "application", InvalidLoadBalancerAction),
    ([{"Type": "forward", "TargetGroupArn": TG}] * 6, "application", TooManyActions),
])
def test_actions_refused(given: list[dict[str, Any]], lb_type: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        conditions.normalize_actions(given, lb_type)


def test_fixed_response_and_redirect_in_the_contract() -> None:
    fixed, = conditions.normalize_actions([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}],
                                          "application")
    assert conditions.contract_action(fixed) == {"type": "fixed-response", "status_code": "503",
                                                 "content_type": "text/plain", "message_body": ""}
    redirect, = conditions.normalize_actions([{"Type": "redirect", "RedirectConfig": {
        "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}], "application")
    assert conditions.contract_action(redirect) == {"type": "redirect", "protocol": "HTTPS", "host": "#{host}",
                                                    "port": "443", "path": "/#{path}", "query": "#{query}",
                                                    "status_code": "HTTP_301"}
