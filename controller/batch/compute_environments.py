"""Compute environments: Create/Update/Delete/DescribeComputeEnvironments.

A MANAGED environment describes the capacity Batch may launch (EC2, SPOT, FARGATE or FARGATE_SPOT, between
minvCpus and maxvCpus, in the caller's subnets and security groups); an UNMANAGED one is capacity the
customer brings. Cloudlet has nothing to provision up front, so an environment is VALID as soon as it is
created; it reads INVALID while something it needs in EC2 is gone (``resolve.compute_environment_detail``).
Rules and messages follow https://docs.aws.amazon.com/batch/latest/APIReference/API_ComputeResource.html.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from controller.api import RequestContext
from controller.batch import network, records, resolve, state
from controller.batch.errors import ClientException
from controller.batch.service import api

KIND = "compute-environment"
EC2_TYPES = ("EC2", "SPOT")
FARGATE_TYPES = ("FARGATE", "FARGATE_SPOT")
ALLOCATION = ("BEST_FIT", "BEST_FIT_PROGRESSIVE", "SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED")
#: What Fargate compute resources must not have (AWS: "isn't applicable to jobs running on Fargate").
NOT_FOR_FARGATE = ("allocationStrategy", "bidPercentage", "desiredvCpus", "ec2Configuration", "ec2KeyPair",
                   "imageId", "instanceRole", "instanceTypes", "launchTemplate", "minvCpus", "placementGroup",
                   "spotIamFleetRole", "tags")
MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5


def _resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return records.ref_pattern(ctx, KIND, params.get("computeEnvironment"))


def not_found(ref: str) -> ClientException:
    return ClientException(f"computeEnvironment {ref} does not exist")


def _service_role(ctx: RequestContext, role: str | None) -> str:
    """The service role as AWS shows it: the Batch service-linked role by default, a bare name as a role ARN."""
    partition = ctx.cloud.config.partition
    if not role:
        return (f"arn:{partition}:iam::{ctx.account_id}:role/aws-service-role/batch.amazonaws.com/"
                "AWSServiceRoleForBatch")
    return role if role.startswith("arn:") else f"arn:{partition}:iam::{ctx.account_id}:role/{role.lstrip('/')}"


def _int(resources: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = resources.get(key, default)
    if value is not None and (not isinstance(value, int) or value < 0):
        raise ClientException(f"{key} must be a non-negative integer")
    return value


def check_resources(resources: dict[str, Any]) -> dict[str, Any]:
    """Compute resources as stored, with AWS's defaults, or ClientException naming the first problem."""
    kind = resources.get("type")
    if kind not in EC2_TYPES + FARGATE_TYPES:
        raise ClientException(f"computeResources.type {kind} is not supported; valid values are "
                              "EC2, SPOT, FARGATE and FARGATE_SPOT")
    out = {key: value for key, value in resources.items() if value is not None}
    maxv = _int(out, "maxvCpus")
    if maxv is None:
        raise ClientException("computeResources.maxvCpus must be specified")
    subnets = out.get("subnets") or []
    if not subnets:
        raise ClientException("computeResources.subnets must contain at least one subnet")
    if len(subnets) > MAX_SUBNETS:
        raise ClientException(f"computeResources.subnets can contain at most {MAX_SUBNETS} subnets")
    if len(out.get("securityGroupIds") or []) > MAX_SECURITY_GROUPS:
        raise ClientException(f"computeResources.securityGroupIds can contain at most {MAX_SECURITY_GROUPS} "
                              "security groups")
    if kind in FARGATE_TYPES:
        for key in NOT_FOR_FARGATE:
            if key in out:
                raise ClientException(f"computeResources.{key} isn't applicable to Fargate compute resources")
        if not out.get("securityGroupIds"):
            raise ClientException("computeResources.securityGroupIds must be specified for Fargate compute "
                                  "resources")
        return out
    minv = _int(out, "minvCpus", 0)
    desired = _int(out, "desiredvCpus", minv)
    assert minv is not None and desired is not None
    if minv > maxv:
        raise ClientException("computeResources.minvCpus must be less than or equal to maxvCpus")
    if not minv <= desired <= maxv:
        raise ClientException("computeResources.desiredvCpus must be between minvCpus and maxvCpus")
    if not out.get("instanceTypes"):
        raise ClientException("computeResources.instanceTypes must be specified for EC2 and SPOT compute "
                              "resources")
    strategy = out.setdefault("allocationStrategy", "BEST_FIT")
    if strategy not in ALLOCATION:
        raise ClientException(f"computeResources.allocationStrategy {strategy} is not supported")
    if kind == "EC2":
        for key in ("bidPercentage", "spotIamFleetRole"):
            if key in out:
                raise ClientException(f"computeResources.{key} only applies to SPOT compute resources")
    elif not 0 <= out.get("bidPercentage", 100) <= 100:
        raise ClientException("computeResources.bidPercentage must be between 0 and 100")
    out.update(minvCpus=minv, desiredvCpus=desired)
    out.setdefault("tags", {})
    out.setdefault("ec2Configuration", [{"imageType": "ECS_AL2"}])
    return out


def _check_network(conn: Connection, ctx: RequestContext, resources: dict[str, Any]) -> None:
    reason = network.problem(conn, ctx.account_id, resources)
    if reason:
        raise ClientException(reason)


def _state(value: Any) -> str:
    if value not in ("ENABLED", "DISABLED"):
        raise ClientException(f"state {value} is not valid; valid values are ENABLED and DISABLED")
    return str(value)


@api.operation("CreateComputeEnvironment",
               resources=lambda ctx, params: [records.arn(ctx, KIND, params.get("computeEnvironmentName") or "*")])
def create_compute_environment(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = records.check_name(params.get("computeEnvironmentName"), "computeEnvironmentName")
    kind = params.get("type")
    if kind not in ("MANAGED", "UNMANAGED"):
        raise ClientException(f"type {kind} is not valid; valid values are MANAGED and UNMANAGED")
    if params.get("eksConfiguration"):
        raise ClientException("Cloudlet runs Batch jobs on ECS-style orchestration only: eksConfiguration is "
                              "not supported")
    tags = records.check_tags(params.get("tags"))
    arn = records.arn(ctx, KIND, name)
    env_id = str(uuid.uuid4())
    document: dict[str, Any] = {
        "computeEnvironmentName": name, "computeEnvironmentArn": arn,
        "ecsClusterArn": f"arn:{ctx.cloud.config.partition}:ecs:{ctx.region}:{ctx.account_id}:cluster/"
                         f"{name}_Batch_{env_id}",
        "type": kind, "state": _state(params.get("state") or "ENABLED"), "status": "VALID",
        "statusReason": "ComputeEnvironment Healthy", "serviceRole": _service_role(ctx, params.get("serviceRole")),
        "containerOrchestrationType": "ECS", "uuid": env_id}
    if kind == "MANAGED":
        if not params.get("computeResources"):
            raise ClientException("computeResources must be specified for a MANAGED compute environment")
        if params.get("unmanagedvCpus") is not None:
            raise ClientException("unmanagedvCpus can only be specified for UNMANAGED compute environments")
        document["computeResources"] = check_resources(params["computeResources"])
        document["updatePolicy"] = {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 30}
    else:
        if params.get("computeResources"):
            raise ClientException("computeResources can't be specified for an UNMANAGED compute environment")
        if params.get("unmanagedvCpus") is not None:
            document["unmanagedvCpus"] = _int(params, "unmanagedvCpus")
    for key in ("context", "ecsSettings"):
        if params.get(key) is not None:
            document[key] = params[key]
    with ctx.cloud.db.begin() as conn:
        if resolve.compute_environment_row(conn, ctx.account_id, ctx.region, name) is not None:
            raise ClientException("Object already exists")
        if kind == "MANAGED":
            _check_network(conn, ctx, document["computeResources"])
        conn.execute(insert(state.compute_environments).values(
            arn=arn, account_id=ctx.account_id, region=ctx.region, name=name, document=document,
            created_at=records.now()))
        records.put_tags(conn, arn, ctx.account_id, tags)
    ctx.audit_resources.append(arn)
    return {"computeEnvironmentName": name, "computeEnvironmentArn": arn}


def _updated_resources(current: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """The compute resources after UpdateComputeEnvironment: only what was given changes; Fargate and EC2 never
    swap (AWS: the type can change only between EC2 and SPOT, or FARGATE and FARGATE_SPOT)."""
    change = {key: value for key, value in change.items() if value is not None}
    change.pop("updateToLatestImageVersion", None)
    new_type = change.get("type", current["type"])
    if (new_type in FARGATE_TYPES) != (current["type"] in FARGATE_TYPES):
        raise ClientException("computeResources.type can't be changed between Fargate and EC2 types")
    merged = {**current, **change}
    if new_type in FARGATE_TYPES:
        extra = [key for key in change if key in NOT_FOR_FARGATE]
        if extra:
            raise ClientException(f"computeResources.{extra[0]} isn't applicable to Fargate compute resources")
    elif "minvCpus" in change and "desiredvCpus" not in change:
        merged["desiredvCpus"] = max(merged["minvCpus"], min(merged.get("desiredvCpus", 0), merged["maxvCpus"]))
    return check_resources(merged)


@api.operation("UpdateComputeEnvironment", resources=_resources)
def update_compute_environment(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = params.get("computeEnvironment") or ""
    with ctx.cloud.db.begin() as conn:
        row = resolve.compute_environment_row(conn, ctx.account_id, ctx.region, ref)
        if row is None:
            raise not_found(ref)
        document = dict(row["document"])
        if params.get("state") is not None:
            document["state"] = _state(params["state"])
        if params.get("serviceRole"):
            document["serviceRole"] = _service_role(ctx, params["serviceRole"])
        if params.get("eksConfiguration"):
            raise ClientException("eksConfiguration is not supported")
        if document["type"] == "UNMANAGED":
            if params.get("computeResources") or params.get("updatePolicy"):
                raise ClientException("computeResources and updatePolicy can't be specified for an UNMANAGED "
                                      "compute environment")
            if params.get("unmanagedvCpus") is not None:
                document["unmanagedvCpus"] = _int(params, "unmanagedvCpus")
        else:
            if params.get("unmanagedvCpus") is not None:
                raise ClientException("unmanagedvCpus can only be specified for UNMANAGED compute environments")
            if params.get("computeResources"):
                document["computeResources"] = _updated_resources(document["computeResources"],
                                                                  params["computeResources"])
                _check_network(conn, ctx, document["computeResources"])
            if params.get("updatePolicy"):
                policy = {**document.get("updatePolicy", {}), **params["updatePolicy"]}
                if not 1 <= int(policy.get("jobExecutionTimeoutMinutes", 30)) <= 360:
                    raise ClientException("updatePolicy.jobExecutionTimeoutMinutes must be between 1 and 360")
                document["updatePolicy"] = policy
        for key in ("context", "ecsSettings"):
            if params.get(key) is not None:
                document[key] = params[key]
        conn.execute(update(state.compute_environments).where(state.compute_environments.c.arn == row["arn"])
                     .values(document=document))
    return {"computeEnvironmentName": row["name"], "computeEnvironmentArn": row["arn"]}


def used_by_queue(conn: Connection, arn: str, account_id: str, region: str) -> bool:
    table = state.job_queues
    for document, in conn.execute(select(table.c.document).where(table.c.account_id == account_id,
                                                                 table.c.region == region)):
        if any(item["computeEnvironment"] == arn for item in document.get("computeEnvironmentOrder") or []):
            return True
    return False


@api.operation("DeleteComputeEnvironment", resources=_resources)
def delete_compute_environment(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = params.get("computeEnvironment") or ""
    with ctx.cloud.db.begin() as conn:
        row = resolve.compute_environment_row(conn, ctx.account_id, ctx.region, ref)
        if row is None:
            raise not_found(ref)
        if row["document"]["state"] != "DISABLED":
            raise ClientException("Cannot delete, compute environment must be in DISABLED state before it can "
                                  "be deleted")
        if used_by_queue(conn, row["arn"], ctx.account_id, ctx.region):
            raise ClientException("Cannot delete, found existing JobQueue relationship")
        conn.execute(delete(state.compute_environments).where(state.compute_environments.c.arn == row["arn"]))
        records.drop_tags(conn, row["arn"])
    return {}


@api.operation("DescribeComputeEnvironments")
def describe_compute_environments(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return records.describe(ctx, params, state.compute_environments, refs_member="computeEnvironments",
                            find=resolve.compute_environment_row, show=resolve.compute_environment_detail)
