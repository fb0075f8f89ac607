"""Systems Manager's fleet against a real ``cloudlet up``: hybrid activations, Cloudlet's agent
(``images/ssm-agent/cloudlet-ssm-agent``) registering machines and running Run Command's work, with boto3 and the
AWS CLI on the user's side.

Each "machine" is an agent process on this host with a state directory of its own, talking to the controller's
endpoint over HTTP: what the agent does on an on-premises machine. (Reaching the API from a namespace through a
VPC is the reach tests' subject; the VM tests put the agent in an AMI.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import Cleanup, Client, allow, denied, document, new_user, refused
from tests.support import REPO, CloudletProcess, wait_for

pytestmark = pytest.mark.e2e

AGENT = REPO / "images" / "ssm-agent" / "cloudlet-ssm-agent"
CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


@dataclass
class Machine:
    instance_id: str
    state_dir: Path
    process: subprocess.Popen[str]


@dataclass
class Fleet:
    cloudlet: CloudletProcess
    ssm: Client
    role: str
    activation_id: str
    code: str
    machines: list[Machine]

    def register(self, state_dir: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(AGENT), "register", "--code", self.code, "--id", self.activation_id,
             "--region", self.cloudlet.region, "--endpoint", self.cloudlet.endpoint, "--state-dir", str(state_dir)],
            capture_output=True, text=True, timeout=60)


def _wait_command(ssm: Client, command_id: str, timeout: float = 60) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        command = ssm.list_commands(CommandId=command_id)["Commands"][0]
        return command if command["Status"] not in ("Pending", "InProgress", "Cancelling") else None
    return wait_for(finished, timeout, f"command {command_id} to finish")


@pytest.fixture(scope="module")
def fleet(cloudlet: CloudletProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two registered machines with running agents; the second is tagged ``team=web``."""
    iam, ssm = cloudlet.client("iam"), cloudlet.client("ssm")
    role = f"ssm-hybrid-{int(time.time() * 1000) % 10**8}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.attach_role_policy(RoleName=role, PolicyArn=CORE_POLICY)
    # The agents upload Run Command output to S3 with the machine's role, as AWS's agent does.
    iam.put_role_policy(RoleName=role, PolicyName="output", PolicyDocument=document(allow("s3:PutObject")))
    created = ssm.create_activation(IamRole=role, RegistrationLimit=2, DefaultInstanceName="edge",
                                    Description="lab machines")
    fleet = Fleet(cloudlet, ssm, role, created["ActivationId"], created["ActivationCode"], [])
    try:
        for index in range(2):
            state_dir = tmp_path_factory.mktemp(f"machine{index}")
            registered = fleet.register(state_dir)
            assert registered.returncode == 0, registered.stderr
            instance_id = json.loads((state_dir / "registration.json").read_text())["InstanceId"]
            process = subprocess.Popen([sys.executable, str(AGENT), "run", "--state-dir", str(state_dir),
                                        "--ping-seconds", "5"], stdout=subprocess.DEVNULL,
                                       stderr=(state_dir / "agent.log").open("w"), text=True)
            fleet.machines.append(Machine(instance_id, state_dir, process))
        ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=fleet.machines[1].instance_id,
                                 Tags=[{"Key": "team", "Value": "web"}])
        ids = {machine.instance_id for machine in fleet.machines}
        wait_for(lambda: {item["InstanceId"] for item in ssm.describe_instance_information()
                          ["InstanceInformationList"] if item["PingStatus"] == "Online"
                          and item.get("AgentVersion")} >= ids, 30, "both agents to report Online")
        yield fleet
    finally:
        for machine in fleet.machines:
            machine.process.terminate()
            machine.process.wait(timeout=10)
        iam.detach_role_policy(RoleName=role, PolicyArn=CORE_POLICY)
        iam.delete_role_policy(RoleName=role, PolicyName="output")
        iam.delete_role(RoleName=role)


def test_registered_machines_are_managed_instances(fleet: Fleet) -> None:
    ssm = fleet.ssm
    listed = {item["InstanceId"]: item for item in ssm.describe_instance_information(
        Filters=[{"Key": "ActivationIds", "Values": [fleet.activation_id]}])["InstanceInformationList"]}
    assert set(listed) == {machine.instance_id for machine in fleet.machines}
    for item in listed.values():
        assert item["InstanceId"].startswith("mi-") and len(item["InstanceId"]) == 20
        assert (item["ResourceType"], item["PlatformType"], item["IamRole"], item["Name"], item["PingStatus"]) == \
            ("ManagedInstance", "Linux", fleet.role, "edge", "Online")
        assert item["AgentVersion"] and item["ComputerName"] and item["IPAddress"]
    tagged = ssm.describe_instance_information(Filters=[{"Key": "tag:team", "Values": ["web"]}])
    assert [item["InstanceId"] for item in tagged["InstanceInformationList"]] == [fleet.machines[1].instance_id]
    activation = ssm.describe_activations(Filters=[{"FilterKey": "ActivationIds",
                                                    "FilterValues": [fleet.activation_id]}])["ActivationList"][0]
    assert (activation["RegistrationsCount"], activation["RegistrationLimit"], activation["Expired"],
            activation["IamRole"], activation["DefaultInstanceName"]) == (2, 2, False, fleet.role, "edge")


def test_an_activation_registers_no_more_machines_than_its_limit(fleet: Fleet, tmp_path: Path) -> None:
    third = fleet.register(tmp_path / "third")
    assert third.returncode != 0 and "InvalidActivation" in third.stderr, third.stderr
    wrong = subprocess.run([sys.executable, str(AGENT), "register", "--code", "x" * 20, "--id", fleet.activation_id,
                            "--region", fleet.cloudlet.region, "--endpoint", fleet.cloudlet.endpoint,
                            "--state-dir", str(tmp_path / "wrong")], capture_output=True, text=True, timeout=60)
    assert wrong.returncode != 0 and "InvalidActivation" in wrong.stderr, wrong.stderr


def test_run_command_by_tag_reaches_only_the_tagged_machine(fleet: Fleet) -> None:
    ssm = fleet.ssm
    sent = ssm.send_command(DocumentName="AWS-RunShellScript", Targets=[{"Key": "tag:team", "Values": ["web"]}],
                            Parameters={"commands": ["echo hello from $(hostname)", "echo oops >&2"]},
                            Comment="by tag")["Command"]
    assert (sent["TargetCount"], sent["Status"], sent["MaxConcurrency"], sent["MaxErrors"]) == (1, "Pending", "50",
                                                                                                 "0")
    command = _wait_command(ssm, sent["CommandId"])
    assert (command["Status"], command["CompletedCount"], command["ErrorCount"]) == ("Success", 1, 0)
    web = fleet.machines[1].instance_id
    invocation = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=web)
    assert (invocation["Status"], invocation["StatusDetails"], invocation["ResponseCode"]) == ("Success", "Success", 0)
    assert invocation["StandardOutputContent"].startswith("hello from ")
    assert invocation["StandardErrorContent"] == "oops\n"
    assert invocation["ExecutionElapsedTime"].startswith("PT")
    listed = ssm.list_command_invocations(CommandId=sent["CommandId"], Details=True)["CommandInvocations"]
    assert [(item["InstanceId"], item["Comment"], item["CommandPlugins"][0]["Name"],
             item["CommandPlugins"][0]["Output"].startswith("hello")) for item in listed] == \
        [(web, "by tag", "aws:runShellScript", True)]
    refused(ssm.get_command_invocation, "InvocationDoesNotExist", CommandId=sent["CommandId"],
            InstanceId=fleet.machines[0].instance_id)


def test_failures_timeouts_and_the_error_threshold(fleet: Fleet) -> None:
    ssm = fleet.ssm
    ids = [machine.instance_id for machine in fleet.machines]
    failing = ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=ids, MaxErrors="1",
                               Parameters={"commands": ["exit 3"]})["Command"]
    command = _wait_command(ssm, failing["CommandId"])
    # Two failures are more than MaxErrors=1: the command failed.
    assert (command["Status"], command["StatusDetails"], command["ErrorCount"]) == ("Failed", "Failed", 2)
    invocation = ssm.get_command_invocation(CommandId=failing["CommandId"], InstanceId=ids[0])
    assert (invocation["Status"], invocation["ResponseCode"]) == ("Failed", 3)
    slow = ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=ids[:1],
                            Parameters={"commands": ["sleep 30"], "executionTimeout": ["1"]})["Command"]
    _wait_command(ssm, slow["CommandId"])
    invocation = ssm.get_command_invocation(CommandId=slow["CommandId"], InstanceId=ids[0])
    assert (invocation["Status"], invocation["StatusDetails"]) == ("TimedOut", "Execution Timed Out")


def test_max_concurrency_one_runs_targets_one_after_another(fleet: Fleet) -> None:
    ssm = fleet.ssm
    ids = [machine.instance_id for machine in fleet.machines]
    sent = ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=ids, MaxConcurrency="1",
                            Parameters={"commands": ["sleep 1", "date +%s.%N"]})["Command"]
    assert _wait_command(ssm, sent["CommandId"])["Status"] == "Success"
    plugins = [item["CommandPlugins"][0] for item in ssm.list_command_invocations(
        CommandId=sent["CommandId"], Details=True)["CommandInvocations"]]
    first, second = sorted(plugins, key=lambda plugin: plugin["ResponseStartDateTime"])
    assert second["ResponseStartDateTime"] >= first["ResponseFinishDateTime"]


def test_cancel_command_stops_a_running_script(fleet: Fleet) -> None:
    ssm = fleet.ssm
    target = fleet.machines[0].instance_id
    sent = ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[target],
                            Parameters={"commands": ["sleep 120"]})["Command"]
    wait_for(lambda: ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=target)["Status"]
             == "InProgress", 30, "the agent to start the script")
    ssm.cancel_command(CommandId=sent["CommandId"])
    command = _wait_command(ssm, sent["CommandId"], timeout=30)
    assert command["Status"] == "Cancelled"
    assert ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=target)["Status"] == "Cancelled"


def test_output_goes_to_s3_when_the_command_names_a_bucket(fleet: Fleet, unique: str) -> None:
    ssm, s3 = fleet.ssm, fleet.cloudlet.client("s3")
    bucket = f"{unique}-output"
    s3.create_bucket(Bucket=bucket)
    target = fleet.machines[0].instance_id
    try:
        sent = ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[target], OutputS3BucketName=bucket,
                                OutputS3KeyPrefix="runs", Parameters={"commands": ["seq 1 20000"]})["Command"]
        _wait_command(ssm, sent["CommandId"])
        invocation = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=target)
        key = f"runs/{sent['CommandId']}/{target}/awsrunShellScript/0.awsrunShellScript/stdout"
        assert invocation["StandardOutputUrl"].endswith(f"/{bucket}/{key}")
        full = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        assert full.splitlines() == [str(n) for n in range(1, 20001)]
        assert len(invocation["StandardOutputContent"]) == 24000 and full.startswith(
            invocation["StandardOutputContent"])
    finally:
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)


def test_bad_requests_get_aws_errors(fleet: Fleet, cloudlet: CloudletProcess, unique: str) -> None:
    ssm = fleet.ssm
    refused(ssm.send_command, "InvalidInstanceId", DocumentName="AWS-RunShellScript",
            InstanceIds=["mi-0123456789abcdef0"], Parameters={"commands": ["true"]})
    refused(ssm.send_command, "InvalidDocument", DocumentName="My-Missing-Document",
            InstanceIds=[fleet.machines[0].instance_id], Parameters={"commands": ["true"]})
    refused(ssm.send_command, "InvalidParameters", DocumentName="AWS-RunShellScript",
            InstanceIds=[fleet.machines[0].instance_id], Parameters={"command": ["true"]})
    refused(ssm.delete_activation, "InvalidActivationId", ActivationId="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
    refused(ssm.list_commands, "InvalidCommandId", CommandId="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
    message = refused(ssm.create_activation, "ValidationException", IamRole=f"{unique}-missing")
    assert "Nonexistent role or missing ssm service principal in trust policy" in message
    refused(ssm.add_tags_to_resource, "InvalidResourceId", ResourceType="ManagedInstance",
            ResourceId="mi-0123456789abcdef0", Tags=[{"Key": "a", "Value": "b"}])


def test_iam_decides_who_may_run_commands_on_which_machine(fleet: Fleet, cloudlet: CloudletProcess,
                                                           unique: str) -> None:
    iam = cloudlet.client("iam")
    cleanup = Cleanup(iam)
    try:
        key = new_user(iam, cleanup, f"{unique}-operator")
        web = fleet.machines[1].instance_id
        arn = f"arn:aws:ssm:{cloudlet.region}:{cloudlet.account_id}:managed-instance/"
        iam.put_user_policy(UserName=f"{unique}-operator", PolicyName="web-only", PolicyDocument=document(
            allow("ssm:SendCommand", f"arn:aws:ssm:{cloudlet.region}::document/AWS-RunShellScript"),
            allow("ssm:SendCommand", arn + "*", Condition={"StringEquals": {"ssm:resourceTag/team": "web"}}),
            allow(["ssm:ListCommands", "ssm:GetCommandInvocation"])))
        operator = cloudlet.client("ssm", key)
        allowed = wait_for(lambda: _try_send(operator, web), 10, "the operator's new key to work")
        assert allowed["Command"]["TargetCount"] == 1
        code, status, _ = denied(operator.send_command, DocumentName="AWS-RunShellScript",
                                 InstanceIds=[fleet.machines[0].instance_id], Parameters={"commands": ["id"]})
        assert (code, status) == ("AccessDeniedException", 400)
    finally:
        cleanup.run()


def _try_send(client: Client, instance_id: str) -> dict[str, Any] | None:
    try:
        return client.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[instance_id],
                                   Parameters={"commands": ["id"]})
    except client.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "InvalidClientTokenId":
            return None
        raise


def test_the_aws_cli_drives_run_command(fleet: Fleet) -> None:
    cloudlet = fleet.cloudlet
    target = fleet.machines[0].instance_id
    sent = json.loads(cloudlet.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                                   "--instance-ids", target, "--parameters", 'commands=["echo cli"]',
                                   "--output", "json").stdout)["Command"]
    _wait_command(fleet.ssm, sent["CommandId"])
    out = json.loads(cloudlet.aws("ssm", "get-command-invocation", "--command-id", sent["CommandId"],
                                  "--instance-id", target, "--output", "json").stdout)
    assert (out["Status"], out["StandardOutputContent"]) == ("Success", "cli\n")


def test_deregistered_machines_are_no_longer_managed(fleet: Fleet, tmp_path: Path) -> None:
    ssm = fleet.ssm
    extra = ssm.create_activation(IamRole=fleet.role)
    registered = subprocess.run(
        [sys.executable, str(AGENT), "register", "--code", extra["ActivationCode"], "--id", extra["ActivationId"],
         "--region", fleet.cloudlet.region, "--endpoint", fleet.cloudlet.endpoint, "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60)
    assert registered.returncode == 0, registered.stderr
    instance_id = json.loads((tmp_path / "registration.json").read_text())["InstanceId"]
    ssm.deregister_managed_instance(InstanceId=instance_id)
    listed = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
    assert listed["InstanceInformationList"] == []
    once = subprocess.run([sys.executable, str(AGENT), "run", "--state-dir", str(tmp_path), "--once"],
                          capture_output=True, text=True, timeout=60)
    assert "InvalidInstanceId" in once.stderr, once.stderr
    refused(ssm.deregister_managed_instance, "InvalidInstanceId", InstanceId=instance_id)
    ssm.delete_activation(ActivationId=extra["ActivationId"])
