"""The EC2 instance API over the wire (no VMs): the AWS CLI and boto3 against the shared ``cloudlet up``.

A fake host registers through the agent RPC (as an agent would, but nothing runs there) and the test plays
its agent: it reports what the "host" sees through the same RPC, which is what moves instances along.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import agent_rpc
from tests.support import CloudletProcess


@pytest.fixture
def fake_host(cloudlet: CloudletProcess, unique: str) -> str:
    host_id = f"h-{unique[1:]}fake0"[:19]
    agent_rpc(cloudlet, "POST", "/hosts", {
        "host_id": host_id, "hostname": f"{unique}-no-vms", "zone": "home-1b", "vcpus": 8, "memory_mib": 16384,
        "disk_gib": 100, "hypervisor": "qemu", "agent_version": "test", "capabilities": ["compute"]})
    return host_id


def test_instance_types_and_key_pairs_through_the_cli(cloudlet: CloudletProcess, unique: str, tmp_path: Any) -> None:
    types = json.loads(cloudlet.aws("ec2", "describe-instance-types", "--filters",
                                    "Name=vcpu-info.default-vcpus,Values=2", "Name=instance-type,Values=t3.*").stdout)
    assert sorted(t["InstanceType"] for t in types["InstanceTypes"]) == [
        "t3.large", "t3.medium", "t3.micro", "t3.nano", "t3.small"]
    everything = json.loads(cloudlet.aws("ec2", "describe-instance-types", "--page-size", "50").stdout)
    assert len(everything["InstanceTypes"]) > 200  # the CLI followed NextToken through every page
    created = json.loads(cloudlet.aws("ec2", "create-key-pair", "--key-name", f"{unique}-k", "--key-type",
                                      "ed25519").stdout)
    assert created["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    public = tmp_path / "id.pub"
    public.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me\n")
    imported = json.loads(cloudlet.aws("ec2", "import-key-pair", "--key-name", f"{unique}-i",
                                       "--public-key-material", f"fileb://{public}").stdout)
    assert imported["KeyFingerprint"].endswith("=")
    listed = json.loads(cloudlet.aws("ec2", "describe-key-pairs", "--key-names", f"{unique}-k", f"{unique}-i").stdout)
    assert {k["KeyName"] for k in listed["KeyPairs"]} == {f"{unique}-k", f"{unique}-i"}
    missing = cloudlet.aws("ec2", "describe-key-pairs", "--key-names", f"{unique}-none", check=False)
    assert missing.returncode != 0 and "InvalidKeyPair.NotFound" in missing.stderr
    for name in (f"{unique}-k", f"{unique}-i"):
        cloudlet.aws("ec2", "delete-key-pair", "--key-name", name)


def test_launch_report_and_terminate_on_a_fake_host(cloudlet: CloudletProcess, fake_host: str, unique: str) -> None:
    ec2 = cloudlet.client("ec2")
    image_id = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    reservation = ec2.run_instances(ImageId=image_id, InstanceType="t3.small", MinCount=2, MaxCount=2,
                                    Placement={"AvailabilityZone": "home-1b"},
                                    TagSpecifications=[{"ResourceType": "instance",
                                                        "Tags": [{"Key": "run", "Value": unique}]}])
    ids = sorted(i["InstanceId"] for i in reservation["Instances"])
    assert {i["State"]["Name"] for i in reservation["Instances"]} == {"pending"}
    desired = agent_rpc(cloudlet, "GET", f"/hosts/{fake_host}/desired?generation=-1&wait=0")
    wanted = desired["sections"]["instances"]["instances"]
    assert sorted(w["instance_id"] for w in wanted) == ids and {w["memory_mib"] for w in wanted} == {512}
    changed = agent_rpc(cloudlet, "POST", f"/hosts/{fake_host}/instances", {
        "complete": True, "instances": [{"instance_id": i, "power": "running"} for i in ids],
        "consoles": {ids[0]: "TGludXggdmVyc2lvbg=="}})  # "Linux version"
    assert sorted(changed["changed"]) == ids
    mine = ec2.describe_instances(Filters=[{"Name": "tag:run", "Values": [unique]},
                                           {"Name": "instance-state-name", "Values": ["running"]}])
    assert sorted(i["InstanceId"] for r in mine["Reservations"] for i in r["Instances"]) == ids
    assert ec2.get_console_output(InstanceId=ids[0])["Output"] == "Linux version"  # botocore decodes base64
    ec2.terminate_instances(InstanceIds=ids)
    agent_rpc(cloudlet, "POST", f"/hosts/{fake_host}/instances", {"complete": True, "instances": []})
    states = {i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
              for i in r["Instances"]}
    assert states == {"terminated"}


def test_aws_errors_over_the_wire(cloudlet: CloudletProcess, fake_host: str) -> None:
    ec2 = cloudlet.client("ec2")
    image_id = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    for params, code in (({"InstanceType": "r5.24xlarge"}, "InsufficientInstanceCapacity"),
                         ({"InstanceType": "m9.huge"}, "InvalidParameterValue"),
                         ({"ImageId": "ami-0123456789abcdef0"}, "InvalidAMIID.NotFound"),
                         ({"KeyName": "no-such-key"}, "InvalidKeyPair.NotFound")):
        with pytest.raises(ClientError) as excinfo:
            ec2.run_instances(**{"ImageId": image_id, "MinCount": 1, "MaxCount": 1, **params})
        assert excinfo.value.response["Error"]["Code"] == code
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"])
    assert excinfo.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    result = cloudlet.aws("ec2", "run-instances", "--image-id", image_id, "--dry-run", check=False)
    assert "DryRunOperation" in result.stderr


def test_placement_groups_through_the_cli(cloudlet: CloudletProcess, unique: str) -> None:
    created = json.loads(cloudlet.aws("ec2", "create-placement-group", "--group-name", unique, "--strategy",
                                      "partition", "--partition-count", "3").stdout)
    assert created["PlacementGroup"]["PartitionCount"] == 3
    listed = json.loads(cloudlet.aws("ec2", "describe-placement-groups", "--group-names", unique).stdout)
    assert listed["PlacementGroups"][0]["Strategy"] == "partition"
    cloudlet.aws("ec2", "delete-placement-group", "--group-name", unique)
