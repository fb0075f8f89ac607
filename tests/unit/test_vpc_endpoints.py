"""VPC endpoints called as functions: the services, the S3 prefix list, gateway routes, interface ENIs, errors,
and the endpoint policy the IAM engine adds for requests that came through an endpoint."""

from __future__ import annotations

import dataclasses
import json

import pytest

from controller.ec2.vpc import endpoint_services
from controller.errors import ServiceError
from controller.iam import enforce
from tests.unit.harness import ACCOUNT, Clouds, VpcCloud, snapshot


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc(nat_gateway_transition_seconds=0.0)


S3 = "com.amazonaws.home-1.s3"
STS = "com.amazonaws.home-1.sts"


def new_vpc(cloud: VpcCloud, dns_hostnames: bool = True) -> str:
    vpc_id = cloud.call("CreateVpc", {"CidrBlock": "10.9.0.0/16"})["Vpc"]["VpcId"]
    if dns_hostnames:
        cloud.call("ModifyVpcAttribute", {"VpcId": vpc_id, "EnableDnsHostnames": {"Value": True}})
    return vpc_id


def new_subnet(cloud: VpcCloud, vpc_id: str, cidr: str, zone: str = "home-1a") -> str:
    return cloud.call("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": cidr, "AvailabilityZone": zone})[
        "Subnet"]["SubnetId"]


def new_table(cloud: VpcCloud, vpc_id: str) -> str:
    return cloud.call("CreateRouteTable", {"VpcId": vpc_id})["RouteTable"]["RouteTableId"]


def endpoint_routes(cloud: VpcCloud, table_id: str) -> list[tuple[str, str, str]]:
    table = cloud.call("DescribeRouteTables", {"RouteTableIds": [table_id]})["RouteTables"][0]
    return [(r["DestinationPrefixListId"], r["GatewayId"], r["State"]) for r in table["Routes"]
            if "DestinationPrefixListId" in r]


def gateway(cloud: VpcCloud, vpc_id: str, tables: list[str], **extra) -> dict:
    return cloud.call("CreateVpcEndpoint", {"VpcId": vpc_id, "ServiceName": S3, "RouteTableIds": tables,
                                            **extra})["VpcEndpoint"]


def interface(cloud: VpcCloud, vpc_id: str, subnets: list[str], **extra) -> dict:
    return cloud.call("CreateVpcEndpoint", {"VpcId": vpc_id, "ServiceName": STS, "VpcEndpointType": "Interface",
                                            "SubnetIds": subnets, **extra})["VpcEndpoint"]


# --- the services and the prefix list -------------------------------------------------------------------------


def test_every_regional_service_is_an_endpoint_service_s3_as_a_gateway(cloud: VpcCloud) -> None:
    answer = cloud.call("DescribeVpcEndpointServices")
    details = {d["ServiceName"]: d for d in answer["ServiceDetails"]}
    assert answer["ServiceNames"] == sorted(details)
    assert details[S3]["ServiceType"] == [{"ServiceType": "Gateway"}] and "PrivateDnsName" not in details[S3]
    assert details[S3]["BaseEndpointDnsNames"] == ["s3.home-1.amazonaws.com"]
    sts = details[STS]
    assert (sts["ServiceType"], sts["PrivateDnsName"], sts["BaseEndpointDnsNames"], sts["AvailabilityZones"]) == (
        [{"ServiceType": "Interface"}], "sts.home-1.amazonaws.com", ["sts.home-1.vpce.amazonaws.com"],
        ["home-1a", "home-1b"])
    assert "com.amazonaws.home-1.elasticfilesystem" in details and "com.amazonaws.home-1.iam" not in details
    gateways = cloud.call("DescribeVpcEndpointServices", {"Filters": [
        {"Name": "service-type", "Values": ["Gateway"]}]})
    assert gateways["ServiceNames"] == [S3]
    cloud.refused("DescribeVpcEndpointServices", {"ServiceNames": ["com.amazonaws.home-1.nope"]},
                  "InvalidServiceName")


def test_session_managers_data_channels_have_an_endpoint_service_that_serves_no_api(cloud: VpcCloud) -> None:
    """``com.amazonaws.<region>.ssmmessages`` comes with ssm (AWS's guide lists it for private subnets): its
    private name carries websockets only, so an API call that comes through it is refused."""
    name = "com.amazonaws.home-1.ssmmessages"
    detail = cloud.call("DescribeVpcEndpointServices", {"ServiceNames": [name]})["ServiceDetails"][0]
    assert (detail["ServiceType"], detail["PrivateDnsName"]) == ([{"ServiceType": "Interface"}],
                                                                 "ssmmessages.home-1.amazonaws.com")
    vpc_id = new_vpc(cloud)
    subnet = new_subnet(cloud, vpc_id, "10.9.1.0/24")
    endpoint_id = cloud.call("CreateVpcEndpoint", {"VpcId": vpc_id, "ServiceName": name, "SubnetIds": [subnet],
                                                   "VpcEndpointType": "Interface"})["VpcEndpoint"]["VpcEndpointId"]
    ctx = dataclasses.replace(cloud.context("GetCallerIdentity"), service="ssm", source_vpce=endpoint_id)
    assert endpoint_services.endpoint_refusal(ctx, "ssm:SendCommand", ["*"], {}) == (
        f"because the VPC endpoint {endpoint_id} does not serve ssm")


def test_the_s3_prefix_list_holds_the_api_address(cloud: VpcCloud) -> None:
    [listed] = cloud.call("DescribePrefixLists")["PrefixLists"]
    assert listed["PrefixListName"] == S3 and listed["Cidrs"] == ["203.0.113.2/32"]
    assert listed["PrefixListId"] == endpoint_services.s3_prefix_list_id(cloud.config)
    assert cloud.call("DescribePrefixLists", {"PrefixListIds": [listed["PrefixListId"]]})["PrefixLists"] == [listed]
    cloud.refused("DescribePrefixLists", {"PrefixListIds": ["pl-0123abcd"]}, "InvalidPrefixListId.NotFound")


# --- gateway endpoints ------------------------------------------------------------------------------------------


def test_a_gateway_endpoint_routes_the_prefix_list_in_its_tables(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    first, second = new_table(cloud, vpc_id), new_table(cloud, vpc_id)
    endpoint = gateway(cloud, vpc_id, [first], TagSpecifications=[
        {"ResourceType": "vpc-endpoint", "Tags": [{"Key": "Name", "Value": "s3"}]}])
    endpoint_id, prefix_list = endpoint["VpcEndpointId"], endpoint_services.s3_prefix_list_id(cloud.config)
    assert (endpoint["VpcEndpointType"], endpoint["State"], endpoint["RouteTableIds"], endpoint["SubnetIds"],
            endpoint["PrivateDnsEnabled"], endpoint["Tags"]) == ("Gateway", "available", [first], [], False,
                                                                  [{"Key": "Name", "Value": "s3"}])
    assert json.loads(endpoint["PolicyDocument"])["Statement"][0]["Principal"] == "*"
    assert endpoint_routes(cloud, first) == [(prefix_list, endpoint_id, "active")]
    cloud.call("ModifyVpcEndpoint", {"VpcEndpointId": endpoint_id, "AddRouteTableIds": [second],
                                     "RemoveRouteTableIds": [first]})
    assert endpoint_routes(cloud, first) == [] and endpoint_routes(cloud, second) == [
        (prefix_list, endpoint_id, "active")]
    other = gateway(cloud, vpc_id, [first])["VpcEndpointId"]
    error = cloud.refused("CreateVpcEndpoint", {"VpcId": vpc_id, "ServiceName": S3, "RouteTableIds": [second]},
                          "RouteAlreadyExists")
    assert prefix_list in error.message
    assert cloud.call("DeleteVpcEndpoints", {"VpcEndpointIds": [endpoint_id, other]}) == {"Unsuccessful": []}
    assert endpoint_routes(cloud, first) == [] and endpoint_routes(cloud, second) == []
    assert cloud.call("DescribeVpcEndpoints", {"Filters": [{"Name": "vpc-id", "Values": [vpc_id]}]})[
        "VpcEndpoints"] == []


def test_a_vpc_with_an_endpoint_cannot_be_deleted(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    endpoint_id = gateway(cloud, vpc_id, [])["VpcEndpointId"]
    cloud.refused("DeleteVpc", {"VpcId": vpc_id}, "DependencyViolation")
    cloud.call("DeleteVpcEndpoints", {"VpcEndpointIds": [endpoint_id]})
    cloud.call("DeleteVpc", {"VpcId": vpc_id})


# --- interface endpoints -------------------------------------------------------------------------------------------


def test_an_interface_endpoint_has_an_eni_per_subnet_and_dns_entries(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    a, b = new_subnet(cloud, vpc_id, "10.9.1.0/24"), new_subnet(cloud, vpc_id, "10.9.2.0/24", "home-1b")
    group = cloud.call("CreateSecurityGroup", {"GroupName": "api", "Description": "api", "VpcId": vpc_id})["GroupId"]
    endpoint = interface(cloud, vpc_id, [a], SecurityGroupIds=[group])
    endpoint_id = endpoint["VpcEndpointId"]
    assert (endpoint["State"], endpoint["SubnetIds"], endpoint["PrivateDnsEnabled"], endpoint["Groups"]) == (
        "pending", [a], True, [{"GroupId": group, "GroupName": "api"}])
    names = [e["DnsName"] for e in endpoint["DnsEntries"]]
    assert names[0].startswith(f"{endpoint_id}-") and names[0].endswith(".sts.home-1.vpce.amazonaws.com")
    assert names[1].endswith("-home-1a.sts.home-1.vpce.amazonaws.com") and names[2] == "sts.home-1.amazonaws.com"
    [eni] = cloud.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": endpoint["NetworkInterfaceIds"]})[
        "NetworkInterfaces"]
    assert (eni["InterfaceType"], eni["RequesterManaged"], eni["SubnetId"], eni["Groups"][0]["GroupId"],
            eni["Description"]) == ("vpc_endpoint", True, a, group, f"VPC Endpoint Interface {endpoint_id}")
    cloud.refused("DeleteNetworkInterface", {"NetworkInterfaceId": eni["NetworkInterfaceId"]},
                  "OperationNotPermitted")
    cloud.call("ModifyVpcEndpoint", {"VpcEndpointId": endpoint_id, "AddSubnetIds": [b], "RemoveSubnetIds": [a],
                                     "AddSecurityGroupIds": [eni_default(cloud, vpc_id)],
                                     "RemoveSecurityGroupIds": [group]})
    [now] = cloud.call("DescribeVpcEndpoints", {"VpcEndpointIds": [endpoint_id]})["VpcEndpoints"]
    assert (now["State"], now["SubnetIds"], [g["GroupName"] for g in now["Groups"]]) == ("available", [b],
                                                                                      ["default"])
    cloud.refused("DeleteSubnet", {"SubnetId": b}, "DependencyViolation")
    cloud.call("DeleteVpcEndpoints", {"VpcEndpointIds": [endpoint_id]})
    assert cloud.call("DescribeNetworkInterfaces", {"Filters": [{"Name": "vpc-id", "Values": [vpc_id]}]})[
        "NetworkInterfaces"] == []


def eni_default(cloud: VpcCloud, vpc_id: str) -> str:
    return cloud.call("DescribeSecurityGroups", {"Filters": [{"Name": "vpc-id", "Values": [vpc_id]},
                                                             {"Name": "group-name", "Values": ["default"]}]})[
        "SecurityGroups"][0]["GroupId"]


def test_private_dns_needs_the_vpc_attributes_and_one_endpoint_per_name(cloud: VpcCloud) -> None:
    plain = new_vpc(cloud, dns_hostnames=False)
    subnet = new_subnet(cloud, plain, "10.9.1.0/24")
    before = snapshot(cloud)
    cloud.refused("CreateVpcEndpoint", {"VpcId": plain, "ServiceName": STS, "VpcEndpointType": "Interface",
                                        "SubnetIds": [subnet]}, "InvalidParameter")
    assert snapshot(cloud) == before
    first = interface(cloud, plain, [subnet], PrivateDnsEnabled=False)
    assert [e["DnsName"] for e in first["DnsEntries"]][-1] != "sts.home-1.amazonaws.com"
    cloud.call("ModifyVpcAttribute", {"VpcId": plain, "EnableDnsHostnames": {"Value": True}})
    second = new_subnet(cloud, plain, "10.9.2.0/24", "home-1b")
    interface(cloud, plain, [second])
    cloud.refused("ModifyVpcEndpoint", {"VpcEndpointId": first["VpcEndpointId"], "PrivateDnsEnabled": True},
                  "InvalidParameter")


def test_bad_requests_get_aws_errors_and_change_nothing(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    a, a2 = new_subnet(cloud, vpc_id, "10.9.1.0/24"), new_subnet(cloud, vpc_id, "10.9.3.0/24")
    table = new_table(cloud, vpc_id)
    before = snapshot(cloud)
    for params, code in (
            ({"ServiceName": "com.amazonaws.home-1.nope"}, "InvalidServiceName"),
            ({"ServiceName": STS}, "InvalidParameter"),  # sts is Interface only
            ({"ServiceName": S3, "SubnetIds": [a]}, "InvalidParameter"),
            ({"ServiceName": STS, "VpcEndpointType": "Interface", "RouteTableIds": [table]}, "InvalidParameter"),
            ({"ServiceName": STS, "VpcEndpointType": "Interface", "SubnetIds": [a, a2]}, "DuplicateSubnetsInSameZone"),
            ({"ServiceName": S3, "PolicyDocument": "{not json"}, "InvalidPolicyDocument"),
            ({"ServiceName": S3, "RouteTableIds": ["rtb-0123456789abcdef0"]}, "InvalidRouteTableID.NotFound"),
            ({"ServiceName": S3, "RouteTableIds": ["rtb-nope"]}, "InvalidRouteTableId.Malformed"),
            ({"ServiceName": S3, "VpcEndpointType": "GatewayLoadBalancer"}, "InvalidParameterValue")):
        cloud.refused("CreateVpcEndpoint", {"VpcId": vpc_id, **params}, code)
    cloud.refused("CreateVpcEndpoint", {"VpcId": vpc_id, "ServiceName": S3, "DryRun": True}, "DryRunOperation")
    assert snapshot(cloud) == before and cloud.call("DescribeVpcEndpoints")["VpcEndpoints"] == []
    cloud.refused("DescribeVpcEndpoints", {"VpcEndpointIds": ["vpce-0123456789abcdef0"]},
                  "InvalidVpcEndpointId.NotFound")
    cloud.refused("DeleteVpcEndpoints", {"VpcEndpointIds": ["vpce-nope"]}, "InvalidVpcEndpointId.Malformed")
    cloud.refused("ModifyVpcEndpoint", {"VpcEndpointId": "vpce-0123456789abcdef0"}, "InvalidVpcEndpointId.NotFound")
    endpoint_id = gateway(cloud, vpc_id, [])["VpcEndpointId"]
    cloud.refused("ModifyVpcEndpoint", {"VpcEndpointId": endpoint_id, "AddSubnetIds": [a]}, "InvalidParameter")
    cloud.refused("ModifyVpcEndpoint", {"VpcEndpointId": endpoint_id, "PolicyDocument": "[]"},
                  "InvalidPolicyDocument")
    answer = cloud.call("DeleteVpcEndpoints", {"VpcEndpointIds": [endpoint_id, "vpce-0123456789abcdef0"]})
    assert answer == {"Unsuccessful": [{"Error": {"Code": "InvalidVpcEndpoint.NotFound", "Message": (
        "The VPC Endpoint Id 'vpce-0123456789abcdef0' does not exist")}, "ResourceId": "vpce-0123456789abcdef0"}]}


def test_a_client_token_makes_create_idempotent(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    first = gateway(cloud, vpc_id, [], ClientToken="once")
    assert gateway(cloud, vpc_id, [], ClientToken="once")["VpcEndpointId"] == first["VpcEndpointId"]
    cloud.refused("CreateVpcEndpoint", {"VpcId": new_vpc(cloud), "ServiceName": S3, "ClientToken": "once"},
                  "IdempotentParameterMismatch")
    assert len(cloud.call("DescribeVpcEndpoints")["VpcEndpoints"]) == 1


def test_describe_filters_and_pages(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    subnet = new_subnet(cloud, vpc_id, "10.9.1.0/24")
    made = sorted([gateway(cloud, vpc_id, [])["VpcEndpointId"] for _ in range(3)]
                  + [interface(cloud, vpc_id, [subnet], PrivateDnsEnabled=False)["VpcEndpointId"]])
    cloud.call("CreateTags", {"Resources": [made[0]], "Tags": [{"Key": "team", "Value": "a"}]})

    def ids(*filters: tuple[str, str]) -> list[str]:
        return [e["VpcEndpointId"] for e in cloud.call("DescribeVpcEndpoints", {"Filters": [
            {"Name": name, "Values": [value]} for name, value in filters]})["VpcEndpoints"]]

    assert ids(("vpc-id", vpc_id)) == made
    assert len(ids(("vpc-endpoint-type", "Gateway"))) == 3 and len(ids(("service-name", STS))) == 1
    assert ids(("tag:team", "a")) == [made[0]] and ids(("vpc-endpoint-id", made[1])) == [made[1]]
    assert ids(("vpc-endpoint-state", "available")) == made
    pages, token = [], None
    while True:
        answer = cloud.call("DescribeVpcEndpoints", {"MaxResults": 3, **({"NextToken": token} if token else {})})
        pages.append([e["VpcEndpointId"] for e in answer["VpcEndpoints"]])
        token = answer.get("NextToken")
        if not token:
            break
    assert pages == [made[:3], made[3:]]
    cloud.refused("DescribeVpcEndpoints", {"Filters": [{"Name": "nope", "Values": ["x"]}]}, "InvalidParameterValue")


# --- endpoint policies --------------------------------------------------------------------------------------------

DENY_PUT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
    {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}]})
ONLY_MY_ACCOUNT_READS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "s3:GetObject",
     "Resource": "*"}]})


def check(cloud: VpcCloud, endpoint_id: str | None, action: str, service: str = "s3") -> str | None:
    """The refusal of ``action``, as the account's root, through ``endpoint_id``; None if allowed."""
    ctx = dataclasses.replace(cloud.context("PutObject"), service=service, source_vpce=endpoint_id,
                              source_vpc="vpc-x")
    try:
        enforce.check_action(ctx, action, ["*"])  # no resource lookup: the endpoint's policy is the question
    except ServiceError as exc:
        return exc.code
    return None


def test_an_endpoint_policy_also_has_to_allow_what_comes_through_it(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    endpoint_id = gateway(cloud, vpc_id, [])["VpcEndpointId"]
    assert check(cloud, endpoint_id, "s3:PutObject") is None
    cloud.call("ModifyVpcEndpoint", {"VpcEndpointId": endpoint_id, "PolicyDocument": DENY_PUT})
    assert check(cloud, endpoint_id, "s3:PutObject") == "AccessDenied"
    assert check(cloud, endpoint_id, "s3:GetObject") is None
    assert check(cloud, None, "s3:PutObject") is None  # the Internet way: no endpoint policy applies
    cloud.call("ModifyVpcEndpoint", {"VpcEndpointId": endpoint_id, "PolicyDocument": ONLY_MY_ACCOUNT_READS})
    assert check(cloud, endpoint_id, "s3:GetObject") is None
    assert check(cloud, endpoint_id, "s3:DeleteObject") == "AccessDenied"
    cloud.call("ModifyVpcEndpoint", {"VpcEndpointId": endpoint_id, "ResetPolicy": True})
    assert check(cloud, endpoint_id, "s3:DeleteObject") is None
    assert check(cloud, endpoint_id, "sqs:SendMessage", service="sqs") == "AccessDenied"  # serves s3 only
    cloud.call("DeleteVpcEndpoints", {"VpcEndpointIds": [endpoint_id]})
    assert check(cloud, endpoint_id, "s3:GetObject") == "AccessDenied"


def test_endpoint_policy_messages_name_the_endpoint_policy(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    endpoint_id = gateway(cloud, vpc_id, [], PolicyDocument=DENY_PUT)["VpcEndpointId"]
    ctx = dataclasses.replace(cloud.context("GetCallerIdentity"), service="sts", source_vpce=endpoint_id)
    assert endpoint_services.endpoint_refusal(ctx, "sts:GetCallerIdentity", ["*"], {}) == (
        f"because the VPC endpoint {endpoint_id} does not serve sts")
    ctx = dataclasses.replace(ctx, service="s3")
    assert endpoint_services.endpoint_refusal(ctx, "s3:PutObject", ["*"], {}) == (
        "with an explicit deny in a VPC endpoint policy")


def test_the_s3_list_is_listed_as_aws_managed_and_security_groups_may_name_it(cloud: VpcCloud) -> None:
    list_id = endpoint_services.s3_prefix_list_id(cloud.config)
    managed = [p for p in cloud.call("DescribeManagedPrefixLists")["PrefixLists"] if p["OwnerId"] == "AWS"]
    assert [(p["PrefixListId"], p["PrefixListName"], p["State"]) for p in managed] == [
        (list_id, S3, "create-complete")]
    assert cloud.call("GetManagedPrefixListEntries", {"PrefixListId": list_id})["Entries"] == [
        {"Cidr": "203.0.113.2/32"}]
    vpc_id = new_vpc(cloud)
    group = cloud.call("CreateSecurityGroup", {"GroupName": "out", "Description": "out", "VpcId": vpc_id})["GroupId"]
    cloud.call("AuthorizeSecurityGroupEgress", {"GroupId": group, "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": list_id}]}]})
    cloud.refused("AuthorizeSecurityGroupEgress", {"GroupId": group, "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "PrefixListIds": [{"PrefixListId": "pl-0123abcd"}]}]},
        "InvalidPrefixListId.NotFound")


def test_the_gateway_endpoint_of_the_clients_subnet_is_the_one_that_decides(cloud: VpcCloud) -> None:
    """The router's one relay reports one gateway endpoint for the VPC; the client's subnet's table says which."""
    vpc_id = new_vpc(cloud)
    ids = {}
    for name, block in (("a", "10.9.1.0/24"), ("b", "10.9.2.0/24")):
        subnet, table = new_subnet(cloud, vpc_id, block), new_table(cloud, vpc_id)
        cloud.call("AssociateRouteTable", {"RouteTableId": table, "SubnetId": subnet})
        ids[name] = gateway(cloud, vpc_id, [table], PolicyDocument=DENY_PUT if name == "b" else None)["VpcEndpointId"]
    reported = min(ids.values())  # what the relay says for every subnet
    for source_ip, serving in (("10.9.1.7", ids["a"]), ("10.9.2.7", ids["b"]), ("10.9.3.7", reported)):
        ctx = dataclasses.replace(cloud.context("PutObject"), service="s3", source_vpce=reported,
                                  source_ip=source_ip)
        endpoint_services.resolve_source_endpoint(ctx)
        assert ctx.source_vpce == serving
    denied = dataclasses.replace(cloud.context("PutObject"), service="s3", source_vpce=reported, source_ip="10.9.2.7")
    with pytest.raises(ServiceError):
        enforce.check_action(denied, "s3:PutObject", ["*"])
