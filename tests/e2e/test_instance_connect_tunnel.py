"""EC2 Instance Connect Endpoint tunnels end to end, with namespaces: no VM.

One ``cloudlet up`` with its agent (a name prefix of its own). A VPC with one private subnet (no internet
gateway, no NAT), an Instance Connect Endpoint in it behind its own security group, and a namespace
instance plugged with ``cloudlet netns attach`` whose group opens 22 to the endpoint's group only. The
"sshd" is a banner-and-echo TCP server on port 22 inside the instance. From the host, the tunnel websocket,
presigned with SigV4 as AWS CLI v2 presigns it, carries bytes there and back; without the rule it cannot
connect; an IAM user without ``ec2-instance-connect:OpenTunnel`` is refused and one with it gets through; a
tampered signature is refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from websockets.exceptions import InvalidStatus

from agent.network import naming, netns
from controller.ec2.instances.connect import open_tunnel, presigned_tunnel_url
from tests.e2e.dataplane_helpers import addresses_in, wait_until
from tests.e2e.helpers import delete_instance_connect_endpoints
from tests.e2e.namespace_lab import NamespaceLab, running
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import REPO, CloudletProcess, Credentials

require(missing_root() + missing_tools("nft", "dnsmasq"), "Instance Connect tunnel tests")
pytestmark = pytest.mark.root

RUN = uuid.uuid4().hex[:6]
PREFIX = f"cl-{RUN}-"
VPC_CIDR, SUBNET_CIDR, INSTANCE_IP = "10.81.0.0/16", "10.81.1.0/24", "10.81.1.10"
BANNER = b"SSH-2.0-cloudlet-test\r\n"

#: The instance's port 22: a banner, then an echo of every line.
SERVER = r"""
import socket, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 22)); srv.listen(16)
def serve(conn):
    conn.sendall(b"SSH-2.0-cloudlet-test\r\n")
    while data := conn.recv(65536):
        conn.sendall(data)
    conn.close()
while True:
    threading.Thread(target=serve, args=(srv.accept()[0],), daemon=True).start()
"""


@dataclass
class Lab(NamespaceLab):
    instance_group: str = ""
    endpoint_group: str = ""
    endpoint: dict[str, Any] = field(default_factory=dict)

    def listener(self) -> str:
        return (self.cloudlet.data_dir / "instance-connect-url").read_text().strip()

    def url(self, creds: Credentials, port: int = 22, ip: str = INSTANCE_IP) -> str:
        session = botocore.session.Session()
        session.set_credentials(creds.access_key_id, creds.secret_access_key, creds.session_token)
        session.set_config_variable("region", "home-1")
        return presigned_tunnel_url(session, self.endpoint["DnsName"], self.endpoint["InstanceConnectEndpointId"],
                                    ip, port)

    def echo(self, creds: Credentials | None = None, url: str | None = None) -> bytes:
        """The banner and the echo of one line through a tunnel, or the refusal's status and body."""
        try:
            ws = open_tunnel(self.listener(), url or self.url(creds or self.cloudlet.root_credentials()), timeout=15)
        except InvalidStatus as exc:
            return f"{exc.response.status_code} {exc.response.body.decode()}".encode()
        try:
            got = b""
            while not got.endswith(b"\r\n"):
                got += ws.recv(timeout=10)
            ws.send(b"hello through the tunnel\n")
            echoed = b""
            while not echoed.endswith(b"\n"):
                echoed += ws.recv(timeout=10)
            return got + echoed
        finally:
            ws.close()


def build(t: Lab) -> None:
    t.vpc_id = t.aws("ec2", "create-vpc", "--cidr-block", VPC_CIDR)["Vpc"]["VpcId"]
    subnet = t.aws("ec2", "create-subnet", "--vpc-id", t.vpc_id, "--cidr-block", SUBNET_CIDR,
                   "--availability-zone", "home-1a")["Subnet"]["SubnetId"]
    t.endpoint_group = t.aws("ec2", "create-security-group", "--group-name", f"eice-{RUN}", "--description", "eice",
                             "--vpc-id", t.vpc_id)["GroupId"]
    t.instance_group = t.aws("ec2", "create-security-group", "--group-name", f"inst-{RUN}", "--description", "inst",
                             "--vpc-id", t.vpc_id)["GroupId"]
    t.eni = t.aws("ec2", "create-network-interface", "--subnet-id", subnet, "--private-ip-address", INSTANCE_IP,
                  "--groups", t.instance_group)["NetworkInterface"]["NetworkInterfaceId"]
    t.endpoint = t.aws("ec2", "create-instance-connect-endpoint", "--subnet-id", subnet,
                       "--security-group-ids", t.endpoint_group)["InstanceConnectEndpoint"]
    t.before_vpc_teardown.append(_delete_endpoint(t))
    endpoint_eni = t.endpoint["NetworkInterfaceIds"][0]
    endpoint_ip = t.aws("ec2", "describe-network-interfaces", "--network-interface-ids", endpoint_eni)[
        "NetworkInterfaces"][0]["PrivateIpAddress"]

    instance = t.plug_instance("inst", INSTANCE_IP)
    t.processes.append(subprocess.Popen(["ip", "netns", "exec", instance.netns, sys.executable, "-c", SERVER],
                                        start_new_session=True))
    endpoint_ns = naming.service_netns(PREFIX, endpoint_eni)
    wait_until(lambda: netns.exists(endpoint_ns) and f"{endpoint_ip}/24" in addresses_in(endpoint_ns), 20,
               "the endpoint's address in its namespace")
    wait_until(lambda: t.aws("ec2", "describe-instance-connect-endpoints", "--instance-connect-endpoint-ids",
                             t.endpoint["InstanceConnectEndpointId"])["InstanceConnectEndpoints"][0]["State"]
               == "create-complete", 15, "the endpoint to be create-complete")


@pytest.fixture(scope="module")
def tunnel_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("eice-tunnel") / "data") as t:
        yield t


def _delete_endpoint(t: Lab) -> Callable[[Any], None]:
    def delete(ec2: Any) -> None:
        delete_instance_connect_endpoints(ec2, [t.endpoint["InstanceConnectEndpointId"]])

    return delete


@contextmanager
def running_lab(data_dir: Path) -> Iterator[Lab]:
    """The cloud, the VPC, the endpoint and the instance (bench/bench_eice_tunnel.py uses it too)."""
    cloud = CloudletProcess(data_dir, agent=True, extra_env={"CLOUDLET_AGENT_NAME_PREFIX": PREFIX})
    with running(Lab(cloud, PREFIX), build) as t:
        yield t


def _open_22(t: Lab, action: str) -> None:
    t.aws("ec2", f"{action}-security-group-ingress", "--group-id", t.instance_group, "--ip-permissions",
          json.dumps([{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                       "UserIdGroupPairs": [{"GroupId": t.endpoint_group}]}]))


def test_the_security_group_decides_and_bytes_go_through(tunnel_lab: Lab) -> None:
    closed = tunnel_lab.echo()
    assert closed.startswith(b"408 RequestTimeout"), closed
    _open_22(tunnel_lab, "authorize")
    wait_until(lambda: tunnel_lab.echo() == BANNER + b"hello through the tunnel\n", 15, "the tunnel to carry bytes")


def _user(t: Lab, name: str, policy: dict[str, Any] | None) -> Credentials:
    iam = t.cloudlet.client("iam")
    iam.create_user(UserName=name)
    t.cleanup.append(lambda: iam.delete_user(UserName=name))
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="eice", PolicyDocument=json.dumps(policy))
        t.cleanup.append(lambda: iam.delete_user_policy(UserName=name, PolicyName="eice"))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    t.cleanup.append(lambda: iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"]))
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def test_iam_decides_who_opens_a_tunnel(tunnel_lab: Lab) -> None:
    t = tunnel_lab
    if t.echo().startswith(b"408"):  # run alone, the first test did not open 22 yet
        _open_22(t, "authorize")
    allowed = _user(t, f"eice-yes-{RUN}", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ec2-instance-connect:OpenTunnel", "Resource": t.endpoint["InstanceConnectEndpointArn"],
        "Condition": {"NumericEquals": {"ec2-instance-connect:remotePort": "22"},
                      "IpAddress": {"ec2-instance-connect:privateIpAddress": SUBNET_CIDR}}}]})
    refused = _user(t, f"eice-no-{RUN}", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ec2-instance-connect:SendSSHPublicKey", "Resource": "*"}]})
    wait_until(lambda: t.echo(allowed) == BANNER + b"hello through the tunnel\n", 15, "the allowed user's tunnel")
    denied = t.echo(refused)
    assert denied.startswith(b"403 AccessDeniedException") and b"ec2-instance-connect:OpenTunnel" in denied, denied
    other_port = t.echo(url=t.url(allowed, port=2222))
    assert other_port.startswith(b"403 AccessDeniedException"), other_port


def test_a_bad_signature_or_request_is_refused(tunnel_lab: Lab) -> None:
    t = tunnel_lab
    url = t.url(t.cloudlet.root_credentials())
    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    tampered = url.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
    refused = t.echo(url=tampered)
    assert refused.startswith(b"403 SignatureDoesNotMatch"), refused
    outside = t.echo(url=t.url(t.cloudlet.root_credentials(), ip="10.99.0.5"))
    assert outside.startswith(b"400 ValidationException"), outside


def test_cloudlet_eice_proxy_bridges_stdio_to_the_tunnel(tunnel_lab: Lab) -> None:
    """What ``cloudlet ssh --eice`` gives ssh as its ProxyCommand, with the caller's credentials from the
    environment (as a profile would give them)."""
    t = tunnel_lab
    creds = t.cloudlet.root_credentials()
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_DEFAULT_REGION": "home-1",
           "AWS_ACCESS_KEY_ID": creds.access_key_id, "AWS_SECRET_ACCESS_KEY": creds.secret_access_key}
    proxy = subprocess.Popen(
        [sys.executable, "-m", "controller.cli", "--data-dir", str(t.cloudlet.data_dir), "eice-proxy",
         "--dns-name", t.endpoint["DnsName"], "--endpoint-id", t.endpoint["InstanceConnectEndpointId"],
         "--private-ip", INSTANCE_IP], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proxy.stdout is not None and proxy.stdin is not None
        assert proxy.stdout.readline() == BANNER
        proxy.stdin.write(b"from the proxy\n")
        proxy.stdin.flush()
        assert proxy.stdout.readline() == b"from the proxy\n"
        proxy.stdin.close()
        assert proxy.wait(timeout=15) == 0
    finally:
        proxy.kill()
        proxy.wait()


def test_the_audit_trail_records_each_open_tunnel(tunnel_lab: Lab) -> None:
    t = tunnel_lab
    t.echo()
    trail = t.cloudlet.client("cloudtrail")

    def opened() -> list[dict[str, Any]]:
        return trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "OpenTunnel"}])[
            "Events"]

    wait_until(lambda: opened(), 10, "OpenTunnel in the audit trail")
    event = json.loads(opened()[0]["CloudTrailEvent"])
    assert event["eventSource"] == "ec2-instance-connect.amazonaws.com"
    assert event["requestParameters"]["instanceConnectEndpointId"] == t.endpoint["InstanceConnectEndpointId"]
