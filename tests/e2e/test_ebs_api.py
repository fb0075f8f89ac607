"""EBS over the wire (no VMs): boto3 and the AWS CLI against the shared ``cloudlet up``.

A fake host registers through the agent RPC and the test plays its agents (contract C): it reads the host's
desired document, reports volumes made and snapshots taken, uploads snapshot data and reports which volumes
are plugged into each instance, which is what moves volumes, attachments and snapshots along. Each test works
in an account of its own, whose instances and volumes then go to the test's fresh host (the emptiest host of
the zone, and the one running the account's instances) rather than to another test's (see ``host``).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import Cleanup, agent_rpc, allow, document, member_account, new_user, refused
from tests.support import CloudletProcess

ZONE = "home-1a"
GIB = 1 << 30


@pytest.fixture
def host(cloudlet: CloudletProcess, unique: str) -> str:
    """A fresh fake host of :data:`ZONE`. Its id sorts before those of earlier tests' hosts (which stay up for
    half a minute), so among hosts equally empty the scheduler and volume placement choose it."""
    host_id = f"h-{9_999_999_999_999 - int(time.time() * 1000):013d}{unique[1:5]}"
    agent_rpc(cloudlet, "POST", "/hosts", {
        "host_id": host_id, "hostname": f"{unique}-ebs", "zone": ZONE, "vcpus": 8, "memory_mib": 16384,
        "disk_gib": 100, "hypervisor": "qemu", "agent_version": "test", "capabilities": ["compute"]})
    return host_id


class Account:
    """A member account of the test: its id, boto3 clients and the AWS CLI as its root user."""

    def __init__(self, cloudlet: CloudletProcess, name: str) -> None:
        self.cloudlet = cloudlet
        self.account_id, self.credentials = member_account(cloudlet, name)
        self.ec2 = cloudlet.client("ec2", self.credentials)

    def client(self, service: str) -> Any:
        return self.cloudlet.client(service, self.credentials)

    def aws(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**self.cloudlet.cli_env(), "AWS_ACCESS_KEY_ID": self.credentials.access_key_id,
               "AWS_SECRET_ACCESS_KEY": self.credentials.secret_access_key}
        env.pop("AWS_PROFILE")
        env["AWS_DEFAULT_REGION"], env["AWS_ENDPOINT_URL"] = self.cloudlet.region, self.cloudlet.endpoint
        aws = Path(sys.executable).parent / "aws"
        return subprocess.run([str(aws), *args], env=env, capture_output=True, text=True, check=check, timeout=120)


@pytest.fixture
def account(cloudlet: CloudletProcess, unique: str) -> Account:
    return Account(cloudlet, unique)


def desired(cloudlet: CloudletProcess, host_id: str) -> dict[str, Any]:
    return agent_rpc(cloudlet, "GET", f"/hosts/{host_id}/desired?generation=-1&wait=0")["sections"]


def make_volumes(cloudlet: CloudletProcess, host_id: str) -> dict[str, Any]:
    """Play the storage agent: report every listed volume made at its size; returns the listed volumes."""
    listed = {v["volume_id"]: v for v in desired(cloudlet, host_id)["volumes"]["volumes"]}
    agent_rpc(cloudlet, "POST", f"/hosts/{host_id}/volumes", {"complete": True, "volumes": {
        v: {"state": "available", "size_bytes": item["size_bytes"]} for v, item in listed.items()}})
    return listed


def rpc_bytes(cloudlet: CloudletProcess, method: str, path: str, data: bytes | None = None) -> tuple[int, bytes]:
    token = (cloudlet.data_dir / "agent.token").read_text().strip()
    request = urllib.request.Request(f"{cloudlet.endpoint}/_cloudlet/agent/v1{path}", method=method, data=data,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def running_instance(account: Account, host_id: str, **params: Any) -> str:
    cloudlet, ec2 = account.cloudlet, account.ec2
    image_id = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image_id, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 Placement={"AvailabilityZone": ZONE}, **params)["Instances"][0]
    wanted = desired(cloudlet, host_id)["instances"]["instances"]
    assert instance["InstanceId"] in {w["instance_id"] for w in wanted}, "placed on another test's host"
    agent_rpc(cloudlet, "POST", f"/hosts/{host_id}/instances", {
        "complete": False, "instances": [{"instance_id": instance["InstanceId"], "power": "running"}]})
    return instance["InstanceId"]


def test_create_attach_detach_delete_through_the_cli(cloudlet: CloudletProcess, account: Account, host: str,
                                                       unique: str) -> None:
    instance_id = running_instance(account, host)
    created = json.loads(account.aws(
        "ec2", "create-volume", "--availability-zone", ZONE, "--size", "8", "--volume-type", "gp3", "--iops", "4000",
        "--throughput", "250", "--tag-specifications", f"ResourceType=volume,Tags=[{{Key=Name,Value={unique}}}]").stdout)
    volume_id = created["VolumeId"]
    assert (created["State"], created["Size"], created["Iops"], created["Throughput"]) == ("creating", 8, 4000, 250)
    listed = make_volumes(cloudlet, host)[volume_id]
    assert (listed["size_bytes"], listed["iops"], listed["throughput_mibps"]) == (8 * GIB, 4000, 250)
    account.aws("ec2", "wait", "volume-available", "--volume-ids", volume_id)
    attached = json.loads(account.aws("ec2", "attach-volume", "--volume-id", volume_id, "--instance-id",
                                       instance_id, "--device", "/dev/sdf").stdout)
    assert attached["State"] == "attaching"
    plugged = next(i for i in desired(cloudlet, host)["instances"]["instances"] if i["instance_id"] == instance_id)
    assert plugged["volumes"] == [{"volume_id": volume_id, "device_name": "/dev/sdf", "iops": 4000,
                                   "throughput_mibps": 250, "encryption_key": None}]
    agent_rpc(cloudlet, "POST", f"/hosts/{host}/instances", {
        "complete": False, "instances": [{"instance_id": instance_id, "power": "running"}],
        "volumes": {instance_id: [volume_id]}})
    account.aws("ec2", "wait", "volume-in-use", "--volume-ids", volume_id)
    shown = json.loads(account.aws("ec2", "describe-volumes", "--filters", f"Name=tag:Name,Values={unique}").stdout)
    [volume] = shown["Volumes"]
    assert volume["Attachments"][0]["State"] == "attached" and volume["Attachments"][0]["InstanceId"] == instance_id
    mappings = json.loads(account.aws("ec2", "describe-instances", "--instance-ids", instance_id, "--query",
                                       "Reservations[0].Instances[0].BlockDeviceMappings").stdout)
    assert {m["DeviceName"]: m["Ebs"]["Status"] for m in mappings} == {"/dev/sdf": "attached", "/dev/xvda": "attached"}
    busy = account.aws("ec2", "delete-volume", "--volume-id", volume_id, check=False)
    assert busy.returncode != 0 and "VolumeInUse" in busy.stderr
    assert json.loads(account.aws("ec2", "detach-volume", "--volume-id", volume_id).stdout)["State"] == "detaching"
    agent_rpc(cloudlet, "POST", f"/hosts/{host}/instances", {
        "complete": False, "instances": [{"instance_id": instance_id, "power": "running"}], "volumes": {instance_id: []}})
    account.aws("ec2", "wait", "volume-available", "--volume-ids", volume_id)
    account.aws("ec2", "delete-volume", "--volume-id", volume_id)
    agent_rpc(cloudlet, "POST", f"/hosts/{host}/volumes", {"complete": True, "volumes": {}})
    gone = account.aws("ec2", "describe-volumes", "--volume-ids", volume_id, check=False)
    assert "InvalidVolume.NotFound" in gone.stderr
    account.ec2.terminate_instances(InstanceIds=[instance_id])


def test_aws_errors_over_the_wire(cloudlet: CloudletProcess, account: Account, host: str) -> None:
    ec2 = account.ec2
    instance_id = running_instance(account, host)
    refused(ec2.create_volume, "InvalidZone.NotFound", AvailabilityZone="home-1z", Size=1)
    refused(ec2.create_volume, "InvalidParameterCombination", AvailabilityZone=ZONE, Size=10, VolumeType="gp2",
            Iops=300)
    refused(ec2.create_volume, "InvalidParameterValue", AvailabilityZone=ZONE, Size=10, VolumeType="io1", Iops=600)
    refused(ec2.create_volume, "InvalidParameterValue", AvailabilityZone=ZONE, Size=100, VolumeType="st1")
    refused(ec2.create_volume, "InvalidParameterValue", AvailabilityZone=ZONE, Size=1, VolumeType="gp9")
    refused(ec2.create_volume, "InvalidParameterCombination", AvailabilityZone=ZONE, Size=10, VolumeType="io1",
            Iops=100, Throughput=200)
    refused(ec2.create_volume, "InvalidParameterCombination", AvailabilityZone=ZONE, Size=10,
            MultiAttachEnabled=True)
    refused(ec2.create_volume, "InvalidSnapshot.NotFound", AvailabilityZone=ZONE, SnapshotId="snap-0123456789abcdef0")
    refused(ec2.describe_volumes, "InvalidVolume.NotFound", VolumeIds=["vol-0123456789abcdef0"])
    refused(ec2.describe_volumes, "InvalidVolumeID.Malformed", VolumeIds=["vol-bad"])
    refused(ec2.delete_volume, "InvalidVolume.NotFound", VolumeId="vol-0123456789abcdef0")
    refused(ec2.describe_snapshots, "InvalidSnapshot.NotFound", SnapshotIds=["snap-0123456789abcdef0"])
    refused(ec2.describe_volumes, "InvalidParameterValue", Filters=[{"Name": "colour", "Values": ["red"]}])
    with pytest.raises(ClientError) as excinfo:
        ec2.create_volume(AvailabilityZone=ZONE, Size=1, DryRun=True)
    assert excinfo.value.response["Error"]["Code"] == "DryRunOperation"
    volume_id = ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
    refused(ec2.attach_volume, "IncorrectState", VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    make_volumes(cloudlet, host)
    refused(ec2.attach_volume, "InvalidParameterValue", VolumeId=volume_id, InstanceId=instance_id, Device="/dev/vdz")
    refused(ec2.attach_volume, "InvalidParameterValue", VolumeId=volume_id, InstanceId=instance_id, Device="/dev/xvda")
    refused(ec2.attach_volume, "InvalidInstanceID.NotFound", VolumeId=volume_id, InstanceId="i-0123456789abcdef0",
            Device="/dev/sdf")
    refused(ec2.detach_volume, "IncorrectState", VolumeId=volume_id)
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    refused(ec2.attach_volume, "VolumeInUse", VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdg")
    refused(ec2.detach_volume, "InvalidAttachment.NotFound", VolumeId=volume_id, Device="/dev/sdz")
    mappings = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0][
        "BlockDeviceMappings"]
    root = next(m["Ebs"]["VolumeId"] for m in mappings if m["DeviceName"] == "/dev/xvda")
    assert "Unable to detach root volume" in refused(ec2.detach_volume, "IncorrectState", VolumeId=root)
    refused(ec2.modify_volume, "InvalidParameterValue", VolumeId=volume_id, Size=0)
    ec2.terminate_instances(InstanceIds=[instance_id])


def test_filters_and_pages(cloudlet: CloudletProcess, account: Account, host: str, unique: str) -> None:
    ec2 = account.ec2
    tags = [{"ResourceType": "volume", "Tags": [{"Key": "run", "Value": unique}]}]
    kinds = ((1, "gp2", {}), (2, "gp3", {}), (3, "gp3", {}), (4, "io2", {"Iops": 400}), (5, "gp2", {}),
             (6, "standard", {}))
    made = [ec2.create_volume(AvailabilityZone=ZONE, Size=size, VolumeType=kind, TagSpecifications=tags, **extra)[
        "VolumeId"] for size, kind, extra in kinds]
    mine = [{"Name": "tag:run", "Values": [unique]}]
    pages = ec2.get_paginator("describe_volumes").paginate(Filters=mine, PaginationConfig={"PageSize": 5})
    sizes = [[v["Size"] for v in page["Volumes"]] for page in pages]
    assert len(sizes) == 2 and sorted(sum(sizes, [])) == [1, 2, 3, 4, 5, 6]
    by = ec2.describe_volumes(Filters=[*mine, {"Name": "volume-type", "Values": ["gp3"]}])["Volumes"]
    assert sorted(v["Size"] for v in by) == [2, 3]
    assert [v["Size"] for v in ec2.describe_volumes(Filters=[*mine, {"Name": "size", "Values": ["4"]}])[
        "Volumes"]] == [4]
    assert len(ec2.describe_volumes(Filters=[*mine, {"Name": "status", "Values": ["creating"]}])["Volumes"]) == 6
    make_volumes(cloudlet, host)
    available = ec2.describe_volumes(Filters=[*mine, {"Name": "status", "Values": ["available"]},
                                              {"Name": "availability-zone", "Values": [ZONE]}])["Volumes"]
    assert sorted(v["VolumeId"] for v in available) == sorted(made)
    statuses = ec2.describe_volume_status(VolumeIds=made)["VolumeStatuses"]
    assert {s["VolumeStatus"]["Status"] for s in statuses} == {"ok"}
    refused(ec2.describe_volumes, "InvalidParameterCombination", VolumeIds=made[:1], MaxResults=5)
    refused(ec2.describe_volumes, "InvalidParameterValue", MaxResults=2)
    assert len(ec2.describe_volumes(Filters=mine, MaxResults=1000)["Volumes"]) == 6  # more than 500: 500 at most
    for volume_id in made:
        ec2.delete_volume(VolumeId=volume_id)
    deleting = ec2.describe_volumes(Filters=[*mine, {"Name": "status", "Values": ["deleting"]}])["Volumes"]
    assert len(deleting) == 6


def test_snapshot_upload_restore_copy_and_share(cloudlet: CloudletProcess, account: Account, host: str,
                                                 unique: str) -> None:
    ec2 = account.ec2
    volume_id = ec2.create_volume(AvailabilityZone=ZONE, Size=2)["VolumeId"]
    make_volumes(cloudlet, host)
    snap = ec2.create_snapshot(VolumeId=volume_id, Description=unique, TagSpecifications=[
        {"ResourceType": "snapshot", "Tags": [{"Key": "run", "Value": unique}]}])
    snapshot_id = snap["SnapshotId"]
    assert (snap["State"], snap["VolumeSize"], snap["Tags"]) == ("pending", 2, [{"Key": "run", "Value": unique}])
    assert {"snapshot_id": snapshot_id, "volume_id": volume_id} in desired(cloudlet, host)["volumes"]["snapshots"]
    data = b"QFI\xfb" + bytes(range(256)) * 64
    assert rpc_bytes(cloudlet, "PUT", f"/hosts/h-0000000000000000z/snapshots/{snapshot_id}", data)[0] == 404
    assert rpc_bytes(cloudlet, "PUT", f"/hosts/{host}/snapshots/{snapshot_id}", data)[0] == 200
    agent_rpc(cloudlet, "POST", f"/hosts/{host}/volumes", {
        "complete": False, "snapshots": {snapshot_id: {"state": "completed", "size_bytes": len(data)}}})
    account.aws("ec2", "wait", "snapshot-completed", "--snapshot-ids", snapshot_id)
    mine = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:run", "Values": [unique]}])["Snapshots"]
    assert [(s["SnapshotId"], s["Progress"], s["Description"]) for s in mine] == [(snapshot_id, "100%", unique)]
    refused(ec2.create_volume, "InvalidParameterValue", AvailabilityZone=ZONE, SnapshotId=snapshot_id, Size=1)
    restored = ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=snapshot_id, Size=3)
    assert (restored["Size"], restored["SnapshotId"]) == (3, snapshot_id)
    assert rpc_bytes(cloudlet, "GET", f"/hosts/{host}/snapshots/{snapshot_id}") == (200, data)
    copy_id = ec2.copy_snapshot(SourceSnapshotId=snapshot_id, SourceRegion=cloudlet.region)["SnapshotId"]
    assert ec2.describe_snapshots(SnapshotIds=[copy_id])["Snapshots"][0]["State"] == "completed"
    # createVolumePermission: another account sees and restores the snapshot once it is shared with it
    other_account = Account(cloudlet, f"{unique}-other")
    other_id, other = other_account.account_id, other_account.ec2
    refused(other.describe_snapshots, "InvalidSnapshot.NotFound", SnapshotIds=[snapshot_id])
    account.aws("ec2", "modify-snapshot-attribute", "--snapshot-id", snapshot_id, "--attribute",
                 "createVolumePermission", "--operation-type", "add", "--user-ids", other_id)
    permissions = ec2.describe_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")
    assert permissions["CreateVolumePermissions"] == [{"UserId": other_id}]
    shared = other.describe_snapshots(RestorableByUserIds=["self"])["Snapshots"]
    assert snapshot_id in {s["SnapshotId"] for s in shared}
    theirs = other.create_volume(AvailabilityZone=ZONE, SnapshotId=snapshot_id)
    assert theirs["Size"] == 2
    ec2.reset_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")
    refused(other.create_volume, "InvalidSnapshot.NotFound", AvailabilityZone=ZONE, SnapshotId=snapshot_id)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]
    ami_snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    refused(ec2.delete_snapshot, "InvalidSnapshot.InUse", SnapshotId=ami_snapshot)
    refused(ec2.delete_snapshot, "InvalidSnapshot.InUse", SnapshotId=snapshot_id)  # volumes are restoring from it
    other.delete_volume(VolumeId=theirs["VolumeId"])
    make_volumes(cloudlet, host)
    for snapshot in (copy_id, snapshot_id):
        ec2.delete_snapshot(SnapshotId=snapshot)
    refused(ec2.describe_snapshots, "InvalidSnapshot.NotFound", SnapshotIds=[snapshot_id])


def test_encrypted_volume_with_a_customer_key(cloudlet: CloudletProcess, account: Account, host: str) -> None:
    ec2, kms = account.ec2, account.client("kms")
    key = kms.create_key(Description="ebs test")["KeyMetadata"]
    instance_id = running_instance(account, host)
    created = ec2.create_volume(AvailabilityZone=ZONE, Size=1, Encrypted=True, KmsKeyId=key["KeyId"])
    assert created["Encrypted"] and created["KmsKeyId"] == key["Arn"]
    listed = make_volumes(cloudlet, host)[created["VolumeId"]]
    assert len(base64.b64decode(listed["encryption_key"])) == 32
    kms.disable_key(KeyId=key["KeyId"])
    refused(ec2.attach_volume, "IncorrectState", VolumeId=created["VolumeId"], InstanceId=instance_id,
            Device="/dev/sdf")
    kms.enable_key(KeyId=key["KeyId"])
    ec2.attach_volume(VolumeId=created["VolumeId"], InstanceId=instance_id, Device="/dev/sdf")
    refused(ec2.create_volume, "InvalidKmsKey.NotFound", AvailabilityZone=ZONE, Size=1, Encrypted=True,
            KmsKeyId="alias/no-such-key")
    assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is False
    ec2.terminate_instances(InstanceIds=[instance_id])


def test_modify_volume_and_its_modification_states(cloudlet: CloudletProcess, account: Account, host: str) -> None:
    ec2 = account.ec2
    volume_id = ec2.create_volume(AvailabilityZone=ZONE, Size=2, VolumeType="gp2")["VolumeId"]
    make_volumes(cloudlet, host)
    refused(ec2.modify_volume, "InvalidParameterValue", VolumeId=volume_id, Size=1)
    change = ec2.modify_volume(VolumeId=volume_id, Size=4, VolumeType="gp3")["VolumeModification"]
    assert (change["ModificationState"], change["OriginalSize"], change["TargetSize"]) == ("modifying", 2, 4)
    refused(ec2.modify_volume, "IncorrectModificationState", VolumeId=volume_id, Size=5)
    listed = make_volumes(cloudlet, host)[volume_id]
    assert listed["size_bytes"] == 4 * GIB and listed["iops"] == 3000
    state = ec2.describe_volumes_modifications(VolumeIds=[volume_id])["VolumesModifications"][0]
    assert state["ModificationState"] in ("optimizing", "completed")
    assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["VolumeType"] == "gp3"
    ec2.delete_volume(VolumeId=volume_id)


def test_launch_volumes_snapshots_of_an_instance_and_attributes(cloudlet: CloudletProcess, account: Account,
                                                                host: str) -> None:
    ec2 = account.ec2
    instance_id = running_instance(account, host, BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"DeleteOnTermination": False}},
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 4, "VolumeType": "io2", "Iops": 200}}])
    mappings = {m["DeviceName"]: m["Ebs"] for m in ec2.describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]["BlockDeviceMappings"]}
    root, data = mappings["/dev/xvda"]["VolumeId"], mappings["/dev/sdf"]["VolumeId"]
    assert (mappings["/dev/xvda"]["DeleteOnTermination"], mappings["/dev/sdf"]["DeleteOnTermination"]) == (False, True)
    on_it = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]
    assert sorted(v["VolumeId"] for v in on_it) == sorted([root, data])
    assert {v["VolumeId"]: v.get("Iops") for v in on_it}[data] == 200
    make_volumes(cloudlet, host)
    agent_rpc(cloudlet, "POST", f"/hosts/{host}/instances", {
        "complete": False, "instances": [{"instance_id": instance_id, "power": "running"}],
        "volumes": {instance_id: [data]}})
    both = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance_id}, Description="all",
                                CopyTagsFromSource="volume")["Snapshots"]
    assert sorted(s["VolumeId"] for s in both) == sorted([root, data])
    only_data = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance_id, "ExcludeBootVolume": True})
    assert [s["VolumeId"] for s in only_data["Snapshots"]] == [data]
    assert ec2.describe_volume_attribute(VolumeId=data, Attribute="autoEnableIO")["AutoEnableIO"]["Value"] is False
    ec2.modify_volume_attribute(VolumeId=data, AutoEnableIO={"Value": True})
    assert ec2.describe_volume_attribute(VolumeId=data, Attribute="autoEnableIO")["AutoEnableIO"]["Value"] is True
    assert ec2.describe_volume_attribute(VolumeId=data, Attribute="productCodes")["ProductCodes"] == []
    account.aws("ec2", "modify-instance-attribute", "--instance-id", instance_id, "--block-device-mappings",
                "DeviceName=/dev/sdf,Ebs={DeleteOnTermination=false}")
    ec2.terminate_instances(InstanceIds=[instance_id])
    agent_rpc(cloudlet, "POST", f"/hosts/{host}/instances", {
        "complete": False, "instances": [{"instance_id": instance_id, "power": "absent"}]})
    kept = ec2.describe_volumes(VolumeIds=[root, data])["Volumes"]
    assert [(v["State"], v["Attachments"]) for v in kept] == [("available", []), ("available", [])]
    assert {v["volume_id"] for v in desired(cloudlet, host)["volumes"]["volumes"]} >= {root, data}


def test_encryption_by_default_and_the_default_key(cloudlet: CloudletProcess, account: Account, host: str) -> None:
    ec2, kms = account.ec2, account.client("kms")
    managed = json.loads(account.aws("ec2", "get-ebs-default-kms-key-id").stdout)["KmsKeyId"]
    assert managed == kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    assert json.loads(account.aws("ec2", "enable-ebs-encryption-by-default").stdout)["EbsEncryptionByDefault"]
    key = kms.create_key()["KeyMetadata"]
    assert ec2.modify_ebs_default_kms_key_id(KmsKeyId=key["KeyId"])["KmsKeyId"] == key["Arn"]
    running_instance(account, host)
    created = ec2.create_volume(AvailabilityZone=ZONE, Size=1)
    assert created["Encrypted"] and created["KmsKeyId"] == key["Arn"]
    assert ec2.reset_ebs_default_kms_key_id()["KmsKeyId"] == managed
    ec2.disable_ebs_encryption_by_default()
    assert ec2.create_volume(AvailabilityZone=ZONE, Size=1)["Encrypted"] is False
    refused(ec2.modify_ebs_default_kms_key_id, "InvalidKmsKey.NotFound", KmsKeyId="alias/not-there")


def test_iam_decides_on_volume_calls(cloudlet: CloudletProcess, cleanup: Cleanup, unique: str) -> None:
    iam = cloudlet.client("iam")
    credentials = new_user(iam, cleanup, f"{unique}-ebs")
    iam.put_user_policy(UserName=f"{unique}-ebs", PolicyName="read", PolicyDocument=document(
        allow(["ec2:DescribeVolumes", "ec2:DescribeSnapshots"])))
    ec2 = cloudlet.client("ec2", credentials)
    ec2.describe_volumes()
    with pytest.raises(ClientError) as excinfo:
        ec2.create_volume(AvailabilityZone=ZONE, Size=1)
    assert excinfo.value.response["Error"]["Code"] == "UnauthorizedOperation"
