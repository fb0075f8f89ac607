"""Group notifications: Put/Describe/DeleteNotificationConfiguration, and the SNS messages a group's launches
and terminations send (as the service-linked role).

https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-sns-notifications.html
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import select

from controller.api import RequestContext
from controller.autoscaling import calls, records, state
from controller.autoscaling.errors import ValidationError
from controller.autoscaling.records import Group
from controller.autoscaling.service import api

log = logging.getLogger(__name__)
TYPES = ("autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_LAUNCH_ERROR",
         "autoscaling:EC2_INSTANCE_TERMINATE", "autoscaling:EC2_INSTANCE_TERMINATE_ERROR",
         "autoscaling:TEST_NOTIFICATION")
_SUBJECTS = {"autoscaling:EC2_INSTANCE_LAUNCH": "launch", "autoscaling:EC2_INSTANCE_LAUNCH_ERROR":
             "launch_error", "autoscaling:EC2_INSTANCE_TERMINATE": "termination",
             "autoscaling:EC2_INSTANCE_TERMINATE_ERROR": "termination_error"}


def _publish(cloud: Any, account_id: str, topic: str, subject: str, message: dict[str, Any]) -> None:
    try:
        calls.as_role(cloud, account_id, "sns", "Publish", {"TopicArn": topic, "Subject": subject[:100],
                                                             "Message": json.dumps(message)})
    except calls.ServiceCallError as failure:
        log.warning("Auto Scaling notification to %s failed: %s", topic, failure)


@api.operation("PutNotificationConfiguration", resources=records.group_resources)
def put_notification_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    kinds = params["NotificationTypes"]
    for kind in kinds:
        if kind not in TYPES:
            raise ValidationError(f"Notification type {kind} is not valid")
    topic = params["TopicARN"]
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        configured = dict(group.document.get("_notifications") or {})
        configured[topic] = sorted(set(kinds))
        group.document["_notifications"] = configured
        records.save_group(conn, group)
    _publish(ctx.cloud, ctx.account_id, topic, f"Auto Scaling: test notification for group \"{group.name}\"", {
        "AccountId": ctx.account_id, "RequestId": ctx.request_id, "AutoScalingGroupARN": group.arn,
        "AutoScalingGroupName": group.name, "Service": "AWS Auto Scaling", "Event": "autoscaling:TEST_NOTIFICATION",
        "Time": records.iso(records.now())})
    return {}


@api.operation("DeleteNotificationConfiguration", resources=records.group_resources)
def delete_notification_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        group = records.require_group(conn, ctx, params["AutoScalingGroupName"])
        configured = dict(group.document.get("_notifications") or {})
        if configured.pop(params["TopicARN"], None) is None:
            raise ValidationError(f"No notification configuration found for topic {params['TopicARN']}")
        group.document["_notifications"] = configured
        records.save_group(conn, group)
    return {}


@api.operation("DescribeNotificationConfigurations")
def describe_notification_configurations(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = params.get("AutoScalingGroupNames") or []
    with ctx.cloud.db.read() as conn:
        groups = [group for group in records.all_groups(conn) if group.account_id == ctx.account_id
                  and group.region == ctx.region and (not names or group.name in names)]
    found = [{"AutoScalingGroupName": group.name, "TopicARN": topic, "NotificationType": kind}
             for group in groups for topic, kinds in sorted((group.document.get("_notifications") or {}).items())
             for kind in kinds]
    chunk, token = records.page(found, params)
    return {"NotificationConfigurations": chunk, **({"NextToken": token} if token else {})}


def announce(cloud: Any, group: Group, event: str, activity_id: str | None, instance_id: str = "") -> None:
    """Send ``event`` about an activity to every topic of the group that asked for it."""
    topics = [topic for topic, kinds in (group.document.get("_notifications") or {}).items() if event in kinds]
    if not topics or not activity_id:
        return
    with cloud.db.read() as conn:
        row = conn.execute(select(state.activities).where(state.activities.c.activity_id == activity_id)
                           ).mappings().first()
    if row is None:
        return
    message = {"Progress": row["progress"], "AccountId": group.account_id, "Description": row["description"],
               "RequestId": str(uuid.uuid4()), "EndTime": records.iso(row["end_time"] or records.now()),
               "AutoScalingGroupARN": group.arn, "ActivityId": activity_id, "StartTime": records.iso(row["start_time"]),
               "Service": "AWS Auto Scaling", "Time": records.iso(records.now()), "EC2InstanceId": instance_id,
               "StatusCode": row["status_code"], "StatusMessage": row["status_message"] or "",
               "Details": json.loads(row["details"]), "AutoScalingGroupName": group.name, "Cause": row["cause"],
               "Event": event}
    subject = f"Auto Scaling: {_SUBJECTS.get(event, event)} for group \"{group.name}\""
    for topic in topics:
        _publish(cloud, group.account_id, topic, subject, message)
