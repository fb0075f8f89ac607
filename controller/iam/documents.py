"""Checking policy documents on write, in IAM's words.

The engine says why a document is refused; this turns its errors into IAM's API
errors (MalformedPolicyDocument 400, LimitExceeded 409) and adds the one quota the
engine cannot see: inline policies of an entity share one size budget.
"""

from __future__ import annotations

from collections.abc import Iterable

from controller.iam import policy
from controller.iam.errors import LimitExceeded, MalformedPolicyDocument

#: Total size (characters other than whitespace) of all inline policies of one entity.
INLINE_BUDGET = {"user": 2048, "group": 5120, "role": 10240}


def checked(document: str, kind: str, entity_name: str = "") -> policy.PolicyDocument:
    """Validate ``document`` as a policy of ``kind`` (see ``policy.KINDS``) or raise IAM's error."""
    try:
        return policy.validate_policy(document, kind=kind, entity_name=entity_name)
    except policy.PolicySizeExceeded as exc:
        raise LimitExceeded(exc.message) from None
    except policy.PolicyError as exc:
        raise MalformedPolicyDocument(exc.message) from None


def check_inline_budget(owner_type: str, owner_name: str, document: str, others: Iterable[str]) -> None:
    """The new inline ``document`` plus the owner's ``others`` must fit the owner's budget."""
    limit = INLINE_BUDGET[owner_type]
    total = policy.policy_size(document) + sum(policy.policy_size(other) for other in others)
    if total > limit:
        raise LimitExceeded(f"Maximum policy size of {limit} bytes exceeded for {owner_type} {owner_name}")
