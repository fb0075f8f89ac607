"""A private subnet whose instances Systems Manager reaches, shared by ``test_ssm_instances_vm`` and
``bench/bench_ssm.py``: as AWS's Session Manager guide builds it, a VPC with no internet gateway and no NAT,
interface endpoints for ``ssm``, ``ec2messages`` and ``ssmmessages`` with private DNS, and an instance
profile with ``AmazonSSMManagedInstanceCore``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.e2e.eni_lab import console
from tests.e2e.helpers import ec2_instance_profile
from tests.e2e.ssm_fleet import CORE_POLICY

#: What Session Manager and Run Command need inside a private subnet (AWS's list for the agent).
ENDPOINT_SERVICES = ("ssm", "ec2messages", "ssmmessages")
PROFILE = "ssm-instance"


@dataclass
class PrivateSubnet:
    vpc_id: str
    subnet_id: str
    #: The instances' own group: no inbound rule unless ``ssh_from_vpc`` asked for port 22 from the VPC.
    group_id: str


def private_subnet(ec2: Any, region: str, vpc_cidr: str, subnet_cidr: str, *,
                   ssh_from_vpc: bool = False) -> PrivateSubnet:
    """The VPC, its one subnet, the three endpoints (HTTPS from the VPC) and the instances' security group."""
    vpc = ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
    for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):  # private DNS for endpoints needs both
        ec2.modify_vpc_attribute(VpcId=vpc, **{attribute: {"Value": True}})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
    endpoints_group = ec2.create_security_group(GroupName="ssm-endpoints", Description="HTTPS from the VPC",
                                                VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=endpoints_group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": vpc_cidr}]}])
    for service in ENDPOINT_SERVICES:
        ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{region}.{service}",
                                VpcEndpointType="Interface", SubnetIds=[subnet],
                                SecurityGroupIds=[endpoints_group], PrivateDnsEnabled=True)
    group = ec2.create_security_group(GroupName="instances", Description="the instances", VpcId=vpc)["GroupId"]
    if ssh_from_vpc:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": vpc_cidr}]}])
    return PrivateSubnet(vpc, subnet, group)


def instance_profile(iam: Any) -> str:
    """A role EC2 may assume with AWS's managed policy for Systems Manager, in an instance profile."""
    return ec2_instance_profile(iam, PROFILE, CORE_POLICY)


def online(ssm: Any, instance_ids: list[str]) -> list[dict[str, Any]] | None:
    """The instances' DescribeInstanceInformation entries once every one is Online."""
    found = []
    for start in range(0, len(instance_ids), 50):  # the InstanceIds filter takes up to 50 values
        found += ssm.describe_instance_information(Filters=[
            {"Key": "InstanceIds", "Values": instance_ids[start:start + 50]}])["InstanceInformationList"]
    return found if len(found) == len(instance_ids) and all(i["PingStatus"] == "Online" for i in found) else None


def agent_failed(env: Any, instance_ids: list[str]) -> None:
    """Fails at once when a guest's launcher reports its agent dead (the console shows the agent's log)."""
    for instance_id in instance_ids:
        text = console(env, instance_id)
        if "ssm-agent: exited" in text:
            raise AssertionError(f"the agent of {instance_id} died:\n{text[-3000:]}")
