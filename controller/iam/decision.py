"""One view of the world for enforcement and Simulate*: what AWS adds to the policies themselves.

The engine (``policy.evaluate``) decides from policies alone. AWS's answer to a
request also rests on facts outside them, and enforcement and the simulator must give
the same answer to the same request, so both take these facts from here:

- actions AWS always allows: ``sts:GetCallerIdentity`` ("No permissions are required
  to perform this operation. If an administrator attaches a policy to your identity
  that explicitly denies access to the sts:GetCallerIdentity action, you can still
  perform this operation", STS API reference, GetCallerIdentity) and
  ``sts:GetSessionToken`` ("You cannot use policies to control authentication
  operations", IAM User Guide, "Permissions for GetSessionToken");
- resources AWS reserves, which the API refuses to change whatever the policies say:
  AWS managed policies (``arn:aws:iam::aws:policy/...``, IAM User Guide "AWS managed
  policies": "You cannot change the permissions defined in AWS managed policies"),
  roles under ``/aws-reserved/`` (IAM Identity Center's roles) and service-linked roles
  under ``/aws-service-role/`` (IAM User Guide "Service-linked roles": only the
  description can be edited, and the role is deleted through the service);
- a role's trust policy, which is the resource policy of ``sts:AssumeRole`` and must
  allow the caller even within the account (IAM User Guide "Cross-account policy
  evaluation logic", and the AssumeRole reference);
- the organization's service control policies, for principals of member accounts, and
  where their account sits in it (``aws:PrincipalOrgID``, ``aws:PrincipalOrgPaths``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from controller.api import RequestContext, ResourceInfo
from controller.iam import policy
from controller.iam.resources import role_trust_lookup

if TYPE_CHECKING:
    from controller.cloud import Cloud
    from controller.organizations.scps import ScpLevels

#: Actions AWS answers for any authenticated caller, even under an explicit deny.
ALWAYS_ALLOWED = frozenset({"sts:getcalleridentity", "sts:getsessiontoken"})

#: Actions whose resource (a role) must itself allow the caller: identity policies alone never suffice.
TRUST_ACTIONS = frozenset({"sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithwebidentity",
                           "sts:tagsession", "sts:setsourceidentity"})

#: Changes to a managed policy, refused for AWS managed ones.
POLICY_CHANGES = frozenset({"iam:createpolicy", "iam:createpolicyversion", "iam:deletepolicy",
                            "iam:deletepolicyversion", "iam:setdefaultpolicyversion", "iam:tagpolicy",
                            "iam:untagpolicy"})
#: Changes to a role (and passing it), refused for roles AWS reserves for itself.
ROLE_CHANGES = frozenset({"iam:attachrolepolicy", "iam:createrole", "iam:createservicelinkedrole",
                          "iam:deleterole", "iam:deleterolepermissionsboundary", "iam:deleterolepolicy",
                          "iam:deleteservicelinkedrole", "iam:detachrolepolicy", "iam:passrole",
                          "iam:putrolepermissionsboundary", "iam:putrolepolicy", "iam:tagrole", "iam:untagrole",
                          "iam:updateassumerolepolicy", "iam:updaterole", "iam:updateroledescription"})
#: What the owner may still do to a service-linked role: edit its description, delete it through the service.
SERVICE_LINKED_ROLE_CHANGES = ROLE_CHANGES - {"iam:updateroledescription", "iam:createservicelinkedrole",
                                              "iam:deleteservicelinkedrole"}


def always_allowed(action: str) -> bool:
    return action.lower() in ALWAYS_ALLOWED


def reserved_by_aws(action: str, resource: str) -> str | None:
    """Why AWS refuses ``action`` on ``resource`` whatever the policies say, or None."""
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam":
        return None
    action = action.lower()
    if action in POLICY_CHANGES and parts[4] == "aws" and parts[5].startswith("policy/"):
        return "because the policy is managed by AWS and cannot be changed"
    if parts[5].startswith("role/aws-reserved/") and action in ROLE_CHANGES:
        return "because the role is reserved by AWS and cannot be changed"
    if parts[5].startswith("role/aws-service-role/") and action in SERVICE_LINKED_ROLE_CHANGES:
        return "because the role is a service-linked role that only its service can change"
    return None


def needs_trust(action: str, resource: str) -> bool:
    """Whether the resource's own policy (a role's trust policy) must allow, even in the same account."""
    return action.lower() in TRUST_ACTIONS and ":role/" in resource


def key_policy_governs(action: str, resource: str) -> bool:
    """Whether a KMS key's policy must allow ``action`` on the key, even in the same account.

    "Unlike other AWS resource policies, a key policy does not automatically give permission to the
    account or any of its identities" (AWS KMS Developer Guide, "Key policies in AWS KMS"): IAM policies
    count only where the key policy delegates to the account (the ``arn:aws:iam::<account>:root``
    principal). Enforcement applies it; the simulator, like AWS's, judges only the policies it is given.
    """
    return action.lower().startswith("kms:") and ":kms:" in resource and ":key/" in resource


def trust_policy(ctx: RequestContext, action: str, resource: str) -> ResourceInfo | None:
    """The role's trust policy as the resource policy of a trust action; None for other requests."""
    return role_trust_lookup(ctx, resource) if needs_trust(action, resource) else None


def scp_levels(cloud: Cloud, account_id: str) -> ScpLevels | None:
    """The SCPs governing principals of ``account_id`` (None: the management account, or SCPs off).

    Cached with the principals' policies: every Organizations change clears the cache.
    """
    # Organizations builds on IAM (its access role, this cache), so it is imported when first needed.
    from controller.organizations.scps import scp_levels as load

    management = cloud.credentials.management_account()
    if not account_id or account_id == management:
        return None

    def read() -> ScpLevels | None:
        with cloud.db.read() as conn:
            return load(conn, account_id, management)

    return cloud.policy_cache.get_or_load(("scps", account_id), read)


def organization_facts(cloud: Cloud, account_id: str) -> tuple[str, tuple[str, ...]] | None:
    """``aws:PrincipalOrgID`` and ``aws:PrincipalOrgPaths`` of ``account_id``'s principals (cached like SCPs)."""
    from controller.organizations.tree import principal_org_facts

    if not account_id or cloud.credentials.management_account() is None:
        return None
    return cloud.policy_cache.get_or_load(("organization", account_id),
                                           lambda: principal_org_facts(cloud, account_id))


def decide(request: policy.EvaluationRequest, policies: policy.PolicySet) -> policy.EvaluationResult:
    """AWS's answer: the facts above first, then the engine over ``policies``."""
    if always_allowed(request.action):
        return policy.EvaluationResult(policy.ALLOWED)
    if reserved_by_aws(request.action, request.resource):
        return policy.EvaluationResult(policy.IMPLICIT_DENY)
    if needs_trust(request.action, request.resource) and not request.require_resource_policy:
        request = replace(request, require_resource_policy=True)
    return policy.evaluate(request, policies)
