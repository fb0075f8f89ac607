"""The ``loadbalancers`` section: parsed into dataclasses, refused whole with every problem listed."""

from __future__ import annotations

import pytest

from agent.contract.loadbalancers import parse
from agent.contract.version import ContractError
from tests.unit.loadbalancing.sample import ENI, TG_A, TG_B, node


def test_a_well_formed_section_parses_with_defaults() -> None:
    section = parse({"nodes": [node()]})
    (parsed,) = section.nodes
    assert parsed.interface_id == ENI and parsed.gateway == "10.0.1.1"
    listener = parsed.listeners[0]
    assert [rule.priority for rule in listener.ordered_rules()] == [10, 20, 30]
    assert listener.default_actions[0].groups()[0].target_group_arn == TG_A
    assert parsed.group(TG_B).targets[0].port == 8001
    assert parsed.group(TG_A).load_balancing_algorithm == "round_robin"
    assert parse(None).nodes == [] and parse({}).nodes == []


def test_unknown_keys_are_ignored() -> None:
    data = node(future_field=1)
    data["target_groups"][0]["something_new"] = {"x": 1}
    assert parse({"nodes": [data]}).nodes[0].name == "web"


def test_every_problem_is_listed() -> None:
    bad = node(interface_id="eni-XYZ", ip="10.0.1.300", type="classic")
    bad["listeners"][0]["rules"][0]["actions"] = [{"type": "forward", "target_groups": [
        {"target_group_arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1", "weight": 1}]}]
    bad["listeners"][0]["rules"][1]["priority"] = 10
    bad["target_groups"][0]["health_check"]["path"] = "/a b"
    bad["target_groups"][0]["health_check"]["matcher"] = "2xx"
    bad["target_groups"][0]["targets"][1]["id"] = "i-0aaaaaaaaaaaaaaa1"
    with pytest.raises(ContractError) as refused:
        parse({"nodes": [bad, node()]})
    message = str(refused.value)
    for expected in ("interface id 'eni-XYZ' is malformed", "10.0.1.300/24 is not a subnet address",
                     "type 'classic'", "which the node does not list", "priority 10 is used twice",
                     "health check path '/a b'", "matcher '2xx'", "i-0aaaaaaaaaaaaaaa1:8000 is listed twice"):
        assert expected in message


@pytest.mark.parametrize("condition", [
    {"field": "http-header", "header_name": "X Env", "values": ["a"]},
    {"field": "http-request-method", "values": ["GET POST"]},
    {"field": "source-ip", "values": ["10.0.0.0/33"]},
    {"field": "query-string", "query": []},
    {"field": "path-pattern", "values": []},
    {"field": "cookie", "values": ["a"]},
])
def test_malformed_conditions_are_refused(condition: dict) -> None:
    data = node()
    data["listeners"][0]["rules"][0]["conditions"] = [condition]
    with pytest.raises(ContractError):
        parse({"nodes": [data]})


def test_nlb_protocols_are_checked_per_type() -> None:
    data = node(type="network")
    with pytest.raises(ContractError, match="protocol 'HTTP'"):
        parse({"nodes": [data]})
    data["listeners"][0]["protocol"] = "TCP"
    data["listeners"][0]["rules"] = []
    assert parse({"nodes": [data]}).nodes[0].listeners[0].protocol == "TCP"


def test_a_node_listed_twice_is_refused() -> None:
    with pytest.raises(ContractError, match="listed twice"):
        parse({"nodes": [node(), node()]})
