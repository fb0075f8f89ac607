"""CloudWatch metrics over the wire with plain boto3 (smithy-rpc-v2-cbor): PutMetricData round trips through
GetMetricStatistics, GetMetricData (metric math) and ListMetrics, and the errors of bad input."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import Cleanup, allow, denied, document, new_user
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


def minute_ago() -> dt.datetime:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    return now - dt.timedelta(minutes=1)


def test_put_and_get_statistics_round_trip(cw: Client, unique: str) -> None:
    namespace, at = f"Test/{unique}", minute_ago()
    dims = [{"Name": "Service", "Value": "web"}, {"Name": "Az", "Value": "a"}]
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": at + dt.timedelta(seconds=5), "Value": 100.0,
         "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": at + dt.timedelta(seconds=10),
         "Values": [10.0, 20.0, 30.0], "Counts": [1.0, 1.0, 2.0], "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dims[::-1], "Timestamp": at + dt.timedelta(seconds=20),
         "StatisticValues": {"SampleCount": 2, "Sum": 10.0, "Minimum": 4.0, "Maximum": 6.0}, "Unit": "Milliseconds"},
    ])
    got = cw.get_metric_statistics(
        Namespace=namespace, MetricName="Latency", Dimensions=dims, StartTime=at - dt.timedelta(minutes=5),
        EndTime=at + dt.timedelta(minutes=1), Period=60, Statistics=["SampleCount", "Sum", "Average", "Minimum",
                                                                      "Maximum"])
    assert got["Label"] == "Latency"
    [point] = got["Datapoints"]
    assert point["Timestamp"] == at
    assert point["SampleCount"] == 7.0 and point["Sum"] == 200.0 and point["Minimum"] == 4.0
    assert point["Maximum"] == 100.0 and point["Average"] == pytest.approx(200 / 7)
    assert point["Unit"] == "Milliseconds"
    # a unit that was never written filters everything out
    none = cw.get_metric_statistics(Namespace=namespace, MetricName="Latency", Dimensions=dims,
                                    StartTime=at - dt.timedelta(minutes=5), EndTime=at + dt.timedelta(minutes=1),
                                    Period=60, Statistics=["Sum"], Unit="Seconds")
    assert none["Datapoints"] == []


def test_percentiles_and_high_resolution(cw: Client, unique: str) -> None:
    namespace, at = f"Test/{unique}", minute_ago()
    values = [float(v) for v in range(1, 101)]
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Size", "Timestamp": at + dt.timedelta(seconds=1), "Values": values, "StorageResolution": 1},
        {"MetricName": "Size", "Timestamp": at + dt.timedelta(seconds=31), "Value": 1000.0, "StorageResolution": 1}])
    got = cw.get_metric_statistics(Namespace=namespace, MetricName="Size", StartTime=at, Period=30,
                                   EndTime=at + dt.timedelta(minutes=1), ExtendedStatistics=["p50", "p99", "p100"])
    points = sorted(got["Datapoints"], key=lambda point: point["Timestamp"])
    assert [point["Timestamp"] for point in points] == [at, at + dt.timedelta(seconds=30)]
    assert points[0]["ExtendedStatistics"] == {"p50": 50.0, "p99": 99.0, "p100": 100.0}
    assert points[1]["ExtendedStatistics"]["p50"] == 1000.0


def test_get_metric_data_with_math(cw: Client, unique: str) -> None:
    namespace, at = f"Test/{unique}", minute_ago()
    for minute in range(3):
        stamp = at - dt.timedelta(minutes=2 - minute)
        cw.put_metric_data(Namespace=namespace, MetricData=[
            {"MetricName": "Errors", "Timestamp": stamp, "Value": float(minute + 1)},
            {"MetricName": "Requests", "Timestamp": stamp, "Value": 10.0}])

    def stat(name: str) -> dict[str, Any]:
        return {"Metric": {"Namespace": namespace, "MetricName": name}, "Period": 60, "Stat": "Sum"}

    got = cw.get_metric_data(StartTime=at - dt.timedelta(minutes=5), EndTime=at + dt.timedelta(minutes=1),
                             ScanBy="TimestampAscending", MetricDataQueries=[
                                 {"Id": "errors", "MetricStat": stat("Errors"), "ReturnData": False},
                                 {"Id": "requests", "MetricStat": stat("Requests"), "Label": "All requests"},
                                 {"Id": "rate", "Expression": "100 * errors / requests", "Label": "Error rate"},
                                 {"Id": "total", "Expression": "SUM(METRICS())"},
                                 {"Id": "delta", "Expression": "DIFF(errors)"}])
    results = {result["Id"]: result for result in got["MetricDataResults"]}
    assert set(results) == {"requests", "rate", "total", "delta"}
    assert results["requests"]["Label"] == "All requests" and results["requests"]["StatusCode"] == "Complete"
    assert results["rate"]["Label"] == "Error rate"
    assert results["rate"]["Values"] == [10.0, 20.0, 30.0]
    assert results["rate"]["Timestamps"] == [at - dt.timedelta(minutes=2 - m) for m in range(3)]
    assert results["total"]["Values"] == [11.0, 12.0, 13.0]
    assert results["delta"]["Values"] == [1.0, 1.0]
    newest_first = cw.get_metric_data(StartTime=at - dt.timedelta(minutes=5), EndTime=at + dt.timedelta(minutes=1),
                                      MetricDataQueries=[{"Id": "e", "MetricStat": stat("Errors")}], MaxDatapoints=2)
    assert newest_first["MetricDataResults"][0]["Values"] == [3.0, 2.0]
    assert newest_first["MetricDataResults"][0]["StatusCode"] == "PartialData"
    rest = cw.get_metric_data(StartTime=at - dt.timedelta(minutes=5), EndTime=at + dt.timedelta(minutes=1),
                              MetricDataQueries=[{"Id": "e", "MetricStat": stat("Errors")}], MaxDatapoints=2,
                              NextToken=newest_first["NextToken"])
    assert rest["MetricDataResults"][0]["Values"] == [1.0] and "NextToken" not in rest
    code, status, _ = refused(cw.get_metric_data, StartTime=at - dt.timedelta(minutes=5), EndTime=at,
                              MetricDataQueries=[{"Id": "bad", "Expression": "nothing * 2"}])
    assert (code, status) == ("ValidationError", 400)


def test_list_metrics_filters_and_paging(cw: Client, unique: str) -> None:
    namespace, at = f"Test/{unique}", minute_ago()
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Cpu", "Dimensions": [{"Name": "Host", "Value": f"h{index}"}], "Timestamp": at, "Value": 1.0}
        for index in range(3)] + [{"MetricName": "Disk", "Timestamp": at, "Value": 1.0}])
    everything = cw.list_metrics(Namespace=namespace)["Metrics"]
    assert len(everything) == 4
    assert {"Namespace": namespace, "MetricName": "Disk", "Dimensions": []} in everything
    hosts = cw.list_metrics(Namespace=namespace, Dimensions=[{"Name": "Host"}])["Metrics"]
    assert sorted(metric["Dimensions"][0]["Value"] for metric in hosts) == ["h0", "h1", "h2"]
    one = cw.list_metrics(Namespace=namespace, Dimensions=[{"Name": "Host", "Value": "h1"}])["Metrics"]
    assert one == [{"Namespace": namespace, "MetricName": "Cpu", "Dimensions": [{"Name": "Host", "Value": "h1"}]}]
    assert len(cw.list_metrics(Namespace=namespace, MetricName="Cpu", RecentlyActive="PT3H")["Metrics"]) == 3
    pages = cw.get_paginator("list_metrics").paginate(Namespace=namespace)
    assert sum(len(page["Metrics"]) for page in pages) == 4
    assert refused(cw.list_metrics, NextToken="garbage")[:2] == ("InvalidNextToken", 400)


def test_put_metric_data_errors(cw: Client, unique: str) -> None:
    namespace = f"Test/{unique}"
    code, status, message = refused(cw.put_metric_data, Namespace="AWS/EC2",
                                    MetricData=[{"MetricName": "x", "Value": 1.0}])
    assert (code, status) == ("InvalidParameterValue", 400) and "AWS/EC2" in message
    dims = [{"Name": f"d{index}", "Value": "v"} for index in range(31)]
    assert refused(cw.put_metric_data, Namespace=namespace,
                   MetricData=[{"MetricName": "x", "Value": 1.0, "Dimensions": dims}])[:2] == ("InvalidParameterValue",
                                                                                                400)
    assert refused(cw.put_metric_data, Namespace=namespace, MetricData=[{
        "MetricName": "x", "Value": 1.0, "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}
    ])[:2] == ("InvalidParameterCombination", 400)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=15)
    assert refused(cw.put_metric_data, Namespace=namespace,
                   MetricData=[{"MetricName": "x", "Value": 1.0, "Timestamp": old}])[:2] == ("InvalidParameterValue",
                                                                                              400)
    assert refused(cw.put_metric_data, Namespace=namespace,
                   MetricData=[{"MetricName": "x", "Value": 1.0, "StorageResolution": 5}])[:2] == (
        "InvalidParameterValue", 400)
    assert refused(cw.put_metric_data, Namespace=namespace, MetricData=[
        {"MetricName": "x", "Values": [1.0, 2.0], "Counts": [1.0]}])[:2] == ("InvalidParameterValue", 400)
    assert cw.list_metrics(Namespace=namespace)["Metrics"] == []


def test_get_metric_statistics_errors(cw: Client, unique: str) -> None:
    now = dt.datetime.now(dt.UTC)
    base = {"Namespace": f"Test/{unique}", "MetricName": "x"}
    code, status, message = refused(cw.get_metric_statistics, **base, StartTime=now - dt.timedelta(days=2),
                                    EndTime=now, Period=60, Statistics=["Sum"])
    assert (code, status) == ("InvalidParameterCombination", 400) and "1,440" in message
    assert refused(cw.get_metric_statistics, **base, StartTime=now - dt.timedelta(hours=1), EndTime=now,
                   Period=7, Statistics=["Sum"])[:2] == ("InvalidParameterValue", 400)
    assert refused(cw.get_metric_statistics, **base, StartTime=now - dt.timedelta(hours=1), EndTime=now,
                   Period=60)[:2] == ("InvalidParameterCombination", 400)
    assert refused(cw.get_metric_statistics, **base, StartTime=now, EndTime=now - dt.timedelta(hours=1),
                   Period=60, Statistics=["Sum"])[:2] == ("InvalidParameterValue", 400)
    assert refused(cw.get_metric_statistics, **base, StartTime=now - dt.timedelta(hours=1), EndTime=now,
                   Period=60, ExtendedStatistics=["p101"])[:2] == ("InvalidParameterValue", 400)


def test_iam_confines_writers_to_a_namespace(cw: Client, cloudlet: CloudletProcess, iam: Any, cleanup: Cleanup,
                                             unique: str) -> None:
    keys = new_user(iam, cleanup, unique)
    iam.put_user_policy(UserName=unique, PolicyName="cw", PolicyDocument=document(
        allow("cloudwatch:PutMetricData", Condition={"StringEquals": {"cloudwatch:namespace": f"Mine/{unique}"}}),
        allow(["cloudwatch:ListMetrics", "cloudwatch:GetMetricStatistics"])))
    user = cloudlet.client("cloudwatch", keys)
    user.put_metric_data(Namespace=f"Mine/{unique}", MetricData=[{"MetricName": "ok", "Value": 1.0}])
    code, status, _ = denied(user.put_metric_data, Namespace=f"Other/{unique}",
                             MetricData=[{"MetricName": "no", "Value": 1.0}])
    assert (code, status) == ("AccessDenied", 403)
    assert [m["MetricName"] for m in user.list_metrics(Namespace=f"Mine/{unique}")["Metrics"]] == ["ok"]
    assert denied(user.describe_alarms)[:2] == ("AccessDenied", 403)
