"""Horizontal scaling with real instances and a real load balancer (issue 17), through boto3 against a real cloud.

A launch template of the tiny AMI whose user data serves the instance's id over HTTP (busybox httpd); an Auto
Scaling group of two of them registered in a target group behind an internal application load balancer in the
default VPC. The tests run in file order and share the group:

two healthy targets -> a guest asks the load balancer by its DNS name (the VPC resolver) and both instances answer
-> a path rule sends /static to a fixed response -> an instance terminated behind the group's back is replaced
-> CPU load inside the guests scales the group out through target tracking, seen in CloudWatch and in the
scaling activities.

The target tracking alarms use ``autoscaling_alarm_period_seconds`` = 10 here (AWS: 60), so scale-out needs 30 s
of load, as on AWS but six times faster. Scale-in would need 150 s of idling: its low alarm is driven in
test_autoscaling_policies instead.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.prerequisites import missing_for_vms, require
from tests.support import wait_for

require(missing_for_vms(), "VM tests")
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow]

from tests.e2e.vm_lab import VmLab  # noqa: E402

ALARM_PERIOD = 10
HEALTH_CHECK_INTERVAL = 5
USER_DATA = """#!/bin/sh
mkdir -p /www
cp /run/cloudlet/meta/instance-id /www/index.html
busybox httpd -p 80 -h /www
"""


@dataclass
class Web:
    vpc_id: str
    subnets: list[str]
    target_group: str
    load_balancer: str
    dns_name: str
    listener: str
    group: str = "web"


@pytest.fixture(scope="module")
def lab() -> Iterator[VmLab]:
    lab = VmLab.start("scale", {"autoscaling_alarm_period_seconds": ALARM_PERIOD})
    try:
        yield lab
    finally:
        try:
            lab.client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName="web", ForceDelete=True)
        except Exception as exc:  # noqa: BLE001 - cleanup goes on whatever happened
            print(f"cleanup: deleting the group failed: {exc}")
        lab.clean_up()


@pytest.fixture(scope="module")
def web(lab: VmLab) -> Web:
    ec2, elbv2, autoscaling = lab.ec2(), lab.client("elbv2"), lab.client("autoscaling")
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = sorted(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"],
                     key=lambda s: s["AvailabilityZone"])
    template = ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={
        "ImageId": lab.tiny_image(), "InstanceType": "t3.micro", "KeyName": "lab",
        "UserData": base64.b64encode(USER_DATA.encode()).decode()})["LaunchTemplate"]["LaunchTemplateId"]
    target_group = elbv2.create_target_group(
        Name="web", Protocol="HTTP", Port=80, VpcId=vpc_id, HealthCheckIntervalSeconds=HEALTH_CHECK_INTERVAL,
        HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    balancer = elbv2.create_load_balancer(Name="web", Type="application", Scheme="internal",
                                          Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]
    listener = elbv2.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                     DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}]
                                     )["Listeners"][0]["ListenerArn"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=2, MaxSize=4, DesiredCapacity=2, VPCZoneIdentifier=subnets[0]["SubnetId"],
        TargetGroupARNs=[target_group], HealthCheckType="ELB", HealthCheckGracePeriod=120, DefaultCooldown=20)
    return Web(vpc_id, [s["SubnetId"] for s in subnets], target_group, balancer["LoadBalancerArn"],
               balancer["DNSName"], listener)


def healthy_targets(lab: VmLab, web: Web) -> list[str]:
    described = lab.client("elbv2").describe_target_health(TargetGroupArn=web.target_group)
    return sorted(t["Target"]["Id"] for t in described["TargetHealthDescriptions"]
                  if t["TargetHealth"]["State"] == "healthy")


def in_service(lab: VmLab, web: Web) -> list[str]:
    group = lab.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[web.group])
    return sorted(i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"]
                  if i["LifecycleState"] == "InService")


def fetch_through_balancer(lab: VmLab, client: str, dns_name: str, path: str = "/", times: int = 1) -> list[str]:
    """What ``times`` requests to the load balancer's name answer, asked from inside the instance ``client``
    (the name resolves through the VPC resolver, as for any guest)."""
    script = f"for i in $(seq {times}); do wget -qO- http://{dns_name}{path} || echo \"wget failed: $?\"; echo; done"
    return [line for line in lab.ssh(client, script).splitlines() if line]


def test_the_group_launches_two_instances_that_become_healthy_targets(lab: VmLab, web: Web) -> None:
    wait_for(lambda: len(in_service(lab, web)) == 2, 240, "two instances in service")
    wait_for(lambda: len(healthy_targets(lab, web)) == 2, 120, "two healthy targets")
    assert healthy_targets(lab, web) == in_service(lab, web)


def test_requests_to_the_balancer_name_alternate_between_the_instances(lab: VmLab, web: Web) -> None:
    """Each load balancer node checks the targets itself, and DescribeTargetHealth says healthy once any node
    does (as the contract says). The node this guest reaches may pass its second check an interval later
    than the other: its answers are watched for that long."""
    instances = in_service(lab, web)
    answers: list[str] = []

    def both_answer() -> bool:
        answers[:] = fetch_through_balancer(lab, instances[0], web.dns_name, times=8)
        return sorted(set(answers)) == instances

    try:
        wait_for(both_answer, 3 * HEALTH_CHECK_INTERVAL, "both instances answering through the balancer")
    except AssertionError:
        raise AssertionError(f"the last 8 answers: {answers}; the instances: {instances}") from None


def test_a_path_rule_answers_before_the_default_action(lab: VmLab, web: Web) -> None:
    lab.client("elbv2").create_rule(
        ListenerArn=web.listener, Priority=10, Conditions=[{"Field": "path-pattern", "Values": ["/static/*"]}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {
            "StatusCode": "200", "ContentType": "text/plain", "MessageBody": "from the rule"}}])
    client = in_service(lab, web)[0]
    wait_for(lambda: fetch_through_balancer(lab, client, web.dns_name, "/static/x") == ["from the rule"], 30,
             "the rule in effect")
    assert set(fetch_through_balancer(lab, client, web.dns_name, times=4)) <= set(in_service(lab, web))


def test_an_instance_terminated_behind_the_groups_back_is_replaced(lab: VmLab, web: Web) -> None:
    victim, survivor = in_service(lab, web)
    lab.ec2().terminate_instances(InstanceIds=[victim])
    wait_for(lambda: len(in_service(lab, web)) == 2 and victim not in in_service(lab, web), 240,
             "a replacement in service")
    try:
        wait_for(lambda: len(healthy_targets(lab, web)) == 2 and victim not in healthy_targets(lab, web), 120,
                 "the replacement healthy behind the balancer")
    except AssertionError:
        print(json.dumps(lab.client("elbv2").describe_target_health(TargetGroupArn=web.target_group)[
            "TargetHealthDescriptions"], indent=1, default=str))
        activities = lab.client("autoscaling").describe_scaling_activities(AutoScalingGroupName=web.group)
        print(json.dumps([(a["Description"], a["Cause"], a["StatusCode"]) for a in activities["Activities"]],
                         indent=1))
        raise
    activities = lab.client("autoscaling").describe_scaling_activities(AutoScalingGroupName=web.group)["Activities"]
    descriptions = [a["Description"] for a in activities]
    assert any(victim in d and d.startswith("Terminating") for d in descriptions), descriptions
    assert survivor in in_service(lab, web)


def test_cpu_load_scales_out_through_target_tracking(lab: VmLab, web: Web) -> None:
    """Real guest CPU, through the agent's metrics and the policy's high alarm, to a bigger group. The way
    back in (the low alarm's 15 quiet periods) is the same path the other way: test_autoscaling_policies
    drives the low alarm without minutes of waiting here."""
    autoscaling, cloudwatch = lab.client("autoscaling"), lab.client("cloudwatch")
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=web.group, PolicyName="cpu30", PolicyType="TargetTrackingScaling",
        EstimatedInstanceWarmup=20, TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": 30.0})
    started = time.time()
    burners = in_service(lab, web)
    for instance_id in burners:  # two busy loops: both vCPUs of a t3.micro
        lab.ssh(instance_id, "for n in 1 2; do (while :; do :; done) </dev/null >/dev/null 2>&1 & "
                             "echo $! >> /tmp/burners; done; echo ok")
    try:
        wait_for(lambda: _desired(lab, web) > 2, 240, "a scale-out")
        cpu = _group_cpu(cloudwatch, web, started)
        assert cpu and max(cpu) > 30, cpu
    finally:
        for instance_id in burners:
            lab.ssh(instance_id, "kill $(cat /tmp/burners); rm /tmp/burners; echo ok")
    activities = autoscaling.describe_scaling_activities(AutoScalingGroupName=web.group)["Activities"]
    assert any("cpu30" in (a.get("Cause") or "") for a in activities), [a.get("Cause") for a in activities]


def _desired(lab: VmLab, web: Web) -> int:
    group = lab.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[web.group])
    return int(group["AutoScalingGroups"][0]["DesiredCapacity"])


def _group_cpu(cloudwatch: Any, web: Web, since: float) -> list[float]:
    data = cloudwatch.get_metric_data(
        StartTime=since - 60, EndTime=time.time() + 60, MetricDataQueries=[{
            "Id": "cpu", "MetricStat": {"Metric": {
                "Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "AutoScalingGroupName", "Value": web.group}]},
                "Period": ALARM_PERIOD, "Stat": "Average"}}])
    return list(data["MetricDataResults"][0]["Values"])
