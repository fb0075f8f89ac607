"""Fair-share scheduling policies: Create/Update/Delete/Describe/ListSchedulingPolicies.

A policy is only its fairsharePolicy (how long usage counts, how much vCPU to hold back for share
identifiers not yet seen, and each share's weight); the scheduler of the jobs code reads it through
``resolve.scheduling_policy``. Ranges are AWS's
(https://docs.aws.amazon.com/batch/latest/APIReference/API_FairsharePolicy.html).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, insert, select, update

from controller.api import RequestContext
from controller.batch import job_queues, records, resolve, state
from controller.batch.errors import ClientException
from controller.batch.service import api

KIND = "scheduling-policy"
MAX_SHARE_DECAY_SECONDS = 604800
MAX_COMPUTE_RESERVATION = 99
MAX_SHARES = 500
#: Up to 255 letters and digits, optionally ending in ``*`` (a prefix that covers every identifier it starts).
SHARE_IDENTIFIER = re.compile(r"^[A-Za-z0-9]{1,255}\*?$|^\*$")


def _arn_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [params["arn"]] if params.get("arn") else ["*"]


def not_found(arn: str) -> ClientException:
    return ClientException(f"schedulingPolicy {arn} does not exist")


def check_fairshare(policy: Any) -> dict[str, Any]:
    """A FairsharePolicy as stored, or ClientException naming what is out of range."""
    if policy is None:
        return {}
    if not isinstance(policy, dict):
        raise ClientException("fairsharePolicy must be a structure")
    out: dict[str, Any] = {}
    decay = policy.get("shareDecaySeconds")
    if decay is not None:
        if not isinstance(decay, int) or not 0 <= decay <= MAX_SHARE_DECAY_SECONDS:
            raise ClientException(f"shareDecaySeconds must be between 0 and {MAX_SHARE_DECAY_SECONDS}")
        out["shareDecaySeconds"] = decay
    reservation = policy.get("computeReservation")
    if reservation is not None:
        if not isinstance(reservation, int) or not 0 <= reservation <= MAX_COMPUTE_RESERVATION:
            raise ClientException(f"computeReservation must be between 0 and {MAX_COMPUTE_RESERVATION}")
        out["computeReservation"] = reservation
    shares = policy.get("shareDistribution")
    if shares is not None:
        if len(shares) > MAX_SHARES:
            raise ClientException(f"shareDistribution can contain at most {MAX_SHARES} share identifiers")
        seen: set[str] = set()
        stored = []
        for share in shares:
            identifier = share.get("shareIdentifier")
            if not isinstance(identifier, str) or not SHARE_IDENTIFIER.match(identifier):
                raise ClientException(f"shareIdentifier {identifier} is not valid: it must be up to 255 "
                                      "alphanumeric characters, optionally followed by an asterisk (*)")
            if identifier in seen:
                raise ClientException(f"shareIdentifier {identifier} is specified more than once")
            seen.add(identifier)
            entry: dict[str, Any] = {"shareIdentifier": identifier}
            weight = share.get("weightFactor")
            if weight is not None:
                if not isinstance(weight, int | float) or not 0.0001 <= weight <= 999.9999:
                    raise ClientException("weightFactor must be between 0.0001 and 999.9999")
                entry["weightFactor"] = float(weight)
            stored.append(entry)
        out["shareDistribution"] = stored
    return out


def _no_quota_share(params: dict[str, Any]) -> None:
    if params.get("quotaSharePolicy"):
        raise ClientException("quotaSharePolicy is not supported; use fairsharePolicy")


@api.operation("CreateSchedulingPolicy",
               resources=lambda ctx, params: [records.arn(ctx, KIND, params.get("name") or "*")])
def create_scheduling_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = records.check_name(params.get("name"), "name")
    _no_quota_share(params)
    tags = records.check_tags(params.get("tags"))
    arn = records.arn(ctx, KIND, name)
    document = {"name": name, "arn": arn, "fairsharePolicy": check_fairshare(params.get("fairsharePolicy"))}
    with ctx.cloud.db.begin() as conn:
        if resolve.scheduling_policy_row(conn, ctx.account_id, ctx.region, arn) is not None:
            raise ClientException("Object already exists")
        conn.execute(insert(state.scheduling_policies).values(
            arn=arn, account_id=ctx.account_id, region=ctx.region, name=name, document=document,
            created_at=records.now()))
        records.put_tags(conn, arn, ctx.account_id, tags)
    ctx.audit_resources.append(arn)
    return {"name": name, "arn": arn}


@api.operation("UpdateSchedulingPolicy", resources=_arn_resources)
def update_scheduling_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = params.get("arn") or ""
    _no_quota_share(params)
    fairshare = check_fairshare(params.get("fairsharePolicy"))
    with ctx.cloud.db.begin() as conn:
        row = resolve.scheduling_policy_row(conn, ctx.account_id, ctx.region, arn)
        if row is None:
            raise not_found(arn)
        document = {**row["document"], "fairsharePolicy": fairshare}
        conn.execute(update(state.scheduling_policies).where(state.scheduling_policies.c.arn == row["arn"])
                     .values(document=document))
    return {}


@api.operation("DeleteSchedulingPolicy", resources=_arn_resources)
def delete_scheduling_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = params.get("arn") or ""
    with ctx.cloud.db.begin() as conn:
        row = resolve.scheduling_policy_row(conn, ctx.account_id, ctx.region, arn)
        if row is None:
            raise not_found(arn)
        if job_queues.uses_policy(conn, row["arn"], ctx.account_id, ctx.region):
            raise ClientException("Cannot delete, found existing JobQueue relationship")
        conn.execute(delete(state.scheduling_policies).where(state.scheduling_policies.c.arn == row["arn"]))
        records.drop_tags(conn, row["arn"])
    return {}


@api.operation("DescribeSchedulingPolicies")
def describe_scheduling_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arns = params.get("arns") or []
    if not arns:
        raise ClientException("arns must contain at least one scheduling policy ARN")
    if len(arns) > 100:
        raise ClientException("arns can contain at most 100 items")
    with ctx.cloud.db.read() as conn:
        found = [resolve.scheduling_policy(conn, ctx.account_id, ctx.region, arn) for arn in dict.fromkeys(arns)]
    return {"schedulingPolicies": [policy for policy in found if policy is not None]}


@api.operation("ListSchedulingPolicies")
def list_scheduling_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    table = state.scheduling_policies
    with ctx.cloud.db.read() as conn:
        arns = [row.arn for row in conn.execute(select(table.c.arn).where(
            table.c.account_id == ctx.account_id, table.c.region == ctx.region).order_by(table.c.name))]
    chunk, token = records.page(arns, params)
    out: dict[str, Any] = {"schedulingPolicies": [{"arn": arn} for arn in chunk]}
    if token:
        out["nextToken"] = token
    return out
