"""What an alarm's state change does: publish to SNS topics, run Auto Scaling policies, act on EC2 instances.

Actions run off the request and evaluation path (on the evaluator's thread pool when it runs), as the
account's own calls through :mod:`controller.service_calls` (IAM, validation and CloudTrail apply to them
as to any call, ``invokedBy`` cloudwatch.amazonaws.com). Each action leaves an ``Action`` history item,
succeeded or failed. Auto Scaling registers its handler in ``cloud.alarm_action_handlers["autoscaling"]``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from controller.cloudwatch import records

log = logging.getLogger(__name__)
INVOKED_BY = "cloudwatch.amazonaws.com"
_MEMBER_OF_STATE = {"OK": "OKActions", "ALARM": "AlarmActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}
_EC2_OPERATIONS = {"stop": "StopInstances", "terminate": "TerminateInstances", "reboot": "RebootInstances"}
REGION_NAMES = {"us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)",
                "us-west-1": "US West (N. California)", "us-west-2": "US West (Oregon)",
                "eu-west-1": "EU (Ireland)", "eu-central-1": "EU (Frankfurt)"}


class ActionFailed(Exception):
    pass


def dispatch(cloud: Any, row: dict[str, Any]) -> None:
    """Run the actions of the state ``row`` just entered (``previous_state`` set), if its actions are enabled."""
    arns = row["config"].get(_MEMBER_OF_STATE[row["state_value"]]) or []
    if not row["actions_enabled"] or not arns:
        return
    worker = cloud.cloudwatch_worker
    if worker is not None:
        worker.submit(run_all, cloud, row, arns)
    else:
        run_all(cloud, row, arns)


def run_all(cloud: Any, row: dict[str, Any], arns: list[str]) -> None:
    for arn in arns:
        detail: dict[str, Any] = {"stateUpdateTimestamp": row["state_updated_at"], "notificationResource": arn}
        try:
            published = run_one(cloud, row, arn)
            if published is not None:
                detail["publishedMessage"] = published
            summary, detail["actionState"] = f"Successfully executed action {arn}", "Succeeded"
        except Exception as exc:           # every failure is the action's, recorded in history
            if not isinstance(exc, ActionFailed):
                log.exception("CloudWatch alarm action %s failed", arn)
            message = str(exc)
            summary = f'Failed to execute action {arn}. Received error: "{message}"'
            detail.update(actionState="Failed", error=message)
        try:
            with cloud.db.begin() as conn:
                records.add_history(conn, row, "Action", summary, detail)
        except Exception:
            log.exception("recording the history of alarm action %s failed", arn)


def run_one(cloud: Any, row: dict[str, Any], arn: str) -> str | None:
    """Execute one action; the message published (SNS), or None."""
    from controller.auth.store import root_principal
    from controller.service_calls import ServiceCallError, call

    parts = arn.split(":")
    service = parts[2] if len(parts) > 5 else ""
    principal = root_principal(row["account_id"])
    try:
        if service == "sns":
            message = json.dumps(message_of(row), separators=(",", ":"))
            region = REGION_NAMES.get(row["region"], row["region"])
            subject = f'{row["state_value"]}: "{row["name"]}" in {region}'[:100]
            call(cloud, principal, "sns", "Publish", {"TopicArn": arn, "Subject": subject, "Message": message},
                 invoked_by=INVOKED_BY)
            return message
        if service == "automate":
            verb = parts[-1]
            if verb not in _EC2_OPERATIONS:
                raise ActionFailed(f"The EC2 action {verb} is not supported by this cloud.")
            instance = next((d["Value"] for d in row["config"].get("Dimensions") or []
                             if d["Name"] == "InstanceId"), None)
            if instance is None:
                raise ActionFailed("The alarm's metric has no InstanceId dimension.")
            call(cloud, principal, "ec2", _EC2_OPERATIONS[verb], {"InstanceIds": [instance]}, invoked_by=INVOKED_BY)
            return None
        handler = cloud.alarm_action_handlers.get(service)
        if handler is None:
            raise ActionFailed(f"Actions of service {service} are not supported by this cloud.")
        handler(cloud, records.shape(row), arn, row["state_value"])
        return None
    except ServiceCallError as exc:
        raise ActionFailed(f"{exc.code}: {exc.message}") from exc


def message_of(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON document CloudWatch publishes to a topic on a state change."""
    config = row["config"]
    message: dict[str, Any] = {
        "AlarmName": row["name"], "AlarmDescription": config.get("AlarmDescription"),
        "AWSAccountId": row["account_id"],
        "AlarmConfigurationUpdatedTimestamp": records.iso(row["config_updated_at"]),
        "NewStateValue": row["state_value"], "NewStateReason": row["state_reason"],
        "StateChangeTime": records.iso(row["state_updated_at"]),
        "Region": REGION_NAMES.get(row["region"], row["region"]), "AlarmArn": row["arn"],
        "OldStateValue": row.get("previous_state", row["state_value"]),
        "OKActions": config.get("OKActions") or [], "AlarmActions": config.get("AlarmActions") or [],
        "InsufficientDataActions": config.get("InsufficientDataActions") or [],
    }
    if row["kind"] == records.COMPOSITE_ALARM:
        message["AlarmRule"] = config.get("AlarmRule")
        return message
    trigger: dict[str, Any] = {}
    if config.get("Metrics"):
        trigger["Metrics"] = config["Metrics"]
    else:
        trigger.update(MetricName=config.get("MetricName"), Namespace=config.get("Namespace"))
        if config.get("ExtendedStatistic"):
            trigger.update(StatisticType="ExtendedStatistic", ExtendedStatistic=config["ExtendedStatistic"])
        else:
            trigger.update(StatisticType="Statistic", Statistic=str(config.get("Statistic")).upper())
        trigger.update(Unit=config.get("Unit"),
                       Dimensions=[{"value": d["Value"], "name": d["Name"]} for d in config.get("Dimensions") or []])
    trigger.update(Period=config.get("Period") or 0, EvaluationPeriods=config.get("EvaluationPeriods"),
                   DatapointsToAlarm=config.get("DatapointsToAlarm") or config.get("EvaluationPeriods"),
                   ComparisonOperator=config.get("ComparisonOperator"), Threshold=config.get("Threshold"),
                   TreatMissingData=config.get("TreatMissingData") or "missing",
                   EvaluateLowSampleCountPercentile=config.get("EvaluateLowSampleCountPercentile") or "")
    message["Trigger"] = trigger
    return message
