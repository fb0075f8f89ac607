"""The Cloudlet API from inside a VPC by AWS's own names, end to end, with no endpoint configured.

One ``cloudlet up`` with its agent (a name prefix of its own). The AWS CLI makes a VPC with an internet
gateway and a public subnet; a namespace instance with an Elastic IP is plugged in with ``cloudlet netns
attach``. Inside it, boto3 and the AWS CLI are given only the region, the role session's credentials and
``AWS_CA_BUNDLE`` (a namespace has no trust store of its own; the Debian AMI installs the CA from IMDS at
boot). They call ``https://sts.home-1.amazonaws.com`` and ``https://<bucket>.s3.home-1.amazonaws.com``,
which reach the agent's relay at 203.0.113.2 through the IGW: the controller sees the EIP as
``aws:SourceIp``. A role policy that allows S3 only from that address shows it, and shows that the same
``X-Cloudlet-*`` headers sent straight to the controller without the agents' token are ignored.

Names come from the VPC's resolver at base+2 (``/etc/netns/<ns>/resolv.conf``, read by ``ip netns exec``),
which answers the API names (and every bucket name below ``s3.home-1.amazonaws.com``) with the relay's address.
A namespace instance has no EC2 instance behind it, so IMDS has no credentials for it: the test assumes
the role as the instance profile's credentials would be minted (VM tests cover IMDS itself).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from agent.network import naming, netns
from tests.e2e.dataplane_helpers import addresses_in, wait_until
from tests.e2e.namespace_lab import NamespaceLab, running
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import CloudletProcess

require(missing_root() + missing_tools("nft", "dnsmasq", "nsenter"), "API reach tests")
pytestmark = pytest.mark.root

RUN = uuid.uuid4().hex[:6]
PREFIX = f"cl-{RUN}-"
VPC_CIDR, PUBLIC_CIDR, INSTANCE_IP = "10.78.0.0/16", "10.78.1.0/24", "10.78.1.10"
API_ADDRESS = "203.0.113.2"
VPC_RESOLVER = "10.78.0.2"
BUCKET = f"reach-{RUN}"

#: What runs in the instance: only the region is configured; the names resolve to the relay.
SDK_CALLS = r"""
import hashlib, io, json, sys, boto3
from boto3.s3.transfer import TransferConfig
session = boto3.session.Session(region_name="home-1")
sts, s3 = session.client("sts"), session.client("s3")
identity = sts.get_caller_identity()
big = bytes(range(256)) * (9 * 4096 + 3)  # over 8 MiB: a multipart upload
s3.upload_fileobj(io.BytesIO(big), sys.argv[1], "big", Config=TransferConfig(multipart_threshold=8 << 20))
s3.put_object(Bucket=sys.argv[1], Key="small", Body=b"hello from the VPC")
got = s3.get_object(Bucket=sys.argv[1], Key="big")["Body"].read()
print(json.dumps({"arn": identity["Arn"], "endpoint": sts.meta.endpoint_url, "s3": s3.meta.endpoint_url,
                  "big": hashlib.sha256(got).hexdigest() == hashlib.sha256(big).hexdigest(),
                  "small": s3.get_object(Bucket=sys.argv[1], Key="small")["Body"].read().decode()}))
"""


@dataclass
class Reach(NamespaceLab):
    eip: str = ""


def build(r: Reach) -> None:
    r.eip = r.public_subnet(VPC_CIDR, PUBLIC_CIDR, INSTANCE_IP)
    # The instance profile's role: S3 only from the instance's public address.
    r.role_session(f"reach-{RUN}", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": f"{r.eip}/32"}}}]}, trusted_services=("ec2.amazonaws.com",))
    r.bucket(BUCKET)
    r.plug_instance("inst", INSTANCE_IP)
    # The instance's resolver is the VPC's (base+2), as DHCP would announce it, and an empty hosts file:
    # every name comes from the VPC resolver.
    r.use_resolver(f"nameserver {VPC_RESOLVER}\n", hosts="127.0.0.1 localhost\n")
    internet = naming.internet_netns(PREFIX)
    wait_until(lambda: netns.exists(internet) and f"{API_ADDRESS}/32" in addresses_in(internet), 15,
               "the relay's address in the Internet namespace")
    wait_until(lambda: (r.cloudlet.data_dir / "api-ca.pem").exists(), 15, "the agent to fetch the relay's certificate")


@pytest.fixture(scope="module")
def reach(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reach]:
    data_dir = tmp_path_factory.mktemp("api-reach") / "data"
    cloud = CloudletProcess(data_dir, agent=True, extra_env={"CLOUDLET_AGENT_NAME_PREFIX": PREFIX})
    with running(Reach(cloud, PREFIX), build) as r:
        yield r


def test_boto3_in_the_instance_needs_only_the_region(reach: Reach) -> None:
    done = reach.in_instance(sys.executable, "-c", SDK_CALLS, BUCKET)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    assert seen["endpoint"] == "https://sts.home-1.amazonaws.com"
    assert seen["s3"] == "https://s3.home-1.amazonaws.com"
    assert seen["arn"] == f"arn:aws:sts::{reach.cloudlet.account_id}:assumed-role/reach-{RUN}/i-namespace"
    assert seen["big"] and seen["small"] == "hello from the VPC"


def test_the_vpc_resolver_answers_the_api_names_with_the_relay(reach: Reach) -> None:
    for name in ("sts.home-1.amazonaws.com", f"{BUCKET}.s3.home-1.amazonaws.com", "iam.amazonaws.com"):
        found = reach.in_instance("getent", "ahostsv4", name)
        assert found.returncode == 0 and found.stdout.split()[0] == API_ADDRESS, (name, found.stdout, found.stderr)


def test_the_aws_cli_in_the_instance_needs_only_the_region(reach: Reach) -> None:
    aws = str(Path(sys.executable).parent / "aws")
    identity = reach.in_instance(aws, "sts", "get-caller-identity", "--output", "json")
    assert identity.returncode == 0, identity.stderr
    assert json.loads(identity.stdout)["Arn"].endswith(f":assumed-role/reach-{RUN}/i-namespace")
    listed = reach.in_instance(aws, "s3", "ls", f"s3://{BUCKET}/")
    assert listed.returncode == 0 and " small" in listed.stdout, listed.stderr
    copied = reach.in_instance(aws, "s3", "cp", f"s3://{BUCKET}/small", "-")
    assert copied.returncode == 0 and copied.stdout == "hello from the VPC", copied.stderr


def test_relay_headers_without_the_agents_token_are_ignored(reach: Reach) -> None:
    """The role allows S3 only from the EIP: from the host, claiming the EIP in the relay's headers (with no
    token, or a wrong one) is still a call from 127.0.0.1, and is denied; with the agents' token it counts."""
    assert reach.session is not None
    s3 = reach.cloudlet.client("s3", reach.session)
    real_token = (reach.cloudlet.data_dir / "agent.token").read_text().strip()
    for token, allowed in ((None, False), ("guessed-token", False), (real_token, True)):
        forged = {"X-Cloudlet-Source-Ip": reach.eip, "X-Cloudlet-Via": "internet"}
        if token:
            forged["X-Cloudlet-Relay-Token"] = token

        def add(request: Any, forged: dict[str, str] = forged, **_: Any) -> None:
            for name, value in forged.items():
                request.headers[name] = value

        s3.meta.events.register_first("before-sign.s3.GetObject", add)
        try:
            if allowed:  # what only an agent can do: the relay's headers with the agents' token
                assert s3.get_object(Bucket=BUCKET, Key="small")["Body"].read() == b"hello from the VPC"
                continue
            with pytest.raises(s3.exceptions.ClientError) as denied:
                s3.get_object(Bucket=BUCKET, Key="small")
            assert denied.value.response["Error"]["Code"] == "AccessDenied"
        finally:
            s3.meta.events.unregister("before-sign.s3.GetObject", add)
    # The same forged headers, unsigned and straight at the controller, change nothing either.
    plain = requests.get(f"{reach.cloudlet.endpoint}/{BUCKET}/small", timeout=10,
                         headers={"X-Cloudlet-Source-Ip": reach.eip, "X-Cloudlet-Relay-Token": "x"})
    assert plain.status_code == 403
