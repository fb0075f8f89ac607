"""Spot capacity in an Auto Scaling group: a group of spot instances with Capacity Rebalancing replaces the one EC2
gives an interruption notice (an on-demand launch needs its host) by launching elsewhere, as AWS's rebalance
recommendation lets it. The hosts are fake (their agent played by the test) and just big enough for one
t3.micro guest each, so that an on-demand launch beside the spot instance has to reclaim it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.fake_agent import FakeAgent
from tests.e2e.helpers import eventually
from tests.support import CloudletProcess

#: The host's reserve (1024 MiB) plus one t3.micro guest as the homelab sizes it (256 MiB + 48 MiB overhead).
ONE_GUEST_HOST_MIB = 1024 + 256 + 48 + 100


@pytest.fixture(scope="module")
def world(cloudlet: CloudletProcess) -> Iterator[dict[str, Any]]:
    agent = FakeAgent(cloudlet, "asr", ("home-1a", "home-1b"), memory_mib=ONE_GUEST_HOST_MIB)
    ec2 = cloudlet.client("ec2")
    subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]}
    yield {"image": ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"], "subnets": subnets, "ec2": ec2}
    agent.stop()


def test_capacity_rebalancing_replaces_a_spot_instance_that_got_its_notice(
        cloudlet: CloudletProcess, world: dict[str, Any], unique: str) -> None:
    ec2, asg = world["ec2"], cloudlet.client("autoscaling")
    template = ec2.create_launch_template(LaunchTemplateName=f"{unique}-spot", LaunchTemplateData={
        "ImageId": world["image"], "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    name = f"{unique}-spot"
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=1, MaxSize=2, DesiredCapacity=1, CapacityRebalance=True,
        VPCZoneIdentifier=",".join(sorted(world["subnets"].values())),
        MixedInstancesPolicy={"LaunchTemplate": {"LaunchTemplateSpecification": {"LaunchTemplateId": template}},
                              "InstancesDistribution": {"OnDemandBaseCapacity": 0,
                                                        "OnDemandPercentageAboveBaseCapacity": 0}})
    on_demand = None
    try:
        first = eventually(lambda: _in_service(asg, name), 60)[0]
        described = ec2.describe_instances(InstanceIds=[first["InstanceId"]])["Reservations"][0]["Instances"][0]
        assert described["InstanceLifecycle"] == "spot"
        zone = first["AvailabilityZone"]
        on_demand = ec2.run_instances(ImageId=world["image"], InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                      SubnetId=world["subnets"][zone])["Instances"][0]["InstanceId"]
        try:
            replaced = eventually(lambda: (found := _in_service(asg, name)) and found[0]["InstanceId"] !=
                                  first["InstanceId"] and found, 60)
        except AssertionError:
            print(ec2.describe_spot_instance_requests()["SpotInstanceRequests"])
            print(ec2.describe_instances(InstanceIds=[on_demand])["Reservations"][0]["Instances"][0]["State"])
            print([(a["Description"], a["Cause"]) for a in asg.describe_scaling_activities(
                AutoScalingGroupName=name)["Activities"]])
            print(asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"])
            raise
        assert replaced[0]["AvailabilityZone"] != zone  # the reclaimed host is full: elsewhere
        causes = [a["Cause"] for a in asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]]
        assert any("rebalance recommendation" in cause for cause in causes), causes
    finally:
        with contextlib.suppress(ClientError):
            asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
        if on_demand:
            ec2.terminate_instances(InstanceIds=[on_demand])


def _in_service(asg: Any, name: str) -> list[dict[str, Any]] | None:
    found = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]
    ready = [i for i in found if i["LifecycleState"] == "InService"]
    return ready if len(ready) == 1 and len(found) == 1 else None
