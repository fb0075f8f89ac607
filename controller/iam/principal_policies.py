"""Gathering what applies to a principal: identity policies, boundary, session policies, tags.

An IAM user gets its inline and attached policies plus those of its groups; a role
session gets its role's, and the session policies (AssumeRole's ``Policy`` and
``PolicyArns``) limit it; users and roles may have a permissions boundary (groups
cannot). The result is immutable and cached per principal by enforcement
(``cache.py``), so these queries run once per principal between IAM writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from controller.api import Principal
from controller.auth.store import access_keys
from controller.iam import policy, state
from controller.iam.aws_managed import aws_managed_policy, is_aws_managed_arn
from controller.iam.naming import tag_dict


@dataclass(frozen=True)
class PrincipalPolicies:
    """Everything about a principal that enforcement needs beyond the request itself."""

    identity: tuple[policy.Policy, ...] = ()
    #: None: no boundary; an empty tuple would be a boundary that allows nothing.
    boundary: tuple[policy.Policy, ...] | None = None
    #: None: no session policy was given.
    session: tuple[policy.Policy, ...] | None = None
    principal_tags: dict[str, str] = field(default_factory=dict)
    #: For role sessions, the role's ARN with its path (trust and resource policies may name it).
    role_arn: str = ""
    token_issued_at: dt.datetime | None = None

    def policy_set(self, resource_policies: Sequence[policy.Policy] = ()) -> policy.PolicySet:
        return policy.PolicySet(identity=self.identity, resource=resource_policies,
                                permissions_boundary=self.boundary, session_policies=self.session)


def load_principal_policies(conn: Connection, partition: str, principal: Principal) -> PrincipalPolicies:
    """Read everything that applies to ``principal`` (root and anonymous callers have nothing to read)."""
    if principal.kind == "user":
        return _user_policies(conn, partition, principal)
    if principal.kind == "assumed-role":
        return _session_policies(conn, partition, principal)
    return PrincipalPolicies()


def _user_policies(conn: Connection, partition: str, principal: Principal) -> PrincipalPolicies:
    user = conn.execute(select(state.users).where(state.users.c.user_id == principal.user_id)).mappings().first()
    if user is None:
        return PrincipalPolicies()
    group_rows = conn.execute(select(state.groups.c.group_id, state.groups.c.group_name).join(
        state.group_members, state.group_members.c.group_id == state.groups.c.group_id).where(
        state.group_members.c.user_id == user["user_id"])).all()
    owners = {user["user_id"]: ("user", user["user_name"])}
    owners.update({group_id: ("group", name) for group_id, name in group_rows})
    identity = owned_policies(conn, partition, user["account_id"], owners)
    return PrincipalPolicies(identity=identity, boundary=_boundary(conn, partition, user["account_id"],
                                                                   user["boundary_arn"]),
                             principal_tags=tag_dict(user["tags"]), token_issued_at=_issued_at(conn, principal))


def _session_policies(conn: Connection, partition: str, principal: Principal) -> PrincipalPolicies:
    key = conn.execute(select(access_keys.c.session, access_keys.c.created_at).where(
        access_keys.c.access_key_id == principal.access_key_id)).first()
    session: dict[str, Any] = (key.session if key else None) or {}
    role = conn.execute(select(state.roles).where(state.roles.c.arn == principal.role_arn)).mappings().first()
    if role is None:
        role_name = principal.role_arn.rsplit("/", 1)[-1]
        role = conn.execute(select(state.roles).where(
            state.roles.c.account_id == principal.account_id,
            state.roles.c.role_name == role_name)).mappings().first()
    if role is None or session.get("role_id", role["role_id"]) != role["role_id"]:
        # the role was deleted (perhaps recreated under the same name): its sessions have no permissions
        return PrincipalPolicies(role_arn=principal.role_arn)
    identity = owned_policies(conn, partition, role["account_id"], {role["role_id"]: ("role", role["role_name"])})
    session_policies: tuple[policy.Policy, ...] | None = None
    if principal.session_policy is not None or session.get("policy_arns"):
        documents = [policy.parse_policy(principal.session_policy, policy_id="SessionPolicy",
                                         source_type="none")] if principal.session_policy is not None else []
        for arn in session.get("policy_arns") or []:
            documents += managed_policies(conn, partition, role["account_id"], [arn])
        session_policies = tuple(documents)
    tags = {**tag_dict(role["tags"]), **principal.session_tags}
    return PrincipalPolicies(identity=identity, boundary=_boundary(conn, partition, role["account_id"],
                                                                   role["boundary_arn"]),
                             session=session_policies, principal_tags=tags, role_arn=role["arn"],
                             token_issued_at=key.created_at if key else None)


def owned_policies(conn: Connection, partition: str, account_id: str, owners: dict[str, tuple[str, str]], *,
                   keep_inline: Callable[[str, str, str], bool] | None = None,
                   keep_managed: Callable[[str], bool] | None = None) -> tuple[policy.Policy, ...]:
    """Inline and attached policies of the given owners (id -> (user|group|role, name)).

    ``keep_inline(owner type, owner name, policy name)`` and ``keep_managed(arn)`` leave
    policies out (SimulatePrincipalPolicy's exclusion list); by default everything counts.
    """
    inline = conn.execute(select(state.inline_policies).where(
        state.inline_policies.c.owner_id.in_(owners))).mappings().all()
    found = [policy.parse_policy(row["document"], policy_id=row["policy_name"],
                                 source_type=owners[row["owner_id"]][0],
                                 attached_to="/".join(owners[row["owner_id"]])) for row in inline
             if keep_inline is None or keep_inline(*owners[row["owner_id"]], row["policy_name"])]
    arns = conn.execute(select(state.attachments.c.policy_arn).where(
        state.attachments.c.owner_id.in_(owners))).scalars().all()
    kept = [arn for arn in dict.fromkeys(arns) if keep_managed is None or keep_managed(arn)]
    found += managed_policies(conn, partition, account_id, kept)
    return tuple(found)


def managed_policies(conn: Connection, partition: str, account_id: str, arns: list[str]) -> list[policy.Policy]:
    """The default versions of managed policies (missing ones are skipped, as if detached)."""
    found = []
    customer = [arn for arn in arns if not is_aws_managed_arn(arn)]
    for arn in arns:
        aws = aws_managed_policy(arn, partition) if is_aws_managed_arn(arn) else None
        if aws is not None:
            found.append(policy.parse_policy(aws.document, policy_id=aws.name, source_type="aws-managed",
                                             arn=arn))
    if customer:
        rows = conn.execute(select(state.policies.c.policy_name, state.policy_versions.c.document,
                                   state.policies.c.arn).join(
            state.policy_versions, (state.policy_versions.c.policy_id == state.policies.c.policy_id)
            & (state.policy_versions.c.version_id == state.policies.c.default_version)).where(
            state.policies.c.arn.in_(customer), state.policies.c.account_id == account_id)).all()
        found += [policy.parse_policy(document, policy_id=name, source_type="user-managed", arn=arn)
                  for name, document, arn in rows]
    return found


def _boundary(conn: Connection, partition: str, account_id: str,
              arn: str | None) -> tuple[policy.Policy, ...] | None:
    if not arn:
        return None
    return tuple(managed_policies(conn, partition, account_id, [arn]))


def _issued_at(conn: Connection, principal: Principal) -> dt.datetime | None:
    """When temporary credentials (GetSessionToken) were issued; None for long-term keys."""
    if not principal.access_key_id.startswith("ASIA"):
        return None
    return conn.execute(select(access_keys.c.created_at).where(
        access_keys.c.access_key_id == principal.access_key_id)).scalar()
