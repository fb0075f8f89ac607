"""Helpers the end-to-end tests share: AWS errors, IAM policies, users and their cleanup, VPC teardown.

Plain functions over boto3 clients of the shared ``cloudlet up`` (fixtures that build on them are in
``tests/e2e/conftest.py``), so no test module imports another.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from tests.support import REPO, CloudletProcess, Credentials, wait_for

#: A boto3 client (botocore builds their classes at run time).
Client = Any


# --- errors -------------------------------------------------------------------------------------------------

def error_of(excinfo: pytest.ExceptionInfo) -> tuple[str, int]:
    """AWS's error code and HTTP status of a refused boto3 call."""
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def denied(call: Any, *args: Any, **kwargs: Any) -> tuple[str, int, str]:
    """Call an API that must be refused; returns (code, status, message) for the test to check."""
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call(*args, **kwargs)
    code, status = error_of(excinfo)
    return code, status, excinfo.value.response["Error"]["Message"]


def refused(call: Callable[..., Any], code: str, **params: Any) -> str:
    """Call an API that must fail with ``code`` (HTTP 400); returns AWS's message."""
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call(**params)
    got, status = error_of(excinfo)
    message = excinfo.value.response["Error"]["Message"]
    assert (got, status) == (code, 400), message
    return message


def eventually(check: Callable[[], Any], timeout: float = 40.0) -> Any:
    """The first truthy answer of ``check``, asked every half second (background workers act every few
    seconds); fails when ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            assert answer, "condition not reached in time"
            return answer
        time.sleep(0.5)


# --- IAM: policies, users, cleanup --------------------------------------------------------------------------

def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


class Cleanup:
    """Deletes what a test created, dependents first, whatever state the test left it in."""

    def __init__(self, iam: Any) -> None:
        self.iam = iam
        self.users: list[str] = []
        self.groups: list[str] = []
        self.roles: list[str] = []
        self.policies: list[str] = []
        self.profiles: list[str] = []

    def run(self) -> None:
        iam = self.iam
        for name in self.profiles:
            self._quietly(lambda n=name: [iam.remove_role_from_instance_profile(InstanceProfileName=n,
                                                                                 RoleName=r["RoleName"])
                                          for r in iam.get_instance_profile(InstanceProfileName=n)
                                          ["InstanceProfile"]["Roles"]])
            self._quietly(lambda n=name: iam.delete_instance_profile(InstanceProfileName=n))
        for name in self.users:
            self._quietly(lambda n=name: [iam.delete_access_key(UserName=n, AccessKeyId=k["AccessKeyId"])
                                          for k in iam.list_access_keys(UserName=n)["AccessKeyMetadata"]])
            self._quietly(lambda n=name: [iam.remove_user_from_group(UserName=n, GroupName=g["GroupName"])
                                          for g in iam.list_groups_for_user(UserName=n)["Groups"]])
            self._detach_all("user", name)
            self._quietly(lambda n=name: iam.delete_login_profile(UserName=n))
            self._quietly(lambda n=name: iam.delete_user(UserName=n))
        for name in self.groups:
            self._detach_all("group", name)
            self._quietly(lambda n=name: iam.delete_group(GroupName=n))
        for name in self.roles:
            self._detach_all("role", name)
            self._quietly(lambda n=name: iam.delete_role(RoleName=n))
        for arn in self.policies:
            self._quietly(lambda a=arn: [iam.delete_policy_version(PolicyArn=a, VersionId=v["VersionId"])
                                         for v in iam.list_policy_versions(PolicyArn=a)["Versions"]
                                         if not v["IsDefaultVersion"]])
            self._quietly(lambda a=arn: iam.delete_policy(PolicyArn=a))

    def _detach_all(self, kind: str, name: str) -> None:
        iam, title = self.iam, kind.capitalize()
        member = {f"{title}Name": name}
        self._quietly(lambda: [getattr(iam, f"delete_{kind}_policy")(**member, PolicyName=p)
                               for p in getattr(iam, f"list_{kind}_policies")(**member)["PolicyNames"]])
        self._quietly(lambda: [getattr(iam, f"detach_{kind}_policy")(**member, PolicyArn=p["PolicyArn"])
                               for p in getattr(iam, f"list_attached_{kind}_policies")(**member)["AttachedPolicies"]])

    @staticmethod
    def _quietly(action: Any) -> None:
        with contextlib.suppress(botocore.exceptions.ClientError):
            action()


def new_user(iam: Any, cleanup: Cleanup, name: str, **create: Any) -> Credentials:
    cleanup.users.append(name)
    iam.create_user(UserName=name, **create)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def member_account(cloudlet: CloudletProcess, name: str) -> tuple[str, Credentials]:
    """A new member account and its root user's key (``cloudlet account create`` prints it)."""
    out = subprocess.run([sys.executable, "-m", "controller.cli", "account", "create", name,
                          "--data-dir", str(cloudlet.data_dir)], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    key_id = re.search(r"aws_access_key_id = (\S+)", out).group(1)
    secret = re.search(r"aws_secret_access_key = (\S+)", out).group(1)
    return re.search(r"account (\d{12})", out).group(1), Credentials(key_id, secret)


# --- EC2 and VPC --------------------------------------------------------------------------------------------

def ec2_instance_profile(iam: Any, name: str, policy_arn: str) -> str:
    """A role named ``name`` that EC2 may assume, with the managed policy ``policy_arn``, in an instance
    profile of the same name (as the console makes one)."""
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return name


def agent_rpc(cloud: CloudletProcess, method: str, path: str, body: Any = None) -> Any:
    """Call the controller's agent RPC with the cloud's agent token, as an agent on a fake host would."""
    token = (cloud.data_dir / "agent.token").read_text().strip()
    request = urllib.request.Request(f"{cloud.endpoint}/_cloudlet/agent/v1{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def tagged(kind: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]


def teardown_vpc(ec2: Client, vpc_id: str) -> None:
    """Delete a VPC and its contents in the order AWS requires."""
    if not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]:
        return
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    for nat in ec2.describe_nat_gateways(Filter=by_vpc)["NatGateways"]:
        if nat["State"] in ("pending", "available"):
            ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
    for pcx in ec2.describe_vpc_peering_connections(Filters=[
            {"Name": "requester-vpc-info.vpc-id", "Values": [vpc_id]},
            {"Name": "status-code", "Values": ["active", "pending-acceptance"]}])["VpcPeeringConnections"]:
        ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    for eni in ec2.describe_network_interfaces(Filters=by_vpc)["NetworkInterfaces"]:
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    groups = [g for g in ec2.describe_security_groups(Filters=by_vpc)["SecurityGroups"] if g["GroupName"] != "default"]
    for group in groups:
        if group["IpPermissions"]:
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
    for group in groups:
        ec2.delete_security_group(GroupId=group["GroupId"])
    for table in ec2.describe_route_tables(Filters=by_vpc)["RouteTables"]:
        for association in table["Associations"]:
            if not association["Main"]:
                ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    for subnet in ec2.describe_subnets(Filters=by_vpc)["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    for table in ec2.describe_route_tables(Filters=by_vpc)["RouteTables"]:
        if not any(a["Main"] for a in table["Associations"]):
            ec2.delete_route_table(RouteTableId=table["RouteTableId"])
    for acl in ec2.describe_network_acls(Filters=by_vpc)["NetworkAcls"]:
        if not acl["IsDefault"]:
            ec2.delete_network_acl(NetworkAclId=acl["NetworkAclId"])
    for igw in ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])[
            "InternetGateways"]:
        ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id)
        ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
    for eigw in ec2.describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"]:
        if eigw["Attachments"][0]["VpcId"] == vpc_id:
            ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=eigw["EgressOnlyInternetGatewayId"])
    ec2.delete_vpc(VpcId=vpc_id)


def terminate_all_instances(ec2: Client, timeout: float = 90) -> None:
    """Terminate every instance not yet terminated and wait until they are (a VM test's cleanup, before it
    stops the agent that removes their domains)."""
    alive = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
             if i["State"]["Name"] != "terminated"]
    if not alive:
        return
    ec2.terminate_instances(InstanceIds=alive)
    wait_for(lambda: all(i["State"]["Name"] == "terminated" for r in ec2.describe_instances(
        InstanceIds=alive)["Reservations"] for i in r["Instances"]), timeout, "termination")


def delete_instance_connect_endpoints(ec2: Client, endpoint_ids: list[str], timeout: float = 30) -> None:
    """Delete the endpoints and wait until they are no longer listed: only then has each left its VPC (its
    interface is gone), which a teardown of the VPC needs."""
    for endpoint_id in endpoint_ids:
        ec2.delete_instance_connect_endpoint(InstanceConnectEndpointId=endpoint_id)
    wait_for(lambda: not set(endpoint_ids) & {e["InstanceConnectEndpointId"] for e in ec2.describe_instance_connect_endpoints()[
        "InstanceConnectEndpoints"]}, timeout, "the deleted endpoints to leave their VPCs", interval=0.2)


def wait_for_nat(ec2: Client, nat_id: str, wanted: str, timeout: float = 30) -> dict[str, Any]:
    """The NAT gateway once in state ``wanted`` (or as it is after ``timeout``: the caller asserts)."""
    deadline = time.monotonic() + timeout
    while True:
        nat = ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"][0]
        if nat["State"] == wanted or time.monotonic() > deadline:
            return nat
        time.sleep(0.2)


def everything(ec2: Client, vpc_id: str) -> dict[str, Any]:
    """What Describe* shows of one VPC (and the account's addresses)."""
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    strip = lambda r: {k: v for k, v in r.items() if k != "ResponseMetadata"}  # noqa: E731
    return {"vpcs": strip(ec2.describe_vpcs(VpcIds=[vpc_id])), "subnets": strip(ec2.describe_subnets(Filters=by_vpc)),
            "tables": strip(ec2.describe_route_tables(Filters=by_vpc)),
            "acls": strip(ec2.describe_network_acls(Filters=by_vpc)),
            "groups": strip(ec2.describe_security_groups(Filters=by_vpc)),
            "enis": strip(ec2.describe_network_interfaces(Filters=by_vpc)),
            "nats": strip(ec2.describe_nat_gateways(Filter=by_vpc)),
            "igws": strip(ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])),
            "addresses": strip(ec2.describe_addresses())}
