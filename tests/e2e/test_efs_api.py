"""The EFS API over the wire (no VMs): boto3 and the AWS CLI against the shared ``cloudlet up``.

Every AWS error of the API is exercised with its code and HTTP status, paging is followed, what was
written is read back, and the ``efs`` section a (fake) host gets through the agent RPC is checked,
together with the mount target's ENI in that host's ``network`` section. Real NFS from guests is in the
agent's VM tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.helpers import Cleanup, agent_rpc, allow, denied, document, new_user
from tests.support import CloudletProcess

Client = Any


class Efs:
    """The test's EFS resources, deleted after it (mount targets first, so the VPC can go too)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.file_systems: list[str] = []

    def create(self, token: str, **params: Any) -> dict[str, Any]:
        made = self.client.create_file_system(CreationToken=token, **params)
        self.file_systems.append(made["FileSystemId"])
        return made

    def available(self, *file_system_ids: str) -> None:
        """Wait for ``creating`` to end (a couple of seconds, time-driven)."""
        deadline = time.monotonic() + 20
        for file_system_id in file_system_ids:
            while self.client.describe_file_systems(FileSystemId=file_system_id)["FileSystems"][0][
                    "LifeCycleState"] != "available":
                assert time.monotonic() < deadline, f"{file_system_id} stayed creating"
                time.sleep(0.2)

    def teardown(self) -> None:
        for file_system_id in self.file_systems:
            for target in self.client.describe_mount_targets(FileSystemId=file_system_id)["MountTargets"]:
                self.client.delete_mount_target(MountTargetId=target["MountTargetId"])
            self.client.delete_file_system(FileSystemId=file_system_id)


@pytest.fixture
def efs(cloudlet: CloudletProcess, vpc_cleanup: list[str]) -> Iterator[Efs]:
    """After ``vpc_cleanup`` in the arguments, so it is torn down before the VPCs are."""
    made = Efs(cloudlet.client("efs"))
    yield made
    made.teardown()


def refused(call: Any, code: str, status: int, **params: Any) -> dict[str, Any]:
    """Call an EFS API that must fail with ``code`` and ``status``; returns the error response."""
    got_code, got_status, message = denied(call, **params)
    assert (got_code, got_status) == (code, status), message
    return {"message": message}


def _network(ec2: Client, vpc_cleanup: list[str], unique: str) -> tuple[str, str, str]:
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    vpc_cleanup.append(vpc)
    subnet_a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24", AvailabilityZone="home-1a")["Subnet"]["SubnetId"]
    subnet_b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.2.0/24", AvailabilityZone="home-1b")["Subnet"]["SubnetId"]
    return vpc, subnet_a, subnet_b


def test_file_systems_idempotency_paging_update_and_delete(efs: Efs, unique: str) -> None:
    client = efs.client
    made = efs.create(f"{unique}-1", PerformanceMode="maxIO", Tags=[{"Key": "Name", "Value": f"{unique}-data"}])
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (made["LifeCycleState"], made["Name"], made["PerformanceMode"]) == ("creating", f"{unique}-data", "maxIO")
    error = _error(client.create_file_system, CreationToken=f"{unique}-1")
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("FileSystemAlreadyExists", 409)
    assert error["FileSystemId"] == made["FileSystemId"] and error["ErrorCode"] == "FileSystemAlreadyExists"
    refused(client.update_file_system, "IncorrectFileSystemLifeCycleState", 409, FileSystemId=made["FileSystemId"],
            ThroughputMode="elastic")
    others = [efs.create(f"{unique}-{i}", ThroughputMode="provisioned", ProvisionedThroughputInMibps=64.0)
              for i in (2, 3)]
    ids = [made["FileSystemId"]] + [o["FileSystemId"] for o in others]
    efs.available(*ids)
    seen = [fs["FileSystemId"] for page in client.get_paginator("describe_file_systems").paginate(
        PaginationConfig={"PageSize": 1}) for fs in page["FileSystems"]]
    assert [i for i in seen if i in ids] == ids  # creation order, each once, across pages of one
    first = client.describe_file_systems(MaxItems=1)
    assert len(first["FileSystems"]) == 1 and first["NextMarker"]
    refused(client.describe_file_systems, "BadRequest", 400, Marker="not-a-marker")
    [read] = client.describe_file_systems(FileSystemId=made["FileSystemId"])["FileSystems"]
    assert read["SizeInBytes"]["Value"] == 6144 and read["NumberOfMountTargets"] == 0
    assert read["OwnerId"] == made["OwnerId"] and read["FileSystemArn"].endswith(f"file-system/{made['FileSystemId']}")
    refused(client.describe_file_systems, "FileSystemNotFound", 404, FileSystemId="fs-0123456789abcdef0")
    # throughput: a raise any time; lowering or changing mode once per 24 hours
    provisioned = others[0]["FileSystemId"]
    updated = client.update_file_system(FileSystemId=provisioned, ProvisionedThroughputInMibps=128.0)
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202 and updated["ProvisionedThroughputInMibps"] == 128.0
    assert client.update_file_system(FileSystemId=provisioned, ThroughputMode="bursting")["ThroughputMode"] == "bursting"
    message = refused(client.update_file_system, "TooManyRequests", 429, FileSystemId=provisioned,
                      ThroughputMode="elastic")["message"]
    assert "Wait until" in message
    refused(client.update_file_system, "ThroughputLimitExceeded", 400, FileSystemId=others[1]["FileSystemId"],
            ProvisionedThroughputInMibps=4096.0)
    refused(client.create_file_system, "BadRequest", 400, CreationToken=f"{unique}-x", ThroughputMode="provisioned")
    refused(client.create_file_system, "BadRequest", 400, CreationToken=f"{unique}-x", PerformanceMode="maxIO",
            ThroughputMode="elastic")
    refused(client.create_file_system, "UnsupportedAvailabilityZone", 400, CreationToken=f"{unique}-x",
            AvailabilityZoneName="nowhere-1a")
    client.delete_file_system(FileSystemId=ids[2])
    efs.file_systems.remove(ids[2])
    refused(client.delete_file_system, "FileSystemNotFound", 404, FileSystemId=ids[2])


def _error(call: Any, **params: Any) -> dict[str, Any]:
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call(**params)
    return excinfo.value.response


def test_encrypted_file_system_records_the_kms_key(cloudlet: CloudletProcess, efs: Efs, unique: str) -> None:
    kms = cloudlet.client("kms")
    key = kms.create_key(Description=f"{unique} efs")["KeyMetadata"]
    made = efs.create(f"{unique}-enc", Encrypted=True, KmsKeyId=key["KeyId"])
    assert made["Encrypted"] and made["KmsKeyId"] == key["Arn"]
    managed = efs.create(f"{unique}-managed", Encrypted=True)
    assert kms.describe_key(KeyId="alias/aws/elasticfilesystem")["KeyMetadata"]["Arn"] == managed["KmsKeyId"]
    refused(efs.client.create_file_system, "BadRequest", 400, CreationToken=f"{unique}-nokey", Encrypted=True,
            KmsKeyId="alias/does-not-exist")


def test_mount_targets_errors_paging_and_the_hosts_section(cloudlet: CloudletProcess, ec2: Client, efs: Efs,
                                                          vpc_cleanup: list[str], unique: str) -> None:
    client = efs.client
    vpc, subnet_a, subnet_b = _network(ec2, vpc_cleanup, unique)
    fs = efs.create(f"{unique}-mt")["FileSystemId"]
    refused(client.create_mount_target, "IncorrectFileSystemLifeCycleState", 409, FileSystemId=fs, SubnetId=subnet_a)
    one_zone = efs.create(f"{unique}-oz", AvailabilityZoneName="home-1a")["FileSystemId"]
    efs.available(fs, one_zone)
    nfs = ec2.create_security_group(GroupName=f"{unique}-nfs", Description="nfs", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=nfs, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049, "IpRanges": [{"CidrIp": "10.40.0.0/16"}]}])
    target = client.create_mount_target(FileSystemId=fs, SubnetId=subnet_a, IpAddress="10.40.1.20",
                                        SecurityGroups=[nfs])
    assert (target["IpAddress"], target["AvailabilityZoneName"], target["VpcId"]) == ("10.40.1.20", "home-1a", vpc)
    refused(client.create_mount_target, "MountTargetConflict", 409, FileSystemId=fs, SubnetId=subnet_a)
    other_vpc = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    vpc_cleanup.append(other_vpc)
    elsewhere = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.41.2.0/24", AvailabilityZone="home-1b")["Subnet"]
    refused(client.create_mount_target, "MountTargetConflict", 409, FileSystemId=fs, SubnetId=elsewhere["SubnetId"])
    refused(client.create_mount_target, "SubnetNotFound", 400, FileSystemId=fs, SubnetId="subnet-0123456789abcdef0")
    refused(client.create_mount_target, "FileSystemNotFound", 404, FileSystemId="fs-0123456789abcdef0",
            SubnetId=subnet_b)
    message = refused(client.create_mount_target, "BadRequest", 400, FileSystemId=one_zone, SubnetId=subnet_b)["message"]
    assert "home-1a" in message and "home-1b" in message
    refused(client.create_mount_target, "SecurityGroupNotFound", 400, FileSystemId=fs, SubnetId=subnet_b,
            SecurityGroups=["sg-0123456789abcdef0"])
    groups = [ec2.create_security_group(GroupName=f"{unique}-g{i}", Description="g", VpcId=vpc)["GroupId"]
              for i in range(6)]
    refused(client.create_mount_target, "SecurityGroupLimitExceeded", 400, FileSystemId=fs, SubnetId=subnet_b,
            SecurityGroups=groups)
    refused(client.create_mount_target, "IpAddressInUse", 409, FileSystemId=one_zone, SubnetId=subnet_a,
            IpAddress="10.40.1.20")
    second = client.create_mount_target(FileSystemId=fs, SubnetId=subnet_b)
    pages = list(client.get_paginator("describe_mount_targets").paginate(FileSystemId=fs,
                                                                         PaginationConfig={"PageSize": 1}))
    assert [t["MountTargetId"] for p in pages for t in p["MountTargets"]] == [target["MountTargetId"],
                                                                             second["MountTargetId"]]
    refused(client.describe_mount_targets, "MountTargetNotFound", 404, MountTargetId="fsmt-0123456789abcdef0")
    refused(client.describe_mount_targets, "BadRequest", 400)
    # the ENI, as AWS shows it; EC2 will not delete it
    [eni] = ec2.describe_network_interfaces(NetworkInterfaceIds=[target["NetworkInterfaceId"]])["NetworkInterfaces"]
    assert eni["RequesterManaged"] and eni["Description"] == f"EFS mount target for {fs} ({target['MountTargetId']})"
    assert [g["GroupId"] for g in eni["Groups"]] == [nfs] and eni["PrivateIpAddress"] == "10.40.1.20"
    code, status, _ = denied(ec2.delete_network_interface, NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert (code, status) == ("OperationNotPermitted", 400)
    # security groups follow onto the ENI
    while client.describe_mount_targets(MountTargetId=target["MountTargetId"])["MountTargets"][0][
            "LifeCycleState"] != "available":
        time.sleep(0.2)
    client.modify_mount_target_security_groups(MountTargetId=target["MountTargetId"], SecurityGroups=groups[:2])
    assert client.describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])["SecurityGroups"] == \
        groups[:2]
    [eni] = ec2.describe_network_interfaces(NetworkInterfaceIds=[target["NetworkInterfaceId"]])["NetworkInterfaces"]
    assert [g["GroupId"] for g in eni["Groups"]] == groups[:2]
    assert client.describe_file_systems(FileSystemId=fs)["FileSystems"][0]["NumberOfMountTargets"] == 2
    refused(client.delete_file_system, "FileSystemInUse", 409, FileSystemId=fs)
    # what a host of zone home-1a is told to serve, and its network section plugging the ENI
    host_id = f"h-{unique[1:]}efs00"[:19]
    agent_rpc(cloudlet, "POST", "/hosts", {
        "host_id": host_id, "hostname": f"{unique}-efs", "zone": "home-1a", "vcpus": 2, "memory_mib": 2048,
        "disk_gib": 10, "hypervisor": "qemu", "agent_version": "test", "capabilities": ["compute"]})
    sections = agent_rpc(cloudlet, "GET", f"/hosts/{host_id}/desired?generation=-1&wait=0")["sections"]
    [served] = [m for m in sections["efs"]["mount_targets"] if m["mount_target_id"] == target["MountTargetId"]]
    assert served == {"mount_target_id": target["MountTargetId"], "file_system_id": fs, "vpc_id": vpc,
                      "subnet_id": subnet_a, "interface_id": eni["NetworkInterfaceId"], "ip": "10.40.1.20",
                      "mac": eni["MacAddress"], "prefix_len": 24, "access_points": [],
                      "client_access": {"mount": True, "write": True, "root": True}}
    assert fs in sections["efs"]["file_systems"]
    [network_vpc] = [v for v in sections["network"]["vpcs"] if v["id"] == vpc]
    [plugged] = [e for e in network_vpc["enis"] if e["id"] == eni["NetworkInterfaceId"]]
    assert plugged["attachment"]["kind"] == "service" and plugged["security_group_ids"] == groups[:2]
    client.delete_mount_target(MountTargetId=target["MountTargetId"])
    refused(client.delete_mount_target, "MountTargetNotFound", 404, MountTargetId=target["MountTargetId"])
    assert ec2.describe_network_interfaces(Filters=[{"Name": "network-interface-id",
                                                     "Values": [eni["NetworkInterfaceId"]]}])["NetworkInterfaces"] == []
    sections = agent_rpc(cloudlet, "GET", f"/hosts/{host_id}/desired?generation=-1&wait=0")["sections"]
    assert target["MountTargetId"] not in {m["mount_target_id"] for m in sections["efs"]["mount_targets"]}


def test_no_free_addresses_in_subnet(ec2: Client, efs: Efs, vpc_cleanup: list[str], unique: str) -> None:
    vpc, _, _ = _network(ec2, vpc_cleanup, unique)
    tiny = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.9.0/28", AvailabilityZone="home-1b")["Subnet"]["SubnetId"]
    file_systems = [efs.create(f"{unique}-{i}")["FileSystemId"] for i in range(12)]
    efs.available(*file_systems)
    for file_system_id in file_systems[:11]:  # a /28 has 11 addresses AWS does not reserve
        efs.client.create_mount_target(FileSystemId=file_system_id, SubnetId=tiny)
    refused(efs.client.create_mount_target, "NoFreeAddressesInSubnet", 409, FileSystemId=file_systems[11],
            SubnetId=tiny)


def test_access_points_policies_and_tags_through_the_cli(cloudlet: CloudletProcess, efs: Efs, unique: str) -> None:
    fs = efs.create(f"{unique}-cli")["FileSystemId"]
    efs.available(fs)

    def aws(*args: str) -> dict[str, Any]:
        out = cloudlet.aws("efs", *args).stdout
        return json.loads(out) if out.strip() else {}

    point = aws("create-access-point", "--file-system-id", fs, "--posix-user", "Uid=1000,Gid=1000",
                "--root-directory", "Path=/shared,CreationInfo={OwnerUid=1000,OwnerGid=1000,Permissions=0755}",
                "--tags", f"Key=Name,Value={unique}-ap")
    assert point["Name"] == f"{unique}-ap" and point["RootDirectory"]["Path"] == "/shared"
    assert point["PosixUser"] == {"Uid": 1000, "Gid": 1000} and point["LifeCycleState"] == "available"
    again = _error(efs.client.create_access_point, FileSystemId=fs, ClientToken=point["ClientToken"])
    assert (again["Error"]["Code"], again["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessPointAlreadyExists", 409)
    assert again["AccessPointId"] == point["AccessPointId"]
    listed = aws("describe-access-points", "--file-system-id", fs)["AccessPoints"]
    assert [p["AccessPointId"] for p in listed] == [point["AccessPointId"]]
    missing = cloudlet.aws("efs", "describe-access-points", "--access-point-id", "fsap-0123456789abcdef0", check=False)
    assert missing.returncode != 0 and "AccessPointNotFound" in missing.stderr
    policy = document({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "elasticfilesystem:ClientMount",
                       "Resource": f"arn:aws:elasticfilesystem:*:*:file-system/{fs}"})
    aws("put-file-system-policy", "--file-system-id", fs, "--policy", policy)
    assert json.loads(aws("describe-file-system-policy", "--file-system-id", fs)["Policy"]) == json.loads(policy)
    bad = cloudlet.aws("efs", "put-file-system-policy", "--file-system-id", fs, "--policy", '{"Statement": 1}',
                       check=False)
    assert bad.returncode != 0 and "InvalidPolicyException" in bad.stderr
    aws("delete-file-system-policy", "--file-system-id", fs)
    gone = cloudlet.aws("efs", "describe-file-system-policy", "--file-system-id", fs, check=False)
    assert "PolicyNotFound" in gone.stderr
    aws("put-lifecycle-configuration", "--file-system-id", fs, "--lifecycle-policies",
        "TransitionToIA=AFTER_30_DAYS", "TransitionToPrimaryStorageClass=AFTER_1_ACCESS")
    assert aws("describe-lifecycle-configuration", "--file-system-id", fs)["LifecyclePolicies"] == [
        {"TransitionToIA": "AFTER_30_DAYS"}, {"TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"}]
    archive = cloudlet.aws("efs", "put-lifecycle-configuration", "--file-system-id", fs, "--lifecycle-policies",
                           "TransitionToArchive=AFTER_90_DAYS", check=False)
    assert archive.returncode != 0 and "BadRequest" in archive.stderr  # archiving needs elastic throughput
    aws("put-backup-policy", "--file-system-id", fs, "--backup-policy", "Status=ENABLED")
    assert aws("describe-backup-policy", "--file-system-id", fs)["BackupPolicy"] == {"Status": "ENABLED"}
    aws("tag-resource", "--resource-id", point["AccessPointId"], "--tags", "Key=team,Value=blue")
    assert aws("list-tags-for-resource", "--resource-id", point["AccessPointId"])["Tags"] == [
        {"Key": "Name", "Value": f"{unique}-ap"}, {"Key": "team", "Value": "blue"}]
    aws("create-tags", "--file-system-id", fs, "--tags", f"Key=Name,Value={unique}-named")
    assert aws("describe-file-systems", "--file-system-id", fs)["FileSystems"][0]["Name"] == f"{unique}-named"
    aws("untag-resource", "--resource-id", fs, "--tag-keys", "Name")
    assert aws("describe-tags", "--file-system-id", fs)["Tags"] == []
    aws("delete-access-point", "--access-point-id", point["AccessPointId"])
    assert aws("describe-access-points", "--file-system-id", fs)["AccessPoints"] == []
    assert aws("describe-replication-configurations")["Replications"] == []
    assert aws("describe-account-preferences")["ResourceIdPreference"]["ResourceIdType"] == "LONG_ID"


def test_iam_governs_the_api_by_file_system_arn(cloudlet: CloudletProcess, iam: Client, cleanup: Cleanup,
                                               efs: Efs, unique: str) -> None:
    mine = efs.create(f"{unique}-mine")
    other = efs.create(f"{unique}-other")
    name = f"{unique}-reader"
    credentials = new_user(iam, cleanup, name)
    iam.put_user_policy(UserName=name, PolicyName="read-one", PolicyDocument=document(
        allow("elasticfilesystem:DescribeFileSystems", mine["FileSystemArn"])))
    user = cloudlet.client("efs", credentials)
    assert user.describe_file_systems(FileSystemId=mine["FileSystemId"])["FileSystems"]
    code, status, message = denied(user.describe_file_systems, FileSystemId=other["FileSystemId"])
    assert (code, status) == ("AccessDeniedException", 403) and "elasticfilesystem:DescribeFileSystems" in message
    code, status, _ = denied(user.create_file_system, CreationToken=f"{unique}-denied")
    assert status == 403
    iam.put_user_policy(UserName=name, PolicyName="encrypted-only", PolicyDocument=document(
        allow("elasticfilesystem:CreateFileSystem", "*", Condition={"Bool": {"elasticfilesystem:Encrypted": "true"}})))
    efs.file_systems.append(user.create_file_system(CreationToken=f"{unique}-enc", Encrypted=True)["FileSystemId"])
    code, status, _ = denied(user.create_file_system, CreationToken=f"{unique}-plain")
    assert status == 403
    # a mount target also needs the caller's EC2 permissions on its interface, as on AWS
    efs.available(mine["FileSystemId"])
    iam.put_user_policy(UserName=name, PolicyName="mount-targets", PolicyDocument=document(
        allow("elasticfilesystem:CreateMountTarget", mine["FileSystemArn"])))
    mount = {"FileSystemId": mine["FileSystemId"], "SubnetId": "subnet-0123456789abcdef0"}
    assert denied(user.create_mount_target, **mount)[:2] == ("AccessDeniedException", 403)
    iam.put_user_policy(UserName=name, PolicyName="interfaces", PolicyDocument=document(
        allow(["ec2:DescribeSubnets", "ec2:DescribeNetworkInterfaces", "ec2:CreateNetworkInterface"])))
    assert denied(user.create_mount_target, **mount)[:2] == ("SubnetNotFound", 400)
    # the file system policy is the file system's resource policy: its explicit Deny binds even the root user
    locking = document({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "elasticfilesystem:PutFileSystemPolicy",
                        "Resource": mine["FileSystemArn"]})
    efs.available(mine["FileSystemId"])
    refused(efs.client.put_file_system_policy, "InvalidPolicyException", 400, FileSystemId=mine["FileSystemId"],
            Policy=locking)  # the lockout safety check
    efs.client.put_file_system_policy(FileSystemId=mine["FileSystemId"], Policy=locking,
                                      BypassPolicyLockoutSafetyCheck=True)
    code, status, _ = denied(efs.client.put_file_system_policy, FileSystemId=mine["FileSystemId"], Policy=locking,
                             BypassPolicyLockoutSafetyCheck=True)
    assert status == 403
    efs.client.delete_file_system_policy(FileSystemId=mine["FileSystemId"])
