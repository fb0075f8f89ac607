"""A job's ``containerProperties.secrets``, read for the agent when it starts an attempt.

As in AWS Batch (on ECS), each secret's ``valueFrom`` names an SSM Parameter Store parameter (its name or ARN;
a SecureString comes decrypted) read with the job's execution role (``controller.batch.execution_role``)
through the cloud's gateway, so IAM judges ``ssm:GetParameters`` (and ``kms:Decrypt`` for a customer key) and
CloudTrail records it; the value reaches the container as the environment variable ``name``. Secrets Manager
does not exist in this cloud, so a ``secretsmanager`` ARN fails the attempt, as would any secret AWS could not
read: before the container starts, with ECS's ``ResourceInitializationError`` reason.

Values are never stored: the agent asks for them per attempt (``POST .../batch/secrets``) just before
``podman run``, so they are in neither the desired-state document nor the state store, and DescribeJobs
shows only the ``valueFrom`` references the definition holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app, jsonify, request
from sqlalchemy import select

from controller import service_calls
from controller.api import Principal
from controller.batch import attempts, execution_role
from controller.hosts.rpc import blueprint

#: How ECS prefixes every failure to read an execution resource (secrets, registry credentials).
REASON_PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: "
_RETRIEVAL = "execution resource retrieval failed: "
SERVICE = "batch.amazonaws.com"


def failure(detail: str) -> str:
    """The attempt's status reason for a secret that cannot be had."""
    return f"{REASON_PREFIX}{_RETRIEVAL}{detail}"[:1024]


def unsupported_reference(value_from: str) -> str | None:
    """Why ``valueFrom`` cannot name anything readable here, or None for an SSM parameter's name or ARN (pure)."""
    if value_from.startswith("arn:") and ":secretsmanager:" in value_from:
        return failure(f"unable to retrieve secret from asm: AWS Secrets Manager is not part of Cloudlet; store "
                       f"the value as an SSM parameter and name it in valueFrom: {value_from}")
    if value_from.startswith("arn:") and ":ssm:" not in value_from:
        return failure(f"unable to retrieve secrets from ssm: invalid parameters: {value_from}")
    return None


def resolve(cloud: Any, role_arn: str | None, secrets: list[Mapping[str, str]]) -> dict[str, str] | str:
    """Each secret's value by its variable name, or the attempt's status reason when one cannot be read."""
    if not secrets:
        return {}
    if not role_arn:
        return failure("an executionRoleArn is required to read the job's secrets")
    for secret in secrets:
        reason = unsupported_reference(secret["valueFrom"])
        if reason is not None:
            return reason
    principal = execution_role.session(cloud, role_arn)
    if isinstance(principal, str):
        return failure(principal)
    values: dict[str, str] = {}
    read: dict[str, str] = {}
    try:
        for secret in secrets:
            reference = secret["valueFrom"]
            if reference not in read:
                read[reference] = _parameter(cloud, principal, reference)
            values[secret["name"]] = read[reference]
    except Unreadable as exc:
        return failure(str(exc))
    return values


class Unreadable(Exception):
    """SSM did not give a secret's value; the message is ECS's detail of why."""


def _parameter(cloud: Any, principal: Principal, reference: str) -> str:
    """The parameter's value (decrypted) as the execution role reads it."""
    try:
        answer = service_calls.call(cloud, principal, "ssm", "GetParameters",
                                    {"Names": [reference], "WithDecryption": True}, invoked_by=SERVICE)
    except service_calls.ServiceCallError as exc:
        raise Unreadable(f"unable to retrieve secrets from ssm: service call has been retried 1 time(s): "
                         f"{exc.code}: {exc.message}") from exc
    found = answer.get("Parameters") or []
    if not found:
        raise Unreadable(f"unable to retrieve secrets from ssm: invalid parameters: {reference}")
    return str(found[0]["Value"])


@blueprint.post("/hosts/<host_id>/batch/secrets")
def attempt_secrets(host_id: str) -> Any:
    """``{"job_id", "attempt"}`` -> ``{"values": {name: value}}`` or ``{"reason": "..."}`` for an attempt
    placed on this host; 404 for any other (a stale agent must not read a newer attempt's secrets)."""
    cloud = current_app.config["CLOUD"]
    body = request.get_json(force=True, silent=True) or {}
    with cloud.db.read() as conn:
        placed = conn.execute(select(attempts.attempts).where(
            attempts.attempts.c.job_id == str(body.get("job_id")))).mappings().first()
    if placed is None or placed["host_id"] != host_id or placed["attempt"] != body.get("attempt"):
        return jsonify(error="no such attempt on this host"), 404
    spec = placed["spec"]
    resolved = resolve(cloud, spec.get("execution_role_arn"), spec.get("secrets") or [])
    if isinstance(resolved, str):
        return jsonify(reason=resolved)
    return jsonify(values=resolved)
