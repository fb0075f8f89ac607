"""Systems Manager on real instances: tiny-AMI guests whose built-in agent (``images/ssm-agent``, started by
``/usr/lib/cloudlet/ssm-agent`` once IMDS shows an instance profile) connects out, as AWS's agent does.

The instances are as private as AWS's Session Manager guide makes them: a subnet with no internet gateway and
no NAT, no key pair, and a security group with no inbound rule at all. They reach Systems Manager only
through interface endpoints for ``ssm``, ``ec2messages`` and ``ssmmessages`` with private DNS, so the agent
needs nothing but the region: AWS's names resolve to the endpoints' ENIs, where the host agent's relay
serves TLS with the cloud's CA (which the guest's agent takes from IMDS). A shell is opened with the npm
``ssm-session`` client over AWS's protocol; Run Command picks the two instances by tag.

Without root, QEMU, libvirt, dnsmasq or node the module is skipped, unless CLOUDLET_REQUIRE_VM_TESTS=1 (CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.prerequisites import missing_for_vms, missing_tools, require
from tests.support import wait_for

require(missing_for_vms() + missing_tools("node"), "Systems Manager VM tests")
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow]

from tests.e2e.eni_lab import cloud_with_agent, tiny_image  # noqa: E402
from tests.e2e.helpers import Cleanup, allow, denied, document, new_user  # noqa: E402
from tests.e2e.ssm_fleet import drive, once_the_key_works, wait_command  # noqa: E402
from tests.e2e.ssm_vm_lab import (  # noqa: E402
    ENDPOINT_SERVICES,
    PROFILE,
    agent_failed,
    instance_profile,
    online,
    private_subnet,
)

VPC_CIDR, SUBNET_CIDR = "10.81.0.0/16", "10.81.1.0/24"
LAB_TAG = {"Key": "tag:Lab", "Values": ["ssm-vm"]}
#: Two guests boot and start Python under emulation, side by side on two cores.
ONLINE_WITHIN = 300


@dataclass
class Lab:
    env: Any
    instance_ids: list[str]
    group_id: str

    def client(self, service: str, credentials: Any = None) -> Any:
        return self.env.cloud.client(service, credentials)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with cloud_with_agent("ssm") as env:
        ec2 = env.ec2()
        network = private_subnet(ec2, env.cloud.region, VPC_CIDR, SUBNET_CIDR)
        launched = ec2.run_instances(
            ImageId=tiny_image(ec2), InstanceType="t3.micro", MinCount=2, MaxCount=2, SubnetId=network.subnet_id,
            SecurityGroupIds=[network.group_id], IamInstanceProfile={"Name": instance_profile(env.cloud.client("iam"))},
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Lab", "Value": "ssm-vm"}]}])
        instance_ids = [instance["InstanceId"] for instance in launched["Instances"]]
        ssm = env.cloud.client("ssm")
        wait_for(lambda: online(ssm, instance_ids) or agent_failed(env, instance_ids), ONLINE_WITHIN,
                 "both instances' agents to be Online", interval=2.0)
        yield Lab(env, instance_ids, network.group_id)


def test_the_instances_are_private_and_online(lab: Lab) -> None:
    ec2, ssm = lab.env.ec2(), lab.client("ssm")
    group = ec2.describe_security_groups(GroupIds=[lab.group_id])["SecurityGroups"][0]
    assert group["IpPermissions"] == [], "no inbound rule at all"
    for instance_id in lab.instance_ids:
        shown = lab.env.instance(instance_id)
        assert "KeyName" not in shown and "PublicIpAddress" not in shown, shown
    information = {item["InstanceId"]: item for item in online(ssm, lab.instance_ids) or []}
    for instance_id in lab.instance_ids:
        item = information[instance_id]
        assert (item["ResourceType"], item["PlatformType"]) == ("EC2Instance", "Linux"), item
        assert item["IPAddress"] == lab.env.instance(instance_id)["PrivateIpAddress"], item
        assert item["AgentVersion"] and item["ComputerName"], item


def test_a_shell_into_a_private_instance(lab: Lab) -> None:
    ssm = lab.client("ssm")
    target = lab.instance_ids[0]
    session = ssm.start_session(Target=target)
    report = drive(session, [{"send": "echo hello-$((6*7))\n", "expect": "hello-42"},
                             {"send": "cat /run/cloudlet/meta/instance-id\n", "expect": target},
                             {"send": "exit\n", "expect": ""}, {"expectClosed": True}])
    assert [step["ok"] for step in report["steps"]] == [True] * 4, report
    wait_for(lambda: ssm.describe_sessions(State="History", Filters=[
        {"key": "SessionId", "value": session["SessionId"]}])["Sessions"], 20, "the session in the history")


def test_a_user_without_start_session_on_the_instance_is_refused(lab: Lab, unique: str) -> None:
    iam = lab.client("iam")
    cleanup = Cleanup(iam)
    try:
        key = new_user(iam, cleanup, f"{unique}-auditor")
        iam.put_user_policy(UserName=f"{unique}-auditor", PolicyName="other-labs", PolicyDocument=document(
            allow("ssm:StartSession", "arn:aws:ec2:*:*:instance/*",
                  Condition={"StringEquals": {"ssm:resourceTag/Lab": "elsewhere"}}),
            allow("ssm:DescribeInstanceInformation")))
        auditor = lab.client("ssm", key)
        wait_for(lambda: once_the_key_works(auditor.describe_instance_information), 10, "the new key to work")
        code, status, message = denied(auditor.start_session, Target=lab.instance_ids[0])
        assert (code, status) == ("AccessDeniedException", 400) and "ssm:StartSession" in message, message
    finally:
        cleanup.run()


def test_run_command_across_two_instances_chosen_by_tag(lab: Lab) -> None:
    ssm = lab.client("ssm")
    sent = ssm.send_command(Targets=[LAB_TAG], DocumentName="AWS-RunShellScript", Comment="who is there",
                            Parameters={"commands": ["echo \"$(cat /run/cloudlet/meta/instance-id)\"", "uname -s"]})["Command"]
    assert sent["TargetCount"] == 2, sent
    command = wait_command(ssm, sent["CommandId"], timeout=120)
    assert command["Status"] == "Success" and command["CompletedCount"] == 2, command
    for instance_id in lab.instance_ids:
        result = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=instance_id)
        assert result["Status"] == "Success" and result["ResponseCode"] == 0, result
        assert result["StandardOutputContent"].split() == [instance_id, "Linux"], result


def test_the_agent_reaches_systems_manager_through_the_endpoints(lab: Lab) -> None:
    """Inside the guest, AWS's names for Systems Manager resolve to the interface endpoints' ENIs."""
    ssm = lab.client("ssm")
    names = [f"{service}.{lab.env.cloud.region}.amazonaws.com" for service in ENDPOINT_SERVICES]
    sent = ssm.send_command(InstanceIds=lab.instance_ids[:1], DocumentName="AWS-RunShellScript", Parameters={
        "commands": [f"for name in {' '.join(names)}; do nslookup $name | awk '/^Address/ {{a=$NF}} END {{print a}}'; "
                     "done"]})["Command"]
    wait_command(ssm, sent["CommandId"], timeout=120)
    out = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=lab.instance_ids[0])
    addresses = out["StandardOutputContent"].split()
    assert out["Status"] == "Success" and len(addresses) == 3, out
    subnet_prefix = SUBNET_CIDR.rsplit(".", 2)[0] + "."
    assert all(address.startswith(subnet_prefix) for address in addresses), addresses


def test_an_instance_with_a_public_address_needs_no_endpoints(lab: Lab) -> None:
    """In the default VPC (a public address, the internet gateway) AWS's names resolve to the relay on the lab
    Internet: the agent comes Online with no endpoint at all and runs a command."""
    ec2, ssm = lab.env.ec2(), lab.client("ssm")
    instance_id = ec2.run_instances(ImageId=tiny_image(ec2), InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                    IamInstanceProfile={"Name": PROFILE})["Instances"][0]["InstanceId"]
    try:
        wait_for(lambda: online(ssm, [instance_id]) or agent_failed(lab.env, [instance_id]), ONLINE_WITHIN,
                 "the public instance's agent to be Online", interval=2.0)
        sent = ssm.send_command(InstanceIds=[instance_id], DocumentName="AWS-RunShellScript",
                                Parameters={"commands": ["echo public-$((40+2))"]})["Command"]
        wait_command(ssm, sent["CommandId"], timeout=120)
        result = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=instance_id)
        assert (result["Status"], result["StandardOutputContent"]) == ("Success", "public-42\n"), result
    finally:
        ec2.terminate_instances(InstanceIds=[instance_id])
