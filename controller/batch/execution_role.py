"""A job's execution role (``containerProperties.executionRoleArn``): the role AWS's container agent assumes to
pull the job's image and read its secrets, never the job's own code.

AWS assumes it as ``ecs-tasks.amazonaws.com``, so the role must trust that service; the calls made with it are
the role's session's, so IAM judges them against the role's policies and CloudTrail records them under it.
A role that is gone or does not trust ECS tasks is ECS's "unable to assume the role" refusal, worded as ECS
words it (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html).
"""

from __future__ import annotations

from typing import Any

from controller.api import Principal
from controller.awslambda.events.role_access import role_session
from controller.iam.lookup import role_by_arn
from controller.iam.policy.trust import service_may_assume

TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com"
#: The session name the execution role's calls show (``assumed-role/<role>/<session>``).
SESSION_NAME = "aws-batch-execution"


def unassumable(role_arn: str) -> str:
    """ECS's reason for an execution role it cannot assume."""
    return (f"ECS was unable to assume the role '{role_arn}' that was provided for this task. Please verify "
            "that the role being passed has the proper trust relationship and permissions and that your IAM "
            "user has permissions to pass this role.")


def session(cloud: Any, role_arn: str) -> Principal | str:
    """The principal of a session of the execution role, or the reason it cannot be assumed."""
    with cloud.db.read() as conn:
        role = role_by_arn(conn, role_arn)
    if role is None or not service_may_assume(role["trust_policy"], TASKS_PRINCIPAL, role["account_id"],
                                              cloud.config.region, {"aws:SourceAccount": role["account_id"]}):
        return unassumable(role_arn)
    principal = role_session(cloud, role_arn, SESSION_NAME)
    return principal if principal is not None else unassumable(role_arn)
