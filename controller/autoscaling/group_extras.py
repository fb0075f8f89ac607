"""A group's processes, load balancer target groups and traffic sources, and the fixed catalogues AWS lists
(process types, termination policy types, adjustment types, account limits, notification and metric types).
"""

from __future__ import annotations

from typing import Any

from controller.api import RequestContext
from controller.autoscaling import calls, capacity, records, scaling_math, state
from controller.autoscaling.errors import ValidationError
from controller.autoscaling.service import api

PROCESSES = ("Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance", "HealthCheck",
             "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions")


def _processes(params: dict[str, Any]) -> list[str]:
    names = params.get("ScalingProcesses") or list(PROCESSES)
    for name in names:
        if name not in PROCESSES:
            raise ValidationError(f"Invalid scaling process: {name}")
    return names


@api.operation("SuspendProcesses", resources=records.group_resources)
def suspend_processes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = _processes(params)
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        current = {item["ProcessName"]: item for item in group.document.get("SuspendedProcesses") or []}
        for name in names:
            current.setdefault(name, {"ProcessName": name, "SuspensionReason": "User suspended at "
                                      f"{records.iso(records.now())}"})
        group.document["SuspendedProcesses"] = [current[name] for name in PROCESSES if name in current]
        records.save_group(conn, group)
    return {}


@api.operation("ResumeProcesses", resources=records.group_resources)
def resume_processes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = set(_processes(params))
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        group.document["SuspendedProcesses"] = [item for item in group.document.get("SuspendedProcesses") or []
                                                if item["ProcessName"] not in names]
        records.save_group(conn, group)
    return {}


def _change_target_groups(ctx: RequestContext, name: str, arns: list[str], *, attach: bool) -> None:
    with ctx.cloud.db.read() as conn:
        records.require_group(conn, ctx, name)     # before any check that reads ELB as the group's role
    if attach:
        calls.check_target_groups(ctx.cloud, ctx.account_id, arns)
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, name)
        current = list(group.document.get("TargetGroupARNs") or [])
        if attach:
            current += [arn for arn in arns if arn not in current]
        else:
            current = [arn for arn in current if arn not in arns]
        group.document["TargetGroupARNs"] = current
        sources = [source for source in group.document.get("TrafficSources") or []
                   if source.get("Type") != "elbv2" or source["Identifier"] in current]
        sources += [{"Identifier": arn, "Type": "elbv2"} for arn in current
                    if {"Identifier": arn, "Type": "elbv2"} not in sources]
        group.document["TrafficSources"] = sources
        instances = [row["instance_id"] for row in records.group_instances(conn, group.arn)
                     if row["lifecycle_state"] == "InService"]
        records.save_group(conn, group)
    calls.register_targets(ctx.cloud, ctx.account_id, arns, instances, register=attach)


@api.operation("AttachLoadBalancerTargetGroups", resources=records.group_resources)
def attach_target_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _change_target_groups(ctx, params["AutoScalingGroupName"], params["TargetGroupARNs"], attach=True)
    return {}


@api.operation("DetachLoadBalancerTargetGroups", resources=records.group_resources)
def detach_target_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _change_target_groups(ctx, params["AutoScalingGroupName"], params["TargetGroupARNs"], attach=False)
    return {}


@api.operation("DescribeLoadBalancerTargetGroups", resources=records.group_resources)
def describe_target_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
    items = [{"LoadBalancerTargetGroupARN": arn, "State": "InService"}
             for arn in group.document.get("TargetGroupARNs") or []]
    chunk, token = records.page(items, params)
    return {"LoadBalancerTargetGroups": chunk, **({"NextToken": token} if token else {})}


def _split_sources(params: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    sources = params.get("TrafficSources") or []
    elbv2 = [source["Identifier"] for source in sources if (source.get("Type") or "elbv2") == "elbv2"]
    return elbv2, sources


@api.operation("AttachTrafficSources", resources=records.group_resources)
def attach_traffic_sources(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    elbv2, sources = _split_sources(params)
    _change_target_groups(ctx, params["AutoScalingGroupName"], elbv2, attach=True)
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        current = group.document.get("TrafficSources") or []
        for source in sources:
            entry = {"Identifier": source["Identifier"], "Type": source.get("Type") or "elbv2"}
            if entry not in current:
                current.append(entry)
        group.document["TrafficSources"] = current
        records.save_group(conn, group)
    return {}


@api.operation("DetachTrafficSources", resources=records.group_resources)
def detach_traffic_sources(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    elbv2, sources = _split_sources(params)
    _change_target_groups(ctx, params["AutoScalingGroupName"], elbv2, attach=False)
    gone = {source["Identifier"] for source in sources}
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        group.document["TrafficSources"] = [source for source in group.document.get("TrafficSources") or []
                                            if source["Identifier"] not in gone]
        records.save_group(conn, group)
    return {}


@api.operation("DescribeTrafficSources", resources=records.group_resources)
def describe_traffic_sources(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
    kind = params.get("TrafficSourceType")
    items = [{"TrafficSource": source["Identifier"], "State": "InService", "Identifier": source["Identifier"],
              "Type": source["Type"]} for source in group.document.get("TrafficSources") or []
             if not kind or source["Type"] == kind]
    chunk, token = records.page(items, params)
    return {"TrafficSources": chunk, **({"NextToken": token} if token else {})}


@api.operation("DescribeScalingProcessTypes", authorize=False)
def describe_scaling_process_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"Processes": [{"ProcessName": name} for name in sorted(PROCESSES)]}


@api.operation("DescribeTerminationPolicyTypes", authorize=False)
def describe_termination_policy_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"TerminationPolicyTypes": list(capacity.TERMINATION_POLICIES)}


@api.operation("DescribeAdjustmentTypes", authorize=False)
def describe_adjustment_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"AdjustmentTypes": [{"AdjustmentType": kind} for kind in scaling_math.ADJUSTMENT_TYPES]}


@api.operation("DescribeAccountLimits", authorize=False)
def describe_account_limits(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        groups = [group for group in records.all_groups(conn)
                  if group.account_id == ctx.account_id and group.region == ctx.region]
        configurations = conn.execute(state.launch_configurations.select().where(
            state.launch_configurations.c.account_id == ctx.account_id,
            state.launch_configurations.c.region == ctx.region)).all()
    return {"MaxNumberOfAutoScalingGroups": 500, "MaxNumberOfLaunchConfigurations": 200,
            "NumberOfAutoScalingGroups": len(groups), "NumberOfLaunchConfigurations": len(configurations)}


@api.operation("DescribeAutoScalingNotificationTypes", authorize=False)
def describe_notification_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"AutoScalingNotificationTypes": [
        "autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_LAUNCH_ERROR",
        "autoscaling:EC2_INSTANCE_TERMINATE", "autoscaling:EC2_INSTANCE_TERMINATE_ERROR",
        "autoscaling:TEST_NOTIFICATION"]}


METRICS = ("GroupMinSize", "GroupMaxSize", "GroupDesiredCapacity", "GroupInServiceInstances",
           "GroupPendingInstances", "GroupStandbyInstances", "GroupTerminatingInstances", "GroupTotalInstances",
           "GroupInServiceCapacity", "GroupPendingCapacity", "GroupStandbyCapacity", "GroupTerminatingCapacity",
           "GroupTotalCapacity", "WarmPoolDesiredCapacity", "WarmPoolWarmedCapacity", "WarmPoolPendingCapacity",
           "WarmPoolTerminatingCapacity", "WarmPoolTotalCapacity", "GroupAndWarmPoolDesiredCapacity",
           "GroupAndWarmPoolTotalCapacity")


@api.operation("EnableMetricsCollection", resources=records.group_resources)
def enable_metrics_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params["Granularity"] != "1Minute":
        raise ValidationError(f"Invalid granularity {params['Granularity']}; the only valid value is 1Minute")
    names = params.get("Metrics") or list(METRICS)
    for name in names:
        if name not in METRICS:
            raise ValidationError(f"Invalid metric name: {name}")
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        current = {item["Metric"] for item in group.document.get("EnabledMetrics") or []} | set(names)
        group.document["EnabledMetrics"] = [{"Metric": name, "Granularity": "1Minute"} for name in METRICS
                                            if name in current]
        records.save_group(conn, group)
    return {}


@api.operation("DisableMetricsCollection", resources=records.group_resources)
def disable_metrics_collection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = set(params.get("Metrics") or METRICS)
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        group.document["EnabledMetrics"] = [item for item in group.document.get("EnabledMetrics") or []
                                            if item["Metric"] not in names]
        records.save_group(conn, group)
    return {}


@api.operation("DescribeMetricCollectionTypes", authorize=False)
def describe_metric_collection_types(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"Metrics": [{"Metric": name} for name in METRICS], "Granularities": [{"Granularity": "1Minute"}]}


# -- Classic Load Balancers: this cloud has none, so none can be attached ---------------------------------
@api.operation("AttachLoadBalancers", resources=records.group_resources)
def attach_load_balancers(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        records.require_group(conn, ctx, params["AutoScalingGroupName"])
    if params.get("LoadBalancerNames"):
        raise ValidationError("Provided Load Balancers may not be valid. Please ensure they exist and try again.")
    return {}


@api.operation("DetachLoadBalancers", resources=records.group_resources)
def detach_load_balancers(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        records.require_group(conn, ctx, params["AutoScalingGroupName"])
    return {}


@api.operation("DescribeLoadBalancers", resources=records.group_resources)
def describe_load_balancers(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        records.require_group(conn, ctx, params["AutoScalingGroupName"])
    return {"LoadBalancers": []}
