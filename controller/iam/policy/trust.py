"""Whether a role's trust policy lets an AWS service assume it (pure): what a service checks before it uses a
role handed to it (Lambda a function's execution role, ECS a task's execution role)."""

from __future__ import annotations

from collections.abc import Mapping

from controller.iam.policy.errors import PolicyError
from controller.iam.policy.evaluate import evaluate
from controller.iam.policy.model import ALLOWED, EvaluationRequest, Policy, PolicySet
from controller.iam.policy.parse import compile_document


def service_may_assume(trust_policy: str, service: str, account_id: str, region: str,
                       context: Mapping[str, str] | None = None) -> bool:
    """Whether ``service`` (``lambda.amazonaws.com``) may ``sts:AssumeRole`` under ``trust_policy`` of a role in
    ``account_id``; ``context`` adds the keys the service sets (``aws:SourceArn``, ``aws:SourceAccount``), so
    confused-deputy conditions work."""
    try:
        parsed = Policy("trust policy", compile_document(trust_policy), "resource", "", "")
    except PolicyError:
        return False
    request = EvaluationRequest(
        action="sts:AssumeRole", resource="", principal_arn=service, principal_account="",
        resource_account=account_id, require_resource_policy=True, default_region=region,
        context={"aws:PrincipalServiceName": service, "aws:SecureTransport": "true", **(context or {})})
    return evaluate(request, PolicySet(resource=[parsed])).decision == ALLOWED
