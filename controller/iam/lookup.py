"""What other services may ask of IAM's tables, as named functions.

EC2 (instance profiles and their role credentials), STS (a role's "last used") and Organizations
(a new account's access role) need a few facts from IAM or a few writes to it. They call these
functions instead of querying ``controller.iam.state`` themselves, so IAM's tables stay IAM's to
change: a new column or a renamed join touches this module, not three services.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, RowMapping, Select, insert, select, update

from controller.iam import cache as policy_cache
from controller.iam import state
from controller.iam.naming import name_key
from controller.state import utcnow


def instance_profile_by_arn(conn: Connection, account_id: str, arn: str) -> RowMapping | None:
    """The instance profile with this ARN, if it belongs to ``account_id`` (another account's is unseen)."""
    profiles = state.instance_profiles
    row = conn.execute(select(profiles).where(profiles.c.arn == arn)).mappings().first()
    return row if row is not None and row["account_id"] == account_id else None


def instance_profile_by_name(conn: Connection, account_id: str, name: str) -> RowMapping | None:
    """The account's instance profile of this name (names compare case-insensitively, as IAM's do)."""
    profiles = state.instance_profiles
    return conn.execute(select(profiles).where(profiles.c.account_id == account_id,
                                               profiles.c.name_key == name_key(name))).mappings().first()


def role_by_arn(conn: Connection, arn: str) -> RowMapping | None:
    """The role with this ARN (a Lambda function's execution role), or None when it is gone."""
    return conn.execute(select(state.roles).where(state.roles.c.arn == arn)).mappings().first()


def _profile_roles(profile_id: str) -> Select:
    """The roles of one instance profile."""
    roles, links = state.roles, state.instance_profile_roles
    return (select(roles).join(links, links.c.role_id == roles.c.role_id)
            .where(links.c.profile_id == profile_id))


def instance_profile_role_arns(conn: Connection, profile_id: str) -> list[str]:
    """The ARNs of the roles in an instance profile (what launching with it must be allowed to pass)."""
    return [row["arn"] for row in conn.execute(_profile_roles(profile_id)).mappings()]


def instance_profile_role(conn: Connection, profile_id: str) -> RowMapping | None:
    """The role an instance with this profile runs as (an instance profile holds at most one); None if empty."""
    return conn.execute(_profile_roles(profile_id)).mappings().first()


def record_role_use(conn: Connection, role_id: str, at: dt.datetime, region: str) -> None:
    """Note that the role was assumed (GetRole's ``RoleLastUsed``); no policy changes, so no cache to clear."""
    conn.execute(update(state.roles).where(state.roles.c.role_id == role_id).values(
        last_used_at=at, last_used_region=region))


def attach_role_policy(conn: Connection, account_id: str, role_id: str, policy_arn: str) -> None:
    """Attach a managed policy to a role in the caller's transaction, whose commit clears every policy cache."""
    policy_cache.changed(conn)
    conn.execute(insert(state.attachments).values(
        owner_id=role_id, policy_arn=policy_arn, account_id=account_id, owner_type="role", attached_at=utcnow()))
