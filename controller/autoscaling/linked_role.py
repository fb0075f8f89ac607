"""AWSServiceRoleForAutoScaling: the service-linked role Auto Scaling acts as when it runs instances.

AWS creates the role on an account's first group or launch configuration
(https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-service-linked-role.html); so does
:func:`ensure`, with an inline policy standing in for AWS's managed AutoScalingServiceRolePolicy. Every call
Auto Scaling makes to EC2, ELB or CloudWatch runs as a session of that role, through the cloud's own gateway
(``controller/service_calls.py``), so IAM judges it and CloudTrail records it ``invokedBy``
autoscaling.amazonaws.com.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, insert, select

from controller.api import Principal
from controller.awslambda.events.role_access import role_session
from controller.iam import cache as policy_cache
from controller.iam import state as iam_state
from controller.iam.roles import insert_role

ROLE_NAME = "AWSServiceRoleForAutoScaling"
ROLE_PATH = "/aws-service-role/autoscaling.amazonaws.com/"
SERVICE = "autoscaling.amazonaws.com"
SESSION_NAME = "AutoScaling"
POLICY_NAME = "AutoScalingServiceRolePolicy"

TRUST_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": SERVICE}, "Action": "sts:AssumeRole"}]})
PERMISSIONS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "EC2InstanceManagement", "Effect": "Allow", "Action": ["ec2:*"], "Resource": "*"},
    {"Sid": "ELBManagement", "Effect": "Allow", "Action": ["elasticloadbalancing:*"], "Resource": "*"},
    {"Sid": "CWManagement", "Effect": "Allow", "Action": ["cloudwatch:*"], "Resource": "*"},
    {"Sid": "SNSManagement", "Effect": "Allow", "Action": ["sns:Publish"], "Resource": "*"},
    {"Sid": "SQSManagement", "Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"], "Resource": "*"},
    {"Sid": "EventBridge", "Effect": "Allow", "Action": ["events:PutEvents"], "Resource": "*"},
    {"Sid": "KMS", "Effect": "Allow", "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey*",
                                                 "kms:ReEncrypt*", "kms:DescribeKey"], "Resource": "*"},
    {"Sid": "PassRole", "Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "*"},
    {"Sid": "InstanceProfiles", "Effect": "Allow", "Action": ["iam:GetInstanceProfile", "iam:GetRole"],
     "Resource": "*"},
]})


def role_arn(cloud: Any, account_id: str) -> str:
    return f"arn:{cloud.config.partition}:iam::{account_id}:role{ROLE_PATH}{ROLE_NAME}"


def ensure(cloud: Any, account_id: str) -> str:
    """The role's ARN, creating the role (and its policy) when the account has none yet."""
    arn = role_arn(cloud, account_id)
    with cloud.db.read() as conn:
        if conn.execute(select(iam_state.roles.c.role_id).where(iam_state.roles.c.arn == arn)).first():
            return arn
    with cloud.db.begin() as conn:
        if conn.execute(select(iam_state.roles.c.role_id).where(iam_state.roles.c.arn == arn)).first():
            return arn
        policy_cache.changed(conn)
        row = insert_role(conn, cloud.config.partition, account_id, ROLE_NAME, TRUST_POLICY, path=ROLE_PATH,
                          description="Default Service-Linked Role enables access to AWS Services and Resources "
                                      "used or managed by Auto Scaling")
        conn.execute(insert(iam_state.inline_policies).values(
            owner_id=row["role_id"], name_key=POLICY_NAME.lower(), account_id=account_id, owner_type="role",
            policy_name=POLICY_NAME, document=PERMISSIONS))
    return arn


def principal(cloud: Any, account_id: str) -> Principal:
    """A session of the account's role (made first if it is missing: a user may have deleted it)."""
    arn = ensure(cloud, account_id)
    session = role_session(cloud, arn, SESSION_NAME)
    if session is None:
        raise RuntimeError(f"the service-linked role {arn} vanished")
    return session


@contextmanager
def provisional(cloud: Any, account_id: str) -> Iterator[str]:
    """The role for a create call that may yet be refused: if the call made the role and then fails, the role
    goes again, so a refused call changes nothing (its checks read EC2 as the role before anything exists)."""
    arn = role_arn(cloud, account_id)
    with cloud.db.read() as conn:
        existed = conn.execute(select(iam_state.roles.c.role_id).where(iam_state.roles.c.arn == arn)).first()
    try:
        yield ensure(cloud, account_id)
    except BaseException:
        if not existed:
            _remove(cloud, arn)
        raise


def _remove(cloud: Any, arn: str) -> None:
    with cloud.db.begin() as conn:
        role_id = conn.execute(select(iam_state.roles.c.role_id).where(iam_state.roles.c.arn == arn)).scalar()
        if role_id is None:
            return
        policy_cache.changed(conn)
        conn.execute(delete(iam_state.inline_policies).where(iam_state.inline_policies.c.owner_id == role_id))
        conn.execute(delete(iam_state.roles).where(iam_state.roles.c.role_id == role_id))
