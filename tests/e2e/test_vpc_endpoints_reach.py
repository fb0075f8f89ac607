"""VPC endpoints end to end: a private subnet with no way out reaches S3 through a gateway endpoint and STS
through an interface endpoint, by AWS's names, and the endpoint policy decides.

One ``cloudlet up`` with its agent (a name prefix of its own). The AWS CLI makes a VPC with one subnet and
no internet gateway; its route table routes the S3 prefix list to a gateway endpoint, and an STS interface
endpoint (private DNS, a security group opening 443 to the VPC) has its ENI in the subnet. A namespace
instance is plugged in with ``cloudlet netns attach``; its resolver is the VPC's (base+2). boto3 inside it
has only the region, a role session's credentials and ``AWS_CA_BUNDLE``. The role allows S3 only with
``aws:SourceVpce`` the gateway endpoint, so an allowed call proves the path; the interface endpoint's
security group, closed, cuts STS and not S3.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.network import naming, netns
from tests.agent import dataplane_lab as lab
from tests.e2e.dataplane_helpers import addresses_in, wait_until
from tests.e2e.helpers import teardown_vpc
from tests.e2e.test_api_reach import wait_until_assumed
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import REPO, CloudletProcess, Credentials

require(missing_root() + missing_tools("nft", "dnsmasq", "nsenter"), "VPC endpoint reach tests")
pytestmark = pytest.mark.root

RUN = uuid.uuid4().hex[:6]
PREFIX = f"cl-{RUN}-"
VPC_CIDR, SUBNET_CIDR, INSTANCE_IP = "10.79.0.0/16", "10.79.1.0/24", "10.79.1.10"
VPC_RESOLVER = "10.79.0.2"
BUCKET = f"vpce-{RUN}"
STS_NAME = "sts.home-1.amazonaws.com"

#: What runs in the instance: each call's outcome (the answer, or the error code / failure kind).
SDK_CALLS = r"""
import json, sys, boto3, botocore.config, botocore.exceptions
config = botocore.config.Config(connect_timeout=2, read_timeout=20, retries={"max_attempts": 1})
session = boto3.session.Session(region_name="home-1")
# A client (so a connection) per call: a denied PutObject's connection, reused through the relay, answers the
# next call with a bare 400 (reported to the relay's owner).
client = lambda name: session.client(name, config=config)  # noqa: E731
calls = {"sts": lambda: client("sts").get_caller_identity()["Arn"],
         "put": lambda: client("s3").put_object(Bucket=sys.argv[1], Key="from-vpc", Body=b"via the endpoint") and "ok",
         "get": lambda: client("s3").get_object(Bucket=sys.argv[1], Key="seed")["Body"].read().decode()}
seen = {}
for name, call in calls.items():
    try:
        seen[name] = call()
    except botocore.exceptions.ClientError as exc:
        seen[name] = exc.response["Error"]["Code"]
    except botocore.exceptions.BotoCoreError as exc:
        seen[name] = type(exc).__name__
print(json.dumps(seen))
"""


@dataclass
class Lab:
    cloudlet: CloudletProcess
    instance: lab.Instance | None = None
    vpc_id: str = ""
    eni: str = ""
    group: str = ""
    gateway: str = ""
    interface: str = ""
    endpoint_eni: str = ""
    endpoint_ip: str = ""
    session: Credentials | None = None
    etc: Path | None = None
    cleanup: list[Any] = field(default_factory=list)

    def aws(self, *args: str) -> Any:
        out = self.cloudlet.aws(*args, "--output", "json")
        return json.loads(out.stdout) if out.stdout.strip() else {}

    def in_instance(self, *argv: str) -> subprocess.CompletedProcess[str]:
        assert self.instance is not None and self.session is not None
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
               "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_DEFAULT_REGION": "home-1", "AWS_CA_BUNDLE": str(self.cloudlet.data_dir / "api-ca.pem"),
               "AWS_ACCESS_KEY_ID": self.session.access_key_id,
               "AWS_SECRET_ACCESS_KEY": self.session.secret_access_key,
               "AWS_SESSION_TOKEN": self.session.session_token or ""}
        return subprocess.run(["ip", "netns", "exec", self.instance.netns, *argv], env=env, capture_output=True,
                              text=True, timeout=120)

    def calls(self) -> dict[str, str]:
        done = self.in_instance(sys.executable, "-c", SDK_CALLS, BUCKET)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)


def build(t: Lab) -> None:
    t.vpc_id = t.aws("ec2", "create-vpc", "--cidr-block", VPC_CIDR)["Vpc"]["VpcId"]
    t.aws("ec2", "modify-vpc-attribute", "--vpc-id", t.vpc_id, "--enable-dns-hostnames", '{"Value": true}')
    subnet = t.aws("ec2", "create-subnet", "--vpc-id", t.vpc_id, "--cidr-block", SUBNET_CIDR,
                   "--availability-zone", "home-1a")["Subnet"]["SubnetId"]
    table = t.aws("ec2", "create-route-table", "--vpc-id", t.vpc_id)["RouteTable"]["RouteTableId"]
    t.aws("ec2", "associate-route-table", "--route-table-id", table, "--subnet-id", subnet)
    t.eni = t.aws("ec2", "create-network-interface", "--subnet-id", subnet,
                  "--private-ip-address", INSTANCE_IP)["NetworkInterface"]["NetworkInterfaceId"]
    t.group = t.aws("ec2", "create-security-group", "--group-name", f"api-{RUN}", "--description", "the API",
                    "--vpc-id", t.vpc_id)["GroupId"]
    t.aws("ec2", "authorize-security-group-ingress", "--group-id", t.group, "--protocol", "tcp", "--port", "443",
          "--cidr", VPC_CIDR)
    t.gateway = t.aws("ec2", "create-vpc-endpoint", "--vpc-id", t.vpc_id, "--service-name",
                      "com.amazonaws.home-1.s3", "--route-table-ids", table)["VpcEndpoint"]["VpcEndpointId"]
    made = t.aws("ec2", "create-vpc-endpoint", "--vpc-id", t.vpc_id, "--vpc-endpoint-type", "Interface",
                 "--service-name", "com.amazonaws.home-1.sts", "--subnet-ids", subnet,
                 "--security-group-ids", t.group)["VpcEndpoint"]
    t.interface, t.endpoint_eni = made["VpcEndpointId"], made["NetworkInterfaceIds"][0]
    t.endpoint_ip = t.aws("ec2", "describe-network-interfaces", "--network-interface-ids", t.endpoint_eni)[
        "NetworkInterfaces"][0]["PrivateIpAddress"]

    # The instance's role: S3 only through the gateway endpoint.
    iam = t.cloudlet.client("iam")
    role_name = f"vpce-{RUN}"
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{t.cloudlet.account_id}:root"},
         "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    t.cleanup.append(lambda: iam.delete_role(RoleName=role_name))
    iam.put_role_policy(RoleName=role_name, PolicyName="s3-through-the-endpoint", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                                "Condition": {"StringEquals": {"aws:SourceVpce": t.gateway}}}]}))
    t.cleanup.append(lambda: iam.delete_role_policy(RoleName=role_name, PolicyName="s3-through-the-endpoint"))
    user = f"minter-{RUN}"
    iam.create_user(UserName=user)
    t.cleanup.append(lambda: iam.delete_user(UserName=user))
    iam.put_user_policy(UserName=user, PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    t.cleanup.append(lambda: iam.delete_user_policy(UserName=user, PolicyName="assume"))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    t.cleanup.append(lambda: iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"]))
    creds = wait_until_assumed(t.cloudlet.client("sts", Credentials(key["AccessKeyId"], key["SecretAccessKey"])),
                               role["Arn"])
    t.session = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    s3 = t.cloudlet.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="seed", Body=b"seeded")

    def empty_and_delete() -> None:
        for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])
        s3.delete_bucket(Bucket=BUCKET)

    t.cleanup.append(empty_and_delete)

    t.instance = lab.create_instance(f"{PREFIX}inst")
    status = t.cloudlet.data_dir / "agent" / "status.json"
    wait_until(lambda: status.exists() and "network" in json.loads(status.read_text()).get("applied", {}), 30,
               "the agent to register and converge")
    subprocess.run([sys.executable, "-m", "controller.cli", "netns", "--data-dir", str(t.cloudlet.data_dir),
                    "attach", t.eni, t.instance.netns], cwd=REPO, check=True, capture_output=True, timeout=60)
    wait_until(lambda: f"{INSTANCE_IP}/24" in addresses_in(t.instance.netns), 15, "the instance's address")
    t.etc = Path("/etc/netns") / t.instance.netns
    t.etc.mkdir(parents=True, exist_ok=True)
    (t.etc / "resolv.conf").write_text(f"nameserver {VPC_RESOLVER}\n")
    (t.etc / "hosts").write_text("127.0.0.1 localhost\n")
    endpoint_ns = naming.service_netns(PREFIX, t.endpoint_eni)
    wait_until(lambda: netns.exists(endpoint_ns) and f"{t.endpoint_ip}/24" in addresses_in(endpoint_ns), 20,
               "the interface endpoint's address in its namespace")
    wait_until(lambda: (t.cloudlet.data_dir / "api-ca.pem").exists(), 15, "the agent to fetch the relay's certificate")
    # The relay opens its listeners right after the agent's apply addresses the endpoint: wait for both paths.
    wait_until(lambda: t.calls()["get"] == "seeded" and t.calls()["sts"].startswith("arn:"), 20,
               "the relay to listen behind both endpoints", interval=0.5)


@pytest.fixture(scope="module")
def endpoints_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    data_dir = tmp_path_factory.mktemp("vpce-reach") / "data"
    t = Lab(CloudletProcess(data_dir, agent=True, extra_env={"CLOUDLET_AGENT_NAME_PREFIX": PREFIX}))
    try:
        t.cloudlet.start()
        build(t)
        yield t
    finally:
        try:
            if t.vpc_id and t.cloudlet.proc is not None:
                if t.eni:
                    subprocess.run([sys.executable, "-m", "controller.cli", "netns", "--data-dir", str(data_dir),
                                    "detach", t.eni], cwd=REPO, capture_output=True, timeout=60)
                ec2 = t.cloudlet.client("ec2")
                made = [e for e in (t.gateway, t.interface) if e]
                if made:
                    ec2.delete_vpc_endpoints(VpcEndpointIds=made)
                teardown_vpc(ec2, t.vpc_id)
            for undo in reversed(t.cleanup):
                undo()
        finally:
            if t.etc is not None:
                shutil.rmtree(t.etc, ignore_errors=True)
            if t.instance is not None:
                lab.destroy(t.instance)
            t.cloudlet.stop()
            subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix", PREFIX,
                            "--state-dir", str(data_dir / "agent")], cwd=REPO, capture_output=True, timeout=60)
            leftovers = [name for name in netns.list_names() if name.startswith(PREFIX)]
            assert not leftovers, f"namespaces left behind: {leftovers}"


def test_a_private_subnet_reaches_s3_and_sts_through_its_endpoints(endpoints_lab: Lab) -> None:
    found = endpoints_lab.in_instance("getent", "ahostsv4", STS_NAME)
    assert found.returncode == 0 and found.stdout.split()[0] == endpoints_lab.endpoint_ip, found.stdout
    seen = endpoints_lab.calls()
    assert seen == {"sts": f"arn:aws:sts::{endpoints_lab.cloudlet.account_id}:assumed-role/vpce-{RUN}/i-namespace",
                    "put": "ok", "get": "seeded"}


def test_the_gateway_endpoint_policy_decides_what_goes_through(endpoints_lab: Lab) -> None:
    deny_put = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}]})
    endpoints_lab.aws("ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", endpoints_lab.gateway,
                      "--policy-document", deny_put)
    try:
        seen = endpoints_lab.calls()
        assert (seen["put"], seen["get"]) == ("AccessDenied", "seeded")
    finally:
        endpoints_lab.aws("ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", endpoints_lab.gateway, "--reset-policy")


def test_the_interface_endpoint_is_behind_its_security_group(endpoints_lab: Lab) -> None:
    endpoints_lab.aws("ec2", "revoke-security-group-ingress", "--group-id", endpoints_lab.group, "--protocol", "tcp",
                      "--port", "443", "--cidr", VPC_CIDR)
    seen = endpoints_lab.calls()
    assert seen["get"] == "seeded" and seen["sts"] in ("ConnectTimeoutError", "EndpointConnectionError"), seen
