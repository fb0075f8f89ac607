"""Alarm rows: ARNs, lookups, the output shapes DescribeAlarms answers, history items and state changes.

The operations (``alarms.py``), SetAlarmState and the evaluator (``evaluation.py``) change an alarm's
state only through :func:`set_state`, which writes the StateUpdate history item in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from sqlalchemy.engine import Connection

from controller.cloudwatch.errors import ResourceNotFound

STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
METRIC_ALARM, COMPOSITE_ALARM = "MetricAlarm", "CompositeAlarm"
INITIAL_REASON = "Unchecked: Initial alarm creation"
_COLUMNS = ("arn, account_id, region, name, kind, config, namespace, metric_name, actions_enabled, state_value,"
            " state_reason, state_reason_data, state_updated_at, state_transitioned_at, config_updated_at, tags")


def now_ms() -> int:
    return int(time.time() * 1000)


def moment(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def iso(ms: int) -> str:
    """``2026-12-05T18:00:00.000+0000``, as alarm history data writes times."""
    return moment(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


def alarm_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{name}"


def _row(found: Any) -> dict[str, Any]:
    row = dict(found._mapping)
    row["config"] = json.loads(row["config"]) if isinstance(row["config"], str) else row["config"]
    row["tags"] = json.loads(row["tags"]) if isinstance(row["tags"], str) else (row["tags"] or {})
    return row


def select(conn: Connection, where: str = "1 = 1", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [_row(found) for found in conn.exec_driver_sql(f"SELECT {_COLUMNS} FROM cw_alarms WHERE {where}"
                                                          " ORDER BY name", args)]


def by_names(conn: Connection, account_id: str, region: str, names: list[str]) -> dict[str, dict[str, Any]]:
    if not names:
        return {}
    marks = ",".join("?" * len(names))
    rows = select(conn, f"account_id = ? AND region = ? AND name IN ({marks})", (account_id, region, *names))
    return {row["name"]: row for row in rows}


def one(conn: Connection, account_id: str, region: str, name: str) -> dict[str, Any]:
    found = by_names(conn, account_id, region, [name]).get(name)
    if found is None:
        raise ResourceNotFound(f"Alarm {name} not found")
    return found


def shape(row: dict[str, Any]) -> dict[str, Any]:
    """The MetricAlarm or CompositeAlarm output shape of a row."""
    out = {key: value for key, value in row["config"].items() if value is not None}
    out.update({
        "AlarmName": row["name"], "AlarmArn": row["arn"], "ActionsEnabled": bool(row["actions_enabled"]),
        "AlarmConfigurationUpdatedTimestamp": moment(row["config_updated_at"]),
        "StateValue": row["state_value"], "StateReason": row["state_reason"],
        "StateUpdatedTimestamp": moment(row["state_updated_at"]),
        "StateTransitionedTimestamp": moment(row["state_transitioned_at"]),
    })
    for member in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        out.setdefault(member, [])
    if row["kind"] == METRIC_ALARM:
        out.setdefault("Dimensions", [])
    if row["state_reason_data"]:
        out["StateReasonData"] = row["state_reason_data"]
    return out


def history_document(row: dict[str, Any]) -> dict[str, Any]:
    """An alarm as history data shows it (ConfigurationUpdate items): its shape with ISO times."""
    out = shape(row)
    for key, value in list(out.items()):
        if isinstance(value, dt.datetime):
            out[key] = value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
    return out


def add_history(conn: Connection, row: dict[str, Any], item_type: str, summary: str, data: dict[str, Any],
                at: int | None = None) -> None:
    conn.exec_driver_sql(
        "INSERT INTO cw_alarm_history (account_id, region, alarm_name, alarm_type, at, item_type, summary, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (row["account_id"], row["region"], row["name"], row["kind"], now_ms() if at is None else at, item_type,
         summary, json.dumps(data, separators=(",", ":"))))


def set_state(conn: Connection, row: dict[str, Any], state: str, reason: str, reason_data: str | None,
              at: int | None = None) -> dict[str, Any]:
    """Move the alarm to ``state`` (recording the StateUpdate item); the row as it now is."""
    at = now_ms() if at is None else at
    old = {"stateValue": row["state_value"], "stateReason": row["state_reason"]}
    new: dict[str, Any] = {"stateValue": state, "stateReason": reason}
    if reason_data:
        try:
            new["stateReasonData"] = json.loads(reason_data)
        except ValueError:
            new["stateReasonData"] = reason_data
    transitioned = row["state_transitioned_at"] if state == row["state_value"] else at
    conn.exec_driver_sql(
        "UPDATE cw_alarms SET state_value = ?, state_reason = ?, state_reason_data = ?, state_updated_at = ?,"
        " state_transitioned_at = ? WHERE arn = ?", (state, reason, reason_data, at, transitioned, row["arn"]))
    add_history(conn, row, "StateUpdate", f"Alarm updated from {row['state_value']} to {state}",
                {"version": "1.0", "oldState": old, "newState": new}, at)
    return {**row, "state_value": state, "state_reason": reason, "state_reason_data": reason_data,
            "state_updated_at": at, "state_transitioned_at": transitioned, "previous_state": row["state_value"]}
