"""Why IAM denied a call: the :class:`Explanation` built at the moment of the denial.

AWS's AccessDenied message says only which *kind* of policy refused ("with an explicit deny in an
identity-based policy", "because no permissions boundary allows..."). An administrator wants the policy
and the statement. Enforcement (``enforce.check_action``) builds an Explanation from the engine's own
answer when it denies, and the audit trail stores it beside the call's CloudTrail event
(``audit/trail.py``, table ``audit_explanations``), because by the time someone asks the policies may
have changed: re-evaluating later would explain a different world. The console reads it back with
``explanations.explain_event``.

Denials are rare and the allowed path never comes here. An explicit deny costs nothing more than
copying the statements the engine matched; a missing allow costs the one or two extra evaluations that
AccessDenied's message needed anyway to name the kind of policy, plus one for the statements that did
allow elsewhere (so the sentence can say what *would* have allowed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from controller.iam import policy

#: Verdicts: an explicit Deny somewhere, or the kind of policy that failed to allow.
EXPLICIT_DENY = "explicit-deny"
NO_ALLOW = {policy.IDENTITY: "no-identity-allow", policy.BOUNDARY: "permissions-boundary",
            policy.SESSION: "session-policy", policy.SCP: "service-control-policy",
            policy.RESOURCE: "resource-policy"}


@dataclass(frozen=True)
class PolicyRef:
    """One policy as the console shows it.

    ``kind``: identity, resource, boundary, session or scp; ``policy_type`` and ``policy_id`` are
    SimulatePrincipalPolicy's SourcePolicyType and SourcePolicyId (a managed policy's name, an inline
    policy's name, an SCP's id, ``SessionPolicy``, ``ResourcePolicy``); ``arn`` a managed policy's ARN;
    ``attached_to`` where an inline policy or SCP sits (``user/alice``, ``group/devs``, ``role/r``,
    ``root/r-…``, ``ou/ou-…``, ``account/<id>``).
    """

    kind: str
    policy_type: str
    policy_id: str
    arn: str = ""
    attached_to: str = ""

    def words(self) -> str:
        """``managed policy arn:…``, ``inline policy 'p' of user alice``, ``service control policy p-1 …``."""
        where = self.attached_to.replace("/", " ", 1).replace("ou ", "OU ", 1)
        if self.kind == policy.SCP:
            return f"service control policy {self.policy_id}" + (f" attached to {where}" if where else "")
        if self.kind == policy.RESOURCE:
            return "the resource-based policy"
        if self.kind == policy.SESSION and not self.arn:
            return "the inline session policy"
        prefix = {policy.BOUNDARY: "permissions boundary ", policy.SESSION: "session policy "}.get(self.kind, "")
        if self.arn:
            return f"{prefix or 'managed policy '}{self.arn}"
        return f"{prefix}inline policy '{self.policy_id}'" + (f" of {where}" if where else "")


@dataclass(frozen=True)
class StatementRef:
    """One statement that decided: its policy, its 0-based ``index`` in the document, Sid and effect."""

    policy: PolicyRef
    index: int
    sid: str | None
    effect: str

    def words(self) -> str:
        """``statement 'DenyDeletes' (#2) of managed policy arn:…``; ``#`` counts from 1, as a reader does."""
        name = f"'{self.sid}' (#{self.index + 1})" if self.sid else f"#{self.index + 1}"
        return f"statement {name} of {self.policy.words()}"


@dataclass(frozen=True)
class Explanation:
    """Why ``principal_arn`` was refused ``action`` on ``resource``.

    ``kind`` is the kind of policy that decided (``policy.IDENTITY``…); with ``explicit`` it was a Deny
    statement of that kind (``denied_by`` lists them all), otherwise none of the ``lacking`` policies of
    that kind allows (empty: there is none). ``allowed_by`` lists Allow statements elsewhere that did
    match (the identity policy a boundary overrules, or the boundary that would have let an identity
    allow through). ``role_arn`` is the role behind a role session, which SimulatePrincipalPolicy names.
    """

    principal_arn: str
    action: str
    resource: str
    explicit: bool
    kind: str
    denied_by: tuple[StatementRef, ...] = ()
    lacking: tuple[PolicyRef, ...] = ()
    allowed_by: tuple[StatementRef, ...] = ()
    role_arn: str = ""

    @property
    def verdict(self) -> str:
        """``explicit-deny``, ``no-identity-allow``, ``permissions-boundary``, ``service-control-policy``,
        ``session-policy`` or ``resource-policy``."""
        return EXPLICIT_DENY if self.explicit else NO_ALLOW[self.kind]

    def sentence(self) -> str:
        """The explanation as a person would say it."""
        if self.explicit:
            return f"Denied explicitly by {_joined(s.words() for s in self.denied_by)}."
        request = f"{self.action}{'' if self.resource == '*' else ' on ' + self.resource}"
        who = _principal_words(self.principal_arn)
        if self.kind == policy.IDENTITY:
            text = f"Denied: no identity-based policy attached to {who} allows {request}"
        elif self.kind == policy.SCP:
            text = f"Denied: no service control policy {_scp_level(self.lacking)}allows {request} for {who}"
        elif self.kind == policy.RESOURCE:
            text = f"Denied: the resource-based policy of {self.resource} does not allow {who} to {self.action}"
        else:
            named = _joined(ref.words() for ref in self.lacking) or f"the {_NOUNS[self.kind]}"
            text = f"Denied: {named} of {who} does not allow {request}"
        if self.allowed_by:
            verb = "does" if len(self.allowed_by) == 1 else "do"
            text += f"; {_joined(s.words() for s in self.allowed_by)} {verb}"
        return text + "."

    def document(self) -> dict[str, Any]:
        """The explanation as JSON, as the audit trail stores it."""
        return {"principalArn": self.principal_arn, "action": self.action, "resource": self.resource,
                "explicit": self.explicit, "kind": self.kind, "roleArn": self.role_arn,
                "deniedBy": [_statement_document(s) for s in self.denied_by],
                "lacking": [_policy_document(p) for p in self.lacking],
                "allowedBy": [_statement_document(s) for s in self.allowed_by]}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Explanation:
        return cls(principal_arn=document["principalArn"], action=document["action"],
                   resource=document["resource"], explicit=document["explicit"], kind=document["kind"],
                   role_arn=document.get("roleArn", ""),
                   denied_by=tuple(_statement_of(s) for s in document["deniedBy"]),
                   lacking=tuple(PolicyRef(**p) for p in document["lacking"]),
                   allowed_by=tuple(_statement_of(s) for s in document["allowedBy"]))


_NOUNS = {policy.BOUNDARY: "permissions boundary", policy.SESSION: "session policy"}


def explain_denial(request: policy.EvaluationRequest, policies: policy.PolicySet,
                   result: policy.EvaluationResult) -> Explanation:
    """The explanation of ``result``, a denial of ``request`` by the engine over ``policies``.

    The order of the questions is the engine's (``policy/evaluate.py``): any Deny, then SCPs, then
    whether identity and resource policies alone would allow (then a boundary or session policy
    refused), then whether the caller's own account would allow (then the other account's resource
    policy refused), else no identity-based policy allows.
    """
    base = Explanation(request.principal_arn, request.action, request.resource, False, policy.IDENTITY,
                       role_arn=request.role_arn)
    if result.decision == policy.EXPLICIT_DENY:
        denies = result.matched_statements
        return replace(base, explicit=True, kind=denies[0].kind if denies else policy.IDENTITY,
                       denied_by=tuple(_statement_ref(s) for s in denies))
    if result.allowed_by_organizations is False:
        level = next((level for level in policies.scps or () if not _allowing(request, level)), ())
        return replace(base, kind=policy.SCP, lacking=_policy_refs(level, policy.SCP),
                       allowed_by=_allowing(request, policies.identity))
    unlimited = policy.evaluate(request, policy.PolicySet(identity=policies.identity, resource=policies.resource))
    if unlimited.allowed:
        if result.allowed_by_permissions_boundary is False:
            return replace(base, kind=policy.BOUNDARY, allowed_by=_statement_refs(unlimited.matched_statements),
                           lacking=_policy_refs(policies.permissions_boundary or (), policy.BOUNDARY))
        return replace(base, kind=policy.SESSION, allowed_by=_statement_refs(unlimited.matched_statements),
                       lacking=_policy_refs(policies.session_policies or (), policy.SESSION))
    own_account = replace(request, resource_account="", require_resource_policy=False)
    if request.resource_account and policy.evaluate(own_account, policy.PolicySet(identity=policies.identity)
                                                    ).allowed:
        return replace(base, kind=policy.RESOURCE, allowed_by=_allowing(request, policies.identity),
                       lacking=_policy_refs(policies.resource, policy.RESOURCE))
    boundary = policies.permissions_boundary
    return replace(base, lacking=_policy_refs(policies.identity, policy.IDENTITY),
                   allowed_by=_allowing(request, boundary, policy.BOUNDARY) if boundary else ())


def _allowing(request: policy.EvaluationRequest, policies: Sequence[policy.Policy],
              kind: str = policy.IDENTITY) -> tuple[StatementRef, ...]:
    """The Allow statements of ``policies`` alone that match ``request`` in the caller's own account.

    The caller is left anonymous: the account root user is allowed without any statement, and what is
    asked here is which statements allow.
    """
    alone = replace(request, principal_arn="", resource_account="", require_resource_policy=False)
    return _statement_refs(policy.evaluate(alone, policy.PolicySet(identity=policies)).matched_statements, kind)


def _statement_ref(matched: policy.MatchedStatement, kind: str = "") -> StatementRef:
    ref = PolicyRef(kind or matched.kind, matched.source_type, matched.policy_id, matched.policy_arn,
                    matched.attached_to)
    return StatementRef(ref, matched.index, matched.sid, matched.effect)


def _statement_refs(matched: Iterable[policy.MatchedStatement], kind: str = "") -> tuple[StatementRef, ...]:
    return tuple(_statement_ref(statement, kind) for statement in matched)


def _policy_refs(policies: Iterable[policy.Policy], kind: str) -> tuple[PolicyRef, ...]:
    return tuple(PolicyRef(kind, p.source_type, p.policy_id, p.arn, p.attached_to) for p in policies)


def _statement_document(statement: StatementRef) -> dict[str, Any]:
    return {"policy": _policy_document(statement.policy), "index": statement.index, "sid": statement.sid,
            "effect": statement.effect}


def _statement_of(document: Mapping[str, Any]) -> StatementRef:
    return StatementRef(PolicyRef(**document["policy"]), document["index"], document["sid"], document["effect"])


def _policy_document(ref: PolicyRef) -> dict[str, str]:
    return {"kind": ref.kind, "policy_type": ref.policy_type, "policy_id": ref.policy_id, "arn": ref.arn,
            "attached_to": ref.attached_to}


def _scp_level(level: Sequence[PolicyRef]) -> str:
    """``attached to OU ou-1 (p-a, p-b) `` for the level of the organization where no SCP allows."""
    if not level:
        return ""
    where = level[0].attached_to.replace("/", " ", 1).replace("ou ", "OU ", 1)
    return f"attached to {where} ({', '.join(ref.policy_id for ref in level)}) "


def _principal_words(arn: str) -> str:
    """``user alice``, ``role session admin/bob``, ``the root user of account 1…``, ``an anonymous caller``."""
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return arn or "an anonymous caller"
    kind, _, rest = parts[5].partition("/")
    if kind == "root":
        return f"the root user of account {parts[4]}"
    if kind == "user":
        return f"user {rest.rsplit('/', 1)[-1]}"
    if kind == "assumed-role":
        return f"role session {rest}"
    return arn


def _joined(items: Iterable[str]) -> str:
    words = list(items)
    return ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1] if words else ""
