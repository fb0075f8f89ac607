"""Service control policies as enforcement reads them, and the AWS managed ``FullAWSAccess``.

When the SERVICE_CONTROL_POLICY type is enabled in the root, every call by a principal
of a member account is also evaluated against the SCPs attached at each level above
it: the root, each OU on the path, and the account itself. Each level must allow
(AWS Organizations User Guide, "SCP evaluation"). ``FullAWSAccess`` is attached to
every root, OU and account when the type is enabled, and to each new OU and account
afterwards, so enabling SCPs changes nothing until a narrower policy replaces it.
The management account is never governed by SCPs.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, insert, select

from controller.iam import policy
from controller.organizations import state
from controller.organizations.tree import ancestry

SERVICE_CONTROL_POLICY = "SERVICE_CONTROL_POLICY"
FULL_AWS_ACCESS_ID = "p-FullAWSAccess"
FULL_AWS_ACCESS_NAME = "FullAWSAccess"
FULL_AWS_ACCESS_DESCRIPTION = "Allows access to every operation"
FULL_AWS_ACCESS_CONTENT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]}, indent=4)

#: Levels of SCPs, top down (root, OUs, account); None when SCPs do not apply.
ScpLevels = tuple[tuple[policy.Policy, ...], ...]


def full_aws_access_arn(partition: str) -> str:
    return f"arn:{partition}:organizations::aws:policy/service_control_policy/{FULL_AWS_ACCESS_ID}"


def scp_enabled(conn: Connection, root: str) -> bool:
    return enabled_root(conn) == root


def enabled_root(conn: Connection) -> str | None:
    """The root in which SCPs are enabled, or None."""
    return conn.execute(select(state.root_policy_types.c.root_id).where(
        state.root_policy_types.c.policy_type == SERVICE_CONTROL_POLICY)).scalar()


def attach_full_aws_access(conn: Connection, target_ids: list[str]) -> None:
    """Attach FullAWSAccess to new targets when SCPs are enabled (AWS does it by default)."""
    if target_ids and enabled_root(conn) is not None:
        conn.execute(insert(state.policy_attachments).prefix_with("OR IGNORE"), [
            {"policy_id": FULL_AWS_ACCESS_ID, "target_id": target, "policy_type": SERVICE_CONTROL_POLICY}
            for target in target_ids])


def scp_levels(conn: Connection, account_id: str, management_account_id: str | None) -> ScpLevels | None:
    """The SCPs that govern principals of ``account_id``, per level; None outside SCPs' reach."""
    if not account_id or account_id == management_account_id:
        return None
    root = enabled_root(conn)
    if root is None:
        return None
    targets = [*ancestry(conn, root, account_id), account_id]
    table = state.policy_attachments
    attached = conn.execute(select(table.c.target_id, table.c.policy_id).where(
        table.c.target_id.in_(targets), table.c.policy_type == SERVICE_CONTROL_POLICY)).all()
    contents = dict(conn.execute(select(state.policies.c.policy_id, state.policies.c.content).where(
        state.policies.c.policy_id.in_({policy_id for _, policy_id in attached}))).all())
    contents[FULL_AWS_ACCESS_ID] = FULL_AWS_ACCESS_CONTENT
    by_target: dict[str, list[policy.Policy]] = {target: [] for target in targets}
    for target, policy_id in sorted(attached):
        if policy_id in contents:
            by_target[target].append(policy.parse_policy(contents[policy_id], policy_id=policy_id,
                                                         source_type="none", attached_to=_target_name(target)))
    return tuple(tuple(by_target[target]) for target in targets)


def _target_name(target_id: str) -> str:
    """``root/r-…``, ``ou/ou-…`` or ``account/<id>``: where an SCP is attached, for explanations of denials."""
    kind = "root" if target_id.startswith("r-") else "ou" if target_id.startswith("ou-") else "account"
    return f"{kind}/{target_id}"
