"""Job definitions: Register/Deregister/DescribeJobDefinitions.

Every registration of a name is a new revision (1, 2, ...), numbered after every revision the name ever had,
deregistered ones included, as AWS numbers them; deregistering makes one revision INACTIVE (it stays
describable, and jobs already submitted keep it). Only ``container`` definitions are kept; what they may
contain is checked in ``containers.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update

from controller.api import RequestContext
from controller.batch import containers, records, resolve, state
from controller.batch.errors import ClientException
from controller.batch.service import api

KIND = "job-definition"
MAX_SCHEDULING_PRIORITY = 9999


def _deregister_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return records.ref_pattern(ctx, KIND, params.get("jobDefinition"))


def _platform(params: dict[str, Any]) -> list[str]:
    capabilities = params.get("platformCapabilities") or ["EC2"]
    if len(capabilities) != 1 or capabilities[0] not in ("EC2", "FARGATE"):
        raise ClientException("platformCapabilities must be either [EC2] or [FARGATE]")
    return list(capabilities)


def _parameters(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ClientException("parameters must be a map of strings to strings")
    return dict(value)


def build(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The JobDefinition a registration describes (revision and ARN still to come), or ClientException."""
    name = records.check_name(params.get("jobDefinitionName"), "jobDefinitionName")
    kind = params.get("type")
    if kind == "multinode" or params.get("nodeProperties"):
        raise ClientException("multinode job definitions are not supported; register a container job definition")
    if kind != "container":
        raise ClientException(f"type {kind} is not valid; valid values are container and multinode")
    for key in ("eksProperties", "ecsProperties", "consumableResourceProperties"):
        if params.get(key):
            raise ClientException(f"{key} is not supported; use containerProperties")
    platform = _platform(params)
    document: dict[str, Any] = {
        "jobDefinitionName": name, "type": kind, "parameters": _parameters(params.get("parameters")),
        "containerProperties": containers.check_container(params.get("containerProperties"),
                                                          platform == ["FARGATE"]),
        "propagateTags": bool(params.get("propagateTags") or False), "platformCapabilities": platform,
        "containerOrchestrationType": "ECS"}
    retry = containers.check_retry_strategy(params.get("retryStrategy"))
    if retry is not None:
        document["retryStrategy"] = retry
    timeout = containers.check_timeout(params.get("timeout"))
    if timeout is not None:
        document["timeout"] = timeout
    priority = params.get("schedulingPriority")
    if priority is not None:
        if not isinstance(priority, int) or not 0 <= priority <= MAX_SCHEDULING_PRIORITY:
            raise ClientException(f"schedulingPriority must be between 0 and {MAX_SCHEDULING_PRIORITY}")
        document["schedulingPriority"] = priority
    return document


@api.operation("RegisterJobDefinition",
               resources=lambda ctx, params: [records.arn(ctx, KIND, params.get("jobDefinitionName") or "*")])
def register_job_definition(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    document = build(ctx, params)
    tags = records.check_tags(params.get("tags"))
    name = document["jobDefinitionName"]
    table = state.job_definitions
    with ctx.cloud.db.begin() as conn:
        last = conn.execute(select(func.max(table.c.revision)).where(
            table.c.account_id == ctx.account_id, table.c.region == ctx.region, table.c.name == name)).scalar()
        revision = (last or 0) + 1
        arn = records.arn(ctx, KIND, f"{name}:{revision}")
        ordered = {"jobDefinitionName": name, "jobDefinitionArn": arn, "revision": revision, **document}
        conn.execute(insert(table).values(arn=arn, account_id=ctx.account_id, region=ctx.region, name=name,
                                          revision=revision, status="ACTIVE", document=ordered,
                                          created_at=records.now()))
        records.put_tags(conn, arn, ctx.account_id, tags)
    ctx.audit_resources.append(arn)
    return {"jobDefinitionName": name, "jobDefinitionArn": arn, "revision": revision}


@api.operation("DeregisterJobDefinition", resources=_deregister_resources)
def deregister_job_definition(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = params.get("jobDefinition") or ""
    named = records.ref_name(ref, KIND, ctx.account_id, ctx.region) or ""
    if ":" not in named and not ref.startswith("arn:"):
        raise ClientException("jobDefinition must be name:revision or a job definition ARN")
    with ctx.cloud.db.begin() as conn:
        row = resolve.job_definition_row(conn, ctx.account_id, ctx.region, ref)
        if row is None:
            raise ClientException(f"jobDefinition {ref} does not exist")
        conn.execute(update(state.job_definitions).where(state.job_definitions.c.arn == row["arn"])
                     .values(status="INACTIVE"))
    return {}


def _matching(conn: Any, ctx: RequestContext, params: dict[str, Any]) -> list[Any]:
    table = state.job_definitions
    query = select(table).where(table.c.account_id == ctx.account_id, table.c.region == ctx.region)
    refs = params.get("jobDefinitions") or []
    status = params.get("status")
    if status is not None and status not in ("ACTIVE", "INACTIVE"):
        raise ClientException("status must be ACTIVE or INACTIVE")
    if refs:
        if params.get("jobDefinitionName") or status:
            raise ClientException("jobDefinitions can't be used with other parameters")
        if len(refs) > 100:
            raise ClientException("jobDefinitions can contain at most 100 items")
        found: dict[str, Any] = {}
        for ref in refs:
            text = records.ref_name(ref, KIND, ctx.account_id, ctx.region)
            if not text:
                continue
            if ":" in text:
                row = resolve.job_definition_row(conn, ctx.account_id, ctx.region, ref)
                rows = [row] if row is not None else []
            else:
                rows = list(conn.execute(query.where(table.c.name == text).order_by(table.c.revision)).mappings())
            found.update((row["arn"], row) for row in rows)
        return list(found.values())
    if params.get("jobDefinitionName"):
        query = query.where(table.c.name == params["jobDefinitionName"])
    if status:
        query = query.where(table.c.status == status)
    return list(conn.execute(query.order_by(table.c.name, table.c.revision)).mappings())


@api.operation("DescribeJobDefinitions")
def describe_job_definitions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        rows = _matching(conn, ctx, params)
        chunk, token = records.page(rows, params)
        out: dict[str, Any] = {"jobDefinitions": [resolve.with_tags(conn, row) for row in chunk]}
    if token:
        out["nextToken"] = token
    return out
