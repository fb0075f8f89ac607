"""AWS Batch's control plane over the wire with boto3: compute environments in the default VPC, job queues,
scheduling policies, job definition revisions, pagination, tags, and AWS's ClientException refusals (which
change nothing)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.helpers import denied
from tests.support import CloudletProcess


@pytest.fixture
def batch(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("batch")


@pytest.fixture
def network(cloudlet: CloudletProcess) -> tuple[list[str], str]:
    ec2 = cloudlet.client("ec2")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]]
    vpc = ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"]
    group = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                  {"Name": "group-name", "Values": ["default"]}])
    return subnets, group["SecurityGroups"][0]["GroupId"]


def client_error(call: Any, fragment: str, **params: Any) -> None:
    code, status, message = denied(call, **params)
    assert (code, status) == ("ClientException", 400), message
    assert fragment in message, message


def test_compute_environment_queue_definition_lifecycle(batch: Any, network: tuple[list[str], str],
                                                        unique: str) -> None:
    subnets, group = network
    names = [f"{unique}-ce{i}" for i in range(3)]
    arns = [batch.create_compute_environment(
        computeEnvironmentName=name, type="MANAGED", tags={"n": str(i)},
        computeResources={"type": "EC2", "minvCpus": 0, "maxvCpus": 8, "desiredvCpus": 2,
                          "instanceTypes": ["optimal"], "subnets": subnets, "securityGroupIds": [group]},
    )["computeEnvironmentArn"] for i, name in enumerate(names)]
    assert arns[0].endswith(f":compute-environment/{names[0]}")
    client_error(batch.create_compute_environment, "Object already exists", computeEnvironmentName=names[0],
                 type="UNMANAGED")
    client_error(batch.create_compute_environment, "desiredvCpus must be between",
                 computeEnvironmentName=f"{unique}-bad", type="MANAGED",
                 computeResources={"type": "EC2", "maxvCpus": 2, "desiredvCpus": 4, "instanceTypes": ["optimal"],
                                   "subnets": subnets, "securityGroupIds": [group]})
    client_error(batch.create_compute_environment, "does not exist", computeEnvironmentName=f"{unique}-bad",
                 type="MANAGED", computeResources={"type": "EC2", "maxvCpus": 2, "instanceTypes": ["optimal"],
                                                   "subnets": ["subnet-0000000000000000f"]})
    assert batch.describe_compute_environments(computeEnvironments=[f"{unique}-bad"])["computeEnvironments"] == []

    paginator = batch.get_paginator("describe_compute_environments")
    seen = [env["computeEnvironmentName"] for page in paginator.paginate(computeEnvironments=names,
                                                                         PaginationConfig={"PageSize": 2})
            for env in page["computeEnvironments"]]
    assert seen == names
    env = batch.describe_compute_environments(computeEnvironments=[arns[0]])["computeEnvironments"][0]
    assert (env["status"], env["state"], env["tags"]) == ("VALID", "ENABLED", {"n": "0"})
    assert env["computeResources"]["desiredvCpus"] == 2

    queue = batch.create_job_queue(jobQueueName=f"{unique}-q", priority=5, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": names[0]}, {"order": 2, "computeEnvironment": arns[1]}])
    detail = batch.describe_job_queues(jobQueues=[queue["jobQueueArn"]])["jobQueues"][0]
    assert detail["computeEnvironmentOrder"] == [{"order": 1, "computeEnvironment": arns[0]},
                                                 {"order": 2, "computeEnvironment": arns[1]}]
    assert (detail["priority"], detail["state"], detail["status"]) == (5, "ENABLED", "VALID")
    client_error(batch.create_job_queue, "at most 3", jobQueueName=f"{unique}-q2", priority=1,
                 computeEnvironmentOrder=[{"order": i, "computeEnvironment": a} for i, a in enumerate(arns + arns)])

    revisions = [batch.register_job_definition(
        jobDefinitionName=f"{unique}-jd", type="container", parameters={"who": "world"},
        containerProperties={"image": "busybox", "command": ["echo", "Ref::who"], "resourceRequirements": [
            {"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": str(memory)}]},
        retryStrategy={"attempts": 2}, timeout={"attemptDurationSeconds": 120})["revision"] for memory in (64, 128)]
    assert revisions == [1, 2]
    client_error(batch.register_job_definition, "image must be specified", jobDefinitionName=f"{unique}-jd",
                 type="container", containerProperties={"command": ["true"]})
    batch.deregister_job_definition(jobDefinition=f"{unique}-jd:1")
    described = batch.describe_job_definitions(jobDefinitionName=f"{unique}-jd")["jobDefinitions"]
    assert [(d["revision"], d["status"]) for d in described] == [(1, "INACTIVE"), (2, "ACTIVE")]
    assert described[1]["containerProperties"]["command"] == ["echo", "Ref::who"]
    assert batch.register_job_definition(jobDefinitionName=f"{unique}-jd", type="container",
                                         containerProperties={"image": "busybox", "vcpus": 1,
                                                              "memory": 16})["revision"] == 3

    client_error(batch.delete_compute_environment, "DISABLED", computeEnvironment=names[0])
    batch.update_compute_environment(computeEnvironment=names[0], state="DISABLED")
    client_error(batch.delete_compute_environment, "Cannot delete, found existing JobQueue relationship",
                 computeEnvironment=names[0])
    client_error(batch.delete_job_queue, "DISABLED", jobQueue=f"{unique}-q")
    batch.update_job_queue(jobQueue=f"{unique}-q", state="DISABLED", priority=9,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment": arns[1]}])
    assert batch.describe_job_queues(jobQueues=[f"{unique}-q"])["jobQueues"][0]["priority"] == 9
    batch.delete_compute_environment(computeEnvironment=names[0])
    batch.delete_job_queue(jobQueue=f"{unique}-q")
    for name in names[1:]:
        batch.update_compute_environment(computeEnvironment=name, state="DISABLED")
        batch.delete_compute_environment(computeEnvironment=name)
    assert batch.describe_compute_environments(computeEnvironments=names)["computeEnvironments"] == []
    assert batch.describe_job_queues(jobQueues=[f"{unique}-q"])["jobQueues"] == []


def test_scheduling_policies_and_tags(batch: Any, unique: str) -> None:
    arn = batch.create_scheduling_policy(name=f"{unique}-fair", tags={"a": "1"}, fairsharePolicy={
        "shareDecaySeconds": 600, "computeReservation": 5,
        "shareDistribution": [{"shareIdentifier": "blue", "weightFactor": 0.5}]})["arn"]
    assert arn.endswith(f":scheduling-policy/{unique}-fair")
    client_error(batch.create_scheduling_policy, "computeReservation", name=f"{unique}-bad",
                 fairsharePolicy={"computeReservation": 150})
    listed = [p["arn"] for page in batch.get_paginator("list_scheduling_policies").paginate()
              for p in page["schedulingPolicies"]]
    assert arn in listed and not any(a.endswith(f"{unique}-bad") for a in listed)
    batch.tag_resource(resourceArn=arn, tags={"b": "2"})
    batch.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert batch.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    policy = batch.describe_scheduling_policies(arns=[arn])["schedulingPolicies"][0]
    assert policy["tags"] == {"b": "2"}
    assert policy["fairsharePolicy"]["shareDistribution"] == [{"shareIdentifier": "blue", "weightFactor": 0.5}]
    missing = arn.replace(f"{unique}-fair", f"{unique}-none")
    client_error(batch.tag_resource, "does not exist", resourceArn=missing, tags={"k": "v"})
    batch.update_scheduling_policy(arn=arn, fairsharePolicy={"shareDecaySeconds": 3600})
    assert batch.describe_scheduling_policies(arns=[arn])["schedulingPolicies"][0]["fairsharePolicy"] == {
        "shareDecaySeconds": 3600}
    batch.delete_scheduling_policy(arn=arn)
    assert batch.describe_scheduling_policies(arns=[arn])["schedulingPolicies"] == []
