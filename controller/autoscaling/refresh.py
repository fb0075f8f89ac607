"""Instance refresh: StartInstanceRefresh, DescribeInstanceRefreshes, CancelInstanceRefresh, and the rounds the
reconciler runs (:func:`advance`).

A refresh replaces the group's instances in batches small enough to keep MinHealthyPercentage of the desired
capacity InService: it takes a batch out of service (the reconciler's capacity rule launches the replacements
from the group's current configuration) and waits until the group is whole again and the warmup passed before
the next. https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from sqlalchemy import insert, select, update

from controller.api import RequestContext
from controller.autoscaling import launch_sources, launching, records, state
from controller.autoscaling.errors import (
    ActiveInstanceRefreshNotFound,
    InstanceRefreshInProgress,
    ValidationError,
)
from controller.autoscaling.records import COUNTED, Group
from controller.autoscaling.service import api

ACTIVE = ("Pending", "InProgress", "Cancelling")


def batch_size(desired: int, min_healthy: int) -> int:
    """How many instances one round replaces (pure): what MinHealthyPercentage leaves, at least one."""
    return max(1, desired - math.ceil(desired * min_healthy / 100))


def _active(conn: Any, group_arn: str) -> Any:
    for row in conn.execute(select(state.refreshes).where(state.refreshes.c.group_arn == group_arn)
                            .order_by(state.refreshes.c.started_at.desc())).mappings():
        if row["document"]["Status"] in ACTIVE:
            return row
    return None


@api.operation("StartInstanceRefresh", resources=records.group_resources)
def start_instance_refresh(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if (params.get("Strategy") or "Rolling") != "Rolling":
        raise ValidationError(f"Invalid instance refresh strategy: {params['Strategy']}")
    preferences = {"MinHealthyPercentage": 90, "SkipMatching": False, "ScaleInProtectedInstances": "Ignore",
                   "StandbyInstances": "Ignore", "AutoRollback": False, **(params.get("Preferences") or {})}
    if not 0 <= preferences["MinHealthyPercentage"] <= 100:
        raise ValidationError("MinHealthyPercentage must be between 0 and 100")
    with ctx.cloud.db.read() as conn:
        records.require_group(conn, ctx, params["AutoScalingGroupName"])
    desired_config = params.get("DesiredConfiguration") or {}
    source = launch_sources.check_source(ctx.cloud, ctx.account_id, ctx.region, desired_config, required=False) \
        if desired_config else {}
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        if _active(conn, group.arn) is not None:
            raise InstanceRefreshInProgress(f"An Instance Refresh is already in progress and blocks the execution "
                                            f"of this Instance Refresh for the AutoScalingGroup {group.name}.")
        if source:
            for key in ("LaunchConfigurationName", "LaunchTemplate", "MixedInstancesPolicy"):
                group.document.pop(key, None)
            group.document.update(source)
            records.save_group(conn, group)
        current = records.current_source(group)
        rows = [row for row in records.group_instances(conn, group.arn) if row["lifecycle_state"] in COUNTED]
        pending = [row["instance_id"] for row in rows
                   if not (preferences["SkipMatching"] and records.launched_from(row) == current)
                   and not (row["protected"] and preferences["ScaleInProtectedInstances"] == "Ignore")]
        refresh_id = str(uuid.uuid4())
        document = {"InstanceRefreshId": refresh_id, "AutoScalingGroupName": group.name, "Status": "Pending",
                    "StatusReason": "Waiting for the instance refresh to start.", "PercentageComplete": 0,
                    "InstancesToUpdate": len(pending), "Preferences": preferences, "Strategy": "Rolling",
                    "_pending": pending, "_total": len(pending), "_batch_at": 0.0}
        if desired_config:
            document["DesiredConfiguration"] = desired_config
        conn.execute(insert(state.refreshes).values(refresh_id=refresh_id, group_arn=group.arn, document=document,
                                                    started_at=records.now()))
        records.changed(conn)
    return {"InstanceRefreshId": refresh_id}


def _output(row: Any) -> dict[str, Any]:
    document = row["document"]
    out = {key: value for key, value in document.items() if not key.startswith("_")}
    out["StartTime"] = records.timestamp(row["started_at"])
    if document.get("_ended_at"):
        out["EndTime"] = records.timestamp(document["_ended_at"])
    return out


@api.operation("DescribeInstanceRefreshes", resources=records.group_resources)
def describe_instance_refreshes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ids = params.get("InstanceRefreshIds") or []
    with ctx.cloud.db.read() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        rows = [row for row in conn.execute(select(state.refreshes).where(state.refreshes.c.group_arn == group.arn)
                                            .order_by(state.refreshes.c.started_at.desc())).mappings()
                if not ids or row["refresh_id"] in ids]
    chunk, token = records.page(rows, params)
    return {"InstanceRefreshes": [_output(row) for row in chunk], **({"NextToken": token} if token else {})}


@api.operation("CancelInstanceRefresh", resources=records.group_resources)
def cancel_instance_refresh(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        row = _active(conn, group.arn)
        if row is None:
            raise ActiveInstanceRefreshNotFound(f"No in progress or pending Instance Refresh found for Auto Scaling "
                                                f"group {group.name}")
        document = {**row["document"], "Status": "Cancelled", "StatusReason": "Cancelled by a user request.",
                    "_ended_at": records.now()}
        conn.execute(update(state.refreshes).where(state.refreshes.c.refresh_id == row["refresh_id"])
                     .values(document=document))
    return {"InstanceRefreshId": row["refresh_id"]}


def advance(cloud: Any, group: Group) -> None:
    """One round of the group's active refresh: finish it, or take the next batch out of service once the
    group is whole and warmed up (InstanceRefresh may be suspended)."""
    if group.suspended("InstanceRefresh"):
        return
    with cloud.db.read() as conn:
        if _active(conn, group.arn) is None:
            return      # the common case, without a write transaction
    with cloud.db.begin() as conn:
        row = _active(conn, group.arn)
        if row is None:
            return
        document = dict(row["document"])
        rows = records.group_instances(conn, group.arn)
        present = {r["instance_id"] for r in rows}
        pending = [instance_id for instance_id in document["_pending"] if instance_id in present]
        in_service = [r for r in rows if r["lifecycle_state"] == "InService" and r["health_status"] == "Healthy"]
        settling = [r for r in rows if r["lifecycle_state"] not in ("InService", "Standby")]
        warmup = float(document["Preferences"].get("InstanceWarmup")
                       or group.document.get("DefaultInstanceWarmup") or 0)
        now = records.now()
        total = max(1, document["_total"])
        document["PercentageComplete"] = int(100 * (total - len(pending)) / total) if document["_total"] else 100
        document["InstancesToUpdate"] = len(pending)
        if not pending and not settling and len(in_service) >= group.desired:
            document.update(Status="Successful", StatusReason="", PercentageComplete=100, _ended_at=now)
        elif pending and not settling and len(in_service) >= group.desired and now >= document["_batch_at"] + warmup:
            size = batch_size(group.desired, document["Preferences"]["MinHealthyPercentage"])
            at = records.iso(now)
            for instance_id in pending[:size]:
                member = next(r for r in rows if r["instance_id"] == instance_id)
                launching.begin_termination(conn, group, member, f"At {at} an instance was taken out of service in "
                                            "response to an instance refresh.  At {at} instance "
                                            f"{instance_id} was selected for termination.".replace("{at}", at))
            document.update(Status="InProgress", StatusReason="", _batch_at=now,
                            _pending=[i for i in pending if i not in pending[:size]])
        elif document["Status"] == "Pending":
            document.update(Status="InProgress", StatusReason="")
        conn.execute(update(state.refreshes).where(state.refreshes.c.refresh_id == row["refresh_id"])
                     .values(document=document))
