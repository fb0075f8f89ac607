"""AWS Batch jobs on the network: a job ENI per attempt, the job role's credentials, S3 from inside the job.

A ``cloudlet up`` with its agent (which runs the VPC dataplane and the job containers) and a VPC with an
Internet gateway. The job image (``tests.batch_sdk_image``: python3 and boto3) goes through Cloudlet's S3 as an
``s3://`` image. The job definitions name a job role that trusts ``ecs-tasks.amazonaws.com`` and ask Fargate
for a public IP; in the container boto3 finds its credentials by itself (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``,
served at 169.254.170.2 inside the job's namespace) and resolves S3's name with the VPC's resolver, which
leads to the cloud's API relay through the Internet gateway, as for instances. ``AWS_ENDPOINT_URL_S3`` names
S3's own name over plain HTTP only because the image carries no trust store for the cloud's certificate.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.batch_sdk_image import sdk_oci_archive
from tests.e2e.test_batch_run import (
    agent_registrations,
    batch_cloud,
    ended,
    execution_role,
    job,
    log_messages,
)
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import CloudletProcess, wait_for

require(missing_root() + missing_tools("podman", "runc"), "the Batch network tests")
pytestmark = pytest.mark.root

RUN = uuid.uuid4().hex[:6]
IMAGE_REF = f"cloudlet-batch-sdk:{RUN}"
ECS_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
EC2_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})

#: What the jobs run: ``square`` reads in/<array index> and writes its square to out/<index>; ``read KEY [DELAY]``
#: prints an object (with DELAY: once it had credentials, DELAY seconds later, with credentials asked again);
#: ``whoami`` prints the credentials' source. An S3 error prints its code and exits 2;
#: an unreachable S3 exits 3.
SCRIPT = """
import os, sys, time, boto3, botocore.exceptions
from botocore.config import Config
def client():  # a new session asks the credentials endpoint again
    config = Config(connect_timeout=3, read_timeout=15, retries={"max_attempts": 2})
    return boto3.Session().client("s3", config=config)
bucket, mode = sys.argv[1], sys.argv[2]
try:
    if len(sys.argv) > 4:
        boto3.Session().get_credentials().get_frozen_credentials()
        print("credentials ready", flush=True)
        time.sleep(float(sys.argv[4]))
    s3 = client()
    if mode == "square":
        index = os.environ["AWS_BATCH_JOB_ARRAY_INDEX"]
        number = int(s3.get_object(Bucket=bucket, Key=f"in/{index}")["Body"].read())
        s3.put_object(Bucket=bucket, Key=f"out/{index}", Body=str(number * number).encode())
    elif mode == "read":
        print("read", s3.get_object(Bucket=bucket, Key=sys.argv[3])["Body"].read().decode())
    elif mode == "whoami":
        print("uri", os.environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "none"))
        print("credentials", boto3.Session().get_credentials() is not None)
except botocore.exceptions.ClientError as error:
    print("error", error.response["Error"]["Code"])
    sys.exit(2)
except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as error:
    print("unreachable", error)
    sys.exit(3)
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    yield from batch_cloud(tmp_path_factory, "batch-network", IMAGE_REF)


def _role(iam: Any, name: str, trust: str, policy: dict[str, Any] | None = None) -> str:
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="data", PolicyDocument=json.dumps(policy))
    return arn


def _queue(batch: Any, name: str, subnet: str, group: str) -> str:
    env = batch.create_compute_environment(
        computeEnvironmentName=f"ce-{name}", type="MANAGED",
        computeResources={"type": "FARGATE", "maxvCpus": 8, "subnets": [subnet], "securityGroupIds": [group]})
    wait_for(lambda: batch.describe_compute_environments(computeEnvironments=[env["computeEnvironmentArn"]])
             ["computeEnvironments"][0]["status"] == "VALID", timeout=20, what="the compute environment")
    return batch.create_job_queue(jobQueueName=f"q-{name}", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}])["jobQueueArn"]


@pytest.fixture(scope="module")
def lab(cloud: CloudletProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A public subnet, an open and an egress-less security group (a queue on each), the data bucket, the
    image, the roles and one job definition per role."""
    s3, ec2, batch, iam = cloud.client("s3"), cloud.client("ec2"), cloud.client("batch"), cloud.client("iam")
    bucket = f"batch-data-{RUN}"
    s3.create_bucket(Bucket=bucket)
    archive = sdk_oci_archive(tmp_path_factory.mktemp("image") / "image.tar", IMAGE_REF)
    s3.put_object(Bucket=bucket, Key="images/sdk.tar", Body=Path(archive).read_bytes())
    vpc = ec2.create_vpc(CidrBlock="10.93.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.93.1.0/24")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    table = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][0]
    ec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    open_group = ec2.create_security_group(GroupName=f"open-{RUN}", Description="open", VpcId=vpc)["GroupId"]
    closed_group = ec2.create_security_group(GroupName=f"closed-{RUN}", Description="no egress",
                                             VpcId=vpc)["GroupId"]
    ec2.revoke_security_group_egress(GroupId=closed_group, IpPermissions=[{"IpProtocol": "-1",
                                                                            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    data = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    roles = {"data": _role(iam, f"batch-data-{RUN}", ECS_TRUST, data),
             "none": _role(iam, f"batch-none-{RUN}", ECS_TRUST),
             "ec2": _role(iam, f"batch-ec2-{RUN}", EC2_TRUST, data)}
    region = cloud.region
    execution = execution_role(iam, f"batch-exec-{RUN}", {"Effect": "Allow", "Action": "s3:GetObject",
                                                           "Resource": f"arn:aws:s3:::{bucket}/images/*"})
    definitions = {}
    for name, role, public in [*((name, role, "ENABLED") for name, role in roles.items()),
                               ("anonymous", None, "ENABLED"), ("private", roles["data"], "DISABLED")]:
        properties: dict[str, Any] = {
            "image": f"s3://{bucket}/images/sdk.tar", "command": ["python3", "-c", SCRIPT, bucket, "whoami"],
            "executionRoleArn": execution, "networkConfiguration": {"assignPublicIp": public},
            "environment": [{"name": "AWS_ENDPOINT_URL_S3", "value": f"http://s3.{region}.amazonaws.com"}],
            "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}]}
        if role:
            properties["jobRoleArn"] = role
        definitions[name] = batch.register_job_definition(
            jobDefinitionName=f"sdk-{name}-{RUN}", type="container", platformCapabilities=["FARGATE"],
            containerProperties=properties)["jobDefinitionArn"]
    return {"batch": batch, "logs": cloud.client("logs"), "s3": s3, "ec2": ec2, "bucket": bucket, "roles": roles,
            "trail": cloud.client("cloudtrail"),
            "subnet": subnet, "open_group": open_group, "definitions": definitions,
            "queue": _queue(batch, f"open-{RUN}", subnet, open_group),
            "closed_queue": _queue(batch, f"closed-{RUN}", subnet, closed_group)}


def submit(lab: dict[str, Any], name: str, definition: str, args: list[str], *, queue: str = "queue",
           **extra: Any) -> str:
    return lab["batch"].submit_job(
        jobName=name, jobQueue=lab[queue], jobDefinition=lab["definitions"][definition],
        containerOverrides={"command": ["python3", "-c", SCRIPT, lab["bucket"], *args]}, **extra)["jobId"]


def messages(lab: dict[str, Any], detail: dict[str, Any]) -> list[str]:
    stream = detail["container"]["logStreamName"]
    found: list[str] = []

    def logged() -> bool:
        found[:] = log_messages(lab["logs"], stream)
        return bool(found)

    wait_for(logged, timeout=15, what=f"the log of {detail['jobId']}")
    return found


def job_interfaces(lab: dict[str, Any]) -> list[dict[str, Any]]:
    return lab["ec2"].describe_network_interfaces(Filters=[
        {"Name": "subnet-id", "Values": [lab["subnet"]]},
        {"Name": "requester-managed", "Values": ["true"]}])["NetworkInterfaces"]


def test_an_array_of_100_squares_numbers_from_s3_into_s3(lab: dict[str, Any]) -> None:
    s3 = lab["s3"]
    for index in range(100):
        s3.put_object(Bucket=lab["bucket"], Key=f"in/{index}", Body=str(index).encode())
    array = submit(lab, "squares", "data", ["square"], arrayProperties={"size": 100})
    parent = ended(lab["batch"], array, timeout=600)
    assert parent["status"] == "SUCCEEDED", parent
    results = {index: s3.get_object(Bucket=lab["bucket"], Key=f"out/{index}")["Body"].read().decode()
               for index in range(100)}
    assert results == {index: str(index * index) for index in range(100)}


def test_the_job_role_reads_s3_and_a_role_without_permission_is_refused(lab: dict[str, Any]) -> None:
    lab["s3"].put_object(Bucket=lab["bucket"], Key="hello.txt", Body=b"hello from s3")
    allowed = submit(lab, "allowed", "data", ["read", "hello.txt"])
    refused = submit(lab, "refused", "none", ["read", "hello.txt"])
    anonymous = submit(lab, "anonymous", "anonymous", ["whoami"])
    detail = ended(lab["batch"], allowed, timeout=90)
    assert detail["status"] == "SUCCEEDED", detail
    assert "read hello from s3" in messages(lab, detail)
    task_id = detail["container"]["logStreamName"].rsplit("/", 1)[-1]

    def ecs_assumed_the_role() -> bool:
        events = lab["trail"].lookup_events(LookupAttributes=[{"AttributeKey": "EventName",
                                                               "AttributeValue": "AssumeRole"}])["Events"]
        documents = [json.loads(event["CloudTrailEvent"]) for event in events]
        return any(document["userIdentity"]["type"] == "AWSService"
                   and document["sourceIPAddress"] == "ecs-tasks.amazonaws.com"
                   and document["requestParameters"] == {"roleArn": lab["roles"]["data"], "roleSessionName": task_id}
                   for document in documents)

    wait_for(ecs_assumed_the_role, timeout=15, what="CloudTrail's AssumeRole of the job role by ECS")
    detail = ended(lab["batch"], refused, timeout=90)
    assert (detail["status"], detail["container"]["exitCode"]) == ("FAILED", 2), detail
    assert "error AccessDenied" in messages(lab, detail)
    detail = ended(lab["batch"], anonymous, timeout=90)
    assert detail["status"] == "SUCCEEDED", detail
    assert messages(lab, detail) == ["uri none", "credentials False"]


def test_a_role_that_does_not_trust_ecs_tasks_fails_the_job(lab: dict[str, Any]) -> None:
    detail = ended(lab["batch"], submit(lab, "untrusted", "ec2", ["whoami"]), timeout=60)
    assert detail["status"] == "FAILED", detail
    assert "ECS was unable to assume the role" in detail["statusReason"], detail


def test_the_job_eni_lives_as_long_as_the_attempt(lab: dict[str, Any]) -> None:
    batch = lab["batch"]
    before = {eni["NetworkInterfaceId"] for eni in job_interfaces(lab)}
    job_id = lab["batch"].submit_job(
        jobName="sleeper", jobQueue=lab["queue"], jobDefinition=lab["definitions"]["anonymous"],
        containerOverrides={"command": ["sh", "-c", "trap 'exit 143' TERM; sleep 60 & wait"]})["jobId"]
    wait_for(lambda: job(batch, job_id)["status"] == "RUNNING", timeout=60, what="the job to run")
    new = [eni for eni in job_interfaces(lab) if eni["NetworkInterfaceId"] not in before]
    assert len(new) == 1, new
    eni = new[0]
    assert (eni["InterfaceType"], eni["RequesterManaged"], eni["Status"]) == ("interface", True, "in-use")
    assert eni["Description"].startswith("arn:aws:ecs:") and ":attachment/" in eni["Description"]
    assert [group["GroupId"] for group in eni["Groups"]] == [lab["open_group"]]
    assert eni["Association"]["PublicIp"]
    assert job(batch, job_id)["container"]["networkInterfaces"] == [
        {"attachmentId": eni["Description"].rsplit("/", 1)[-1], "privateIpv4Address": eni["PrivateIpAddress"]}]
    batch.terminate_job(jobId=job_id, reason="done looking")
    wait_for(lambda: eni["NetworkInterfaceId"] not in {e["NetworkInterfaceId"] for e in job_interfaces(lab)},
             timeout=60, what="the job's ENI to be deleted")


def test_a_security_group_without_egress_or_no_public_ip_keeps_the_job_from_s3(lab: dict[str, Any]) -> None:
    """The same read that succeeds on the open queue: without egress, or without a public IP in a subnet whose
    only way out is the Internet gateway (no NAT gateway, no endpoint), S3 cannot be reached."""
    blocked = submit(lab, "blocked", "data", ["read", "hello.txt"], queue="closed_queue")
    private = submit(lab, "private", "private", ["read", "hello.txt"])
    for job_id in (blocked, private):
        detail = ended(lab["batch"], job_id, timeout=120)
        logged = messages(lab, detail)
        assert (detail["status"], detail["container"]["exitCode"]) == ("FAILED", 3), logged
        assert any(line.startswith("unreachable") for line in logged), logged


def test_a_running_job_keeps_its_network_and_credentials_across_a_restart(cloud: CloudletProcess,
                                                                          lab: dict[str, Any]) -> None:
    """The cloud and its agent restart while the job sleeps: the new agent adopts the container and serves its
    credentials again in its namespace, whose ENI stayed; the read after the restart succeeds."""
    lab["s3"].put_object(Bucket=lab["bucket"], Key="later.txt", Body=b"still here")
    job_id = submit(lab, "restart", "data", ["read", "later.txt", "30"])
    wait_for(lambda: job(lab["batch"], job_id)["status"] == "RUNNING", timeout=60, what="the job to run")
    stream = job(lab["batch"], job_id)["container"]["logStreamName"]
    logs = lab["logs"]

    def first_credentials() -> bool:
        try:
            return "credentials ready" in log_messages(logs, stream)
        except logs.exceptions.ResourceNotFoundException:  # the stream comes with the first line
            return False

    wait_for(first_credentials, timeout=30, what="the job's first credentials")
    registrations = agent_registrations(cloud)
    cloud.restart()
    wait_for(lambda: agent_registrations(cloud) > registrations, timeout=60, what="the agent to register again")
    detail = ended(lab["batch"], job_id, timeout=90)
    assert detail["status"] == "SUCCEEDED", messages(lab, detail)
    assert messages(lab, detail) == ["credentials ready", "read still here"]


def test_no_job_eni_or_namespace_is_left_behind(cloud: CloudletProcess, lab: dict[str, Any]) -> None:
    """Last: every job above has ended, so their ENIs are deleted and the agent removed their namespaces."""
    wait_for(lambda: not job_interfaces(lab), timeout=30, what="every job ENI to be deleted")
    prefix = cloud.extra_env["CLOUDLET_AGENT_NAME_PREFIX"] + "svc-eni-"
    wait_for(lambda: prefix not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout,
             timeout=30, what="every job namespace to be removed")
