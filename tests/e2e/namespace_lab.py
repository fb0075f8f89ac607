"""The frame the reach tests share: one ``cloudlet up`` with its agent, a VPC, and a namespace instance in it.

Each test module builds its own VPC (an uplink, endpoints, an Instance Connect Endpoint...) on a
:class:`NamespaceLab` subclass and runs it with :func:`running`, which tears everything down in the same
order whatever failed: the instances' interfaces, the first one's Elastic IP, the module's own resources, the
VPC, the module's cleanups, then the namespace instances, ``cloudlet up`` and whatever the agent left, and
finally checks that no namespace with the run's prefix is left behind.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from agent.network import netns
from tests.agent import dataplane_lab as lab
from tests.e2e.dataplane_helpers import addresses_in, wait_until
from tests.e2e.helpers import teardown_vpc
from tests.support import REPO, CloudletProcess, Credentials


@dataclass
class NamespaceLab:
    cloudlet: CloudletProcess
    prefix: str
    instance: lab.Instance | None = None
    vpc_id: str = ""
    eni: str = ""
    allocation: str = ""
    session: Credentials | None = None
    etc: Path | None = None
    #: Run with the EC2 client before the VPC is torn down (endpoints that hold interfaces in it).
    before_vpc_teardown: list[Callable[[Any], None]] = field(default_factory=list)
    #: Run last to first once the VPC is gone, while the cloud still runs (roles, users, buckets).
    cleanup: list[Callable[[], Any]] = field(default_factory=list)
    #: Processes started inside the instance, killed before it is destroyed.
    processes: list[subprocess.Popen] = field(default_factory=list)
    #: Further namespace instances by their interface (:meth:`plug`), detached and destroyed with the first.
    extra: dict[str, lab.Instance] = field(default_factory=dict)

    def aws(self, *args: str) -> Any:
        out = self.cloudlet.aws(*args, "--output", "json")
        return json.loads(out.stdout) if out.stdout.strip() else {}

    def netns_cli(self, *args: str) -> None:
        out = subprocess.run([sys.executable, "-m", "controller.cli", "netns", "--data-dir", str(self.cloudlet.data_dir),
                              *args], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr

    def plug_instance(self, name: str, address: str) -> lab.Instance:
        """A namespace instance on ``self.eni`` once the agent has converged, holding ``address``."""
        self.instance = lab.create_instance(f"{self.prefix}{name}")
        self._attach(self.eni, self.instance, address)
        return self.instance

    def plug(self, eni: str, name: str, address: str) -> lab.Instance:
        """Another namespace instance, on ``eni``, holding ``address``."""
        instance = self.extra[eni] = lab.create_instance(f"{self.prefix}{name}")
        self._attach(eni, instance, address)
        return instance

    def _attach(self, eni: str, instance: lab.Instance, address: str) -> None:
        status = self.cloudlet.data_dir / "agent" / "status.json"
        wait_until(lambda: status.exists() and "network" in json.loads(status.read_text()).get("applied", {}), 30,
                   "the agent to register and converge")
        self.netns_cli("attach", eni, instance.netns)
        wait_until(lambda: f"{address}/24" in addresses_in(instance.netns), 15, "the instance's address")

    def public_subnet(self, vpc_cidr: str, subnet_cidr: str, address: str) -> str:
        """A VPC whose subnet routes to an internet gateway, and ``self.eni`` in it at ``address`` with an
        Elastic IP: the Internet way in and out for a namespace instance. Returns the EIP."""
        self.vpc_id = self.aws("ec2", "create-vpc", "--cidr-block", vpc_cidr)["Vpc"]["VpcId"]
        subnet = self.aws("ec2", "create-subnet", "--vpc-id", self.vpc_id, "--cidr-block", subnet_cidr,
                          "--availability-zone", "home-1a")["Subnet"]["SubnetId"]
        igw = self.aws("ec2", "create-internet-gateway")["InternetGateway"]["InternetGatewayId"]
        self.aws("ec2", "attach-internet-gateway", "--internet-gateway-id", igw, "--vpc-id", self.vpc_id)
        table = self.aws("ec2", "create-route-table", "--vpc-id", self.vpc_id)["RouteTable"]["RouteTableId"]
        self.aws("ec2", "create-route", "--route-table-id", table, "--destination-cidr-block", "0.0.0.0/0",
                 "--gateway-id", igw)
        self.aws("ec2", "associate-route-table", "--route-table-id", table, "--subnet-id", subnet)
        self.eni = self.aws("ec2", "create-network-interface", "--subnet-id", subnet,
                            "--private-ip-address", address)["NetworkInterface"]["NetworkInterfaceId"]
        allocated = self.aws("ec2", "allocate-address", "--domain", "vpc")
        self.allocation = allocated["AllocationId"]
        self.aws("ec2", "associate-address", "--allocation-id", self.allocation, "--network-interface-id", self.eni)
        return allocated["PublicIp"]

    def use_resolver(self, resolv_conf: str, hosts: str | None = None) -> None:
        """The instance's resolver, as DHCP would announce it: ``ip netns exec`` puts these files in place."""
        assert self.instance is not None
        self.etc = Path("/etc/netns") / self.instance.netns
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "resolv.conf").write_text(resolv_conf)
        if hosts is not None:
            (self.etc / "hosts").write_text(hosts)

    def in_instance(self, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the instance with ``ip netns exec``; with a session, as an SDK that knows only the region."""
        assert self.instance is not None
        clean = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent"}
        if self.session is not None:
            clean |= {"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                      "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "home-1",
                      "AWS_CA_BUNDLE": str(self.cloudlet.data_dir / "api-ca.pem"),
                      "AWS_ACCESS_KEY_ID": self.session.access_key_id,
                      "AWS_SECRET_ACCESS_KEY": self.session.secret_access_key,
                      "AWS_SESSION_TOKEN": self.session.session_token or ""}
        return subprocess.run(["ip", "netns", "exec", self.instance.netns, *argv], env=clean | (env or {}),
                              capture_output=True, text=True, timeout=120)

    def role_session(self, role_name: str, policy: dict[str, Any], *, trusted_services: tuple[str, ...] = ()) -> None:
        """``self.session``: a session of a new role allowed ``policy``, as an instance profile would give it.

        Roots may not assume roles, so a new user that may stands in for EC2 minting the profile's session.
        """
        iam = self.cloudlet.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [
            *({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
              for service in trusted_services),
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{self.cloudlet.account_id}:root"},
             "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        self.cleanup.append(lambda: iam.delete_role(RoleName=role_name))
        iam.put_role_policy(RoleName=role_name, PolicyName="access", PolicyDocument=json.dumps(policy))
        self.cleanup.append(lambda: iam.delete_role_policy(RoleName=role_name, PolicyName="access"))
        user = f"minter-{role_name}"
        iam.create_user(UserName=user)
        self.cleanup.append(lambda: iam.delete_user(UserName=user))
        iam.put_user_policy(UserName=user, PolicyName="assume", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
        self.cleanup.append(lambda: iam.delete_user_policy(UserName=user, PolicyName="assume"))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        self.cleanup.append(lambda: iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"]))
        sts = self.cloudlet.client("sts", Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
        found: dict[str, Any] = {}

        def assumed() -> bool:  # the new key's first use may race its write
            try:
                found.update(sts.assume_role(RoleArn=role["Arn"], RoleSessionName="i-namespace")["Credentials"])
            except sts.exceptions.ClientError:
                return False
            return True

        wait_until(assumed, 10, "AssumeRole with the new user's key", interval=0.2)
        self.session = Credentials(found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"])

    def bucket(self, name: str) -> Any:
        """A new bucket, emptied and deleted at the end; the root's S3 client."""
        s3 = self.cloudlet.client("s3")
        s3.create_bucket(Bucket=name)

        def empty_and_delete() -> None:
            for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
                s3.delete_object(Bucket=name, Key=item["Key"])
            s3.delete_bucket(Bucket=name)

        self.cleanup.append(empty_and_delete)
        return s3


Lab = TypeVar("Lab", bound=NamespaceLab)


@contextmanager
def running(t: Lab, build: Callable[[Lab], None]) -> Iterator[Lab]:
    """``cloudlet up``, ``build(t)``, the tests, then everything taken down (see the module's docstring)."""
    try:
        t.cloudlet.start()
        build(t)
        yield t
    finally:
        try:
            if t.cloudlet.proc is not None:
                _take_down_cloud_resources(t)
        finally:
            for process in t.processes:
                process.kill()
                process.wait()
            if t.etc is not None:
                shutil.rmtree(t.etc, ignore_errors=True)
            for instance in [*t.extra.values(), *([t.instance] if t.instance is not None else [])]:
                lab.destroy(instance)
            t.cloudlet.stop()
            subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix", t.prefix,
                            "--state-dir", str(t.cloudlet.data_dir / "agent")], cwd=REPO, capture_output=True,
                           timeout=60)
            leftovers = [name for name in netns.list_names() if name.startswith(t.prefix)]
            assert not leftovers, f"namespaces left behind: {leftovers}"


def _take_down_cloud_resources(t: NamespaceLab) -> None:
    ec2 = t.cloudlet.client("ec2")
    if t.vpc_id:
        for eni in [*([t.eni] if t.eni else []), *t.extra]:  # whether or not the build got as far as plugging
            subprocess.run([sys.executable, "-m", "controller.cli", "netns", "--data-dir", str(t.cloudlet.data_dir),
                            "detach", eni], cwd=REPO, capture_output=True, timeout=60)
        if t.allocation:
            for address in ec2.describe_addresses(AllocationIds=[t.allocation])["Addresses"]:
                if address.get("AssociationId"):
                    ec2.disassociate_address(AssociationId=address["AssociationId"])
            ec2.release_address(AllocationId=t.allocation)
        for hook in t.before_vpc_teardown:
            hook(ec2)
        teardown_vpc(ec2, t.vpc_id)
    for undo in reversed(t.cleanup):
        undo()
