"""What IAM resources show the policy engine: their owner, tags, and a role's trust policy.

``iam_resource_lookup`` serves IAM's own calls (``aws:ResourceTag/*`` on users and
roles); ``role_trust_lookup`` serves STS, where a role's trust policy is the resource
policy that must let the caller assume it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from controller.api import RequestContext, ResourceInfo
from controller.iam import state
from controller.iam.naming import name_key, tag_dict

_TAGGED = {"user": state.users, "role": state.roles}


def _parse(arn: str) -> tuple[str, str, str] | None:
    """(account, kind, name) of an IAM ARN in some account, or None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or not parts[4].isdigit():
        return None
    kind, _, rest = parts[5].partition("/")
    return parts[4], kind, rest.rsplit("/", 1)[-1]


def find_role(ctx: RequestContext, arn: str) -> Mapping[str, Any] | None:
    """The role an ARN names: by exact ARN, else by account and name (callers may omit the path)."""
    parsed = _parse(arn)
    if parsed is None or parsed[1] != "role":
        return None
    account, _, name = parsed
    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(state.roles).where(state.roles.c.arn == arn)).mappings().first()
        if row is None:
            row = conn.execute(select(state.roles).where(state.roles.c.account_id == account,
                                                         state.roles.c.name_key == name_key(name))).mappings().first()
    return row


def iam_resource_lookup(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    parsed = _parse(arn)
    if parsed is None:
        return None
    account, kind, name = parsed
    table = _TAGGED.get(kind)
    if table is None:
        return ResourceInfo(owner_account=account)
    with ctx.cloud.db.read() as conn:
        tags = conn.execute(select(table.c.tags).where(table.c.account_id == account,
                                                       table.c.name_key == name_key(name))).scalar()
    return ResourceInfo(owner_account=account, tags=tag_dict(tags))


def role_trust_lookup(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    parsed = _parse(arn)
    if parsed is None:
        return None
    role = find_role(ctx, arn)
    if role is None:
        # an unknown role has no trust policy: nobody may assume it (AccessDenied, as on AWS)
        return ResourceInfo(owner_account=parsed[0])
    return ResourceInfo(owner_account=role["account_id"], policy=role["trust_policy"], tags=tag_dict(role["tags"]))
