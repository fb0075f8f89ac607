"""Whether a request that reached a REST method may go on to its integration, in API Gateway's order.

1. The stage's throttle for the method (``methodSettings``; 429 Too Many Requests past the burst).
2. The method's authorizer (:mod:`controller.execute_api.rest.authorizers`): none, AWS_IAM, a Cognito user
   pool or a Lambda function.
3. The API's resource policy on ``execute-api:Invoke`` (source IP, VPC, VPC endpoint, principal conditions),
   by the IAM engine.
4. For methods with ``apiKeyRequired``: the API key (``x-api-key``, or the Lambda authorizer's
   ``usageIdentifierKey`` when the API's key source is AUTHORIZER) must be enabled and in a usage plan of this
   stage, whose per-key throttle and quota then apply (429 Too Many Requests / Limit Exceeded).

What the guard learns goes into ``$context`` (``authorizer``, ``identity``) for integrations and templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.apigateway.snapshot import StageView, api_key_by_value, plan_key_ids, usage_plans_for
from controller.execute_api.request import InvokeRequest
from controller.execute_api.rest import authorizers, matching, throttle
from controller.execute_api.rest.authorizers import Identity, Refused

__all__ = ["Refused", "admit"]


@dataclass(frozen=True)
class Place:
    """Where in the API a request is: the matched resource and method, the served stage variables, the
    method ARN IAM evaluates and the request path without the stage."""

    found: matching.Match
    variables: dict[str, str]
    method_arn: str
    path: str


def admit(cloud: Any, view: StageView, place: Place, request: InvokeRequest, context: dict[str, Any]) -> None:
    """Let the request through (recording the caller in ``context``) or raise :class:`Refused`."""
    resource_path = place.found.resource.get("path") or "/"
    stage = view.stage.get("stageName", "")
    rate, burst = throttle.method_limits(view.stage, resource_path, request.method)
    if not throttle.runtime(cloud).admit((request.api_id, stage, resource_path, request.method), rate, burst):
        raise Refused("THROTTLED", "Too Many Requests")
    method = place.found.method
    kind = method.get("authorizationType") or "NONE"
    identity = _identify(cloud, view, place, request, context, kind)
    authorizers.check_resource_policy(cloud, view, request, identity, place.method_arn, iam=kind == "AWS_IAM",
                                      authorized=kind in ("COGNITO_USER_POOLS", "CUSTOM"))
    _record(context, identity)
    if method.get("apiKeyRequired"):
        _meter(cloud, view, request, identity, resource_path, context)


def _identify(cloud: Any, view: StageView, place: Place, request: InvokeRequest, context: dict[str, Any],
              kind: str) -> Identity:
    if kind == "NONE":
        return Identity()
    if kind == "AWS_IAM":
        return authorizers.iam_identity(cloud, request)
    authorizer = next((a for a in view.deployment.get("authorizers") or []
                       if a.get("id") == place.found.method.get("authorizerId")), None)
    if authorizer is None:
        raise Refused("AUTHORIZER_CONFIGURATION_ERROR", "Internal server error")
    if kind == "COGNITO_USER_POOLS":
        return authorizers.cognito_identity(cloud, authorizer, place.found.method, request)
    event_base = authorizers.request_event(request, place.found.resource.get("path") or "/", place.path,
                                           place.found.path_parameters, place.variables, context)
    identity = authorizers.lambda_identity(cloud, view, authorizer, request, place.method_arn, event_base,
                                           place.found.path_parameters, place.variables, context)
    authorizers.check_policy(identity, place.method_arn, view.account_id, view.region)
    return identity


def _record(context: dict[str, Any], identity: Identity) -> None:
    found: dict[str, Any] = dict(identity.context)
    if identity.principal_id is not None:
        found["principalId"] = identity.principal_id
    if identity.claims is not None:
        found["claims"] = identity.claims
    if found:
        context["authorizer"] = found
    principal = identity.principal
    if principal.kind != "anonymous":
        context["identity"].update(accountId=principal.account_id, caller=principal.user_id,
                                   user=principal.user_id, userArn=principal.arn,
                                   accessKey=principal.access_key_id or None)


def _meter(cloud: Any, view: StageView, request: InvokeRequest, identity: Identity, resource_path: str,
           context: dict[str, Any]) -> None:
    """The API key's usage plan admits the request: enabled key, plan of this stage, throttle and quota."""
    from_authorizer = view.api.get("apiKeySource") == "AUTHORIZER"
    value = identity.usage_key if from_authorizer else request.header("x-api-key")
    key = api_key_by_value(cloud, value) if value else None
    if key is None or not key.get("enabled"):
        raise Refused("INVALID_API_KEY", "Forbidden")
    stage = view.stage.get("stageName", "")
    plans = [plan for plan in usage_plans_for(cloud, request.api_id, stage) if key["id"] in plan_key_ids(
        cloud, plan["id"])]
    if not plans:
        raise Refused("INVALID_API_KEY", "Forbidden")
    context["identity"].update(apiKey=value, apiKeyId=key["id"])
    runtime = throttle.runtime(cloud)
    for plan in plans:
        limits = _plan_limits(plan, request.api_id, stage, f"{resource_path}/{request.method}")
        if limits is not None and not runtime.admit(("plan", plan["id"], key["id"], *limits[2:]), *limits[:2]):
            raise Refused("THROTTLED", "Too Many Requests")
        quota = plan.get("quota")
        if quota and not runtime.count_quota(plan["id"], key["id"], quota):
            raise Refused("QUOTA_EXCEEDED", "Limit Exceeded")


def _plan_limits(plan: dict[str, Any], api_id: str, stage: str, method_key: str) -> tuple[Any, ...] | None:
    """``(rate, burst, scope)`` of a plan for one method: the stage entry's per-method throttle, else the
    plan's own; None when the plan does not throttle."""
    entry = next((s for s in plan.get("apiStages") or [] if s.get("apiId") == api_id and s.get("stage") == stage),
                 {})
    own = (entry.get("throttle") or {}).get(method_key)
    if own:
        return float(own.get("rateLimit") or 0.0), int(own.get("burstLimit") or 0), method_key
    limits = plan.get("throttle")
    if not limits:
        return None
    return float(limits.get("rateLimit") or 0.0), int(limits.get("burstLimit") or 0), "*"
