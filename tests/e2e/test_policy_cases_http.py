"""The policy engine's table of cases, asked over HTTP through iam:SimulateCustomPolicy.

Every case the table marks simulatable is replayed with boto3 against the running
cloud; the decision, the matched statements (mapped back from their positions to
Sids), the missing context keys and the boundary detail must be what the case says.
The table and its README are in ``tests/data/policy_cases``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.iam.policy import compile_document
from tests.support import CloudletProcess
from tests.unit.test_policy_cases import CASES, Case, simulate_custom_policy_params

SIMULATABLE = [case for case in CASES if case.simulatable]


@pytest.fixture(scope="module")
def iam(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("iam")


def _sources(case: Case) -> dict[str, tuple[str, str]]:
    """SourcePolicyId -> (policy text as sent, how ``matched`` names that policy)."""
    fields = case.fields
    sources: dict[str, tuple[str, str]] = {}
    for kind, source, references in (("identity", "PolicyInputList", fields.get("identity", [])),
                                     ("boundary", "PermissionsBoundaryPolicyInputList", fields.get("boundary", []))):
        for index, reference in enumerate(references):
            name = reference if isinstance(reference, str) else f"{kind}[{index}]"
            sources[f"{source}.{index + 1}"] = (case.document(reference), name)
    if "resource_policy" in fields:
        reference = fields["resource_policy"]
        sources["ResourcePolicy"] = (case.document(reference),
                                     reference if isinstance(reference, str) else "resource[0]")
    return sources


def _label(statement: dict[str, Any], sources: dict[str, tuple[str, str]]) -> str:
    """The case's name for a returned statement: the Sid found at its position, else ``<policy>#<index>``."""
    text, name = sources[statement["SourcePolicyId"]]
    start = (statement["StartPosition"]["Line"], statement["StartPosition"]["Column"])
    for compiled in compile_document(text).statements:
        if compiled.start is not None and (compiled.start.line, compiled.start.column) == start:
            return compiled.sid or f"{name}#{compiled.index}"
    raise AssertionError(f"no statement of {statement['SourcePolicyId']} starts at {start}")


def test_most_cases_are_simulatable() -> None:
    assert len(SIMULATABLE) >= 300, len(SIMULATABLE)


@pytest.mark.parametrize("case", SIMULATABLE, ids=[case.id for case in SIMULATABLE])
def test_case_over_http(iam: Any, case: Case) -> None:
    fields = case.fields
    response = iam.simulate_custom_policy(**simulate_custom_policy_params(case))
    results = response["EvaluationResults"]
    assert len(results) == 1
    result = results[0]
    assert result["EvalActionName"] == fields["action"]
    assert result["EvalDecision"] == fields["expect"], fields.get("doc", "")
    if "matched" in fields:
        sources = _sources(case)
        assert sorted(_label(s, sources) for s in result["MatchedStatements"]) == sorted(fields["matched"])
    if "missing" in fields:
        assert sorted(key.lower() for key in result["MissingContextValues"]) == sorted(
            key.lower() for key in fields["missing"])
    if "allowed_by_boundary" in fields:
        detail = result["PermissionsBoundaryDecisionDetail"]
        assert detail["AllowedByPermissionsBoundary"] == fields["allowed_by_boundary"]
    if "resource" in fields and fields["resource"] != "*":
        [specific] = result["ResourceSpecificResults"]
        assert specific["EvalResourceName"] == fields["resource"]
        assert specific["EvalResourceDecision"] == fields["expect"]


def test_policy_documents_come_back_decoded_json(iam: Any) -> None:
    """The simulator takes documents as JSON text; boto3 needs no encoding of its own."""
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]})
    result = iam.simulate_custom_policy(PolicyInputList=[document], ActionNames=["s3:GetObject", "s3:PutObject"],
                                        ResourceArns=["arn:aws:s3:::b/k"])["EvaluationResults"]
    assert [r["EvalDecision"] for r in result] == ["allowed", "implicitDeny"]
