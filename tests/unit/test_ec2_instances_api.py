"""RunInstances and DescribeInstances, placement groups, Dedicated Hosts, metadata, console and the host section."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from agent.contract.codec import from_json, to_json
from agent.contract.reports import InstancesReport
from agent.contract.version import ContractError
from controller.ec2.instances import state as instance_state
from controller.ec2.instances.desired_instances import host_instances
from controller.ec2.instances.metadata import metadata_for_interface
from controller.hosts.instance_reports import observations
from tests.unit.harness import InstanceCloud

USER_DATA = b"#!/bin/sh\necho hello > /root/marker\n"


def host_of(ic: InstanceCloud, instance_id: str) -> str:
    table = instance_state.instances
    with ic.db.read() as conn:
        return conn.execute(select(table.c.host_id).where(table.c.instance_id == instance_id)).scalar_one()


def test_run_instances_answers_a_reservation_with_aws_members(ic: InstanceCloud) -> None:
    ic.call("CreateKeyPair", {"KeyName": "k", "KeyType": "ed25519"})
    reservation = ic.call("RunInstances", {
        "ImageId": ic.tiny_image(), "InstanceType": "t3.micro", "MinCount": 2, "MaxCount": 2, "KeyName": "k",
        "UserData": base64.b64encode(USER_DATA).decode(), "ClientToken": "token-1",
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]},
                              {"ResourceType": "volume", "Tags": [{"Key": "disk", "Value": "root"}]}]})
    assert reservation["ReservationId"].startswith("r-") and reservation["OwnerId"] == ic.account
    first, second = reservation["Instances"]
    assert (first["AmiLaunchIndex"], second["AmiLaunchIndex"]) == (0, 1)
    assert first["KeyName"] == "k" and first["Tags"] == [{"Key": "Name", "Value": "web"}]
    assert first["RootDeviceType"] == "ebs" and first["BlockDeviceMappings"][0]["DeviceName"] == "/dev/xvda"
    volume_id = first["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    assert ic.call("DescribeTags", {"Filters": [{"Name": "resource-id", "Values": [volume_id]}]})["Tags"][0][
        "Value"] == "root"
    assert first["PrivateIpAddress"].startswith("172.31.") and first["PublicIpAddress"].startswith("198.51.100.")
    assert first["SecurityGroups"][0]["GroupName"] == "default"
    assert first["NetworkInterfaces"][0]["Attachment"]["DeviceIndex"] == 0
    assert first["CpuOptions"] == {"CoreCount": 1, "ThreadsPerCore": 2}
    again = ic.call("RunInstances", {"ImageId": ic.tiny_image(), "MinCount": 2, "MaxCount": 2,
                                     "ClientToken": "token-1"})
    assert [i["InstanceId"] for i in again["Instances"]] == [first["InstanceId"], second["InstanceId"]]
    attribute = ic.call("DescribeInstanceAttribute", {"InstanceId": first["InstanceId"], "Attribute": "userData"})
    assert base64.b64decode(attribute["UserData"]["Value"]) == USER_DATA


def test_run_instances_refusals(ic: InstanceCloud) -> None:
    image = ic.tiny_image()

    def refused(code: str, **params: object) -> None:
        ic.refused("RunInstances", {"ImageId": image, "MinCount": 1, "MaxCount": 1, **params}, code)

    refused("InvalidParameterValue", InstanceType="m9.huge")
    refused("InvalidParameterValue", InstanceType="t4g.micro")  # arm64 type, x86_64 image
    refused("InvalidKeyPair.NotFound", KeyName="nope")
    refused("InvalidParameterValue", MinCount=3, MaxCount=2)
    refused("InvalidParameterValue", UserData="not base64!")
    refused("InvalidParameterValue", UserData=base64.b64encode(b"x" * 16385).decode())
    refused("InvalidParameterValue", Placement={"AvailabilityZone": "mars-1a"})
    refused("InvalidSubnetID.NotFound", SubnetId="subnet-0123456789abcdef0")
    refused("InvalidGroup.NotFound", SecurityGroupIds=["sg-0123456789abcdef0"])
    refused("InvalidBlockDeviceMapping", BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 0}}])
    refused("InvalidBlockDeviceMapping", BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 5}},
                                                              {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 6}}])
    refused("InvalidParameterValue", IamInstanceProfile={"Name": "nope"})
    refused("InvalidPlacementGroup.Unknown", Placement={"GroupName": "nope"})
    error = ic.refused("RunInstances", {"ImageId": image, "InstanceType": "r5.24xlarge", "MinCount": 1,
                                        "MaxCount": 1, "Placement": {"AvailabilityZone": "home-1a"}},
                       "InsufficientInstanceCapacity")
    assert "r5.24xlarge capacity in the Availability Zone you requested (home-1a)" in error.message
    assert error.status == 500
    assert ic.call("DescribeInstances")["Reservations"] == []  # nothing half-made


def test_max_count_launches_what_fits_and_min_count_refuses_less(ic: InstanceCloud) -> None:
    # two 8 GiB hosts, 1 GiB reserved each: 7168 MiB fit 1 r5.large (4096 + 48) per host
    launched = ic.run(5, InstanceType="r5.large", MinCount=1, MaxCount=5)
    assert len(launched) == 1  # one zone per launch
    ic.refused("RunInstances", {"ImageId": ic.tiny_image(), "InstanceType": "r5.large", "MinCount": 2,
                                "MaxCount": 2}, "InsufficientInstanceCapacity")


def test_instances_land_in_the_named_subnet_with_its_groups_and_address(ic: InstanceCloud) -> None:
    vpc = ic.call("CreateVpc", {"CidrBlock": "10.9.0.0/16"})["Vpc"]["VpcId"]
    subnet = ic.call("CreateSubnet", {"VpcId": vpc, "CidrBlock": "10.9.1.0/24", "AvailabilityZone": "home-1b"})[
        "Subnet"]["SubnetId"]
    group = ic.call("CreateSecurityGroup", {"GroupName": "web", "Description": "web", "VpcId": vpc})["GroupId"]
    instance = ic.run(SubnetId=subnet, SecurityGroupIds=[group], PrivateIpAddress="10.9.1.50")[0]
    assert (instance["SubnetId"], instance["VpcId"], instance["PrivateIpAddress"]) == (subnet, vpc, "10.9.1.50")
    assert instance["Placement"]["AvailabilityZone"] == "home-1b" and "PublicIpAddress" not in instance
    assert instance["SecurityGroups"] == [{"GroupId": group, "GroupName": "web"}]
    assert host_of(ic, instance["InstanceId"]) == "h-0000000000000000b"
    two_nics = ic.run(NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group]},
                                         {"DeviceIndex": 1, "SubnetId": subnet}])[0]
    assert [n["Attachment"]["DeviceIndex"] for n in two_nics["NetworkInterfaces"]] == [0, 1]
    ic.refused("RunInstances", {"ImageId": ic.tiny_image(), "MinCount": 1, "MaxCount": 1, "SubnetId": subnet,
                                "Placement": {"AvailabilityZone": "home-1a"}}, "InvalidParameterValue")


def test_describe_instances_filters_and_pages(ic: InstanceCloud) -> None:
    web = ic.run(3, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "web"}]}])
    db = ic.run(2, InstanceType="t3.small")
    ic.report(host_of(ic, db[0]["InstanceId"]), {db[0]["InstanceId"]: "running"}, complete=False)

    def ids(**params: object) -> list[str]:
        return sorted(i["InstanceId"] for r in ic.call("DescribeInstances", params)["Reservations"]
                      for i in r["Instances"])

    assert ids(Filters=[{"Name": "tag:role", "Values": ["web"]}]) == sorted(i["InstanceId"] for i in web)
    assert ids(Filters=[{"Name": "instance-type", "Values": ["t3.small"]}]) == sorted(i["InstanceId"] for i in db)
    assert ids(Filters=[{"Name": "instance-state-name", "Values": ["running"]}]) == [db[0]["InstanceId"]]
    assert ids(Filters=[{"Name": "instance-state-code", "Values": ["0"]}, {"Name": "instance-type",
                                                                           "Values": ["t3.s*"]}]) == [db[1]["InstanceId"]]
    assert ids(Filters=[{"Name": "private-ip-address", "Values": [web[0]["PrivateIpAddress"]]}]) == \
        [web[0]["InstanceId"]]
    seen, token, pages = [], None, 0
    while True:
        page = ic.call("DescribeInstances", {"MaxResults": 5, **({"NextToken": token} if token else {})})
        seen += [i["InstanceId"] for r in page["Reservations"] for i in r["Instances"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert (pages, sorted(seen)) == (1, ids())
    first = ic.call("DescribeInstances", {"MaxResults": 5, "Filters": [{"Name": "image-id", "Values": ["ami-*"]}]})
    assert first.get("NextToken") is None
    ic.refused("DescribeInstances", {"InstanceIds": [web[0]["InstanceId"]], "MaxResults": 5},
               "InvalidParameterCombination")
    ic.refused("DescribeInstances", {"MaxResults": 4}, "InvalidParameterValue")
    ic.refused("DescribeInstances", {"Filters": [{"Name": "color", "Values": ["red"]}]}, "InvalidParameterValue")
    assert ic.call("DescribeInstances", account=ic.management)["Reservations"] == []
    statuses = ic.call("DescribeInstanceStatus")["InstanceStatuses"]
    assert [s["InstanceId"] for s in statuses] == [db[0]["InstanceId"]]
    assert statuses[0]["InstanceStatus"]["Status"] == "initializing"


def test_placement_groups_and_their_instances(ic: InstanceCloud) -> None:
    group = ic.call("CreatePlacementGroup", {"GroupName": "spread-me", "Strategy": "spread"})["PlacementGroup"]
    assert group["GroupId"].startswith("pg-") and group["SpreadLevel"] == "rack"
    ic.refused("CreatePlacementGroup", {"GroupName": "spread-me", "Strategy": "spread"},
               "InvalidPlacementGroup.Duplicate")
    ic.refused("CreatePlacementGroup", {"GroupName": "p", "Strategy": "partition", "PartitionCount": 9},
               "InvalidParameterValue")
    ic.refused("CreatePlacementGroup", {"GroupName": "c", "Strategy": "cluster", "PartitionCount": 2},
               "InvalidParameterValue")
    first = ic.run(Placement={"GroupName": "spread-me", "AvailabilityZone": "home-1a"})[0]
    assert first["Placement"]["GroupName"] == "spread-me"
    ic.refused("RunInstances", {"ImageId": ic.tiny_image(), "MinCount": 1, "MaxCount": 1,
                                "Placement": {"GroupName": "spread-me", "AvailabilityZone": "home-1a"}},
               "InsufficientInstanceCapacity")  # one host in home-1a, taken by the group already
    ic.refused("DeletePlacementGroup", {"GroupName": "spread-me"}, "InvalidPlacementGroup.InUse")
    ic.call("CreatePlacementGroup", {"GroupName": "parts", "Strategy": "partition", "PartitionCount": 3})
    parted = ic.run(Placement={"GroupName": "parts", "PartitionNumber": 3})[0]
    assert parted["Placement"]["PartitionNumber"] == 3
    listed = ic.call("DescribePlacementGroups", {"GroupNames": ["parts"]})["PlacementGroups"]
    assert listed[0]["PartitionCount"] == 3
    ic.refused("DescribePlacementGroups", {"GroupNames": ["nope"]}, "InvalidPlacementGroup.Unknown")
    ic.call("TerminateInstances", {"InstanceIds": [first["InstanceId"]]})
    ic.report(host_of(ic, first["InstanceId"]), {}, complete=True)
    ic.call("DeletePlacementGroup", {"GroupName": "spread-me"})
    assert [g["GroupName"] for g in ic.call("DescribePlacementGroups")["PlacementGroups"]] == ["parts"]


def test_dedicated_hosts_reserve_an_idle_host(ic: InstanceCloud) -> None:
    ic.run(Placement={"AvailabilityZone": "home-1a"})
    ic.refused("AllocateHosts", {"AvailabilityZone": "home-1a", "InstanceType": "t3.micro"},
               "InsufficientHostCapacity")
    host_id = ic.call("AllocateHosts", {"AvailabilityZone": "home-1b", "InstanceType": "t3.micro",
                                        "AutoPlacement": "on"})["HostIds"][0]
    assert host_id.startswith("h-")
    ic.refused("RunInstances", {"ImageId": ic.tiny_image(), "MinCount": 1, "MaxCount": 1,
                                "Placement": {"AvailabilityZone": "home-1b"}}, "InsufficientInstanceCapacity")
    on_it = ic.run(Placement={"HostId": host_id})[0]
    assert on_it["Placement"]["HostId"] == host_id and on_it["Placement"]["Tenancy"] == "host"
    auto = ic.run(Placement={"Tenancy": "host"})[0]
    assert auto["Placement"]["HostId"] == host_id
    ic.refused("RunInstances", {"ImageId": ic.tiny_image(), "InstanceType": "t3.small", "MinCount": 1, "MaxCount": 1,
                                "Placement": {"HostId": host_id}}, "InvalidParameterValue")
    described = ic.call("DescribeHosts", {"HostIds": [host_id]})["Hosts"][0]
    assert sorted(i["InstanceId"] for i in described["Instances"]) == sorted([on_it["InstanceId"],
                                                                              auto["InstanceId"]])
    assert described["AvailableCapacity"]["AvailableInstanceCapacity"][0]["InstanceType"] == "t3.micro"
    released = ic.call("ReleaseHosts", {"HostIds": [host_id]})
    assert released["Unsuccessful"][0]["Error"]["Code"] == "Client.InvalidHost.Occupied"
    for instance in (on_it, auto):
        ic.call("TerminateInstances", {"InstanceIds": [instance["InstanceId"]]})
    ic.report("h-0000000000000000b", {}, complete=True)
    assert ic.call("ReleaseHosts", {"HostIds": [host_id]})["Successful"] == [host_id]
    assert ic.run(Placement={"AvailabilityZone": "home-1b"})[0]["Placement"]["AvailabilityZone"] == "home-1b"


def test_metadata_tree_for_the_instance_behind_an_interface(ic: InstanceCloud) -> None:
    ic.call("CreateKeyPair", {"KeyName": "k", "KeyType": "ed25519"})
    instance = ic.run(KeyName="k", UserData=base64.b64encode(USER_DATA).decode(),
                      MetadataOptions={"InstanceMetadataTags": "enabled"},
                      TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "md"}]}])[0]
    eni = instance["NetworkInterfaces"][0]
    data = metadata_for_interface(ic.cloud, eni["NetworkInterfaceId"])
    assert data is not None and data["user_data"] == USER_DATA
    tree = data["meta_data"]
    assert tree["instance-id"] == instance["InstanceId"] and tree["ami-id"] == instance["ImageId"]
    assert tree["instance-type"] == "t3.micro" and tree["local-ipv4"] == instance["PrivateIpAddress"]
    assert tree["public-ipv4"] == instance["PublicIpAddress"] and tree["mac"] == eni["MacAddress"]
    assert tree["placement"]["availability-zone"] == instance["Placement"]["AvailabilityZone"]
    assert tree["public-keys"]["0"]["openssh-key"].startswith("ssh-ed25519 ") and \
        tree["public-keys"]["0"]["openssh-key"].endswith(" k\n")
    mac = tree["network"]["interfaces"]["macs"][eni["MacAddress"]]
    assert mac["interface-id"] == eni["NetworkInterfaceId"] and mac["vpc-id"] == instance["VpcId"]
    assert tree["tags"]["instance"] == {"Name": "md"}
    document = json.loads(data["dynamic"]["instance-identity"]["document"])
    assert document["instanceId"] == instance["InstanceId"] and document["accountId"] == ic.account
    assert "iam" not in tree
    ic.call("TerminateInstances", {"InstanceIds": [instance["InstanceId"]]})
    assert metadata_for_interface(ic.cloud, eni["NetworkInterfaceId"]) is None
    assert metadata_for_interface(ic.cloud, "eni-0123456789abcdef0") is None


def test_instance_profile_credentials_are_a_role_session_rotated_before_expiry(ic: InstanceCloud) -> None:
    from controller.api import Principal, RequestContext

    iam = ic.cloud.services["iam"]
    ctx = RequestContext(cloud=ic.cloud, service="iam", operation="x", request_id="t", region="home-1",
                         principal=Principal(account_id=ic.account, arn=f"arn:aws:iam::{ic.account}:root",
                                             kind="root", user_id=ic.account))
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    iam.operations["CreateRole"].handler(ctx, {"RoleName": "app", "AssumeRolePolicyDocument": trust})
    iam.operations["CreateInstanceProfile"].handler(ctx, {"InstanceProfileName": "app-profile"})
    iam.operations["AddRoleToInstanceProfile"].handler(ctx, {"InstanceProfileName": "app-profile",
                                                            "RoleName": "app"})
    instance = ic.run(IamInstanceProfile={"Name": "app-profile"})[0]
    assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/app-profile")
    eni_id = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    tree = metadata_for_interface(ic.cloud, eni_id)["meta_data"]
    info = json.loads(tree["iam"]["info"])
    assert info["InstanceProfileArn"] == instance["IamInstanceProfile"]["Arn"]
    credentials = json.loads(tree["iam"]["security-credentials"]["app"])
    assert credentials["AccessKeyId"].startswith("ASIA") and credentials["Type"] == "AWS-HMAC"
    resolved = ic.cloud.credentials.resolve(credentials["AccessKeyId"])
    assert resolved.principal.arn.endswith(f":assumed-role/app/{instance['InstanceId']}")
    assert resolved.token_matches(credentials["Token"])
    again = json.loads(metadata_for_interface(ic.cloud, eni_id)["meta_data"]["iam"]["security-credentials"]["app"])
    assert again["AccessKeyId"] == credentials["AccessKeyId"]  # reused while fresh
    ic.cloud.config.instance_credentials_refresh_seconds = ic.cloud.config.instance_credentials_seconds + 1
    rotated = json.loads(metadata_for_interface(ic.cloud, eni_id)["meta_data"]["iam"]["security-credentials"]["app"])
    assert rotated["AccessKeyId"] != credentials["AccessKeyId"]
    assert ic.cloud.credentials.resolve(credentials["AccessKeyId"]) is not None  # the old set stays valid
    ic.call("TerminateInstances", {"InstanceIds": [instance["InstanceId"]]})
    ic.report(host_of(ic, instance["InstanceId"]), {}, complete=True)
    assert ic.cloud.credentials.resolve(rotated["AccessKeyId"]) is None


def test_host_section_console_and_reboots(ic: InstanceCloud) -> None:
    instance = ic.run(InstanceType="m5d.large")[0]
    instance_id = instance["InstanceId"]
    host = host_of(ic, instance_id)
    with ic.db.read() as conn:
        section = to_json(host_instances(conn, ic.cloud.config, host))
    [wanted] = section["instances"]
    assert (wanted["state"], wanted["vcpus"], wanted["memory_mib"]) == ("running", 2, 2048)
    assert wanted["nics"][0]["mac"] == instance["NetworkInterfaces"][0]["MacAddress"]
    assert wanted["root_disk"]["volume_id"] == instance["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    assert wanted["instance_store"] == [{"name": "ephemeral0", "size_bytes": 75_000_000_000}]
    image = section["images"][instance["ImageId"]]
    assert image["boot_mode"] == "direct-kernel" and set(image["files"]) == {"root_disk", "kernel", "initrd"}
    assert ic.call("GetConsoleOutput", {"InstanceId": instance_id}) == {"InstanceId": instance_id}
    ic.report(host, {instance_id: "running"}, consoles={instance_id: b"Linux version 6.1\nboot finished\n"})
    output = ic.call("GetConsoleOutput", {"InstanceId": instance_id})
    assert base64.b64decode(output["Output"]).endswith(b"boot finished\n")
    ic.report(host, {instance_id: "running"}, consoles={instance_id: b"x" * 70000})
    assert len(base64.b64decode(ic.call("GetConsoleOutput", {"InstanceId": instance_id})["Output"])) == 65536
    statuses = ic.call("DescribeInstanceStatus")["InstanceStatuses"]
    assert statuses[0]["InstanceStatus"]["Status"] == "ok"
    ic.call("RebootInstances", {"InstanceIds": [instance_id]})
    with ic.db.read() as conn:
        assert host_instances(conn, ic.cloud.config, host).instances[0].reboot_serial == 1
    ic.call("StopInstances", {"InstanceIds": [instance_id]})
    with ic.db.read() as conn:
        assert host_instances(conn, ic.cloud.config, host).instances[0].state == "stopped"
    ic.call("TerminateInstances", {"InstanceIds": [instance_id]})
    with ic.db.read() as conn:
        assert host_instances(conn, ic.cloud.config, host).instances[0].state == "terminated"


def test_report_parsing_refuses_malformed_reports() -> None:
    report = from_json(InstancesReport, {
        "complete": True, "instances": [{"instance_id": "i-1", "power": "running"}],
        "consoles": {"i-1": base64.b64encode(b"hi").decode()}, "reboots": {"i-1": 2},
        "capture_failures": {"ami-1": "disk gone"}})
    assert observations(report)["i-1"].power == "running" and report.console_bytes() == {"i-1": b"hi"}
    assert report.reboots == {"i-1": 2} and report.capture_failures == {"ami-1": "disk gone"} and report.complete
    for bad in (None, [], {"instances": [{"power": "running"}]}, {"instances": [], "consoles": {"i-1": "%%"}}):
        with pytest.raises(ContractError):
            from_json(InstancesReport, bad)


def test_instance_profile_associations_replace_and_revoke_credentials(ic: InstanceCloud) -> None:
    from controller.api import Principal, RequestContext

    iam = ic.cloud.services["iam"]
    ctx = RequestContext(cloud=ic.cloud, service="iam", operation="x", request_id="t", region="home-1",
                         principal=Principal(account_id=ic.account, arn=f"arn:aws:iam::{ic.account}:root",
                                             kind="root", user_id=ic.account))
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    for name in ("one", "two"):
        iam.operations["CreateRole"].handler(ctx, {"RoleName": name, "AssumeRolePolicyDocument": trust})
        iam.operations["CreateInstanceProfile"].handler(ctx, {"InstanceProfileName": name})
        iam.operations["AddRoleToInstanceProfile"].handler(ctx, {"InstanceProfileName": name, "RoleName": name})
    instance = ic.run()[0]
    instance_id, eni_id = instance["InstanceId"], instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert ic.call("DescribeIamInstanceProfileAssociations")["IamInstanceProfileAssociations"] == []
    association = ic.call("AssociateIamInstanceProfile", {"InstanceId": instance_id, "IamInstanceProfile": {
        "Name": "one"}})["IamInstanceProfileAssociation"]
    assert association["State"] == "associated" and association["AssociationId"].startswith("iip-assoc-")
    ic.refused("AssociateIamInstanceProfile", {"InstanceId": instance_id, "IamInstanceProfile": {"Name": "two"}},
               "IncorrectState")
    first = json.loads(metadata_for_interface(ic.cloud, eni_id)["meta_data"]["iam"]["security-credentials"]["one"])
    replaced = ic.call("ReplaceIamInstanceProfileAssociation", {"AssociationId": association["AssociationId"],
                                                                "IamInstanceProfile": {"Name": "two"}})
    assert replaced["IamInstanceProfileAssociation"]["IamInstanceProfile"]["Arn"].endswith("/two")
    assert ic.cloud.credentials.resolve(first["AccessKeyId"]) is None  # the old role's credentials are revoked
    assert "two" in metadata_for_interface(ic.cloud, eni_id)["meta_data"]["iam"]["security-credentials"]
    new_id = replaced["IamInstanceProfileAssociation"]["AssociationId"]
    listed = ic.call("DescribeIamInstanceProfileAssociations", {"Filters": [
        {"Name": "instance-id", "Values": [instance_id]}]})["IamInstanceProfileAssociations"]
    assert [a["AssociationId"] for a in listed] == [new_id]
    ic.refused("DisassociateIamInstanceProfile", {"AssociationId": association["AssociationId"]},
               "InvalidAssociationID.NotFound")
    assert ic.call("DisassociateIamInstanceProfile", {"AssociationId": new_id})["IamInstanceProfileAssociation"][
        "State"] == "disassociating"
    assert "iam" not in metadata_for_interface(ic.cloud, eni_id)["meta_data"]
    assert "IamInstanceProfile" not in ic.instance(instance_id)
