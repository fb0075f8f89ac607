"""Enforcement: every authenticated call is checked here before its handler runs.

For each resource ARN the operation declares (``*`` when it declares none), the
request is evaluated by the policy engine against the caller's identity policies,
permissions boundary and session policies (gathered once per principal and cached
until the next IAM write), and against the resource's own policy when its service
has a ``resource_lookup`` (S3 bucket policies, role trust policies...). Global
condition keys come from the request (``aws:SourceIp``, ``aws:CurrentTime``,
``aws:PrincipalTag/*``, ``aws:RequestTag/*``...), service keys from
``ctx.condition_keys``. A denial raises the service's own AccessDenied form, carrying the explanation of
the decision (``verdicts.py``) that the audit trail stores beside the call's event.

The account root user is allowed everything in its own account unless a resource
policy explicitly denies it; across accounts both sides must allow; anonymous
callers get only what resource policies grant to ``*``. Principals of member accounts,
their root users included, are also held to the organization's SCPs. What AWS adds to
the policies (always-allowed actions, AWS-reserved resources, trust policies, SCPs)
comes from ``decision.py``, which the simulator uses too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from controller.api import Operation, Params, RequestContext, ResourceInfo
from controller.auth.lookup import session_of
from controller.errors import ServiceError
from controller.iam import policy
from controller.iam.decision import (
    always_allowed,
    decide,
    key_policy_governs,
    needs_trust,
    organization_facts,
    reserved_by_aws,
    scp_levels,
)
from controller.iam.denials import denial_error, reason, request_tags
from controller.iam.principal_policies import PrincipalPolicies, load_principal_policies
from controller.iam.verdicts import explain_denial

if TYPE_CHECKING:
    from controller.cloud import Cloud
    from controller.organizations.scps import ScpLevels

#: Principal kinds as the engine's context builder names them.
_ENGINE_KINDS = {"federated": "federated-user"}

_NO_POLICIES = PrincipalPolicies()


class PolicyAuthorizer:
    """The cloud's authorizer (``cloud.authorizer``), called by the gateway for every call."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def authorize(self, ctx: RequestContext, operation: Operation, params: Params) -> None:
        if not operation.authorize:
            # IAM never checks these (sts:GetCallerIdentity, sts:GetSessionToken), but one that came
            # through a VPC endpoint must have come through an endpoint of its own service, as in AWS.
            if ctx.source_vpce:
                _check_endpoint_service(ctx, operation.action)
            return
        resources = operation.resources(ctx, params) if operation.resources else ["*"]
        check_action(ctx, operation.action, resources or ["*"], params)


def check_action(ctx: RequestContext, action: str, resources: Sequence[str], params: Params | None = None) -> None:
    """Raise the service's AccessDenied unless ``ctx.principal`` may do ``action`` on every resource."""
    principal = ctx.principal
    _refuse_session_token_limits(ctx)
    if ctx.source_vpce:
        _check_endpoint_policy(ctx, action, resources, params or {})
    if always_allowed(action):
        return
    for arn in resources:
        why = reserved_by_aws(action, arn)
        if why:
            raise denial_error(ctx.service, principal.arn, action, arn, why)
    service = ctx.cloud.services.get(ctx.service)
    lookup = service.resource_lookup if service is not None else None
    infos = [lookup(ctx, arn) if lookup is not None and arn != "*" else None for arn in resources]
    scps = scp_levels(ctx.cloud, principal.account_id) if principal.kind != "anonymous" else None
    if principal.is_root and scps is None and all(_own_without_policy(principal.account_id, arn, info)
                                                   for arn, info in zip(resources, infos, strict=True)):
        return
    policies = principal_policies(ctx)
    base_context = _base_context(ctx, policies, params or {})
    for arn, info in zip(resources, infos, strict=True):
        request, policy_set = build_request(ctx, action, arn, info, policies, base_context, scps)
        result = decide(request, policy_set)
        if not result.allowed:
            explanation = explain_denial(request, policy_set, result)
            error = denial_error(ctx.service, principal.arn, action, arn, reason(action, result, explanation.kind))
            error.explanation = explanation.document()
            raise error


def check_granted(ctx: RequestContext, action: str) -> None:
    """What still binds an action the account grants without any policy (AllowUsersToChangePassword): the
    limits of GetSessionToken credentials, and the VPC endpoint the request came through."""
    _refuse_session_token_limits(ctx)
    if ctx.source_vpce:
        _check_endpoint_service(ctx, action)


def would_allow(ctx: RequestContext, action: str, arn: str, info: ResourceInfo, params: Params | None = None,
                ) -> bool:
    """Whether ``ctx.principal`` could do ``action`` on ``arn`` if the resource carried ``info``.

    KMS's policy lockout safety check asks it of a key policy before writing it: the new policy must
    still let the caller change the policy.
    """
    return evaluate_for(ctx, action, arn, info, params).allowed


def evaluate_for(ctx: RequestContext, action: str, arn: str, info: ResourceInfo | None,
                 params: Params | None = None) -> policy.EvaluationResult:
    """The engine's full answer (allowed, or which kind of deny) for ``ctx.principal`` doing ``action`` on
    ``arn``: services that answer in their own words (API Gateway's "with an explicit deny") need the kind."""
    principal = ctx.principal
    scps = scp_levels(ctx.cloud, principal.account_id) if principal.kind != "anonymous" else None
    policies = principal_policies(ctx)
    request, policy_set = build_request(ctx, action, arn, info, policies, _base_context(ctx, policies, params or {}),
                                        scps)
    return decide(request, policy_set)


def principal_policies(ctx: RequestContext) -> PrincipalPolicies:
    """The caller's policies, from the cache when IAM has not changed since they were read."""
    principal = ctx.principal
    if principal.kind not in ("user", "assumed-role"):
        return _NO_POLICIES
    # temporary credentials carry their own session facts (session policies, issue time)
    temporary = principal.access_key_id.startswith("ASIA")
    key = (principal.kind, principal.user_id, principal.access_key_id if temporary else "")
    cloud = ctx.cloud

    def load() -> PrincipalPolicies:
        with cloud.db.read() as conn:
            return load_principal_policies(conn, cloud.config.partition, principal)

    return cloud.policy_cache.get_or_load(key, load)


#: Services that also name a resource's tags with a key of their own (Systems Manager's ``ssm:resourceTag/*``).
_SERVICE_RESOURCE_TAG_KEYS = {"ssm": "ssm:resourceTag/"}


def build_request(ctx: RequestContext, action: str, arn: str, info: ResourceInfo | None,
                  policies: PrincipalPolicies, base_context: Mapping[str, Any], scps: ScpLevels | None = None,
                  ) -> tuple[policy.EvaluationRequest, policy.PolicySet]:
    """The engine's question for one resource, and the policies that answer it."""
    principal = ctx.principal
    context: Mapping[str, Any] = base_context
    resource_policies: list[policy.Policy] = []
    resource_account = _arn_account(arn)
    if info is not None:
        resource_account = info.owner_account
        if info.tags:
            service_key = _SERVICE_RESOURCE_TAG_KEYS.get(action.partition(":")[0])
            context = {**base_context, **{f"aws:ResourceTag/{k}": v for k, v in info.tags.items()},
                       **({f"{service_key}{k}": v for k, v in info.tags.items()} if service_key else {})}
        if info.policy:
            resource_policies.append(policy.parse_policy(info.policy, policy_id="ResourcePolicy",
                                                         source_type="resource"))
    request = policy.EvaluationRequest(
        action=action, resource=arn, principal_arn="" if principal.kind == "anonymous" else principal.arn,
        principal_account=principal.account_id, resource_account=resource_account, context=context,
        role_arn=policies.role_arn, default_region=ctx.region,
        require_resource_policy=needs_trust(action, arn) or key_policy_governs(action, arn))
    return request, replace(policies.policy_set(resource_policies), scps=scps)


def _base_context(ctx: RequestContext, policies: PrincipalPolicies, params: Params) -> dict[str, Any]:
    principal = ctx.principal
    tags, tag_keys = request_tags(params)
    organization = organization_facts(ctx.cloud, principal.account_id) if principal.kind != "anonymous" else None
    org_id, org_paths = organization or ("", ())
    facts = policy.CallerFacts(
        account_id=principal.account_id, arn=principal.arn, kind=_ENGINE_KINDS.get(principal.kind, principal.kind),
        user_id=principal.user_id, name=principal.name, role_arn=policies.role_arn,
        principal_tags=policies.principal_tags, source_ip=ctx.source_ip, source_vpc=ctx.source_vpc or "",
        source_vpce=ctx.source_vpce or "", secure_transport=ctx.secure_transport,
        now=ctx.received_at, region=ctx.region, user_agent=ctx.user_agent,
        temporary_credentials=principal.access_key_id.startswith("ASIA"), token_issued_at=policies.token_issued_at,
        mfa_authenticated_at=principal.mfa_authenticated_at, request_tags=tags, tag_keys=tag_keys,
        source_identity=principal.source_identity, principal_org_id=org_id, principal_org_paths=org_paths)
    context = policy.global_context(facts)
    context.update(ctx.condition_keys)
    return context


def _check_endpoint_policy(ctx: RequestContext, action: str, resources: Sequence[str], params: Params) -> None:
    """A request that came through a VPC endpoint must also be allowed by the endpoint's policy (whoever the
    caller is: the endpoint policy binds the account's root user too)."""
    from controller.ec2.vpc.endpoint_services import endpoint_refusal, resolve_source_endpoint

    resolve_source_endpoint(ctx)
    why = endpoint_refusal(ctx, action, resources, _base_context(ctx, principal_policies(ctx), params))
    if why:
        raise denial_error(ctx.service, ctx.principal.arn, action, resources[0] if resources else "*", why)


def _check_endpoint_service(ctx: RequestContext, action: str) -> None:
    """The endpoint part that binds even calls IAM does not authorize: the endpoint exists, carries traffic
    and serves the request's service (no resources: its policy is not evaluated, as no IAM policy is)."""
    from controller.ec2.vpc.endpoint_services import endpoint_refusal, resolve_source_endpoint

    resolve_source_endpoint(ctx)
    why = endpoint_refusal(ctx, action, [], {})
    if why:
        raise denial_error(ctx.service, ctx.principal.arn, action, "*", why)


def _own_without_policy(account_id: str, arn: str, info: ResourceInfo | None) -> bool:
    """A resource in the caller's own account that carries no policy (root needs no evaluation)."""
    if info is not None:
        return info.owner_account == account_id and not info.policy
    owner = _arn_account(arn)
    return owner in ("", account_id)


def _arn_account(arn: str) -> str:
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[4] != "aws" else ""


def _refuse_session_token_limits(ctx: RequestContext) -> None:
    """GetSessionToken credentials cannot call IAM without MFA (AWS answers as for an unknown token).

    A console sign-in's credentials (``console_signin.py``) are a user's or root's session too, but they
    act as the signed-in user in everything, IAM included; only this rare case reads the session's record.
    """
    principal = ctx.principal
    if principal.kind in ("user", "root") and principal.access_key_id.startswith("ASIA") and \
            ctx.service == "iam" and principal.mfa_authenticated_at is None and not _console_session(ctx):
        raise ServiceError("The security token included in the request is invalid", code="InvalidClientTokenId",
                           status=403)


def _console_session(ctx: RequestContext) -> bool:
    with ctx.cloud.db.read() as conn:
        return bool(session_of(conn, ctx.principal.access_key_id).get("console"))
