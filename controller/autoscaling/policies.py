"""Scaling policies: PutScalingPolicy, DescribePolicies, DeletePolicy, ExecutePolicy, and what a CloudWatch
alarm's action on a policy does.

Target tracking policies get AWS's two alarms (``TargetTracking-<group>-AlarmHigh-<uuid>`` and ``-AlarmLow-``)
through CloudWatch's own PutMetricAlarm when this cloud serves it.
https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutScalingPolicy.html
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import delete, insert, select, update

from controller.api import RequestContext
from controller.autoscaling import calls, records, scaling_math, state
from controller.autoscaling.errors import ScalingActivityInProgress, ValidationError
from controller.autoscaling.group_instances import set_desired
from controller.autoscaling.records import Group
from controller.autoscaling.service import api

log = logging.getLogger(__name__)
POLICY_TYPES = ("SimpleScaling", "StepScaling", "TargetTrackingScaling", "PredictiveScaling")
_METRICS = {"ASGAverageCPUUtilization": ("AWS/EC2", "CPUUtilization", "Average"),
            "ASGAverageNetworkIn": ("AWS/EC2", "NetworkIn", "Average"),
            "ASGAverageNetworkOut": ("AWS/EC2", "NetworkOut", "Average"),
            "ALBRequestCountPerTarget": ("AWS/ApplicationELB", "RequestCountPerTarget", "Sum")}


def policy_arn(ctx: RequestContext, group: str, name: str) -> str:
    return (f"arn:{ctx.cloud.config.partition}:autoscaling:{ctx.region}:{ctx.account_id}:scalingPolicy:"
            f"{uuid.uuid4()}:autoScalingGroupName/{group}:policyName/{name}")


def _check(params: dict[str, Any], kind: str) -> dict[str, Any]:
    """The policy's stored members for its type, ValidationError as AWS for the wrong ones."""
    document: dict[str, Any] = {"PolicyType": kind, "Enabled": params.get("Enabled", True)}
    if kind in ("SimpleScaling", "StepScaling"):
        adjustment_type = params.get("AdjustmentType")
        if adjustment_type not in scaling_math.ADJUSTMENT_TYPES:
            raise ValidationError("AdjustmentType must be one of ChangeInCapacity, ExactCapacity, "
                                  "PercentChangeInCapacity" if adjustment_type else
                                  f"AdjustmentType must be specified for policy type {kind}")
        document["AdjustmentType"] = adjustment_type
        if params.get("MinAdjustmentMagnitude") is not None:
            if adjustment_type != "PercentChangeInCapacity":
                raise ValidationError("MinAdjustmentMagnitude may only be specified with AdjustmentType "
                                      "PercentChangeInCapacity")
            document["MinAdjustmentMagnitude"] = params["MinAdjustmentMagnitude"]
    if kind == "SimpleScaling":
        if params.get("ScalingAdjustment") is None:
            raise ValidationError("ScalingAdjustment must be specified for policy type SimpleScaling")
        if params.get("StepAdjustments"):
            raise ValidationError("StepAdjustments are not supported by policy type SimpleScaling")
        document["ScalingAdjustment"] = params["ScalingAdjustment"]
        if params.get("Cooldown") is not None:
            document["Cooldown"] = params["Cooldown"]
    elif kind == "StepScaling":
        if params.get("ScalingAdjustment") is not None or params.get("Cooldown") is not None:
            raise ValidationError("ScalingAdjustment and Cooldown are not supported by policy type StepScaling")
        scaling_math.check_step_adjustments(params.get("StepAdjustments") or [])
        document["StepAdjustments"] = params["StepAdjustments"]
        document["MetricAggregationType"] = params.get("MetricAggregationType") or "Average"
        if params.get("EstimatedInstanceWarmup") is not None:
            document["EstimatedInstanceWarmup"] = params["EstimatedInstanceWarmup"]
    elif kind == "TargetTrackingScaling":
        config = params.get("TargetTrackingConfiguration")
        if not config:
            raise ValidationError("TargetTrackingConfiguration must be specified for policy type "
                                  "TargetTrackingScaling")
        predefined, custom = config.get("PredefinedMetricSpecification"), config.get("CustomizedMetricSpecification")
        if bool(predefined) == bool(custom):
            raise ValidationError("Exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification "
                                  "must be specified")
        if predefined:
            metric = predefined.get("PredefinedMetricType")
            if metric not in _METRICS:
                raise ValidationError(f"Unsupported predefined metric type {metric}")
            if metric == "ALBRequestCountPerTarget" and not predefined.get("ResourceLabel"):
                raise ValidationError("ResourceLabel must be specified for ALBRequestCountPerTarget")
        document["TargetTrackingConfiguration"] = {"DisableScaleIn": False, **config}
        if params.get("EstimatedInstanceWarmup") is not None:
            document["EstimatedInstanceWarmup"] = params["EstimatedInstanceWarmup"]
    else:
        document["PredictiveScalingConfiguration"] = params.get("PredictiveScalingConfiguration") or {}
    return document


def _alarm_specs(group: Group, document: dict[str, Any], arn: str, period: int) -> list[dict[str, Any]]:
    """PutMetricAlarm requests of a target tracking policy's alarms, as AWS makes them."""
    config = document["TargetTrackingConfiguration"]
    target = float(config["TargetValue"])
    predefined = config.get("PredefinedMetricSpecification")
    if predefined:
        namespace, metric, statistic = _METRICS[predefined["PredefinedMetricType"]]
        dimensions = [{"Name": "AutoScalingGroupName", "Value": group.name}]
        if predefined["PredefinedMetricType"] == "ALBRequestCountPerTarget":
            dimensions = [{"Name": "TargetGroup", "Value": predefined["ResourceLabel"].split("/", 3)[-1]}]
        metric_spec = {"Namespace": namespace, "MetricName": metric, "Statistic": statistic, "Dimensions": dimensions}
    else:
        custom = config["CustomizedMetricSpecification"]
        metric_spec = {"Namespace": custom["Namespace"], "MetricName": custom["MetricName"],
                       "Statistic": custom.get("Statistic", "Average"), "Dimensions": custom.get("Dimensions") or []}
    suffix = str(uuid.uuid4())
    specs = [{"AlarmName": f"TargetTracking-{group.name}-AlarmHigh-{suffix}", **metric_spec, "Period": period,
              "EvaluationPeriods": 3, "DatapointsToAlarm": 3, "Threshold": target,
              "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": [arn],
              "AlarmDescription": f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {arn}."}]
    if not config.get("DisableScaleIn"):
        specs.append({"AlarmName": f"TargetTracking-{group.name}-AlarmLow-{suffix}", **metric_spec, "Period": period,
                      "EvaluationPeriods": 15, "DatapointsToAlarm": 15, "Threshold": round(target * 0.9, 4),
                      "ComparisonOperator": "LessThanThreshold", "AlarmActions": [arn],
                      "AlarmDescription": f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {arn}."})
    return specs


def _put_alarms(ctx: RequestContext, specs: list[dict[str, Any]]) -> list[dict[str, str]]:
    if not calls.available(ctx.cloud, "cloudwatch", "PutMetricAlarm"):
        return []
    made = []
    for spec in specs:
        calls.as_role(ctx.cloud, ctx.account_id, "cloudwatch", "PutMetricAlarm", spec)
        made.append({"AlarmName": spec["AlarmName"], "AlarmARN": f"arn:{ctx.cloud.config.partition}:cloudwatch:"
                     f"{ctx.region}:{ctx.account_id}:alarm:{spec['AlarmName']}"})
    return made


def delete_alarms(cloud: Any, account_id: str, names: list[str]) -> None:
    """Delete a policy's target tracking alarms (quietly when CloudWatch is not served)."""
    if not names or not calls.available(cloud, "cloudwatch", "DeleteAlarms"):
        return
    try:
        calls.as_role(cloud, account_id, "cloudwatch", "DeleteAlarms", {"AlarmNames": names})
    except calls.ServiceCallError as failure:
        log.warning("deleting alarms %s failed: %s", names, failure)


def _own_alarms(document: dict[str, Any]) -> list[str]:
    return [alarm["AlarmName"] for alarm in document.get("Alarms") or []
            if alarm["AlarmName"].startswith("TargetTracking-")]


@api.operation("PutScalingPolicy", resources=records.group_resources)
def put_scaling_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    kind = params.get("PolicyType") or "SimpleScaling"
    if kind not in POLICY_TYPES:
        raise ValidationError(f"Invalid policy type: {kind}")
    name = params["PolicyName"]
    document = _check(params, kind)
    with ctx.cloud.db.read() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        existing = conn.execute(select(state.policies).where(state.policies.c.group_arn == group.arn,
                                                             state.policies.c.name == name)).mappings().first()
    arn = existing["arn"] if existing else policy_arn(ctx, group.name, name)
    old_alarms = _own_alarms(existing["document"]) if existing else []
    alarms = [alarm for alarm in (existing["document"].get("Alarms") or []) if not
              alarm["AlarmName"].startswith("TargetTracking-")] if existing else []
    if kind == "TargetTrackingScaling":
        delete_alarms(ctx.cloud, ctx.account_id, old_alarms)
        try:
            alarms += _put_alarms(ctx, _alarm_specs(group, document, arn,
                                                              ctx.cloud.config.autoscaling_alarm_period_seconds))
        except calls.ServiceCallError as failure:
            raise ValidationError(f"Could not create the policy's alarms: {failure.message}") from None
    elif old_alarms:
        delete_alarms(ctx.cloud, ctx.account_id, old_alarms)
    document.update(AutoScalingGroupName=group.name, PolicyName=name, PolicyARN=arn, Alarms=alarms)
    with ctx.cloud.db.begin() as conn:
        if existing:
            conn.execute(update(state.policies).where(state.policies.c.arn == arn).values(document=document))
        else:
            conn.execute(insert(state.policies).values(arn=arn, group_arn=group.arn, name=name, document=document))
    out: dict[str, Any] = {"PolicyARN": arn}
    if kind == "TargetTrackingScaling":
        out["Alarms"] = alarms
    return out


@api.operation("DescribePolicies", resources=records.group_resources)
def describe_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names, types = params.get("PolicyNames") or [], params.get("PolicyTypes") or []
    with ctx.cloud.db.read() as conn:
        groups = {group.arn: group for group in records.all_groups(conn)
                  if group.account_id == ctx.account_id and group.region == ctx.region}
        if params.get("AutoScalingGroupName"):
            group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
            groups = {group.arn: group}
        rows = [row for row in conn.execute(select(state.policies).order_by(state.policies.c.name)).mappings()
                if row["group_arn"] in groups]
    found = [row["document"] for row in rows
             if (not names or row["name"] in names or row["arn"] in names)
             and (not types or row["document"]["PolicyType"] in types)]
    chunk, token = records.page(found, params)
    return {"ScalingPolicies": chunk, **({"NextToken": token} if token else {})}


def _find_policy(conn: Any, ctx: RequestContext, group_name: str | None, name: str) -> tuple[Group, Any]:
    if name.startswith("arn:"):
        row = conn.execute(select(state.policies).where(state.policies.c.arn == name)).mappings().first()
        group = records.group_by_arn(conn, row["group_arn"]) if row else None
    else:
        if not group_name:
            raise ValidationError("AutoScalingGroupName must be specified when the policy is given by name")
        group = records.require_group(conn, ctx, group_name)
        row = conn.execute(select(state.policies).where(state.policies.c.group_arn == group.arn,
                                                        state.policies.c.name == name)).mappings().first()
    if row is None or group is None or group.account_id != ctx.account_id:
        raise ValidationError(f"No such policy: {name}" if not group_name else
                              f"Policy {name} not found for AutoScalingGroup {group_name}")
    return group, row


@api.operation("DeletePolicy", resources=records.group_resources)
def delete_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        _, row = _find_policy(conn, ctx, params.get("AutoScalingGroupName"), params["PolicyName"])
        conn.execute(delete(state.policies).where(state.policies.c.arn == row["arn"]))
    delete_alarms(ctx.cloud, ctx.account_id, _own_alarms(row["document"]))
    return {}


def execute(conn: Any, group: Group, document: dict[str, Any], *, honor_cooldown: bool, metric: float | None,
            breach: float | None, who: str) -> None:
    """Apply a policy to its group (the caller saves the group); ScalingActivityInProgress in cooldown."""
    now = records.now()
    kind = document["PolicyType"]
    if not document.get("Enabled", True):
        return
    current = group.desired
    if kind == "SimpleScaling":
        if honor_cooldown and scaling_math.in_cooldown(group.cooldown_until, now):
            raise ScalingActivityInProgress(f"The scaling activity for the AutoScalingGroup {group.name} is in "
                                            "cooldown, try again later.")
        wanted = scaling_math.adjusted_capacity(current, document["AdjustmentType"], document["ScalingAdjustment"],
                                                document.get("MinAdjustmentMagnitude"))
        cooldown = document.get("Cooldown", group.document.get("DefaultCooldown") or 0)
        group.cooldown_until = now + float(cooldown)
    elif kind == "StepScaling":
        if metric is None or breach is None:
            raise ValidationError("MetricValue and BreachThreshold are required for policy type StepScaling")
        step = scaling_math.step_for(document["StepAdjustments"], metric, breach)
        if step is None:
            raise ValidationError(f"No step adjustment found for metric value {metric} and breach threshold "
                                  f"{breach}")
        wanted = scaling_math.adjusted_capacity(current, document["AdjustmentType"], step["ScalingAdjustment"],
                                                document.get("MinAdjustmentMagnitude"))
    elif kind == "TargetTrackingScaling":
        target = float(document["TargetTrackingConfiguration"]["TargetValue"])
        wanted = scaling_math.target_tracking_capacity(current, metric if metric is not None else target, target)
        if document["TargetTrackingConfiguration"].get("DisableScaleIn"):
            wanted = max(wanted, current)
    else:
        raise ValidationError(f"ExecutePolicy is not supported for policy type {kind}")
    wanted = scaling_math.bounded(wanted, group.document["MinSize"], group.document["MaxSize"])
    if wanted != current:
        set_desired(group, wanted, who)


@api.operation("ExecutePolicy", resources=records.group_resources)
def execute_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        group, row = _find_policy(conn, ctx, params.get("AutoScalingGroupName"), params["PolicyName"])
        if row["document"]["PolicyType"] == "TargetTrackingScaling":
            raise ValidationError("ExecutePolicy is not supported for target tracking scaling policies")
        execute(conn, group, row["document"], honor_cooldown=bool(params.get("HonorCooldown")),
                metric=params.get("MetricValue"), breach=params.get("BreachThreshold"),
                who=f"a user request executed policy {row['name']}")
        records.save_group(conn, group)
    return {}


def alarm_action(cloud: Any, alarm: dict[str, Any], action_arn: str, new_state: str) -> None:
    """CloudWatch's alarm action on a scaling policy ARN: run the policy (AlarmNotification may be suspended)."""
    with cloud.db.begin() as conn:
        row = conn.execute(select(state.policies).where(state.policies.c.arn == action_arn)).mappings().first()
        group = records.group_by_arn(conn, row["group_arn"]) if row else None
        if row is None or group is None or group.suspended("AlarmNotification"):
            return
        metric, breach = _alarm_metric(alarm)
        document = row["document"]
        if metric is None and document["PolicyType"] == "TargetTrackingScaling":
            # no datapoint to size the change by: one instance in the alarm's direction
            current = max(group.desired, 1)
            step = 1 if "Greater" in (alarm.get("ComparisonOperator") or "") else -1
            metric = float(document["TargetTrackingConfiguration"]["TargetValue"]) * (current + step) / current
        metric = metric if metric is not None else breach
        try:
            execute(conn, group, document, honor_cooldown=True, metric=metric, breach=breach,
                    who=f"a monitor alarm {alarm.get('AlarmName', '')} in state {new_state} triggered policy "
                        f"{row['name']}")
        except (ScalingActivityInProgress, ValidationError) as refused:
            log.info("alarm %s: policy %s not run: %s", alarm.get("AlarmName"), row["name"], refused.message)
            return
        records.save_group(conn, group)


def _alarm_metric(alarm: dict[str, Any]) -> tuple[float | None, float | None]:
    """The latest datapoint of the alarm's evaluation and its threshold, when the alarm says."""
    breach = alarm.get("Threshold")
    data = alarm.get("StateReasonData")
    try:
        points = (json.loads(data) if isinstance(data, str) else data or {}).get("recentDatapoints") or []
    except ValueError:
        points = []
    metric = float(points[-1]) if points else None
    return metric, float(breach) if breach is not None else None
