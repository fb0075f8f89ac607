"""Lambda REQUEST authorizers of HTTP APIs (pure parts): identity sources, the event, simple and IAM answers."""

from __future__ import annotations

import json

import pytest

from controller.apigatewayv2.lambda_payloads import BadAnswer, Incoming
from controller.apigatewayv2.request_authorizers import decide, event, identity_values

ROUTE_ARN = "arn:aws:execute-api:home-1:111111111111:abcdefghij/prod/GET/pets/1"


def _incoming() -> Incoming:
    return Incoming(method="GET", raw_path="/prod/pets/1", raw_query="k=v", query=[("k", "v")],
                    headers=[("authorization", "secret"), ("content-type", "text/plain")], body=b"hi",
                    source_ip="10.0.0.1", user_agent="ua", route_key="GET /pets/{id}", stage="prod",
                    api_id="abcdefghij", account_id="111111111111", domain_name="d.example", request_id="r",
                    time_epoch_ms=0, path_parameters={"id": "1"}, stage_variables={"tier": "gold"})


def test_identity_sources_all_present_or_none() -> None:
    incoming = _incoming()
    assert identity_values(incoming, ["$request.header.Authorization", "$request.querystring.k",
                                      "$context.identity.sourceIp", "$stageVariables.tier"]) == \
        ["secret", "v", "10.0.0.1", "gold"]
    assert identity_values(incoming, ["$request.header.X-Missing"]) is None
    assert identity_values(incoming, []) == []


def test_events_carry_route_arn_and_identity_without_body() -> None:
    v2 = event(_incoming(), "2.0", ROUTE_ARN, ["secret"])
    assert v2["type"] == "REQUEST" and v2["routeArn"] == ROUTE_ARN and v2["identitySource"] == ["secret"]
    assert "body" not in v2 and v2["pathParameters"] == {"id": "1"}
    v1 = event(_incoming(), "1.0", ROUTE_ARN, ["secret", "v"])
    assert v1["methodArn"] == ROUTE_ARN and v1["identitySource"] == "secret,v" and "body" not in v1


def test_simple_responses() -> None:
    simple = {"EnableSimpleResponses": True}
    allowed = decide(b'{"isAuthorized": true, "context": {"user": "u1"}}', simple, ROUTE_ARN, "home-1")
    assert allowed.allowed and allowed.context == {"user": "u1"}
    assert not decide(b'{"isAuthorized": false}', simple, ROUTE_ARN, "home-1").allowed
    with pytest.raises(BadAnswer):
        decide(b'{"isAuthorized": "yes"}', simple, ROUTE_ARN, "home-1")


def _policy(effect: str, resource: str) -> bytes:
    return json.dumps({"principalId": "u1", "context": {"k": 1}, "policyDocument": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": effect, "Action": "execute-api:Invoke", "Resource": resource}]}}).encode()


def test_iam_policy_answers_are_evaluated() -> None:
    wildcard = "arn:aws:execute-api:home-1:111111111111:abcdefghij/*/GET/*"
    decision = decide(_policy("Allow", wildcard), {}, ROUTE_ARN, "home-1")
    assert decision.allowed and decision.principal_id == "u1" and decision.context == {"k": 1}
    assert not decide(_policy("Allow", wildcard.replace("GET", "POST")), {}, ROUTE_ARN, "home-1").allowed
    assert not decide(_policy("Deny", wildcard), {}, ROUTE_ARN, "home-1").allowed
    for bad in (b"nope", b"[]", b'{"principalId": "u"}', b'{"policyDocument": {"Statement": 5}}'):
        with pytest.raises(BadAnswer):
            decide(bad, {}, ROUTE_ARN, "home-1")
