"""Systems Manager's fleet against a real ``cloudlet up``: hybrid activations, Cloudlet's agent registering
machines (:mod:`tests.e2e.ssm_fleet`) and running Run Command's work, with boto3 and the AWS CLI on the user's
side: targets by id and tag, output and errors, thresholds and timeouts, cancel, S3 output, IAM, deregistration.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import Cleanup, allow, denied, document, new_user, refused
from tests.e2e.ssm_fleet import Fleet, agent, once_the_key_works, running_fleet, wait_command
from tests.support import CloudletProcess, wait_for

pytestmark = pytest.mark.e2e

@pytest.fixture(scope="module")
def fleet(cloudlet: CloudletProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(cloudlet, tmp_path_factory.mktemp("fleet")) as machines:
        yield machines


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
    wrong = fleet.register(tmp_path / "wrong", code="x" * 20)
    assert wrong.returncode != 0 and "InvalidActivation" in wrong.stderr, wrong.stderr


def test_run_command_by_tag_reaches_only_the_tagged_machine(fleet: Fleet) -> None:
    ssm = fleet.ssm
    sent = ssm.send_command(DocumentName="AWS-RunShellScript", Targets=[{"Key": "tag:team", "Values": ["web"]}],
                            Parameters={"commands": ["echo hello from $(hostname)", "echo oops >&2"]},
                            Comment="by tag")["Command"]
    assert (sent["TargetCount"], sent["Status"], sent["MaxConcurrency"], sent["MaxErrors"]) == (1, "Pending", "50",
                                                                                                 "0")
    command = wait_command(ssm, sent["CommandId"])
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
    command = wait_command(ssm, failing["CommandId"])
    # Two failures are more than MaxErrors=1: the command failed.
    assert (command["Status"], command["StatusDetails"], command["ErrorCount"]) == ("Failed", "Failed", 2)
    invocation = ssm.get_command_invocation(CommandId=failing["CommandId"], InstanceId=ids[0])
    assert (invocation["Status"], invocation["ResponseCode"]) == ("Failed", 3)
    slow = ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=ids[:1],
                            Parameters={"commands": ["sleep 30"], "executionTimeout": ["1"]})["Command"]
    wait_command(ssm, slow["CommandId"])
    invocation = ssm.get_command_invocation(CommandId=slow["CommandId"], InstanceId=ids[0])
    assert (invocation["Status"], invocation["StatusDetails"]) == ("TimedOut", "Execution Timed Out")


def test_max_concurrency_one_runs_targets_one_after_another(fleet: Fleet) -> None:
    ssm = fleet.ssm
    ids = [machine.instance_id for machine in fleet.machines]
    sent = ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=ids, MaxConcurrency="1",
                            Parameters={"commands": ["sleep 1", "date +%s.%N"]})["Command"]
    assert wait_command(ssm, sent["CommandId"])["Status"] == "Success"
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
    command = wait_command(ssm, sent["CommandId"], timeout=30)
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
        wait_command(ssm, sent["CommandId"])
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
        allowed = wait_for(lambda: once_the_key_works(lambda: operator.send_command(
            DocumentName="AWS-RunShellScript", InstanceIds=[web], Parameters={"commands": ["id"]})), 10,
            "the operator's new key to work")
        assert allowed["Command"]["TargetCount"] == 1
        code, status, _ = denied(operator.send_command, DocumentName="AWS-RunShellScript",
                                 InstanceIds=[fleet.machines[0].instance_id], Parameters={"commands": ["id"]})
        assert (code, status) == ("AccessDeniedException", 400)
    finally:
        cleanup.run()


def test_the_aws_cli_drives_run_command(fleet: Fleet) -> None:
    cloudlet = fleet.cloudlet
    target = fleet.machines[0].instance_id
    sent = json.loads(cloudlet.aws("ssm", "send-command", "--document-name", "AWS-RunShellScript",
                                   "--instance-ids", target, "--parameters", 'commands=["echo cli"]',
                                   "--output", "json").stdout)["Command"]
    wait_command(fleet.ssm, sent["CommandId"])
    out = json.loads(cloudlet.aws("ssm", "get-command-invocation", "--command-id", sent["CommandId"],
                                  "--instance-id", target, "--output", "json").stdout)
    assert (out["Status"], out["StandardOutputContent"]) == ("Success", "cli\n")


def test_deregistered_machines_are_no_longer_managed(fleet: Fleet, tmp_path: Path) -> None:
    ssm = fleet.ssm
    extra = ssm.create_activation(IamRole=fleet.role)
    registered = fleet.register(tmp_path, code=extra["ActivationCode"], activation_id=extra["ActivationId"])
    assert registered.returncode == 0, registered.stderr
    instance_id = json.loads((tmp_path / "registration.json").read_text())["InstanceId"]
    ssm.deregister_managed_instance(InstanceId=instance_id)
    listed = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
    assert listed["InstanceInformationList"] == []
    once = agent("run", "--state-dir", str(tmp_path), "--once")
    assert "InvalidInstanceId" in once.stderr, once.stderr
    refused(ssm.deregister_managed_instance, "InvalidInstanceId", InstanceId=instance_id)
    ssm.delete_activation(ActivationId=extra["ActivationId"])


def test_a_command_document_of_the_account_runs_with_its_parameters(fleet: Fleet, unique: str) -> None:
    ssm = fleet.ssm
    name = f"{unique}-Greet"
    ssm.create_document(Name=name, DocumentType="Command", DocumentFormat="YAML", Content="""
schemaVersion: '2.2'
description: Greets someone, then runs what it is given.
parameters:
  who: {type: String, default: world, allowedPattern: '^[a-z]+$'}
  then: {type: StringList, default: ['true']}
mainSteps:
  - action: aws:runShellScript
    name: greet
    inputs:
      runCommand: ['echo hello {{ who }}', '{{ then }}']
""")
    try:
        target = fleet.machines[0].instance_id
        sent = ssm.send_command(DocumentName=name, InstanceIds=[target],
                                Parameters={"who": ["ada"], "then": ["echo second", "echo third"]})["Command"]
        assert (sent["DocumentName"], sent["Parameters"]) == (name, {"who": ["ada"],
                                                                      "then": ["echo second", "echo third"]})
        wait_command(ssm, sent["CommandId"])
        invocation = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=target)
        assert invocation["StandardOutputContent"] == "hello ada\nsecond\nthird\n"
        assert invocation["DocumentName"] == name
        refused(ssm.send_command, "InvalidParameters", DocumentName=name, InstanceIds=[target],
                Parameters={"who": ["Ada!"]})
        refused(ssm.send_command, "InvalidDocument", DocumentName=f"{unique}-Missing", InstanceIds=[target])
    finally:
        ssm.delete_document(Name=name)
