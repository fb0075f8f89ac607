"""The engine's data: compiled policies, the evaluation request, and its result.

A :class:`PolicyDocument` is parsed and compiled once (see ``parse.py``) and is
immutable, so one instance is shared by every principal the policy is attached to and
by every evaluation. Its statements are indexed by the service prefix their actions
name, so an ``s3:GetObject`` request never looks at an ``ec2:*`` statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controller.iam.policy.conditions import Condition
from controller.iam.policy.matching import PatternSet, compile_pieces
from controller.iam.policy.principals import PrincipalSpec
from controller.iam.policy.variables import Lookup, Template, Variable

#: Distinct actions remembered per document before the memo starts over.
ACTION_MEMO_SIZE = 4096

ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY = "allowed", "explicitDeny", "implicitDeny"

#: The kinds of policy the evaluation logic distinguishes.
IDENTITY, RESOURCE, BOUNDARY, SESSION, SCP = "identity", "resource", "boundary", "session", "scp"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a statement starts or ends, as SimulatePrincipalPolicy reports it.

    ``line`` is 1-based; ``column`` is the 1-based column just past the brace, which is
    what AWS returns: a statement brace at the very start of a line is at column 2.
    """

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class ResourceSet:
    """A ``Resource``/``NotResource`` list: plain patterns plus patterns with variables."""

    static: PatternSet
    templates: tuple[Template, ...]

    def matches(self, resource: str, lookup: Lookup) -> bool | None:
        """Whether any pattern matches; None when only an unresolvable variable could tell."""
        if self.static.matches(resource):
            return True
        if not self.templates:
            return False
        unresolved = False
        for template in self.templates:
            pieces = template.resolve(lookup)
            if pieces is None:
                unresolved = True
            elif compile_pieces(tuple(pieces)).match(resource) is not None:
                return True
        return None if unresolved else False


@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled statement; ``index`` is its 0-based position in the document."""

    index: int
    sid: str | None
    allow: bool
    actions: PatternSet
    #: The Action/NotAction values as written (validation of trust policies reads them).
    action_patterns: tuple[str, ...]
    not_action: bool
    resources: ResourceSet | None
    not_resource: bool
    principal: PrincipalSpec | None
    not_principal: bool
    conditions: tuple[Condition, ...]
    #: Services (lowercased prefixes) the actions name; None when any service can match.
    services: frozenset[str] | None
    #: (lowercased key, key as written) whose absence is reported as a missing context value.
    reported_keys: tuple[tuple[str, str], ...]
    variables: tuple[Variable, ...]
    start: Position | None = None
    end: Position | None = None

    @property
    def effect(self) -> str:
        return "Allow" if self.allow else "Deny"


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    """A parsed, validated, compiled policy document."""

    version: str | None
    id: str | None
    statements: tuple[Statement, ...]
    by_service: Mapping[str, tuple[Statement, ...]]
    any_service: tuple[Statement, ...]
    #: Every context key the conditions and variables reference, as first written.
    context_keys: tuple[str, ...]
    _by_action: dict[str, tuple[Statement, ...]] = field(default_factory=dict, compare=False, repr=False)

    def candidates(self, service: str) -> tuple[Statement, ...]:
        """Statements whose ``Action``/``NotAction`` can match an action of ``service`` (lowercased)."""
        return self.by_service.get(service, self.any_service)

    def for_action(self, action: str) -> tuple[Statement, ...]:
        """Statements whose ``Action``/``NotAction`` element covers ``action`` (lowercased).

        Whether a statement covers an action depends on nothing else in the request,
        so the answer is memoized per document: a request costs one dict lookup per
        policy instead of one pattern match per statement.
        """
        found = self._by_action.get(action)
        if found is None:
            service = action.split(":", 1)[0]
            found = tuple(statement for statement in self.candidates(service)
                          if statement.actions.matches(action) != statement.not_action)
            if len(self._by_action) >= ACTION_MEMO_SIZE:
                self._by_action.clear()
            self._by_action[action] = found
        return found


@dataclass(frozen=True, slots=True)
class Policy:
    """A document as attached somewhere: its id and source type are echoed in results.

    ``source_type`` is one of SimulatePrincipalPolicy's ``PolicySourceType`` values
    (``user``, ``group``, ``role``, ``aws-managed``, ``user-managed``, ``resource``,
    ``none``); the engine doesn't interpret it, nor ``arn`` (a managed policy's) and
    ``attached_to`` (``user/alice``, ``group/devs``, ``role/r`` for an inline policy;
    ``root/r-…``, ``ou/ou-…``, ``account/<id>`` for an SCP), which only travel to the
    matched statements so that a denial can name the policy as a person would.
    """

    policy_id: str
    document: PolicyDocument
    source_type: str = "none"
    arn: str = ""
    attached_to: str = ""


@dataclass(frozen=True)
class PolicySet:
    """The policies that apply to one request, grouped by how they take part.

    ``permissions_boundary`` is None when the principal has no boundary (an empty
    tuple would mean a boundary that allows nothing). ``session_policies`` is None
    when the session was created without one (AssumeRole's ``Policy``/``PolicyArns``
    together form the session policy). ``scps`` lists, per level of the organization
    (root, each OU, the account), the SCPs attached there; None when the account is
    not governed by SCPs.
    """

    identity: Sequence[Policy] = ()
    resource: Sequence[Policy] = ()
    permissions_boundary: Sequence[Policy] | None = None
    session_policies: Sequence[Policy] | None = None
    scps: Sequence[Sequence[Policy]] | None = None


ContextValue = str | Sequence[str]


@dataclass(frozen=True)
class EvaluationRequest:
    """One authorization question: may ``principal_arn`` do ``action`` on ``resource``?

    ``principal_arn`` is the caller as AWS names it: an IAM user ARN, a role session ARN
    (``arn:aws:sts::111122223333:assumed-role/Role/session``), a federated user ARN,
    the account root ARN, a service principal (``ec2.amazonaws.com``), or ``""`` for an
    anonymous caller. ``resource_account`` empty means the principal's own account.
    ``context`` holds the condition keys (names case-insensitive, values strings or
    lists of strings, as in SimulateCustomPolicy's ContextEntries).

    ``role_arn`` (the IAM role, with its path, of a role session) and
    ``federated_by_arn`` (the IAM user behind a GetFederationToken session) let
    resource policies that name those match. ``require_resource_policy`` is for
    resources whose policy must itself allow the principal even in the same account
    (role trust policies, KMS key policies). ``default_region`` enables the product's
    reading of ARNs that omit their region or account (see ``evaluate.omitted_parts``).
    """

    action: str
    resource: str = "*"
    principal_arn: str = ""
    principal_account: str = ""
    resource_account: str = ""
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    role_arn: str = ""
    federated_by_arn: str = ""
    federated_provider: str = ""
    canonical_user: str = ""
    require_resource_policy: bool = False
    #: The cloud's default region: a policy ARN that omits the region means this one (see evaluate.py).
    default_region: str = ""
    #: The request stands for every resource: Simulate* without ResourceArns (AWS's default ``*``, "all
    #: resources"). Every ``Resource`` element then applies, and a ``NotResource`` element applies unless
    #: it excludes everything. Enforcement never sets it: there ``*`` is an action without resources.
    any_resource: bool = False


@dataclass(frozen=True, slots=True)
class MatchedStatement:
    """A statement that decided the result (policy id, kind, position and Sid; the policy's ARN and
    attachment as its :class:`Policy` gives them)."""

    policy_id: str
    source_type: str
    kind: str
    index: int
    sid: str | None
    effect: str
    start: Position | None
    end: Position | None
    policy_arn: str = ""
    attached_to: str = ""


@dataclass(frozen=True)
class EvaluationResult:
    """The decision and why.

    ``matched_statements`` lists the Deny statements for ``explicitDeny``, the Allow
    statements that granted access for ``allowed`` and nothing for ``implicitDeny`` (as
    SimulateCustomPolicy reports). ``missing_context_values`` names the condition keys
    (and variables) of statements that could have applied whose value the request
    lacked. ``allowed_by_permissions_boundary``/``allowed_by_organizations`` are None
    when there is no boundary / no SCP.
    """

    decision: str
    matched_statements: tuple[MatchedStatement, ...] = ()
    missing_context_values: tuple[str, ...] = ()
    allowed_by_permissions_boundary: bool | None = None
    allowed_by_organizations: bool | None = None

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED
