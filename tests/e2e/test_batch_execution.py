"""What a Batch job gets before and around its container, for real: ``cloudlet up`` with its agent, jobs run in
podman, everything driven through boto3.

- secrets: SSM parameters (a String and a multi-line SecureString) read as the execution role reach the job
  as variables, and appear neither in DescribeJobs nor in the cloud's and agent's output; CloudTrail records
  the role's GetParameters. A secret the role may not read fails the attempt before any container exists.
- the image is read as the execution role: a role that may not read the archive fails the job.
- volumes on Fargate: a scratch volume two mount points share (EC2 environments' host volumes and tmpfs are
  tested inside their instances, ``test_batch_ec2``).
- the definition's user, read-only root filesystem and ulimits.
- a host that stops answering (its agent SIGSTOPped past the heartbeat timeout): the attempt fails over with
  AWS's reason, the retry runs once the host is back, and the abandoned container is stopped and removed.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.batch import lost_hosts, secrets
from tests.batch_image import busybox_oci_archive
from tests.e2e.test_batch_run import batch_cloud, batch_containers, ended, execution_role, job, log_messages
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import CloudletProcess, wait_for

require(missing_root() + missing_tools("podman", "runc"), "the Batch execution tests")
pytestmark = pytest.mark.root

RUN = uuid.uuid4().hex[:6]
IMAGE_REF = f"cloudlet-batch-exec:{RUN}"
SECURE_VALUE = f"-----BEGIN KEY-----\nsecret-{RUN}\n-----END KEY-----"
PLAIN_VALUE = f"plain-{RUN}"
FARGATE = [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}]
#: The cloud's heartbeat timeout, which the lost-host test outwaits (30 s by default). Its agent beats every
#: 3.3 s: three late beats in a row on a busy machine, not one, would lose the other tests' jobs.
HEARTBEAT_TIMEOUT_SECONDS = 10.0


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    yield from batch_cloud(tmp_path_factory, "batch-exec", IMAGE_REF,
                           {"host_heartbeat_timeout_seconds": HEARTBEAT_TIMEOUT_SECONDS})


@pytest.fixture(scope="module")
def lab(cloud: CloudletProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A FARGATE queue, the image in S3, two SSM parameters and execution roles that may read
    everything, all but the parameters, and all but the image."""
    s3, ec2, batch, ssm, iam = (cloud.client(name) for name in ("s3", "ec2", "batch", "ssm", "iam"))
    bucket = f"batch-exec-{RUN}"
    s3.create_bucket(Bucket=bucket)
    archive = busybox_oci_archive(tmp_path_factory.mktemp("image") / "image.tar", IMAGE_REF)
    s3.put_object(Bucket=bucket, Key="busybox.tar", Body=Path(archive).read_bytes())
    ssm.put_parameter(Name=f"/batch-{RUN}/plain", Value=PLAIN_VALUE, Type="String")
    ssm.put_parameter(Name=f"/batch-{RUN}/key", Value=SECURE_VALUE, Type="SecureString")
    read_image = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    read_secrets = {"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": "*"}
    vpc = ec2.create_vpc(CidrBlock="10.92.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.92.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"batch-{RUN}", Description="batch", VpcId=vpc)["GroupId"]
    env = batch.create_compute_environment(
        computeEnvironmentName=f"fargate-{RUN}", type="MANAGED",
        computeResources={"type": "FARGATE", "maxvCpus": 2, "subnets": [subnet], "securityGroupIds": [group]})
    wait_for(lambda: batch.describe_compute_environments(computeEnvironments=[env["computeEnvironmentArn"]])
             ["computeEnvironments"][0]["status"] == "VALID", timeout=20, what="the compute environment")
    queues = {"FARGATE": batch.create_job_queue(jobQueueName=f"fargate-{RUN}", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}])["jobQueueArn"]}
    return {"batch": batch, "logs": cloud.client("logs"), "trail": cloud.client("cloudtrail"), "queues": queues,
            "image": f"s3://{bucket}/busybox.tar",
            "role": execution_role(iam, f"exec-all-{RUN}", read_image, read_secrets),
            "no_secrets_role": execution_role(iam, f"exec-image-{RUN}", read_image),
            "no_image_role": execution_role(iam, f"exec-secrets-{RUN}", read_secrets)}


def fargate_definition(lab: dict[str, Any], name: str, command: str, role: str, **container: Any) -> str:
    return lab["batch"].register_job_definition(
        jobDefinitionName=f"{name}-{RUN}", type="container", platformCapabilities=["FARGATE"],
        containerProperties={"image": lab["image"], "command": ["sh", "-c", command], "executionRoleArn": role,
                             "resourceRequirements": FARGATE, **container})["jobDefinitionArn"]


def submit(lab: dict[str, Any], definition: str, queue: str = "FARGATE", **params: Any) -> str:
    return lab["batch"].submit_job(jobName="j", jobQueue=lab["queues"][queue], jobDefinition=definition,
                                   **params)["jobId"]


SECRETS = [{"name": "PLAIN", "valueFrom": f"/batch-{RUN}/plain"}, {"name": "KEY", "valueFrom": f"/batch-{RUN}/key"}]


def test_secrets_reach_the_job_and_nowhere_else(cloud: CloudletProcess, lab: dict[str, Any]) -> None:
    definition = fargate_definition(lab, "secrets", 'echo "plain=$PLAIN"; echo "$KEY"', lab["role"], secrets=SECRETS)
    job_id = submit(lab, definition)
    detail = ended(lab["batch"], job_id)
    assert detail["status"] == "SUCCEEDED", detail
    stream = detail["container"]["logStreamName"]
    wait_for(lambda: log_messages(lab["logs"], stream) == [f"plain={PLAIN_VALUE}", *SECURE_VALUE.splitlines()],
             timeout=15, what="the secrets in the job's log")
    assert detail["container"]["secrets"] == SECRETS
    shown = json.dumps(lab["batch"].describe_jobs(jobs=[job_id]))
    assert PLAIN_VALUE not in shown and f"secret-{RUN}" not in shown
    assert not [line for line in cloud.output if PLAIN_VALUE in line or f"secret-{RUN}" in line]
    role_name = lab["role"].rsplit("/", 1)[-1]
    events = lab["trail"].lookup_events(LookupAttributes=[{"AttributeKey": "EventName",
                                                           "AttributeValue": "GetParameters"}])["Events"]
    assert any(f"assumed-role/{role_name}/" in event["CloudTrailEvent"] for event in events)


def test_a_secret_the_role_cannot_read_fails_the_attempt_before_it_starts(lab: dict[str, Any]) -> None:
    definition = fargate_definition(lab, "denied", "echo never", lab["no_secrets_role"], secrets=SECRETS)
    job_id = submit(lab, definition)
    detail = ended(lab["batch"], job_id)
    assert detail["status"] == "FAILED", detail
    assert detail["statusReason"].startswith(secrets.REASON_PREFIX), detail["statusReason"]
    assert "AccessDeniedException" in detail["statusReason"] and len(detail["attempts"]) == 1
    assert "startedAt" not in detail and not batch_containers(job_id)


def test_the_image_is_read_as_the_execution_role(lab: dict[str, Any]) -> None:
    definition = fargate_definition(lab, "noimage", "echo never", lab["no_image_role"])
    detail = ended(lab["batch"], submit(lab, definition))
    assert detail["status"] == "FAILED" and detail["statusReason"].startswith("CannotPullContainerError"), detail
    assert "AccessDenied" in detail["statusReason"]


def test_a_scratch_volume_is_shared_by_its_mount_points_on_fargate(lab: dict[str, Any]) -> None:
    definition = fargate_definition(lab, "volumes", "echo one > /a/f; cat /b/f", lab["role"],
                                    volumes=[{"name": "scratch"}],
                                    mountPoints=[{"sourceVolume": "scratch", "containerPath": "/a"},
                                                 {"sourceVolume": "scratch", "containerPath": "/b", "readOnly": True}])
    detail = ended(lab["batch"], submit(lab, definition))
    assert detail["status"] == "SUCCEEDED", detail
    stream = detail["container"]["logStreamName"]
    wait_for(lambda: log_messages(lab["logs"], stream) == ["one"], timeout=15, what="the scratch file seen twice")


def agent_pid(cloud: CloudletProcess) -> int:
    """The pid of the agent ``cloudlet up`` started (its child running ``agent.main``)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
        if int(parent) == cloud.proc.pid and b"agent.main" in command:
            return int(entry.name)
    raise AssertionError("no agent process under cloudlet up")


def test_user_read_only_root_and_ulimits_apply(lab: dict[str, Any]) -> None:
    script = "busybox id -u; (echo x > /x) 2>/dev/null && echo writable || echo read-only; ulimit -n"
    definition = fargate_definition(lab, "process", script, lab["role"], user="1000", readonlyRootFilesystem=True,
                                    ulimits=[{"name": "nofile", "softLimit": 256, "hardLimit": 512}])
    detail = ended(lab["batch"], submit(lab, definition))
    assert detail["status"] == "SUCCEEDED", detail
    wait_for(lambda: log_messages(lab["logs"], detail["container"]["logStreamName"]) == ["1000", "read-only", "256"],
             timeout=15, what="the job's user, root filesystem and open-file limit")


def test_a_lost_host_fails_the_attempt_over_and_its_container_goes_when_it_returns(
        cloud: CloudletProcess, lab: dict[str, Any]) -> None:
    # The first attempt leaves on SIGTERM (as a well-behaved job does), so its removal takes no 30 s stop
    # timeout; the runner's SIGKILL after the timeout is tested with the containers themselves.
    first_attempt_runs_on = '''if [ "$AWS_BATCH_JOB_ATTEMPT" = 1 ]; then trap 'exit 143' TERM; sleep 300 & wait; fi'''
    definition = fargate_definition(lab, "lost", f"{first_attempt_runs_on}; echo done", lab["role"])
    job_id = submit(lab, definition, retryStrategy={"attempts": 2})
    wait_for(lambda: job(lab["batch"], job_id)["status"] == "RUNNING", timeout=30, what="the job to run")
    pid = agent_pid(cloud)
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: job(lab["batch"], job_id)["status"] == "RUNNABLE",
                 timeout=HEARTBEAT_TIMEOUT_SECONDS + 20, what="the attempt to fail over")
        assert batch_containers(job_id) == [f"cloudlet-batch-{job_id}-1"]  # still running on the silent host
    finally:
        os.kill(pid, signal.SIGCONT)
    detail = ended(lab["batch"], job_id, timeout=90)
    assert detail["status"] == "SUCCEEDED", detail
    assert [attempt["statusReason"] for attempt in detail["attempts"]] == [lost_hosts.FARGATE_REASON,
                                                                            "Essential container in task exited"]
    wait_for(lambda: not batch_containers(job_id), timeout=60, what="the abandoned container to be removed")
