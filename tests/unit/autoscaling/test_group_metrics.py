"""AWS/AutoScaling group metrics: the enabled ones, counted by lifecycle family (pure)."""

from __future__ import annotations

import datetime as dt

from controller.autoscaling.metrics import group_datums
from controller.autoscaling.records import Group

AT = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)


def group(enabled: list[str]) -> Group:
    document = {"MinSize": 1, "MaxSize": 4, "DesiredCapacity": 3,
                "EnabledMetrics": [{"Metric": name, "Granularity": "1Minute"} for name in enabled]}
    return Group("arn:aws:autoscaling:r:1:autoScalingGroup:x:autoScalingGroupName/web", "111111111111", "home-1",
                 "web", document, 0.0, None, 0.0, "")


def test_only_enabled_metrics_are_reported_with_lifecycle_families_counted() -> None:
    states = ["InService", "Pending:Wait", "Pending", "Terminating:Proceed", "Standby"]
    found = {d.metric_name: d.value for d in group_datums(
        group(["GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances",
               "GroupTerminatingCapacity", "GroupTotalInstances"]), states, AT)}
    assert found == {"GroupDesiredCapacity": 3.0, "GroupInServiceInstances": 1.0, "GroupPendingInstances": 2.0,
                     "GroupTerminatingCapacity": 1.0, "GroupTotalInstances": 5.0}
    datum = group_datums(group(["GroupMaxSize"]), states, AT)[0]
    assert (datum.dimensions, datum.value) == ((("AutoScalingGroupName", "web"),), 4.0)
    assert group_datums(group([]), states, AT) == []
