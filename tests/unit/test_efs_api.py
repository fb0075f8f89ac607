"""The EFS API in-process on a real Cloud: file systems, mount targets (ENIs made through EC2), access
points, policies, tags, and the ``efs`` and ``network`` sections a host gets for them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.contract import efs as nfs_section
from agent.contract.hosts import HostRecord
from agent.contract.naming import service_port
from controller.cloud import Cloud
from controller.config import Config
from controller.ec2.vpc.desired_network import network_section
from controller.efs import access_points, rules
from controller.efs.desired import efs_section
from controller.hosts.desired import HostContext
from tests.unit.harness import ACCOUNT, OTHER_ACCOUNT, CloudHarness, VpcCloud


class EfsCloud(CloudHarness):
    service = "efs"


class World:
    """EFS and EC2 (as the same account) on one cloud, with a VPC and a subnet in each zone."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.efs = EfsCloud(cloud, ACCOUNT)
        self.ec2 = VpcCloud(cloud, ACCOUNT)
        self.vpc = self.ec2.call("CreateVpc", {"CidrBlock": "10.0.0.0/16"})["Vpc"]["VpcId"]
        self.subnet_a = self.subnet(self.vpc, "10.0.1.0/24", "home-1a")
        self.subnet_b = self.subnet(self.vpc, "10.0.2.0/24", "home-1b")

    def subnet(self, vpc: str, cidr: str, zone: str) -> str:
        return self.ec2.call("CreateSubnet", {"VpcId": vpc, "CidrBlock": cidr,
                                              "AvailabilityZone": zone})["Subnet"]["SubnetId"]

    def file_system(self, token: str, **params: Any) -> str:
        return self.efs.call("CreateFileSystem", {"CreationToken": token, **params})["FileSystemId"]

    def group(self, name: str, vpc: str | None = None) -> str:
        return self.ec2.call("CreateSecurityGroup", {"GroupName": name, "Description": name,
                                                     "VpcId": vpc or self.vpc})["GroupId"]

    def section(self, host_id: str, hosts: list[HostRecord]) -> dict[str, Any]:
        return efs_section(HostContext(self.cloud.db, self.cloud.config, host_id, None, hosts))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setattr(rules, "CREATION_SECONDS", 0.0)
    cloud = Cloud(Config(data_dir=tmp_path / "data"))
    cloud.start()
    yield World(cloud)
    cloud.close()


def test_create_file_system_defaults_idempotency_and_read_back(world: World) -> None:
    efs = world.efs
    made = efs.call("CreateFileSystem", {"CreationToken": "tok", "Tags": [{"Key": "Name", "Value": "data"}]})
    assert made["LifeCycleState"] == "creating" and made["Name"] == "data"
    assert (made["PerformanceMode"], made["ThroughputMode"], made["Encrypted"]) == ("generalPurpose", "bursting",
                                                                                     False)
    assert made["FileSystemArn"].endswith(f":{ACCOUNT}:file-system/{made['FileSystemId']}")
    again = efs.refused("CreateFileSystem", {"CreationToken": "tok"}, "FileSystemAlreadyExists")
    assert again.status == 409 and again.extra["FileSystemId"] == made["FileSystemId"]
    [read] = efs.call("DescribeFileSystems", {"CreationToken": "tok"})["FileSystems"]
    assert read["LifeCycleState"] == "available" and read["SizeInBytes"]["Value"] == rules.EMPTY_SIZE_BYTES
    assert efs.call("DescribeBackupPolicy", {"FileSystemId": made["FileSystemId"]})["BackupPolicy"] == {
        "Status": "DISABLED"}
    assert efs.call("DescribeFileSystems", {"CreationToken": "none"})["FileSystems"] == []
    assert efs.refused("DescribeFileSystems", {"FileSystemId": made["FileSystemId"]}, "FileSystemNotFound",
                       account=OTHER_ACCOUNT).status == 404


def test_one_zone_encrypted_and_refused_settings(world: World) -> None:
    efs = world.efs
    made = efs.call("CreateFileSystem", {"CreationToken": "oz", "AvailabilityZoneName": "home-1b",
                                         "Encrypted": True, "ThroughputMode": "elastic"})
    assert (made["AvailabilityZoneName"], made["AvailabilityZoneId"]) == ("home-1b", "hom1-az2")
    assert made["KmsKeyId"].startswith(f"arn:aws:kms:home-1:{ACCOUNT}:key/")
    assert efs.call("DescribeBackupPolicy", {"FileSystemId": made["FileSystemId"]})["BackupPolicy"]["Status"] == \
        "ENABLED"  # One Zone file systems back up by default
    efs.refused("CreateFileSystem", {"CreationToken": "x", "AvailabilityZoneName": "home-9z"},
                "UnsupportedAvailabilityZone")
    efs.refused("CreateFileSystem", {"CreationToken": "x", "AvailabilityZoneName": "home-1a",
                                     "PerformanceMode": "maxIO"}, "BadRequest")
    efs.refused("CreateFileSystem", {"CreationToken": "x", "KmsKeyId": "alias/aws/elasticfilesystem"}, "BadRequest")
    efs.refused("CreateFileSystem", {"CreationToken": "x", "Encrypted": True, "KmsKeyId": "alias/none"},
                "BadRequest")
    efs.refused("CreateFileSystem", {"CreationToken": "x", "ThroughputMode": "provisioned"}, "BadRequest")
    assert [f["CreationToken"] for f in efs.call("DescribeFileSystems")["FileSystems"]] == ["oz"]


def test_lifecycle_state_gates_mount_targets(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "CREATION_SECONDS", 3600.0)
    fs = world.file_system("slow")
    error = world.efs.refused("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_a},
                              "IncorrectFileSystemLifeCycleState")
    assert error.status == 409 and "creating" in error.message
    world.efs.refused("UpdateFileSystem", {"FileSystemId": fs, "ThroughputMode": "elastic"},
                      "IncorrectFileSystemLifeCycleState")
    monkeypatch.setattr(rules, "CREATION_SECONDS", 0.0)
    mt = world.efs.call("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_a})
    monkeypatch.setattr(rules, "CREATION_SECONDS", 3600.0)  # the mount target is still creating
    assert world.efs.call("DescribeMountTargets", {"MountTargetId": mt["MountTargetId"]})["MountTargets"][0][
        "LifeCycleState"] == "creating"
    error = world.efs.refused("ModifyMountTargetSecurityGroups", {"MountTargetId": mt["MountTargetId"],
                                                                  "SecurityGroups": [world.group("early")]},
                              "IncorrectMountTargetState")
    assert error.status == 409


def test_mount_target_rules(world: World) -> None:
    efs, fs = world.efs, world.file_system("mt")
    mt = efs.call("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_a, "IpAddress": "10.0.1.50"})
    assert (mt["IpAddress"], mt["AvailabilityZoneName"], mt["VpcId"]) == ("10.0.1.50", "home-1a", world.vpc)
    assert efs.refused("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_a},
                       "MountTargetConflict").message == "mount target already exists in this AZ"
    other_vpc = world.ec2.call("CreateVpc", {"CidrBlock": "10.1.0.0/16"})["Vpc"]["VpcId"]
    elsewhere = world.subnet(other_vpc, "10.1.2.0/24", "home-1b")
    efs.refused("CreateMountTarget", {"FileSystemId": fs, "SubnetId": elsewhere}, "MountTargetConflict")
    efs.refused("CreateMountTarget", {"FileSystemId": fs, "SubnetId": "subnet-0123456789abcdef0"}, "SubnetNotFound")
    efs.refused("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_b, "IpAddress": "10.0.1.9"},
                "BadRequest")  # not in the subnet
    foreign = world.group("foreign", other_vpc)
    efs.refused("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_b, "SecurityGroups": [foreign]},
                "SecurityGroupNotFound")
    efs.refused("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_b,
                                      "SecurityGroups": ["sg-0123456789abcdef0"]}, "SecurityGroupNotFound")
    six = [world.group(f"g{i}") for i in range(6)]
    efs.refused("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_b, "SecurityGroups": six},
                "SecurityGroupLimitExceeded")
    fs2 = world.file_system("mt2")
    assert efs.refused("CreateMountTarget", {"FileSystemId": fs2, "SubnetId": world.subnet_a,
                                             "IpAddress": "10.0.1.50"}, "IpAddressInUse").status == 409
    one_zone = world.file_system("oz", AvailabilityZoneName="home-1a")
    assert "home-1a" in efs.refused("CreateMountTarget", {"FileSystemId": one_zone, "SubnetId": world.subnet_b},
                                    "BadRequest").message
    # every refusal above left no interface behind
    enis = world.ec2.call("DescribeNetworkInterfaces")["NetworkInterfaces"]
    assert [e["NetworkInterfaceId"] for e in enis] == [mt["NetworkInterfaceId"]]


def test_no_free_addresses_in_subnet(world: World) -> None:
    tiny = world.subnet(world.vpc, "10.0.9.0/28", "home-1b")  # 11 assignable addresses
    for index in range(11):
        world.efs.call("CreateMountTarget", {"FileSystemId": world.file_system(f"f{index}"), "SubnetId": tiny})
    world.efs.refused("CreateMountTarget", {"FileSystemId": world.file_system("last"), "SubnetId": tiny},
                      "NoFreeAddressesInSubnet")


def test_mount_target_eni_security_groups_and_deletion(world: World) -> None:
    efs, ec2, fs = world.efs, world.ec2, world.file_system("eni")
    mt = efs.call("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_b})
    [eni] = ec2.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [mt["NetworkInterfaceId"]]})[
        "NetworkInterfaces"]
    assert eni["RequesterManaged"] and eni["InterfaceType"] == "interface"
    assert eni["Description"] == f"EFS mount target for {fs} ({mt['MountTargetId']})"
    assert eni["PrivateIpAddress"] == mt["IpAddress"] and eni["Groups"][0]["GroupName"] == "default"
    ec2.refused("DeleteNetworkInterface", {"NetworkInterfaceId": eni["NetworkInterfaceId"]}, "OperationNotPermitted")
    nfs = world.group("nfs")
    efs.call("ModifyMountTargetSecurityGroups", {"MountTargetId": mt["MountTargetId"], "SecurityGroups": [nfs]})
    assert efs.call("DescribeMountTargetSecurityGroups", {"MountTargetId": mt["MountTargetId"]}) == {
        "SecurityGroups": [nfs]}
    [eni] = ec2.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [mt["NetworkInterfaceId"]]})[
        "NetworkInterfaces"]
    assert [g["GroupId"] for g in eni["Groups"]] == [nfs]
    efs.refused("ModifyMountTargetSecurityGroups", {"MountTargetId": mt["MountTargetId"],
                                                    "SecurityGroups": ["sg-0123456789abcdef0"]},
                "SecurityGroupNotFound")
    assert efs.refused("DeleteFileSystem", {"FileSystemId": fs}, "FileSystemInUse").status == 409
    assert efs.call("DescribeFileSystems", {"FileSystemId": fs})["FileSystems"][0]["NumberOfMountTargets"] == 1
    efs.call("DeleteMountTarget", {"MountTargetId": mt["MountTargetId"]})
    assert ec2.call("DescribeNetworkInterfaces")["NetworkInterfaces"] == []
    efs.refused("DeleteMountTarget", {"MountTargetId": mt["MountTargetId"]}, "MountTargetNotFound")
    efs.call("DeleteFileSystem", {"FileSystemId": fs})
    efs.refused("DescribeFileSystems", {"FileSystemId": fs}, "FileSystemNotFound")


def test_access_points(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    efs, fs = world.efs, world.file_system("ap")
    made = efs.call("CreateAccessPoint", {
        "ClientToken": "c1", "FileSystemId": fs, "PosixUser": {"Uid": 1000, "Gid": 1000, "SecondaryGids": [10]},
        "RootDirectory": {"Path": "/apps/a/", "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000,
                                                               "Permissions": "0750"}},
        "Tags": [{"Key": "Name", "Value": "app"}]})
    assert made["RootDirectory"]["Path"] == "/apps/a" and made["Name"] == "app"
    assert made["AccessPointArn"].endswith(f"access-point/{made['AccessPointId']}")
    again = efs.refused("CreateAccessPoint", {"ClientToken": "c1", "FileSystemId": fs}, "AccessPointAlreadyExists")
    assert again.extra["AccessPointId"] == made["AccessPointId"]
    efs.refused("CreateAccessPoint", {"ClientToken": "c2", "FileSystemId": fs, "RootDirectory": {"Path": "/a/../b"}},
                "BadRequest")
    efs.refused("CreateAccessPoint", {"ClientToken": "c2", "FileSystemId": "fs-0123456789abcdef0"},
                "FileSystemNotFound")
    monkeypatch.setattr(access_points, "MAX_ACCESS_POINTS", 2)
    second = efs.call("CreateAccessPoint", {"ClientToken": "c2", "FileSystemId": fs})
    assert second["RootDirectory"] == {"Path": "/"} and "PosixUser" not in second
    assert efs.refused("CreateAccessPoint", {"ClientToken": "c3", "FileSystemId": fs},
                       "AccessPointLimitExceeded").status == 403
    page = efs.call("DescribeAccessPoints", {"FileSystemId": fs, "MaxResults": 1})
    rest = efs.call("DescribeAccessPoints", {"FileSystemId": fs, "NextToken": page["NextToken"]})
    assert [a["AccessPointId"] for a in page["AccessPoints"] + rest["AccessPoints"]] == [
        made["AccessPointId"], second["AccessPointId"]] and "NextToken" not in rest
    mt = efs.call("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_a})
    assert efs.call("DescribeMountTargets", {"AccessPointId": made["AccessPointId"]})["MountTargets"][0][
        "MountTargetId"] == mt["MountTargetId"]
    efs.call("DeleteAccessPoint", {"AccessPointId": made["AccessPointId"]})
    efs.refused("DescribeAccessPoints", {"AccessPointId": made["AccessPointId"]}, "AccessPointNotFound")
    efs.refused("DeleteAccessPoint", {"AccessPointId": made["AccessPointId"]}, "AccessPointNotFound")


def test_policies_tags_and_preferences(world: World) -> None:
    efs, fs = world.efs, world.file_system("pol", ThroughputMode="elastic")
    efs.refused("DescribeFileSystemPolicy", {"FileSystemId": fs}, "PolicyNotFound")
    efs.refused("PutFileSystemPolicy", {"FileSystemId": fs, "Policy": "{not json"}, "InvalidPolicyException")
    efs.refused("PutFileSystemPolicy", {"FileSystemId": fs, "Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
                                                "Resource": "*"}]})}, "InvalidPolicyException")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "elasticfilesystem:ClientMount", "Resource": "*"}]})
    efs.call("PutFileSystemPolicy", {"FileSystemId": fs, "Policy": policy})
    assert efs.call("DescribeFileSystemPolicy", {"FileSystemId": fs})["Policy"] == policy
    lifecycle = [{"TransitionToIA": "AFTER_30_DAYS"}, {"TransitionToArchive": "AFTER_90_DAYS"}]
    assert efs.call("PutLifecycleConfiguration", {"FileSystemId": fs, "LifecyclePolicies": lifecycle})[
        "LifecyclePolicies"] == lifecycle
    assert efs.call("DescribeLifecycleConfiguration", {"FileSystemId": fs})["LifecyclePolicies"] == lifecycle
    efs.call("PutBackupPolicy", {"FileSystemId": fs, "BackupPolicy": {"Status": "ENABLED"}})
    assert efs.call("DescribeBackupPolicy", {"FileSystemId": fs})["BackupPolicy"] == {"Status": "ENABLED"}
    efs.refused("PutBackupPolicy", {"FileSystemId": fs, "BackupPolicy": {"Status": "ENABLING"}}, "BadRequest")
    efs.call("TagResource", {"ResourceId": fs, "Tags": [{"Key": "Name", "Value": "renamed"}]})
    assert efs.call("DescribeFileSystems", {"FileSystemId": fs})["FileSystems"][0]["Name"] == "renamed"
    efs.call("CreateTags", {"FileSystemId": fs, "Tags": [{"Key": "team", "Value": "a"}]})
    assert efs.call("DescribeTags", {"FileSystemId": fs})["Tags"] == [{"Key": "Name", "Value": "renamed"},
                                                                       {"Key": "team", "Value": "a"}]
    efs.call("UntagResource", {"ResourceId": fs, "TagKeys": ["Name"]})
    assert "Name" not in efs.call("DescribeFileSystems", {"FileSystemId": fs})["FileSystems"][0]
    assert efs.call("ListTagsForResource", {"ResourceId": fs})["Tags"] == [{"Key": "team", "Value": "a"}]
    efs.refused("ListTagsForResource", {"ResourceId": "fsap-0123456789abcdef0"}, "AccessPointNotFound")
    assert efs.call("DescribeAccountPreferences")["ResourceIdPreference"]["ResourceIdType"] == "LONG_ID"
    efs.call("PutAccountPreferences", {"ResourceIdType": "SHORT_ID"})
    assert len(world.file_system("short").split("-")[1]) == 8
    assert efs.call("DescribeReplicationConfigurations") == {"Replications": []}
    efs.refused("DescribeReplicationConfigurations", {"FileSystemId": fs}, "ReplicationNotFound")


def _host(host_id: str, zone: str) -> HostRecord:
    return HostRecord(host_id=host_id, hostname=host_id, zone=zone, vcpus=2, memory_mib=2048, disk_gib=10,
                      hypervisor="qemu", state="up", last_heartbeat="")


def test_sections_put_the_mount_target_where_its_eni_is_plugged(world: World) -> None:
    efs, fs = world.efs, world.file_system("sec")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "elasticfilesystem:ClientMount", "Resource": "*"}]})
    efs.call("PutFileSystemPolicy", {"FileSystemId": fs, "Policy": policy})
    mt_a = efs.call("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_a})
    mt_b = efs.call("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_b})
    ap = efs.call("CreateAccessPoint", {"ClientToken": "s", "FileSystemId": fs,
                                        "PosixUser": {"Uid": 7, "Gid": 8},
                                        "RootDirectory": {"Path": "/x", "CreationInfo": {
                                            "OwnerUid": 7, "OwnerGid": 8, "Permissions": "700"}}})
    hosts = [_host("h-a", "home-1a"), _host("h-b", "home-1b")]
    section_a, section_b = world.section("h-a", hosts), world.section("h-b", hosts)
    [served_a], [served_b] = section_a["mount_targets"], section_b["mount_targets"]
    assert served_a["mount_target_id"] == mt_a["MountTargetId"] and served_b["mount_target_id"] == mt_b["MountTargetId"]
    assert section_a["file_systems"] == section_b["file_systems"] == [fs]  # both serve it, so both keep data
    assert (served_a["ip"], served_a["prefix_len"], served_a["vpc_id"]) == (mt_a["IpAddress"], 24, world.vpc)
    assert served_a["client_access"] == {"mount": True, "write": False, "root": False}
    parsed = nfs_section.parse(section_a)  # what the agent reads of it (contract D)
    assert parsed.mount_targets[0].client_access.write is False and parsed.mount_targets[0].gateway == "10.0.1.1"
    assert served_a["access_points"] == [{
        "access_point_id": ap["AccessPointId"], "path": "/x",
        "posix_user": {"uid": 7, "gid": 8, "secondary_gids": []},
        "creation_info": {"owner_uid": 7, "owner_gid": 8, "permissions": "700"},
        "client_access": {"mount": True, "write": False, "root": False}}]
    for host_id, served in (("h-a", served_a), ("h-b", served_b)):
        network = network_section(HostContext(world.cloud.db, world.cloud.config, host_id, None, hosts))
        [vpc] = network["vpcs"]
        [eni] = vpc["enis"]
        assert (eni["id"], eni["mac"]) == (served["interface_id"], served["mac"])
        assert eni["attachment"]["kind"] == "service" and eni["attachment"]["port"] == service_port(eni["id"])
        assert vpc["security_groups"][0]["id"] == eni["security_group_ids"][0]
    efs.call("DeleteMountTarget", {"MountTargetId": mt_a["MountTargetId"]})
    assert world.section("h-a", hosts)["mount_targets"] == []
    efs.call("DeleteMountTarget", {"MountTargetId": mt_b["MountTargetId"]})
    efs.call("DeleteFileSystem", {"FileSystemId": fs})
    assert world.section("h-a", hosts) == world.section("h-b", hosts) == {"mount_targets": [], "file_systems": []}


def test_a_single_host_serves_everything(world: World) -> None:
    fs = world.file_system("one")
    mt = world.efs.call("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_b})
    section = world.section("h-only", [_host("h-only", "home-1a")])
    assert [m["mount_target_id"] for m in section["mount_targets"]] == [mt["MountTargetId"]]
    assert section["file_systems"] == [fs]


def test_file_system_policy_lockout_safety_check(world: World) -> None:
    fs = world.file_system("lock")
    locking = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "elasticfilesystem:PutFileSystemPolicy",
         "Resource": "*"}]})
    error = world.efs.refused("PutFileSystemPolicy", {"FileSystemId": fs, "Policy": locking}, "InvalidPolicyException")
    assert "BypassPolicyLockoutSafetyCheck" in error.message
    world.efs.refused("DescribeFileSystemPolicy", {"FileSystemId": fs}, "PolicyNotFound")  # nothing was written
    world.efs.call("PutFileSystemPolicy", {"FileSystemId": fs, "Policy": locking, "BypassPolicyLockoutSafetyCheck": True})
    assert world.efs.call("DescribeFileSystemPolicy", {"FileSystemId": fs})["Policy"] == locking


def test_data_without_mount_targets_has_exactly_one_home(world: World) -> None:
    hosts = [_host("h-a", "home-1a"), _host("h-b", "home-1b"), _host("h-c", "home-1b")]
    regional, one_zone = world.file_system("r"), world.file_system("z", AvailabilityZoneName="home-1b")
    kept = {h.host_id: world.section(h.host_id, hosts)["file_systems"] for h in hosts}
    assert sorted(fs for listed in kept.values() for fs in listed) == sorted([regional, one_zone])
    assert one_zone not in kept["h-a"]  # a One Zone file system's data stays in its zone


def test_ec2_keeps_what_a_mount_target_uses(world: World) -> None:
    fs, nfs = world.file_system("dep"), world.group("nfs-dep")
    mt = world.efs.call("CreateMountTarget", {"FileSystemId": fs, "SubnetId": world.subnet_a, "SecurityGroups": [nfs]})
    world.ec2.refused("DeleteSubnet", {"SubnetId": world.subnet_a}, "DependencyViolation")
    world.ec2.refused("DeleteSecurityGroup", {"GroupId": nfs}, "DependencyViolation")
    world.ec2.refused("ModifyNetworkInterfaceAttribute", {"NetworkInterfaceId": mt["NetworkInterfaceId"],
                                                          "Groups": [nfs]}, "OperationNotPermitted")
    world.efs.call("DeleteMountTarget", {"MountTargetId": mt["MountTargetId"]})
    world.ec2.call("DeleteSecurityGroup", {"GroupId": nfs})
    world.ec2.call("DeleteSubnet", {"SubnetId": world.subnet_a})
