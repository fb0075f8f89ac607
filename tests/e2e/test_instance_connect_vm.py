"""EC2 Instance Connect on a real VM: a private tiny-AMI instance WITHOUT a key pair, reached through an
EC2 Instance Connect Endpoint with a pushed key.

One controller (whose pushed keys last 10 s instead of 60: ``CLOUDLET_INSTANCE_CONNECT_KEY_SECONDS``) and one
agent run as on a host. The instance is in a private subnet (no internet gateway) whose Instance Connect
Endpoint's security group is the only source its own group opens 22 to. SendSSHPublicKey, then an SSH login
(paramiko over the presigned ``openTunnel`` websocket, as AWS CLI v2's ``open-tunnel`` opens it) succeeds
within seconds (the guest's instance-connect loop reads the key from IMDS), and is refused again once the key
has expired. Skipped without root, QEMU, libvirt or dnsmasq unless CLOUDLET_REQUIRE_VM_TESTS=1 (CI).
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from controller.ec2.instances.connect import open_tunnel, presigned_tunnel_url
from tests.e2e.helpers import (
    agent_rpc,
    delete_instance_connect_endpoints,
    teardown_vpc,
    terminate_all_instances,
)
from tests.prerequisites import missing_for_vms, require
from tests.support import CloudletProcess, wait_for

require(missing_for_vms(), "VM tests")
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow]

import paramiko  # noqa: E402
from websockets.exceptions import InvalidStatus  # noqa: E402

from tests.agent.compute_lab import build_tiny_image, ensure_libvirtd  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
KEY_SECONDS = 10


def tunnel(process: CloudletProcess, endpoint: dict[str, Any], address: str) -> socket.socket:
    """A socket whose far end is port 22 of ``address``, through the endpoint's presigned tunnel websocket."""
    session = botocore.session.Session()
    creds = process.root_credentials()
    session.set_credentials(creds.access_key_id, creds.secret_access_key)
    session.set_config_variable("region", process.region)
    url = presigned_tunnel_url(session, endpoint["DnsName"], endpoint["InstanceConnectEndpointId"], address, 22)
    ws = open_tunnel((process.data_dir / "instance-connect-url").read_text().strip(), url, timeout=5)
    ours, theirs = socket.socketpair()

    def outward() -> None:
        try:
            while data := theirs.recv(65536):
                ws.send(data)
        except OSError:
            pass
        ws.close()

    def inward() -> None:
        try:
            for message in ws:
                theirs.sendall(message)
        except Exception:  # noqa: BLE001 (the tunnel closed)
            pass
        theirs.close()

    for pump in (outward, inward):
        threading.Thread(target=pump, daemon=True).start()
    return ours


def login(process: CloudletProcess, endpoint: dict[str, Any], address: str, key: paramiko.PKey) -> str:
    """``ok`` (ran a command as root), ``refused`` (SSH answered, the key was not accepted) or ``unreachable``."""
    try:
        sock = tunnel(process, endpoint, address)
    except (OSError, InvalidStatus):
        return "unreachable"
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(address, username="root", pkey=key, sock=sock, timeout=5, banner_timeout=10, auth_timeout=10,
                       allow_agent=False, look_for_keys=False)
        _, stdout, _ = client.exec_command("id -u", timeout=10)
        return "ok" if stdout.read().decode().strip() == "0" else "refused"
    except paramiko.AuthenticationException:
        return "refused"
    except (OSError, paramiko.SSHException):
        return "unreachable"
    finally:
        client.close()


def throwaway_key() -> paramiko.PKey:
    """A new ED25519 key, as ``cloudlet ssh --eice`` or the EC2 console makes one per session."""
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


@pytest.fixture(scope="module")
def cloud() -> Iterator[tuple[CloudletProcess, str]]:
    """The cloud and its agent's namespace prefix; everything is removed at the end, also on failure."""
    ensure_libvirtd()
    build_tiny_image()
    run = secrets.token_hex(3)
    work = Path("/var/tmp") / f"cl-e2e-eic-{run}"  # QEMU and dnsmasq must traverse it: not under pytest's 0700
    work.mkdir(mode=0o755)
    process = CloudletProcess(work / "data", extra_env={"CLOUDLET_INSTANCE_CONNECT_KEY_SECONDS": str(KEY_SECONDS)})
    prefix = f"cl-i{run[:4]}-"
    agent: subprocess.Popen[bytes] | None = None
    try:
        process.start()
        env = {**{k: v for k, v in os.environ.items() if k != "CLOUDLET_COMPUTE_DIR"}, "PYTHONUNBUFFERED": "1"}
        agent = subprocess.Popen([sys.executable, "-m", "agent.main", "--controller", process.endpoint,
                                  "--token-file", str(work / "data" / "agent.token"), "--zone", "home-1a",
                                  "--state-dir", str(work / "agent"), "--name-prefix", prefix], cwd=REPO, env=env,
                                 stdout=(work / "agent.log").open("ab"), stderr=subprocess.STDOUT)
        wait_for(lambda: any(h.get("hypervisor") in ("kvm", "qemu") for h in agent_rpc(process, "GET", "/hosts")[
            "hosts"]), 90, "the agent to register a hypervisor", interval=0.5)
        yield process, prefix
    finally:
        _clean_up(process, agent, work, prefix)


def _clean_up(process: CloudletProcess, agent: subprocess.Popen[bytes] | None, work: Path, prefix: str) -> None:
    try:
        if process.proc is not None:
            ec2 = process.client("ec2")
            terminate_all_instances(ec2)
            delete_instance_connect_endpoints(ec2, [endpoint["InstanceConnectEndpointId"] for endpoint in
                                                    ec2.describe_instance_connect_endpoints()["InstanceConnectEndpoints"]])
            for vpc in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"]:
                teardown_vpc(ec2, vpc["VpcId"])
    except Exception as exc:  # noqa: BLE001 - cleanup goes on whatever happened
        print(f"cleanup: termination through the API failed: {exc}")
    if agent is not None and agent.poll() is None:
        agent.terminate()
        try:
            agent.wait(15)
        except subprocess.TimeoutExpired:
            agent.kill()
    subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix", prefix, "--state-dir",
                    str(work / "agent")], cwd=REPO, capture_output=True)
    process.stop()
    shutil.rmtree(work, ignore_errors=True)


def private_instance(ec2: Any, prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A running tiny-AMI instance in a private subnet of ``<prefix>.0.0/16`` that only the VPC's Instance
    Connect Endpoint reaches (its group admits SSH from the endpoint's group alone): the endpoint, the
    instance as described."""
    image_id = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["cloudlet-tiny-*"]}])[
        "Images"][0]["ImageId"]
    vpc_id = ec2.create_vpc(CidrBlock=f"{prefix}.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"{prefix}.1.0/24", AvailabilityZone="home-1a")["Subnet"][
        "SubnetId"]
    eice_group = ec2.create_security_group(GroupName="eice", Description="eice", VpcId=vpc_id)["GroupId"]
    ssh_group = ec2.create_security_group(GroupName="ssh", Description="ssh", VpcId=vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=ssh_group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": eice_group}]}])
    endpoint = ec2.create_instance_connect_endpoint(SubnetId=subnet, SecurityGroupIds=[eice_group])[
        "InstanceConnectEndpoint"]
    instance_id = ec2.run_instances(ImageId=image_id, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                    SubnetId=subnet, SecurityGroupIds=[ssh_group])["Instances"][0]["InstanceId"]

    def described() -> dict[str, Any]:
        return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    wait_for(lambda: described()["State"]["Name"] == "running", 120, "running")
    return endpoint, described()


def test_a_pushed_key_logs_in_for_its_lifetime_on_an_instance_without_a_key_pair(
        cloud: tuple[CloudletProcess, str]) -> None:
    process, _ = cloud
    ec2 = process.client("ec2")
    endpoint, described = private_instance(ec2, "10.82")
    instance_id = described["InstanceId"]
    assert "KeyName" not in described and "PublicIpAddress" not in described
    address = described["PrivateIpAddress"]
    key = throwaway_key()
    wait_for(lambda: login(process, endpoint, address, key) == "refused", 120,
             "SSH answering through the endpoint, without a key for us")
    pushed_at = time.monotonic()
    process.client("ec2-instance-connect").send_ssh_public_key(
        InstanceId=instance_id, InstanceOSUser="root", SSHPublicKey=f"{key.get_name()} {key.get_base64()} eic-test",
        AvailabilityZone=described["Placement"]["AvailabilityZone"])
    wait_for(lambda: login(process, endpoint, address, key) == "ok", KEY_SECONDS - 1, "a login with the pushed key")
    accepted_after = time.monotonic() - pushed_at
    time.sleep(max(0.0, pushed_at + KEY_SECONDS - time.monotonic()))
    wait_for(lambda: login(process, endpoint, address, key) == "refused", 5, "the expired key refused")
    print(f"\nSendSSHPublicKey to a login: {accepted_after:.1f} s")
    # The same path from the command line, as an IAM principal with its own credentials.
    creds = process.root_credentials()
    env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_DEFAULT_REGION": process.region,
           "AWS_ENDPOINT_URL": process.endpoint, "AWS_ACCESS_KEY_ID": creds.access_key_id,
           "AWS_SECRET_ACCESS_KEY": creds.secret_access_key}
    shell = subprocess.run([sys.executable, "-m", "controller.cli", "--data-dir", str(process.data_dir), "ssh",
                            "--eice", instance_id, "id", "-u"], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=40)
    assert (shell.returncode, shell.stdout.strip()) == (0, "0"), shell.stderr
