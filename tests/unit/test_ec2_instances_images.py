"""Key pairs (AWS's fingerprints, formats, errors) and AMIs (registration, visibility, launch permissions)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from controller.ec2.instances import image_store, images
from controller.ec2.instances.keypairs import ed25519_fingerprint
from tests.unit.harness import InstanceCloud, fake_qcow2, write_manifest


def colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


# --- key pairs ----------------------------------------------------------------------------------------------------


def test_created_rsa_key_shows_sha1_of_its_pkcs8_private_key(ic: InstanceCloud) -> None:
    created = ic.call("CreateKeyPair", {"KeyName": "web"})
    assert created["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    private = serialization.load_pem_private_key(created["KeyMaterial"].encode(), password=None)
    pkcs8 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    assert created["KeyFingerprint"] == colon_hex(hashlib.sha1(pkcs8).digest())
    assert created["KeyPairId"].startswith("key-")
    listed = ic.call("DescribeKeyPairs", {"KeyNames": ["web"], "IncludePublicKey": True})["KeyPairs"]
    assert "KeyMaterial" not in listed[0]
    assert listed[0]["KeyType"] == "rsa" and listed[0]["KeyFingerprint"] == created["KeyFingerprint"]
    public_line = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                    serialization.PublicFormat.OpenSSH).decode()
    assert listed[0]["PublicKey"] == f"{public_line} web"


def test_created_ed25519_key_is_openssh_with_base64_sha256_fingerprint(ic: InstanceCloud) -> None:
    created = ic.call("CreateKeyPair", {"KeyName": "ed", "KeyType": "ed25519"})
    assert created["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    private = serialization.load_ssh_private_key(created["KeyMaterial"].encode(), password=None)
    blob = base64.b64decode(private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                              serialization.PublicFormat.OpenSSH).split()[1])
    assert created["KeyFingerprint"] == base64.b64encode(hashlib.sha256(blob).digest()).decode()


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_ed25519_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    line = (tmp_path / "k.pub").read_text().strip()
    printed = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "k.pub")], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    assert printed == "SHA256:" + ed25519_fingerprint(line).rstrip("=")


def test_imported_rsa_key_shows_md5_of_its_public_key_in_every_format(ic: InstanceCloud) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    expected = colon_hex(hashlib.md5(der).digest())
    openssh = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = openssh.split()[1].decode()
    rfc4716 = ("---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"a key\"\n"
               + "\n".join(body[i:i + 70] for i in range(0, len(body), 70)) + "\n---- END SSH2 PUBLIC KEY ----\n")
    for n, material in enumerate((openssh + b" me@laptop", pem, rfc4716.encode())):
        imported = ic.call("ImportKeyPair", {"KeyName": f"imported-{n}", "PublicKeyMaterial": material})
        assert imported["KeyFingerprint"] == expected
        assert "KeyMaterial" not in imported


def test_key_pair_errors(ic: InstanceCloud) -> None:
    ic.call("CreateKeyPair", {"KeyName": "dup"})
    error = ic.refused("CreateKeyPair", {"KeyName": "dup"}, "InvalidKeyPair.Duplicate")
    assert error.message == "The keypair 'dup' already exists."
    ic.refused("CreateKeyPair", {"KeyName": "x", "KeyType": "dsa"}, "InvalidParameterValue")
    ecdsa = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    ic.refused("ImportKeyPair", {"KeyName": "ec", "PublicKeyMaterial": ecdsa}, "InvalidKey.Format")
    ic.refused("ImportKeyPair", {"KeyName": "junk", "PublicKeyMaterial": b"ssh-rsa notbase64"}, "InvalidKey.Format")
    ic.refused("DescribeKeyPairs", {"KeyNames": ["nope"]}, "InvalidKeyPair.NotFound")
    ic.refused("DescribeKeyPairs", {"KeyPairIds": ["key-0123456789abcdef0"]}, "InvalidKeyPair.NotFound")
    ic.refused("DeleteKeyPair", {"KeyPairId": "key-0123456789abcdef0"}, "InvalidKeyPair.NotFound")
    assert ic.call("DeleteKeyPair", {"KeyName": "never-existed"})["Return"] is True  # idempotent by name, as AWS
    assert ic.call("DeleteKeyPair", {"KeyName": "dup"})["Return"] is True
    assert ic.call("DescribeKeyPairs")["KeyPairs"] == []
    assert ic.call("DescribeKeyPairs", account=ic.management)["KeyPairs"] == []


def test_key_pairs_take_tags_and_filters(ic: InstanceCloud) -> None:
    ic.call("CreateKeyPair", {"KeyName": "a", "KeyType": "ed25519", "TagSpecifications": [
        {"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "blue"}]}]})
    ic.call("CreateKeyPair", {"KeyName": "b", "KeyType": "ed25519"})
    blue = ic.call("DescribeKeyPairs", {"Filters": [{"Name": "tag:team", "Values": ["blue"]}]})["KeyPairs"]
    assert [k["KeyName"] for k in blue] == ["a"]
    by_type = ic.call("DescribeKeyPairs", {"Filters": [{"Name": "key-type", "Values": ["ed25519"]}]})["KeyPairs"]
    assert [k["KeyName"] for k in by_type] == ["a", "b"]


# --- AMIs ---------------------------------------------------------------------------------------------------------


def test_built_in_image_is_public_ebs_backed_and_owned_by_amazon(ic: InstanceCloud) -> None:
    image = ic.call("DescribeImages", {"Owners": ["amazon"]})["Images"][0]
    assert image["Public"] and image["ImageOwnerAlias"] == "amazon" and image["OwnerId"] == ic.management
    assert image["RootDeviceType"] == "ebs" and image["State"] == "available"
    assert image["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 1
    assert image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"].startswith("snap-")
    assert ic.call("DescribeImages", {"Owners": ["self"]})["Images"] == []
    assert images.register_builtin_images(ic.cloud) == []  # registered once, however often it runs
    stored = image_store.image_dir(ic.cloud.config, image["ImageId"])
    assert sorted(p.name for p in stored.iterdir()) == ["initrd", "kernel", "root.qcow2"]


def test_register_from_a_local_manifest_is_for_the_management_account(ic: InstanceCloud,
                                                                       tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "mine", name="mine")
    ic.refused("RegisterImage", {"Name": "mine", "ImageLocation": str(manifest)}, "InvalidParameterValue")
    image_id = ic.call("RegisterImage", {"Name": "mine-1", "ImageLocation": str(manifest)},
                       account=ic.management)["ImageId"]
    image = ic.call("DescribeImages", {"ImageIds": [image_id]}, account=ic.management)["Images"][0]
    assert image["RootDeviceType"] == "instance-store" and not image["Public"]
    assert image["BlockDeviceMappings"] == []
    ic.refused("RegisterImage", {"Name": "mine-1", "ImageLocation": str(manifest)}, "InvalidAMIName.Duplicate",
               account=ic.management)
    ic.refused("RegisterImage", {"Name": "x", "ImageLocation": str(manifest)}, "InvalidAMIName.Malformed",
               account=ic.management)
    ebs = ic.call("RegisterImage", {"Name": "mine-ebs", "ImageLocation": str(manifest), "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 4}}]}, account=ic.management)["ImageId"]
    ebs_image = ic.call("DescribeImages", {"ImageIds": [ebs]}, account=ic.management)["Images"][0]
    assert ebs_image["RootDeviceType"] == "ebs" and ebs_image["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 4


def test_a_damaged_manifest_registers_nothing(ic: InstanceCloud, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "bad")
    data = json.loads(manifest.read_text())
    data["kernel"]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))
    ic.refused("RegisterImage", {"Name": "bad", "ImageLocation": str(manifest)}, "InvalidManifest",
               account=ic.management)
    assert not any(p.name.startswith("ami-") and p.name not in {i["ImageId"] for i in ic.call(
        "DescribeImages", account=ic.management)["Images"]} for p in (ic.cloud.config.data_dir / "images").iterdir())


def test_register_a_raw_disk_converts_it_to_qcow2(ic: InstanceCloud, tmp_path: Path) -> None:
    if shutil.which("qemu-img") is None:
        pytest.skip("needs qemu-img")
    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"\0" * (2 << 20))
    image_id = ic.call("RegisterImage", {"Name": "raw-disk", "ImageLocation": f"file://{raw}"},
                       account=ic.management)["ImageId"]
    stored = image_store.image_dir(ic.cloud.config, image_id) / "root.qcow2"
    assert image_store.qcow2_facts(stored) == (2 << 20, False)


def test_register_from_s3_reads_the_object_as_the_caller(ic: InstanceCloud, tmp_path: Path) -> None:
    from controller.api import Principal, RequestContext

    s3 = ic.cloud.services["s3"]
    principal = Principal(account_id=ic.account, arn=f"arn:aws:iam::{ic.account}:root", kind="root",
                          user_id=ic.account)
    ctx = RequestContext(cloud=ic.cloud, service="s3", operation="x", request_id="t", region="home-1",
                         principal=principal)
    s3.operations["CreateBucket"].handler(ctx, {"Bucket": "my-images"})
    disk = tmp_path / "disk.qcow2"
    fake_qcow2(disk, 3 << 30)
    s3.operations["PutObject"].handler(ctx, {"Bucket": "my-images", "Key": "disks/web.qcow2",
                                              "Body": disk.open("rb"), "ContentLength": disk.stat().st_size})
    image_id = ic.call("RegisterImage", {"Name": "web", "ImageLocation": "my-images/disks/web.qcow2",
                                         "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {}}]})["ImageId"]
    image = ic.call("DescribeImages", {"Owners": ["self"]})["Images"][0]
    assert image["ImageId"] == image_id and image["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 3
    ic.refused("RegisterImage", {"Name": "web-2", "ImageLocation": "my-images/disks/missing.qcow2"},
               "InvalidManifest")
    ic.refused("RegisterImage", {"Name": "theirs", "ImageLocation": "my-images/disks/web.qcow2"}, "InvalidManifest",
               account=ic.management)


def test_private_images_are_invisible_to_others_and_launch_permissions_share_them(
        ic: InstanceCloud, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "p", name="p")
    image_id = ic.call("RegisterImage", {"Name": "private-one", "ImageLocation": str(manifest),
                                         "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {}}]},
                       account=ic.management)["ImageId"]
    other = ic.account
    ic.refused("DescribeImages", {"ImageIds": [image_id]}, "InvalidAMIID.NotFound", account=other)
    ic.refused("DescribeImages", {"ImageIds": ["image-1"]}, "InvalidAMIID.Malformed", account=other)
    error = ic.refused("RunInstances", {"ImageId": image_id, "MinCount": 1, "MaxCount": 1}, "AuthFailure",
                       account=other)
    assert error.message == f"Not authorized for images: [{image_id}]"
    ic.refused("RunInstances", {"ImageId": "ami-0123456789abcdef0", "MinCount": 1, "MaxCount": 1},
               "InvalidAMIID.NotFound", account=other)
    ic.call("ModifyImageAttribute", {"ImageId": image_id, "LaunchPermission": {"Add": [{"UserId": other}]}},
            account=ic.management)
    shared = ic.call("DescribeImages", {"ExecutableUsers": ["self"]}, account=other)["Images"]
    assert [i["ImageId"] for i in shared] == [image_id]
    ic.refused("ModifyImageAttribute", {"ImageId": image_id, "LaunchPermission": {"Add": [{"Group": "all"}]}},
               "AuthFailure", account=other)
    ic.refused("DeregisterImage", {"ImageId": image_id}, "AuthFailure", account=other)
    attribute = ic.call("DescribeImageAttribute", {"ImageId": image_id, "Attribute": "launchPermission"},
                        account=ic.management)
    assert attribute["LaunchPermissions"] == [{"UserId": other}]
    ic.call("ModifyImageAttribute", {"ImageId": image_id, "Attribute": "launchPermission", "OperationType": "remove",
                                     "UserIds": [other]}, account=ic.management)
    ic.refused("DescribeImages", {"ImageIds": [image_id]}, "InvalidAMIID.NotFound", account=other)
    ic.call("ModifyImageAttribute", {"ImageId": image_id, "LaunchPermission": {"Add": [{"Group": "all"}]}},
            account=ic.management)
    public = ic.call("DescribeImages", {"Filters": [{"Name": "is-public", "Values": ["true"]},
                                                    {"Name": "name", "Values": ["private-*"]}]}, account=other)
    assert [i["ImageId"] for i in public["Images"]] == [image_id]
    ic.call("ResetImageAttribute", {"ImageId": image_id, "Attribute": "launchPermission"}, account=ic.management)
    ic.refused("DescribeImages", {"ImageIds": [image_id]}, "InvalidAMIID.NotFound", account=other)
    ic.refused("ModifyImageAttribute", {"ImageId": image_id, "LaunchPermission": {"Add": [{"UserId": "12"}]}},
               "InvalidAMIAttributeItemValue", account=ic.management)


def test_deregistered_images_cannot_launch_and_lose_their_files_when_unused(
        ic: InstanceCloud, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "d", name="d")
    image_id = ic.call("RegisterImage", {"Name": "doomed", "ImageLocation": str(manifest), "BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {}}]}, account=ic.management)["ImageId"]
    ic.call("ModifyImageAttribute", {"ImageId": image_id, "LaunchPermission": {"Add": [{"Group": "all"}]}},
            account=ic.management)
    instance = ic.call("RunInstances", {"ImageId": image_id, "MinCount": 1, "MaxCount": 1})["Instances"][0]
    assert ic.call("DeregisterImage", {"ImageId": image_id}, account=ic.management)["Return"] is True
    stored = image_store.image_dir(ic.cloud.config, image_id)
    assert stored.exists()  # an instance still uses it
    ic.refused("RunInstances", {"ImageId": image_id, "MinCount": 1, "MaxCount": 1}, "InvalidAMIID.NotFound")
    ic.call("TerminateInstances", {"InstanceIds": [instance["InstanceId"]]})
    host = next(h for h in ic.hosts if instance["InstanceId"] in _host_instances(ic, h))
    ic.report(host, {})
    assert not stored.exists()


def _host_instances(ic: InstanceCloud, host_id: str) -> set[str]:
    from controller.ec2.instances.desired_instances import host_instances

    with ic.db.read() as conn:
        return {i.instance_id for i in host_instances(conn, ic.cloud.config, host_id).instances}
