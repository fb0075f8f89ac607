"""Operations on a group's instances: desired capacity, termination, protection, health, attach/detach and
standby, and DescribeAutoScalingInstances.

https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetDesiredCapacity.html and its neighbours.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select

from controller.api import RequestContext
from controller.autoscaling import calls, launching, records, state
from controller.autoscaling.errors import ScalingActivityInProgress, ValidationError
from controller.autoscaling.records import COUNTED, Group
from controller.autoscaling.service import api


def set_desired(group: Group, desired: int, what: str) -> None:
    """Change the desired capacity, recording who did (the next activities' Cause)."""
    before = group.desired
    group.document["DesiredCapacity"] = desired
    group.pending_cause = records.desired_change_cause(records.now(), what, before, desired)


def _check_range(group: Group, desired: int) -> None:
    low, high = group.document["MinSize"], group.document["MaxSize"]
    if desired > high:
        raise ValidationError(f"New SetDesiredCapacity value {desired} is above max value {high} for the "
                              "AutoScalingGroup.")
    if desired < low:
        raise ValidationError(f"New SetDesiredCapacity value {desired} is below min value {low} for the "
                              "AutoScalingGroup.")


@api.operation("SetDesiredCapacity", resources=records.group_resources)
def set_desired_capacity(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    desired = params["DesiredCapacity"]
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        _check_range(group, desired)
        now = records.now()
        if params.get("HonorCooldown") and now < group.cooldown_until:
            raise ScalingActivityInProgress(f"The scaling activity for the AutoScalingGroup {group.name} is in "
                                            "cooldown, try again later.")
        if desired != group.desired:
            set_desired(group, desired, "a user request explicitly set group desired capacity")
            if params.get("HonorCooldown"):
                group.cooldown_until = now + float(group.document.get("DefaultCooldown") or 0)
        records.save_group(conn, group)
    return {}


def _group_of_instance(conn: Any, ctx: RequestContext, instance_id: str) -> tuple[Group, Any]:
    row = conn.execute(select(state.instances).where(state.instances.c.instance_id == instance_id)).mappings().first()
    group = records.group_by_arn(conn, row["group_arn"]) if row else None
    if row is None or group is None or group.account_id != ctx.account_id or group.region != ctx.region:
        raise ValidationError(f"Instance Id not found - No managed instance found for instance ID: {instance_id}")
    return group, row


def _instances_of(conn: Any, group: Group, instance_ids: list[str]) -> list[Any]:
    rows = {row["instance_id"]: row for row in records.group_instances(conn, group.arn)}
    missing = [instance_id for instance_id in instance_ids if instance_id not in rows]
    if missing:
        raise ValidationError(f"The instance {missing[0]} is not part of Auto Scaling group {group.name}.")
    return [rows[instance_id] for instance_id in instance_ids]


@api.operation("TerminateInstanceInAutoScalingGroup")
def terminate_instance(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    instance_id = params.get("InstanceId")
    if not instance_id:
        raise ValidationError("1 validation error detected: Value null at 'instanceId' failed to satisfy "
                              "constraint: Member must not be null")
    decrement = params["ShouldDecrementDesiredCapacity"]
    with ctx.cloud.db.begin() as conn:
        group, row = _group_of_instance(conn, ctx, instance_id)
        if row["lifecycle_state"] in records.LEAVING:
            raise ScalingActivityInProgress(f"The instance {instance_id} is already being terminated.")
        size = sum(1 for other in records.group_instances(conn, group.arn) if other["lifecycle_state"] in COUNTED)
        at = records.iso(records.now())
        if decrement:
            if group.desired - 1 < group.document["MinSize"]:
                raise ValidationError(f"Currently, desiredCapacity is {group.desired} and minSize is "
                                      f"{group.document['MinSize']}. Terminating instance without replacement "
                                      "will violate group's min size constraint. Either set shouldDecrement"
                                      "DesiredCapacity flag to false or lower group's min size.")
            set_desired(group, group.desired - 1, "a user request explicitly set group desired capacity")
            cause = f"At {at} instance {instance_id} taken out of service in response to a user request, " \
                    f"shrinking the capacity from {size} to {size - 1}."
        else:
            cause = f"At {at} instance {instance_id} taken out of service in response to a user request."
        launching.begin_termination(conn, group, row, cause)
        activity = conn.execute(select(state.instances.c.activity_id).where(
            state.instances.c.instance_id == instance_id)).scalar_one()
        records.save_group(conn, group)
        activity_row = conn.execute(select(state.activities).where(
            state.activities.c.activity_id == activity)).mappings().one()
    return {"Activity": records.activity_output(activity_row, group.arn)}


@api.operation("SetInstanceProtection", resources=records.group_resources)
def set_instance_protection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        for row in _instances_of(conn, group, params["InstanceIds"]):
            records.set_instance(conn, row["instance_id"], protected=params["ProtectedFromScaleIn"])
    return {}


@api.operation("SetInstanceHealth")
def set_instance_health(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    status = params["HealthStatus"]
    if status not in ("Healthy", "Unhealthy"):
        raise ValidationError(f"Valid values for HealthStatus are Healthy and Unhealthy, not {status}")
    with ctx.cloud.db.begin() as conn:
        group, row = _group_of_instance(conn, ctx, params["InstanceId"])
        grace = float(group.document.get("HealthCheckGracePeriod") or 0)
        if params.get("ShouldRespectGracePeriod", True) and status == "Unhealthy" and \
                records.now() - row["launched_at"] < grace:
            return {}
        records.set_instance(conn, row["instance_id"], health_status=status)
    return {}


@api.operation("DescribeAutoScalingInstances")
def describe_auto_scaling_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    wanted = params.get("InstanceIds") or []
    with ctx.cloud.db.read() as conn:
        groups = {group.arn: group for group in records.all_groups(conn)
                  if group.account_id == ctx.account_id and group.region == ctx.region}
        query = select(state.instances).order_by(state.instances.c.instance_id)
        if wanted:
            query = query.where(state.instances.c.instance_id.in_(wanted))
        rows = [row for row in conn.execute(query).mappings() if row["group_arn"] in groups]
    chunk, token = records.page(rows, params)
    out: dict[str, Any] = {"AutoScalingInstances": [
        records.instance_output(row, group_name=groups[row["group_arn"]].name) for row in chunk]}
    if token:
        out["NextToken"] = token
    return out


@api.operation("AttachInstances", resources=records.group_resources)
def attach_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ids = params.get("InstanceIds") or []
    with ctx.cloud.db.read() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        taken = {row[0] for row in conn.execute(select(state.instances.c.instance_id).where(
            state.instances.c.instance_id.in_(ids)))}
    if taken:
        raise ValidationError(f"The instance {sorted(taken)[0]} is already part of an Auto Scaling group.")
    seen = calls.describe_instances(ctx.cloud, ctx.account_id, ids)
    subnets = {subnet for ids_ in group.subnets.values() for subnet in ids_}
    for instance_id in ids:
        instance = seen.get(instance_id)
        if instance is None or instance["State"]["Name"] != "running":
            raise ValidationError(f"Instance {instance_id} is not in correct state. Valid instance states are: "
                                  "running")
        if instance.get("SubnetId") not in subnets and instance["Placement"]["AvailabilityZone"] not in group.zones:
            raise ValidationError(f"Instance {instance_id} is not in a subnet of the group's VPCZoneIdentifier.")
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        if group.desired + len(ids) > group.document["MaxSize"]:
            raise ValidationError(f"Attaching {len(ids)} instance(s) to the group would exceed its max size of "
                                  f"{group.document['MaxSize']}.")
        set_desired(group, group.desired + len(ids), "an instance was attached to the group")
        at = records.iso(records.now())
        for instance_id in ids:
            instance = seen[instance_id]
            activity = records.start_activity(
                conn, group, f"Attaching an existing EC2 instance: {instance_id}",
                f"At {at} a user request AttachInstances operation attached instance {instance_id}.", progress=50)
            conn.execute(insert(state.instances).values(
                instance_id=instance_id, group_arn=group.arn, zone=instance["Placement"]["AvailabilityZone"],
                subnet_id=instance.get("SubnetId"), lifecycle_state="Pending:Proceed", health_status="Healthy",
                protected=bool(group.document.get("NewInstancesProtectedFromScaleIn")), launch_configuration=None,
                launch_template=None, instance_type=instance["InstanceType"], image_id=instance["ImageId"],
                spot=instance.get("InstanceLifecycle") == "spot", launched_at=records.now(), activity_id=activity,
                hooks={}, registered=False))
        records.save_group(conn, group)
    return {}


def _user_request_activity(conn: Any, group: Any, row: Any, at: str, decrement: bool, description: str,
                           what_happened: str) -> Any:
    """The finished activity of an instance a user request took out of service (detach, standby)."""
    activity = records.start_activity(
        conn, group, f"{description}: {row['instance_id']}",
        f"At {at} instance {row['instance_id']} {what_happened} in response to a user request"
        + (", shrinking the capacity." if decrement else "."), status="Successful", progress=100, finished=True)
    return conn.execute(select(state.activities).where(state.activities.c.activity_id == activity)).mappings().one()


@api.operation("DetachInstances", resources=records.group_resources)
def detach_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    decrement = params["ShouldDecrementDesiredCapacity"]
    ids = params.get("InstanceIds") or []
    out = []
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        rows = _instances_of(conn, group, ids)
        if decrement:
            if group.desired - len(ids) < group.document["MinSize"]:
                raise ValidationError(f"Detaching {len(ids)} instance(s) with ShouldDecrementDesiredCapacity would "
                                      f"take the group below its min size of {group.document['MinSize']}.")
            set_desired(group, group.desired - len(ids), "a user request detached instances from the group")
        at = records.iso(records.now())
        for row in rows:
            out.append(_user_request_activity(conn, group, row, at, decrement, "Detaching EC2 instance",
                                              "was detached"))
            conn.execute(delete(state.instances).where(state.instances.c.instance_id == row["instance_id"]))
        records.save_group(conn, group)
    registered = [row["instance_id"] for row in rows if row["registered"]]
    calls.register_targets(ctx.cloud, ctx.account_id, group.document.get("TargetGroupARNs") or [], registered,
                           register=False)
    return {"Activities": [records.activity_output(row, group.arn) for row in out]}


@api.operation("EnterStandby", resources=records.group_resources)
def enter_standby(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    decrement = params["ShouldDecrementDesiredCapacity"]
    ids = params.get("InstanceIds") or []
    out = []
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        rows = _instances_of(conn, group, ids)
        for row in rows:
            if row["lifecycle_state"] != "InService":
                raise ValidationError(f"The instance {row['instance_id']} is not in InService.")
        if decrement:
            if group.desired - len(ids) < group.document["MinSize"]:
                raise ValidationError(f"Putting {len(ids)} instance(s) in standby with ShouldDecrementDesired"
                                      f"Capacity would take the group below its min size of "
                                      f"{group.document['MinSize']}.")
            set_desired(group, group.desired - len(ids), "a user request moved instances to standby")
        at = records.iso(records.now())
        for row in rows:
            out.append(_user_request_activity(conn, group, row, at, decrement, "Moving EC2 instance to Standby",
                                              "was moved to standby"))
            records.set_instance(conn, row["instance_id"], lifecycle_state="Standby", registered=False)
        records.save_group(conn, group)
    calls.register_targets(ctx.cloud, ctx.account_id, group.document.get("TargetGroupARNs") or [],
                           [row["instance_id"] for row in rows if row["registered"]], register=False)
    return {"Activities": [records.activity_output(row, group.arn) for row in out]}


@api.operation("ExitStandby", resources=records.group_resources)
def exit_standby(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ids = params.get("InstanceIds") or []
    out = []
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        rows = _instances_of(conn, group, ids)
        for row in rows:
            if row["lifecycle_state"] != "Standby":
                raise ValidationError(f"The instance {row['instance_id']} is not in Standby.")
        if group.desired + len(ids) > group.document["MaxSize"]:
            raise ValidationError(f"Moving {len(ids)} instance(s) out of standby would exceed the group's max size "
                                  f"of {group.document['MaxSize']}.")
        set_desired(group, group.desired + len(ids), "a user request moved instances out of standby")
        at = records.iso(records.now())
        for row in rows:
            activity = records.start_activity(
                conn, group, f"Moving EC2 instance out of Standby: {row['instance_id']}",
                f"At {at} instance {row['instance_id']} was moved out of standby in response to a user request, "
                "increasing the capacity.", progress=50)
            out.append(conn.execute(select(state.activities).where(
                state.activities.c.activity_id == activity)).mappings().one())
            records.set_instance(conn, row["instance_id"], lifecycle_state="Pending:Proceed", activity_id=activity)
        records.save_group(conn, group)
    return {"Activities": [records.activity_output(row, group.arn) for row in out]}
