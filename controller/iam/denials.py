"""Turning a decision into what the service answers: AWS's AccessDenied forms and messages.

Pure functions: which error each service sends when IAM says no (IAM and STS
``AccessDenied`` 403, EC2 ``UnauthorizedOperation``, S3 a bare ``Access Denied``...),
and the sentence naming the principal, action, resource and the reason, as AWS
words it ("because no identity-based policy allows the iam:CreateUser action",
"with an explicit deny in an identity-based policy"...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.errors import ServiceError
from controller.iam import policy

#: service -> (error code, HTTP status, message prefix); services not listed answer AccessDenied 403.
DENIAL_FORMS: dict[str, tuple[str, int, str]] = {
    "ec2": ("UnauthorizedOperation", 403, "You are not authorized to perform this operation. "),
    "organizations": ("AccessDeniedException", 400, ""),
    "cloudtrail": ("AccessDeniedException", 400, ""),
    "lambda": ("AccessDeniedException", 403, ""),
    "sns": ("AuthorizationError", 403, ""),
    "kms": ("AccessDeniedException", 400, ""),
    "efs": ("AccessDeniedException", 403, ""),
    "logs": ("AccessDeniedException", 400, ""),
    "ec2-instance-connect": ("AccessDeniedException", 400, ""),
    "ssm": ("AccessDeniedException", 400, ""),
}

_EXPLICIT = {
    policy.IDENTITY: "an identity-based policy",
    policy.RESOURCE: "a resource-based policy",
    policy.BOUNDARY: "a permissions boundary",
    policy.SESSION: "a session policy",
    policy.SCP: "a service control policy",
}
_NO_ALLOW = {
    policy.IDENTITY: "identity-based policy",
    policy.RESOURCE: "resource-based policy",
    policy.BOUNDARY: "permissions boundary",
    policy.SESSION: "session policy",
    policy.SCP: "service control policy",
}


def reason(action: str, result: policy.EvaluationResult, missing_allow: str) -> str:
    """The tail of the message: which kind of policy denied, or which kind failed to allow."""
    if result.decision == policy.EXPLICIT_DENY:
        kind = result.matched_statements[0].kind if result.matched_statements else policy.IDENTITY
        return f"with an explicit deny in {_EXPLICIT.get(kind, _EXPLICIT[policy.IDENTITY])}"
    return f"because no {_NO_ALLOW.get(missing_allow, _NO_ALLOW[policy.IDENTITY])} allows the {action} action"


def describe_resource(resource: str) -> str:
    """How the message names a resource: IAM says ``user bob``/``role r``/``policy ARN``, others the ARN."""
    parts = resource.split(":", 5)
    if len(parts) == 6 and parts[2] == "iam":
        kind, _, rest = parts[5].partition("/")
        if kind in ("user", "role", "group") and rest:
            return f"{kind} {rest.rsplit('/', 1)[-1]}"
        if kind == "policy":
            return f"policy {resource}"
    return resource


def denial_message(principal_arn: str, action: str, resource: str, why: str, service: str) -> str:
    who = principal_arn if principal_arn not in ("", "*") else "anonymous"
    target = "" if resource == "*" else f" on resource: {describe_resource(resource) if service == 'iam' else resource}"
    return f"User: {who} is not authorized to perform: {action}{target} {why}"


def denial_error(service: str, principal_arn: str, action: str, resource: str, why: str) -> ServiceError:
    """The error ``service`` answers a denied call with."""
    if service == "s3":
        return ServiceError("Access Denied", code="AccessDenied", status=403)
    code, status, prefix = DENIAL_FORMS.get(service, ("AccessDenied", 403, ""))
    return ServiceError(prefix + denial_message(principal_arn, action, resource, why, service), code=code,
                        status=status)


# -- request tags ---------------------------------------------------------------------------------
def request_tags(params: Mapping[str, Any]) -> tuple[dict[str, str], list[str] | None]:
    """``aws:RequestTag/*`` and ``aws:TagKeys`` from a request's tags, whatever the service's shape.

    IAM/STS send ``Tags`` as a list of Key/Value pairs, EC2 nests them in
    ``TagSpecifications``, SQS/Lambda send a map; untag calls name ``TagKeys``.
    Returns (tags, tag keys or None when the request carries no tag keys).
    """
    tags: dict[str, str] = {}
    for source in [params.get("Tags")] + [spec.get("Tags") for spec in params.get("TagSpecifications") or []
                                          if isinstance(spec, Mapping)]:
        if isinstance(source, Mapping):
            tags.update({str(k): str(v) for k, v in source.items()})
        elif isinstance(source, list):
            tags.update({str(t["Key"]): str(t.get("Value", "")) for t in source
                         if isinstance(t, Mapping) and "Key" in t})
    keys = list(tags)
    untag = params.get("TagKeys")
    if isinstance(untag, list):
        keys += [str(key) for key in untag]
    return tags, (keys or None)
