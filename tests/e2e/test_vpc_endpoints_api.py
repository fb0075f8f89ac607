"""VPC endpoints end to end with boto3 against a real ``cloudlet up``: both types created, read back, modified,
filtered and deleted; the gateway route in DescribeRouteTables; the interface ENIs in
DescribeNetworkInterfaces; AWS's errors; and an endpoint policy enforced on a request an agent's relay
carried through the endpoint (the relay's trusted headers, sent here as the relay sends them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from tests.e2e.helpers import Client, error_of, refused, tagged, teardown_vpc
from tests.support import CloudletProcess

S3 = "com.amazonaws.home-1.s3"
STS = "com.amazonaws.home-1.sts"


@pytest.fixture
def network(ec2: Client, unique: str) -> Iterator[dict[str, str]]:
    """A VPC (DNS hostnames on) with two subnets in two zones and a route table; endpoints and all removed after."""
    vpc_id = ec2.create_vpc(CidrBlock="10.31.0.0/16", TagSpecifications=tagged("vpc", unique))["Vpc"]["VpcId"]
    ids = {"vpc": vpc_id}
    try:
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        for name, block, zone in (("a", "10.31.1.0/24", "home-1a"), ("b", "10.31.2.0/24", "home-1b")):
            ids[name] = ec2.create_subnet(VpcId=vpc_id, CidrBlock=block, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        ids["table"] = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=ids["table"], SubnetId=ids["a"])
        yield ids
    finally:
        endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
        if endpoints:
            ec2.delete_vpc_endpoints(VpcEndpointIds=[e["VpcEndpointId"] for e in endpoints])
        teardown_vpc(ec2, vpc_id)


def test_services_and_the_s3_prefix_list(ec2: Client) -> None:
    services = ec2.describe_vpc_endpoint_services()
    assert S3 in services["ServiceNames"] and STS in services["ServiceNames"]
    s3 = next(d for d in services["ServiceDetails"] if d["ServiceName"] == S3)
    assert s3["ServiceType"] == [{"ServiceType": "Gateway"}] and s3["VpcEndpointPolicySupported"]
    [listed] = ec2.describe_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": [S3]}])["PrefixLists"]
    assert listed["Cidrs"] == ["203.0.113.2/32"]
    refused(ec2.describe_vpc_endpoint_services, "InvalidServiceName", ServiceNames=["com.amazonaws.home-1.nope"])


def test_a_gateway_endpoint_from_create_to_delete(ec2: Client, network: dict[str, str], unique: str) -> None:
    endpoint = ec2.create_vpc_endpoint(VpcId=network["vpc"], ServiceName=S3, RouteTableIds=[network["table"]],
                                       TagSpecifications=tagged("vpc-endpoint", unique))["VpcEndpoint"]
    endpoint_id = endpoint["VpcEndpointId"]
    assert (endpoint["VpcEndpointType"], endpoint["State"], endpoint["RouteTableIds"]) == (
        "Gateway", "available", [network["table"]])
    prefix_list = ec2.describe_prefix_lists()["PrefixLists"][0]["PrefixListId"]
    table = ec2.describe_route_tables(RouteTableIds=[network["table"]])["RouteTables"][0]
    route = next(r for r in table["Routes"] if r.get("DestinationPrefixListId") == prefix_list)
    assert (route["GatewayId"], route["State"], route["Origin"]) == (endpoint_id, "active", "CreateRoute")
    found = ec2.describe_route_tables(Filters=[{"Name": "route.gateway-id", "Values": [endpoint_id]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [network["table"]]
    [read] = ec2.describe_vpc_endpoints(Filters=[{"Name": "tag:Name", "Values": [unique]}])["VpcEndpoints"]
    assert read["VpcEndpointId"] == endpoint_id and json.loads(read["PolicyDocument"])["Statement"]
    refused(ec2.create_vpc_endpoint, "RouteAlreadyExists", VpcId=network["vpc"], ServiceName=S3,
            RouteTableIds=[network["table"]])
    assert ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, RemoveRouteTableIds=[network["table"]])["Return"]
    table = ec2.describe_route_tables(RouteTableIds=[network["table"]])["RouteTables"][0]
    assert not any("DestinationPrefixListId" in r for r in table["Routes"])
    missing = "vpce-0123456789abcdef0"
    answer = ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id, missing])
    assert [(u["ResourceId"], u["Error"]["Code"]) for u in answer["Unsuccessful"]] == [
        (missing, "InvalidVpcEndpoint.NotFound")]
    [gone] = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
    assert gone["State"] in ("deleting", "deleted")
    refused(ec2.modify_vpc_endpoint, "InvalidVpcEndpointId.NotFound", VpcEndpointId=endpoint_id, ResetPolicy=True)


def test_an_interface_endpoint_from_create_to_delete(ec2: Client, network: dict[str, str]) -> None:
    group = ec2.create_security_group(GroupName="api", Description="api", VpcId=network["vpc"])["GroupId"]
    endpoint = ec2.create_vpc_endpoint(VpcId=network["vpc"], ServiceName=STS, VpcEndpointType="Interface",
                                       SubnetIds=[network["a"]], SecurityGroupIds=[group])["VpcEndpoint"]
    endpoint_id = endpoint["VpcEndpointId"]
    assert (endpoint["State"], endpoint["PrivateDnsEnabled"], endpoint["Groups"][0]["GroupId"]) == (
        "pending", True, group)
    assert "sts.home-1.amazonaws.com" in [e["DnsName"] for e in endpoint["DnsEntries"]]
    [eni] = ec2.describe_network_interfaces(NetworkInterfaceIds=endpoint["NetworkInterfaceIds"])["NetworkInterfaces"]
    assert (eni["InterfaceType"], eni["RequesterManaged"], eni["SubnetId"]) == ("vpc_endpoint", True, network["a"])
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, AddSubnetIds=[network["b"]], PrivateDnsEnabled=False)
    [read] = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
    assert sorted(read["SubnetIds"]) == sorted([network["a"], network["b"]]) and not read["PrivateDnsEnabled"]
    assert len(read["NetworkInterfaceIds"]) == 2
    by_type = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-endpoint-type", "Values": ["Interface"]},
                                                  {"Name": "vpc-id", "Values": [network["vpc"]]}])["VpcEndpoints"]
    assert [e["VpcEndpointId"] for e in by_type] == [endpoint_id]
    refused(ec2.create_vpc_endpoint, "DuplicateSubnetsInSameZone", VpcId=network["vpc"], ServiceName=STS,
            VpcEndpointType="Interface", SubnetIds=[network["a"], ec2.create_subnet(
                VpcId=network["vpc"], CidrBlock="10.31.3.0/24", AvailabilityZone="home-1a")["Subnet"]["SubnetId"]])
    refused(ec2.create_vpc_endpoint, "InvalidParameter", VpcId=network["vpc"], ServiceName=S3,
            SubnetIds=[network["a"]])
    refused(ec2.create_vpc_endpoint, "InvalidServiceName", VpcId=network["vpc"], ServiceName="com.amazonaws.x.y")
    assert ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])["Unsuccessful"] == []
    assert ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [network["vpc"]]}])[
        "NetworkInterfaces"] == []


def relayed(client: Any, cloud: CloudletProcess, endpoint_id: str, vpc_id: str) -> Any:
    """``client`` with the headers an agent's relay adds to what it carries through ``endpoint_id``."""
    token = (cloud.data_dir / "agent.token").read_text().strip()

    def add_headers(request: Any, **_: Any) -> None:
        request.headers.update({"X-Cloudlet-Relay-Token": token, "X-Cloudlet-Source-Ip": "10.31.1.10",
                                "X-Cloudlet-Source-Vpc": vpc_id, "X-Cloudlet-Via": endpoint_id})

    client.meta.events.register("before-send", add_headers)
    return client


def test_an_endpoint_policy_is_enforced_on_what_comes_through_it(cloudlet: CloudletProcess, ec2: Client,
                                                                  network: dict[str, str], unique: str) -> None:
    deny_put = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}]})
    endpoint_id = ec2.create_vpc_endpoint(VpcId=network["vpc"], ServiceName=S3, RouteTableIds=[network["table"]],
                                          PolicyDocument=deny_put)["VpcEndpoint"]["VpcEndpointId"]
    direct = cloudlet.client("s3")
    bucket = f"{unique}-vpce"
    direct.create_bucket(Bucket=bucket)
    try:
        direct.put_object(Bucket=bucket, Key="seed", Body=b"seed")
        through = relayed(cloudlet.client("s3"), cloudlet, endpoint_id, network["vpc"])
        assert through.get_object(Bucket=bucket, Key="seed")["Body"].read() == b"seed"
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            through.put_object(Bucket=bucket, Key="blocked", Body=b"x")
        assert error_of(excinfo) == ("AccessDenied", 403)
        ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, ResetPolicy=True)
        through.put_object(Bucket=bucket, Key="allowed", Body=b"y")
        other = relayed(cloudlet.client("ec2"), cloudlet, endpoint_id, network["vpc"])
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:  # an S3 endpoint carries S3 only
            other.describe_vpcs()
        assert "does not serve ec2" in excinfo.value.response["Error"]["Message"]
    finally:
        for item in direct.list_objects_v2(Bucket=bucket).get("Contents", []):
            direct.delete_object(Bucket=bucket, Key=item["Key"])
        direct.delete_bucket(Bucket=bucket)
