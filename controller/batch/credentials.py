"""The job role's credentials, as ECS's container credentials endpoint hands a task its role.

At placement the job's ``jobRoleArn`` must name a role that trusts ``ecs-tasks.amazonaws.com`` (AWS Batch's
job role is an ECS task role); otherwise the attempt fails with ECS's reason and the job never runs with
someone else's rights. The attempt's section entry then carries only the relative URI
(``/v2/credentials/<uuid>``) the container finds in ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``: no secret
ever sits in the desired state. An EC2 environment's instance gets the session in its ECS agent's Poll
(``controller.ecs.container_agent``), as AWS's agent gets it over its ACS channel. The host agent's endpoint
at 169.254.170.2 inside the job's namespace asks
``GET /_cloudlet/agent/v1/hosts/<id>/batch/credentials?job=...&attempt=...`` when the container asks (and
again before they expire); this answers only for an attempt placed on that very host, with a fresh STS session
of the role named after the task (its log stream's task id, as AWS names a task role's session), in the
format botocore's ContainerProvider reads; CloudTrail records ECS's ``AssumeRole`` of it, as AWS does.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from flask import current_app, jsonify, request
from sqlalchemy import Connection, select

from controller.audit.trail import CallRecord
from controller.batch import attempts, execution_role
from controller.hosts.rpc import blueprint
from controller.iam.lookup import role_by_arn
from controller.iam.policy.trust import service_may_assume
from controller.state import utcnow
from controller.sts.service_sessions import RoleSession, mint_role_session

ECS_TASKS = execution_role.TASKS_PRINCIPAL
#: How long one issued session lasts (ECS's task role credentials last six hours and are refreshed before).
SESSION_LIFETIME = dt.timedelta(hours=6)
#: Where the container's SDK asks (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` is a path on this host).
RELATIVE_URI_PREFIX = "/v2/credentials/"


def assume_refusal(role_arn: str) -> str:
    return f"CannotStartContainerError: {execution_role.unassumable(role_arn)}"


def trusts_ecs_tasks(trust_policy: str, account_id: str, region: str) -> bool:
    """Whether the trust policy lets ECS tasks assume the role (for the job's account)."""
    return service_may_assume(trust_policy, ECS_TASKS, account_id, region, {"aws:SourceAccount": account_id})


def entry(conn: Connection, container: Mapping[str, Any], account_id: str, region: str
          ) -> dict[str, str] | str | None:
    """The attempt's ``credentials`` entry (role and relative URI), None without a job role, or why the role
    cannot be assumed."""
    role_arn = container.get("jobRoleArn")
    if not role_arn:
        return None
    role = role_by_arn(conn, role_arn)
    if role is None or role["account_id"] != account_id or not trusts_ecs_tasks(role["trust_policy"], account_id,
                                                                                 region):
        return assume_refusal(role_arn)
    return {"role_arn": role_arn, "relative_uri": f"{RELATIVE_URI_PREFIX}{uuid.uuid4()}"}


def task_id(spec: Mapping[str, Any]) -> str:
    """The attempt's task id: the last part of its log stream name, as AWS names both."""
    return str(spec.get("log_stream_name") or "").rsplit("/", 1)[-1] or "batch-job"


def assume_role_event(region: str, account_id: str, role: Mapping[str, Any], session_name: str,
                      session: RoleSession, now: dt.datetime) -> CallRecord:
    """The ``AssumeRole`` event CloudTrail shows when ECS assumes a task role: the service is the caller."""
    partition = role["arn"].split(":", 2)[1]
    return CallRecord(
        request_id=str(uuid.uuid4()), time=now, account_id=account_id, service="sts",
        event_source="sts.amazonaws.com", operation="AssumeRole", region=region, principal_kind="service",
        source_ip=ECS_TASKS, user_agent=ECS_TASKS, resources=[role["arn"]],
        parameters={"roleArn": role["arn"], "roleSessionName": session_name},
        response={"credentials": {"accessKeyId": session.access_key_id, "expiration": _iso(session.expires_at)},
                  "assumedRoleUser": {"assumedRoleId": f"{role['role_id']}:{session_name}",
                                      "arn": f"arn:{partition}:sts::{account_id}:assumed-role/{role['role_name']}/"
                                             f"{session_name}"}})


def _iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def issue(conn: Connection, cloud: Any, account_id: str, spec: Mapping[str, Any]
          ) -> tuple[Mapping[str, Any], RoleSession, dt.datetime] | str:
    """A new session of the attempt's job role (``spec``'s ``credentials`` entry) named after its task, or why
    ECS may not assume the role now (its trust changed since placement)."""
    wanted = spec["credentials"]
    role = role_by_arn(conn, wanted["role_arn"])
    if role is None or not trusts_ecs_tasks(role["trust_policy"], account_id, cloud.config.region):
        return assume_refusal(wanted["role_arn"])
    now = utcnow()
    return role, mint_role_session(conn, cloud, role, task_id(spec), now, SESSION_LIFETIME), now


def record_issue(cloud: Any, account_id: str, spec: Mapping[str, Any], role: Mapping[str, Any],
                 session: RoleSession, now: dt.datetime) -> dict[str, str]:
    """Audit ECS's AssumeRole of an issued session; the session in the container endpoint's format."""
    cloud.audit.record(assume_role_event(cloud.config.region, account_id, role, task_id(spec), session, now))
    return {"AccessKeyId": session.access_key_id, "SecretAccessKey": session.secret_access_key,
            "Token": session.session_token, "Expiration": _iso(session.expires_at), "RoleArn": role["arn"]}


@blueprint.get("/hosts/<host_id>/batch/credentials")
def job_credentials(host_id: str) -> Any:
    """A new session of the role of the attempt (``job``, ``attempt``) placed on ``host_id``; 404 otherwise."""
    cloud = current_app.config["CLOUD"]
    job_id, attempt = request.args.get("job", ""), request.args.get("attempt", "")
    with cloud.db.begin() as conn:
        placed = conn.execute(select(attempts.attempts).where(attempts.attempts.c.job_id == job_id)).mappings().first()
        wanted = (placed or {}).get("spec", {}).get("credentials") if placed else None
        if placed is None or placed["host_id"] != host_id or str(placed["attempt"]) != attempt or not wanted:
            return jsonify(error=f"no job role credentials for {job_id} attempt {attempt} on {host_id}"), 404
        issued = issue(conn, cloud, placed["account_id"], placed["spec"])
    if isinstance(issued, str):
        return jsonify(error=issued), 403
    return jsonify(record_issue(cloud, placed["account_id"], placed["spec"], *issued))
