"""A MANAGED EC2 compute environment that scales from 0 to 2 instances under load and back to 0 (issue 20).

boto3 only: a public subnet whose instances reach ECS and CloudWatch Logs as they reach the Internet, an
instance profile with AWS's
``AmazonEC2ContainerServiceforEC2Role``, an EC2 environment (minvCpus 0, maxvCpus 4, t3.micro: two vCPUs
each) and two jobs of two vCPUs. Batch launches two tiny-AMI instances (found by their
``AWSBatchServiceTag``), their ECS agent runs one job each in its own namespaces, and each job's log line
carries the hostname of the instance it ran in, what it sees of its volumes, the job role session the
instance's credentials endpoint gave it, its secret, its read-only root and its open-file limit; once idle for the (shortened) scale-down delay, both instances are
terminated.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.batch_image import busybox_oci_archive
from tests.e2e.eni_lab import cloud_with_agent, console
from tests.e2e.helpers import ec2_instance_profile
from tests.prerequisites import missing_root, require
from tests.support import Credentials, wait_for

require(missing_root(), "the Batch on EC2 VM test")
pytestmark = [pytest.mark.root, pytest.mark.vm]

RUN = secrets.token_hex(3)
ECS_ROLE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
SCALE_DOWN_DELAY_S = 5


@pytest.fixture(scope="module")
def env() -> Iterator[Any]:
    with cloud_with_agent("batchec2", {"batch_scale_down_delay_seconds": SCALE_DOWN_DELAY_S}) as env:
        yield env


def _network(ec2: Any) -> tuple[str, str]:
    """A public subnet (internet gateway, public IPs on launch): the instances' agent reaches the ECS and Logs
    APIs the way it reaches the Internet; and the instances' security group (no inbound rule)."""
    vpc = ec2.create_vpc(CidrBlock="10.93.0.0/16")["Vpc"]["VpcId"]
    for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
        ec2.modify_vpc_attribute(VpcId=vpc, **{attribute: {"Value": True}})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.93.1.0/24")["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    table = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][0]
    ec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    group = ec2.create_security_group(GroupName="batch", Description="batch instances", VpcId=vpc)["GroupId"]
    return subnet, group


def _instances(ec2: Any, environment: str, states: tuple[str, ...]) -> list[dict[str, Any]]:
    answer = ec2.describe_instances(Filters=[{"Name": "tag:AWSBatchServiceTag", "Values": [environment]},
                                             {"Name": "instance-state-name", "Values": list(states)}])
    return [instance for reservation in answer["Reservations"] for instance in reservation["Instances"]]


def test_managed_ec2_environment_scales_0_to_2_instances_runs_jobs_inside_them_and_back_to_0(
        env: Any, tmp_path: Path) -> None:
    cloud = env.cloud
    ec2, batch, s3, logs = cloud.client("ec2"), cloud.client("batch"), cloud.client("s3"), cloud.client("logs")
    subnet, group = _network(ec2)
    profile = ec2_instance_profile(cloud.client("iam"), f"ecsInstanceRole-{RUN}", ECS_ROLE_POLICY)
    bucket = f"batch-ec2-{RUN}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="busybox.tar",
                  Body=busybox_oci_archive(tmp_path / "image.tar", f"batch-ec2:{RUN}").read_bytes())
    name = f"ec2-{RUN}"
    cloud.client("ssm").put_parameter(Name=f"/batch-ec2-{RUN}/token", Value="s3cr3t", Type="SecureString")
    execution_role = cloud.client("iam").create_role(RoleName=f"exec-{RUN}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    cloud.client("iam").put_role_policy(RoleName=f"exec-{RUN}", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ssm:GetParameters", "s3:GetObject"],
                                                "Resource": "*"}]}))
    job_role = cloud.client("iam").create_role(RoleName=f"job-{RUN}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    arn = batch.create_compute_environment(computeEnvironmentName=name, type="MANAGED", computeResources={
        "type": "EC2", "minvCpus": 0, "maxvCpus": 4, "instanceTypes": ["t3.micro"], "subnets": [subnet],
        "securityGroupIds": [group], "instanceRole": profile, "tags": {"team": "batch-e2e"}})["computeEnvironmentArn"]
    queue = batch.create_job_queue(jobQueueName=f"q-{RUN}", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": arn}])["jobQueueArn"]
    definition = batch.register_job_definition(jobDefinitionName=f"where-{RUN}", type="container", containerProperties={
        "image": f"s3://{bucket}/busybox.tar",
        "command": ["sh", "-c", "echo ran-on=$(cat /proc/sys/kernel/hostname) pid=$$ cgroup=$(cat /proc/self/cgroup)"
                    "; cat /in/ecs.config; (echo x > /in/w) 2>/dev/null && echo writable || echo read-only"
                    "; echo one > /a/f; cat /b/f"
                    '; while read -r _ at kind _; do [ "$at" = /fast ] && echo "$kind"; done < /proc/mounts'
                    "; busybox wget -qO- http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI; echo"
                    "; echo token=$TOKEN"
                    "; echo root=$( (echo x > /x) 2>/dev/null && echo rw || echo ro) nofile=$(ulimit -n); sleep 2"],
        "readonlyRootFilesystem": True, "ulimits": [{"name": "nofile", "softLimit": 256, "hardLimit": 512}],
        "jobRoleArn": job_role,  # its session from the instance's endpoint, as the SDKs' container provider asks
        "executionRoleArn": execution_role,  # reads the secret
        "secrets": [{"name": "TOKEN", "valueFrom": f"/batch-ec2-{RUN}/token"}],
        # the instance's /etc/ecs read-only, a scratch volume two mount points share, and a tmpfs
        "volumes": [{"name": "ecs", "host": {"sourcePath": "/etc/ecs"}}, {"name": "scratch"}],
        "mountPoints": [{"sourceVolume": "ecs", "containerPath": "/in", "readOnly": True},
                        {"sourceVolume": "scratch", "containerPath": "/a"},
                        {"sourceVolume": "scratch", "containerPath": "/b"}],
        "linuxParameters": {"tmpfs": [{"containerPath": "/fast", "size": 4}]},
        "resourceRequirements": [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "64"}]})
    assert _instances(ec2, name, ("pending", "running")) == []  # minvCpus 0: nothing before the load

    started = time.monotonic()
    jobs = [batch.submit_job(jobName=f"where-{index}", jobQueue=queue,
                             jobDefinition=definition["jobDefinitionArn"])["jobId"] for index in range(2)]
    launched = wait_for(lambda: (found := _instances(ec2, name, ("pending", "running"))) and len(found) == 2
                        and found, timeout=30, what="two instances launched for two 2-vCPU jobs")
    assert {tag["Key"]: tag["Value"] for tag in launched[0]["Tags"]}["team"] == "batch-e2e"
    assert all(instance["SubnetId"] == subnet and instance["InstanceType"] == "t3.micro" for instance in launched)
    assert batch.describe_compute_environments(computeEnvironments=[arn])["computeEnvironments"][0][
        "computeResources"]["desiredvCpus"] == 4

    def finished() -> list[dict[str, Any]] | None:
        described = batch.describe_jobs(jobs=jobs)["jobs"]
        if any(job["status"] == "FAILED" for job in described):
            raise AssertionError(f"a job failed: {described}\n" + "\n".join(
                console(env, instance["InstanceId"])[-2000:] for instance in launched))
        return described if all(job["status"] == "SUCCEEDED" for job in described) else None

    try:
        described = wait_for(finished, timeout=240, what="both jobs to succeed on the instances", interval=2)
    except AssertionError:
        for instance in launched:
            print(console(env, instance["InstanceId"])[-3000:])
        raise
    ran = time.monotonic() - started
    hostnames = {instance["PrivateDnsName"].split(".")[0] for instance in launched}
    seen = set()
    for job in described:
        events = logs.get_log_events(logGroupName="/aws/batch/job",
                                     logStreamName=job["container"]["logStreamName"])["events"]
        line = next(event["message"] for event in events if event["message"].startswith("ran-on="))
        host, pid = line.split()[0].removeprefix("ran-on="), line.split()[1]
        assert host in hostnames, (line, hostnames)
        assert pid == "pid=1", line  # its own PID namespace: the job's shell is its init
        assert line.split()[2].startswith("cgroup=0::/cloudlet-batch/"), line  # its limits' cgroup v2 group
        messages = [event["message"] for event in events]
        mounts, session = messages[1:5], json.loads(next(line for line in messages if line.startswith("{")))
        assert [line.partition("=")[0] for line in mounts] == ["ECS_CLUSTER", "read-only", "one", "tmpfs"], mounts
        caller = cloud.client("sts", Credentials(session["AccessKeyId"], session["SecretAccessKey"],
                                                 session["Token"])).get_caller_identity()  # a real session of it
        assert caller["Arn"].startswith(f"arn:aws:sts::{cloud.account_id}:assumed-role/job-{RUN}/"), caller
        assert "token=s3cr3t" in messages  # the secret, read as the execution role
        assert "root=ro nofile=256" in messages  # readonlyRootFilesystem and ulimits
        seen.add(host)
    assert seen == hostnames, "each job ran in its own instance"

    wait_for(lambda: not _instances(ec2, name, ("pending", "running")), timeout=90,
             what="the idle instances to be terminated")
    assert batch.describe_compute_environments(computeEnvironments=[arn])["computeEnvironments"][0][
        "computeResources"]["desiredvCpus"] == 0
    print(f"batch-ec2: jobs SUCCEEDED {ran:.1f} s after submission; scaled back to 0 after "
          f"{time.monotonic() - started:.1f} s")
