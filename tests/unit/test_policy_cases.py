"""Runs the table of evaluation cases in ``tests/data/policy_cases`` through ``decision.decide``.

That is the engine plus the facts enforcement and the simulator share (always-allowed
actions, AWS-reserved resources, trust policies required for sts:AssumeRole).

The format is described in ``tests/data/policy_cases/README.md``. The helpers here
(:func:`load_cases`, :func:`simulate_custom_policy_params`) are meant to be imported by
the HTTP test that replays the same cases through SimulateCustomPolicy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from controller.iam import policy as engine
from controller.iam.decision import decide

CASES_DIR = Path(__file__).resolve().parents[1] / "data" / "policy_cases"
DECISIONS = {"allowed", "explicitDeny", "implicitDeny"}
CASE_FIELDS = {
    "name", "doc", "caller_arn", "resource_owner", "identity", "boundary", "resource_policy", "session",
    "scps", "role_arn", "federated_by_arn", "federated_provider", "require_resource_policy", "action",
    "resource", "context", "context_types", "expect", "matched", "missing", "allowed_by_boundary",
    "simulatable", "why_not", "no_resource_action",
}
#: Fields SimulateCustomPolicy has no input for: a case using one must say simulatable=false.
NOT_SIMULATABLE_FIELDS = ("session", "scps", "role_arn", "federated_by_arn", "federated_provider",
                          "require_resource_policy", "no_resource_action")
#: ContextKeyType for SimulateCustomPolicy when the case doesn't say (see README).
KNOWN_KEY_TYPES = {
    "aws:sourceip": "ip", "aws:currenttime": "date", "aws:tokenissuetime": "date", "aws:epochtime": "numeric",
    "aws:multifactorauthpresent": "boolean", "aws:securetransport": "boolean", "aws:viaawsservice": "boolean",
    "aws:multifactorauthage": "numeric", "aws:principalisawsservice": "boolean",
}


@dataclass(frozen=True)
class Case:
    """One row of the table, with its file's defaults applied and policy references resolved."""

    file: str
    fields: dict[str, Any]
    policies: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.file}::{self.fields['name']}"

    def document(self, reference: str | dict[str, Any]) -> str:
        """Policy text for a reference: a name from the file's ``policies`` or an inline document."""
        document = self.policies[reference] if isinstance(reference, str) else reference
        return document if isinstance(document, str) else json.dumps(document, indent=2)

    @property
    def simulatable(self) -> bool:
        return self.fields.get("simulatable", True)

    @property
    def caller_arn(self) -> str:
        return self.fields.get("caller_arn", "")

    @property
    def caller_account(self) -> str:
        parts = self.caller_arn.split(":")
        return parts[4] if len(parts) > 4 else ""

    @property
    def resource_account(self) -> str:
        return self.fields.get("resource_owner", "")


def load_cases() -> list[Case]:
    """Every case of every ``*.json`` file, defaults merged (a case's own fields win)."""
    cases = []
    for path in sorted(CASES_DIR.glob("*.json")):
        table = json.loads(path.read_text())
        defaults = table.get("defaults", {})
        for row in table["cases"]:
            cases.append(Case(path.stem, {**defaults, **row}, table.get("policies", {})))
    return cases


def label(statement: engine.MatchedStatement) -> str:
    """How ``matched`` names a statement: its Sid, else ``<policy id>#<index>``."""
    return statement.sid or f"{statement.policy_id}#{statement.index}"


def policy_set(case: Case) -> engine.PolicySet:
    fields = case.fields

    def parse(references: list[Any], kind: str) -> list[engine.Policy]:
        return [engine.parse_policy(case.document(reference),
                                    policy_id=reference if isinstance(reference, str) else f"{kind}[{index}]")
                for index, reference in enumerate(references)]

    return engine.PolicySet(
        identity=parse(fields.get("identity", []), "identity"),
        resource=parse([fields["resource_policy"]], "resource") if "resource_policy" in fields else [],
        permissions_boundary=parse(fields["boundary"], "boundary") if "boundary" in fields else None,
        session_policies=parse(fields["session"], "session") if "session" in fields else None,
        scps=[parse(level, f"scp{depth}") for depth, level in enumerate(fields["scps"])] if "scps" in fields
        else None)


def request(case: Case) -> engine.EvaluationRequest:
    fields = case.fields
    return engine.EvaluationRequest(
        action=fields["action"], resource=fields.get("resource", "*"), principal_arn=case.caller_arn,
        principal_account=case.caller_account, resource_account=case.resource_account,
        context=fields.get("context", {}), role_arn=fields.get("role_arn", ""),
        federated_by_arn=fields.get("federated_by_arn", ""),
        federated_provider=fields.get("federated_provider", ""),
        require_resource_policy=fields.get("require_resource_policy", False),
        # Simulate* reads a missing resource as AWS's default "*" (all resources); enforcement's "*" is an
        # action without resource-level permissions, which a case says with no_resource_action.
        any_resource=fields.get("resource", "*") == "*" and not fields.get("no_resource_action", False))


def simulate_custom_policy_params(case: Case) -> dict[str, Any]:
    """The SimulateCustomPolicy input (botocore member names) that asks AWS the same question."""
    fields = case.fields
    params: dict[str, Any] = {
        "PolicyInputList": [case.document(reference) for reference in fields.get("identity", [])],
        "ActionNames": [fields["action"]],
    }
    if "boundary" in fields:
        params["PermissionsBoundaryPolicyInputList"] = [case.document(ref) for ref in fields["boundary"]]
    if "resource_policy" in fields:
        params["ResourcePolicy"] = case.document(fields["resource_policy"])
    if fields.get("resource", "*") != "*":
        params["ResourceArns"] = [fields["resource"]]
    if case.caller_arn:
        params["CallerArn"] = case.caller_arn
    if case.resource_account:
        params["ResourceOwner"] = f"arn:aws:iam::{case.resource_account}:root"
    types = fields.get("context_types", {})
    entries = []
    for key, value in fields.get("context", {}).items():
        values = value if isinstance(value, list) else [value]
        key_type = types.get(key) or KNOWN_KEY_TYPES.get(key.lower(), "string")
        if isinstance(value, list) and not key_type.endswith("List"):
            key_type += "List"
        entries.append({"ContextKeyName": key, "ContextKeyValues": values, "ContextKeyType": key_type})
    if entries:
        params["ContextEntries"] = entries
    return params


CASES = load_cases()


def test_the_table_is_large_and_well_formed() -> None:
    assert len(CASES) >= 300
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "case names must be unique within a file"
    for case in CASES:
        unknown = set(case.fields) - CASE_FIELDS
        assert not unknown, f"{case.id}: unknown fields {unknown}"
        assert case.fields["expect"] in DECISIONS, case.id


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case) -> None:
    result = decide(request(case), policy_set(case))
    fields = case.fields
    assert result.decision == fields["expect"], fields.get("doc", "")
    if "matched" in fields:
        assert sorted(label(statement) for statement in result.matched_statements) == sorted(fields["matched"])
    if "missing" in fields:
        assert sorted(key.lower() for key in result.missing_context_values) == sorted(
            key.lower() for key in fields["missing"])
    if "allowed_by_boundary" in fields:
        assert result.allowed_by_permissions_boundary == fields["allowed_by_boundary"]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case_is_marked_right_for_simulate_custom_policy(case: Case) -> None:
    """A case is simulatable exactly when SimulateCustomPolicy can express it, and its params are valid."""
    fields = case.fields
    blockers = [name for name in NOT_SIMULATABLE_FIELDS if name in fields]
    caller_is_user = not case.caller_arn or ":user/" in case.caller_arn
    if not caller_is_user:
        blockers.append("caller_arn (SimulateCustomPolicy only takes IAM user ARNs)")
    if "resource_policy" in fields and not case.caller_arn:
        blockers.append("resource_policy without caller_arn")
    if case.simulatable:
        assert not blockers, f"{case.id} is marked simulatable but uses {blockers}"
        report = ParamValidator().validate(simulate_custom_policy_params(case), _simulate_input_shape())
        assert not report.has_errors(), report.generate_report()
    else:
        assert blockers, f"{case.id} is marked not simulatable but nothing prevents it"
        assert fields.get("why_not"), f"{case.id}: say why it can't be simulated"


_SHAPE: list[Any] = []


def _simulate_input_shape() -> Any:
    if not _SHAPE:
        model = botocore.session.get_session().get_service_model("iam")
        _SHAPE.append(model.operation_model("SimulateCustomPolicy").input_shape)
    return _SHAPE[0]
