"""One launch and one termination: the EC2 calls, the instance row and the activity, as the reconciler does
them (``worker.py``).

A launch is one RunInstances of one instance (MinCount = MaxCount = 1) in the subnet zone balance chose, with
the group's propagating tags; a failure is a Failed activity in AWS's words and the reconciler tries again
later. A termination deregisters the instance from the group's target groups and then TerminateInstances it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, insert

from controller.autoscaling import (
    calls,
    capacity,
    launch_configs,
    launch_sources,
    notifications,
    records,
    state,
)
from controller.autoscaling.records import Group

log = logging.getLogger(__name__)
GROUP_TAG = "aws:autoscaling:groupName"


class LaunchFailed(Exception):
    """RunInstances refused; the activity recording why is written already."""


def _request(cloud: Any, group: Group, members: list[capacity.Member], subnet_id: str) -> tuple[dict[str, Any],
                                                                                               dict[str, Any]]:
    """(RunInstances parameters, what the instance row records of its source)."""
    document = group.document
    if document.get("LaunchConfigurationName"):
        name = document["LaunchConfigurationName"]
        with cloud.db.read() as conn:
            lc = launch_configs.find(conn, group.account_id, group.region, name)
        if lc is None:
            raise LaunchFailed(f"The launch configuration {name} does not exist")
        request = launch_sources.from_configuration(lc, subnet_id)
        return request, {"launch_configuration": name, "instance_type": lc["InstanceType"],
                         "image_id": lc["ImageId"], "spot": bool(lc.get("SpotPrice"))}
    mixed = group.mixed
    if mixed:
        template = mixed["LaunchTemplate"]["LaunchTemplateSpecification"]
        distribution = mixed["InstancesDistribution"]
        spot = capacity.next_is_spot(members, int(distribution.get("OnDemandBaseCapacity") or 0),
                                     int(distribution.get("OnDemandPercentageAboveBaseCapacity", 100)))
        types = [override["InstanceType"] for override in mixed["LaunchTemplate"].get("Overrides") or []
                 if override.get("InstanceType")]
        kind = capacity.type_for_launch(types, members, spot=spot,
                                        strategy=distribution.get("SpotAllocationStrategy", "")) if types else None
        request = launch_sources.from_template(template, subnet_id, kind, spot, distribution.get("SpotMaxPrice") or "")
        return request, {"launch_template": template, "instance_type": kind, "spot": spot}
    template = document["LaunchTemplate"]
    return launch_sources.from_template(template, subnet_id), {"launch_template": template, "spot": False}


def _tag_specifications(group: Group) -> list[dict[str, Any]]:
    """The group's propagated tags and ``aws:autoscaling:groupName`` (EC2 takes ``aws:`` keys from a
    service-linked role only)."""
    tags = [{"Key": tag["Key"], "Value": tag["Value"]} for tag in group.document.get("Tags") or []
            if tag.get("PropagateAtLaunch")]
    tags.append({"Key": GROUP_TAG, "Value": group.name})
    return [{"ResourceType": "instance", "Tags": tags}]


def launch(cloud: Any, group: Group, members: list[capacity.Member], cause: str) -> str:
    """Launch one instance into the group; its id. LaunchFailed (with a Failed activity) when EC2 refuses."""
    zones = [zone for zone in group.document.get("_zone_order") or group.zones if zone in group.subnets]
    try:
        instance, source, zone, subnet_id = _run_in_some_zone(cloud, group, members, zones)
    except (LaunchFailed, calls.ServiceCallError) as failure:
        zone = capacity.zone_for_launch(zones, members)
        subnet_id = capacity.subnet_for_launch(group.subnets[zone], members)
        reason = failure.message if isinstance(failure, calls.ServiceCallError) else str(failure)
        with cloud.db.begin() as conn:
            failed = records.start_activity(
                conn, group, f"Launching a new EC2 instance.  Status Reason: {reason}. Launching EC2 instance "
                "failed.", cause, status="Failed", progress=100, message=f"{reason}. Launching EC2 instance failed.",
                details={"Subnet ID": subnet_id, "Availability Zone": zone}, finished=True)
        notifications.announce(cloud, group, "autoscaling:EC2_INSTANCE_LAUNCH_ERROR", failed)
        raise LaunchFailed(reason) from None
    instance_id = instance["InstanceId"]
    with cloud.db.begin() as conn:
        activity = records.start_activity(
            conn, group, f"Launching a new EC2 instance: {instance_id}", cause, status="PreInService", progress=30,
            details={"Subnet ID": subnet_id, "Availability Zone": zone})
        conn.execute(insert(state.instances).values(
            instance_id=instance_id, group_arn=group.arn, zone=zone, subnet_id=subnet_id, lifecycle_state="Pending",
            health_status="Healthy", protected=bool(group.document.get("NewInstancesProtectedFromScaleIn")),
            launch_configuration=source.get("launch_configuration"), launch_template=source.get("launch_template"),
            instance_type=source.get("instance_type") or instance.get("InstanceType"),
            image_id=source.get("image_id") or instance.get("ImageId"), spot=source["spot"],
            launched_at=records.now(), activity_id=activity, hooks={}, registered=False))
        records.changed(conn)
    return instance_id


def _run_in_some_zone(cloud: Any, group: Group, members: list[capacity.Member], zones: list[str]
                      ) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    """(instance, source, zone, subnet) of the first zone, in launch order, that has capacity; the first zone's
    error when none has (any other refusal ends the attempt at once)."""
    first_error: calls.ServiceCallError | None = None
    for zone in capacity.zones_for_launch(zones, members):
        subnet_id = capacity.subnet_for_launch(group.subnets[zone], members)
        request, source = _request(cloud, group, members, subnet_id)
        request.update(MinCount=1, MaxCount=1)
        try:
            return _run(cloud, group, request), source, zone, subnet_id
        except calls.ServiceCallError as failure:
            if failure.code != "InsufficientInstanceCapacity":
                raise
            first_error = first_error or failure
    assert first_error is not None, "a group has at least one zone"
    raise first_error


def _run(cloud: Any, group: Group, request: dict[str, Any]) -> dict[str, Any]:
    """RunInstances as the service-linked role, with the group's tags."""
    answer = calls.as_role(cloud, group.account_id, "ec2", "RunInstances",
                           {**request, "TagSpecifications": _tag_specifications(group)})
    return answer["Instances"][0]


def begin_termination(conn: Any, group: Group, row: Any, cause: str, *, description_cause: str = "") -> None:
    """Move an instance to Terminating with its activity (the reconciler finishes the job)."""
    activity = records.start_activity(conn, group, f"Terminating EC2 instance: {row['instance_id']}", cause,
                                      status="InProgress", progress=0,
                                      details={"Subnet ID": row["subnet_id"] or "", "Availability Zone": row["zone"]})
    if row["lifecycle_state"].startswith("Pending"):
        records.finish_activity(conn, row["activity_id"], "Cancelled")
    records.set_instance(conn, row["instance_id"], lifecycle_state="Terminating", activity_id=activity, hooks={})


def terminate_now(cloud: Any, group: Group, row: Any) -> None:
    """Deregister, TerminateInstances, and forget the instance; the activity ends Successful (or Failed)."""
    try:
        if row["registered"]:
            calls.register_targets(cloud, group.account_id, group.document.get("TargetGroupARNs") or [],
                                   [row["instance_id"]], register=False)
        calls.terminate(cloud, group.account_id, row["instance_id"])
    except calls.ServiceCallError as failure:
        log.warning("terminating %s failed: %s", row["instance_id"], failure)
        with cloud.db.begin() as conn:
            records.update_activity(conn, row["activity_id"], status_message=failure.message)
        notifications.announce(cloud, group, "autoscaling:EC2_INSTANCE_TERMINATE_ERROR", row["activity_id"],
                               row["instance_id"])
        return
    with cloud.db.begin() as conn:
        records.finish_activity(conn, row["activity_id"])
        conn.execute(delete(state.instances).where(state.instances.c.instance_id == row["instance_id"]))
        records.changed(conn)
    notifications.announce(cloud, group, "autoscaling:EC2_INSTANCE_TERMINATE", row["activity_id"],
                           row["instance_id"])
