"""Member accounts: what CreateAccount and ``cloudlet account create`` both do.

A new account gets, as on AWS, the role ``OrganizationAccountAccessRole`` (or the
name CreateAccount's ``RoleName`` gives) trusting the management account and holding
AdministratorAccess, so the management account's administrators set the tenant up
with ``sts:AssumeRole`` alone. Creation is synchronous here: the request is
SUCCEEDED (or FAILED, with AWS's reason) by the time CreateAccount answers.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from controller.auth.lookup import email_taken
from controller.iam import cache as policy_cache
from controller.iam.lookup import attach_role_policy
from controller.iam.roles import insert_role
from controller.organizations import state
from controller.organizations.scps import attach_full_aws_access
from controller.organizations.tags import store_tags
from controller.state import utcnow

if TYPE_CHECKING:
    from controller.cloud import Cloud

ACCESS_ROLE = "OrganizationAccountAccessRole"


def trust_management_account(partition: str, management_account_id: str) -> str:
    """The access role's trust policy: the management account (its admins) may assume it."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:{partition}:iam::{management_account_id}:root"},
        "Action": "sts:AssumeRole"}]}, indent=2)


def create_member_account(cloud: Cloud, name: str, email: str, *, role_name: str = ACCESS_ROLE,
                          tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Create an account with its access role (and ``tags``); returns the create-account request row."""
    management = cloud.credentials.management_account()
    if management is None:
        raise RuntimeError("the cloud has no management account yet (start it once with `cloudlet up`)")
    partition = cloud.config.partition
    request: dict[str, Any] = dict(request_id=f"car-{uuid.uuid4().hex}", account_name=name, state="SUCCEEDED",
                                   requested_at=utcnow(), completed_at=None, account_id=None, failure_reason=None)
    with cloud.db.begin() as conn:
        if email_taken(conn, email):
            request.update(state="FAILED", failure_reason="EMAIL_ALREADY_EXISTS")
        else:
            policy_cache.changed(conn)
            account_id = cloud.credentials.create_account(name, email, conn=conn)
            role = insert_role(conn, partition, account_id, role_name,
                               trust_management_account(partition, management), max_session_duration=3600)
            attach_role_policy(conn, account_id, role["role_id"],
                               f"arn:{partition}:iam::aws:policy/AdministratorAccess")
            attach_full_aws_access(conn, [account_id])
            store_tags(conn, account_id, tags or [])
            request["account_id"] = account_id
        request["completed_at"] = utcnow()
        conn.execute(insert(state.create_account_requests).values(**request))
    return request

