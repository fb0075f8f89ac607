"""SimulateCustomPolicy and SimulatePrincipalPolicy: the policy engine, asked from outside.

Both return one EvaluationResult per action with the most restrictive decision over
the requested resources, and each resource's own result in ResourceSpecificResults
(AWS's current behaviour). Context keys come only from ``ContextEntries``: the
simulator, like AWS's, fills nothing in by itself and reports what policies needed
but did not get in ``MissingContextValues``.

Decisions come from ``decision.decide``, the same as enforcement's: ``sts:GetCallerIdentity``
is always allowed, changes to what AWS reserves are refused, ``sts:AssumeRole`` on a
role of this cloud is judged with the role's trust policy as its resource policy (unless
``ResourcePolicy`` gives one), and SimulatePrincipalPolicy holds a member account's
principals to the organization's SCPs. A request resource of ``*`` (the default of
``ResourceArns``) is matched literally, as AWS's simulator does: only statements whose
``Resource`` matches the string ``*`` apply to it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from controller.api import Params, RequestContext
from controller.iam import policy, state
from controller.iam.aws_managed import is_aws_managed_arn
from controller.iam.decision import decide, scp_levels, trust_policy
from controller.iam.directory import GROUP, ROLE, USER, EntityKind, require
from controller.iam.errors import InvalidInput, NoSuchEntity
from controller.iam.naming import paginate
from controller.iam.principal_policies import managed_policies, owned_policies
from controller.iam.service import api

#: Decisions from least to most restrictive: the aggregate over resources is the last one seen.
_RESTRICTIVENESS = {policy.ALLOWED: 0, policy.IMPLICIT_DENY: 1, policy.EXPLICIT_DENY: 2}


def _parse_inputs(documents: Sequence[str], source: str, *, resource_policy: bool = False) -> list[policy.Policy]:
    """Compile input policies; a bad one answers InvalidInput naming it.

    The simulator checks the grammar and where Principal and Resource belong, not
    IAM's storage rules (quotas, alphanumeric Sids): it simulates documents that need
    not be storable as they are.
    """
    parsed = []
    for index, document in enumerate(documents, start=1):
        policy_id = source if resource_policy else f"{source}.{index}"
        try:
            compiled = policy.compile_document(document)
        except policy.PolicyError as exc:
            raise InvalidInput(f"{policy_id}: {exc.message}") from None
        for statement in compiled.statements:
            if resource_policy and statement.principal is None:
                raise InvalidInput(f"{policy_id}: Missing required field Principal")
            if not resource_policy and statement.principal is not None:
                raise InvalidInput(f"{policy_id}: Policy document should not specify a principal.")
            if not resource_policy and statement.resources is None:
                raise InvalidInput(f"{policy_id}: Policy statement must contain resources.")
        parsed.append(policy.Policy(policy_id, compiled, "resource" if resource_policy else "none"))
    return parsed


def context_entries(entries: Sequence[dict[str, Any]] | None) -> dict[str, str | list[str]]:
    """ContextEntries as the engine's context: typed values checked, list types kept as lists."""
    context: dict[str, str | list[str]] = {}
    for entry in entries or []:
        name = entry.get("ContextKeyName")
        values = [str(value) for value in entry.get("ContextKeyValues") or []]
        key_type = entry.get("ContextKeyType") or "string"
        if not name:
            raise InvalidInput("ContextKeyName is required in every context entry.")
        for value in values:
            if not _valid_value(key_type.removesuffix("List"), value):
                raise InvalidInput(f"Invalid value {value} for context key {name} of type {key_type}.")
        context[name] = values if key_type.endswith("List") or len(values) != 1 else values[0]
    return context


def _valid_value(key_type: str, value: str) -> bool:
    try:
        if key_type == "numeric":
            float(value)
        elif key_type == "boolean":
            return value.lower() in ("true", "false")
        elif key_type == "ip":
            ipaddress.ip_network(value, strict=False)
        elif key_type == "date" and not value.lstrip("-").isdigit():
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _account_of(arn: str, member: str) -> str:
    parts = arn.split(":")
    if len(parts) < 6 or not parts[4].isdigit():
        raise InvalidInput(f"Invalid {member}: {arn}")
    return parts[4]


def _statement(statement: policy.MatchedStatement) -> dict[str, Any]:
    output: dict[str, Any] = {"SourcePolicyId": statement.policy_id}
    if statement.source_type != "none":
        output["SourcePolicyType"] = statement.source_type
    if statement.start is not None and statement.end is not None:
        output["StartPosition"] = {"Line": statement.start.line, "Column": statement.start.column}
        output["EndPosition"] = {"Line": statement.end.line, "Column": statement.end.column}
    return output


def simulate(ctx: RequestContext, policies: policy.PolicySet, params: Params, *, caller_arn: str,
             caller_account: str, resource_owner: str) -> Params:
    """Evaluate every action on every resource and shape the results as AWS does."""
    context = context_entries(params.get("ContextEntries"))
    resources = params.get("ResourceArns") or ["*"]
    results = []
    for action in params["ActionNames"]:
        per_resource = []
        for resource in resources:
            policy_set, owner = policies, resource_owner
            trust = None if policies.resource else trust_policy(ctx, action, resource)
            if trust is not None:
                owner = owner or trust.owner_account
                if trust.policy:
                    policy_set = replace(policies, resource=[policy.parse_policy(
                        trust.policy, policy_id="ResourcePolicy", source_type="resource")])
            request = policy.EvaluationRequest(action=action, resource=resource, principal_arn=caller_arn,
                                               principal_account=caller_account, resource_account=owner,
                                               context=context, default_region=ctx.region,
                                               any_resource=resource == "*")
            per_resource.append((resource, decide(request, policy_set)))
        results.append(_evaluation_result(action, per_resource, explicit_resources="ResourceArns" in params,
                                          has_boundary=policies.permissions_boundary is not None,
                                          has_scps=policies.scps is not None))
    indexed = [(f"{index:06d}", result) for index, result in enumerate(results)]
    page = paginate(indexed, params, lambda item: item[0], "EvaluationResults")
    page["EvaluationResults"] = [result for _, result in page["EvaluationResults"]]
    return page


def _evaluation_result(action: str, per_resource: list[tuple[str, policy.EvaluationResult]], *,
                       explicit_resources: bool, has_boundary: bool, has_scps: bool) -> dict[str, Any]:
    decision = max((result.decision for _, result in per_resource), key=_RESTRICTIVENESS.__getitem__)
    matched: list[dict[str, Any]] = []
    missing: dict[str, str] = {}
    for _, result in per_resource:
        if result.decision == decision:
            matched += [s for s in map(_statement, result.matched_statements) if s not in matched]
        for key in result.missing_context_values:
            missing.setdefault(key.lower(), key)
    output: dict[str, Any] = {"EvalActionName": action, "EvalDecision": decision, "MatchedStatements": matched,
                              "MissingContextValues": list(missing.values())}
    if len(per_resource) == 1:
        output["EvalResourceName"] = per_resource[0][0]
    if has_boundary:
        output["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": all(
            result.allowed_by_permissions_boundary is not False for _, result in per_resource)}
    if has_scps:
        output["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": all(
            result.allowed_by_organizations is not False for _, result in per_resource)}
    if explicit_resources:
        output["ResourceSpecificResults"] = [_resource_result(resource, result, has_boundary)
                                             for resource, result in per_resource]
    return output


def _resource_result(resource: str, result: policy.EvaluationResult, has_boundary: bool) -> dict[str, Any]:
    output: dict[str, Any] = {"EvalResourceName": resource, "EvalResourceDecision": result.decision,
                              "MatchedStatements": [_statement(s) for s in result.matched_statements],
                              "MissingContextValues": list(result.missing_context_values)}
    if has_boundary:
        output["PermissionsBoundaryDecisionDetail"] = {
            "AllowedByPermissionsBoundary": result.allowed_by_permissions_boundary is not False}
    return output


def _caller(params: Params, default_arn: str = "") -> tuple[str, str]:
    caller_arn = params.get("CallerArn") or default_arn
    if params.get("ResourcePolicy") and not caller_arn:
        raise InvalidInput("CallerArn is required when a ResourcePolicy is specified.")
    if caller_arn and ":user/" not in caller_arn:
        raise InvalidInput(f"Invalid CallerArn: {caller_arn}. Only IAM users can be simulated callers.")
    return caller_arn, _account_of(caller_arn, "CallerArn") if caller_arn else ""


def _resource_owner(params: Params) -> str:
    owner = params.get("ResourceOwner")
    return _account_of(owner, "ResourceOwner") if owner else ""


@api.operation("SimulateCustomPolicy")
def simulate_custom_policy(ctx: RequestContext, params: Params) -> Params:
    caller_arn, caller_account = _caller(params)
    boundary = params.get("PermissionsBoundaryPolicyInputList")
    policies = policy.PolicySet(
        identity=_parse_inputs(params["PolicyInputList"], "PolicyInputList"),
        resource=_parse_inputs([params["ResourcePolicy"]], "ResourcePolicy", resource_policy=True)
        if params.get("ResourcePolicy") else [],
        permissions_boundary=_parse_inputs(boundary, "PermissionsBoundaryPolicyInputList")
        if boundary else None)
    return simulate(ctx, policies, params, caller_arn=caller_arn, caller_account=caller_account or ctx.account_id,
                    resource_owner=_resource_owner(params))


@api.operation("SimulatePrincipalPolicy", resources=lambda ctx, params: [params["PolicySourceArn"]])
def simulate_principal_policy(ctx: RequestContext, params: Params) -> Params:
    source = params["PolicySourceArn"]
    kind, owners, boundary_arn = _policy_source(ctx, source)
    exclusions = Exclusions.parse(params.get("PolicyExclusionList") or [])
    partition = ctx.cloud.config.partition
    with ctx.cloud.db.read() as conn:
        identity = list(owned_policies(conn, partition, ctx.account_id, owners, keep_inline=exclusions.keeps_inline,
                                       keep_managed=exclusions.keeps_managed))
        boundary_input = params.get("PermissionsBoundaryPolicyInputList")
        boundary: list[policy.Policy] | None = None
        if boundary_input:
            boundary = _parse_inputs(boundary_input, "PermissionsBoundaryPolicyInputList")
        elif boundary_arn and exclusions.keeps_boundary:
            boundary = managed_policies(conn, partition, ctx.account_id, [boundary_arn])
    identity += _parse_inputs(params.get("PolicyInputList") or [], "PolicyInputList")
    caller_arn, caller_account = _caller(params, source if kind is USER else "")
    policies = policy.PolicySet(
        identity=identity,
        resource=_parse_inputs([params["ResourcePolicy"]], "ResourcePolicy", resource_policy=True)
        if params.get("ResourcePolicy") else [],
        permissions_boundary=boundary, scps=scp_levels(ctx.cloud, ctx.account_id))
    return simulate(ctx, policies, params, caller_arn=caller_arn or source,
                    caller_account=caller_account or ctx.account_id, resource_owner=_resource_owner(params))


@dataclass(frozen=True)
class Exclusions:
    """SimulatePrincipalPolicy's PolicyExclusionList: policies left out by type, ARN or inline name.

    ARNs and inline entity names may hold wildcards (``*`` and ``?``).
    """

    types: frozenset[str] = frozenset()
    arns: tuple[re.Pattern[str], ...] = ()
    inline: tuple[tuple[str, str, re.Pattern[str]], ...] = ()

    @classmethod
    def parse(cls, identifiers: Sequence[dict[str, Any]]) -> Exclusions:
        types, arns, inline = set(), [], []
        for identifier in identifiers:
            if identifier.get("PolicyType"):
                types.add(identifier["PolicyType"])
            elif identifier.get("PolicyArn"):
                arns.append(_wildcard(identifier["PolicyArn"]))
            elif identifier.get("InlinePolicyIdentifier"):
                named = identifier["InlinePolicyIdentifier"]
                inline.append((named["PolicyName"].lower(), named["AttachmentType"],
                               _wildcard(named["AttachmentName"], ignore_case=True)))
            else:
                raise InvalidInput("Each policy exclusion must name a PolicyType, a PolicyArn or an "
                                   "InlinePolicyIdentifier.")
        return cls(frozenset(types), tuple(arns), tuple(inline))

    def keeps_inline(self, owner_type: str, owner_name: str, policy_name: str) -> bool:
        if "inline" in self.types:
            return False
        return not any(name == policy_name.lower() and kind == owner_type and pattern.fullmatch(owner_name)
                       for name, kind, pattern in self.inline)

    def keeps_managed(self, arn: str) -> bool:
        if ("aws-managed" if is_aws_managed_arn(arn) else "user-managed") in self.types:
            return False
        return not any(pattern.fullmatch(arn) for pattern in self.arns)

    @property
    def keeps_boundary(self) -> bool:
        return "permission-boundary" not in self.types


def _wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    source = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(source, re.IGNORECASE if ignore_case else 0)


def _policy_source(ctx: RequestContext, arn: str) -> tuple[EntityKind, dict[str, tuple[str, str]], str | None]:
    """The entity PolicySourceArn names, the owners whose policies apply, and its boundary."""
    parts = arn.split(":", 5)
    kind_name, _, rest = parts[5].partition("/") if len(parts) == 6 else ("", "", "")
    kind = {"user": USER, "group": GROUP, "role": ROLE}.get(kind_name)
    if kind is None or parts[4] != ctx.account_id or not rest:
        raise InvalidInput(f"Invalid PolicySourceArn: {arn}")
    name = rest.rsplit("/", 1)[-1]
    with ctx.cloud.db.read() as conn:
        try:
            row = require(conn, kind, ctx.account_id, name)
        except NoSuchEntity:
            raise NoSuchEntity(f"PolicySourceArn {arn} does not exist.") from None
        owners = {row[kind.id_column]: (kind.label, row[kind.name_column])}
        if kind is USER:
            groups = conn.execute(state.groups.select().join(
                state.group_members, state.group_members.c.group_id == state.groups.c.group_id).where(
                state.group_members.c.user_id == row["user_id"])).mappings().all()
            owners.update({g["group_id"]: ("group", g["group_name"]) for g in groups})
    return kind, owners, row.get("boundary_arn") if kind is not GROUP else None
