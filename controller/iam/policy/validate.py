"""``validate_policy``: the checks IAM runs before it stores a policy of a given kind.

The shared grammar is in ``parse.py``; this adds what depends on where the document
goes. Kinds and their quotas (IAM User Guide, "IAM and AWS STS quotas"; sizes count
characters other than whitespace):

============  =========================================  =========  ==================
kind          what                                       quota      Principal
============  =========================================  =========  ==================
managed       customer managed policy (CreatePolicy)     6,144      forbidden
boundary      permissions boundary (a managed policy)    6,144      forbidden
user          inline user policy (PutUserPolicy)         2,048      forbidden
group         inline group policy (PutGroupPolicy)       5,120      forbidden
role          inline role policy (PutRolePolicy)         10,240     forbidden
trust         role trust policy (AssumeRolePolicy)       2,048 (*)  required, no Resource
session       session policy (AssumeRole ``Policy``)     (**)       forbidden
resource      resource-based policy (bucket, queue...)   (**)       required
scp           service control policy                     5,120      forbidden
============  =========================================  =========  ==================

(*) the ``ACLSizePerRole`` quota can be raised: pass ``max_size``. (**) enforced by the
owning service (STS packs session policies, S3 limits bucket policies to 20 KB).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from controller.iam.policy.errors import MalformedPolicyDocument, PolicySizeExceeded
from controller.iam.policy.matching import has_wildcard
from controller.iam.policy.model import PolicyDocument, Statement
from controller.iam.policy.parse import compile_document

_MANAGED_SIZE = "Cannot exceed quota for PolicySize: {limit}"
_INLINE_SIZE = "Maximum policy size of {limit} bytes exceeded for {entity}"
_IAM_SID = re.compile(r"[0-9A-Za-z]*")
_TRUST_ACTIONS = frozenset({"sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithwebidentity",
                            "sts:tagsession", "sts:setsourceidentity", "sts:setcontext"})
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class _Rules:
    principal_required: bool
    size_limit: int | None = None
    size_message: str = _MANAGED_SIZE
    entity: str = ""
    alphanumeric_sids: bool = True
    trust: bool = False


KINDS: dict[str, _Rules] = {
    "managed": _Rules(False, 6144),
    "boundary": _Rules(False, 6144),
    "user": _Rules(False, 2048, _INLINE_SIZE, "user"),
    "group": _Rules(False, 5120, _INLINE_SIZE, "group"),
    "role": _Rules(False, 10240, _INLINE_SIZE, "role"),
    "trust": _Rules(True, 2048, "Cannot exceed quota for ACLSizePerRole: {limit}", trust=True),
    "session": _Rules(False),
    "resource": _Rules(True, alphanumeric_sids=False),
    "scp": _Rules(False, 5120, alphanumeric_sids=False),
}


def policy_size(document: str) -> int:
    """The size IAM checks against quotas: characters other than whitespace."""
    return len(_WHITESPACE.sub("", document))


def validate_policy(document: str, *, kind: str, entity_name: str = "",
                    max_size: int | None = None) -> PolicyDocument:
    """Raise :class:`MalformedPolicyDocument` or :class:`PolicySizeExceeded` if IAM would refuse it.

    ``kind`` is a key of :data:`KINDS`; ``entity_name`` names the user, group or role in
    the inline-policy size message; ``max_size`` overrides the kind's quota. Returns
    the compiled document, so a caller that stores the policy can keep it.
    """
    rules = KINDS.get(kind)
    if rules is None:
        raise ValueError(f"unknown policy kind {kind!r}; expected one of {sorted(KINDS)}")
    limit = max_size if max_size is not None else rules.size_limit
    if limit is not None:
        size = policy_size(document)
        if size > limit:
            entity = f"{rules.entity} {entity_name}".strip()
            raise PolicySizeExceeded(rules.size_message.format(limit=limit, entity=entity), limit=limit, size=size)
    compiled = compile_document(document)
    for statement in compiled.statements:
        if rules.alphanumeric_sids and statement.sid and not _IAM_SID.fullmatch(statement.sid):
            raise MalformedPolicyDocument(
                "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the "
                "regular expression [0-9A-Za-z]*")
        if statement.principal is not None and not rules.principal_required:
            raise MalformedPolicyDocument("Policy document should not specify a principal.")
        if statement.principal is None and rules.principal_required:
            raise MalformedPolicyDocument("Missing required field Principal")
        if rules.trust:
            _check_trust_statement(statement)
        elif statement.resources is None:
            raise MalformedPolicyDocument("Policy statement must contain resources.")
    return compiled


def _check_trust_statement(statement: Statement) -> None:
    if statement.resources is not None:
        raise MalformedPolicyDocument("Has prohibited field Resource.")
    for action in statement.action_patterns:
        action = action.lower()
        allowed = action in _TRUST_ACTIONS or (action.startswith("sts:") and has_wildcard(action))
        if statement.not_action or not allowed:
            raise MalformedPolicyDocument(
                "Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and "
                "sts:AssumeRoleWithWebIdentity")
