"""Auto Scaling over the wire, part two: launch templates and mixed instances, scaling policies (simple, step,
target tracking with CloudWatch's alarms), scheduled actions, instance refresh, standby, detach and tags.
Fake hosts in both zones let EC2 place the instances (nothing boots)."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.fake_agent import FakeAgent
from tests.e2e.helpers import denied, eventually
from tests.support import CloudletProcess


@pytest.fixture(scope="module")
def world(cloudlet: CloudletProcess) -> Iterator[dict[str, Any]]:
    agent = FakeAgent(cloudlet, "asp", ("home-1a", "home-1b"))
    ec2 = cloudlet.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]}
    yield {"image": image, "subnets": subnets, "ec2": ec2, "vpc": ",".join(sorted(subnets.values()))}
    agent.stop()


@pytest.fixture
def asg(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("autoscaling")


@pytest.fixture
def groups(asg: Any) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(ClientError):
            asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)


def group_of(asg: Any, name: str) -> dict[str, Any]:
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def in_service(asg: Any, name: str, count: int) -> list[dict[str, Any]] | None:
    found = group_of(asg, name)["Instances"]
    ready = [i for i in found if i["LifecycleState"] == "InService"]
    return ready if len(ready) == count and len(found) == count else None


def template(world: dict[str, Any], name: str) -> str:
    return world["ec2"].create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": world["image"], "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]


def test_mixed_instances_policy_spreads_types(asg: Any, world: dict[str, Any], unique: str, groups: list[str]) -> None:
    template_id = template(world, f"{unique}-lt")
    name = f"{unique}-mixed"
    groups.append(name)
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=5, DesiredCapacity=3, VPCZoneIdentifier=world["vpc"],
        MixedInstancesPolicy={
            "LaunchTemplate": {"LaunchTemplateSpecification": {"LaunchTemplateName": f"{unique}-lt"},
                               "Overrides": [{"InstanceType": "t3.micro"}, {"InstanceType": "t3.small"}]},
            "InstancesDistribution": {"OnDemandBaseCapacity": 1, "OnDemandPercentageAboveBaseCapacity": 0,
                                      "SpotAllocationStrategy": "price-capacity-optimized"}})
    read = group_of(asg, name)["MixedInstancesPolicy"]
    assert read["LaunchTemplate"]["LaunchTemplateSpecification"] == {
        "LaunchTemplateId": template_id, "LaunchTemplateName": f"{unique}-lt", "Version": "$Default"}
    assert read["InstancesDistribution"]["OnDemandBaseCapacity"] == 1
    ready = eventually(lambda: in_service(asg, name, 3))
    assert sorted(i["InstanceType"] for i in ready) == ["t3.micro", "t3.micro", "t3.small"]
    ids = [i["InstanceId"] for i in ready]
    types = {i["InstanceType"] for r in world["ec2"].describe_instances(InstanceIds=ids)["Reservations"]
             for i in r["Instances"]}
    assert types == {"t3.micro", "t3.small"}


def test_step_and_target_tracking_policies(asg: Any, world: dict[str, Any], unique: str, groups: list[str],
                                           cloudlet: CloudletProcess) -> None:
    template(world, f"{unique}-lt")
    name = f"{unique}-pol"
    groups.append(name)
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=6, DesiredCapacity=0,
                                  VPCZoneIdentifier=world["vpc"],
                                  LaunchTemplate={"LaunchTemplateName": f"{unique}-lt", "Version": "$Latest"})
    steps = [{"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 20, "ScalingAdjustment": 1},
             {"MetricIntervalLowerBound": 20, "ScalingAdjustment": 3}]
    assert denied(asg.put_scaling_policy, AutoScalingGroupName=name, PolicyName="bad", PolicyType="StepScaling",
                   AdjustmentType="ChangeInCapacity", StepAdjustments=steps + steps)[0] == "ValidationError"
    asg.put_scaling_policy(AutoScalingGroupName=name, PolicyName="steps", PolicyType="StepScaling",
                           AdjustmentType="ChangeInCapacity", StepAdjustments=steps, EstimatedInstanceWarmup=60)
    assert denied(asg.execute_policy, AutoScalingGroupName=name, PolicyName="steps")[0] == "ValidationError"
    asg.execute_policy(AutoScalingGroupName=name, PolicyName="steps", MetricValue=75, BreachThreshold=50)
    assert group_of(asg, name)["DesiredCapacity"] == 3
    asg.execute_policy(AutoScalingGroupName=name, PolicyName="steps", MetricValue=55, BreachThreshold=50)
    assert group_of(asg, name)["DesiredCapacity"] == 4
    asg.put_scaling_policy(AutoScalingGroupName=name, PolicyName="pct", AdjustmentType="PercentChangeInCapacity",
                           ScalingAdjustment=-10, MinAdjustmentMagnitude=2)
    asg.execute_policy(AutoScalingGroupName=name, PolicyName="pct")
    assert group_of(asg, name)["DesiredCapacity"] == 2
    made = asg.put_scaling_policy(
        AutoScalingGroupName=name, PolicyName="cpu", PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={"PredefinedMetricSpecification": {
            "PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 50.0})
    alarms = [alarm["AlarmName"] for alarm in made["Alarms"]]
    assert len(alarms) == 2 and alarms[0].startswith(f"TargetTracking-{name}-AlarmHigh-") \
        and alarms[1].startswith(f"TargetTracking-{name}-AlarmLow-")
    cloudwatch = cloudlet.client("cloudwatch")
    read = cloudwatch.describe_alarms(AlarmNames=alarms)["MetricAlarms"]
    assert {(a["MetricName"], a["Namespace"], a["Threshold"]) for a in read} == {
        ("CPUUtilization", "AWS/EC2", 50.0), ("CPUUtilization", "AWS/EC2", 45.0)}
    assert all(a["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": name}] for a in read)
    policy = asg.describe_policies(AutoScalingGroupName=name, PolicyNames=["cpu"])["ScalingPolicies"][0]
    assert policy["TargetTrackingConfiguration"]["TargetValue"] == 50.0 and len(policy["Alarms"]) == 2
    assert denied(asg.execute_policy, AutoScalingGroupName=name, PolicyName="cpu")[0] == "ValidationError"
    cloudwatch.set_alarm_state(AlarmName=alarms[0], StateValue="ALARM", StateReason="test")
    eventually(lambda: group_of(asg, name)["DesiredCapacity"] == 3, timeout=20)
    cloudwatch.set_alarm_state(AlarmName=alarms[1], StateValue="ALARM", StateReason="test")  # the low one
    eventually(lambda: group_of(asg, name)["DesiredCapacity"] == 2, timeout=20)
    asg.delete_policy(AutoScalingGroupName=name, PolicyName="cpu")
    assert cloudwatch.describe_alarms(AlarmNames=alarms)["MetricAlarms"] == []
    assert [p["PolicyName"] for p in asg.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]] == [
        "pct", "steps"]


def test_scheduled_action_runs(asg: Any, world: dict[str, Any], unique: str, groups: list[str]) -> None:
    template(world, f"{unique}-lt")
    name = f"{unique}-sched"
    groups.append(name)
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=3, DesiredCapacity=0,
                                  VPCZoneIdentifier=world["vpc"], LaunchTemplate={"LaunchTemplateName": f"{unique}-lt"})
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    asg.put_scheduled_update_group_action(AutoScalingGroupName=name, ScheduledActionName="once", StartTime=soon,
                                          MinSize=1, DesiredCapacity=2)
    asg.put_scheduled_update_group_action(AutoScalingGroupName=name, ScheduledActionName="nightly",
                                          Recurrence="0 22 * * *", TimeZone="Europe/Paris", DesiredCapacity=0)
    assert denied(asg.put_scheduled_update_group_action, AutoScalingGroupName=name, ScheduledActionName="bad",
                   Recurrence="99 * * * *", DesiredCapacity=1)[0] == "ValidationError"
    listed = asg.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]
    nightly = next(a for a in listed if a["ScheduledActionName"] == "nightly")
    assert (nightly["Recurrence"], nightly["TimeZone"], nightly["DesiredCapacity"]) == (
        "0 22 * * *", "Europe/Paris", 0)
    eventually(lambda: in_service(asg, name, 2))
    group = group_of(asg, name)
    assert (group["MinSize"], group["DesiredCapacity"]) == (1, 2)
    assert [a["ScheduledActionName"] for a in asg.describe_scheduled_actions(
        AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]] == ["nightly"]
    asg.delete_scheduled_action(AutoScalingGroupName=name, ScheduledActionName="nightly")
    assert denied(asg.delete_scheduled_action, AutoScalingGroupName=name,
                   ScheduledActionName="nightly")[0] == "ValidationError"


def test_instance_refresh_replaces_every_instance(asg: Any, world: dict[str, Any], unique: str,
                                                  groups: list[str]) -> None:
    template_id = template(world, f"{unique}-lt")
    world["ec2"].create_launch_template_version(LaunchTemplateId=template_id, SourceVersion="1",
                                                LaunchTemplateData={"InstanceType": "t3.small"})
    name = f"{unique}-refresh"
    groups.append(name)
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=4, DesiredCapacity=2,
                                  VPCZoneIdentifier=world["vpc"],
                                  LaunchTemplate={"LaunchTemplateId": template_id, "Version": "1"})
    before = {i["InstanceId"] for i in eventually(lambda: in_service(asg, name, 2))}
    assert denied(asg.cancel_instance_refresh, AutoScalingGroupName=name)[0] == "ActiveInstanceRefreshNotFound"
    refresh_id = asg.start_instance_refresh(
        AutoScalingGroupName=name, Preferences={"MinHealthyPercentage": 50, "InstanceWarmup": 0},
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": template_id, "Version": "2"}})[
        "InstanceRefreshId"]
    assert denied(asg.start_instance_refresh, AutoScalingGroupName=name)[0] == "InstanceRefreshInProgress"

    def finished() -> dict[str, Any] | None:
        found = asg.describe_instance_refreshes(AutoScalingGroupName=name)["InstanceRefreshes"][0]
        return found if found["Status"] == "Successful" else None
    done = eventually(finished, timeout=90)
    assert done["InstanceRefreshId"] == refresh_id and done["PercentageComplete"] == 100
    after = eventually(lambda: in_service(asg, name, 2))
    assert not before & {i["InstanceId"] for i in after}
    assert {i["LaunchTemplate"]["Version"] for i in after} == {"2"}
    assert {i["InstanceType"] for i in after} == {"t3.small"}


def test_standby_detach_and_tags(asg: Any, world: dict[str, Any], unique: str, groups: list[str]) -> None:
    template(world, f"{unique}-lt")
    name = f"{unique}-stby"
    groups.append(name)
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=3, DesiredCapacity=2,
                                  VPCZoneIdentifier=world["vpc"], LaunchTemplate={"LaunchTemplateName": f"{unique}-lt"})
    ready = eventually(lambda: in_service(asg, name, 2))
    first, second = ready[0]["InstanceId"], ready[1]["InstanceId"]
    moved = asg.enter_standby(AutoScalingGroupName=name, InstanceIds=[first], ShouldDecrementDesiredCapacity=True)
    assert moved["Activities"][0]["Description"] == f"Moving EC2 instance to Standby: {first}"
    states = {i["InstanceId"]: i["LifecycleState"] for i in group_of(asg, name)["Instances"]}
    assert states[first] == "Standby" and group_of(asg, name)["DesiredCapacity"] == 1
    asg.exit_standby(AutoScalingGroupName=name, InstanceIds=[first])
    eventually(lambda: in_service(asg, name, 2))
    detached = asg.detach_instances(AutoScalingGroupName=name, InstanceIds=[second],
                                    ShouldDecrementDesiredCapacity=True)
    assert detached["Activities"][0]["Description"] == f"Detaching EC2 instance: {second}"
    assert [i["InstanceId"] for i in group_of(asg, name)["Instances"]] == [first]
    assert world["ec2"].describe_instances(InstanceIds=[second])["Reservations"][0]["Instances"][0]["State"][
        "Name"] in ("pending", "running")
    asg.create_or_update_tags(Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": "env",
                                     "Value": "prod", "PropagateAtLaunch": True}])
    found = asg.describe_tags(Filters=[{"Name": "auto-scaling-group", "Values": [name]}])["Tags"]
    assert found == [{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": "env", "Value": "prod",
                      "PropagateAtLaunch": True}]
    assert [g["AutoScalingGroupName"] for g in asg.describe_auto_scaling_groups(
        Filters=[{"Name": "tag:env", "Values": ["prod"]}])["AutoScalingGroups"] if g["AutoScalingGroupName"] == name]
    asg.delete_tags(Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": "env"}])
    assert asg.describe_tags(Filters=[{"Name": "auto-scaling-group", "Values": [name]}])["Tags"] == []
    asg.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["Launch"])
    assert [p["ProcessName"] for p in group_of(asg, name)["SuspendedProcesses"]] == ["Launch"]
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=2)
    time.sleep(4)
    assert len(group_of(asg, name)["Instances"]) == 1     # Launch is suspended
    asg.resume_processes(AutoScalingGroupName=name)
    eventually(lambda: in_service(asg, name, 2))
    terminated = asg.terminate_instance_in_auto_scaling_group(InstanceId=first, ShouldDecrementDesiredCapacity=True)
    assert terminated["Activity"]["Description"] == f"Terminating EC2 instance: {first}"
    eventually(lambda: in_service(asg, name, 1))


def test_the_reconciler_logged_no_failure(cloudlet: CloudletProcess) -> None:
    """Whatever the tests above did, the reconciler never failed a round (it logs such failures)."""
    output = "".join(cloudlet.output)
    assert "reconciling Auto Scaling group" not in output and "Auto Scaling reconcile round failed" not in output
    assert "controller/autoscaling/" not in output, output[-5000:]


def test_zones_rebalance_and_unhealthy_instances_are_replaced(asg: Any, world: dict[str, Any], unique: str,
                                                              groups: list[str]) -> None:
    template(world, f"{unique}-lt")
    name = f"{unique}-az"
    groups.append(name)
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=3, DesiredCapacity=2,
                                  VPCZoneIdentifier=world["subnets"]["home-1a"],
                                  LaunchTemplate={"LaunchTemplateName": f"{unique}-lt"})
    ready = eventually(lambda: in_service(asg, name, 2))
    assert {i["AvailabilityZone"] for i in ready} == {"home-1a"}
    asg.update_auto_scaling_group(AutoScalingGroupName=name, VPCZoneIdentifier=world["vpc"])
    assert sorted(group_of(asg, name)["AvailabilityZones"]) == ["home-1a", "home-1b"]
    balanced = eventually(lambda: (lambda now: now if now and {i["AvailabilityZone"] for i in now} == {
        "home-1a", "home-1b"} else None)(in_service(asg, name, 2)), timeout=60)
    descriptions = [a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]]
    assert any("balancing the group's zones" in cause for cause in descriptions)
    sick = balanced[0]["InstanceId"]
    asg.set_instance_health(InstanceId=sick, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)
    eventually(lambda: (lambda now: now if now and sick not in [i["InstanceId"] for i in now] else None)(
        in_service(asg, name, 2)))
    assert world["ec2"].describe_instances(InstanceIds=[sick])["Reservations"][0]["Instances"][0]["State"][
        "Name"] in ("shutting-down", "terminated")
    asg.enable_metrics_collection(AutoScalingGroupName=name, Granularity="1Minute",
                                  Metrics=["GroupMinSize", "GroupMaxSize"])
    assert group_of(asg, name)["EnabledMetrics"] == [{"Metric": "GroupMinSize", "Granularity": "1Minute"},
                                                     {"Metric": "GroupMaxSize", "Granularity": "1Minute"}]
    asg.disable_metrics_collection(AutoScalingGroupName=name)
    assert group_of(asg, name)["EnabledMetrics"] == []
