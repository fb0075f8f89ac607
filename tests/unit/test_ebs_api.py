"""EBS in-process: volumes through their life with a fake agent's reports, attachments, snapshots, encryption,
modifications, root volumes and the host document (contract C)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from agent.contract.codec import from_json, to_json
from agent.contract.reports import VolumesReport
from controller.api import RequestContext
from controller.ec2.instances.desired_instances import host_instances
from controller.ec2.volumes import modifications, reports, snapshot_store
from controller.ec2.volumes.desired_volumes import volumes_section
from controller.ec2.volumes.state import migrate_legacy
from controller.hosts.desired import HostContext
from tests.unit.harness import InstanceCloud, root

HOST_A, HOST_B = "h-0000000000000000a", "h-0000000000000000b"
GIB = 1 << 30


def section(ic: InstanceCloud, host: str = HOST_A) -> dict[str, Any]:
    return volumes_section(HostContext(ic.db, ic.config, host, None))


def plugged(ic: InstanceCloud, instance_id: str, host: str = HOST_A) -> list[dict[str, Any]]:
    with ic.db.read() as conn:
        wanted = to_json(host_instances(conn, ic.config, host, ic.db))["instances"]
    return next(i["volumes"] for i in wanted if i["instance_id"] == instance_id)


def storage_report(ic: InstanceCloud, host: str = HOST_A, complete: bool = True, **parts: Any) -> list[str]:
    return reports.apply_storage_report(ic.cloud, host, from_json(VolumesReport, {"complete": complete, **parts}))


def made(ic: InstanceCloud, host: str = HOST_A) -> dict[str, Any]:
    """Report every listed volume made, at its listed size (what a healthy agent says)."""
    listed = section(ic, host)["volumes"]
    storage_report(ic, host, volumes={v["volume_id"]: {"state": "available", "size_bytes": v["size_bytes"]}
                                      for v in listed})
    return {v["volume_id"]: v for v in listed}


def volume(ic: InstanceCloud, volume_id: str) -> dict[str, Any]:
    return ic.call("DescribeVolumes", {"VolumeIds": [volume_id]})["Volumes"][0]


def running_instance(ic: InstanceCloud, zone: str = "home-1a", **params: Any) -> str:
    instance_id = ic.run(Placement={"AvailabilityZone": zone}, **params)[0]["InstanceId"]
    ic.report(HOST_A if zone == "home-1a" else HOST_B, {instance_id: "running"})
    return instance_id


def test_create_volume_is_creating_until_its_host_made_the_file(ic: InstanceCloud) -> None:
    created = ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 10, "VolumeType": "gp3",
                                       "TagSpecifications": [{"ResourceType": "volume",
                                                              "Tags": [{"Key": "Name", "Value": "data"}]}]})
    volume_id = created["VolumeId"]
    assert (created["State"], created["Size"], created["Iops"], created["Throughput"]) == ("creating", 10, 3000, 125)
    assert created["Tags"] == [{"Key": "Name", "Value": "data"}] and created["Encrypted"] is False
    listed = section(ic)["volumes"]
    assert listed == [{"volume_id": volume_id, "size_bytes": 10 * GIB, "snapshot_id": None, "encryption_key": None,
                       "encrypted": False, "iops": 3000, "throughput_mibps": 125, "snapshot_encryption_key": None}]
    assert section(ic, HOST_B)["volumes"] == []  # the other zone's host keeps nothing of it
    assert storage_report(ic, volumes={volume_id: {"state": "available", "size_bytes": 10 * GIB}}) == [volume_id]
    assert volume(ic, volume_id)["State"] == "available"
    status = ic.call("DescribeVolumeStatus", {"VolumeIds": [volume_id]})["VolumeStatuses"][0]
    assert status["VolumeStatus"]["Status"] == "ok"
    again = ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 1, "ClientToken": "t1"})
    assert ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 1, "ClientToken": "t1"})[
        "VolumeId"] == again["VolumeId"]
    ic.refused("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 2, "ClientToken": "t1"},
               "IdempotentParameterMismatch")


def test_create_volume_refusals(ic: InstanceCloud) -> None:
    ic.refused("CreateVolume", {"AvailabilityZone": "home-1z", "Size": 1}, "InvalidZone.NotFound")
    ic.refused("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 10, "VolumeType": "gp2", "Iops": 300},
               "InvalidParameterCombination")
    ic.refused("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 10, "VolumeType": "gp9"},
               "InvalidParameterValue")
    ic.refused("CreateVolume", {"AvailabilityZone": "home-1a", "SnapshotId": "snap-0123456789abcdef0"},
               "InvalidSnapshot.NotFound")
    ic.refused("CreateVolume", {"AvailabilityZone": "home-1a", "SnapshotId": "snap-nope"},
               "InvalidSnapshotID.Malformed")
    ic.refused("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 1, "KmsKeyId": "alias/aws/ebs"},
               "InvalidParameterDependency")
    ic.refused("DescribeVolumes", {"VolumeIds": ["vol-0123456789abcdef0"]}, "InvalidVolume.NotFound")
    ic.refused("DescribeVolumes", {"VolumeIds": ["vol-xyz"]}, "InvalidVolumeID.Malformed")
    assert ic.call("DescribeVolumes", {})["Volumes"] == []  # nothing was left behind


def test_attach_detach_through_the_agents_reports(ic: InstanceCloud) -> None:
    instance_id = running_instance(ic)
    other_zone = running_instance(ic, "home-1b")
    volume_id = ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 4, "VolumeType": "io2",
                                         "Iops": 400})["VolumeId"]
    ic.refused("AttachVolume", {"VolumeId": volume_id, "InstanceId": instance_id, "Device": "/dev/sdf"},
               "IncorrectState")  # still creating
    made(ic)
    attach = {"VolumeId": volume_id, "InstanceId": instance_id, "Device": "/dev/sdf"}
    ic.refused("AttachVolume", {**attach, "InstanceId": other_zone}, "InvalidVolume.ZoneMismatch")
    ic.refused("AttachVolume", {**attach, "Device": "/dev/vdb"}, "InvalidParameterValue")
    ic.refused("AttachVolume", {**attach, "Device": "/dev/xvda"}, "InvalidParameterValue")  # the root's device
    answer = ic.call("AttachVolume", attach)
    assert (answer["State"], answer["Device"]) == ("attaching", "/dev/sdf")
    ic.refused("AttachVolume", attach, "VolumeInUse")
    assert plugged(ic, instance_id) == [{"volume_id": volume_id, "device_name": "/dev/sdf", "iops": 400,
                                         "throughput_mibps": None, "encryption_key": None}]
    assert reports.apply_instance_volumes(ic.cloud, HOST_A, {instance_id: [volume_id]}) == 1
    shown = volume(ic, volume_id)
    assert shown["State"] == "in-use" and shown["Attachments"][0]["State"] == "attached"
    mappings = ic.instance(instance_id)["BlockDeviceMappings"]
    assert [(m["DeviceName"], m["Ebs"]["Status"]) for m in mappings] == [("/dev/sdf", "attached"),
                                                                         ("/dev/xvda", "attached")]
    filtered = ic.call("DescribeVolumes", {"Filters": [{"Name": "attachment.instance-id", "Values": [instance_id]},
                                                       {"Name": "attachment.device", "Values": ["/dev/sd?"]}]})
    assert [v["VolumeId"] for v in filtered["Volumes"]] == [volume_id]
    ic.refused("DeleteVolume", {"VolumeId": volume_id}, "VolumeInUse")
    root = next(m["Ebs"]["VolumeId"] for m in mappings if m["DeviceName"] == "/dev/xvda")
    ic.refused("DetachVolume", {"VolumeId": root}, "IncorrectState")  # the root of a running instance
    ic.refused("DetachVolume", {"VolumeId": volume_id, "InstanceId": other_zone}, "InvalidAttachment.NotFound")
    assert ic.call("DetachVolume", {"VolumeId": volume_id})["State"] == "detaching"
    assert plugged(ic, instance_id) == []
    reports.apply_instance_volumes(ic.cloud, HOST_A, {instance_id: []})
    assert volume(ic, volume_id)["State"] == "available"
    ic.refused("DetachVolume", {"VolumeId": volume_id}, "IncorrectState")
    ic.call("DeleteVolume", {"VolumeId": volume_id})
    assert volume(ic, volume_id)["State"] == "deleting"
    assert volume_id not in {v["volume_id"] for v in section(ic)["volumes"]}  # its file goes
    storage_report(ic, volumes={})
    ic.refused("DescribeVolumes", {"VolumeIds": [volume_id]}, "InvalidVolume.NotFound")


def test_root_volumes_are_volumes_and_outlive_their_instance_when_kept(ic: InstanceCloud) -> None:
    instance_id = running_instance(ic, BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"DeleteOnTermination": False, "VolumeType": "gp2", "VolumeSize": 3}},
        {"DeviceName": "/dev/sdg", "Ebs": {"VolumeSize": 2, "VolumeType": "gp3"}}])
    mappings = {m["DeviceName"]: m["Ebs"] for m in ic.instance(instance_id)["BlockDeviceMappings"]}
    root, extra = mappings["/dev/xvda"]["VolumeId"], mappings["/dev/sdg"]["VolumeId"]
    assert mappings["/dev/sdg"]["DeleteOnTermination"] is True and mappings["/dev/xvda"]["DeleteOnTermination"] is False
    shown = volume(ic, root)
    assert (shown["State"], shown["Size"], shown["VolumeType"], shown["Iops"]) == ("in-use", 3, "gp2", 100)
    assert volume(ic, extra)["State"] == "in-use" and mappings["/dev/sdg"]["Status"] == "attaching"
    assert {v["volume_id"] for v in section(ic)["volumes"]} == {root, extra}
    made(ic)
    ic.call("ModifyInstanceAttribute", {"InstanceId": instance_id, "BlockDeviceMappings": [
        {"DeviceName": "/dev/sdg", "Ebs": {"DeleteOnTermination": False}}]})
    ic.call("TerminateInstances", {"InstanceIds": [instance_id]})
    ic.report(HOST_A, {instance_id: "absent"})
    for volume_id in (root, extra):
        kept = volume(ic, volume_id)
        assert (kept["State"], kept["Attachments"]) == ("available", [])
    ic.call("DeleteVolume", {"VolumeId": root})


def test_snapshots_upload_restore_share_and_delete(ic: InstanceCloud) -> None:
    volume_id = ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 2})["VolumeId"]
    ic.refused("CreateSnapshot", {"VolumeId": volume_id}, "IncorrectState")  # no data yet
    made(ic)
    snap = ic.call("CreateSnapshot", {"VolumeId": volume_id, "Description": "before upgrade"})
    snapshot_id = snap["SnapshotId"]
    assert (snap["State"], snap["VolumeSize"], snap["Description"]) == ("pending", 2, "before upgrade")
    assert section(ic)["snapshots"] == [{"snapshot_id": snapshot_id, "volume_id": volume_id}]
    assert not reports.store_upload(ic.cloud, HOST_B, snapshot_id, io.BytesIO(b"x"))  # not that host's
    assert reports.store_upload(ic.cloud, HOST_A, snapshot_id, io.BytesIO(b"QFI\xfb" + b"d" * 1000))
    storage_report(ic, snapshots={snapshot_id: {"state": "completed"}}, volumes={volume_id: {"state": "available"}})
    done = ic.call("DescribeSnapshots", {"SnapshotIds": [snapshot_id]})["Snapshots"][0]
    assert (done["State"], done["Progress"], done["FullSnapshotSizeInBytes"]) == ("completed", "100%", 1004)
    assert section(ic)["snapshots"] == []
    ic.refused("CreateVolume", {"AvailabilityZone": "home-1a", "SnapshotId": snapshot_id, "Size": 1},
               "InvalidParameterValue")
    restored = ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "SnapshotId": snapshot_id})
    assert (restored["Size"], restored["SnapshotId"]) == (2, snapshot_id)
    listed = next(v for v in section(ic)["volumes"] if v["volume_id"] == restored["VolumeId"])
    assert listed["snapshot_id"] == snapshot_id
    kind, blob = reports.restore_source(ic.cloud, HOST_A, snapshot_id)
    assert kind == "blob" and b"".join(snapshot_store.read(ic.cloud, str(blob))).startswith(b"QFI\xfb")
    assert reports.restore_source(ic.cloud, HOST_B, snapshot_id) is None
    # sharing: another account sees it once createVolumePermission names it
    other = ic.management
    assert ic.call("DescribeSnapshots", {"SnapshotIds": [snapshot_id]}, account=ic.account)
    assert snapshot_id not in {s["SnapshotId"] for s in ic.call("DescribeSnapshots", {}, account=other)["Snapshots"]}
    ic.call("ModifySnapshotAttribute", {"SnapshotId": snapshot_id, "Attribute": "createVolumePermission",
                                        "OperationType": "add", "UserIds": [other]})
    assert ic.call("DescribeSnapshotAttribute", {"SnapshotId": snapshot_id, "Attribute": "createVolumePermission"})[
        "CreateVolumePermissions"] == [{"UserId": other}]
    shared = ic.call("DescribeSnapshots", {"RestorableByUserIds": [other]}, account=other)["Snapshots"]
    assert snapshot_id in {s["SnapshotId"] for s in shared}
    assert ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "SnapshotId": snapshot_id},
                   account=other)["Size"] == 2
    ic.call("ResetSnapshotAttribute", {"SnapshotId": snapshot_id, "Attribute": "createVolumePermission"})
    ic.refused("DeleteSnapshot", {"SnapshotId": snapshot_id}, "InvalidSnapshot.InUse")  # volumes restore from it
    made(ic)
    copy = ic.call("CopySnapshot", {"SourceSnapshotId": snapshot_id, "SourceRegion": ic.config.region})
    copied = ic.call("DescribeSnapshots", {"SnapshotIds": [copy["SnapshotId"]]})["Snapshots"][0]
    assert (copied["State"], copied["VolumeId"]) == ("completed", "vol-ffffffff")
    for snapshot in (snapshot_id, copy["SnapshotId"]):
        ic.call("DeleteSnapshot", {"SnapshotId": snapshot})
    ic.refused("DescribeSnapshots", {"SnapshotIds": [snapshot_id]}, "InvalidSnapshot.NotFound")


def test_ami_root_snapshots_are_listed_restorable_and_in_use(ic: InstanceCloud) -> None:
    image = ic.call("DescribeImages", {"ImageIds": [ic.tiny_image()]})["Images"][0]
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    listed = ic.call("DescribeSnapshots", {"OwnerIds": ["amazon"]})["Snapshots"]
    assert snapshot_id in {s["SnapshotId"] for s in listed}
    ic.refused("DeleteSnapshot", {"SnapshotId": snapshot_id}, "InvalidSnapshot.InUse")
    restored = ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "SnapshotId": snapshot_id})
    kind, path = reports.restore_source(ic.cloud, HOST_A, snapshot_id)
    assert kind == "file" and Path(path).read_bytes()[:4] == b"QFI\xfb"  # the image's root disk
    assert restored["State"] == "creating" and restored["Size"] == image["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"]


def test_encrypted_volumes_carry_their_kms_data_key(ic: InstanceCloud) -> None:
    assert ic.call("GetEbsEncryptionByDefault", {})["EbsEncryptionByDefault"] is False
    created = ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 1, "Encrypted": True})
    assert created["Encrypted"] and ":key/" in created["KmsKeyId"]
    assert ic.call("GetEbsDefaultKmsKeyId", {})["KmsKeyId"] == created["KmsKeyId"]  # the aws/ebs managed key
    listed = next(v for v in section(ic)["volumes"] if v["volume_id"] == created["VolumeId"])
    assert listed["encrypted"] and len(base64.b64decode(listed["encryption_key"])) == 32
    ic.call("EnableEbsEncryptionByDefault", {})
    by_default = ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 1})
    assert by_default["Encrypted"] and by_default["KmsKeyId"] == created["KmsKeyId"]
    ic.refused("ModifyEbsDefaultKmsKeyId", {"KmsKeyId": "alias/nope"}, "InvalidKmsKey.NotFound")
    ic.call("DisableEbsEncryptionByDefault", {})
    assert ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 1})["Encrypted"] is False


def kms(ic: InstanceCloud, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    ctx = RequestContext(cloud=ic.cloud, service="kms", operation=operation, request_id="test",
                         region=ic.config.region, principal=root(ic.account), host="")
    return ic.cloud.services["kms"].operations[operation].handler(ctx, params)


def test_a_disabled_customer_key_keeps_its_volumes_out_of_instances(ic: InstanceCloud) -> None:
    key_id = kms(ic, "CreateKey", {})["KeyMetadata"]["KeyId"]
    instance_id = running_instance(ic)
    encrypted = {"AvailabilityZone": "home-1a", "Size": 1, "Encrypted": True, "KmsKeyId": key_id}
    first, second = (ic.call("CreateVolume", encrypted)["VolumeId"] for _ in range(2))
    assert key_id in volume(ic, first)["KmsKeyId"]
    made(ic)
    ic.call("AttachVolume", {"VolumeId": first, "InstanceId": instance_id, "Device": "/dev/sdf"})
    assert plugged(ic, instance_id)[0]["encryption_key"]
    kms(ic, "DisableKey", {"KeyId": key_id})
    assert plugged(ic, instance_id) == []  # its data cannot be opened: the instance loses it
    kept = {v["volume_id"]: v for v in section(ic)["volumes"]}
    assert kept[first]["encryption_key"] is None and first in kept  # but its file is kept
    ic.refused("AttachVolume", {"VolumeId": second, "InstanceId": instance_id, "Device": "/dev/sdg"},
               "IncorrectState")
    ic.refused("CreateVolume", encrypted, "IncorrectState")
    kms(ic, "EnableKey", {"KeyId": key_id})
    assert plugged(ic, instance_id)[0]["volume_id"] == first
    ic.call("StopInstances", {"InstanceIds": [instance_id]})
    ic.report(HOST_A, {instance_id: "shutoff"})
    kms(ic, "DisableKey", {"KeyId": key_id})
    started = ic.call("StartInstances", {"InstanceIds": [instance_id]})["StartingInstances"][0]
    assert started["CurrentState"]["Name"] == "stopped"  # as EC2: it cannot start without its volume's key
    assert ic.instance(instance_id)["StateReason"]["Code"] == "Client.InvalidKMSKey.InvalidState"
    kms(ic, "EnableKey", {"KeyId": key_id})
    assert ic.call("StartInstances", {"InstanceIds": [instance_id]})["StartingInstances"][0][
        "CurrentState"]["Name"] == "pending"


def test_a_snapshot_of_an_encrypted_volume_restores_encrypted_with_the_same_data_key(ic: InstanceCloud) -> None:
    source = ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 1, "Encrypted": True})
    key = made(ic)[source["VolumeId"]]["encryption_key"]
    snapshot_id = ic.call("CreateSnapshot", {"VolumeId": source["VolumeId"]})["SnapshotId"]
    reports.store_upload(ic.cloud, HOST_A, snapshot_id, io.BytesIO(b"QFI\xfb luks"))
    storage_report(ic, complete=False, snapshots={snapshot_id: {"state": "completed"}})
    snapshot = ic.call("DescribeSnapshots", {"SnapshotIds": [snapshot_id]})["Snapshots"][0]
    assert snapshot["Encrypted"] and snapshot["KmsKeyId"] == source["KmsKeyId"]
    restored = ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "SnapshotId": snapshot_id})
    assert restored["Encrypted"] and restored["KmsKeyId"] == source["KmsKeyId"]  # cannot be dropped
    listed = next(v for v in section(ic)["volumes"] if v["volume_id"] == restored["VolumeId"])
    assert listed["encryption_key"] == key  # the blocks it restores are encrypted with the source's key
    other_key = kms(ic, "CreateKey", {})["KeyMetadata"]["KeyId"]
    ic.refused("CreateVolume", {"AvailabilityZone": "home-1a", "SnapshotId": snapshot_id, "Encrypted": True,
                                "KmsKeyId": other_key}, "UnsupportedOperation")
    ic.refused("ModifySnapshotAttribute", {"SnapshotId": snapshot_id, "Attribute": "createVolumePermission",
                                           "OperationType": "add", "GroupNames": ["all"]}, "OperationNotPermitted")


def test_modify_volume_grows_through_modifying_optimizing_completed(ic: InstanceCloud,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    volume_id = ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 2, "VolumeType": "gp2"})["VolumeId"]
    made(ic)
    ic.refused("ModifyVolume", {"VolumeId": volume_id, "Size": 1}, "InvalidParameterValue")
    modification = ic.call("ModifyVolume", {"VolumeId": volume_id, "Size": 5, "VolumeType": "gp3"})[
        "VolumeModification"]
    assert (modification["ModificationState"], modification["OriginalSize"], modification["TargetSize"],
            modification["TargetVolumeType"], modification["TargetIops"]) == ("modifying", 2, 5, "gp3", 3000)
    assert volume(ic, volume_id)["Size"] == 5
    assert next(v for v in section(ic)["volumes"] if v["volume_id"] == volume_id)["size_bytes"] == 5 * GIB
    ic.refused("ModifyVolume", {"VolumeId": volume_id, "Size": 6}, "IncorrectModificationState")
    storage_report(ic, volumes={volume_id: {"state": "available", "size_bytes": 5 * GIB}})
    state = ic.call("DescribeVolumesModifications", {"VolumeIds": [volume_id]})["VolumesModifications"][0]
    assert state["ModificationState"] == "optimizing"
    monkeypatch.setattr(modifications, "OPTIMIZING", modifications.dt.timedelta(0))
    assert ic.call("DescribeVolumesModifications", {"Filters": [
        {"Name": "modification-state", "Values": ["completed"]}]})["VolumesModifications"][0]["VolumeId"] == volume_id
    for throughput in (126, 127, 128):  # no size change: the target is reached at once
        ic.call("ModifyVolume", {"VolumeId": volume_id, "Throughput": throughput})
    ic.refused("ModifyVolume", {"VolumeId": volume_id, "Size": 10}, "VolumeModificationRateExceeded")
    other = ic.call("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 1})["VolumeId"]
    ic.refused("DescribeVolumesModifications", {"VolumeIds": [other]}, "InvalidVolumeModification.NotFound")


def test_volumes_of_an_older_data_dir_are_carried_over(ic: InstanceCloud) -> None:
    instance_id = running_instance(ic)
    with ic.db.begin() as conn:
        root = conn.execute(text("SELECT volume_id FROM ec2_volume_attachments")).scalar()
        conn.execute(text("DELETE FROM ec2_volume_attachments"))
        conn.execute(text("DELETE FROM ec2_volumes"))
        conn.execute(text(
            "CREATE TABLE ec2_instance_volumes (volume_id VARCHAR PRIMARY KEY, instance_id VARCHAR, account_id "
            "VARCHAR, device_name VARCHAR, size_gib INTEGER, volume_type VARCHAR, delete_on_termination BOOLEAN, "
            "is_root BOOLEAN, snapshot_id VARCHAR, attach_time VARCHAR)"))
        conn.execute(text("INSERT INTO ec2_instance_volumes VALUES (:v, :i, :a, '/dev/xvda', 9, 'gp3', 1, 1, NULL, "
                          "'2026-01-01T00:00:00.000000Z')"), {"v": root, "i": instance_id, "a": ic.account})
        assert migrate_legacy(conn) == 1
        assert migrate_legacy(conn) == 0  # the old table is gone
    shown = volume(ic, root)
    assert (shown["Size"], shown["State"], shown["Attachments"][0]["InstanceId"]) == (9, "in-use", instance_id)
