"""EC2 Instance Connect over the wire (no VMs): boto3 and the AWS CLI against a real ``cloudlet up``.

A cloud of its own whose pushed keys last 2 seconds instead of 60 (``CLOUDLET_INSTANCE_CONNECT_KEY_SECONDS``),
and a fake host that the test plays the agent of (as tests/e2e/test_ec2_instances_api.py does): the instance
is "running" because the test reports it so, and the metadata the guest would read is asked of the agent RPC.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.e2e.helpers import Cleanup, agent_rpc, allow, denied, document, new_user
from tests.support import CloudletProcess

KEY_SECONDS = 2


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    process = CloudletProcess(Path(tmp_path_factory.mktemp("eic")) / "data",
                              extra_env={"CLOUDLET_INSTANCE_CONNECT_KEY_SECONDS": str(KEY_SECONDS)}).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def instance(cloud: CloudletProcess) -> dict[str, Any]:
    """A running instance on a fake host in home-1b, and that host's id."""
    host_id = "h-0000000000000eic0"
    agent_rpc(cloud, "POST", "/hosts", {
        "host_id": host_id, "hostname": "eic-no-vms", "zone": "home-1b", "vcpus": 8, "memory_mib": 16384,
        "disk_gib": 100, "hypervisor": "qemu", "agent_version": "test", "capabilities": ["compute"]})
    ec2 = cloud.client("ec2")
    image_id = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    [launched] = ec2.run_instances(ImageId=image_id, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                   Placement={"AvailabilityZone": "home-1b"})["Instances"]
    agent_rpc(cloud, "POST", f"/hosts/{host_id}/instances", {
        "complete": True, "instances": [{"instance_id": launched["InstanceId"], "power": "running"}]})
    return {**ec2.describe_instances(InstanceIds=[launched["InstanceId"]])["Reservations"][0]["Instances"][0],
            "host_id": host_id}


def public_key() -> str:
    private = ed25519.Ed25519PrivateKey.generate()
    return private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                             serialization.PublicFormat.OpenSSH).decode() + " test"


def active_keys(cloud: CloudletProcess, instance: dict[str, Any]) -> dict[str, str]:
    eni = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    tree = agent_rpc(cloud, "GET", f"/hosts/{instance['host_id']}/metadata?eni={eni}")["meta_data"]
    return (tree.get("managed-ssh-keys") or {}).get("active-keys", {})


def test_the_cli_pushes_a_key_that_the_metadata_serves_until_it_expires(cloud: CloudletProcess,
                                                                         instance: dict[str, Any],
                                                                         tmp_path: Path) -> None:
    key = public_key()
    (tmp_path / "id.pub").write_text(key + "\n")
    answer = json.loads(cloud.aws("ec2-instance-connect", "send-ssh-public-key", "--instance-id",
                                  instance["InstanceId"], "--instance-os-user", "root", "--availability-zone",
                                  "home-1b", "--ssh-public-key", f"file://{tmp_path / 'id.pub'}").stdout)
    assert answer["Success"] is True and answer["RequestId"]
    served = active_keys(cloud, instance)["root"]
    assert served.startswith("#Timestamp=") and f"#Instance={instance['InstanceId']}\n" in served
    assert f"#Request={answer['RequestId']}\n" in served and f"\n{key}\n\n" in served
    time.sleep(KEY_SECONDS + 0.5)
    assert active_keys(cloud, instance) == {}


def test_aws_validation_and_errors(cloud: CloudletProcess, instance: dict[str, Any]) -> None:
    client = cloud.client("ec2-instance-connect", parameter_validation=False)
    good = {"InstanceId": instance["InstanceId"], "InstanceOSUser": "root", "SSHPublicKey": public_key()}
    code, status, message = denied(client.send_ssh_public_key, **{**good, "InstanceId": "mi-048afb7f6460a110d"})
    assert (code, status) == ("InvalidArgsException", 400)
    assert message == ("1 validation error detected: Value 'mi-048afb7f6460a110d' at 'instanceId' failed to satisfy "
                       "constraint: Member must satisfy regular expression pattern: ^i-[a-f0-9]+$")
    assert denied(client.send_ssh_public_key, **{**good, "InstanceOSUser": "bad/user"})[0] == "InvalidArgsException"
    short = "ssh-ed25519 " + "A" * 80
    assert denied(client.send_ssh_public_key, **{**good, "SSHPublicKey": short})[0] == "InvalidArgsException"
    assert denied(client.send_ssh_public_key, **{**good, "InstanceId": "i-0000000000000000f"})[0] == \
        "EC2InstanceNotFoundException"
    assert denied(client.send_ssh_public_key, **good, AvailabilityZone="home-1a")[0] == \
        "EC2InstanceNotFoundException"
    assert denied(client.send_serial_console_ssh_public_key, InstanceId=instance["InstanceId"],
                  SSHPublicKey=good["SSHPublicKey"])[0] == "SerialConsoleAccessDisabledException"


def test_iam_needs_the_action_on_the_instance_and_honours_ec2_osuser(cloud: CloudletProcess,
                                                                     instance: dict[str, Any]) -> None:
    iam = cloud.client("iam")
    cleanup = Cleanup(iam)
    try:
        user = new_user(iam, cleanup, "eic-operator")
        client = cloud.client("ec2-instance-connect", user)
        request = {"InstanceId": instance["InstanceId"], "InstanceOSUser": "debian", "SSHPublicKey": public_key()}
        code, status, message = denied(client.send_ssh_public_key, **request)
        assert (code, status) == ("AccessDeniedException", 400)
        assert "ec2-instance-connect:SendSSHPublicKey" in message and f"instance/{instance['InstanceId']}" in message
        arn = f"arn:aws:ec2:home-1:{cloud.account_id}:instance/{instance['InstanceId']}"
        iam.put_user_policy(UserName="eic-operator", PolicyName="connect", PolicyDocument=document(
            allow("ec2-instance-connect:SendSSHPublicKey", arn,
                  Condition={"StringEquals": {"ec2:osuser": "debian"}})))
        assert client.send_ssh_public_key(**request)["Success"] is True
        assert denied(client.send_ssh_public_key, **{**request, "InstanceOSUser": "root"})[0] == \
            "AccessDeniedException"
        assert "#Caller=arn:aws:iam::" in active_keys(cloud, instance)["debian"]
    finally:
        cleanup.run()


def test_an_endpoint_through_the_cli_and_iam(cloud: CloudletProcess) -> None:
    ec2 = cloud.client("ec2")
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]},
                                           {"Name": "availability-zone", "Values": ["home-1a"]}])["Subnets"][0]
    iam = cloud.client("iam")
    cleanup = Cleanup(iam)
    try:
        user = new_user(iam, cleanup, "eice-nobody")
        code, status, _ = denied(cloud.client("ec2", user).create_instance_connect_endpoint,
                                 SubnetId=subnet["SubnetId"])
        assert (code, status) == ("UnauthorizedOperation", 403)
    finally:
        cleanup.run()
    created = json.loads(cloud.aws("ec2", "create-instance-connect-endpoint", "--subnet-id", subnet["SubnetId"],
                                   "--preserve-client-ip").stdout)["InstanceConnectEndpoint"]
    endpoint_id = created["InstanceConnectEndpointId"]
    assert created["State"] == "create-in-progress" and created["PreserveClientIp"] is True
    listed = json.loads(cloud.aws("ec2", "describe-instance-connect-endpoints", "--instance-connect-endpoint-ids",
                                  endpoint_id).stdout)["InstanceConnectEndpoints"]
    assert listed[0]["SubnetId"] == subnet["SubnetId"] and listed[0]["NetworkInterfaceIds"]
    deleted = json.loads(cloud.aws("ec2", "delete-instance-connect-endpoint", "--instance-connect-endpoint-id",
                                   endpoint_id).stdout)["InstanceConnectEndpoint"]
    assert deleted["State"] == "delete-in-progress"
