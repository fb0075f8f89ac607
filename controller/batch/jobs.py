"""Batch jobs: SubmitJob, DescribeJobs, ListJobs, CancelJob and TerminateJob.

SubmitJob checks what AWS checks (queue ENABLED, definition ACTIVE, dependencies that exist, array size,
overrides, fair-share identifiers) and stores the job already past SUBMITTED, in PENDING or RUNNABLE (or
FAILED when a dependency already failed), as AWS moves it within moments. Nothing runs a job here yet: with
no compute runtime a RUNNABLE job stays RUNNABLE, as on AWS with no capacity. Cancelling or terminating ends
jobs, and every job whose wait that ends is moved on, transitively (``jobs_settle.py``); every write
announces :data:`jobs_state.TOPIC` so a future scheduler wakes. The state rules are in ``lifecycle.py`` and
``arrays.py``. https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import uuid
from typing import Any

from sqlalchemy import Connection, insert, select

from controller.api import RequestContext
from controller.batch import arrays, containers, jobs_settle, jobs_state, lifecycle, records, resolve, tagging
from controller.batch.errors import ClientException
from controller.batch.service import api

KIND = "job"
#: AWS: up to 128 letters, numbers, hyphens and underscores, the first alphanumeric.
JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
SHARE_IDENTIFIER = re.compile(r"^[A-Za-z0-9]{1,255}\*?$")
MAX_DEPENDENCIES = 20
MAX_DESCRIBE = 100
MAX_PRIORITY = 9999
#: ListJobs' page limits (AWS: up to 1000 jobs per page by status, 100 with a filter).
STATUS_PAGE, FILTER_PAGE = 1000, 100
FILTERS = ("JOB_NAME", "JOB_DEFINITION", "BEFORE_CREATED_AT", "AFTER_CREATED_AT", "SHARE_IDENTIFIER")


def _job_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    job_id = params.get("jobId")
    return [records.arn(ctx, KIND, job_id)] if job_id else ["*"]


def _submit_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [*records.ref_pattern(ctx, "job-queue", params.get("jobQueue")),
            *records.ref_pattern(ctx, "job-definition", params.get("jobDefinition"))]


def _check_overrides(overrides: Any, fargate: bool) -> dict[str, Any]:
    """containerOverrides held to the definition's rules (reserved AWS_BATCH variables, requirements)."""
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise ClientException("containerOverrides must be a structure")
    out = {key: value for key, value in overrides.items() if value is not None}
    containers.check_environment(out.get("environment"), "containerOverrides environment")
    if "resourceRequirements" in out:
        out["resourceRequirements"] = containers.check_resource_requirements(out["resourceRequirements"],
                                                                             fargate)
    for key, least in (("vcpus", 1), ("memory", containers.MIN_MEMORY_MIB)):
        if key in out:
            if fargate:
                raise ClientException(f"containerOverrides.{key} isn't supported for jobs running on Fargate "
                                      "resources; use resourceRequirements")
            if not isinstance(out[key], int) or out[key] < least:
                raise ClientException(f"containerOverrides.{key} must be at least {least}")
    command = out.get("command")
    if command is not None and not all(isinstance(part, str) for part in command):
        raise ClientException("containerOverrides.command must be a list of strings")
    return out


def container_detail(props: dict[str, Any], overrides: dict[str, Any],
                     parameters: dict[str, str]) -> dict[str, Any]:
    """The job's container as DescribeJobs shows it: the definition's, overridden, ``Ref::`` substituted."""
    container = copy.deepcopy(props)
    if "command" in overrides:
        container["command"] = list(overrides["command"])
    if container.get("command") is not None:
        container["command"] = lifecycle.substitute(container["command"], parameters)
    if overrides.get("environment"):
        merged = {item["name"]: item for item in container.get("environment") or []}
        merged.update({item["name"]: {"name": item["name"], "value": item.get("value", "")}
                       for item in overrides["environment"]})
        container["environment"] = list(merged.values())
    if overrides.get("resourceRequirements"):
        merged = {item["type"]: item for item in container.get("resourceRequirements") or []}
        merged.update({item["type"]: item for item in overrides["resourceRequirements"]})
        container["resourceRequirements"] = list(merged.values())
    for key in ("vcpus", "memory", "instanceType"):
        if key in overrides:
            container[key] = overrides[key]
    return container


def _check_dependencies(items: Any, size: int | None) -> list[tuple[str | None, str | None]]:
    """dependsOn as (jobId, type) pairs, in AWS's shape rules: at most 20; SEQUENTIAL (no jobId) and N_TO_N
    only for array jobs; a jobId for every other dependency."""
    items = items or []
    if len(items) > MAX_DEPENDENCIES:
        raise ClientException(f"A job can depend on at most {MAX_DEPENDENCIES} jobs, got {len(items)}.")
    out: list[tuple[str | None, str | None]] = []
    for item in items:
        job_id, kind = item.get("jobId") or None, item.get("type") or None
        if kind not in (None, arrays.N_TO_N, arrays.SEQUENTIAL):
            raise ClientException(f"Dependency type {kind} is not valid; valid values are N_TO_N and "
                                  "SEQUENTIAL.")
        if kind is not None and size is None:
            raise ClientException(f"{kind} dependencies are only valid for array jobs.")
        if kind == arrays.SEQUENTIAL and job_id is not None:
            raise ClientException("A SEQUENTIAL dependency orders the array job's own children: it takes no "
                                  "jobId.")
        if kind != arrays.SEQUENTIAL and job_id is None:
            raise ClientException("dependsOn jobId must be specified.")
        if (job_id, kind) not in out:
            out.append((job_id, kind))
    return out


def _check_submit(params: dict[str, Any]) -> dict[str, Any]:
    """What SubmitJob can check before reading any state; the checked values."""
    name = params.get("jobName")
    if not isinstance(name, str) or not JOB_NAME.match(name):
        raise ClientException("jobName must be 1-128 characters long, start with a letter or number, and "
                              "contain only letters, numbers, hyphens (-) and underscores (_).")
    for key in ("jobQueue", "jobDefinition"):
        if not params.get(key):
            raise ClientException(f"{key} must be specified.")
    size = (params.get("arrayProperties") or {}).get("size")
    if size is not None and (problem := arrays.check_size(size)):
        raise ClientException(problem)
    parameters = params.get("parameters") or {}
    if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
        raise ClientException("parameters must be a map of strings to strings")
    priority = params.get("schedulingPriorityOverride")
    if priority is not None and (not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY):
        raise ClientException(f"schedulingPriorityOverride must be between 0 and {MAX_PRIORITY}")
    share = params.get("shareIdentifier")
    if share is not None and (not isinstance(share, str) or not SHARE_IDENTIFIER.match(share)):
        raise ClientException("shareIdentifier must be up to 255 letters and numbers, optionally followed "
                              "by *")
    for key in ("nodeOverrides", "eksPropertiesOverride", "ecsPropertiesOverride"):
        if params.get(key):
            raise ClientException(f"{key} is not supported: only container jobs are")
    return {"name": name, "size": size, "parameters": dict(parameters), "priority": priority, "share": share,
            "depends": _check_dependencies(params.get("dependsOn"), size),
            "retry": containers.check_retry_strategy(params.get("retryStrategy")),
            "timeout": containers.check_timeout(params.get("timeout")),
            "tags": records.check_tags(params.get("tags"))}


def _queue(conn: Connection, ctx: RequestContext, ref: str, share: str | None) -> dict[str, Any]:
    queue = resolve.job_queue(conn, ctx.account_id, ctx.region, ref)
    if queue is None or queue.get("status") in ("DELETING", "DELETED"):
        raise ClientException(f"jobQueue {ref} does not exist")
    if queue.get("state") != "ENABLED":
        raise ClientException(f"jobQueue {queue['jobQueueName']} is DISABLED and does not accept jobs")
    if queue.get("schedulingPolicyArn") and not share:
        raise ClientException("shareIdentifier must be specified for a job queue with a scheduling policy")
    if share and not queue.get("schedulingPolicyArn"):
        raise ClientException("shareIdentifier can't be specified for a job queue without a scheduling "
                              "policy")
    return queue


def _definition(conn: Connection, ctx: RequestContext, ref: str) -> dict[str, Any]:
    definition = resolve.job_definition(conn, ctx.account_id, ctx.region, ref)
    if definition is None:
        raise ClientException(f"jobDefinition {ref} does not exist")
    if definition.get("status") != "ACTIVE":
        raise ClientException(f"jobDefinition {definition['jobDefinitionArn']} is INACTIVE")
    if definition.get("type") != "container" or not definition.get("containerProperties"):
        raise ClientException("Only container job definitions can be submitted here")
    return definition


def _targets(conn: Connection, ctx: RequestContext, depends: list[tuple[str | None, str | None]],
             size: int | None) -> dict[str, Any]:
    """The rows of the jobs depended on; ClientException for unknown ones and N_TO_N size mismatches."""
    wanted = [job_id for job_id, _ in depends if job_id]
    found = jobs_state.find_many(conn, ctx.account_id, ctx.region, wanted)
    for job_id, kind in depends:
        if job_id is None:
            continue
        if job_id not in found:
            raise ClientException(f"Dependent job {job_id} does not exist.")
        if kind == arrays.N_TO_N and found[job_id]["array_size"] != size:
            raise ClientException(f"N_TO_N dependency {job_id} must be an array job of the same size "
                                  f"({size}).")
    return found


def _document(ctx: RequestContext, checked: dict[str, Any], params: dict[str, Any], queue: dict[str, Any],
              definition: dict[str, Any], now: int) -> dict[str, Any]:
    """The static JobDetail part of the new job: the definition's settings under the submission's."""
    parameters = {**(definition.get("parameters") or {}), **checked["parameters"]}
    fargate = definition.get("platformCapabilities") == ["FARGATE"]
    overrides = _check_overrides(params.get("containerOverrides"), fargate)
    document: dict[str, Any] = {
        "jobName": checked["name"], "jobQueue": queue["jobQueueArn"], "createdAt": now,
        "dependsOn": [{"jobId": job_id, "type": kind} if job_id and kind else
                      {"jobId": job_id} if job_id else {"type": kind} for job_id, kind in checked["depends"]],
        "jobDefinition": definition["jobDefinitionArn"], "parameters": parameters,
        "container": container_detail(definition["containerProperties"], overrides, parameters),
        "propagateTags": bool(params["propagateTags"] if params.get("propagateTags") is not None
                              else definition.get("propagateTags", False)),
        "platformCapabilities": list(definition.get("platformCapabilities") or ["EC2"])}
    retry = checked["retry"] if checked["retry"] is not None else definition.get("retryStrategy")
    if retry:
        document["retryStrategy"] = retry
    timeout = checked["timeout"] if checked["timeout"] is not None else definition.get("timeout")
    if timeout:
        document["timeout"] = timeout
    if checked["share"]:
        document["shareIdentifier"] = checked["share"]
    priority = checked["priority"]
    if priority is None:
        priority = definition.get("schedulingPriority")
    if priority is not None and queue.get("schedulingPolicyArn"):
        document["schedulingPriority"] = priority
    if checked["size"]:
        document["arrayProperties"] = {"size": checked["size"]}
    return document


@api.operation("SubmitJob", resources=_submit_resources)
def submit_job(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    checked = _check_submit(params)
    now = jobs_state.now_ms()
    job_id = str(uuid.uuid4())
    arn = records.arn(ctx, KIND, job_id)
    with ctx.cloud.db.begin() as conn:
        queue = _queue(conn, ctx, params["jobQueue"], checked["share"])
        definition = _definition(conn, ctx, params["jobDefinition"])
        _targets(conn, ctx, checked["depends"], checked["size"])
        document = _document(ctx, checked, params, queue, definition, now)
        edges = [arrays.Edge(job_id, target or job_id, kind) for target, kind in checked["depends"]]
        row = {"job_id": job_id, "arn": arn, "account_id": ctx.account_id, "region": ctx.region,
               "name": checked["name"], "queue_arn": queue["jobQueueArn"],
               "definition_arn": definition["jobDefinitionArn"],
               "definition_name": definition["jobDefinitionName"],
               "share_identifier": checked["share"], "created_at": now, "updated_at": now}
        if edges:
            conn.execute(insert(jobs_state.dependencies), [
                {"waiter_id": e.waiter, "target_id": e.target, "kind": e.kind or ""} for e in edges])
        if checked["size"]:
            jobs_state.insert_array(conn, row, document, edges, checked["size"], now)
        else:
            targets = arrays.waits_on(job_id, edges)
            status, reason = (lifecycle.after_dependencies(lifecycle.SUBMITTED, jobs_state.statuses(
                conn, targets).values()) or (lifecycle.PENDING, None))
            job = lifecycle.with_status({"status": lifecycle.SUBMITTED}, status, reason, now=now)
            conn.execute(insert(jobs_state.jobs).values(**row, status=status, document=document,
                                                        progress=jobs_state.progress_of(job)))
        records.put_tags(conn, arn, ctx.account_id, checked["tags"])
        jobs_state.changed(conn)
    ctx.audit_resources.append(arn)
    return {"jobArn": arn, "jobName": checked["name"], "jobId": job_id}


@api.operation("DescribeJobs")
def describe_jobs(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ids = params.get("jobs")
    if not isinstance(ids, list):
        raise ClientException("jobs must be specified")
    if len(ids) > MAX_DESCRIBE:
        raise ClientException(f"jobs can contain at most {MAX_DESCRIBE} job IDs")
    with ctx.cloud.db.read() as conn:
        rows = jobs_state.find_many(conn, ctx.account_id, ctx.region, ids)
        parents: dict[str, Any] = {}
        return {"jobs": [jobs_state.detail(conn, rows[job_id], parents) for job_id in dict.fromkeys(ids)
                         if job_id in rows]}


def _token(params: dict[str, Any]) -> list[Any] | None:
    token = params.get("nextToken")
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))["k"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ClientException("Invalid nextToken provided.") from None
    if not isinstance(key, list):
        raise ClientException("Invalid nextToken provided.")
    return key


def _filter(query: Any, name: str, values: list[str]) -> Any:
    """``query`` narrowed by one ListJobs filter (any of its values matches)."""
    table = jobs_state.jobs
    conditions = []
    for value in values:
        if name == "JOB_NAME":
            lowered = value.lower()
            conditions.append(jobs_state.name_like(table.c.name, lowered[:-1]) if lowered.endswith("*")
                              else jobs_state.lower(table.c.name) == lowered)
        elif name == "JOB_DEFINITION":
            if value.startswith("arn:"):
                conditions.append(table.c.definition_arn == value)
            elif value.endswith("*"):
                conditions.append(table.c.definition_name.startswith(value[:-1], autoescape=True))
            else:
                conditions.append(table.c.definition_name == value)
        elif name == "SHARE_IDENTIFIER":
            conditions.append(table.c.share_identifier == value)
        else:
            if not value.isdigit():
                raise ClientException(f"{name} filter values must be epoch milliseconds, got {value}")
            conditions.append(table.c.created_at < int(value) if name == "BEFORE_CREATED_AT"
                              else table.c.created_at > int(value))
    return query.where(jobs_state.any_of(conditions))


@api.operation("ListJobs")
def list_jobs(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    sources = [key for key in ("jobQueue", "arrayJobId", "multiNodeJobId") if params.get(key)]
    if len(sources) != 1:
        raise ClientException("Exactly one of jobQueue, arrayJobId and multiNodeJobId must be specified")
    filters = params.get("filters") or []
    if len(filters) > 1:
        raise ClientException("Only one filter can be used at a time")
    for item in filters:
        if item.get("name") not in FILTERS:
            raise ClientException(f"Filter name {item.get('name')} is not valid; valid names are "
                                  f"{', '.join(FILTERS)}")
        if not item.get("values"):
            raise ClientException(f"Filter {item['name']} must have a value")
    status = params.get("jobStatus")
    if status is not None and status not in lifecycle.STATUSES:
        raise ClientException(f"jobStatus {status} is not valid")
    if params.get("multiNodeJobId"):
        return {"jobSummaryList": []}           # no multi-node parallel jobs here
    table = jobs_state.jobs
    by_array = bool(params.get("arrayJobId"))
    filtered = bool(filters) and not by_array  # AWS: the filter doesn't apply to an array's children
    limit = FILTER_PAGE if filtered else STATUS_PAGE
    size = params.get("maxResults") or limit
    if not isinstance(size, int) or size < 1:
        raise ClientException("maxResults must be at least 1")
    size = min(size, limit)
    key = _token(params)
    with ctx.cloud.db.read() as conn:
        query = select(table).where(table.c.account_id == ctx.account_id, table.c.region == ctx.region)
        if by_array:
            query = query.where(table.c.parent_id == params["arrayJobId"]).order_by(table.c.array_index)
            if key is not None:
                query = query.where(table.c.array_index > key[0])
        else:
            queue = resolve.job_queue(conn, ctx.account_id, ctx.region, params["jobQueue"])
            if queue is None:
                raise ClientException(f"jobQueue {params['jobQueue']} does not exist")
            query = query.where(table.c.queue_arn == queue["jobQueueArn"], table.c.parent_id.is_(None))
            query = query.order_by(table.c.created_at.desc(), table.c.job_id.desc())
            if key is not None:
                query = query.where(jobs_state.before(key))
        if filtered:
            query = _filter(query, filters[0]["name"], filters[0]["values"])
        if not filtered:
            query = query.where(table.c.status == (status or lifecycle.RUNNING))
        elif filters[0]["name"] == "SHARE_IDENTIFIER" and status is not None:
            query = query.where(table.c.status == status)   # AWS: the one filter jobStatus combines with
        rows = list(conn.execute(query.limit(size + 1)).mappings())
        out: dict[str, Any] = {"jobSummaryList": [jobs_state.summary(conn, row) for row in rows[:size]]}
    if len(rows) > size:
        last = rows[size - 1]
        key = [last["array_index"]] if by_array else [last["created_at"], last["job_id"]]
        out["nextToken"] = base64.urlsafe_b64encode(json.dumps({"k": key}).encode()).decode()
    return out


def _end_jobs(ctx: RequestContext, params: dict[str, Any], terminate: bool) -> dict[str, Any]:
    job_id, reason = params.get("jobId"), params.get("reason")
    if not job_id:
        raise ClientException("jobId must be specified")
    if not isinstance(reason, str) or not reason:
        raise ClientException("reason must be specified")
    now = jobs_state.now_ms()
    with ctx.cloud.db.begin() as conn:
        row = jobs_state.find(conn, ctx.account_id, ctx.region, job_id)
        if row is None:
            raise ClientException(f"Job {job_id} does not exist")
        jobs_settle.end_jobs(conn, row, reason, now, terminate=terminate)
    return {}


@api.operation("CancelJob", resources=_job_resources)
def cancel_job(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """SUBMITTED, PENDING and RUNNABLE jobs (an array's children too) become FAILED; later ones stay."""
    return _end_jobs(ctx, params, terminate=False)


@api.operation("TerminateJob", resources=_job_resources)
def terminate_job(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Every job not ended yet (an array's children too) becomes FAILED, running attempts included."""
    return _end_jobs(ctx, params, terminate=True)


def _job_exists(conn: Connection, account: str, region: str, arn: str) -> bool:
    """Jobs are taggable by their own ARN; an array child is not (AWS tags the parent)."""
    job_id = arn.rsplit("/", 1)[-1]
    row = jobs_state.find(conn, account, region, job_id)
    return row is not None and row["parent_id"] is None and row["arn"] == arn


tagging.register_taggable(KIND, _job_exists)
