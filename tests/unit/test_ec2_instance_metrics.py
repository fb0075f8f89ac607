"""EC2's per-instance metrics: an agent's report becomes AWS/EC2 datapoints of the instances that host runs."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.contract.codec import from_json
from agent.contract.reports import MetricsReport
from agent.contract.version import ContractError
from controller.ec2.instances import metrics
from tests.unit.harness import Clouds

NOW = dt.datetime(2026, 12, 5, 10, 0, 30, tzinfo=dt.UTC)


def test_datums_name_the_instance_and_its_group_and_skip_strangers() -> None:
    found = metrics.datums(NOW, {"i-1": {"CPUUtilization": 40.0}, "i-9": {"CPUUtilization": 99.0}},
                           owners={"i-1": "111111111111"}, groups={"i-1": "web"})
    cpu = [(d.dimensions, d.value, d.unit) for d in found["111111111111"] if d.metric_name == "CPUUtilization"]
    assert cpu == [((("InstanceId", "i-1"),), 40.0, "Percent"), ((("AutoScalingGroupName", "web"),), 40.0, "Percent")]
    assert {d.metric_name for d in found["111111111111"]} >= {"StatusCheckFailed", "StatusCheckFailed_System"}
    assert list(found) == ["111111111111"]


@pytest.mark.parametrize("body", [None, {"instances": []}, {"time": "yesterday", "instances": []},
                                  {"time": "2026-12-05T10:00:00", "instances": []},
                                  {"time": "2026-12-05T10:00:00+00:00", "instances": [{"instance_id": "i-1"}]},
                                  {"time": "2026-12-05T10:00:00+00:00",
                                   "instances": [{"instance_id": "i-1", "metrics": {"Made-up": 1}}]},
                                  {"time": "2026-12-05T10:00:00+00:00",
                                   "instances": [{"instance_id": "i-1", "metrics": {"NetworkIn": -1}}]}])
def test_malformed_reports_are_refused(body: object) -> None:
    with pytest.raises(ContractError):
        from_json(MetricsReport, body)


def test_a_hosts_report_reaches_cloudwatch_for_its_own_instances_only(clouds: Clouds) -> None:
    ic = clouds.instances()
    ic.add_host("h1")
    ic.add_host("h2", zone="home-1b")
    instance = ic.run(Placement={"AvailabilityZone": "home-1a"})[0]["InstanceId"]
    now = dt.datetime.now(dt.UTC)
    report = from_json(MetricsReport, {"time": now.isoformat(), "instances": [{
        "instance_id": instance, "seconds": 10.0, "metrics": {"CPUUtilization": 75.0, "NetworkIn": 1000}}]})
    assert metrics.publish(ic.cloud, "h2", report) == 0  # another host's instance
    assert metrics.publish(ic.cloud, "h1", report) == 1
    ctx = ic.context("GetMetricStatistics")
    ctx.service = "cloudwatch"
    found = ic.cloud.services["cloudwatch"].operations["GetMetricStatistics"].handler(ctx, {
        "Namespace": "AWS/EC2", "MetricName": "CPUUtilization", "Dimensions": [{"Name": "InstanceId", "Value": instance}],
        "StartTime": now - dt.timedelta(minutes=5), "EndTime": now + dt.timedelta(minutes=1), "Period": 60,
        "Statistics": ["Average", "SampleCount"]})
    assert [(p["Average"], p["SampleCount"]) for p in found["Datapoints"]] == [(75.0, 1.0)]
