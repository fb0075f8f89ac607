"""Auto Scaling with its neighbours over the wire: instances registered with (and deregistered from) the
group's ELB target groups, and a lifecycle hook notifying an SQS queue, completed by the token it sent."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.fake_agent import FakeAgent
from tests.e2e.helpers import eventually
from tests.support import CloudletProcess


@pytest.fixture(scope="module")
def world(cloudlet: CloudletProcess) -> Iterator[dict[str, Any]]:
    agent = FakeAgent(cloudlet, "ast", ("home-1b",))
    ec2 = cloudlet.client("ec2")
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]},
                                           {"Name": "availability-zone", "Values": ["home-1b"]}])["Subnets"][0]
    yield {"image": ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"], "subnet": subnet["SubnetId"],
           "vpc": subnet["VpcId"], "ec2": ec2}
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


def in_service(asg: Any, name: str, count: int) -> list[dict[str, Any]] | None:
    found = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]
    ready = [i for i in found if i["LifecycleState"] == "InService"]
    return ready if len(ready) == count and len(found) == count else None


def test_instances_join_and_leave_target_groups(asg: Any, world: dict[str, Any], unique: str, groups: list[str],
                                                cloudlet: CloudletProcess) -> None:
    elb = cloudlet.client("elbv2")
    target_group = elb.create_target_group(Name=f"{unique}-tg", Protocol="HTTP", Port=80, VpcId=world["vpc"],
                                           TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    asg.create_launch_configuration(LaunchConfigurationName=f"{unique}-lc", ImageId=world["image"],
                                    InstanceType="t3.micro")
    name = f"{unique}-tg"
    groups.append(name)
    with pytest.raises(ClientError) as refused:
        asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=2,
                                      LaunchConfigurationName=f"{unique}-lc", VPCZoneIdentifier=world["subnet"],
                                      TargetGroupARNs=[target_group + "0"])
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=2, DesiredCapacity=2,
                                  LaunchConfigurationName=f"{unique}-lc", VPCZoneIdentifier=world["subnet"],
                                  TargetGroupARNs=[target_group], HealthCheckType="ELB",
                                  HealthCheckGracePeriod=300)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert group["TargetGroupARNs"] == [target_group] and group["HealthCheckType"] == "ELB"
    assert group["TrafficSources"] == [{"Identifier": target_group, "Type": "elbv2"}]
    ids = sorted(i["InstanceId"] for i in eventually(lambda: in_service(asg, name, 2)))

    def targets() -> list[str]:
        health = elb.describe_target_health(TargetGroupArn=target_group)["TargetHealthDescriptions"]
        return sorted(t["Target"]["Id"] for t in health if t["TargetHealth"]["State"] != "draining")
    assert eventually(lambda: targets() == ids)
    assert asg.describe_load_balancer_target_groups(AutoScalingGroupName=name)["LoadBalancerTargetGroups"] == [
        {"LoadBalancerTargetGroupARN": target_group, "State": "InService"}]
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    eventually(lambda: in_service(asg, name, 1))
    assert eventually(lambda: len(targets()) == 1)
    asg.detach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=[target_group])
    assert eventually(lambda: targets() == [])


def test_lifecycle_hook_notifies_a_queue(asg: Any, world: dict[str, Any], unique: str, groups: list[str],
                                         cloudlet: CloudletProcess) -> None:
    sqs, iam = cloudlet.client("sqs"), cloudlet.client("iam")
    queue_url = sqs.create_queue(QueueName=f"{unique}-hooks")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = iam.create_role(RoleName=f"{unique}-hooks", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Service": "autoscaling.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    iam.put_role_policy(RoleName=f"{unique}-hooks", PolicyName="send", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
                                                "Resource": queue_arn}]}))
    asg.create_launch_configuration(LaunchConfigurationName=f"{unique}-lc", ImageId=world["image"],
                                    InstanceType="t3.micro")
    name = f"{unique}-hooked"
    groups.append(name)
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=1, DesiredCapacity=0, LaunchConfigurationName=f"{unique}-lc",
        VPCZoneIdentifier=world["subnet"], LifecycleHookSpecificationList=[{
            "LifecycleHookName": "ready", "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
            "NotificationTargetARN": queue_arn, "RoleARN": role, "HeartbeatTimeout": 120,
            "DefaultResult": "ABANDON", "NotificationMetadata": "meta"}])
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)

    def message() -> dict[str, Any] | None:
        got = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages")
        return json.loads(got[0]["Body"]) if got else None
    body = eventually(message)
    assert (body["LifecycleTransition"], body["AutoScalingGroupName"], body["LifecycleHookName"],
            body["NotificationMetadata"]) == ("autoscaling:EC2_INSTANCE_LAUNCHING", name, "ready", "meta")
    state = asg.describe_auto_scaling_instances(InstanceIds=[body["EC2InstanceId"]])["AutoScalingInstances"][0]
    assert state["LifecycleState"] == "Pending:Wait"
    asg.complete_lifecycle_action(AutoScalingGroupName=name, LifecycleHookName="ready",
                                  LifecycleActionToken=body["LifecycleActionToken"], LifecycleActionResult="CONTINUE")
    ready = eventually(lambda: in_service(asg, name, 1))
    assert ready[0]["InstanceId"] == body["EC2InstanceId"]


def test_group_notifications_reach_a_topic(asg: Any, world: dict[str, Any], unique: str, groups: list[str],
                                           cloudlet: CloudletProcess) -> None:
    sns, sqs = cloudlet.client("sns"), cloudlet.client("sqs")
    topic = sns.create_topic(Name=f"{unique}-asg")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{unique}-asg")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                "Action": "sqs:SendMessage", "Resource": queue_arn,
                                                "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    asg.create_launch_configuration(LaunchConfigurationName=f"{unique}-lc", ImageId=world["image"],
                                    InstanceType="t3.micro")
    name = f"{unique}-notes"
    groups.append(name)
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=1, DesiredCapacity=0,
                                  LaunchConfigurationName=f"{unique}-lc", VPCZoneIdentifier=world["subnet"])
    asg.put_notification_configuration(AutoScalingGroupName=name, TopicARN=topic, NotificationTypes=[
        "autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_TERMINATE"])
    assert asg.describe_notification_configurations(AutoScalingGroupNames=[name])["NotificationConfigurations"] == [
        {"AutoScalingGroupName": name, "TopicARN": topic, "NotificationType": kind}
        for kind in ("autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_TERMINATE")]
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    events: list[dict[str, Any]] = []

    def seen(event: str) -> bool:
        for got in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get(
                "Messages", []):
            events.append(json.loads(got["Body"]))
        return any(e.get("Event") == event for e in events)
    assert eventually(lambda: seen("autoscaling:EC2_INSTANCE_LAUNCH"))
    assert any(e.get("Event") == "autoscaling:TEST_NOTIFICATION" for e in events)
    launch = next(e for e in events if e.get("Event") == "autoscaling:EC2_INSTANCE_LAUNCH")
    assert launch["AutoScalingGroupName"] == name and launch["Description"].startswith("Launching a new EC2")
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=0)
    assert eventually(lambda: seen("autoscaling:EC2_INSTANCE_TERMINATE"))
    asg.delete_notification_configuration(AutoScalingGroupName=name, TopicARN=topic)
    assert asg.describe_notification_configurations(AutoScalingGroupNames=[name])["NotificationConfigurations"] == []
