"""Every filter of every Describe operation, over the wire, on resources of every type.

A cloud of its own (so quotas and the fake hosts are this module's) gets one resource of each type,
made with boto3 the way a user would, all tagged. Then, for each operation's filter table (see
``tests/unit/test_ec2_filters_tables.py``), every filter name is sent twice: with a value the resource
itself shows in its Describe output (it must be listed) and with a value it does not have (it must
not be). A filter on a member the resource lacks (no carrier IP, no capacity reservation) must still
be taken, and ``*`` must not list the resource. Values are sent escaped (``\\*``, ``\\?``), as they
are literal. The reference pages are named in ``tests/data/ec2_filters/documented.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions
import pytest
from botocore import xform_name

from controller.ec2.filters import TagSource, getter, values
from controller.protocol.models import load_service_model
from tests.e2e.helpers import agent_rpc
from tests.support import CloudletProcess
from tests.unit.test_ec2_filters_tables import DOCUMENTED, TABLES

Client = Any
Item = dict[str, Any]

#: What names one item in each operation's answer.
IDENTITY: dict[str, Callable[[Item], Any]] = {
    "DescribeAddresses": lambda i: i["AllocationId"], "DescribeAvailabilityZones": lambda i: i["ZoneName"],
    "DescribeEgressOnlyInternetGateways": lambda i: i["EgressOnlyInternetGatewayId"],
    "DescribeHosts": lambda i: i["HostId"], "DescribeIamInstanceProfileAssociations": lambda i: i["AssociationId"],
    "DescribeImages": lambda i: i["ImageId"], "DescribeInstanceStatus": lambda i: i["InstanceId"],
    "DescribeInstanceTypeOfferings": lambda i: (i["InstanceType"], i["Location"]),
    "DescribeInstanceTypes": lambda i: i["InstanceType"], "DescribeInstances": lambda i: i["InstanceId"],
    "DescribeInternetGateways": lambda i: i["InternetGatewayId"], "DescribeKeyPairs": lambda i: i["KeyPairId"],
    "DescribeManagedPrefixLists": lambda i: i["PrefixListId"], "DescribeNatGateways": lambda i: i["NatGatewayId"],
    "DescribeNetworkAcls": lambda i: i["NetworkAclId"], "DescribeNetworkInterfaces": lambda i: i["NetworkInterfaceId"],
    "DescribePlacementGroups": lambda i: i["GroupId"], "DescribeRegions": lambda i: i["RegionName"],
    "DescribeRouteTables": lambda i: i["RouteTableId"], "DescribeSecurityGroupRules": lambda i: i["SecurityGroupRuleId"],
    "DescribeSecurityGroups": lambda i: i["GroupId"], "DescribeSubnets": lambda i: i["SubnetId"],
    "DescribeTags": lambda i: (i["ResourceId"], i["Key"]),
    "DescribeVpcPeeringConnections": lambda i: i["VpcPeeringConnectionId"], "DescribeVpcs": lambda i: i["VpcId"],
    "DescribeVolumes": lambda i: i["VolumeId"], "DescribeVolumeStatus": lambda i: i["VolumeId"],
    "DescribeVolumesModifications": lambda i: i["VolumeId"], "DescribeSnapshots": lambda i: i["SnapshotId"],
    "DescribeVpcEndpoints": lambda i: i["VpcEndpointId"], "DescribeVpcEndpointServices": lambda i: i["ServiceName"],
    "DescribePrefixLists": lambda i: i["PrefixListId"], "DescribeDhcpOptions": lambda i: i["DhcpOptionsId"],
    "DescribeInstanceConnectEndpoints": lambda i: i["InstanceConnectEndpointId"],
    "DescribeLaunchTemplates": lambda i: i["LaunchTemplateId"],
    "DescribeSpotInstanceRequests": lambda i: i["SpotInstanceRequestId"],
    "DescribeLaunchTemplateVersions": lambda i: (i["LaunchTemplateId"], i["VersionNumber"]),
    "DescribeNetworkInsightsPaths": lambda i: i["NetworkInsightsPathId"],
    "DescribeNetworkInsightsAnalyses": lambda i: i["NetworkInsightsAnalysisId"],
}
#: Operations on things without tags: their reference pages list no tag filter, and EC2 refuses one
#: (``describe-instance-status --filters Name=tag:Name,...`` answers "The filter 'tag:Name' is invalid").
NO_TAG_FILTERS = {"DescribeAvailabilityZones", "DescribeIamInstanceProfileAssociations", "DescribeInstanceStatus",
                  "DescribeInstanceTypeOfferings", "DescribeInstanceTypes", "DescribeRegions", "DescribeVolumeStatus",
                  "DescribeVolumesModifications", "DescribePrefixLists", "DescribeLaunchTemplateVersions"}
#: Taggable, but the subject has none (the cloud's own images, AWS's endpoint services).
UNTAGGED = NO_TAG_FILTERS | {"DescribeImages", "DescribeVpcEndpointServices"}
#: Parameters every call of the operation carries (instance status lists pending instances only if asked).
BASE = {"DescribeInstanceStatus": {"IncludeAllInstances": True},
        "DescribeLaunchTemplateVersions": {"Versions": ["$Latest"]}}  # every template's latest version


def tagged(kind: str, unique: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [{"Key": "walk", "Value": f"{unique}?*"}, {"Key": "Name", "Value": kind}]}]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    process = CloudletProcess(tmp_path_factory.mktemp("filters") / "data").start()
    try:
        yield process
    finally:
        process.stop()


def fake_host(cloud: CloudletProcess, name: str, zone: str) -> str:
    host_id = f"h-{name}fake0"[:19]
    agent_rpc(cloud, "POST", "/hosts", {
        "host_id": host_id, "hostname": f"{name}-no-vms", "zone": zone, "vcpus": 8, "memory_mib": 16384,
        "disk_gib": 100, "hypervisor": "qemu", "agent_version": "test", "capabilities": ["compute"]})
    return host_id


@pytest.fixture(scope="module")
def world(cloud: CloudletProcess) -> dict[str, Any]:
    """One resource of every type, tagged, and the ids of those the walk looks at."""
    unique = "walk"
    ec2, iam = cloud.client("ec2"), cloud.client("iam")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16", AmazonProvidedIpv6CidrBlock=True,
                         TagSpecifications=tagged("vpc", unique))["Vpc"]["VpcId"]
    ipv6 = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24", AvailabilityZone="home-1b",
                               Ipv6CidrBlock=ipv6.replace("::/56", "::/64"),
                               TagSpecifications=tagged("subnet", unique))["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway(TagSpecifications=tagged("internet-gateway", unique))[
        "InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    eigw = ec2.create_egress_only_internet_gateway(VpcId=vpc, TagSpecifications=tagged(
        "egress-only-internet-gateway", unique))["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]
    nat_address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=nat_address,
                                 TagSpecifications=tagged("natgateway", unique))["NatGateway"]["NatGatewayId"]
    prefix_list = ec2.create_managed_prefix_list(
        PrefixListName=f"{unique}-list", AddressFamily="IPv4", MaxEntries=5,
        Entries=[{"Cidr": "192.0.2.0/24", "Description": "docs"}],
        TagSpecifications=tagged("prefix-list", unique))["PrefixList"]["PrefixListId"]
    group = ec2.create_security_group(GroupName=f"{unique}-sg", Description="walk", VpcId=vpc,
                                      TagSpecifications=tagged("security-group", unique))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
         "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}], "PrefixListIds": [{"PrefixListId": prefix_list}],
         "UserIdGroupPairs": [{"GroupId": group}]}])
    ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "PrefixListIds": [{"PrefixListId": prefix_list}],
         "UserIdGroupPairs": [{"GroupId": group}]}])
    rule = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])[
        "SecurityGroupRules"][0]["SecurityGroupRuleId"]
    ec2.create_tags(Resources=[rule], Tags=tagged("security-group-rule", unique)[0]["Tags"])
    acl = ec2.create_network_acl(VpcId=vpc, TagSpecifications=tagged("network-acl", unique))[
        "NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6", RuleAction="allow", Egress=False,
                                 CidrBlock="10.0.0.0/8", PortRange={"From": 80, "To": 443})
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=110, Protocol="1", RuleAction="deny", Egress=True,
                                 Ipv6CidrBlock="::/0", IcmpTypeCode={"Type": 8, "Code": 0})
    ec2.replace_network_acl_association(NetworkAclId=acl, AssociationId=ec2.describe_network_acls(Filters=[
        {"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"][0]["Associations"][0][
        "NetworkAclAssociationId"])
    peer = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    peering = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=peer, TagSpecifications=tagged(
        "vpc-peering-connection", unique))["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=peering)
    table = ec2.create_route_table(VpcId=vpc, TagSpecifications=tagged("route-table", unique))[
        "RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.create_route(RouteTableId=table, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=eigw)
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="10.41.0.0/16", VpcPeeringConnectionId=peering)
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="172.16.0.0/12", NatGatewayId=nat)
    ec2.create_route(RouteTableId=table, DestinationPrefixListId=prefix_list, GatewayId=igw)
    endpoint = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.home-1.s3", RouteTableIds=[table],
                                       TagSpecifications=tagged("vpc-endpoint", unique))["VpcEndpoint"]["VpcEndpointId"]
    s3_list = ec2.describe_prefix_lists()["PrefixLists"][0]["PrefixListId"]
    dhcp = ec2.create_dhcp_options(DhcpConfigurations=[{"Key": "domain-name", "Values": [f"{unique}.internal"]}],
                                   TagSpecifications=tagged("dhcp-options", unique))["DhcpOptions"]["DhcpOptionsId"]
    connect = ec2.create_instance_connect_endpoint(
        SubnetId=subnet, TagSpecifications=tagged("instance-connect-endpoint", unique))[
        "InstanceConnectEndpoint"]["InstanceConnectEndpointId"]
    key = ec2.create_key_pair(KeyName=f"{unique}-key", KeyType="ed25519",
                              TagSpecifications=tagged("key-pair", unique))["KeyPairId"]
    placement_group = ec2.create_placement_group(GroupName=f"{unique}-pg", Strategy="partition", PartitionCount=2,
                                                 TagSpecifications=tagged("placement-group", unique))[
        "PlacementGroup"]["GroupId"]
    fake_host(cloud, "walkdh", "home-1a")
    host = ec2.allocate_hosts(AvailabilityZone="home-1a", InstanceType="t3.small", Quantity=1,
                              ClientToken=f"{unique}-host", TagSpecifications=tagged("dedicated-host", unique))[
        "HostIds"][0]
    fake_host(cloud, "walkvm", "home-1b")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1, KeyName=f"{unique}-key",
                                 NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group]}],
                                 Placement={"GroupName": f"{unique}-pg"}, ClientToken=f"{unique}-run",
                                 TagSpecifications=tagged("instance", unique) + tagged("network-interface", unique))[
        "Instances"][0]["InstanceId"]
    address = ec2.allocate_address(Domain="vpc", TagSpecifications=tagged("elastic-ip", unique))["AllocationId"]
    ec2.associate_address(AllocationId=address, InstanceId=instance)
    interface = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0][
        "NetworkInterfaces"][0]["NetworkInterfaceId"]
    ec2.assign_ipv6_addresses(NetworkInterfaceId=interface, Ipv6AddressCount=1)
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="192.168.0.0/16", NetworkInterfaceId=interface)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="walk", AssumeRolePolicyDocument=trust)
    iam.create_instance_profile(InstanceProfileName="walk")
    iam.add_role_to_instance_profile(InstanceProfileName="walk", RoleName="walk")
    association = ec2.associate_iam_instance_profile(InstanceId=instance, IamInstanceProfile={"Name": "walk"})[
        "IamInstanceProfileAssociation"]["AssociationId"]
    volume = _attached_volume(cloud, ec2, image, unique)
    snapshot = ec2.create_snapshot(VolumeId=volume, Description="walk", TagSpecifications=tagged("snapshot", unique))[
        "SnapshotId"]
    ec2.modify_volume(VolumeId=volume, Size=8, VolumeType="gp3", Iops=3500)
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{unique}-lt", TagSpecifications=tagged("launch-template", unique), LaunchTemplateData={
            "ImageId": image, "InstanceType": "t3.small", "EbsOptimized": True, "KernelId": "aki-12345678",
            "RamDiskId": "ari-12345678", "IamInstanceProfile": {"Arn": f"arn:aws:iam::{cloud.account_id}:"
                                                                       "instance-profile/walk"},
            "MetadataOptions": {"HttpEndpoint": "enabled", "HttpTokens": "required"},
            "NetworkInterfaces": [{"DeviceIndex": 0, "NetworkCardIndex": 0, "SubnetId": subnet}],
            "LicenseSpecifications": [{"LicenseConfigurationArn": f"arn:aws:license-manager:home-1:"
                                                                  f"{cloud.account_id}:license-configuration:lic-1"}],
            "Placement": {"HostResourceGroupArn": f"arn:aws:resource-groups:home-1:{cloud.account_id}:group/walk"}})[
        "LaunchTemplate"]["LaunchTemplateId"]
    spot = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1, KeyName=f"{unique}-key",
                             SubnetId=subnet, SecurityGroupIds=[group],
                             InstanceMarketOptions={"MarketType": "spot", "SpotOptions": {"MaxPrice": "0.05"}},
                             TagSpecifications=tagged("spot-instances-request", unique))["Instances"][0][
        "SpotInstanceRequestId"]
    insights_path = ec2.create_network_insights_path(
        Source=interface, Destination=igw, Protocol="tcp", DestinationPort=443,
        TagSpecifications=tagged("network-insights-path", unique))["NetworkInsightsPath"]["NetworkInsightsPathId"]
    analysis = ec2.start_network_insights_analysis(
        NetworkInsightsPathId=insights_path, TagSpecifications=tagged("network-insights-analysis", unique))[
        "NetworkInsightsAnalysis"]["NetworkInsightsAnalysisId"]
    for _ in range(300):  # the endpoint's state moves with time: filter it once it has settled
        state = ec2.describe_instance_connect_endpoints(InstanceConnectEndpointIds=[connect])[
            "InstanceConnectEndpoints"][0]["State"]
        if state == "create-complete":
            break
        time.sleep(0.1)
    return {"ec2": ec2, "subjects": {
        "DescribeLaunchTemplates": template, "DescribeLaunchTemplateVersions": (template, 1),
        "DescribeSpotInstanceRequests": spot,
        "DescribeAddresses": address, "DescribeAvailabilityZones": "home-1b",
        "DescribeEgressOnlyInternetGateways": eigw, "DescribeHosts": host,
        "DescribeIamInstanceProfileAssociations": association, "DescribeImages": image,
        "DescribeInstanceStatus": instance, "DescribeInstanceTypeOfferings": ("t3.micro", "home-1"),
        "DescribeInstanceTypes": "m5d.large", "DescribeInstances": instance, "DescribeInternetGateways": igw,
        "DescribeKeyPairs": key, "DescribeManagedPrefixLists": prefix_list, "DescribeNatGateways": nat,
        "DescribeNetworkAcls": acl, "DescribeNetworkInterfaces": interface,
        "DescribePlacementGroups": placement_group, "DescribeRegions": "home-1", "DescribeRouteTables": table,
        "DescribeSecurityGroupRules": rule, "DescribeSecurityGroups": group, "DescribeSubnets": subnet,
        "DescribeTags": (vpc, "walk"), "DescribeVpcPeeringConnections": peering, "DescribeVpcs": vpc,
        "DescribeVolumes": volume, "DescribeVolumeStatus": volume, "DescribeVolumesModifications": volume,
        "DescribeSnapshots": snapshot, "DescribeVpcEndpoints": endpoint,
        "DescribeVpcEndpointServices": "com.amazonaws.home-1.s3", "DescribePrefixLists": s3_list,
        "DescribeDhcpOptions": dhcp, "DescribeInstanceConnectEndpoints": connect,
        "DescribeNetworkInsightsPaths": insights_path, "DescribeNetworkInsightsAnalyses": analysis}}


def _attached_volume(cloud: CloudletProcess, ec2: Client, image: str, unique: str) -> str:
    """A volume attached to a second instance (running: the walk's own stays pending), its host playing the
    agents (contract C)."""
    host = "h-walkvmfake0"
    instance = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 Placement={"AvailabilityZone": "home-1b"})["Instances"][0]["InstanceId"]
    agent_rpc(cloud, "POST", f"/hosts/{host}/instances", {
        "complete": False, "instances": [{"instance_id": instance, "power": "running"}]})
    volume = ec2.create_volume(AvailabilityZone="home-1b", Size=1, VolumeType="gp2",
                               TagSpecifications=tagged("volume", unique))["VolumeId"]
    agent_rpc(cloud, "POST", f"/hosts/{host}/volumes", {"volumes": {volume: {"state": "available"}}})
    ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device="/dev/sdf")
    agent_rpc(cloud, "POST", f"/hosts/{host}/instances", {
        "complete": False, "instances": [{"instance_id": instance, "power": "running"}],
        "volumes": {instance: [volume]}})
    return volume


def listed(ec2: Client, operation: str, filters: list[dict[str, Any]] | None = None) -> list[Item]:
    """The operation's items (instances with what their filters read beyond the instance)."""
    params: dict[str, Any] = dict(BASE.get(operation, {}))
    if filters is not None:
        params[DOCUMENTED["operations"][operation]["parameter"]] = filters
    answer = getattr(ec2, xform_name(operation))(**params)
    if operation != "DescribeInstances":
        output = load_service_model("ec2").operation_model(operation).output_shape.members
        key = "ServiceDetails" if operation == "DescribeVpcEndpointServices" else next(
            name for name, member in output.items() if member.type_name == "list")
        return answer[key]
    items = []
    for reservation in answer["Reservations"]:
        for instance in reservation["Instances"]:
            ids = [n["NetworkInterfaceId"] for n in instance["NetworkInterfaces"]]
            interfaces = ec2.describe_network_interfaces(NetworkInterfaceIds=ids)["NetworkInterfaces"] if ids else []
            items.append({**instance, "_owner": reservation["OwnerId"], "_reservation": reservation["ReservationId"],
                          "_interfaces": interfaces})
    return items


def escape(value: str) -> str:
    """A literal filter value: EC2 reads ``*``, ``?`` and ``\\`` as wildcards or escapes."""
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def other_than(own: list[str]) -> str | None:
    """A value the resource does not have (the other boolean for a boolean), or None if it has both."""
    if set(own) <= {"true", "false"}:
        rest = {"true", "false"} - set(own)
        return rest.pop() if rest else None
    return f"{own[0]}-not-this"


@pytest.mark.parametrize("operation", sorted(TABLES))
def test_every_filter_lists_its_resource_by_its_own_value_and_not_by_another(
        world: dict[str, Any], operation: str) -> None:
    ec2, subject = world["ec2"], world["subjects"][operation]
    identity = IDENTITY[operation]
    item = next(i for i in listed(ec2, operation) if identity(i) == subject)
    tags_key: TagSource = "TagSet" if operation == "DescribeNetworkInterfaces" else "Tags"
    if operation == "DescribeTags":
        resource_tags = ec2.describe_vpcs(VpcIds=[subject[0]])["Vpcs"][0]["Tags"]
        tags_key = lambda row: resource_tags  # noqa: E731  (tag:<key> finds the resources with that tag)
    names = list(TABLES[operation])
    tags = tags_key(item) if callable(tags_key) else item.get(tags_key, [])
    assert bool(tags) == (operation not in UNTAGGED), f"{operation}: tags {tags}"
    tag_filters = [f"tag:{tags[0]['Key']}" if tags else "tag:walk", "tag-key", "tag-value"]
    if operation in NO_TAG_FILTERS:
        for name in tag_filters:
            with pytest.raises(botocore.exceptions.ClientError) as excinfo:
                listed(ec2, operation, [{"Name": name, "Values": ["*"]}])
            assert excinfo.value.response["Error"]["Message"] == f"The filter '{name}' is invalid"
    else:
        names += tag_filters
    failures = []
    for name in names:
        own = values(getter(name, TABLES[operation], tags_key)(item))
        found = {identity(i) for i in listed(ec2, operation, [{"Name": name, "Values": [escape(own[0])]}])} \
            if own else set()
        if own and subject not in found:
            failures.append(f"{name}={own[0]!r} does not list it")
        other = other_than(own) if own else "*"
        if other is not None:
            found = {identity(i) for i in listed(ec2, operation, [{"Name": name, "Values": [
                escape(other) if own else other]}])}
            if subject in found:
                failures.append(f"{name}={other!r} lists it (it has {own})")
    assert failures == []


def test_an_iac_tool_finds_its_vpc_by_cidr_block_and_name(world: dict[str, Any]) -> None:
    """The user-hit case: Ansible's ec2_vpc_net looks a VPC up by ``tag:Name`` and ``cidr-block``."""
    ec2, vpc = world["ec2"], world["subjects"]["DescribeVpcs"]
    for cidr_name in ("cidr-block", "cidr", "cidrBlock", "cidr-block-association.cidr-block"):
        found = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["vpc"]},
                                           {"Name": cidr_name, "Values": ["10.40.0.0/16"]}])["Vpcs"]
        assert [v["VpcId"] for v in found] == [vpc]
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert [v["IsDefault"] for v in default] == [True]
    assert vpc in {v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["false"]}])["Vpcs"]}
    assert [v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "tag:walk", "Values": ["walk\\?\\*"]}])[
        "Vpcs"]] == [vpc]
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:walk", "Values": ["walk\\?"]}])["Vpcs"] == []


def test_an_undocumented_filter_is_refused_with_aws_message(world: dict[str, Any]) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        world["ec2"].describe_vpcs(Filters=[{"Name": "cidr-blocks", "Values": ["10.0.0.0/16"]}])
    error = excinfo.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("InvalidParameterValue", "The filter 'cidr-blocks' is invalid")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_account_attributes_through_boto3_and_the_cli(cloud: CloudletProcess, world: dict[str, Any]) -> None:
    default_vpc = world["ec2"].describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    answer = world["ec2"].describe_account_attributes()["AccountAttributes"]
    assert {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]] for a in answer} == {
        "supported-platforms": ["VPC"], "default-vpc": [default_vpc], "max-instances": ["20"],
        "max-elastic-ips": ["5"], "vpc-max-elastic-ips": ["5"], "vpc-max-security-groups-per-interface": ["5"]}
    cli = json.loads(cloud.aws("ec2", "describe-account-attributes", "--attribute-names", "default-vpc").stdout)
    assert cli["AccountAttributes"] == [{"AttributeName": "default-vpc",
                                         "AttributeValues": [{"AttributeValue": default_vpc}]}]
    refused = cloud.aws("ec2", "describe-account-attributes", "--attribute-names", "max-vpcs", check=False)
    assert refused.returncode != 0 and "InvalidParameterValue" in refused.stderr



def test_the_lookups_iac_tools_make_by_hand_written_values(world: dict[str, Any]) -> None:
    """What Terraform/Ansible data sources send, with values written here rather than read back."""
    ec2, subject = world["ec2"], world["subjects"]
    vpc, subnet, instance = subject["DescribeVpcs"], subject["DescribeSubnets"], subject["DescribeInstances"]

    def ids(operation: str, *filters: tuple[str, str]) -> list[Any]:
        found = listed(ec2, operation, [{"Name": n, "Values": [v]} for n, v in filters])
        return [IDENTITY[operation](i) for i in found]

    assert ids("DescribeSubnets", ("vpc-id", vpc), ("cidr-block", "10.40.1.0/24"),
               ("availability-zone", "home-1b"), ("default-for-az", "false")) == [subnet]
    assert ids("DescribeSecurityGroups", ("vpc-id", vpc), ("group-name", "walk-sg"),
               ("ip-permission.from-port", "22"), ("ip-permission.cidr", "10.0.0.0/8")) == [
        subject["DescribeSecurityGroups"]]
    main = ids("DescribeRouteTables", ("vpc-id", vpc), ("association.main", "true"))
    assert len(main) == 1 and main != [subject["DescribeRouteTables"]]
    assert ids("DescribeRouteTables", ("association.subnet-id", subnet),
               ("route.destination-cidr-block", "0.0.0.0/0")) == [subject["DescribeRouteTables"]]
    assert ids("DescribeInstances", ("tag:Name", "instance"), ("instance-state-name", "pending"),
               ("instance-type", "t3.micro"), ("key-name", "walk-key"), ("subnet-id", subnet)) == [instance]
    assert ids("DescribeInstances", ("instance-state-name", "running"), ("tag:Name", "instance")) == []
    assert ids("DescribeNetworkInterfaces", ("attachment.instance-id", instance),
               ("attachment.device-index", "0")) == [subject["DescribeNetworkInterfaces"]]
    assert ids("DescribeInternetGateways", ("attachment.vpc-id", vpc)) == [subject["DescribeInternetGateways"]]
    assert ids("DescribeNatGateways", ("subnet-id", subnet), ("state", "pending")) + ids(
        "DescribeNatGateways", ("subnet-id", subnet), ("state", "available")) == [subject["DescribeNatGateways"]]
    assert ids("DescribeKeyPairs", ("key-name", "walk-*")) == [subject["DescribeKeyPairs"]]
    assert subject["DescribeImages"] in ids("DescribeImages", ("owner-alias", "amazon"), ("is-public", "true"),
                                            ("state", "available"))
