"""EC2 Instance Connect Endpoints in process: the endpoint, its requester-managed ENI, states, quotas, errors."""

from __future__ import annotations

import pytest

from tests.support import wait_for
from tests.unit.harness import Clouds, VpcCloud


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc(nat_gateway_transition_seconds=2.0)


def default_subnets(cloud: VpcCloud) -> list[dict]:
    subnets = cloud.call("DescribeSubnets", {"Filters": [{"Name": "default-for-az", "Values": ["true"]}]})["Subnets"]
    return sorted(subnets, key=lambda s: s["AvailabilityZone"])


def test_an_endpoint_has_a_requester_managed_interface_and_settles(cloud: VpcCloud) -> None:
    subnet = default_subnets(cloud)[0]
    group = cloud.call("CreateSecurityGroup", {"GroupName": "eice", "Description": "eice",
                                               "VpcId": subnet["VpcId"]})["GroupId"]
    created = cloud.call("CreateInstanceConnectEndpoint", {
        "SubnetId": subnet["SubnetId"], "SecurityGroupIds": [group], "PreserveClientIp": True, "ClientToken": "t1",
        "TagSpecifications": [{"ResourceType": "instance-connect-endpoint", "Tags": [{"Key": "Name",
                                                                                      "Value": "bastion"}]}]})
    endpoint = created["InstanceConnectEndpoint"]
    endpoint_id = endpoint["InstanceConnectEndpointId"]
    assert created["ClientToken"] == "t1" and endpoint_id.startswith("eice-")
    assert endpoint["State"] == "create-in-progress" and endpoint["PreserveClientIp"] is True
    assert endpoint["InstanceConnectEndpointArn"] == \
        f"arn:aws:ec2:home-1:{cloud.account}:instance-connect-endpoint/{endpoint_id}"
    assert endpoint["DnsName"].startswith(f"{endpoint_id}.") and \
        endpoint["DnsName"].endswith(".ec2-instance-connect-endpoint.home-1.amazonaws.com")
    assert ".fips.ec2-instance-connect-endpoint." in endpoint["FipsDnsName"]
    assert endpoint["SecurityGroupIds"] == [group] and endpoint["Tags"] == [{"Key": "Name", "Value": "bastion"}]
    assert endpoint["AvailabilityZone"] == subnet["AvailabilityZone"] and endpoint["AvailabilityZoneId"] == "hom1-az1"
    [eni_id] = endpoint["NetworkInterfaceIds"]
    [eni] = cloud.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [eni_id]})["NetworkInterfaces"]
    assert eni["RequesterManaged"] is True and eni["SubnetId"] == subnet["SubnetId"]
    assert [g["GroupId"] for g in eni["Groups"]] == [group] and endpoint_id in eni["Description"]
    again = cloud.call("CreateInstanceConnectEndpoint", {"SubnetId": subnet["SubnetId"], "ClientToken": "t1"})
    assert again["InstanceConnectEndpoint"]["InstanceConnectEndpointId"] == endpoint_id
    cloud.call("CreateTags", {"Resources": [endpoint_id], "Tags": [{"Key": "team", "Value": "ops"}]})
    wait_for(lambda: cloud.call("DescribeInstanceConnectEndpoints", {"Filters": [
        {"Name": "state", "Values": ["create-complete"]}]})["InstanceConnectEndpoints"], 10, "the endpoint to settle")
    listed = cloud.call("DescribeInstanceConnectEndpoints", {"Filters": [{"Name": "tag:Name",
                                                                          "Values": ["bastion"]}]})
    assert [(e["InstanceConnectEndpointId"], e["State"]) for e in listed["InstanceConnectEndpoints"]] == [
        (endpoint_id, "create-complete")]
    assert {"Key": "team", "Value": "ops"} in listed["InstanceConnectEndpoints"][0]["Tags"]
    deleted = cloud.call("DeleteInstanceConnectEndpoint", {"InstanceConnectEndpointId": endpoint_id})
    assert deleted["InstanceConnectEndpoint"]["State"] == "delete-in-progress"
    assert cloud.call("DescribeNetworkInterfaces", {"Filters": [{"Name": "network-interface-id",
                                                                 "Values": [eni_id]}]})["NetworkInterfaces"] == []
    states = cloud.call("DescribeInstanceConnectEndpoints", {})["InstanceConnectEndpoints"]
    assert [e["State"] for e in states] == ["delete-in-progress"]
    cloud.refused("DeleteInstanceConnectEndpoint", {"InstanceConnectEndpointId": endpoint_id},
                  "InvalidInstanceConnectEndpointId.NotFound")
    wait_for(lambda: cloud.call("DescribeInstanceConnectEndpoints", {})["InstanceConnectEndpoints"] == [], 10,
             "the deleted endpoint to go")


def test_quotas_filters_and_errors(cloud: VpcCloud) -> None:
    first, second = default_subnets(cloud)[:2]
    endpoint_id = cloud.call("CreateInstanceConnectEndpoint", {"SubnetId": first["SubnetId"]})[
        "InstanceConnectEndpoint"]["InstanceConnectEndpointId"]
    error = cloud.refused("CreateInstanceConnectEndpoint", {"SubnetId": second["SubnetId"]}, "ResourceLimitExceeded")
    assert f"in VPC {first['VpcId']}" in error.message
    cloud.refused("CreateInstanceConnectEndpoint", {"SubnetId": "subnet-0123456789abcdef0"},
                  "InvalidSubnetID.NotFound")
    cloud.refused("CreateInstanceConnectEndpoint", {"SubnetId": first["SubnetId"], "IpAddressType": "dualstack"},
                  "UnsupportedOperation")
    vpc_id = cloud.call("CreateVpc", {"CidrBlock": "10.9.0.0/16"})["Vpc"]["VpcId"]
    other = cloud.call("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": "10.9.1.0/24"})["Subnet"]["SubnetId"]
    cloud.refused("CreateInstanceConnectEndpoint", {"SubnetId": other, "SecurityGroupIds": ["sg-0123456789abcdef0"]},
                  "InvalidGroup.NotFound")
    mine = cloud.call("CreateInstanceConnectEndpoint", {"SubnetId": other})["InstanceConnectEndpoint"]
    assert mine["SecurityGroupIds"] == [cloud.call("DescribeSecurityGroups", {"Filters": [
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]})[
        "SecurityGroups"][0]["GroupId"]]
    by_vpc = cloud.call("DescribeInstanceConnectEndpoints", {"Filters": [{"Name": "vpc-id", "Values": [vpc_id]}]})
    assert [e["InstanceConnectEndpointId"] for e in by_vpc["InstanceConnectEndpoints"]] == [
        mine["InstanceConnectEndpointId"]]
    page = cloud.call("DescribeInstanceConnectEndpoints", {"MaxResults": 1})
    assert len(page["InstanceConnectEndpoints"]) == 1 and page["NextToken"]
    cloud.refused("DescribeInstanceConnectEndpoints", {"InstanceConnectEndpointIds": ["eice-0123456789abcdef0"]},
                  "InvalidInstanceConnectEndpointId.NotFound")
    cloud.refused("DeleteInstanceConnectEndpoint", {"InstanceConnectEndpointId": "vpce-1"},
                  "InvalidInstanceConnectEndpointId.Malformed")
    cloud.refused("DeleteInstanceConnectEndpoint", {"InstanceConnectEndpointId": endpoint_id},
                  "InvalidInstanceConnectEndpointId.NotFound", account="222222222222")
