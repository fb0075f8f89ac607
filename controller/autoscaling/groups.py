"""Auto Scaling groups: Create, Update, Delete and Describe.

The handlers check and store what the group should be; the reconciler (``worker.py``) makes it so, waking
on the commit. https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select

from controller.api import RequestContext
from controller.autoscaling import calls, capacity, launch_sources, linked_role, records, state
from controller.autoscaling.errors import (
    AlreadyExists,
    ResourceInUse,
    ScalingActivityInProgress,
    ValidationError,
)
from controller.autoscaling.hooks import store_hook
from controller.autoscaling.policies import delete_alarms
from controller.autoscaling.records import Group
from controller.autoscaling.service import api
from controller.autoscaling.tags import check_tags, matches_filters

HEALTH_CHECK_TYPES = ("EC2", "ELB", "VPC_LATTICE", "EBS")
_PLAIN = ("HealthCheckGracePeriod", "DefaultCooldown", "NewInstancesProtectedFromScaleIn", "MaxInstanceLifetime",
          "CapacityRebalance", "Context", "DesiredCapacityType", "DefaultInstanceWarmup", "PlacementGroup",
          "InstanceMaintenancePolicy", "DeletionProtection", "CapacityReservationSpecification",
          "AvailabilityZoneDistribution", "AvailabilityZoneImpairmentPolicy", "InstanceLifecyclePolicy")


def resolve_subnets(ctx: RequestContext, vpc_zone_identifier: str | None,
                    zones: list[str] | None) -> tuple[dict[str, list[str]], list[str]]:
    """(zone -> subnet ids, zones in order) for the group's VPCZoneIdentifier, or the default subnets of the
    zones it names; ValidationError in AWS's words for unknown subnets and zones."""
    subnet_ids = [part.strip() for part in (vpc_zone_identifier or "").split(",") if part.strip()]
    by_zone: dict[str, list[str]] = {}
    if subnet_ids:
        found: dict[str, str] = {}
        for subnet_id in dict.fromkeys(subnet_ids):
            try:
                answer = calls.as_role(ctx.cloud, ctx.account_id, "ec2", "DescribeSubnets", {"SubnetIds": [subnet_id]})
            except calls.ServiceCallError:
                raise ValidationError(f"The subnet ID '{subnet_id}' does not exist") from None
            found[subnet_id] = answer["Subnets"][0]["AvailabilityZone"]
        for subnet_id, zone in found.items():
            by_zone.setdefault(zone, []).append(subnet_id)
        if zones and set(zones) - set(by_zone):
            raise ValidationError("The availability zones of the specified subnets and the Auto Scaling group do "
                                  "not match")
        return by_zone, sorted(by_zone)
    if not zones:
        raise ValidationError("At least one Availability Zone or VPC Subnet is required.")
    known = set(ctx.cloud.config.availability_zones)
    for zone in zones:
        if zone not in known:
            raise ValidationError(f"The availability zone '{zone}' is not legal")
        answer = calls.as_role(ctx.cloud, ctx.account_id, "ec2", "DescribeSubnets", {"Filters": [
            {"Name": "availability-zone", "Values": [zone]}, {"Name": "default-for-az", "Values": ["true"]}]})
        if not answer["Subnets"]:
            raise ValidationError(f"No default subnet for availability zone: '{zone}'")
        by_zone[zone] = [answer["Subnets"][0]["SubnetId"]]
    return by_zone, list(dict.fromkeys(zones))


def _check_plain(params: dict[str, Any]) -> None:
    if params.get("HealthCheckType") is not None and params["HealthCheckType"] not in HEALTH_CHECK_TYPES:
        raise ValidationError(f"Invalid value for HealthCheckType: {params['HealthCheckType']}")
    for policy in params.get("TerminationPolicies") or []:
        if policy not in capacity.TERMINATION_POLICIES and not policy.startswith("arn:"):
            raise ValidationError(f"Termination policy {policy} is not supported")
    for member in ("HealthCheckGracePeriod", "DefaultCooldown"):
        if params.get(member) is not None and params[member] < 0:
            raise ValidationError(f"{member} must be greater than or equal to 0")


def _traffic_sources(target_groups: list[str], given: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sources = [{"Identifier": arn, "Type": "elbv2"} for arn in target_groups]
    for source in given:
        entry = {"Identifier": source["Identifier"], "Type": source.get("Type") or "elbv2"}
        if entry not in sources:
            sources.append(entry)
    return sources


@api.operation("CreateAutoScalingGroup", resources=records.group_resources)
def create_auto_scaling_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with linked_role.provisional(ctx.cloud, ctx.account_id) as role:
        return _create(ctx, params, params.get("ServiceLinkedRoleARN") or role)


def _create(ctx: RequestContext, params: dict[str, Any], role: str) -> dict[str, Any]:
    name = params["AutoScalingGroupName"]
    min_size, max_size = params["MinSize"], params["MaxSize"]
    desired = params.get("DesiredCapacity")
    capacity.check_sizes(min_size, max_size, desired)
    desired = min_size if desired is None else desired
    _check_plain(params)
    if params.get("LoadBalancerNames"):     # no Classic Load Balancers here
        raise ValidationError("Provided Load Balancers may not be valid. Please ensure they exist and try again.")
    with ctx.cloud.db.read() as conn:
        if records.find_group(conn, ctx.account_id, ctx.region, name) is not None:
            raise AlreadyExists(f"AutoScalingGroup by this name already exists - A group with the name {name} "
                                "already exists")
    source = launch_sources.check_source(ctx.cloud, ctx.account_id, ctx.region, params, required=True)
    if params.get("InstanceId") and not source:
        raise ValidationError("Creating a group from an instance is not supported here: give a launch template")
    by_zone, zones = resolve_subnets(ctx, params.get("VPCZoneIdentifier"), params.get("AvailabilityZones"))
    target_groups = list(params.get("TargetGroupARNs") or [])
    calls.check_target_groups(ctx.cloud, ctx.account_id, target_groups)
    created = records.now()
    arn = records.group_arn(ctx, name)
    document: dict[str, Any] = {
        "AutoScalingGroupName": name, "AutoScalingGroupARN": arn, **source,
        "MinSize": min_size, "MaxSize": max_size, "DesiredCapacity": desired, "DefaultCooldown": 300,
        "AvailabilityZones": zones, "LoadBalancerNames": [],
        "TargetGroupARNs": target_groups, "HealthCheckType": "EC2", "HealthCheckGracePeriod": 0,
        "SuspendedProcesses": [], "EnabledMetrics": [], "TerminationPolicies": ["Default"],
        "NewInstancesProtectedFromScaleIn": False, "ServiceLinkedRoleARN": role, "CapacityRebalance": False,
        "TrafficSources": _traffic_sources(target_groups, params.get("TrafficSources") or []),
        "Tags": check_tags(name, params.get("Tags") or []), "_subnets": by_zone,
        "_zone_order": zones}
    if params.get("VPCZoneIdentifier"):
        document["VPCZoneIdentifier"] = ",".join(s for ids in by_zone.values() for s in ids)
    for member in (*_PLAIN, "HealthCheckType", "TerminationPolicies"):
        if params.get(member) is not None:
            document[member] = params[member]
    cause = records.desired_change_cause(created, "a user request created an AutoScalingGroup", 0, desired)
    with ctx.cloud.db.begin() as conn:
        if records.find_group(conn, ctx.account_id, ctx.region, name) is not None:
            raise AlreadyExists(f"AutoScalingGroup by this name already exists - A group with the name {name} "
                                "already exists")
        conn.execute(insert(state.groups).values(
            arn=arn, account_id=ctx.account_id, region=ctx.region, name=name, document=document, created_at=created,
            status=None, cooldown_until=0.0, pending_cause=cause))
        for hook in params.get("LifecycleHookSpecificationList") or []:
            store_hook(conn, records.find_group(conn, ctx.account_id, ctx.region, name), hook)  # type: ignore[arg-type]
        records.changed(conn)
    ctx.audit_resources.append(arn)
    return {}


@api.operation("UpdateAutoScalingGroup", resources=records.group_resources)
def update_auto_scaling_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["AutoScalingGroupName"]
    _check_plain(params)
    with ctx.cloud.db.read() as conn:
        records.require_group(conn, ctx, name)     # before any check that reads EC2 as the group's role
    source = launch_sources.check_source(ctx.cloud, ctx.account_id, ctx.region, params, required=False)
    placement = None
    if params.get("VPCZoneIdentifier") or params.get("AvailabilityZones"):
        placement = resolve_subnets(ctx, params.get("VPCZoneIdentifier"), params.get("AvailabilityZones"))
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, name)
        if group.status:
            raise ScalingActivityInProgress(f"The AutoScalingGroup {name} is being deleted.")
        document = group.document
        before = group.desired
        min_size = params.get("MinSize", document["MinSize"])
        max_size = params.get("MaxSize", document["MaxSize"])
        desired = params.get("DesiredCapacity")
        if desired is None:
            desired = capacity.clamp(before, min_size, max_size)
        capacity.check_sizes(min_size, max_size, desired)
        if source:
            for key in ("LaunchConfigurationName", "LaunchTemplate", "MixedInstancesPolicy"):
                document.pop(key, None)
            document.update(source)
        if placement is not None:
            by_zone, zones = placement
            document["_subnets"], document["AvailabilityZones"], document["_zone_order"] = by_zone, zones, zones
            if params.get("VPCZoneIdentifier"):
                document["VPCZoneIdentifier"] = ",".join(s for ids in by_zone.values() for s in ids)
        for member in (*_PLAIN, "HealthCheckType", "TerminationPolicies"):
            if params.get(member) is not None:
                document[member] = params[member]
        document.update(MinSize=min_size, MaxSize=max_size, DesiredCapacity=desired)
        if desired != before or any(key in params for key in ("MinSize", "MaxSize", "DesiredCapacity")):
            group.pending_cause = records.desired_change_cause(
                records.now(), f"a user request update of AutoScalingGroup constraints to min: {min_size}, "
                f"max: {max_size}, desired: {desired}", before, desired)
        records.save_group(conn, group)
    return {}


@api.operation("DeleteAutoScalingGroup", resources=records.group_resources)
def delete_auto_scaling_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["AutoScalingGroupName"]
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, name)
        members = records.group_instances(conn, group.arn)
        if not params.get("ForceDelete"):
            if members:
                raise ResourceInUse("You cannot delete an AutoScalingGroup while there are instances or pending "
                                    "Spot instance request(s) still in the group.")
            busy = conn.execute(select(state.activities.c.activity_id).where(
                state.activities.c.group_arn == group.arn, state.activities.c.end_time.is_(None))).first()
            if busy:
                raise ScalingActivityInProgress("You cannot delete an AutoScalingGroup while there are scaling "
                                                "activities in progress for that group.")
        if members:
            group.status = "Delete in progress"
            group.document.update(MinSize=0, MaxSize=0, DesiredCapacity=0)
            records.save_group(conn, group)
            return {}
        alarms = remove_group(conn, group)
    delete_alarms(ctx.cloud, group.account_id, alarms)
    return {}


def remove_group(conn: Any, group: Group) -> list[str]:
    """Delete the group's rows and what belongs to it; the names of its policies' alarms (to delete after)."""
    alarms = [alarm["AlarmName"] for (document,) in conn.execute(
        select(state.policies.c.document).where(state.policies.c.group_arn == group.arn))
        for alarm in document.get("Alarms") or [] if alarm["AlarmName"].startswith("TargetTracking-")]
    for table in (state.hooks, state.policies, state.scheduled_actions, state.instances, state.refreshes):
        conn.execute(delete(table).where(table.c.group_arn == group.arn))
    conn.execute(delete(state.groups).where(state.groups.c.arn == group.arn))
    conn.execute(state.activities.update().where(state.activities.c.group_arn == group.arn,
                                                  state.activities.c.end_time.is_(None)).values(
        status_code="Cancelled", end_time=records.now(), progress=100))
    records.changed(conn)
    return alarms


def group_output(group: Group, members: list[Any]) -> dict[str, Any]:
    out = {key: value for key, value in group.document.items() if not key.startswith("_")}
    out["CreatedTime"] = records.timestamp(group.created_at)
    out["Instances"] = [records.instance_output(row) for row in members
                        if row["lifecycle_state"] not in ("Terminated",)]
    if group.status:
        out["Status"] = group.status
    out["Tags"] = [{**tag, "ResourceId": group.name, "ResourceType": "auto-scaling-group"} for tag in out["Tags"]]
    return out


@api.operation("DescribeAutoScalingGroups")
def describe_auto_scaling_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = params.get("AutoScalingGroupNames") or []
    filters = params.get("Filters") or []
    with ctx.cloud.db.read() as conn:
        table = state.groups
        query = select(table.c.name).where(table.c.account_id == ctx.account_id, table.c.region == ctx.region)
        if names:
            query = query.where(table.c.name.in_(names))
        all_names = [row[0] for row in conn.execute(query.order_by(table.c.name))]
        groups = [records.find_group(conn, ctx.account_id, ctx.region, name) for name in all_names]
        groups = [group for group in groups if group and matches_filters(group.document.get("Tags") or [], filters)]
        chunk, token = records.page(groups, params)
        out: dict[str, Any] = {"AutoScalingGroups": [group_output(group, records.group_instances(conn, group.arn))
                                                     for group in chunk]}
    if token:
        out["NextToken"] = token
    return out
