"""What a function's execution role may do, asked of the IAM engine as Lambda's service asks it.

Lambda polls queues and sends destination records with the function's execution role
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html,
https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-permissions), so both the role's
policies and the resource's own policy are evaluated, exactly as for a call the role's session made.
"""

from __future__ import annotations

from typing import Any

from controller.api import Principal, RequestContext, ResourceInfo
from controller.iam.enforce import would_allow
from controller.iam.lookup import role_by_arn

Cloud = Any
#: The session name the role's checks run under (the function's own calls use the function's name).
_SESSION = "awslambda-events"


def role_session(cloud: Cloud, role_arn: str, session_name: str = _SESSION) -> Principal | None:
    """The principal of a session of ``role_arn``; None when the role is gone."""
    with cloud.db.read() as conn:
        role = role_by_arn(conn, role_arn)
    if role is None:
        return None
    account_id, name = role["account_id"], role["role_name"]
    return Principal(account_id=account_id, kind="assumed-role", name=name, session_name=session_name,
                     arn=f"arn:{cloud.config.partition}:sts::{account_id}:assumed-role/{name}/{session_name}",
                     user_id=f"{role['role_id']}:{session_name}", role_arn=role["arn"])


def role_context(cloud: Cloud, role_arn: str) -> RequestContext | None:
    """A request context of the role's session, as services' checks expect one; None when the role is gone."""
    principal = role_session(cloud, role_arn)
    if principal is None:
        return None
    return RequestContext(cloud=cloud, service="lambda", operation="", request_id="", region=cloud.config.region,
                          principal=principal, secure_transport=True)


def role_allows(cloud: Cloud, role_arn: str, action: str, resource_arn: str, resource: ResourceInfo) -> bool:
    """Whether the role's session may do ``action`` on ``resource_arn`` (whose owner and policy ``resource`` gives)."""
    ctx = role_context(cloud, role_arn)
    return ctx is not None and would_allow(ctx, action, resource_arn, resource)
