"""AWS Batch jobs running for real: a ``cloudlet up`` with its agent, which runs job attempts in podman.

The image is Cloudlet's lab form: an OCI archive of the host's busybox (``tests.batch_image``) uploaded to
Cloudlet's S3 and named ``s3://bucket/key`` in the job definition. boto3 makes a FARGATE compute
environment, a queue and a definition, then submits: a job echoing AWS_BATCH_JOB_ID (SUCCEEDED, its line in
CloudWatch Logs ``/aws/batch/job`` under the job's logStreamName), a job exiting 3 with two attempts (FAILED
after both), an array of 5 writing AWS_BATCH_JOB_ARRAY_INDEX, a job depending on the array, and two queues
of different priorities sharing an environment that fits one job at a time.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.batch.runner import default_podman
from tests.batch_image import busybox_oci_archive
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import CloudletProcess, wait_for

require(missing_root() + missing_tools("podman", "runc"), "the Batch run tests")
pytestmark = pytest.mark.root

RUN = uuid.uuid4().hex[:6]
PODMAN = default_podman()
IMAGE_REF = f"cloudlet-batch-e2e:{RUN}"


def batch_cloud(tmp_path_factory: pytest.TempPathFactory, name: str, image_ref: str,
                settings: dict[str, Any] | None = None) -> Iterator[CloudletProcess]:
    """``cloudlet up`` with its agent (and ``settings`` in its cloudlet.json), once it can run Batch containers;
    stopped, and the test image ``image_ref`` removed, afterwards."""
    data_dir = tmp_path_factory.mktemp(name) / "data"
    data_dir.mkdir(parents=True)
    if settings:
        (data_dir / "cloudlet.json").write_text(json.dumps(settings))
    process = CloudletProcess(data_dir, agent=True).start()
    try:
        wait_for(lambda: any("registered" in line and "batch" in line for line in process.output),
                 timeout=60, what="the agent to register with the batch capability")
        yield process
    finally:
        process.stop()
        subprocess.run([*PODMAN.base(), "rmi", "--force", f"localhost/{image_ref}"], capture_output=True, check=False)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    yield from batch_cloud(tmp_path_factory, "batch-run", IMAGE_REF)


@pytest.fixture(scope="module")
def lab(cloud: CloudletProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The queue and the job definition (``s3://`` image) every test submits to."""
    s3, ec2, batch = cloud.client("s3"), cloud.client("ec2"), cloud.client("batch")
    bucket = f"batch-images-{RUN}"
    s3.create_bucket(Bucket=bucket)
    archive = busybox_oci_archive(tmp_path_factory.mktemp("image") / "image.tar", IMAGE_REF)
    s3.put_object(Bucket=bucket, Key="busybox.tar", Body=Path(archive).read_bytes())
    vpc = ec2.create_vpc(CidrBlock="10.91.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.91.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"batch-{RUN}", Description="batch", VpcId=vpc)["GroupId"]
    env = batch.create_compute_environment(
        computeEnvironmentName=f"ce-{RUN}", type="MANAGED",
        computeResources={"type": "FARGATE", "maxvCpus": 4, "subnets": [subnet], "securityGroupIds": [group]})
    wait_for(lambda: batch.describe_compute_environments(computeEnvironments=[env["computeEnvironmentArn"]])
             ["computeEnvironments"][0]["status"] == "VALID", timeout=20, what="the compute environment")
    queue = batch.create_job_queue(jobQueueName=f"q-{RUN}", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}])["jobQueueArn"]
    role = execution_role(cloud.client("iam"), f"batch-execution-{RUN}",
                          {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"})
    definition = batch.register_job_definition(
        jobDefinitionName=f"busybox-{RUN}", type="container", platformCapabilities=["FARGATE"],
        containerProperties={
            "image": f"s3://{bucket}/busybox.tar", "command": ["sh", "-c", "echo job $AWS_BATCH_JOB_ID"],
            "executionRoleArn": role,
            "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}]})
    return {"batch": batch, "logs": cloud.client("logs"), "queue": queue, "bucket": bucket,
            "definition": definition["jobDefinitionArn"], "name": f"busybox-{RUN}", "subnet": subnet,
            "group": group, "role": role}


def execution_role(iam: Any, name: str, *statements: dict[str, Any]) -> str:
    """A job execution role: trusted by ECS tasks, allowed ``statements`` (the image's read, the secrets')."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="execution", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))
    return str(arn)


def job(batch: Any, job_id: str) -> dict[str, Any]:
    return batch.describe_jobs(jobs=[job_id])["jobs"][0]


def ended(batch: Any, job_id: str, timeout: float = 45) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def done() -> bool:
        found.update(job(batch, job_id))
        return found["status"] in ("SUCCEEDED", "FAILED")

    wait_for(done, timeout=timeout, what=f"job {job_id} to end")
    return found


def log_messages(logs: Any, stream: str) -> list[str]:
    events = logs.get_log_events(logGroupName="/aws/batch/job", logStreamName=stream,
                                 startFromHead=True)["events"]
    return [event["message"] for event in events]


def eventually(check: Callable[[], bool], what: str) -> None:
    wait_for(check, timeout=15, what=what)


def test_a_job_runs_and_logs(lab: dict[str, Any]) -> None:
    batch = lab["batch"]
    job_id = batch.submit_job(jobName="echo", jobQueue=lab["queue"], jobDefinition=lab["definition"])["jobId"]
    detail = ended(batch, job_id)
    assert detail["status"] == "SUCCEEDED", detail
    assert detail["container"]["exitCode"] == 0
    stream = detail["container"]["logStreamName"]
    assert stream.startswith(f"{lab['name']}/default/")
    assert detail["startedAt"] <= detail["stoppedAt"]
    eventually(lambda: f"job {job_id}" in log_messages(lab["logs"], stream), "the job's line in CloudWatch Logs")


def test_a_failing_job_is_retried_then_fails(lab: dict[str, Any]) -> None:
    batch = lab["batch"]
    job_id = batch.submit_job(jobName="fail", jobQueue=lab["queue"], jobDefinition=lab["definition"],
                              retryStrategy={"attempts": 2},
                              containerOverrides={"command": ["sh", "-c", "exit 3"]})["jobId"]
    detail = ended(batch, job_id)
    assert detail["status"] == "FAILED", detail
    assert len(detail["attempts"]) == 2
    assert [attempt["container"]["exitCode"] for attempt in detail["attempts"]] == [3, 3]


def test_an_array_and_its_dependant(lab: dict[str, Any]) -> None:
    batch = lab["batch"]
    array = batch.submit_job(jobName="array", jobQueue=lab["queue"], jobDefinition=lab["definition"],
                             arrayProperties={"size": 5},
                             containerOverrides={"command": ["sh", "-c", "echo index $AWS_BATCH_JOB_ARRAY_INDEX"]}
                             )["jobId"]
    after = batch.submit_job(jobName="after", jobQueue=lab["queue"], jobDefinition=lab["definition"],
                             dependsOn=[{"jobId": array}])["jobId"]
    assert job(batch, after)["status"] == "PENDING"
    parent = ended(batch, array, timeout=50)
    assert parent["status"] == "SUCCEEDED", parent
    for index in range(5):
        child = job(batch, f"{array}:{index}")
        assert child["status"] == "SUCCEEDED", child
        stream = child["container"]["logStreamName"]
        eventually(lambda stream=stream, index=index: f"index {index}" in log_messages(lab["logs"], stream),
                   f"child {index}'s line")
    dependant = ended(batch, after)
    assert dependant["status"] == "SUCCEEDED", dependant
    assert dependant["startedAt"] >= max(job(batch, f"{array}:{i}")["stoppedAt"] for i in range(5))


def batch_containers(job_id: str) -> list[str]:
    """The names of this host's Batch containers of ``job_id`` (the agent's podman storage is the default)."""
    listed = subprocess.run([*PODMAN.base(), "ps", "--all", "--format", "{{.Names}}", "--filter",
                             f"label=cloudlet.batch.job={job_id}"], capture_output=True, text=True, check=True)
    return listed.stdout.split()


def test_terminating_a_running_job_stops_its_container(lab: dict[str, Any]) -> None:
    batch = lab["batch"]
    job_id = batch.submit_job(jobName="long", jobQueue=lab["queue"], jobDefinition=lab["definition"],
                              containerOverrides={"command": ["sh", "-c", "trap 'exit 143' TERM; echo up; "
                                                                          "sleep 60 & wait"]})["jobId"]
    wait_for(lambda: job(batch, job_id)["status"] == "RUNNING", timeout=30, what="the job to run")
    wait_for(lambda: batch_containers(job_id), timeout=10, what="its container")
    batch.terminate_job(jobId=job_id, reason="enough")
    detail = job(batch, job_id)
    assert (detail["status"], detail["statusReason"], detail["isTerminated"]) == ("FAILED", "enough", True)
    wait_for(lambda: not batch_containers(job_id), timeout=20, what="the container to be stopped and removed")
    assert job(batch, job_id)["status"] == "FAILED"


def test_a_higher_priority_queue_runs_first_on_a_shared_environment(lab: dict[str, Any]) -> None:
    """Two queues over one environment that fits one job at a time: once the running job ends, the
    high-priority queue's jobs start before the low one's, though they were submitted after them."""
    batch = lab["batch"]
    env = batch.create_compute_environment(
        computeEnvironmentName=f"one-{RUN}", type="MANAGED",
        computeResources={"type": "FARGATE", "maxvCpus": 1, "subnets": [lab["subnet"]],
                          "securityGroupIds": [lab["group"]]})["computeEnvironmentArn"]
    wait_for(lambda: batch.describe_compute_environments(computeEnvironments=[env])["computeEnvironments"][0]
             ["status"] == "VALID", timeout=20, what="the one-job environment")
    queues = {name: batch.create_job_queue(jobQueueName=f"{name}-{RUN}", priority=priority,
                                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}])
              ["jobQueueArn"] for name, priority in (("low", 1), ("high", 10))}
    whole_vcpu = batch.register_job_definition(
        jobDefinitionName=f"whole-{RUN}", type="container", platformCapabilities=["FARGATE"],
        containerProperties={"image": f"s3://{lab['bucket']}/busybox.tar", "command": ["sh", "-c", "sleep 1"],
                             "executionRoleArn": lab["role"],
                             "resourceRequirements": [{"type": "VCPU", "value": "1"},
                                                      {"type": "MEMORY", "value": "2048"}]})["jobDefinitionArn"]

    def submit(queue: str, name: str, seconds: int = 1) -> str:
        return str(batch.submit_job(jobName=name, jobQueue=queues[queue], jobDefinition=whole_vcpu,
                                    containerOverrides={"command": ["sh", "-c", f"sleep {seconds}"]})["jobId"])

    blocker = submit("low", "blocker", seconds=8)  # long enough to submit the rest behind it, even on a busy host
    wait_for(lambda: job(batch, blocker)["status"] == "RUNNING", timeout=30, what="the blocker to run")
    low = [submit("low", f"low-{index}") for index in range(2)]
    high = [submit("high", f"high-{index}") for index in range(2)]
    assert {job(batch, job_id)["status"] for job_id in low + high} <= {"SUBMITTED", "PENDING", "RUNNABLE"}
    started = {job_id: ended(batch, job_id, timeout=90)["startedAt"] for job_id in [blocker, *high, *low]}
    assert max(started[job_id] for job_id in high) < min(started[job_id] for job_id in low), started


def agent_registrations(cloud: CloudletProcess) -> int:
    """How often an agent has registered its host with the batch capability (``cloudlet.agent`` logs it)."""
    return sum(" registered in " in line and "batch" in line for line in cloud.output)


def test_a_running_job_survives_a_restart_of_the_cloud_and_its_agent(cloud: CloudletProcess,
                                                                      lab: dict[str, Any]) -> None:
    """Last in the module: it restarts the cloud. The container keeps running while no agent is there; the
    new agent adopts it and reports its end and its whole log."""
    batch = lab["batch"]
    job_id = batch.submit_job(jobName="restart", jobQueue=lab["queue"], jobDefinition=lab["definition"],
                              containerOverrides={"command": ["sh", "-c", "echo before; sleep 8; echo after"]}
                              )["jobId"]
    wait_for(lambda: job(batch, job_id)["status"] == "RUNNING", timeout=30, what="the job to run")
    registrations = agent_registrations(cloud)
    cloud.restart()
    wait_for(lambda: agent_registrations(cloud) > registrations, timeout=60,
             what="the agent to register again, able to run Batch containers")
    assert batch_containers(job_id) or job(batch, job_id)["status"] == "SUCCEEDED"
    detail = ended(batch, job_id)
    assert detail["status"] == "SUCCEEDED", detail
    assert len(detail["attempts"]) == 1
    stream = detail["container"]["logStreamName"]
    eventually(lambda: log_messages(lab["logs"], stream) == ["before", "after"], "both lines, once each")
