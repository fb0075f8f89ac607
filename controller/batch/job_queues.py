"""Job queues: Create/Update/Delete/DescribeJobQueues.

A queue has a priority (higher is scheduled first on a shared compute environment), up to three VALID
compute environments in order, all EC2-style or all Fargate, and optionally a fair-share scheduling policy.
AWS lets a policy be replaced but never added to a FIFO queue nor removed from a fair-share one
(https://docs.aws.amazon.com/batch/latest/APIReference/API_CreateJobQueue.html). Orders are stored with
the compute environments' ARNs, as DescribeJobQueues shows them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from controller.api import RequestContext
from controller.batch import compute_environments, records, resolve, state
from controller.batch.errors import ClientException
from controller.batch.service import api

KIND = "job-queue"
MAX_COMPUTE_ENVIRONMENTS = 3
MAX_PRIORITY = 1000
TIME_LIMIT_ACTIONS = ("CANCEL", "TERMINATE")


def _resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return records.ref_pattern(ctx, KIND, params.get("jobQueue"))


def _create_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    found = [records.arn(ctx, KIND, params.get("jobQueueName") or "*")]
    for item in params.get("computeEnvironmentOrder") or []:
        found += records.ref_pattern(ctx, compute_environments.KIND, item.get("computeEnvironment"))
    if params.get("schedulingPolicyArn"):
        found.append(params["schedulingPolicyArn"])
    return found


def not_found(ref: str) -> ClientException:
    return ClientException(f"jobQueue {ref} does not exist")


def _priority(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PRIORITY:
        raise ClientException(f"priority must be an integer between 0 and {MAX_PRIORITY}")
    return value


def _state(value: Any) -> str:
    if value not in ("ENABLED", "DISABLED"):
        raise ClientException(f"state {value} is not valid; valid values are ENABLED and DISABLED")
    return str(value)


def _is_fargate(document: dict[str, Any]) -> bool:
    return (document.get("computeResources") or {}).get("type") in compute_environments.FARGATE_TYPES


def check_order(conn: Connection, ctx: RequestContext, order: Any) -> list[dict[str, Any]]:
    """computeEnvironmentOrder with ARNs: 1-3 distinct VALID environments of one kind, distinct orders."""
    if not isinstance(order, list) or not order:
        raise ClientException("computeEnvironmentOrder must contain at least one compute environment")
    if len(order) > MAX_COMPUTE_ENVIRONMENTS:
        raise ClientException(f"A job queue can have at most {MAX_COMPUTE_ENVIRONMENTS} compute environments")
    stored, kinds, orders = [], set(), set()
    for item in order:
        ref, position = item.get("computeEnvironment") or "", item.get("order")
        if not isinstance(position, int) or position < 0:
            raise ClientException("computeEnvironmentOrder.order must be a non-negative integer")
        row = resolve.compute_environment_row(conn, ctx.account_id, ctx.region, ref)
        if row is None:
            raise ClientException(f"computeEnvironment {ref} does not exist")
        detail = resolve.compute_environment_detail(conn, row)
        if detail["status"] != "VALID":
            raise ClientException(f"computeEnvironment {row['arn']} is not in VALID status")
        if position in orders:
            raise ClientException("computeEnvironmentOrder can't contain the same order twice")
        if any(entry["computeEnvironment"] == row["arn"] for entry in stored):
            raise ClientException("computeEnvironmentOrder can't contain the same compute environment twice")
        orders.add(position)
        kinds.add(_is_fargate(detail))
        stored.append({"order": position, "computeEnvironment": row["arn"]})
    if len(kinds) > 1:
        raise ClientException("A job queue can't mix EC2 (EC2 or SPOT) and Fargate (FARGATE or FARGATE_SPOT) "
                              "compute environments")
    return stored


def check_time_limits(actions: Any) -> list[dict[str, Any]]:
    """jobStateTimeLimitActions: RUNNABLE jobs cancelled after 600-86400 seconds, with a reason."""
    if actions is None:
        return []
    if not isinstance(actions, list):
        raise ClientException("jobStateTimeLimitActions must be a list")
    stored = []
    for action in actions:
        if not action.get("reason"):
            raise ClientException("jobStateTimeLimitActions.reason must be specified")
        if action.get("state") != "RUNNABLE":
            raise ClientException("jobStateTimeLimitActions.state must be RUNNABLE")
        seconds = action.get("maxTimeSeconds")
        if not isinstance(seconds, int) or not 600 <= seconds <= 86400:
            raise ClientException("jobStateTimeLimitActions.maxTimeSeconds must be between 600 and 86400")
        if action.get("action") not in TIME_LIMIT_ACTIONS:
            raise ClientException("jobStateTimeLimitActions.action must be CANCEL or TERMINATE")
        stored.append({key: action[key] for key in ("reason", "state", "maxTimeSeconds", "action")})
    return stored


def _policy(conn: Connection, ctx: RequestContext, arn: str) -> str:
    if resolve.scheduling_policy_row(conn, ctx.account_id, ctx.region, arn) is None:
        raise ClientException(f"schedulingPolicyArn {arn} does not exist")
    return arn


def _no_service_environments(params: dict[str, Any]) -> None:
    if params.get("serviceEnvironmentOrder") or params.get("jobQueueType") not in (None, "ECS"):
        raise ClientException("Cloudlet's job queues run ECS-style container jobs only: serviceEnvironmentOrder "
                              "and jobQueueType are not supported")


@api.operation("CreateJobQueue", resources=_create_resources)
def create_job_queue(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = records.check_name(params.get("jobQueueName"), "jobQueueName")
    _no_service_environments(params)
    tags = records.check_tags(params.get("tags"))
    arn = records.arn(ctx, KIND, name)
    document: dict[str, Any] = {
        "jobQueueName": name, "jobQueueArn": arn, "state": _state(params.get("state") or "ENABLED"),
        "status": "VALID", "statusReason": "JobQueue Healthy", "priority": _priority(params.get("priority")),
        "jobStateTimeLimitActions": check_time_limits(params.get("jobStateTimeLimitActions"))}
    with ctx.cloud.db.begin() as conn:
        if resolve.job_queue_row(conn, ctx.account_id, ctx.region, name) is not None:
            raise ClientException("Object already exists")
        if params.get("schedulingPolicyArn"):
            document["schedulingPolicyArn"] = _policy(conn, ctx, params["schedulingPolicyArn"])
        document["computeEnvironmentOrder"] = check_order(conn, ctx, params.get("computeEnvironmentOrder"))
        conn.execute(insert(state.job_queues).values(arn=arn, account_id=ctx.account_id, region=ctx.region,
                                                     name=name, document=document, created_at=records.now()))
        records.put_tags(conn, arn, ctx.account_id, tags)
    ctx.audit_resources.append(arn)
    return {"jobQueueName": name, "jobQueueArn": arn}


@api.operation("UpdateJobQueue", resources=_resources)
def update_job_queue(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = params.get("jobQueue") or ""
    _no_service_environments(params)
    with ctx.cloud.db.begin() as conn:
        row = resolve.job_queue_row(conn, ctx.account_id, ctx.region, ref)
        if row is None:
            raise not_found(ref)
        document = dict(row["document"])
        if params.get("state") is not None:
            document["state"] = _state(params["state"])
        if params.get("priority") is not None:
            document["priority"] = _priority(params["priority"])
        if params.get("schedulingPolicyArn"):
            if not document.get("schedulingPolicyArn"):
                raise ClientException("A job queue without a scheduling policy can't have a scheduling policy "
                                      "added; create a new job queue with the scheduling policy instead")
            document["schedulingPolicyArn"] = _policy(conn, ctx, params["schedulingPolicyArn"])
        if params.get("computeEnvironmentOrder") is not None:
            document["computeEnvironmentOrder"] = check_order(conn, ctx, params["computeEnvironmentOrder"])
        if params.get("jobStateTimeLimitActions") is not None:
            document["jobStateTimeLimitActions"] = check_time_limits(params["jobStateTimeLimitActions"])
        conn.execute(update(state.job_queues).where(state.job_queues.c.arn == row["arn"]).values(document=document))
    return {"jobQueueName": row["name"], "jobQueueArn": row["arn"]}


@api.operation("DeleteJobQueue", resources=_resources)
def delete_job_queue(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = params.get("jobQueue") or ""
    with ctx.cloud.db.begin() as conn:
        row = resolve.job_queue_row(conn, ctx.account_id, ctx.region, ref)
        if row is None:
            raise not_found(ref)
        if row["document"]["state"] != "DISABLED":
            raise ClientException("Cannot delete, job queue must be in DISABLED state before it can be deleted")
        conn.execute(delete(state.job_queues).where(state.job_queues.c.arn == row["arn"]))
        records.drop_tags(conn, row["arn"])
    return {}


@api.operation("DescribeJobQueues")
def describe_job_queues(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return records.describe(ctx, params, state.job_queues, refs_member="jobQueues", find=resolve.job_queue_row,
                            show=resolve.with_tags)


def uses_policy(conn: Connection, arn: str, account_id: str, region: str) -> bool:
    """Whether any job queue of the account uses this scheduling policy (it can't be deleted then)."""
    table = state.job_queues
    return any(document.get("schedulingPolicyArn") == arn for document, in conn.execute(
        select(table.c.document).where(table.c.account_id == account_id, table.c.region == region)))
