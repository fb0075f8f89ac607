"""CreateActivation, DescribeActivations and DeleteActivation: how on-premises machines join the account.

An activation is an id and a code (shown once; only its digest is kept) that let up to ``RegistrationLimit``
machines register until ``ExpirationDate`` (24 hours by default, 30 days at most). Each registered machine
acts as a session of the activation's service role, so the role must exist and trust ``ssm.amazonaws.com``,
as AWS checks; the caller must be allowed to pass it (``iam:PassRole``). Deleting an activation stops new
registrations and leaves the machines registered with it managed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import time
import uuid
from typing import Any

from sqlalchemy import delete, insert, select

from controller.api import Params, RequestContext
from controller.errors import error
from controller.iam import state as iam_state
from controller.iam.enforce import check_action
from controller.ssm import names
from controller.ssm.fleet_state import activations
from controller.ssm.service import api
from controller.ssm.tags import tag_list

InvalidParameters = error("InvalidParameters")
InvalidActivationId = error("InvalidActivationId")
InvalidActivation = error("InvalidActivation")
InvalidFilter = error("InvalidFilter")

DEFAULT_LIFETIME = 24 * 3600
MAX_LIFETIME = 30 * 24 * 3600
MAX_REGISTRATIONS = 1000
_CODE_ALPHABET = string.ascii_letters + string.digits
_FILTER_KEYS = {"ActivationIds": "activation_id", "DefaultInstanceName": "default_instance_name",
                "IamRole": "iam_role"}


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _service_role(ctx: RequestContext, name: str) -> str:
    """The role's ARN when it exists and trusts Systems Manager; AWS's ValidationException otherwise."""
    role_name = name.rsplit("/", 1)[-1]
    roles = iam_state.roles
    with ctx.cloud.db.read() as conn:
        role = conn.execute(select(roles.c.arn, roles.c.trust_policy).where(
            roles.c.account_id == ctx.account_id, roles.c.role_name == role_name)).mappings().first()
    arn = f"arn:{ctx.cloud.config.partition}:iam::{ctx.account_id}:role/{role_name}"
    if role is None or not _trusts_ssm(role["trust_policy"]):
        raise names.ValidationException(f"Nonexistent role or missing ssm service principal in trust policy: {arn}")
    return role["arn"]


def _trusts_ssm(policy_text: str) -> bool:
    try:
        statements = json.loads(policy_text).get("Statement", [])
    except (ValueError, AttributeError):
        return False
    for statement in statements if isinstance(statements, list) else [statements]:
        services = (statement.get("Principal") or {}).get("Service", []) if isinstance(statement, dict) else []
        services = [services] if isinstance(services, str) else services
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") == "Allow" and "ssm.amazonaws.com" in services and \
                any(action in ("sts:AssumeRole", "sts:*", "*") for action in actions):
            return True
    return False


@api.operation("CreateActivation")
def create_activation(ctx: RequestContext, params: Params) -> Params:
    now = time.time()
    limit = params.get("RegistrationLimit", 1)
    if not 1 <= limit <= MAX_REGISTRATIONS:
        raise InvalidParameters(f"RegistrationLimit must be between 1 and {MAX_REGISTRATIONS}.")
    expires = params.get("ExpirationDate")
    expires_at = expires.timestamp() if expires is not None else now + DEFAULT_LIFETIME
    if expires_at <= now or expires_at > now + MAX_LIFETIME:
        raise InvalidParameters("ExpirationDate must be in the future and at most 30 days from now.")
    role_arn = _service_role(ctx, params["IamRole"])
    check_action(ctx, "iam:PassRole", [role_arn])
    activation_id, code = str(uuid.uuid4()), "".join(secrets.choice(_CODE_ALPHABET) for _ in range(20))
    with ctx.cloud.db.begin() as conn:
        conn.execute(insert(activations).values(
            activation_id=activation_id, account_id=ctx.account_id, region=ctx.region, code_digest=code_digest(code),
            description=params.get("Description", ""), default_instance_name=params.get("DefaultInstanceName", ""),
            iam_role=params["IamRole"], registration_limit=limit, registrations_count=0, expires_at=expires_at,
            created_at=now, tags={tag["Key"]: tag["Value"] for tag in params.get("Tags", [])}))
    return {"ActivationId": activation_id, "ActivationCode": code}


def _output(row: Any, now: float) -> Params:
    item: Params = {"ActivationId": row["activation_id"], "IamRole": row["iam_role"],
                    "RegistrationLimit": row["registration_limit"], "RegistrationsCount": row["registrations_count"],
                    "ExpirationDate": row["expires_at"], "Expired": row["expires_at"] <= now,
                    "CreatedDate": row["created_at"], "Tags": tag_list(row["tags"])}
    for key, column in (("Description", "description"), ("DefaultInstanceName", "default_instance_name")):
        if row[column]:
            item[key] = row[column]
    return item


@api.operation("DescribeActivations")
def describe_activations(ctx: RequestContext, params: Params) -> Params:
    query = select(activations).where(activations.c.account_id == ctx.account_id, activations.c.region == ctx.region)
    for chosen in params.get("Filters", []):
        column = _FILTER_KEYS.get(chosen.get("FilterKey", ""))
        if column is None:
            raise InvalidFilter(f"The filter key {chosen.get('FilterKey')} is not valid. Valid filter keys: "
                                f"{', '.join(_FILTER_KEYS)}.")
        query = query.where(activations.c[column].in_(chosen.get("FilterValues", [])))
    size = names.check_max_results(params.get("MaxResults"), 50)
    after = names.decode_token(params.get("NextToken"))
    if after is not None:
        query = query.where(activations.c.activation_id > after)
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(query.order_by(activations.c.activation_id).limit(size + 1)).mappings().all()
    now = time.time()
    output: Params = {"ActivationList": [_output(row, now) for row in rows[:size]]}
    if len(rows) > size:
        output["NextToken"] = names.encode_token(rows[size - 1]["activation_id"])
    return output


@api.operation("DeleteActivation")
def delete_activation(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        deleted = conn.execute(delete(activations).where(
            activations.c.activation_id == params["ActivationId"], activations.c.account_id == ctx.account_id,
            activations.c.region == ctx.region)).rowcount
    if not deleted:
        raise InvalidActivationId(f"Activation ID {params['ActivationId']} is not valid. Verify the ID and try "
                                  "again.")
    return {}
