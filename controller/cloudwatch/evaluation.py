"""One evaluation pass over every alarm: read their periods, ask the pure evaluators, store transitions.

Metric alarms are evaluated when something they depend on changed since their last look (a new period
completed, datapoints arrived, their configuration changed), so a SetAlarmState holds until then, as on
AWS. Composite alarms are evaluated when the states of the alarms their rule names changed. What the
pass remembers lives in the :class:`Memory` the worker keeps; a transition's actions are dispatched
after its transaction commits.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from controller.cloudwatch import actions, composite, metric_data, records, store
from controller.cloudwatch.alarms import alarm_period
from controller.cloudwatch.evaluate import Point, Rule, Verdict, evaluate, evaluation_window

log = logging.getLogger(__name__)


@dataclass
class Memory:
    """What the last pass saw of each alarm: arn -> fingerprint of its inputs."""

    seen: dict[str, Any] = field(default_factory=dict)
    data_version: int = 0


def rule_of(config: dict[str, Any]) -> Rule:
    return Rule(period=alarm_period(config), evaluation_periods=int(config["EvaluationPeriods"]),
                datapoints_to_alarm=int(config.get("DatapointsToAlarm") or config["EvaluationPeriods"]),
                threshold=float(config["Threshold"]), comparison=config["ComparisonOperator"],
                treat_missing=config.get("TreatMissingData") or "missing",
                statistic=config.get("Statistic") or config.get("ExtendedStatistic"))


def points_of(conn: Connection, row: dict[str, Any], rule: Rule, now: float) -> list[Point]:
    """The values of the alarm's last EvaluationPeriods complete periods, oldest first."""
    window = evaluation_window(rule, now)
    start, end = window[0], window[-1] + rule.period
    config = row["config"]
    if config.get("Metrics"):
        queries = config["Metrics"]
        parsed = metric_data.check_queries(queries, "Metrics")
        series = metric_data.run(conn, row["account_id"], row["region"], queries, start, end, parsed)
        returning = next(query for query in queries if query.get("ReturnData", True) is not False)
        values = series[returning["Id"]]
        return [Point(ts, values.get(ts)) for ts in window]
    dims = tuple((d["Name"], d["Value"]) for d in config.get("Dimensions") or [])
    metric = store.find_metric(conn, row["account_id"], row["region"], config["Namespace"], config["MetricName"],
                               dims)
    found = store.per_period(store.aggregates(conn, metric, start, end, rule.period, config.get("Unit")))
    statistic = config.get("Statistic") or config.get("ExtendedStatistic")
    out = []
    for ts in window:
        aggregate = found.get(ts)
        value = None if aggregate is None else aggregate.statistic(statistic)
        out.append(Point(ts, value, None if value is None else aggregate.sample_count))  # type: ignore[union-attr]
    return out


def _composite_verdict(row: dict[str, Any], states: dict[str, dict[str, Any]]) -> Verdict:
    prefix = records.alarm_arn(row["region"], row["account_id"], "")
    expr = composite.parse(row["config"]["AlarmRule"])

    def state_of(name: str) -> str:
        child = states.get(name[len(prefix):] if name.startswith(prefix) else name)
        return child["state_value"] if child else "INSUFFICIENT_DATA"

    state = "ALARM" if composite.evaluate(expr, state_of) else "OK"
    children = [states[name] for name in (n[len(prefix):] if n.startswith(prefix) else n
                                          for n in composite.alarm_names(expr)) if name in states]
    triggering = [child for child in children if child["state_value"] == state] or children
    latest = max(triggering, key=lambda child: child["state_transitioned_at"], default=None)
    if latest is None:
        reason = f"The alarm rule evaluated to {'TRUE' if state == 'ALARM' else 'FALSE'}"
        data = {"triggeringAlarms": []}
    else:
        when = records.moment(latest["state_transitioned_at"]).strftime("%A %d %B, %Y %H:%M:%S UTC")
        reason = f"{latest['arn']} transitioned to {latest['state_value']} at {when}"
        data = {"triggeringAlarms": [{"arn": child["arn"], "state": {
            "value": child["state_value"], "timestamp": records.iso(child["state_transitioned_at"])}}
            for child in triggering]}
    return Verdict(state, reason, json.dumps(data, separators=(",", ":")))


def run_pass(cloud: Any, memory: Memory, now: float | None = None) -> list[dict[str, Any]]:
    """Evaluate what needs it; the rows that transitioned (their actions already dispatched)."""
    now = time.time() if now is None else now
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    with cloud.db.read() as conn:
        rows = records.select(conn)
    live = {row["arn"] for row in rows}
    for arn in [arn for arn in memory.seen if arn not in live]:     # deleted alarms
        del memory.seen[arn]
    changed: list[dict[str, Any]] = []
    for row in rows:
        if row["kind"] != records.METRIC_ALARM:
            continue
        try:
            rule = rule_of(row["config"])
            fingerprint = (evaluation_window(rule, now)[-1], row["config_updated_at"], memory.data_version)
            if memory.seen.get(row["arn"]) == fingerprint:
                continue
            with cloud.db.read() as conn:
                verdict = evaluate(rule, points_of(conn, row, rule, now), row["state_value"], moment)
            memory.seen[row["arn"]] = fingerprint
        except Exception:
            log.exception("evaluating alarm %s failed", row["arn"])
            continue
        if verdict is not None and verdict.state != row["state_value"]:
            moved = _apply(cloud, row, verdict, now)
            if moved is not None:
                changed.append(moved)
                row.update(moved)
    for _round in range(3):          # composites of composites settle within a few rounds
        moved_any = False
        by_account: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for row in rows:
            by_account.setdefault((row["account_id"], row["region"]), {})[row["name"]] = row
        for row in rows:
            if row["kind"] != records.COMPOSITE_ALARM:
                continue
            states = by_account[(row["account_id"], row["region"])]
            try:
                names = composite.alarm_names(composite.parse(row["config"]["AlarmRule"]))
                fingerprint = (row["config_updated_at"],
                               tuple((name, (states.get(name.rsplit(":alarm:", 1)[-1]) or {}).get("state_value"))
                                     for name in names))
                if memory.seen.get(row["arn"]) == fingerprint:
                    continue
                memory.seen[row["arn"]] = fingerprint
                verdict = _composite_verdict(row, states)
            except Exception:
                log.exception("evaluating composite alarm %s failed", row["arn"])
                continue
            if verdict.state != row["state_value"]:
                moved = _apply(cloud, row, verdict, now)
                if moved is not None:
                    changed.append(moved)
                    row.update(moved)
                    moved_any = True
        if not moved_any:
            break
    return changed


def _apply(cloud: Any, row: dict[str, Any], verdict: Verdict, now: float) -> dict[str, Any] | None:
    """Store the transition unless the alarm changed meanwhile; dispatch its actions."""
    with cloud.db.begin() as conn:
        current = records.by_names(conn, row["account_id"], row["region"], [row["name"]]).get(row["name"])
        if current is None or current["arn"] != row["arn"] or current["config_updated_at"] != row["config_updated_at"] \
                or current["state_value"] != row["state_value"]:
            return None
        moved = records.set_state(conn, current, verdict.state, verdict.reason, verdict.reason_data, int(now * 1000))
    actions.dispatch(cloud, moved)
    return moved
