"""CloudWatch's handlers in-process on a real Cloud: ingest for the cloud's own services, an evaluation pass
with its actions (Auto Scaling's registry, failures in history), and the sweeper's roll-up and expiry."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.cloud import Cloud
from controller.cloudwatch import evaluation, ingest, retention
from controller.config import Config
from tests.unit.harness import ACCOUNT, CloudHarness


class CloudWatchCloud(CloudHarness):
    service = "cloudwatch"


@pytest.fixture
def cw(tmp_path: Path) -> Iterator[CloudWatchCloud]:
    harness = CloudWatchCloud(Cloud(Config(data_dir=tmp_path / "data")), ACCOUNT)
    yield harness
    harness.close()


def last_minute() -> dt.datetime:
    return dt.datetime.fromtimestamp(int(time.time()) // 60 * 60 - 60, dt.UTC)


def test_ingest_writes_aws_namespaces(cw: CloudWatchCloud) -> None:
    at = last_minute()
    dims = (("LoadBalancer", "app/web/50dc6c495c0c9188"),)
    ingest.put(cw.cloud, ACCOUNT, cw.config.region, "AWS/ApplicationELB", [
        ingest.Datum("RequestCount", dims, at + dt.timedelta(seconds=1), value=12.0, unit="Count"),
        ingest.Datum("TargetResponseTime", dims, at + dt.timedelta(seconds=2),
                     statistics=ingest.StatisticSet(11, 0.084, 0.001, 0.02), unit="Seconds")])
    got = cw.call("GetMetricStatistics", {
        "Namespace": "AWS/ApplicationELB", "MetricName": "TargetResponseTime",
        "Dimensions": [{"Name": "LoadBalancer", "Value": "app/web/50dc6c495c0c9188"}],
        "StartTime": at, "EndTime": at + dt.timedelta(minutes=1), "Period": 60, "Statistics": ["Sum", "SampleCount"]})
    assert got["Datapoints"][0]["Sum"] == 0.084 and got["Datapoints"][0]["SampleCount"] == 11
    names = {metric["MetricName"] for metric in cw.call("ListMetrics", {"Namespace": "AWS/ApplicationELB"})["Metrics"]}
    assert names == {"RequestCount", "TargetResponseTime"}


def test_evaluation_runs_actions_and_records_them(cw: CloudWatchCloud) -> None:
    calls: list[tuple[str, str, str]] = []
    handlers = getattr(cw.cloud, "alarm_action_handlers", None)
    if handlers is None:
        handlers = {}
        cw.cloud.alarm_action_handlers = handlers
    handlers["autoscaling"] = lambda cloud, alarm, arn, state: calls.append((alarm["AlarmName"], arn, state))
    policy = (f"arn:aws:autoscaling:{cw.config.region}:{ACCOUNT}:scalingPolicy:1a2b:autoScalingGroupName/web"
              ":policyName/up")
    function = f"arn:aws:lambda:{cw.config.region}:{ACCOUNT}:function:pager"
    cw.call("PutMetricAlarm", {"AlarmName": "busy", "Namespace": "App", "MetricName": "Load", "Statistic": "Average",
                               "Period": 60, "EvaluationPeriods": 1, "Threshold": 0.5,
                               "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": [policy, function]})
    cw.call("PutMetricData", {"Namespace": "App", "MetricData": [
        {"MetricName": "Load", "Value": 0.9, "Timestamp": last_minute() + dt.timedelta(seconds=10)}]})
    memory = evaluation.Memory()
    changed = evaluation.run_pass(cw.cloud, memory)
    assert [(row["name"], row["state_value"]) for row in changed] == [("busy", "ALARM")]
    assert calls == [("busy", policy, "ALARM")]
    history = cw.call("DescribeAlarmHistory", {"AlarmName": "busy", "HistoryItemType": "Action",
                                               "ScanBy": "TimestampAscending"})["AlarmHistoryItems"]
    assert [item["HistorySummary"].split(" ")[0] for item in history] == ["Successfully", "Failed"]
    assert json.loads(history[1]["HistoryData"])["actionState"] == "Failed"
    # no new period, data or configuration since: a SetAlarmState holds until the alarm's inputs change
    cw.call("SetAlarmState", {"AlarmName": "busy", "StateValue": "OK", "StateReason": "manual"})
    assert evaluation.run_pass(cw.cloud, memory) == []
    assert cw.call("DescribeAlarms", {"AlarmNames": ["busy"]})["MetricAlarms"][0]["StateValue"] == "OK"
    memory.data_version += 1              # what a PutMetricData does: the alarm looks at its data again
    assert [row["state_value"] for row in evaluation.run_pass(cw.cloud, memory)] == ["ALARM"]


def test_disabled_actions_do_not_run(cw: CloudWatchCloud) -> None:
    calls: list[Any] = []
    cw.cloud.alarm_action_handlers = {"autoscaling": lambda *args: calls.append(args)}
    policy = f"arn:aws:autoscaling:{cw.config.region}:{ACCOUNT}:scalingPolicy:1:autoScalingGroupName/a:policyName/b"
    cw.call("PutMetricAlarm", {"AlarmName": "quiet", "Namespace": "App", "MetricName": "Load", "Statistic": "Sum",
                               "Period": 60, "EvaluationPeriods": 1, "Threshold": 1,
                               "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": [policy],
                               "ActionsEnabled": False})
    cw.call("SetAlarmState", {"AlarmName": "quiet", "StateValue": "ALARM", "StateReason": "drill"})
    assert calls == []


def test_sweeper_rolls_up_and_expires(cw: CloudWatchCloud) -> None:
    now = time.time()
    recent = dt.datetime.fromtimestamp(int(now) // 60 * 60 - 120, dt.UTC)
    cw.call("PutMetricData", {"Namespace": "App", "MetricData": [
        {"MetricName": "Hits", "Value": float(second), "StorageResolution": 1,
         "Timestamp": recent + dt.timedelta(seconds=second)} for second in range(10)]})
    assert retention.sweep(cw.cloud, now) == 0                     # 1-second data is kept for three hours
    later = now + 4 * 3600
    assert retention.sweep(cw.cloud, later) == 10
    with cw.db.read() as conn:
        rows = conn.exec_driver_sql("SELECT ts, resolution, sample_count, sum, dist FROM cw_datapoints").all()
    assert [(row.ts, row.resolution, row.sample_count, row.sum) for row in rows] == [
        (int(recent.timestamp()) * 1000, 60, 10.0, 45.0)]
    assert len(json.loads(rows[0].dist)) == 10
    retention.sweep(cw.cloud, now + 456 * 86400)
    with cw.db.read() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM cw_datapoints").scalar() == 0


def test_metric_math_and_composite_alarms_in_one_pass(cw: CloudWatchCloud) -> None:
    at = last_minute() + dt.timedelta(seconds=5)
    cw.call("PutMetricData", {"Namespace": "App", "MetricData": [
        {"MetricName": "Errors", "Value": 3.0, "Timestamp": at}, {"MetricName": "Requests", "Value": 20.0,
                                                                  "Timestamp": at}]})

    def stat(name: str) -> dict[str, Any]:
        return {"Metric": {"Namespace": "App", "MetricName": name}, "Period": 60, "Stat": "Sum"}

    cw.call("PutMetricAlarm", {"AlarmName": "error-rate", "EvaluationPeriods": 1, "Threshold": 10.0,
                               "ComparisonOperator": "GreaterThanThreshold", "Metrics": [
                                   {"Id": "e", "MetricStat": stat("Errors"), "ReturnData": False},
                                   {"Id": "r", "MetricStat": stat("Requests"), "ReturnData": False},
                                   {"Id": "rate", "Expression": "100 * e / r"}]})
    cw.call("PutMetricAlarm", {"AlarmName": "volume", "Namespace": "App", "MetricName": "Requests",
                               "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 100.0,
                               "ComparisonOperator": "GreaterThanThreshold"})
    cw.call("PutCompositeAlarm", {"AlarmName": "page", "AlarmRule": "ALARM(\"error-rate\") AND NOT ALARM(volume)"})
    changed = {row["name"]: row for row in evaluation.run_pass(cw.cloud, evaluation.Memory())}
    assert {name: row["state_value"] for name, row in changed.items()} == {
        "error-rate": "ALARM", "volume": "OK", "page": "ALARM"}
    assert "[15.0 (" in changed["error-rate"]["state_reason"]
    assert "statistic" not in json.loads(changed["error-rate"]["state_reason_data"])
    assert changed["page"]["state_reason"].startswith(
        f"arn:aws:cloudwatch:{cw.config.region}:{ACCOUNT}:alarm:error-rate transitioned to ALARM at ")
    refused = cw.refused("PutMetricAlarm", {"AlarmName": "loop", "EvaluationPeriods": 1, "Threshold": 1.0,
                                            "ComparisonOperator": "GreaterThanThreshold", "Metrics": [
                                                {"Id": "a", "Expression": "b + 1", "ReturnData": False},
                                                {"Id": "b", "Expression": "a + 1"}]}, "ValidationError")
    assert "circular" in refused.message


def test_ec2_action_without_an_instance_fails_in_history(cw: CloudWatchCloud) -> None:
    cw.call("PutMetricAlarm", {"AlarmName": "stopper", "Namespace": "App", "MetricName": "Load",
                               "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1,
                               "ComparisonOperator": "GreaterThanThreshold",
                               "AlarmActions": [f"arn:aws:automate:{cw.config.region}:ec2:stop"]})
    cw.call("SetAlarmState", {"AlarmName": "stopper", "StateValue": "ALARM", "StateReason": "drill"})
    [item] = cw.call("DescribeAlarmHistory", {"AlarmName": "stopper", "HistoryItemType": "Action"})["AlarmHistoryItems"]
    assert item["HistorySummary"].startswith(f"Failed to execute action arn:aws:automate:{cw.config.region}:ec2:stop")
    assert "InstanceId" in item["HistorySummary"]
