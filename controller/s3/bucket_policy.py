"""Bucket policies: what PutBucketPolicy accepts, and which policies S3 calls public.

A policy is refused when written (MalformedPolicy, with S3's messages) if the IAM
policy engine refuses it as a resource policy, or if it breaks S3's own rules: a
Principal in every statement, ``s3:`` actions only, resources inside the bucket, and
at least one action that applies to one of a statement's resources (``s3:GetObject``
on the bucket ARN alone grants nothing: "Action does not apply to any resource(s) in
statement"). "Public" follows the S3 User Guide ("The meaning of public"): an Allow to
``*`` that no condition on a fixed set of callers narrows.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

from controller.iam import policy as iam_policy
from controller.s3.errors import MalformedPolicy

MAX_POLICY_BYTES = 20 * 1024

#: Condition keys that make a statement granted to "*" non-public (S3's "public" definition).
_RESTRICTING_KEYS = frozenset({"aws:sourceip", "aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce",
                               "aws:sourceowner", "aws:sourceaccount", "aws:principalorgid",
                               "aws:principalaccount", "aws:principalarn", "s3:dataaccesspointarn",
                               "s3:dataaccesspointaccount"})
#: Actions on objects (the others in a bucket policy act on the bucket, or on the account).
_OBJECT_ACTION_PREFIXES = ("s3:getobject", "s3:putobject", "s3:deleteobject", "s3:abortmultipartupload",
                           "s3:listmultipartuploadparts", "s3:restoreobject", "s3:replicate",
                           "s3:bypassgovernanceretention", "s3:initiatereplication",
                           "s3:objectowneroverridetobucketowner")
_ACCOUNT_ACTIONS = frozenset({"s3:listallmybuckets", "s3:createjob", "s3:listjobs", "s3:listaccesspoints",
                              "s3:getaccountpublicaccessblock", "s3:putaccountpublicaccessblock",
                              "s3:liststoragelensconfigurations"})


def validate_bucket_policy(bucket: str, text: str, partition: str) -> None:
    """Refuse what S3 refuses in PutBucketPolicy (MalformedPolicy with S3's message)."""
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise MalformedPolicy("Policies must be less than 20 KB", Policy=text[:64])
    try:
        iam_policy.validate_policy(text, kind="resource")
    except iam_policy.PolicyError as exc:
        raise MalformedPolicy(str(exc)) from None
    document = json.loads(text)
    statements = document["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        for action in _as_list(statement.get("Action", statement.get("NotAction"))):
            if action != "*" and not action.lower().startswith("s3:"):
                raise MalformedPolicy("Policy has invalid action")
        for resource in _as_list(statement.get("Resource", statement.get("NotResource"))):
            if not _resource_in_bucket(resource, bucket, partition):
                raise MalformedPolicy("Policy has invalid resource")
        if "Action" in statement and "Resource" in statement and not _applies(
                _as_list(statement["Action"]), _as_list(statement["Resource"]), f"arn:{partition}:s3:::{bucket}"):
            raise MalformedPolicy("Action does not apply to any resource(s) in statement")


def _applies(actions: list[str], resources: list[str], bucket_arn: str) -> bool:
    """Whether some action of a statement acts on a kind of thing (bucket, object) its resources name."""
    kinds = set()
    for resource in resources:
        if fnmatchcase(bucket_arn, resource):
            kinds.add("bucket")
        if "/" in resource or fnmatchcase(bucket_arn + "/key", resource):
            kinds.add("object")
    return any(_action_kinds(action) & kinds for action in actions)


def _action_kinds(action: str) -> set[str]:
    name = action.lower()
    if "*" in name or "?" in name:
        return {"bucket", "object"}
    if name in _ACCOUNT_ACTIONS:
        return set()
    return {"object"} if name.startswith(_OBJECT_ACTION_PREFIXES) else {"bucket"}


def _resource_in_bucket(resource: str, bucket: str, partition: str) -> bool:
    base = f"arn:{partition}:s3:::{bucket}"
    return resource == base or resource.startswith(base + "/") or (resource.startswith("arn:") and "*" in resource
                                                                  and _wildcard_covers(resource, base))


def _wildcard_covers(pattern: str, base: str) -> bool:
    prefix = pattern.split("*", 1)[0]
    return base.startswith(prefix) or prefix.startswith(base)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def is_public_statement(statement: dict[str, Any]) -> bool:
    """An Allow to everyone (``*``) with no condition that pins callers down: public, as S3 defines it."""
    if statement.get("Effect") != "Allow":
        return False
    principal = statement.get("Principal")
    everyone = principal == "*" or (isinstance(principal, dict) and "*" in _as_list(principal.get("AWS")))
    if not everyone:
        return False
    for operator, keys in (statement.get("Condition") or {}).items():
        if operator.lower().startswith(("stringlike", "stringnotequals", "stringnotlike", "arnlike", "arnnot")):
            continue
        if any(key.lower() in _RESTRICTING_KEYS for key in keys):
            return False
    return True


def is_public_policy(text: str | None) -> bool:
    """Whether a stored policy is public (False for text that is not a policy at all)."""
    if not text:
        return False
    try:
        statements = json.loads(text).get("Statement", [])
        return any(is_public_statement(s) for s in (statements if isinstance(statements, list) else [statements]))
    except (ValueError, AttributeError, TypeError):
        return False
