"""Amazon EC2 Auto Scaling over the wire: launch configurations, groups that reach their desired capacity with
real instance records (RunInstances through EC2's API as AWSServiceRoleForAutoScaling), activities, policies,
lifecycle hooks and health replacement. Fake hosts register in both zones so instances can be placed; nothing
boots: the test plays the hosts' agent, reporting every instance placed there as running).
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.fake_agent import FakeAgent
from tests.e2e.helpers import denied, eventually
from tests.support import CloudletProcess

ROLE = "arn:aws:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"


@pytest.fixture(scope="module")
def hosts(cloudlet: CloudletProcess) -> Iterator[list[str]]:
    """One fake compute host per zone, its agent played by the test."""
    agent = FakeAgent(cloudlet, "asa", ("home-1a", "home-1b"))
    yield agent.hosts
    agent.stop()


@pytest.fixture
def asg(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("autoscaling")


@pytest.fixture
def world(cloudlet: CloudletProcess, hosts: list[str]) -> dict[str, Any]:
    ec2 = cloudlet.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]}
    return {"image": image, "subnets": subnets, "ec2": ec2}


@pytest.fixture
def groups(asg: Any) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(ClientError):
            asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)


def in_service(asg: Any, name: str, count: int) -> list[dict[str, Any]] | None:
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    ready = [i for i in group["Instances"] if i["LifecycleState"] == "InService"]
    return ready if len(ready) == count and len(group["Instances"]) == count else None


def test_launch_configurations(asg: Any, world: dict[str, Any], unique: str) -> None:
    names = [f"{unique}-lc{i}" for i in range(3)]
    for name in names:
        asg.create_launch_configuration(
            LaunchConfigurationName=name, ImageId=world["image"], InstanceType="t3.micro",
            UserData="#!/bin/sh\necho hi", InstanceMonitoring={"Enabled": False}, SpotPrice="0.05",
            AssociatePublicIpAddress=True, BlockDeviceMappings=[{"DeviceName": "/dev/xvdb",
                                                                 "Ebs": {"VolumeSize": 5}}])
    assert denied(asg.create_launch_configuration, LaunchConfigurationName=names[0], ImageId=world["image"],
                   InstanceType="t3.micro")[:2] == ("AlreadyExists", 400)
    code, status, message = denied(asg.create_launch_configuration, LaunchConfigurationName=f"{unique}-x")
    assert (code, status) == ("ValidationError", 400) and "ImageId" in message
    read = asg.describe_launch_configurations(LaunchConfigurationNames=[names[0]])["LaunchConfigurations"][0]
    assert (read["ImageId"], read["InstanceType"], read["SpotPrice"], read["AssociatePublicIpAddress"],
            read["InstanceMonitoring"], read["UserData"]) == (world["image"], "t3.micro", "0.05", True,
                                                               {"Enabled": False},
                                                               base64.b64encode(b"#!/bin/sh\necho hi").decode())
    assert read["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 5
    assert read["LaunchConfigurationARN"].endswith(f":launchConfigurationName/{names[0]}")
    first = asg.describe_launch_configurations(LaunchConfigurationNames=names, MaxRecords=2)
    second = asg.describe_launch_configurations(LaunchConfigurationNames=names, MaxRecords=2,
                                                NextToken=first["NextToken"])
    assert [c["LaunchConfigurationName"] for c in first["LaunchConfigurations"] + second["LaunchConfigurations"]] \
        == names and "NextToken" not in second
    for name in names:
        asg.delete_launch_configuration(LaunchConfigurationName=name)
    assert denied(asg.delete_launch_configuration, LaunchConfigurationName=names[0])[:2] == ("ValidationError", 400)


def test_group_validation(asg: Any, world: dict[str, Any], unique: str, groups: list[str]) -> None:
    subnet = world["subnets"]["home-1b"]
    lc = f"{unique}-lc"
    asg.create_launch_configuration(LaunchConfigurationName=lc, ImageId=world["image"], InstanceType="t3.micro")
    cases = [
        ({"MinSize": 3, "MaxSize": 1, "LaunchConfigurationName": lc},
         "Max bound, 1, must be greater than or equal to min bound, 3"),
        ({"MinSize": 1, "MaxSize": 2, "DesiredCapacity": 5, "LaunchConfigurationName": lc},
         "Desired capacity:5 must be between the specified min size:1 and max size:2"),
        ({"MinSize": 0, "MaxSize": 1}, "Valid requests must contain either LaunchTemplate, LaunchConfigurationName"),
        ({"MinSize": 0, "MaxSize": 1, "LaunchConfigurationName": f"{unique}-none"},
         f"Launch configuration {unique}-none not found"),
        ({"MinSize": 0, "MaxSize": 1, "LaunchTemplate": {"LaunchTemplateName": f"{unique}-none"}},
         "does not exist"),
    ]
    for extra, message in cases:
        code, status, text = denied(asg.create_auto_scaling_group, AutoScalingGroupName=f"{unique}-g",
                                     VPCZoneIdentifier=subnet, **extra)
        assert (code, status) == ("ValidationError", 400) and message in text, text
    code, _, text = denied(asg.create_auto_scaling_group, AutoScalingGroupName=f"{unique}-g", MinSize=0, MaxSize=1,
                            LaunchConfigurationName=lc, VPCZoneIdentifier="subnet-0000000000000dead")
    assert code == "ValidationError" and "subnet-0000000000000dead" in text
    groups.append(f"{unique}-g")
    asg.create_auto_scaling_group(AutoScalingGroupName=f"{unique}-g", MinSize=0, MaxSize=1, LaunchConfigurationName=lc,
                                  VPCZoneIdentifier=subnet)
    assert denied(asg.create_auto_scaling_group, AutoScalingGroupName=f"{unique}-g", MinSize=0, MaxSize=1,
                   LaunchConfigurationName=lc, VPCZoneIdentifier=subnet)[:2] == ("AlreadyExists", 400)
    assert denied(asg.delete_launch_configuration, LaunchConfigurationName=lc)[:2] == ("ResourceInUse", 400)
    assert denied(asg.set_desired_capacity, AutoScalingGroupName=f"{unique}-g", DesiredCapacity=4)[:2] == \
        ("ValidationError", 400)
    assert denied(asg.describe_scaling_activities, AutoScalingGroupName=f"{unique}-g", MaxRecords=1000)[0] \
        == "ValidationError"


def test_group_reaches_desired_capacity_and_scales(asg: Any, world: dict[str, Any], unique: str,
                                                   groups: list[str], cloudlet: CloudletProcess) -> None:
    ec2 = world["ec2"]
    lc, name = f"{unique}-lc", f"{unique}-g"
    asg.create_launch_configuration(LaunchConfigurationName=lc, ImageId=world["image"], InstanceType="t3.micro")
    groups.append(name)
    subnets = [world["subnets"]["home-1a"], world["subnets"]["home-1b"]]
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=1, MaxSize=4, DesiredCapacity=2, LaunchConfigurationName=lc,
        VPCZoneIdentifier=",".join(subnets), HealthCheckGracePeriod=30, DefaultCooldown=60,
        TerminationPolicies=["NewestInstance"],
        Tags=[{"Key": "team", "Value": unique, "PropagateAtLaunch": True},
              {"Key": "private", "Value": "x", "PropagateAtLaunch": False}])
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    account = group["AutoScalingGroupARN"].split(":")[4]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"], group["HealthCheckGracePeriod"],
            group["DefaultCooldown"], group["TerminationPolicies"], group["LaunchConfigurationName"],
            group["ServiceLinkedRoleARN"], sorted(group["AvailabilityZones"])) == (
        1, 4, 2, 30, 60, ["NewestInstance"], lc, ROLE.format(account=account), ["home-1a", "home-1b"])
    assert {t["Key"]: (t["Value"], t["PropagateAtLaunch"], t["ResourceId"]) for t in group["Tags"]} == {
        "team": (unique, True, name), "private": ("x", False, name)}
    ready = eventually(lambda: in_service(asg, name, 2))
    assert sorted(i["AvailabilityZone"] for i in ready) == ["home-1a", "home-1b"]  # one per zone
    ids = [i["InstanceId"] for i in ready]
    described = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    instances = [i for r in described for i in r["Instances"]]
    assert all({"Key": "team", "Value": unique} in i["Tags"] for i in instances)
    assert all({"Key": "aws:autoscaling:groupName", "Value": name} in i["Tags"] for i in instances)
    assert all(t["Key"] != "private" for i in instances for t in i["Tags"])
    details = asg.describe_auto_scaling_instances(InstanceIds=ids)["AutoScalingInstances"]
    assert {d["AutoScalingGroupName"] for d in details} == {name}
    activities = asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
    launches = [a for a in activities if a["Description"].startswith("Launching a new EC2 instance: ")]
    assert len(launches) == 2 and {a["StatusCode"] for a in launches} == {"Successful"}
    assert "a user request created an AutoScalingGroup changing the desired capacity from 0 to 2" \
        in launches[0]["Cause"]
    trail = cloudlet.client("cloudtrail")

    def launched_by_the_role() -> list[dict[str, Any]]:
        events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": ids[0]}])
        return [json.loads(e["CloudTrailEvent"]) for e in events["Events"] if e["EventName"] == "RunInstances"]
    run = eventually(launched_by_the_role)[0]
    assert run["userIdentity"]["arn"].endswith(":assumed-role/AWSServiceRoleForAutoScaling/AutoScaling")
    assert run.get("userAgent") == "autoscaling.amazonaws.com" or run.get("userIdentity", {}).get(
        "invokedBy") == "autoscaling.amazonaws.com"
    one = asg.describe_scaling_activities(AutoScalingGroupName=name, MaxRecords=1)
    assert len(one["Activities"]) == 1 and one["NextToken"]

    # a simple scaling policy executed by hand, then a percentage one honouring the cooldown
    arn = asg.put_scaling_policy(AutoScalingGroupName=name, PolicyName="up", PolicyType="SimpleScaling",
                                 AdjustmentType="ChangeInCapacity", ScalingAdjustment=1, Cooldown=120)["PolicyARN"]
    assert ":scalingPolicy:" in arn and arn.endswith(f"autoScalingGroupName/{name}:policyName/up")
    policy = asg.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"][0]
    assert (policy["PolicyType"], policy["AdjustmentType"], policy["ScalingAdjustment"], policy["Cooldown"]) == (
        "SimpleScaling", "ChangeInCapacity", 1, 120)
    asg.execute_policy(AutoScalingGroupName=name, PolicyName="up")
    assert denied(asg.execute_policy, AutoScalingGroupName=name, PolicyName="up", HonorCooldown=True)[0] == \
        "ScalingActivityInProgress"
    ready = eventually(lambda: in_service(asg, name, 3))
    newest = max(ready, key=lambda i: i["InstanceId"] not in ids)["InstanceId"]

    # scale in: NewestInstance goes
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=2)
    ready = eventually(lambda: in_service(asg, name, 2))
    assert newest not in [i["InstanceId"] for i in ready]
    assert eventually(lambda: ec2.describe_instances(InstanceIds=[newest])["Reservations"][0]["Instances"][0]
                      ["State"]["Name"] in ("shutting-down", "terminated"))

    # an instance terminated behind the group's back is replaced
    victim = ready[0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[victim])
    ready = eventually(lambda: (lambda now: now if now and victim not in [i["InstanceId"] for i in now] else None)(
        in_service(asg, name, 2)))
    causes = [a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]]
    assert any("EC2 health check indicating it has been terminated or stopped" in c for c in causes)

    # protection, deletion refused while instances remain, then forced
    asg.set_instance_protection(AutoScalingGroupName=name, InstanceIds=[ready[0]["InstanceId"]],
                                ProtectedFromScaleIn=True)
    assert asg.describe_auto_scaling_instances(InstanceIds=[ready[0]["InstanceId"]])["AutoScalingInstances"][0][
        "ProtectedFromScaleIn"] is True
    assert denied(asg.delete_auto_scaling_group, AutoScalingGroupName=name)[:2] == ("ResourceInUse", 400)
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    eventually(lambda: not asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"])
    deleted = asg.describe_scaling_activities(AutoScalingGroupName=name, IncludeDeletedGroups=True)["Activities"]
    assert deleted and deleted[0]["AutoScalingGroupState"] == "Deleted"


def test_lifecycle_hook_holds_instance(asg: Any, world: dict[str, Any], unique: str, groups: list[str]) -> None:
    lc, name = f"{unique}-lc", f"{unique}-g"
    asg.create_launch_configuration(LaunchConfigurationName=lc, ImageId=world["image"], InstanceType="t3.micro")
    groups.append(name)
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=2, DesiredCapacity=0,
                                  LaunchConfigurationName=lc, VPCZoneIdentifier=world["subnets"]["home-1b"])
    asg.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName="warm",
                           LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING", HeartbeatTimeout=300,
                           DefaultResult="CONTINUE", NotificationMetadata="hello")
    hook = asg.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"][0]
    assert (hook["HeartbeatTimeout"], hook["DefaultResult"], hook["GlobalTimeout"], hook["NotificationMetadata"]) == (
        300, "CONTINUE", 30000, "hello")
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)

    def waiting() -> str | None:
        found = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]
        return found[0]["InstanceId"] if found and found[0]["LifecycleState"] == "Pending:Wait" else None
    instance_id = eventually(waiting)
    time.sleep(4)  # a reconcile round later it still waits
    assert waiting() == instance_id
    assert denied(asg.complete_lifecycle_action, AutoScalingGroupName=name, LifecycleHookName="warm",
                   LifecycleActionResult="CONTINUE", InstanceId="i-0000000000000dead")[0] == "ValidationError"
    asg.record_lifecycle_action_heartbeat(AutoScalingGroupName=name, LifecycleHookName="warm", InstanceId=instance_id)
    asg.complete_lifecycle_action(AutoScalingGroupName=name, LifecycleHookName="warm",
                                  LifecycleActionResult="CONTINUE", InstanceId=instance_id)
    eventually(lambda: in_service(asg, name, 1))
    asg.delete_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName="warm")
    assert asg.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"] == []
