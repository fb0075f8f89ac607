"""What a file system policy lets NFS clients do, evaluated by the IAM engine.

AWS evaluates ``elasticfilesystem:ClientMount``, ``ClientWrite`` and ``ClientRootAccess`` against the
file system policy for every mount. An identity reaches EFS only through its TLS mount helper's IAM
authentication; a plain NFS mount (all that guests here have) carries none, and AWS treats such a client
as anonymous. So does this module: the verdicts are those for the anonymous principal over plain
(non-TLS) transport, per export (the file system's root, and each access point with
``elasticfilesystem:AccessPointArn``). Without a policy every client may do all three, as on AWS.
"""

from __future__ import annotations

from controller.iam import policy as iam_policy

ACTIONS = {"mount": "elasticfilesystem:ClientMount", "write": "elasticfilesystem:ClientWrite",
           "root": "elasticfilesystem:ClientRootAccess"}


def anonymous_access(policy_text: str | None, file_system_arn: str, account_id: str,
                     access_point_arn: str | None = None) -> dict[str, bool]:
    """``{"mount": .., "write": .., "root": ..}`` for an anonymous NFS client (pure)."""
    if policy_text is None:
        return dict.fromkeys(ACTIONS, True)
    policies = iam_policy.PolicySet(resource=[iam_policy.parse_policy(policy_text, source_type="resource")])
    context: dict[str, str | list[str]] = {"aws:SecureTransport": "false"}
    if access_point_arn is not None:
        context["elasticfilesystem:AccessPointArn"] = access_point_arn
    verdicts = {}
    for name, action in ACTIONS.items():
        request = iam_policy.EvaluationRequest(action=action, resource=file_system_arn, principal_arn="",
                                               resource_account=account_id, context=context)
        verdicts[name] = iam_policy.evaluate(request, policies).decision == iam_policy.ALLOWED
    return verdicts
