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
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from agent.network import naming, netns
from tests.e2e.dataplane_helpers import addresses_in, wait_until
from tests.e2e.namespace_lab import NamespaceLab, running
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import CloudletProcess

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
class Lab(NamespaceLab):
    group: str = ""
    gateway: str = ""
    interface: str = ""
    endpoint_eni: str = ""
    endpoint_ip: str = ""

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
    t.before_vpc_teardown.append(lambda ec2: ec2.delete_vpc_endpoints(
        VpcEndpointIds=[e for e in (t.gateway, t.interface) if e]) if t.gateway or t.interface else None)
    t.gateway = t.aws("ec2", "create-vpc-endpoint", "--vpc-id", t.vpc_id, "--service-name",
                      "com.amazonaws.home-1.s3", "--route-table-ids", table)["VpcEndpoint"]["VpcEndpointId"]
    made = t.aws("ec2", "create-vpc-endpoint", "--vpc-id", t.vpc_id, "--vpc-endpoint-type", "Interface",
                 "--service-name", "com.amazonaws.home-1.sts", "--subnet-ids", subnet,
                 "--security-group-ids", t.group)["VpcEndpoint"]
    t.interface, t.endpoint_eni = made["VpcEndpointId"], made["NetworkInterfaceIds"][0]
    t.endpoint_ip = t.aws("ec2", "describe-network-interfaces", "--network-interface-ids", t.endpoint_eni)[
        "NetworkInterfaces"][0]["PrivateIpAddress"]

    # The instance's role: S3 only through the gateway endpoint.
    t.role_session(f"vpce-{RUN}", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceVpce": t.gateway}}}]})
    t.bucket(BUCKET).put_object(Bucket=BUCKET, Key="seed", Body=b"seeded")
    t.plug_instance("inst", INSTANCE_IP)
    t.use_resolver(f"nameserver {VPC_RESOLVER}\n", hosts="127.0.0.1 localhost\n")
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
    cloud = CloudletProcess(data_dir, agent=True, extra_env={"CLOUDLET_AGENT_NAME_PREFIX": PREFIX})
    with running(Lab(cloud, PREFIX), build) as t:
        yield t


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
