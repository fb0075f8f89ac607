"""Lambda REQUEST authorizers of HTTP APIs: pure parts (identity sources, the event, reading the answer).

AWS's rules: when an identity source is missing from the request the gateway answers 401 without calling
the function; the function gets the request (payload format 1.0 or 2.0, without the body) and answers
either ``{"isAuthorized": bool, "context": {...}}`` (simple responses, format 2.0) or an IAM policy
``{"principalId", "policyDocument", "context"}`` that must allow ``execute-api:Invoke`` on the route's ARN
(evaluated by the IAM engine); otherwise 403. A malformed answer is 500.
Results are not cached (AuthorizerResultTtlInSeconds is stored and read back, every request calls the
function).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from controller.apigatewayv2 import lambda_payloads as payloads
from controller.iam import policy


@dataclass(frozen=True)
class Decision:
    """What the authorizer decided, and the context it gave for the integration's event."""

    allowed: bool
    context: dict[str, Any] = field(default_factory=dict)
    principal_id: str | None = None


def identity_values(incoming: payloads.Incoming, sources: list[str]) -> list[str] | None:
    """The values of the identity sources, or None when one of them is missing or empty."""
    headers = {name: value for name, value in incoming.headers}
    query = dict(incoming.query)
    context = {"requestId": incoming.request_id, "stage": incoming.stage, "routeKey": incoming.route_key,
               "identity.sourceIp": incoming.source_ip, "identity.userAgent": incoming.user_agent,
               "apiId": incoming.api_id, "accountId": incoming.account_id}
    values = []
    for source in sources:
        kind, _, name = source.removeprefix("$").partition(".")
        if kind == "request":
            where, _, key = name.partition(".")
            value = headers.get(key.lower()) if where == "header" else query.get(key)
        elif kind == "context":
            value = context.get(name)
        else:
            value = incoming.stage_variables.get(name)
        if not value:
            return None
        values.append(value)
    return values


def event(incoming: payloads.Incoming, version: str, route_arn: str, identity: list[str]) -> dict[str, Any]:
    """The authorizer's event: the request event without its body, with the route ARN and identity."""
    if version == "2.0":
        base = payloads.event_v2(incoming)
        base.update(type="REQUEST", routeArn=route_arn, identitySource=identity)
    else:
        base = payloads.event_v1(incoming)
        base.update(type="REQUEST", methodArn=route_arn, identitySource=",".join(identity))
    for name in ("body", "isBase64Encoded"):
        base.pop(name, None)
    return base


def decide(answer: bytes, authorizer: dict[str, Any], route_arn: str, region: str) -> Decision:
    """Read the function's answer; :class:`payloads.BadAnswer` when it is neither form."""
    try:
        document = json.loads(answer)
    except ValueError as exc:
        raise payloads.BadAnswer("the authorizer's answer is not JSON") from exc
    if not isinstance(document, dict):
        raise payloads.BadAnswer("the authorizer's answer is not an object")
    context = document.get("context") or {}
    if not isinstance(context, dict):
        raise payloads.BadAnswer("context must be an object")
    if authorizer.get("EnableSimpleResponses"):
        if not isinstance(document.get("isAuthorized"), bool):
            raise payloads.BadAnswer("a simple response needs a boolean isAuthorized")
        return Decision(document["isAuthorized"], context)
    statement = document.get("policyDocument")
    if not isinstance(statement, dict):
        raise payloads.BadAnswer("the answer has no policyDocument")
    try:
        parsed = policy.parse_policy(statement, policy_id="authorizer policy", source_type="identity")
    except policy.PolicyError as exc:
        raise payloads.BadAnswer(f"invalid policyDocument: {exc}") from exc
    request = policy.EvaluationRequest(action="execute-api:Invoke", resource=route_arn, default_region=region)
    allowed = policy.evaluate(request, policy.PolicySet(identity=[parsed])).decision == policy.ALLOWED
    principal = document.get("principalId")
    return Decision(allowed, context, str(principal) if principal is not None else None)
