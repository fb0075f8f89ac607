"""CloudWatch alarms over the wire with plain boto3: read-back of every field, errors, an alarm that goes to
ALARM after PutMetricData and publishes to an SNS topic an SQS queue subscribes to, composite alarms,
SetAlarmState, history, tags."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e
Client = Any


@pytest.fixture
def cw(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("cloudwatch")


def refused(call: Callable[..., Any], **params: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as excinfo:
        call(**params)
    error = excinfo.value.response["Error"]
    return error["Code"], excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"], error.get("Message", "")


def alarm(cw: Client, name: str, kind: str = "MetricAlarm") -> dict[str, Any]:
    found = cw.describe_alarms(AlarmNames=[name], AlarmTypes=[kind])
    [item] = found["MetricAlarms" if kind == "MetricAlarm" else "CompositeAlarms"]
    return item


def wait_state(cw: Client, name: str, wanted: str, kind: str = "MetricAlarm", timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        item = alarm(cw, name, kind)
        if item["StateValue"] == wanted or time.monotonic() > deadline:
            assert item["StateValue"] == wanted, item
            return item
        time.sleep(0.3)


def test_metric_alarm_reads_back_every_field(cw: Client, cloudlet: CloudletProcess, unique: str) -> None:
    name = f"cpu-{unique}"
    topic = f"arn:aws:sns:{cloudlet.region}:123456789012:ops"
    cw.put_metric_alarm(
        AlarmName=name, AlarmDescription="CPU too high", ActionsEnabled=False, OKActions=[topic],
        AlarmActions=[topic, f"arn:aws:automate:{cloudlet.region}:ec2:stop"], InsufficientDataActions=[],
        MetricName="CPUUtilization", Namespace=f"Test/{unique}", ExtendedStatistic="p90",
        Dimensions=[{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}], Period=300, Unit="Percent",
        EvaluationPeriods=3, DatapointsToAlarm=2, Threshold=80.5, ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="breaching", EvaluateLowSampleCountPercentile="ignore", Tags=[{"Key": "team", "Value": "a"}])
    item = alarm(cw, name)
    assert item["AlarmArn"] == f"arn:aws:cloudwatch:{cloudlet.region}:{item['AlarmArn'].split(':')[4]}:alarm:{name}"
    expected = {"AlarmName": name, "AlarmDescription": "CPU too high", "ActionsEnabled": False, "OKActions": [topic],
                "AlarmActions": [topic, f"arn:aws:automate:{cloudlet.region}:ec2:stop"],
                "InsufficientDataActions": [], "MetricName": "CPUUtilization", "Namespace": f"Test/{unique}",
                "ExtendedStatistic": "p90", "Dimensions": [{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}],
                "Period": 300, "Unit": "Percent", "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": 80.5,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "breaching",
                "EvaluateLowSampleCountPercentile": "ignore"}
    assert {key: item.get(key) for key in expected} == expected
    assert "Statistic" not in item
    assert item["StateValue"] in ("INSUFFICIENT_DATA", "ALARM")
    for stamp in ("StateUpdatedTimestamp", "AlarmConfigurationUpdatedTimestamp", "StateTransitionedTimestamp"):
        assert isinstance(item[stamp], dt.datetime)
    assert cw.list_tags_for_resource(ResourceARN=item["AlarmArn"])["Tags"] == [{"Key": "team", "Value": "a"}]
    cw.tag_resource(ResourceARN=item["AlarmArn"], Tags=[{"Key": "env", "Value": "prod"}])
    cw.untag_resource(ResourceARN=item["AlarmArn"], TagKeys=["team"])
    assert cw.list_tags_for_resource(ResourceARN=item["AlarmArn"])["Tags"] == [{"Key": "env", "Value": "prod"}]
    cw.enable_alarm_actions(AlarmNames=[name])
    assert alarm(cw, name)["ActionsEnabled"] is True
    cw.disable_alarm_actions(AlarmNames=[name])
    assert alarm(cw, name)["ActionsEnabled"] is False
    for_metric = cw.describe_alarms_for_metric(MetricName="CPUUtilization", Namespace=f"Test/{unique}",
                                               Dimensions=[{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}])
    assert [found["AlarmName"] for found in for_metric["MetricAlarms"]] == [name]
    history = cw.describe_alarm_history(AlarmName=name, HistoryItemType="ConfigurationUpdate")["AlarmHistoryItems"]
    assert history[-1]["HistorySummary"] == f'Alarm "{name}" created'
    assert json.loads(history[-1]["HistoryData"])["type"] == "Create"
    cw.delete_alarms(AlarmNames=[name])
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []


def test_metric_math_alarm_reads_back(cw: Client, unique: str) -> None:
    name = f"ratio-{unique}"
    metrics = [
        {"Id": "errors", "MetricStat": {"Metric": {"Namespace": f"Test/{unique}", "MetricName": "Errors"},
                                         "Period": 60, "Stat": "Sum"}, "ReturnData": False},
        {"Id": "requests", "MetricStat": {"Metric": {"Namespace": f"Test/{unique}", "MetricName": "Requests"},
                                           "Period": 60, "Stat": "Sum"}, "ReturnData": False},
        {"Id": "rate", "Expression": "100 * errors / requests", "Label": "Error rate", "ReturnData": True}]
    cw.put_metric_alarm(AlarmName=name, Metrics=metrics, EvaluationPeriods=1, Threshold=5.0,
                        ComparisonOperator="GreaterThanThreshold")
    item = alarm(cw, name)
    assert [query["Id"] for query in item["Metrics"]] == ["errors", "requests", "rate"]
    assert item["Metrics"][2]["Expression"] == "100 * errors / requests"
    assert item["Metrics"][0]["MetricStat"] == metrics[0]["MetricStat"]
    assert "MetricName" not in item and item["Threshold"] == 5.0
    code, status, _ = refused(cw.put_metric_alarm, AlarmName=name, EvaluationPeriods=1, Threshold=1.0,
                              ComparisonOperator="GreaterThanThreshold",
                              Metrics=[{**query, "ReturnData": True} for query in metrics])
    assert (code, status) == ("ValidationError", 400)


def test_alarm_errors(cw: Client, unique: str) -> None:
    base = {"MetricName": "m", "Namespace": f"Test/{unique}", "Statistic": "Average", "Period": 60,
            "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold"}
    code, status, message = refused(cw.put_metric_alarm, AlarmName=f"a-{unique}", AlarmActions=["not-an-arn"], **base)
    assert (code, status) == ("ValidationError", 400) and "not-an-arn" in message
    assert refused(cw.put_metric_alarm, AlarmName=f"a-{unique}", **{**base, "Period": 45})[:2] == (
        "ValidationError", 400)
    assert refused(cw.put_metric_alarm, AlarmName=f"a-{unique}", DatapointsToAlarm=2, **base)[:2] == (
        "ValidationError", 400)
    assert refused(cw.put_metric_alarm, AlarmName=f"a-{unique}", **{**base, "TreatMissingData": "sometimes"})[:2] == (
        "ValidationError", 400)
    assert refused(cw.put_metric_alarm, AlarmName=f"a-{unique}", ExtendedStatistic="p99", **base)[:2] == (
        "InvalidParameterCombination", 400)
    assert refused(cw.put_metric_alarm, AlarmName=f"a-{unique}",
                   **{**base, "ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold"})[:2] == (
        "ValidationError", 400)
    assert cw.describe_alarms(AlarmNames=[f"a-{unique}"])["MetricAlarms"] == []
    code, status, _ = refused(cw.set_alarm_state, AlarmName=f"missing-{unique}", StateValue="ALARM", StateReason="x")
    assert (code, status) == ("ResourceNotFound", 404)
    cw.put_metric_alarm(AlarmName=f"a-{unique}", **base)
    assert refused(cw.set_alarm_state, AlarmName=f"a-{unique}", StateValue="ALARM", StateReason="x",
                   StateReasonData="{not json")[:2] == ("InvalidFormat", 400)
    assert refused(cw.delete_alarms, AlarmNames=[f"a-{unique}", f"missing-{unique}"])[:2] == ("ResourceNotFound", 404)
    assert len(cw.describe_alarms(AlarmNames=[f"a-{unique}"])["MetricAlarms"]) == 1
    assert refused(cw.put_composite_alarm, AlarmName=f"c-{unique}", AlarmRule="ALARM(a) AND")[:2] == (
        "ValidationError", 400)
    assert refused(cw.put_composite_alarm, AlarmName=f"c-{unique}", AlarmRule=f"ALARM(nope-{unique})")[:2] == (
        "ValidationError", 400)
    arn = alarm(cw, f"a-{unique}")["AlarmArn"].replace(f"alarm:a-{unique}", f"alarm:x-{unique}")
    assert refused(cw.list_tags_for_resource, ResourceARN=arn)[:2] == (
        "ResourceNotFoundException", 404)
    cw.delete_alarms(AlarmNames=[f"a-{unique}"])


def test_set_alarm_state_and_history(cw: Client, unique: str) -> None:
    name = f"manual-{unique}"
    cw.put_metric_alarm(AlarmName=name, MetricName="m", Namespace=f"Test/{unique}", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="ignore")
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing",
                       StateReasonData=json.dumps({"why": "drill"}))
    item = alarm(cw, name)
    assert (item["StateValue"], item["StateReason"]) == ("ALARM", "testing")
    assert json.loads(item["StateReasonData"]) == {"why": "drill"}
    assert [found["AlarmName"] for found in cw.describe_alarms(AlarmNamePrefix=f"manual-{unique}",
                                                               StateValue="ALARM")["MetricAlarms"]] == [name]
    assert cw.describe_alarms(AlarmNamePrefix=f"manual-{unique}", StateValue="OK")["MetricAlarms"] == []
    [update] = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert update["HistorySummary"].endswith("to ALARM")
    data = json.loads(update["HistoryData"])
    assert data["newState"] == {"stateValue": "ALARM", "stateReason": "testing", "stateReasonData": {"why": "drill"}}
    both = cw.describe_alarm_history(AlarmName=name, MaxRecords=1)
    assert len(both["AlarmHistoryItems"]) == 1 and "NextToken" in both
    rest = cw.describe_alarm_history(AlarmName=name, MaxRecords=1, NextToken=both["NextToken"])
    assert rest["AlarmHistoryItems"][0]["HistoryItemType"] == "ConfigurationUpdate"
    cw.delete_alarms(AlarmNames=[name])


def _queue(sqs: Client, name: str, topic_arn: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, queue_arn


def test_alarm_on_queue_depth_publishes_to_sns_and_sqs(cw: Client, cloudlet: CloudletProcess, unique: str) -> None:
    sns, sqs = cloudlet.client("sns"), cloudlet.client("sqs")
    topic = sns.create_topic(Name=f"alarms-{unique}")["TopicArn"]
    inbox_url, inbox_arn = _queue(sqs, f"inbox-{unique}", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "false"})
    work = f"work-{unique}"
    name = f"depth-{unique}"
    dims = [{"Name": "QueueName", "Value": work}]
    cw.put_metric_alarm(AlarmName=name, AlarmDescription="backlog", AlarmActions=[topic], OKActions=[topic],
                        MetricName="ApproximateNumberOfMessagesVisible", Namespace=f"Test/{unique}",
                        Dimensions=dims, Statistic="Maximum", Period=60, EvaluationPeriods=2, DatapointsToAlarm=1,
                        Threshold=10.0, ComparisonOperator="GreaterThanThreshold")
    now = dt.datetime.now(dt.UTC)
    previous_minute = now.replace(second=0, microsecond=0) - dt.timedelta(seconds=30)
    cw.put_metric_data(Namespace=f"Test/{unique}", MetricData=[
        {"MetricName": "ApproximateNumberOfMessagesVisible", "Dimensions": dims, "Timestamp": stamp, "Value": 25.0,
         "Unit": "Count"} for stamp in (previous_minute, now)])
    item = wait_state(cw, name, "ALARM")
    # Evaluated before the minute turns, only the previous minute is complete (1 of 1); after it turns, the
    # current minute is complete too (2 of 2). Either is AWS's wording, as long as count and data agree.
    crossed = re.match(r"Threshold Crossed: ([12]) out of the last \1 datapoints \[25\.0 \(", item["StateReason"])
    assert crossed, item["StateReason"]
    count = int(crossed.group(1))
    verb = "was" if count == 1 else "were"
    assert f"{verb} greater than the threshold (10.0) (minimum 1 datapoint for OK -> ALARM transition)." \
        in item["StateReason"]
    reason_data = json.loads(item["StateReasonData"])
    assert reason_data["statistic"] == "Maximum" and reason_data["recentDatapoints"] == [25.0] * count
    deadline, message = time.monotonic() + 20, None
    while message is None and time.monotonic() < deadline:
        for received in sqs.receive_message(QueueUrl=inbox_url, WaitTimeSeconds=1).get("Messages", []):
            message = received
    assert message is not None, "no alarm notification arrived"
    envelope = json.loads(message["Body"])
    assert envelope["Subject"].startswith(f'ALARM: "{name}" in ')
    body = json.loads(envelope["Message"])
    assert body["AlarmName"] == name and body["AlarmDescription"] == "backlog"
    assert body["NewStateValue"] == "ALARM" and body["OldStateValue"] == "INSUFFICIENT_DATA"
    assert body["NewStateReason"] == item["StateReason"] and body["Region"]
    assert body["Trigger"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert body["Trigger"]["Dimensions"] == [{"value": work, "name": "QueueName"}]
    assert body["Trigger"]["Statistic"] == "MAXIMUM" and body["Trigger"]["Threshold"] == 10.0
    deadline, actions = time.monotonic() + 10, []
    while not actions and time.monotonic() < deadline:
        actions = cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
        time.sleep(0.2)
    assert actions[0]["HistorySummary"] == f"Successfully executed action {topic}"
    cw.delete_alarms(AlarmNames=[name])


def test_composite_alarm_follows_its_children(cw: Client, unique: str) -> None:
    children = [f"child{index}-{unique}" for index in range(2)]
    for child in children:
        cw.put_metric_alarm(AlarmName=child, MetricName="m", Namespace=f"Test/{unique}", Statistic="Sum", Period=60,
                            EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
                            TreatMissingData="ignore")
        cw.set_alarm_state(AlarmName=child, StateValue="OK", StateReason="start")
    parent = f"parent-{unique}"
    rule = f'ALARM("{children[0]}") AND NOT ALARM({children[1]})'
    cw.put_composite_alarm(AlarmName=parent, AlarmRule=rule, AlarmDescription="both", ActionsEnabled=True)
    item = wait_state(cw, parent, "OK", "CompositeAlarm")
    assert item["AlarmRule"] == rule and item["AlarmDescription"] == "both"
    assert cw.describe_alarms(AlarmNames=[parent])["CompositeAlarms"] == []     # metric alarms only by default
    cw.set_alarm_state(AlarmName=children[0], StateValue="ALARM", StateReason="drill")
    item = wait_state(cw, parent, "ALARM", "CompositeAlarm")
    assert children[0] in item["StateReason"]
    assert json.loads(item["StateReasonData"])["triggeringAlarms"][0]["state"]["value"] == "ALARM"
    cw.set_alarm_state(AlarmName=children[1], StateValue="ALARM", StateReason="drill")
    wait_state(cw, parent, "OK", "CompositeAlarm")
    kids = cw.describe_alarms(ChildrenOfAlarmName=parent)["MetricAlarms"]
    assert sorted(found["AlarmName"] for found in kids) == children
    parents = cw.describe_alarms(ParentsOfAlarmName=children[1])["CompositeAlarms"]
    assert [found["AlarmName"] for found in parents] == [parent]
    cw.delete_alarms(AlarmNames=[parent, *children])


def test_describe_alarms_filters_and_paging(cw: Client, cloudlet: CloudletProcess, unique: str) -> None:
    topic = f"arn:aws:sns:{cloudlet.region}:123456789012:page-{unique}"
    names = [f"page-{unique}-{index}" for index in range(3)]
    for index, name in enumerate(names):
        cw.put_metric_alarm(AlarmName=name, MetricName="m", Namespace=f"Test/{unique}", Statistic="Sum", Period=60,
                            EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
                            AlarmActions=[topic] if index == 1 else [])
    first = cw.describe_alarms(AlarmNamePrefix=f"page-{unique}", MaxRecords=2)
    assert [found["AlarmName"] for found in first["MetricAlarms"]] == names[:2]
    second = cw.describe_alarms(AlarmNamePrefix=f"page-{unique}", MaxRecords=2, NextToken=first["NextToken"])
    assert [found["AlarmName"] for found in second["MetricAlarms"]] == names[2:] and "NextToken" not in second
    assert [found["AlarmName"] for found in cw.describe_alarms(ActionPrefix=topic)["MetricAlarms"]] == [names[1]]
    assert refused(cw.describe_alarms, AlarmNames=[names[0]], AlarmNamePrefix="page")[:2] == (
        "InvalidParameterCombination", 400)
    cw.delete_alarms(AlarmNames=names)
