"""PutMetricAlarm, PutCompositeAlarm, DeleteAlarms, Enable/DisableAlarmActions and SetAlarmState."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from controller.api import RequestContext
from controller.cloudwatch import composite, evaluate, records
from controller.cloudwatch.errors import (
    InvalidFormat,
    InvalidParameterCombination,
    LimitExceeded,
    ResourceNotFound,
    ValidationError,
)
from controller.cloudwatch.metric_data import check_queries
from controller.cloudwatch.metrics import check_dimensions
from controller.cloudwatch.service import api
from controller.cloudwatch.state import ALARMS_TOPIC
from controller.cloudwatch.statistics import STATISTICS, percentile_of
from controller.state import Database

MAX_ALARMS = 10_000
MAX_ACTIONS = 5
_ARN_RE = re.compile(r"^arn:aws[a-z-]*:([a-z0-9-]+):([a-z0-9-]*):([^:]*):(.+)$")
_AUTOMATE_RE = re.compile(r"^ec2:(stop|terminate|reboot|recover)$")
_ACTION_SERVICES = ("sns", "autoscaling", "automate", "swf", "lambda", "ssm", "ssm-incidents")
MAX_WINDOW_SECONDS = 7 * 86400


def _alarm_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    """The alarms' ARNs; Put*Alarm also carry ``cloudwatch:AlarmActions`` (every action the alarm would take)."""
    if ctx.operation in ("PutMetricAlarm", "PutCompositeAlarm"):
        ctx.condition_keys["cloudwatch:AlarmActions"] = [
            action for member in ("OKActions", "AlarmActions", "InsufficientDataActions")
            for action in params.get(member) or [] if isinstance(action, str)]
    names = params.get("AlarmNames") or ([params["AlarmName"]] if params.get("AlarmName") else [])
    return [records.alarm_arn(ctx.region, ctx.account_id, name) for name in names] or ["*"]


def check_actions(ctx: RequestContext, params: dict[str, Any]) -> None:
    for member in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        actions = params.get(member) or []
        if len(actions) > MAX_ACTIONS:
            raise ValidationError(f"The collection {member} must not have a size greater than {MAX_ACTIONS}.")
        for action in actions:
            match = _ARN_RE.match(action or "")
            if match is None:
                raise ValidationError(f"Invalid arn syntax: {action}")
            service, region, account, resource = match.groups()
            if service not in _ACTION_SERVICES:
                raise ValidationError(f"Invalid service in arn: {action}")
            if region and region != ctx.region:
                raise ValidationError(f"Invalid region {region} specified. Only {ctx.region} is supported.")
            if service == "automate" and not _AUTOMATE_RE.match(f"{account}:{resource}"):
                raise ValidationError(f"Invalid automate action: {action}")


def _check_name(params: dict[str, Any]) -> str:
    name = params.get("AlarmName") or ""
    if not name or len(name) > 255:
        raise ValidationError("The parameter AlarmName must be between 1 and 255 characters long.")
    return name


def _metric_config(params: dict[str, Any]) -> dict[str, Any]:
    """The metric part of a metric alarm, checked: a single metric or Metrics (metric math)."""
    single = {key: params.get(key) for key in ("MetricName", "Namespace", "Statistic", "ExtendedStatistic",
                                               "Period", "Unit")}
    if params.get("Metrics"):
        used = [key for key in ("MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Period")
                if params.get(key) is not None] + (["Dimensions"] if params.get("Dimensions") else [])
        if used:
            raise InvalidParameterCombination(f"The parameters Metrics and {used[0]} are mutually exclusive.")
        metrics = params["Metrics"]
        check_queries(metrics, "Metrics")
        returning = [query for query in metrics if query.get("ReturnData", True) is not False]
        if len(returning) != 1:
            raise ValidationError("Exactly one element of the metrics list should return data.")
        for query in metrics:
            if query.get("MetricStat") is None and query.get("Expression") is not None and not query.get("Period"):
                query.setdefault("Period", _math_period(metrics))
        return {"Metrics": metrics}
    if not single["MetricName"] or not single["Namespace"]:
        raise ValidationError("A metric alarm needs MetricName and Namespace, or Metrics.")
    if (single["Statistic"] is None) == (single["ExtendedStatistic"] is None):
        raise InvalidParameterCombination("Exactly one of the parameters Statistic and ExtendedStatistic must be"
                                          " specified.")
    if single["Statistic"] is not None and single["Statistic"] not in STATISTICS:
        raise ValidationError(f"The value {single['Statistic']} for parameter Statistic is invalid.")
    if single["ExtendedStatistic"] is not None and percentile_of(single["ExtendedStatistic"]) is None:
        raise ValidationError(f"The value {single['ExtendedStatistic']} for parameter ExtendedStatistic is"
                              " invalid.")
    period = single["Period"]
    if period is None:
        raise ValidationError("The parameter Period is required.")
    if period not in (10, 20, 30) and (period < 60 or period % 60):
        raise ValidationError("Period must be 10, 20, 30 or a multiple of 60")
    dims = check_dimensions(params.get("Dimensions") or [], "Dimensions")
    single["Dimensions"] = [{"Name": name, "Value": value} for name, value in dims]
    return single


def _math_period(metrics: list[dict[str, Any]]) -> int:
    periods = [int(query["MetricStat"]["Period"]) for query in metrics if query.get("MetricStat")]
    return min(periods) if periods else 60


def alarm_period(config: dict[str, Any]) -> int:
    """The period an alarm evaluates: its own, or its returning query's (metric math)."""
    if config.get("Period"):
        return int(config["Period"])
    queries = config.get("Metrics") or []
    returning = next(query for query in queries if query.get("ReturnData", True) is not False)
    if returning.get("MetricStat"):
        return int(returning["MetricStat"]["Period"])
    return int(returning.get("Period") or _math_period(queries))


def _check_rule(params: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    comparison = params.get("ComparisonOperator")
    if comparison in evaluate.ANOMALY_COMPARISONS or params.get("ThresholdMetricId"):
        raise ValidationError("Anomaly detection alarms (ThresholdMetricId and the band comparison operators)"
                              " are not supported.")
    if comparison not in evaluate.COMPARISONS:
        raise ValidationError(f"The value {comparison} for parameter ComparisonOperator is invalid.")
    if params.get("Threshold") is None:
        raise ValidationError("Comparison operators for static thresholds require a Threshold.")
    if not math.isfinite(float(params["Threshold"])):
        raise ValidationError(f"The value {params['Threshold']} for parameter Threshold is invalid.")
    periods = params.get("EvaluationPeriods")
    if not periods or periods < 1:
        raise ValidationError("The parameter EvaluationPeriods must be greater than or equal to 1.")
    to_alarm = params.get("DatapointsToAlarm") or periods
    if to_alarm < 1 or to_alarm > periods:
        raise ValidationError("DatapointsToAlarm must be greater than 0 and less than or equal to"
                              " EvaluationPeriods.")
    if alarm_period(config) * periods > MAX_WINDOW_SECONDS:
        raise ValidationError("The evaluation period (Period multiplied by EvaluationPeriods) must not exceed"
                              " 7 days.")
    treatment = params.get("TreatMissingData") or "missing"
    if treatment not in evaluate.TREATMENTS:
        raise ValidationError(f"The value {treatment} for parameter TreatMissingData is invalid: it must be one"
                              " of missing, ignore, breaching, notBreaching.")
    low_count = params.get("EvaluateLowSampleCountPercentile")
    if low_count is not None and low_count not in ("evaluate", "ignore"):
        raise ValidationError(f"The value {low_count} for parameter EvaluateLowSampleCountPercentile is invalid.")
    return {"EvaluationPeriods": periods, "DatapointsToAlarm": params.get("DatapointsToAlarm"),
            "Threshold": float(params["Threshold"]), "ComparisonOperator": comparison,
            "TreatMissingData": treatment, "EvaluateLowSampleCountPercentile": low_count}


def _tags(params: dict[str, Any]) -> dict[str, str]:
    if any(not tag.get("Key") for tag in params.get("Tags") or []):
        raise ValidationError("Every tag needs a Key.")
    tags = {tag["Key"]: tag.get("Value", "") for tag in params.get("Tags") or []}
    if len(tags) > 50:
        raise ValidationError("An alarm can have at most 50 tags.")
    return tags


def _upsert(ctx: RequestContext, kind: str, name: str, config: dict[str, Any], params: dict[str, Any],
            namespace: str | None, metric_name: str | None) -> None:
    arn = records.alarm_arn(ctx.region, ctx.account_id, name)
    config = {"AlarmDescription": params.get("AlarmDescription"), "OKActions": params.get("OKActions") or [],
              "AlarmActions": params.get("AlarmActions") or [],
              "InsufficientDataActions": params.get("InsufficientDataActions") or [], **config}
    enabled = params.get("ActionsEnabled", True) is not False
    now = records.now_ms()
    with ctx.cloud.db.begin() as conn:
        existing = records.by_names(conn, ctx.account_id, ctx.region, [name]).get(name)
        if existing is not None and existing["kind"] != kind:
            raise ValidationError(f"An alarm named {name} already exists as a {existing['kind']}.")
        if existing is None:
            count = conn.exec_driver_sql("SELECT COUNT(*) FROM cw_alarms WHERE account_id = ? AND region = ?",
                                         (ctx.account_id, ctx.region)).scalar_one()
            if count >= MAX_ALARMS:
                raise LimitExceeded(f"The maximum number of alarms ({MAX_ALARMS}) has been reached.")
            conn.exec_driver_sql(
                "INSERT INTO cw_alarms (arn, account_id, region, name, kind, config, namespace, metric_name,"
                " actions_enabled, state_value, state_reason, state_reason_data, state_updated_at,"
                " state_transitioned_at, config_updated_at, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?, ?)", (arn, ctx.account_id, ctx.region, name, kind, json.dumps(config), namespace,
                              metric_name, enabled, "INSUFFICIENT_DATA", records.INITIAL_REASON, None, now, now, now,
                              json.dumps(_tags(params))))
            created = records.one(conn, ctx.account_id, ctx.region, name)
            records.add_history(conn, created, "ConfigurationUpdate", f'Alarm "{name}" created',
                                {"version": "1.0", "type": "Create",
                                 "createdAlarm": records.history_document(created)}, now)
        else:
            tags = existing["tags"] | _tags(params)
            conn.exec_driver_sql(
                "UPDATE cw_alarms SET config = ?, namespace = ?, metric_name = ?, actions_enabled = ?,"
                " config_updated_at = ?, tags = ? WHERE arn = ?",
                (json.dumps(config), namespace, metric_name, enabled, now, json.dumps(tags), arn))
            updated = records.one(conn, ctx.account_id, ctx.region, name)
            records.add_history(conn, updated, "ConfigurationUpdate", f'Alarm "{name}" updated',
                                {"version": "1.0", "type": "Update",
                                 "originalUpdatedAlarm": records.history_document(existing),
                                 "updatedAlarm": records.history_document(updated)}, now)
        Database.announce(conn, ALARMS_TOPIC)
    ctx.audit_resources.append(arn)


@api.operation("PutMetricAlarm", resources=_alarm_resources)
def put_metric_alarm(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = _check_name(params)
    check_actions(ctx, params)
    config = _metric_config(params)
    config.update(_check_rule(params, config))
    _upsert(ctx, records.METRIC_ALARM, name, config, params, config.get("Namespace"), config.get("MetricName"))
    return {}


@api.operation("PutCompositeAlarm", resources=_alarm_resources)
def put_composite_alarm(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = _check_name(params)
    check_actions(ctx, params)
    rule = params.get("AlarmRule") or ""
    try:
        names = composite.alarm_names(composite.parse(rule))
    except composite.RuleError as exc:
        raise ValidationError(f"Error in AlarmRule: {exc}") from exc
    prefix = records.alarm_arn(ctx.region, ctx.account_id, "")
    wanted = [item[len(prefix):] if item.startswith(prefix) else item for item in names]
    if name in wanted:
        raise ValidationError(f"The alarm rule of {name} refers to the alarm itself.")
    with ctx.cloud.db.read() as conn:
        found = records.by_names(conn, ctx.account_id, ctx.region, wanted)
    absent = [item for item in wanted if item not in found]
    if absent:
        raise ValidationError(f"Could not save the composite alarm as alarms [{', '.join(absent)}] in the alarm"
                              " rule do not exist")
    config = {"AlarmRule": rule}
    for member in ("ActionsSuppressor", "ActionsSuppressorWaitPeriod", "ActionsSuppressorExtensionPeriod"):
        if params.get(member) is not None:
            config[member] = params[member]
    _upsert(ctx, records.COMPOSITE_ALARM, name, config, params, None, None)
    return {}


@api.operation("DeleteAlarms", resources=_alarm_resources)
def delete_alarms(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = list(dict.fromkeys(params.get("AlarmNames") or []))
    if len(names) > 100:
        raise ValidationError("The collection AlarmNames must not have a size greater than 100.")
    with ctx.cloud.db.begin() as conn:
        found = records.by_names(conn, ctx.account_id, ctx.region, names)
        absent = [name for name in names if name not in found]
        if absent:
            raise ResourceNotFound(f"Alarm {absent[0]} not found")
        for name, row in found.items():
            conn.exec_driver_sql("DELETE FROM cw_alarms WHERE arn = ?", (row["arn"],))
            records.add_history(conn, row, "ConfigurationUpdate", f'Alarm "{name}" deleted',
                                {"version": "1.0", "type": "Delete", "deletedAlarm": records.history_document(row)})
    return {}


def _set_actions(ctx: RequestContext, params: dict[str, Any], enabled: bool) -> dict[str, Any]:
    names = params.get("AlarmNames") or []
    if len(names) > 100:
        raise ValidationError("The collection AlarmNames must not have a size greater than 100.")
    with ctx.cloud.db.begin() as conn:
        for row in records.by_names(conn, ctx.account_id, ctx.region, names).values():
            conn.exec_driver_sql("UPDATE cw_alarms SET actions_enabled = ? WHERE arn = ?", (enabled, row["arn"]))
    return {}


@api.operation("EnableAlarmActions", resources=_alarm_resources)
def enable_alarm_actions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _set_actions(ctx, params, True)


@api.operation("DisableAlarmActions", resources=_alarm_resources)
def disable_alarm_actions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _set_actions(ctx, params, False)


@api.operation("SetAlarmState", resources=_alarm_resources)
def set_alarm_state(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from controller.cloudwatch import actions  # the actions module calls other services: loaded on use

    state = params.get("StateValue")
    if state not in records.STATES:
        raise ValidationError(f"The value {state} for parameter StateValue is invalid.")
    reason = params.get("StateReason")
    if reason is None:
        raise ValidationError("The parameter StateReason is required.")
    data = params.get("StateReasonData")
    if data is not None:
        try:
            json.loads(data)
        except ValueError as exc:
            raise InvalidFormat(f"The StateReasonData is not valid JSON: {exc.args[0]}") from exc
    with ctx.cloud.db.begin() as conn:
        row = records.one(conn, ctx.account_id, ctx.region, params.get("AlarmName") or "")
        changed = records.set_state(conn, row, state, reason, data)
        Database.announce(conn, ALARMS_TOPIC)
    if changed["previous_state"] != state:
        actions.dispatch(ctx.cloud, changed)
    return {}
