"""Scheduled actions: Put/BatchPut/Describe/Delete/BatchDelete, and running the due ones (the reconciler calls
:func:`run_due` for each group every round).

https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scheduled-scaling.html
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert, select, update

from controller.api import RequestContext
from controller.autoscaling import capacity, cron, records, state
from controller.autoscaling.errors import AlreadyExists, ValidationError
from controller.autoscaling.group_instances import set_desired
from controller.autoscaling.records import Group
from controller.autoscaling.service import api


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def first_run(document: dict[str, Any], now: dt.datetime) -> float | None:
    """When a scheduled action runs first (pure): StartTime, or the recurrence's next time after it/now."""
    start = _time(document.get("StartTime"))
    end = _time(document.get("EndTime"))
    if document.get("Recurrence"):
        after = max(start - dt.timedelta(seconds=1), now) if start else now
        when = cron.next_run(document["Recurrence"], after, document.get("TimeZone"))
    else:
        when = start or now
    if when is None or (end and when > end):
        return None
    return when.timestamp()


def _store(conn: Any, ctx: RequestContext, group: Group, params: dict[str, Any]) -> None:
    name = params["ScheduledActionName"]
    start = _time(params.get("StartTime") or params.get("Time"))
    end = _time(params.get("EndTime"))
    now = dt.datetime.now(dt.UTC)
    if all(params.get(key) is None for key in ("MinSize", "MaxSize", "DesiredCapacity")):
        raise ValidationError("At least one of MinSize, MaxSize or DesiredCapacity must be specified")
    if start and end and end <= start:
        raise ValidationError("The end time must be after the start time")
    if start and not params.get("Recurrence") and start < now - dt.timedelta(minutes=1):
        raise ValidationError("Given start time is in the past")
    if params.get("Recurrence"):
        cron.parse(params["Recurrence"])
    cron.zone(params.get("TimeZone"))
    low, high = params.get("MinSize"), params.get("MaxSize")
    if low is not None and high is not None and low > high:
        raise ValidationError(f"Max bound, {high}, must be greater than or equal to min bound, {low}")
    existing = conn.execute(select(state.scheduled_actions.c.arn).where(
        state.scheduled_actions.c.group_arn == group.arn, state.scheduled_actions.c.name == name)).scalar()
    arn = existing or (f"arn:{ctx.cloud.config.partition}:autoscaling:{ctx.region}:{ctx.account_id}:"
                       f"scheduledUpdateGroupAction:{records.uuid.uuid4()}:autoScalingGroupName/{group.name}:"
                       f"scheduledActionName/{name}")
    document: dict[str, Any] = {"AutoScalingGroupName": group.name, "ScheduledActionName": name,
                                "ScheduledActionARN": arn}
    for member in ("Recurrence", "MinSize", "MaxSize", "DesiredCapacity", "TimeZone"):
        if params.get(member) is not None:
            document[member] = params[member]
    if start:
        document["StartTime"] = document["Time"] = start.isoformat()
    if end:
        document["EndTime"] = end.isoformat()
    next_run = first_run(document, now)
    if existing:
        conn.execute(update(state.scheduled_actions).where(state.scheduled_actions.c.arn == arn).values(
            document=document, next_run=next_run))
    else:
        conn.execute(insert(state.scheduled_actions).values(arn=arn, group_arn=group.arn, name=name,
                                                            document=document, next_run=next_run))
    records.changed(conn)


@api.operation("PutScheduledUpdateGroupAction", resources=records.group_resources)
def put_scheduled_update_group_action(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        _store(conn, ctx, records.require_group(conn, ctx, params["AutoScalingGroupName"]), params)
    return {}


@api.operation("BatchPutScheduledUpdateGroupAction", resources=records.group_resources)
def batch_put(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    failed = []
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        for action in params["ScheduledUpdateGroupActions"]:
            try:
                _store(conn, ctx, group, action)
            except (ValidationError, AlreadyExists) as refused:
                failed.append({"ScheduledActionName": action["ScheduledActionName"], "ErrorCode": refused.code,
                               "ErrorMessage": refused.message})
    return {"FailedScheduledUpdateGroupActions": failed}


def _output(document: dict[str, Any]) -> dict[str, Any]:
    out = dict(document)
    for member in ("StartTime", "Time", "EndTime"):
        if member in out:
            out[member] = _time(out[member])
    return out


@api.operation("DescribeScheduledActions", resources=records.group_resources)
def describe_scheduled_actions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = params.get("ScheduledActionNames") or []
    with ctx.cloud.db.read() as conn:
        groups = {group.arn for group in records.all_groups(conn)
                  if group.account_id == ctx.account_id and group.region == ctx.region}
        if params.get("AutoScalingGroupName"):
            groups = {records.require_group(conn, ctx, params["AutoScalingGroupName"]).arn}
        rows = [row for row in conn.execute(select(state.scheduled_actions).order_by(
            state.scheduled_actions.c.name)).mappings() if row["group_arn"] in groups]
    start, end = _time(params.get("StartTime")), _time(params.get("EndTime"))
    found = [_output(row["document"]) for row in rows if (not names or row["name"] in names)
             and (not start or (row["next_run"] or 0) >= start.timestamp())
             and (not end or (row["next_run"] or 0) <= end.timestamp())]
    chunk, token = records.page(found, params)
    return {"ScheduledUpdateGroupActions": chunk, **({"NextToken": token} if token else {})}


@api.operation("DeleteScheduledAction", resources=records.group_resources)
def delete_scheduled_action(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        gone = conn.execute(delete(state.scheduled_actions).where(
            state.scheduled_actions.c.group_arn == group.arn,
            state.scheduled_actions.c.name == params["ScheduledActionName"])).rowcount
        if not gone:
            raise ValidationError(f"Scheduled action name not found - Could not find scheduled action "
                                  f"{params['ScheduledActionName']}")
    return {}


@api.operation("BatchDeleteScheduledAction", resources=records.group_resources)
def batch_delete(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    failed = []
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        for name in params["ScheduledActionNames"]:
            gone = conn.execute(delete(state.scheduled_actions).where(
                state.scheduled_actions.c.group_arn == group.arn, state.scheduled_actions.c.name == name)).rowcount
            if not gone:
                failed.append({"ScheduledActionName": name, "ErrorCode": "ValidationError",
                               "ErrorMessage": f"Could not find scheduled action {name}"})
    return {"FailedScheduledActions": failed}


def run_due(cloud: Any, group: Group) -> bool:
    """Apply the group's due scheduled actions (unless ScheduledActions is suspended); whether any ran."""
    if group.suspended("ScheduledActions"):
        return False
    now = records.now()
    with cloud.db.read() as conn:
        due = list(conn.execute(select(state.scheduled_actions).where(
            state.scheduled_actions.c.group_arn == group.arn, state.scheduled_actions.c.next_run.is_not(None),
            state.scheduled_actions.c.next_run <= now)).mappings())
    if not due:
        return False
    with cloud.db.begin() as conn:
        current = records.group_by_arn(conn, group.arn)
        if current is None:
            return False
        for row in due:
            document = row["document"]
            low = document.get("MinSize", current.document["MinSize"])
            high = document.get("MaxSize", current.document["MaxSize"])
            desired = document.get("DesiredCapacity", capacity.clamp(current.desired, low, high))
            desired = capacity.clamp(desired, low, high)
            current.document.update(MinSize=low, MaxSize=high)
            set_desired(current, desired, f"a scheduled action update of AutoScalingGroup constraints to min: "
                                          f"{low}, max: {high}, desired: {desired}")
            if document.get("Recurrence"):
                later = first_run(document, dt.datetime.fromtimestamp(now, dt.UTC))
                conn.execute(update(state.scheduled_actions).where(state.scheduled_actions.c.arn == row["arn"])
                             .values(next_run=later))
            else:
                conn.execute(delete(state.scheduled_actions).where(state.scheduled_actions.c.arn == row["arn"]))
        records.save_group(conn, current)
    return True
