"""The calls Auto Scaling makes to other services, as its service-linked role, through the cloud's gateway.

Each wrapper names the one operation it needs; errors come back as ``ServiceCallError`` for the caller to turn
into a failed activity. ELB and CloudWatch may not be part of every cloud yet (they are young services here):
:func:`available` tells whether an operation is served at all, and callers skip what is not.
"""

from __future__ import annotations

from typing import Any

from controller.autoscaling import linked_role
from controller.autoscaling.errors import ValidationError
from controller.service_calls import ServiceCallError, call

__all__ = ["ServiceCallError", "available", "as_role"]


def as_role(cloud: Any, account_id: str, service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """``service``'s ``operation`` called as the account's AWSServiceRoleForAutoScaling."""
    return call(cloud, linked_role.principal(cloud, account_id), service, operation, params,
                invoked_by=linked_role.SERVICE)


def available(cloud: Any, service: str, operation: str) -> bool:
    """Whether this cloud serves ``service``'s ``operation`` (another service may still be under way)."""
    for api in cloud.services.values():
        if api.model_name == service:
            return operation in api.operations
    return False


def describe_instances(cloud: Any, account_id: str, instance_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Instance id -> DescribeInstances' view of it, for the ids EC2 still knows."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(instance_ids), 100):
        chunk = instance_ids[start:start + 100]
        try:
            answer = as_role(cloud, account_id, "ec2", "DescribeInstances", {"InstanceIds": chunk})
        except ServiceCallError as failure:
            if failure.code != "InvalidInstanceID.NotFound":
                raise
            answer = {"Reservations": []}
            for instance_id in chunk:     # one unknown id fails the batch: ask one by one
                try:
                    single = as_role(cloud, account_id, "ec2", "DescribeInstances", {"InstanceIds": [instance_id]})
                except ServiceCallError as missing:
                    if missing.code != "InvalidInstanceID.NotFound":
                        raise
                    continue
                answer["Reservations"] += single.get("Reservations", [])
        for reservation in answer.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                found[instance["InstanceId"]] = instance
    return found


def impaired_instances(cloud: Any, account_id: str, instance_ids: list[str]) -> set[str]:
    """The ids whose EC2 status checks report ``impaired``."""
    if not instance_ids or not available(cloud, "ec2", "DescribeInstanceStatus"):
        return set()
    impaired: set[str] = set()
    for start in range(0, len(instance_ids), 100):
        try:
            answer = as_role(cloud, account_id, "ec2", "DescribeInstanceStatus",
                             {"InstanceIds": instance_ids[start:start + 100], "IncludeAllInstances": True})
        except ServiceCallError:
            continue
        for status in answer.get("InstanceStatuses", []):
            if "impaired" in (status.get("InstanceStatus", {}).get("Status"),
                              status.get("SystemStatus", {}).get("Status")):
                impaired.add(status["InstanceId"])
    return impaired


def rebalance_recommended(cloud: Any, account_id: str, instance_ids: list[str]) -> set[str]:
    """The spot instances among ``instance_ids`` that EC2 has given an interruption notice (and with it a
    rebalance recommendation): their spot requests say ``marked-for-termination`` or ``marked-for-stop``."""
    if not instance_ids or not available(cloud, "ec2", "DescribeSpotInstanceRequests"):
        return set()
    try:
        answer = as_role(cloud, account_id, "ec2", "DescribeSpotInstanceRequests",
                         {"Filters": [{"Name": "instance-id", "Values": instance_ids},
                                      {"Name": "status-code", "Values": ["marked-for-termination",
                                                                         "marked-for-stop"]}]})
    except ServiceCallError:
        return set()
    return {request["InstanceId"] for request in answer.get("SpotInstanceRequests", []) if request.get("InstanceId")}


def terminate(cloud: Any, account_id: str, instance_id: str) -> None:
    try:
        as_role(cloud, account_id, "ec2", "TerminateInstances", {"InstanceIds": [instance_id]})
    except ServiceCallError as failure:
        if failure.code != "InvalidInstanceID.NotFound":
            raise


def register_targets(cloud: Any, account_id: str, target_groups: list[str], instance_ids: list[str], *,
                     register: bool) -> None:
    """Register (or deregister) instances with target groups; nothing when ELB is not served here."""
    operation = "RegisterTargets" if register else "DeregisterTargets"
    if not target_groups or not instance_ids or not available(cloud, "elbv2", operation):
        return
    for arn in target_groups:
        try:
            as_role(cloud, account_id, "elbv2", operation,
                    {"TargetGroupArn": arn, "Targets": [{"Id": instance_id} for instance_id in instance_ids]})
        except ServiceCallError:
            if register:
                raise


def unhealthy_targets(cloud: Any, account_id: str, target_groups: list[str]) -> set[str]:
    """Instance ids some target group reports ``unhealthy``."""
    if not target_groups or not available(cloud, "elbv2", "DescribeTargetHealth"):
        return set()
    unhealthy: set[str] = set()
    for arn in target_groups:
        try:
            answer = as_role(cloud, account_id, "elbv2", "DescribeTargetHealth", {"TargetGroupArn": arn})
        except ServiceCallError:
            continue
        for description in answer.get("TargetHealthDescriptions", []):
            if description.get("TargetHealth", {}).get("State") == "unhealthy":
                unhealthy.add(description.get("Target", {}).get("Id", ""))
    return unhealthy


def check_target_groups(cloud: Any, account_id: str, arns: list[str]) -> None:
    """ValidationError as Auto Scaling words it when a target group does not exist (unchecked without ELB)."""
    if not arns or not available(cloud, "elbv2", "DescribeTargetGroups"):
        return
    try:
        as_role(cloud, account_id, "elbv2", "DescribeTargetGroups", {"TargetGroupArns": arns})
    except ServiceCallError:
        raise ValidationError("Provided Target Groups may not be valid. Please ensure they exist and try "
                              "again.") from None
