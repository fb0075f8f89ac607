"""What every Organizations operation shares: who may call, ARNs, errors and pagination.

Only the management account manages the organization (IAM then decides which of its
principals may); AWS answers member accounts ``AccessDeniedException``. ARNs follow
the Organizations reference ("Resource types defined by AWS Organizations"): every
resource is named under the management account and the organization id.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from controller.api import Params, RequestContext
from controller.errors import ServiceError, error
from controller.organizations.scps import FULL_AWS_ACCESS_ID, full_aws_access_arn
from controller.organizations.tree import organization_id

AccessDeniedException = error("AccessDeniedException")
AccountNotFoundException = error("AccountNotFoundException")
ChildNotFoundException = error("ChildNotFoundException")
DestinationParentNotFoundException = error("DestinationParentNotFoundException")
DuplicateAccountException = error("DuplicateAccountException")
DuplicateOrganizationalUnitException = error("DuplicateOrganizationalUnitException")
DuplicatePolicyAttachmentException = error("DuplicatePolicyAttachmentException")
DuplicatePolicyException = error("DuplicatePolicyException")
MalformedPolicyDocumentException = error("MalformedPolicyDocumentException")
OrganizationalUnitNotEmptyException = error("OrganizationalUnitNotEmptyException")
OrganizationalUnitNotFoundException = error("OrganizationalUnitNotFoundException")
ParentNotFoundException = error("ParentNotFoundException")
PolicyInUseException = error("PolicyInUseException")
PolicyNotAttachedException = error("PolicyNotAttachedException")
PolicyNotFoundException = error("PolicyNotFoundException")
PolicyTypeAlreadyEnabledException = error("PolicyTypeAlreadyEnabledException")
PolicyTypeNotAvailableForOrganizationException = error("PolicyTypeNotAvailableForOrganizationException")
PolicyTypeNotEnabledException = error("PolicyTypeNotEnabledException")
RootNotFoundException = error("RootNotFoundException")
SourceParentNotFoundException = error("SourceParentNotFoundException")
TargetNotFoundException = error("TargetNotFoundException")

#: Organizations pages hold at most 20 items (MaxResults 1..20).
DEFAULT_MAX_RESULTS = 20

T = TypeVar("T")


def invalid_input(message: str, reason: str) -> ServiceError:
    return ServiceError(message, code="InvalidInputException", Reason=reason)


def constraint_violation(message: str, reason: str) -> ServiceError:
    return ServiceError(message, code="ConstraintViolationException", Reason=reason)


def require_management(ctx: RequestContext) -> str:
    """The management account id; member accounts are refused as AWS refuses them."""
    management = ctx.cloud.credentials.management_account() or ""
    if ctx.account_id != management:
        raise AccessDeniedException("You don't have permissions to access this resource.")
    return management


def organizations_arn(ctx: RequestContext, kind: str, *path: str) -> str:
    """``arn:aws:organizations::<management>:<kind>/<organization id>/<path...>``."""
    management = ctx.cloud.credentials.management_account()
    return (f"arn:{ctx.cloud.config.partition}:organizations::{management}:{kind}/"
            + "/".join((organization_id(ctx.cloud), *path)))


def account_arn(ctx: RequestContext, account_id: str) -> str:
    return organizations_arn(ctx, "account", account_id)


def account_output(ctx: RequestContext, row: dict[str, Any]) -> dict[str, Any]:
    """An ``Account`` from a row of the credential store's accounts table."""
    return {"Id": row["account_id"], "Arn": account_arn(ctx, row["account_id"]), "Email": row["email"],
            "Name": row["name"], "Status": row["status"], "State": row["status"],
            "JoinedMethod": row["joined_method"], "JoinedTimestamp": row["created_at"]}


def target_arn(ctx: RequestContext, target_id: str) -> str:
    """The ARN of a root (``r-``), an OU (``ou-``) or an account (12 digits)."""
    if target_id.startswith("r-"):
        return organizations_arn(ctx, "root", target_id)
    if target_id.startswith("ou-"):
        return organizations_arn(ctx, "ou", target_id)
    return account_arn(ctx, target_id)


def policy_arn(ctx: RequestContext, policy_id: str) -> str:
    """A policy's ARN: AWS managed ones live under the ``aws`` account, without organization."""
    if policy_id == FULL_AWS_ACCESS_ID:
        return full_aws_access_arn(ctx.cloud.config.partition)
    return organizations_arn(ctx, "policy", "service_control_policy", policy_id)


def page(items: Sequence[T], params: Params, key: Callable[[T], str]) -> tuple[list[T], dict[str, str]]:
    """One page of ``items`` in ``key`` order after ``NextToken``, at most ``MaxResults`` long.

    The token holds the key of the last item returned: a position, so the next page
    stays right when items are added or removed in between.
    """
    limit = params.get("MaxResults") or DEFAULT_MAX_RESULTS
    ordered = sorted(items, key=key)
    if params.get("NextToken"):
        try:
            after = json.loads(base64.urlsafe_b64decode(params["NextToken"].encode()))["after"]
            if not isinstance(after, str):
                raise ValueError(after)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise invalid_input("The provided pagination token is invalid.", "INVALID_NEXT_TOKEN") from None
        ordered = [item for item in ordered if key(item) > after]
    chosen = list(ordered[:limit])
    token: dict[str, str] = {}
    if len(ordered) > limit:
        token["NextToken"] = base64.urlsafe_b64encode(json.dumps({"after": key(chosen[-1])}).encode()).decode()
    return chosen, token


def tags_of(params: Params) -> list[dict[str, str]]:
    """Tags as given on create (Key/Value pairs); a repeated key is refused as AWS refuses it."""
    tags = params.get("Tags") or []
    keys = [tag["Key"] for tag in tags]
    if len(keys) != len(set(keys)):
        raise invalid_input("You specified a tag key more than once.", "DUPLICATE_TAG_KEY")
    return [{"Key": tag["Key"], "Value": tag["Value"]} for tag in tags]


def by_id(item: dict[str, Any]) -> str:
    """The order of most lists: by ``Id``."""
    return str(item["Id"])
