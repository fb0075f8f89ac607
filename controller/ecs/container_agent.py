"""RegisterContainerInstance, Poll and SubmitTaskStateChange: how a Batch instance's agent joins its compute
environment's ECS cluster, takes the attempts placed on it and reports them.

The caller must be the instance itself: a session of its instance profile's role, which EC2's metadata service
names after the instance (so the identity document's ``instanceId`` must match the session name), and the
instance must be running. The cluster is a Batch compute environment's ``ecsClusterArn`` (or its name), as
ECS_CLUSTER names it in AWS's agent configuration. A task is one attempt (``task/<cluster>/<job id>-<attempt>``);
its reported state settles the job exactly as a host agent's report does (``controller.batch.reports``).
A task with a job role gets a session of it in Poll's answer when the agent asks (``credentialsNeeded``), as
AWS's agent receives IAM role credentials over its ACS channel, for its endpoint at 169.254.170.2; and its
secrets (``secretsNeeded``), read as its execution role exactly as for a host agent (``controller.batch.secrets``),
just before the agent starts it, so they are stored nowhere.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, insert, select, update

from agent.contract.reports import BatchAttemptReport
from controller.api import Params, RequestContext
from controller.awslambda import code_urls
from controller.batch import attempts, jobs_state, reports, secrets
from controller.batch import credentials as job_credentials
from controller.batch import state as batch_state
from controller.batch.container_instances import container_instances
from controller.ec2.instances import state as ec2_instances
from controller.ecs.service import api
from controller.errors import error
from controller.logs import ingest

AccessDeniedException = error("AccessDeniedException")
ClusterNotFoundException = error("ClusterNotFoundException")
InvalidParameterException = error("InvalidParameterException")
#: ECS counts CPU in units of 1/1024 vCPU.
CPU_UNITS = 1024


def cluster_environment(conn: Connection, ctx: RequestContext, cluster: str) -> Any:
    """The compute environment whose ECS cluster ``cluster`` names (ARN or name); ClusterNotFoundException."""
    table = batch_state.compute_environments
    for row in conn.execute(select(table).where(table.c.account_id == ctx.account_id,
                                                table.c.region == ctx.region)).mappings():
        arn = row["document"].get("ecsClusterArn") or ""
        if cluster and cluster in (arn, arn.rsplit("/", 1)[-1]):
            return row
    raise ClusterNotFoundException("Cluster not found.")


def calling_instance(conn: Connection, ctx: RequestContext, instance_id: str) -> None:
    """AccessDeniedException unless the caller is ``instance_id``'s own role session and it runs."""
    if ctx.principal.kind != "assumed-role" or ctx.principal.session_name != instance_id:
        raise AccessDeniedException(f"The caller {ctx.principal.arn} is not the container instance {instance_id}.")
    table = ec2_instances.instances
    found = conn.execute(select(table.c.state).where(table.c.instance_id == instance_id,
                                                     table.c.account_id == ctx.account_id)).scalar()
    if found not in ("pending", "running"):
        raise AccessDeniedException(f"The instance {instance_id} is not running.")


def _resource(resources: list[dict[str, Any]], name: str) -> int:
    for item in resources:
        if item.get("name") == name:
            try:
                value = int(item.get("integerValue") or item.get("longValue") or item.get("doubleValue") or 0)
            except (TypeError, ValueError, OverflowError):
                value = -1
            if value < 0:
                raise InvalidParameterException(f"totalResources {name} must be a non-negative number.")
            return value
    raise InvalidParameterException(f"totalResources must include {name}.")


def instance_arn(ctx: RequestContext, instance_id: str) -> str:
    return f"arn:{ctx.cloud.config.partition}:ecs:{ctx.region}:{ctx.account_id}:container-instance/{instance_id}"


def task_arn(ctx: RequestContext, cluster_arn: str, job_id: str, attempt: int) -> str:
    return (f"arn:{ctx.cloud.config.partition}:ecs:{ctx.region}:{ctx.account_id}:task/"
            f"{cluster_arn.rsplit('/', 1)[-1]}/{job_id}-{attempt}")


def parse_task(task: str) -> tuple[str, int]:
    """(job id, attempt) of a task ARN or id (pure); InvalidParameterException otherwise."""
    job_id, _, attempt = task.rsplit("/", 1)[-1].rpartition("-")
    if not job_id or not attempt.isdigit():
        raise InvalidParameterException(f"task {task} is not a task of this cluster.")
    return job_id, int(attempt)


@api.operation("RegisterContainerInstance")
def register_container_instance(ctx: RequestContext, params: Params) -> Params:
    try:
        document = json.loads(params.get("instanceIdentityDocument") or "")
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise InvalidParameterException("instanceIdentityDocument is not an instance identity document.")
    instance_id = str(document.get("instanceId") or "")
    resources = params.get("totalResources") or []
    vcpus, memory = _resource(resources, "CPU") // CPU_UNITS, _resource(resources, "MEMORY")
    now = jobs_state.now_ms()
    with ctx.cloud.db.begin() as conn:
        calling_instance(conn, ctx, instance_id)
        environment = cluster_environment(conn, ctx, params.get("cluster") or "default")
        known = conn.execute(select(container_instances.c.instance_id).where(
            container_instances.c.instance_id == instance_id)).first()
        values = {"environment_arn": environment["arn"], "container_instance_arn": instance_arn(ctx, instance_id),
                  "registered_at": now, "last_seen_at": now, "vcpus": vcpus, "memory_mib": memory}
        if known:
            conn.execute(update(container_instances).where(container_instances.c.instance_id == instance_id)
                         .values(**values))
        else:  # an UNMANAGED environment's instance, or one launched by hand into a managed one's cluster
            conn.execute(insert(container_instances).values(
                instance_id=instance_id, account_id=ctx.account_id, region=ctx.region, launched=False,
                idle_since=now, **values))
    ingest.ensure_group(ctx.cloud, ctx.account_id, ctx.region, attempts.LOG_GROUP)
    ctx.audit_resources.append(values["container_instance_arn"])
    registered = [{"name": "CPU", "type": "INTEGER", "integerValue": vcpus * CPU_UNITS},
                  {"name": "MEMORY", "type": "INTEGER", "integerValue": memory}]
    return {"containerInstance": {
        "containerInstanceArn": values["container_instance_arn"], "ec2InstanceId": instance_id, "version": 1,
        "status": "ACTIVE", "agentConnected": True, "registeredResources": registered,
        "remainingResources": registered, "runningTasksCount": 0, "pendingTasksCount": 0,
        "registeredAt": now / 1000, "attributes": params.get("attributes") or []}}


def _registered(conn: Connection, ctx: RequestContext, params: Params) -> tuple[str, Any]:
    """(instance id, its environment row) of a registered caller: the container instance it names, else (a task
    state change names none) the instance its role session is."""
    instance_id = str(params.get("containerInstance") or ctx.principal.session_name or "").rsplit("/", 1)[-1]
    calling_instance(conn, ctx, instance_id)
    environment = cluster_environment(conn, ctx, params.get("cluster") or "default")
    row = conn.execute(select(container_instances).where(container_instances.c.instance_id == instance_id)
                       ).first()
    if row is None or row.registered_at is None or row.environment_arn != environment["arn"]:
        raise InvalidParameterException(f"The container instance {instance_id} is not registered with this "
                                        "cluster.")
    return instance_id, environment


@api.operation("Poll")
def poll(ctx: RequestContext, params: Params) -> Params:
    """The attempts placed on the calling instance; each call is also its heartbeat."""
    with ctx.cloud.db.begin() as conn:
        instance_id, environment = _registered(conn, ctx, params)
        conn.execute(update(container_instances).where(container_instances.c.instance_id == instance_id)
                     .values(last_seen_at=jobs_state.now_ms()))
        placed = attempts.on_host(conn, instance_id)
    cluster = environment["document"]["ecsClusterArn"]
    needed, secrets_needed = set(params.get("credentialsNeeded") or []), set(params.get("secretsNeeded") or [])
    tasks = []
    for entry in placed:
        sha256, arn = entry["image"]["sha256"], task_arn(ctx, cluster, entry["job_id"], entry["attempt"])
        task = {"taskArn": arn, "desiredStatus": "STOPPED" if entry["stop"] else "RUNNING",
                "stopReason": entry["stop"] or "", "imageUrl": code_urls.presigned(ctx, sha256),
                "imageDigest": f"sha256:{sha256}", "definition": json.dumps(entry)}
        if arn in needed and entry.get("credentials") and not entry["stop"]:
            task["roleCredentials"] = _role_credentials(ctx, entry)
        if arn in secrets_needed and not entry["stop"]:
            resolved = secrets.resolve(ctx.cloud, entry.get("execution_role_arn"), entry.get("secrets") or [])
            task["secretsFailure" if isinstance(resolved, str) else "secrets"] = resolved
        tasks.append(task)
    return {"tasks": tasks}


def _role_credentials(ctx: RequestContext, entry: dict[str, Any]) -> dict[str, str]:
    """A new session of the attempt's job role for the agent's credentials endpoint (nothing when ECS may no
    longer assume the role: the container's SDK then finds no credentials, as on AWS)."""
    with ctx.cloud.db.begin() as conn:
        issued = job_credentials.issue(conn, ctx.cloud, ctx.account_id, entry)
    if isinstance(issued, str):
        return {"credentialsUri": entry["credentials"]["relative_uri"]}
    session = job_credentials.record_issue(ctx.cloud, ctx.account_id, entry, *issued)
    return {"credentialsUri": entry["credentials"]["relative_uri"], "accessKeyId": session["AccessKeyId"],
            "secretAccessKey": session["SecretAccessKey"], "sessionToken": session["Token"],
            "expiration": session["Expiration"], "roleArn": session["RoleArn"]}


@api.operation("SubmitTaskStateChange")
def submit_task_state_change(ctx: RequestContext, params: Params) -> Params:
    """RUNNING or STOPPED (with the container's exit code) of one of the caller's attempts."""
    job_id, attempt = parse_task(params.get("task") or "")
    status = params.get("status")
    if status not in ("RUNNING", "STOPPED"):
        raise InvalidParameterException("status must be RUNNING or STOPPED.")
    container = (params.get("containers") or [{}])[0]
    exit_code = container.get("exitCode")
    item = BatchAttemptReport(job_id, attempt, "RUNNING")
    if status == "STOPPED":
        item.state = "SUCCEEDED" if exit_code == 0 else "FAILED"
        item.exit_code = exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None
        item.reason = container.get("reason") or params.get("reason")
        stopped = params.get("executionStoppedAt")
        if stopped is not None:
            item.stopped_at = int(stopped.timestamp() * 1000) if hasattr(stopped, "timestamp") else int(stopped)
    with ctx.cloud.db.begin() as conn:
        instance_id, _ = _registered(conn, ctx, params)
        placed = conn.execute(select(attempts.attempts).where(attempts.attempts.c.job_id == job_id)).mappings().first()
        if placed is not None and placed["host_id"] == instance_id and placed["attempt"] == attempt:
            reports.settle(conn, placed, item)
    return {"acknowledgment": "ACK"}
