"""The IAM policy engine: pure, no I/O, fast enough to run on every request.

Typical use::

    from controller.iam import policy

    policy.validate_policy(text, kind="managed")              # raises MalformedPolicyDocument...
    attached = policy.parse_policy(text, policy_id="ReadOnly", source_type="user-managed")
    result = policy.evaluate(
        policy.EvaluationRequest(action="s3:GetObject", resource="arn:aws:s3:::b/k",
                                 principal_arn=user_arn, principal_account=account,
                                 context=policy.global_context(facts)),
        policy.PolicySet(identity=[attached]))
    result.decision            # "allowed" | "explicitDeny" | "implicitDeny"
    result.matched_statements  # which statements decided (policy id, index, Sid, position)
    result.missing_context_values

Documents are compiled once per distinct text (cached), so building a ``Policy`` per
request is cheap, though keeping them is cheaper still.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.iam.policy.context import CallerFacts, global_context, principal_arn_key
from controller.iam.policy.errors import MalformedPolicyDocument, PolicyError, PolicySizeExceeded
from controller.iam.policy.evaluate import evaluate
from controller.iam.policy.model import (
    ALLOWED,
    BOUNDARY,
    EXPLICIT_DENY,
    IDENTITY,
    IMPLICIT_DENY,
    RESOURCE,
    SCP,
    SESSION,
    EvaluationRequest,
    EvaluationResult,
    MatchedStatement,
    Policy,
    PolicyDocument,
    PolicySet,
    Position,
)
from controller.iam.policy.parse import compile_document
from controller.iam.policy.validate import KINDS, policy_size, validate_policy


def parse_policy(document: str | Mapping[str, Any], *, policy_id: str = "", source_type: str = "none",
                 arn: str = "", attached_to: str = "") -> Policy:
    """Compile ``document`` (cached by text) and label it for results; raises MalformedPolicyDocument."""
    return Policy(policy_id, compile_document(document), source_type, arn, attached_to)


def referenced_context_keys(documents: Iterable[str | Mapping[str, Any]]) -> list[str]:
    """Condition keys and policy variables the documents use, as GetContextKeysFor*Policy lists them."""
    keys: dict[str, str] = {}
    for document in documents:
        for key in compile_document(document).context_keys:
            keys.setdefault(key.lower(), key)
    return sorted(keys.values(), key=str.lower)


__all__ = [
    "ALLOWED", "BOUNDARY", "EXPLICIT_DENY", "IDENTITY", "IMPLICIT_DENY", "KINDS", "RESOURCE", "SCP", "SESSION",
    "CallerFacts", "EvaluationRequest", "EvaluationResult", "MalformedPolicyDocument", "MatchedStatement",
    "Policy", "PolicyDocument", "PolicyError", "PolicySet", "PolicySizeExceeded", "Position",
    "compile_document", "evaluate", "global_context", "parse_policy", "policy_size", "principal_arn_key",
    "referenced_context_keys", "validate_policy",
]
