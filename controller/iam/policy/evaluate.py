"""The decision: AWS's documented evaluation logic over compiled policies.

Order, from the IAM User Guide ("Policy evaluation logic", "Cross-account policy
evaluation logic"):

1. an applicable ``Deny`` in any policy (identity, resource, boundary, session, SCP)
   is final: ``explicitDeny``;
2. with SCPs, every level of the organization must allow, else ``implicitDeny``;
3. within one account, access is granted by an identity-based allow (which the
   permissions boundary and the session policy must also allow) *or* by a
   resource-based allow, whose reach depends on how it names the caller (see
   ``principals.py``): the caller itself or everyone stands alone, the role of a
   session or the user behind a federated session is limited by boundary and
   session policy, the account only delegates to identity policies;
4. across accounts, the caller's account must allow (identity side, as above) *and*
   the resource's policy must name the caller in any of those ways;
5. the account root user has every identity-side permission of its account (only a
   Deny or an SCP stops it); a GetFederationToken session without session policy
   has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controller.iam.policy.model import (
    ALLOWED,
    BOUNDARY,
    EXPLICIT_DENY,
    IDENTITY,
    IMPLICIT_DENY,
    RESOURCE,
    SCP,
    SESSION,
    ContextValue,
    EvaluationRequest,
    EvaluationResult,
    MatchedStatement,
    Policy,
    PolicySet,
    ResourceSet,
    Statement,
)
from controller.iam.policy.principals import (
    ACCOUNT,
    ASSUMED_ROLE,
    DIRECT,
    FEDERATED_USER,
    LIMITED,
    ROLE,
    ROOT,
    USER,
    Caller,
    PrincipalSpec,
)


class RequestContext:
    """Condition keys of one request, looked up case-insensitively."""

    __slots__ = ("_values",)

    def __init__(self, context: Mapping[str, ContextValue]) -> None:
        self._values = {key.lower(): (value,) if value.__class__ is str else _as_strings(value)
                        for key, value in context.items()}

    def values(self, key: str) -> tuple[str, ...] | None:
        return self._values.get(key)

    def single(self, key: str) -> str | None:
        values = self._values.get(key)
        return values[0] if values is not None and len(values) == 1 else None


def _as_strings(value: ContextValue | bool | float) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, int | float):
        return (str(value),)
    return tuple(str(item) for item in value)


@dataclass
class _Scan:
    """What one group of policies says about the request."""

    allows: list[tuple[MatchedStatement, int]] = field(default_factory=list)
    denies: list[MatchedStatement] = field(default_factory=list)


class _Evaluator:
    """Statement matching for one request; collects missing context keys on the way."""

    def __init__(self, request: EvaluationRequest, caller: Caller, *, has_boundary: bool = False) -> None:
        self.action = request.action.lower()
        self.has_boundary = has_boundary
        self.resource = request.resource
        self.any_resource = request.any_resource
        self.context = RequestContext(request.context)
        self.caller = caller
        self.missing: dict[str, str] = {}
        self._home = home = request.principal_account
        self._owner = owner = request.resource_account or home
        self._variants = {home: omitted_parts(request.resource, home, request.default_region),
                          owner: omitted_parts(request.resource, owner, request.default_region)}
        self.variants: tuple[str, ...] = ()

    def scan(self, policies: Sequence[Policy], kind: str) -> _Scan:
        """The applicable Allow (with how they name the caller) and Deny statements of one policy group."""
        result = _Scan()
        with_principal = kind == RESOURCE
        # A policy's omitted account is its own account: the resource owner's for resource
        # policies, the caller's for every other kind.
        self.variants = self._variants[self._owner if with_principal else self._home]
        for policy in policies:
            for statement in policy.document.for_action(self.action):
                strength = self._applies(statement, with_principal)
                if not strength:
                    continue
                matched = MatchedStatement(policy.policy_id, policy.source_type, kind, statement.index,
                                           statement.sid, statement.effect, statement.start, statement.end,
                                           policy.arn, policy.attached_to)
                if statement.allow:
                    result.allows.append((matched, strength))
                else:
                    result.denies.append(matched)
        return result

    def _applies(self, statement: Statement, with_principal: bool) -> int:
        """0 when the statement (already known to cover the action) doesn't apply, else how it names the caller."""
        strength = DIRECT
        if with_principal:
            spec = statement.principal
            if spec is None:
                return 0
            if statement.not_principal:
                strength = 0 if self._exempt(spec, statement.allow) else DIRECT
            else:
                strength = spec.strength(self.caller)
            if not strength:
                return 0
        resources = statement.resources
        if resources is not None and self.any_resource:
            if statement.not_resource and resources.static.matches("*"):
                return 0
        elif resources is not None:
            # Plain patterns (the common case) skip the variable-resolving wrapper.
            hit = self._resource_hit(resources, self.resource)
            for variant in self.variants if hit is False else ():
                if self._resource_hit(resources, variant):
                    hit = True
                    break
            if hit is None:
                self._note_missing(statement)
                return 0
            if hit == statement.not_resource:
                return 0
        if statement.reported_keys:
            self._note_missing(statement)
        for condition in statement.conditions:
            if not condition.evaluate(self.context):
                return 0
        return strength

    def _exempt(self, spec: PrincipalSpec, allow: bool) -> bool:
        """Whether a ``NotPrincipal`` statement leaves the caller out (IAM User Guide, "NotPrincipal").

        An Allow leaves out a caller named by any of its identities; a Deny exempts only a
        caller named by all of them (account, role and session for a role session), and
        never an IAM user or role with a permissions boundary.
        """
        if allow:
            return spec.names_any(self.caller)
        if self.has_boundary and self.caller.kind in (USER, ROLE, ASSUMED_ROLE):
            return False
        return spec.excludes(self.caller)

    def _resource_hit(self, resources: ResourceSet, resource: str) -> bool | None:
        # Plain patterns (the common case) skip the variable-resolving wrapper.
        if resources.templates:
            return resources.matches(resource, self.context.single)
        return resources.static.matches(resource)

    def _note_missing(self, statement: Statement) -> None:
        for key, name in statement.reported_keys:
            if self.context.values(key) is None:
                self.missing.setdefault(key, name)


#: Services whose resource names are unique across all accounts and regions: their ARNs always
#: omit both, so the omission means nothing (``arn:aws:s3:::bucket``).
GLOBAL_SERVICES = frozenset({"s3"})


def omitted_parts(resource: str, account: str, default_region: str) -> tuple[str, ...]:
    """The resource ARN as a policy that omits its account and/or region would name it.

    Cloudlet follows the product brief here rather than AWS's literal matching: a policy
    ARN written without an account (``arn:aws:ec2:home-1::instance/web``) means the
    policy's own account, and one without a region means the cloud's default region. So a
    resource in that account (and region) also matches patterns with those fields empty;
    these are the extra forms to try. Nothing changes for global services (S3) or for
    resources of other accounts and regions.
    """
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn" or parts[2] in GLOBAL_SERVICES:
        return ()
    own_account = bool(account) and parts[4] == account
    own_region = bool(default_region) and parts[3] == default_region
    variants = []
    if own_account:
        variants.append(":".join(parts[:4] + ["", parts[5]]))
    if own_region:
        variants.append(":".join(parts[:3] + ["", parts[4], parts[5]]))
    if own_account and own_region:
        variants.append(":".join(parts[:3] + ["", "", parts[5]]))
    return tuple(variants)


def evaluate(request: EvaluationRequest, policies: PolicySet) -> EvaluationResult:
    """Decide ``request`` against ``policies``: ``allowed``, ``explicitDeny`` or ``implicitDeny``."""
    caller = Caller.describe(request.principal_arn, request.principal_account, role_arn=request.role_arn,
                             federated_by_arn=request.federated_by_arn,
                             federated_provider=request.federated_provider, canonical_user=request.canonical_user)
    evaluator = _Evaluator(request, caller, has_boundary=policies.permissions_boundary is not None)
    identity = evaluator.scan(policies.identity, IDENTITY)
    resource = evaluator.scan(policies.resource, RESOURCE)
    boundary = evaluator.scan(policies.permissions_boundary or (), BOUNDARY)
    session = evaluator.scan(policies.session_policies or (), SESSION)
    scp_levels = [evaluator.scan(level, SCP) for level in policies.scps or ()]
    missing = tuple(evaluator.missing.values())

    denies = identity.denies + resource.denies + boundary.denies + session.denies
    for level in scp_levels:
        denies += level.denies
    has_boundary = policies.permissions_boundary is not None
    allowed_by_boundary = (not boundary.denies and bool(boundary.allows)) if has_boundary else None
    allowed_by_organizations = None
    if policies.scps is not None:
        allowed_by_organizations = all(level.allows and not level.denies for level in scp_levels)
    if denies:
        return EvaluationResult(EXPLICIT_DENY, tuple(denies), missing, allowed_by_boundary, allowed_by_organizations)
    if allowed_by_organizations is False:
        return EvaluationResult(IMPLICIT_DENY, (), missing, allowed_by_boundary, allowed_by_organizations)

    is_root = caller.kind == ROOT
    boundary_ok = is_root or not has_boundary or bool(boundary.allows)
    # A GetFederationToken session without a session policy has no identity-side permissions.
    session_ok = caller.kind != FEDERATED_USER if policies.session_policies is None else bool(session.allows)
    identity_side = (is_root or bool(identity.allows)) and boundary_ok and session_ok
    limits_ok = boundary_ok and session_ok

    cross_account = bool(caller.account and request.resource_account
                         and request.resource_account != caller.account)
    if cross_account:
        granting = [matched for matched, _ in resource.allows]
        allowed = identity_side and bool(granting)
    else:
        granting = [matched for matched, strength in resource.allows
                    if strength == DIRECT or (strength == LIMITED and limits_ok)
                    or (strength == ACCOUNT and identity_side)]
        allowed = bool(granting) or (identity_side and not request.require_resource_policy)
    if not allowed:
        return EvaluationResult(IMPLICIT_DENY, (), missing, allowed_by_boundary, allowed_by_organizations)
    matched = [statement for statement, _ in identity.allows] if identity_side else []
    return EvaluationResult(ALLOWED, tuple(matched + granting), missing, allowed_by_boundary,
                            allowed_by_organizations)
