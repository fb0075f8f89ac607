"""DescribeAlarms, DescribeAlarmsForMetric, DescribeAlarmHistory and the tags of alarms."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from controller.api import RequestContext
from controller.cloudwatch import composite, records
from controller.cloudwatch.errors import (
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    ResourceNotFoundException,
    ValidationError,
)
from controller.cloudwatch.service import api

_ALARM_ARN_PREFIX = "arn:aws:cloudwatch:"


def _token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(["cw", value]).encode()).decode()


def _untoken(token: str) -> Any:
    try:
        tag, value = json.loads(base64.urlsafe_b64decode(token.encode()))
        if tag != "cw":
            raise ValueError(tag)
        return value
    except (ValueError, TypeError) as exc:
        raise InvalidNextToken("The service cannot read the NextToken.") from exc


def _limit(params: dict[str, Any], default: int) -> int:
    limit = params.get("MaxRecords") or default
    if not 1 <= limit <= 100:
        raise InvalidParameterValue(f"The value {limit} for parameter MaxRecords is invalid: it must be between"
                                    " 1 and 100.")
    return int(limit)


def _kinds(params: dict[str, Any]) -> list[str]:
    kinds = params.get("AlarmTypes") or [records.METRIC_ALARM]
    for kind in kinds:
        if kind not in (records.METRIC_ALARM, records.COMPOSITE_ALARM):
            raise InvalidParameterValue(f"The value {kind} for parameter AlarmTypes is invalid.")
    return kinds


def _related(rows: list[dict[str, Any]], params: dict[str, Any], ctx: RequestContext) -> list[dict[str, Any]]:
    """ChildrenOfAlarmName / ParentsOfAlarmName: the alarms a composite reads, or the composites reading one."""
    prefix = records.alarm_arn(ctx.region, ctx.account_id, "")

    def children(row: dict[str, Any]) -> set[str]:
        names = composite.alarm_names(composite.parse(row["config"]["AlarmRule"]))
        return {name[len(prefix):] if name.startswith(prefix) else name for name in names}

    if params.get("ChildrenOfAlarmName"):
        parent = next((row for row in rows if row["name"] == params["ChildrenOfAlarmName"]
                       and row["kind"] == records.COMPOSITE_ALARM), None)
        wanted = children(parent) if parent else set()
        return [row for row in rows if row["name"] in wanted]
    child = params["ParentsOfAlarmName"]
    return [row for row in rows if row["kind"] == records.COMPOSITE_ALARM and child in children(row)]


@api.operation("DescribeAlarms")
def describe_alarms(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names, prefix = params.get("AlarmNames") or [], params.get("AlarmNamePrefix")
    if names and prefix:
        raise InvalidParameterCombination("The parameters AlarmNames and AlarmNamePrefix are mutually exclusive.")
    if params.get("ChildrenOfAlarmName") and params.get("ParentsOfAlarmName"):
        raise InvalidParameterCombination("The parameters ChildrenOfAlarmName and ParentsOfAlarmName are mutually"
                                          " exclusive.")
    if len(names) > 100:
        raise ValidationError("The collection AlarmNames must not have a size greater than 100.")
    state = params.get("StateValue")
    if state is not None and state not in records.STATES:
        raise InvalidParameterValue(f"The value {state} for parameter StateValue is invalid.")
    kinds = _kinds(params) if not (params.get("ChildrenOfAlarmName") or params.get("ParentsOfAlarmName")) \
        else [records.METRIC_ALARM, records.COMPOSITE_ALARM]
    limit = _limit(params, 50)
    after = _untoken(params["NextToken"]) if params.get("NextToken") else ""
    with ctx.cloud.db.read() as conn:
        rows = records.select(conn, "account_id = ? AND region = ?", (ctx.account_id, ctx.region))
    if params.get("ChildrenOfAlarmName") or params.get("ParentsOfAlarmName"):
        rows = _related(rows, params, ctx)
    rows = [row for row in rows if row["kind"] in kinds and row["name"] > after
            and (not names or row["name"] in names) and (not prefix or row["name"].startswith(prefix))
            and (state is None or row["state_value"] == state)]
    action_prefix = params.get("ActionPrefix")
    if action_prefix:
        rows = [row for row in rows if any(action.startswith(action_prefix) for member in
                                           ("OKActions", "AlarmActions", "InsufficientDataActions")
                                           for action in row["config"].get(member) or [])]
    page, more = rows[:limit], len(rows) > limit
    result: dict[str, Any] = {
        "MetricAlarms": [records.shape(row) for row in page if row["kind"] == records.METRIC_ALARM],
        "CompositeAlarms": [records.shape(row) for row in page if row["kind"] == records.COMPOSITE_ALARM]}
    if more:
        result["NextToken"] = _token(page[-1]["name"])
    return result


@api.operation("DescribeAlarmsForMetric")
def describe_alarms_for_metric(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    for member in ("MetricName", "Namespace"):
        if not params.get(member):
            raise ValidationError(f"The parameter {member} is required.")
    with ctx.cloud.db.read() as conn:
        rows = records.select(conn, "account_id = ? AND region = ? AND namespace = ? AND metric_name = ?",
                              (ctx.account_id, ctx.region, params["Namespace"], params["MetricName"]))
    wanted_dims = sorted((d["Name"], d["Value"]) for d in params.get("Dimensions") or [])

    def matches(row: dict[str, Any]) -> bool:
        config = row["config"]
        for member in ("Statistic", "ExtendedStatistic", "Period", "Unit"):
            if params.get(member) is not None and config.get(member) != params[member]:
                return False
        dims = sorted((d["Name"], d["Value"]) for d in config.get("Dimensions") or [])
        return not params.get("Dimensions") or dims == wanted_dims

    return {"MetricAlarms": [records.shape(row) for row in rows if matches(row)]}


@api.operation("DescribeAlarmHistory")
def describe_alarm_history(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    sql = "SELECT history_id, alarm_name, alarm_type, at, item_type, summary, data FROM cw_alarm_history" \
          " WHERE account_id = ? AND region = ?"
    args: list[Any] = [ctx.account_id, ctx.region]
    if params.get("AlarmName"):
        sql += " AND alarm_name = ?"
        args.append(params["AlarmName"])
    item_type = params.get("HistoryItemType")
    if item_type is not None:
        if item_type not in ("ConfigurationUpdate", "StateUpdate", "Action", "AlarmContributorStateUpdate",
                             "AlarmContributorAction"):
            raise InvalidParameterValue(f"The value {item_type} for parameter HistoryItemType is invalid.")
        sql += " AND item_type = ?"
        args.append(item_type)
    kinds = params.get("AlarmTypes") or [records.METRIC_ALARM, records.COMPOSITE_ALARM]
    sql += f" AND alarm_type IN ({','.join('?' * len(kinds))})"
    args += kinds
    for member, op in (("StartDate", ">="), ("EndDate", "<=")):
        if params.get(member) is not None:
            sql += f" AND at {op} ?"
            args.append(int(params[member].timestamp() * 1000))
    scan = params.get("ScanBy") or "TimestampDescending"
    if scan not in ("TimestampDescending", "TimestampAscending"):
        raise InvalidParameterValue(f"The value {scan} for parameter ScanBy is invalid.")
    descending = scan == "TimestampDescending"
    if params.get("NextToken"):
        sql += " AND history_id < ?" if descending else " AND history_id > ?"
        args.append(int(_untoken(params["NextToken"])))
    limit = _limit(params, 100)
    sql += f" ORDER BY history_id {'DESC' if descending else 'ASC'} LIMIT ?"
    args.append(limit + 1)
    with ctx.cloud.db.read() as conn:
        found = conn.exec_driver_sql(sql, tuple(args)).all()
    items = [{"AlarmName": row.alarm_name, "AlarmType": row.alarm_type,
              "Timestamp": dt.datetime.fromtimestamp(row.at / 1000, dt.UTC), "HistoryItemType": row.item_type,
              "HistorySummary": row.summary, "HistoryData": row.data} for row in found[:limit]]
    result: dict[str, Any] = {"AlarmHistoryItems": items}
    if len(found) > limit:
        result["NextToken"] = _token(found[limit - 1].history_id)
    return result


def _alarm_of_arn(ctx: RequestContext, conn: Any, arn: str) -> dict[str, Any]:
    if not arn.startswith(_ALARM_ARN_PREFIX) or ":alarm:" not in arn:
        if arn.startswith(_ALARM_ARN_PREFIX) or arn.startswith("arn:"):
            raise ResourceNotFoundException(f"The resource {arn} does not exist.")
        raise InvalidParameterValue(f"The value {arn} for parameter ResourceARN is invalid.")
    rows = records.select(conn, "arn = ? AND account_id = ?", (arn, ctx.account_id))
    if not rows:
        raise ResourceNotFoundException(f"Alarm {arn.rsplit(':alarm:', 1)[-1]} does not exist.")
    return rows[0]


def _arn_resource(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    return [params.get("ResourceARN") or "*"]


@api.operation("TagResource", resources=_arn_resource)
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if any(not tag.get("Key") for tag in params.get("Tags") or []):
        raise InvalidParameterValue("Every tag needs a Key.")
    tags = {tag["Key"]: tag.get("Value", "") for tag in params.get("Tags") or []}
    for key in tags:
        if key.startswith("aws:"):
            raise InvalidParameterValue(f"The tag key {key} uses the reserved prefix aws:.")
    with ctx.cloud.db.begin() as conn:
        row = _alarm_of_arn(ctx, conn, params.get("ResourceARN") or "")
        merged = row["tags"] | tags
        if len(merged) > 50:
            raise InvalidParameterValue("A resource can have at most 50 tags.")
        conn.exec_driver_sql("UPDATE cw_alarms SET tags = ? WHERE arn = ?", (json.dumps(merged), row["arn"]))
    return {}


@api.operation("UntagResource", resources=_arn_resource)
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        row = _alarm_of_arn(ctx, conn, params.get("ResourceARN") or "")
        kept = {key: value for key, value in row["tags"].items() if key not in (params.get("TagKeys") or [])}
        conn.exec_driver_sql("UPDATE cw_alarms SET tags = ? WHERE arn = ?", (json.dumps(kept), row["arn"]))
    return {}


@api.operation("ListTagsForResource", resources=_arn_resource)
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        row = _alarm_of_arn(ctx, conn, params.get("ResourceARN") or "")
    return {"Tags": [{"Key": key, "Value": value} for key, value in sorted(row["tags"].items())]}
