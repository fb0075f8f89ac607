"""Rows of groups, instances and activities, and how they read back in AWS's shapes.

Everything that reads or writes a group goes through here, so the document layout (``state.py``) is known
in one place: a group is its AutoScalingGroup shape plus a few internal ``_`` members.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from controller.api import RequestContext
from controller.autoscaling import state
from controller.autoscaling.capacity import Member
from controller.autoscaling.errors import InvalidNextToken, no_group
from controller.errors import ValidationError
from controller.state import Database

#: The lifecycle states that count toward a group's capacity.
COUNTED = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")
LEAVING = ("Terminating", "Terminating:Wait", "Terminating:Proceed", "Detaching")


def now() -> float:
    return time.time()


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def group_arn(ctx: RequestContext, name: str) -> str:
    return (f"arn:{ctx.cloud.config.partition}:autoscaling:{ctx.region}:{ctx.account_id}:autoScalingGroup:"
            f"{uuid.uuid4()}:autoScalingGroupName/{name}")


def group_arn_pattern(ctx: RequestContext, name: str) -> str:
    """What IAM authorizes group operations against (the id part is not known from the name alone)."""
    return f"arn:{ctx.cloud.config.partition}:autoscaling:{ctx.region}:{ctx.account_id}:autoScalingGroup:*:" \
           f"autoScalingGroupName/{name}"


def group_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    name = params.get("AutoScalingGroupName")
    return [group_arn_pattern(ctx, name)] if name else ["*"]


@dataclass
class Group:
    arn: str
    account_id: str
    region: str
    name: str
    document: dict[str, Any]
    created_at: float
    status: str | None
    cooldown_until: float
    pending_cause: str

    @property
    def desired(self) -> int:
        return int(self.document["DesiredCapacity"])

    @property
    def zones(self) -> list[str]:
        return list(self.document.get("AvailabilityZones") or [])

    @property
    def subnets(self) -> dict[str, list[str]]:
        return dict(self.document.get("_subnets") or {})

    def suspended(self, process: str) -> bool:
        return any(item["ProcessName"] == process for item in self.document.get("SuspendedProcesses") or [])

    @property
    def mixed(self) -> dict[str, Any] | None:
        return self.document.get("MixedInstancesPolicy")


def _group(row: RowMapping) -> Group:
    return Group(row["arn"], row["account_id"], row["region"], row["name"], row["document"], row["created_at"],
                 row["status"], row["cooldown_until"], row["pending_cause"])


def find_group(conn: Connection, account_id: str, region: str, name: str) -> Group | None:
    row = conn.execute(select(state.groups).where(
        state.groups.c.account_id == account_id, state.groups.c.region == region,
        state.groups.c.name == name)).mappings().first()
    return _group(row) if row else None


def require_group(conn: Connection, ctx: RequestContext, name: str) -> Group:
    group = find_group(conn, ctx.account_id, ctx.region, name)
    if group is None:
        raise no_group(name)
    return group


def group_by_arn(conn: Connection, arn: str) -> Group | None:
    row = conn.execute(select(state.groups).where(state.groups.c.arn == arn)).mappings().first()
    return _group(row) if row else None


def all_groups(conn: Connection) -> list[Group]:
    return [_group(row) for row in conn.execute(select(state.groups).order_by(state.groups.c.name)).mappings()]


def save_group(conn: Connection, group: Group) -> None:
    conn.execute(update(state.groups).where(state.groups.c.arn == group.arn).values(
        document=group.document, status=group.status, cooldown_until=group.cooldown_until,
        pending_cause=group.pending_cause))
    changed(conn)


def changed(conn: Connection) -> None:
    """Wake this process's reconciler once the transaction commits."""
    Database.announce(conn, state.CHANGED_TOPIC)


def desired_change_cause(when: float, what: str, before: int, after: int) -> str:
    """The first sentence of AWS's Cause: who changed the desired capacity, from what to what."""
    return f"At {iso(when)} {what} changing the desired capacity from {before} to {after}."


def current_source(group: Group) -> str:
    """What instances launched now are launched from, as :func:`launched_from` names it."""
    document = group.document
    if document.get("LaunchConfigurationName"):
        return document["LaunchConfigurationName"]
    template = document.get("LaunchTemplate") or ((group.mixed or {}).get("LaunchTemplate") or {}).get(
        "LaunchTemplateSpecification") or {}
    return f"{template.get('LaunchTemplateId')}:{template.get('Version')}"


# -- instances --------------------------------------------------------------------------------------------
def group_instances(conn: Connection, arn: str) -> list[RowMapping]:
    return list(conn.execute(select(state.instances).where(state.instances.c.group_arn == arn)
                             .order_by(state.instances.c.instance_id)).mappings())


def member(row: RowMapping) -> Member:
    return Member(instance_id=row["instance_id"], zone=row["zone"], launched_at=row["launched_at"],
                  launched_from=launched_from(row), protected=row["protected"], spot=row["spot"],
                  instance_type=row["instance_type"] or "", subnet_id=row["subnet_id"] or "")


def launched_from(row: RowMapping | dict[str, Any]) -> str:
    template = row["launch_template"]
    if template:
        return f"{template.get('LaunchTemplateId')}:{template.get('Version')}"
    return row["launch_configuration"] or ""


def instance_output(row: RowMapping, *, group_name: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "InstanceId": row["instance_id"], "InstanceType": row["instance_type"] or "",
        "AvailabilityZone": row["zone"], "LifecycleState": row["lifecycle_state"],
        "HealthStatus": row["health_status"], "ProtectedFromScaleIn": row["protected"]}
    if group_name is not None:
        out["AutoScalingGroupName"] = group_name
    if row["launch_configuration"]:
        out["LaunchConfigurationName"] = row["launch_configuration"]
    if row["launch_template"]:
        out["LaunchTemplate"] = row["launch_template"]
    return out


def set_instance(conn: Connection, instance_id: str, **values: Any) -> None:
    conn.execute(update(state.instances).where(state.instances.c.instance_id == instance_id).values(**values))
    changed(conn)


# -- activities -------------------------------------------------------------------------------------------
def start_activity(conn: Connection, group: Group, description: str, cause: str, *, status: str = "InProgress",
                   progress: int = 0, details: dict[str, Any] | None = None, message: str | None = None,
                   finished: bool = False) -> str:
    activity_id = str(uuid.uuid4())
    started = now()
    conn.execute(insert(state.activities).values(
        activity_id=activity_id, group_arn=group.arn, account_id=group.account_id, region=group.region,
        group_name=group.name, description=description, cause=cause, status_code=status, status_message=message,
        progress=progress, details=json.dumps(details or {"Subnet ID": "", "Availability Zone": ""}),
        start_time=started, end_time=started if finished else None))
    return activity_id


def finish_activity(conn: Connection, activity_id: str | None, status: str = "Successful",
                    message: str | None = None) -> None:
    if not activity_id:
        return
    values: dict[str, Any] = {"status_code": status, "progress": 100, "end_time": now()}
    if message is not None:
        values["status_message"] = message
    conn.execute(update(state.activities).where(state.activities.c.activity_id == activity_id,
                                                state.activities.c.end_time.is_(None)).values(**values))


def update_activity(conn: Connection, activity_id: str | None, **values: Any) -> None:
    if activity_id:
        conn.execute(update(state.activities).where(state.activities.c.activity_id == activity_id).values(**values))


def activity_output(row: RowMapping, group_arn: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ActivityId": row["activity_id"], "AutoScalingGroupName": row["group_name"],
        "Description": row["description"], "Cause": row["cause"], "StartTime": timestamp(row["start_time"]),
        "StatusCode": row["status_code"], "Progress": row["progress"], "Details": row["details"]}
    if group_arn:
        out["AutoScalingGroupARN"] = row["group_arn"]
    else:
        out["AutoScalingGroupState"] = "Deleted"
    if row["end_time"] is not None:
        out["EndTime"] = timestamp(row["end_time"])
    if row["status_message"]:
        out["StatusMessage"] = row["status_message"]
    return out


# -- paging -----------------------------------------------------------------------------------------------
def encode_token(position: int | str) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def decode_token(token: str | None, kind: type = int) -> Any:
    if not token:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError):
        raise InvalidNextToken("The token is invalid.") from None
    if not isinstance(value, kind):
        raise InvalidNextToken("The token is invalid.")
    return value


def page(items: list[Any], params: dict[str, Any], *, default: int = 50, limit: int = 100) -> tuple[list[Any],
                                                                                                    str | None]:
    """A page of ``items`` by MaxRecords and NextToken (an offset), and the next token."""
    size = params.get("MaxRecords") or default
    if size < 1 or size > limit:
        raise ValidationError(f"MaxRecords must be between 1 and {limit}")
    start = decode_token(params.get("NextToken")) or 0
    chunk = items[start:start + size]
    return chunk, encode_token(start + size) if start + size < len(items) else None
