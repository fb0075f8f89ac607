"""AWS Batch's control plane over a real Cloud: compute environments, job queues, scheduling policies, job
definition revisions and tags, with AWS's refusals (ClientException) changing nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.batch import resolve
from tests.unit.harness import ACCOUNT, OTHER_ACCOUNT, CloudHarness, Clouds, root


class BatchCloud(CloudHarness):
    """Batch operations as :data:`ACCOUNT`'s root, with a VPC, two subnets and a security group made in EC2."""

    service = "batch"

    def ec2(self, operation: str, params: dict[str, Any], account: str = ACCOUNT) -> dict[str, Any]:
        ctx = self.context(operation, root(account))
        ctx.service = "ec2"
        return self.cloud.services["ec2"].operations[operation].handler(ctx, params)

    def op(self, service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Another service's operation as :data:`ACCOUNT`'s root."""
        ctx = self.context(operation, root(ACCOUNT))
        ctx.service = service
        return self.cloud.services[service].operations[operation].handler(ctx, params)

    def execution_role(self, name: str, *statements: dict[str, Any], service: str = "ecs-tasks.amazonaws.com") -> str:
        """A role trusting ``service`` (ECS tasks: a job's execution role) with ``statements`` inline."""
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service},
                                                         "Action": "sts:AssumeRole"}]}
        arn = self.op("iam", "CreateRole", {"RoleName": name, "AssumeRolePolicyDocument": json.dumps(trust)})
        if statements:
            self.op("iam", "PutRolePolicy", {"RoleName": name, "PolicyName": "inline", "PolicyDocument": json.dumps(
                {"Version": "2012-10-17", "Statement": list(statements)})})
        return str(arn["Role"]["Arn"])

    def network(self, account: str = ACCOUNT) -> tuple[list[str], str]:
        vpc = self.ec2("CreateVpc", {"CidrBlock": "10.9.0.0/16"}, account)["Vpc"]["VpcId"]
        subnets = [self.ec2("CreateSubnet", {"VpcId": vpc, "CidrBlock": f"10.9.{i}.0/24"}, account)["Subnet"]["SubnetId"]
                   for i in (1, 2)]
        group = self.ec2("CreateSecurityGroup", {"GroupName": "batch", "Description": "batch", "VpcId": vpc},
                         account)["GroupId"]
        return subnets, group

    def snapshot(self) -> dict[str, Any]:
        """Everything the account's Batch shows, to prove that a refused call changed nothing."""
        out = {"ce": self.call("DescribeComputeEnvironments"), "jq": self.call("DescribeJobQueues"),
               "jd": self.call("DescribeJobDefinitions"), "sp": self.call("ListSchedulingPolicies")}
        arns = [p["arn"] for p in out["sp"]["schedulingPolicies"]]
        if arns:
            out["spd"] = self.call("DescribeSchedulingPolicies", {"arns": arns})
        return out


@pytest.fixture
def batch(clouds: Clouds) -> BatchCloud:
    return BatchCloud(clouds.vpc().cloud, ACCOUNT)


@pytest.fixture
def net(batch: BatchCloud) -> tuple[list[str], str]:
    return batch.network()


def ec2_env(batch: BatchCloud, net: tuple[list[str], str], name: str = "ce1", **extra: Any) -> dict[str, Any]:
    subnets, group = net
    resources = {"type": "EC2", "maxvCpus": 16, "instanceTypes": ["optimal"], "subnets": subnets,
                 "securityGroupIds": [group], **extra.pop("resources", {})}
    return batch.call("CreateComputeEnvironment", {"computeEnvironmentName": name, "type": "MANAGED",
                                                   "computeResources": resources, **extra})


def refused(batch: BatchCloud, operation: str, params: dict[str, Any], fragment: str) -> None:
    """The call fails with ClientException (HTTP 400) whose message has ``fragment``, and nothing changed."""
    before = batch.snapshot()
    error = batch.refused(operation, params, "ClientException")
    assert error.status == 400 and error.sender_fault
    assert fragment in error.message, error.message
    assert batch.snapshot() == before


def test_managed_compute_environment_is_valid_with_defaults(batch: BatchCloud, net: tuple[list[str], str]) -> None:
    out = ec2_env(batch, net, tags={"team": "a"})
    region = batch.config.region
    assert out == {"computeEnvironmentName": "ce1",
                   "computeEnvironmentArn": f"arn:aws:batch:{region}:{ACCOUNT}:compute-environment/ce1"}
    [env] = batch.call("DescribeComputeEnvironments", {"computeEnvironments": [out["computeEnvironmentArn"]]}
                       )["computeEnvironments"]
    assert env["status"] == "VALID" and env["state"] == "ENABLED" and env["type"] == "MANAGED"
    assert env["serviceRole"].endswith(":role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch")
    resources = env["computeResources"]
    assert (resources["minvCpus"], resources["desiredvCpus"], resources["maxvCpus"]) == (0, 0, 16)
    assert resources["allocationStrategy"] == "BEST_FIT"
    assert env["tags"] == {"team": "a"}
    assert env["ecsClusterArn"].startswith(f"arn:aws:ecs:{region}:{ACCOUNT}:cluster/ce1_Batch_")


def test_unmanaged_and_fargate_environments(batch: BatchCloud, net: tuple[list[str], str]) -> None:
    batch.call("CreateComputeEnvironment", {"computeEnvironmentName": "own", "type": "UNMANAGED",
                                            "unmanagedvCpus": 8, "serviceRole": "MyBatchRole"})
    subnets, group = net
    batch.call("CreateComputeEnvironment", {"computeEnvironmentName": "fg", "type": "MANAGED", "computeResources": {
        "type": "FARGATE", "maxvCpus": 4, "subnets": subnets, "securityGroupIds": [group]}})
    envs = {e["computeEnvironmentName"]: e for e in batch.call("DescribeComputeEnvironments")["computeEnvironments"]}
    assert envs["own"]["unmanagedvCpus"] == 8 and "computeResources" not in envs["own"]
    assert envs["own"]["serviceRole"] == f"arn:aws:iam::{ACCOUNT}:role/MyBatchRole"
    assert envs["fg"]["computeResources"] == {"type": "FARGATE", "maxvCpus": 4, "subnets": subnets,
                                             "securityGroupIds": [group]}


@pytest.mark.parametrize(("params", "fragment"), [
    ({"type": "MANAGED"}, "computeResources must be specified"),
    ({"type": "UNMANAGED", "computeResources": {"type": "EC2", "maxvCpus": 1}}, "can't be specified"),
    ({"type": "MANAGED", "computeResources": {"type": "EC2", "maxvCpus": 4, "minvCpus": 8, "instanceTypes": ["m5"],
                                              "subnets": ["subnet-0123456789abcdef0"]}}, "minvCpus must be less"),
    ({"type": "MANAGED", "computeResources": {"type": "EC2", "maxvCpus": 4, "desiredvCpus": 5,
                                              "instanceTypes": ["m5"], "subnets": ["subnet-0123456789abcdef0"]}},
     "desiredvCpus must be between"),
    ({"type": "MANAGED", "computeResources": {"type": "EC2", "maxvCpus": 4,
                                              "subnets": ["subnet-0123456789abcdef0"]}}, "instanceTypes must be"),
    ({"type": "MANAGED", "computeResources": {"type": "FARGATE", "maxvCpus": 4, "minvCpus": 0,
                                              "subnets": ["subnet-0123456789abcdef0"], "securityGroupIds": ["sg-1"]}},
     "minvCpus isn't applicable to Fargate"),
    ({"type": "MANAGED", "computeResources": {"type": "EC2", "maxvCpus": 4, "instanceTypes": ["m5"],
                                              "subnets": ["subnet-0123456789abcdef0"]}},
     "The subnet ID 'subnet-0123456789abcdef0' does not exist"),
    ({"type": "OTHER"}, "type OTHER is not valid"),
])
def test_compute_environment_refusals(batch: BatchCloud, params: dict[str, Any], fragment: str) -> None:
    refused(batch, "CreateComputeEnvironment", {"computeEnvironmentName": "bad", **params}, fragment)


def test_network_of_another_account_is_unknown(batch: BatchCloud, net: tuple[list[str], str]) -> None:
    other_subnets, other_group = batch.network(OTHER_ACCOUNT)
    subnets, group = net
    refused(batch, "CreateComputeEnvironment", {"computeEnvironmentName": "x", "type": "MANAGED", "computeResources": {
        "type": "EC2", "maxvCpus": 4, "instanceTypes": ["m5"], "subnets": other_subnets,
        "securityGroupIds": [group]}}, f"The subnet ID '{other_subnets[0]}' does not exist")
    refused(batch, "CreateComputeEnvironment", {"computeEnvironmentName": "x", "type": "MANAGED", "computeResources": {
        "type": "EC2", "maxvCpus": 4, "instanceTypes": ["m5"], "subnets": subnets,
        "securityGroupIds": [other_group]}}, f"The security group '{other_group}' does not exist")


def test_environment_goes_invalid_when_its_security_group_goes(batch: BatchCloud,
                                                               net: tuple[list[str], str]) -> None:
    ec2_env(batch, net)
    batch.ec2("DeleteSecurityGroup", {"GroupId": net[1]})
    [env] = batch.call("DescribeComputeEnvironments")["computeEnvironments"]
    assert env["status"] == "INVALID"
    assert env["statusReason"] == f"CLIENT_ERROR - The security group '{net[1]}' does not exist"
    with batch.db.read() as conn:
        assert resolve.compute_environment(conn, ACCOUNT, batch.config.region, "ce1")["status"] == "INVALID"
    refused(batch, "CreateJobQueue", {"jobQueueName": "q", "priority": 1, "computeEnvironmentOrder": [
        {"order": 1, "computeEnvironment": "ce1"}]}, "is not in VALID status")


def test_duplicate_and_update_rules(batch: BatchCloud, net: tuple[list[str], str]) -> None:
    ec2_env(batch, net)
    refused(batch, "CreateComputeEnvironment", {"computeEnvironmentName": "ce1", "type": "UNMANAGED"},
            "Object already exists")
    batch.call("UpdateComputeEnvironment", {"computeEnvironment": "ce1", "computeResources": {
        "minvCpus": 2, "maxvCpus": 32}})
    resources = batch.call("DescribeComputeEnvironments")["computeEnvironments"][0]["computeResources"]
    assert (resources["minvCpus"], resources["desiredvCpus"], resources["maxvCpus"]) == (2, 2, 32)
    refused(batch, "UpdateComputeEnvironment", {"computeEnvironment": "ce1", "computeResources": {"type": "FARGATE"}},
            "can't be changed between Fargate and EC2")
    refused(batch, "UpdateComputeEnvironment", {"computeEnvironment": "ce1", "computeResources": {"maxvCpus": 1}},
            "minvCpus must be less than or equal to maxvCpus")
    refused(batch, "UpdateComputeEnvironment", {"computeEnvironment": "nope", "state": "DISABLED"},
            "computeEnvironment nope does not exist")


def _queue(batch: BatchCloud, name: str = "q1", envs: tuple[str, ...] = ("ce1",), **extra: Any) -> dict[str, Any]:
    return batch.call("CreateJobQueue", {"jobQueueName": name, "priority": 10, "computeEnvironmentOrder": [
        {"order": i, "computeEnvironment": env} for i, env in enumerate(envs, 1)], **extra})


def test_queue_lifecycle_and_compute_environment_delete_rules(batch: BatchCloud,
                                                               net: tuple[list[str], str]) -> None:
    ce_arn = ec2_env(batch, net)["computeEnvironmentArn"]
    queue = _queue(batch)
    with batch.db.read() as conn:
        detail = resolve.job_queue(conn, ACCOUNT, batch.config.region, queue["jobQueueArn"])
    assert detail is not None and detail == batch.call("DescribeJobQueues", {"jobQueues": ["q1"]})["jobQueues"][0]
    assert detail["computeEnvironmentOrder"] == [{"order": 1, "computeEnvironment": ce_arn}]
    assert (detail["state"], detail["status"], detail["priority"], detail["tags"]) == ("ENABLED", "VALID", 10, {})
    refused(batch, "DeleteComputeEnvironment", {"computeEnvironment": "ce1"}, "DISABLED")
    batch.call("UpdateComputeEnvironment", {"computeEnvironment": ce_arn, "state": "DISABLED"})
    refused(batch, "DeleteComputeEnvironment", {"computeEnvironment": "ce1"},
            "Cannot delete, found existing JobQueue relationship")
    refused(batch, "DeleteJobQueue", {"jobQueue": "q1"}, "DISABLED")
    batch.call("UpdateJobQueue", {"jobQueue": "q1", "state": "DISABLED", "priority": 5})
    assert batch.call("DescribeJobQueues")["jobQueues"][0]["priority"] == 5
    batch.call("DeleteJobQueue", {"jobQueue": queue["jobQueueArn"]})
    batch.call("DeleteComputeEnvironment", {"computeEnvironment": "ce1"})
    assert batch.call("DescribeComputeEnvironments")["computeEnvironments"] == []
    assert batch.call("DescribeJobQueues")["jobQueues"] == []


def test_queue_refusals(batch: BatchCloud, net: tuple[list[str], str]) -> None:
    subnets, group = net
    ec2_env(batch, net)
    for name in ("ce2", "ce3", "ce4"):
        ec2_env(batch, net, name)
    batch.call("CreateComputeEnvironment", {"computeEnvironmentName": "fg", "type": "MANAGED", "computeResources": {
        "type": "FARGATE", "maxvCpus": 4, "subnets": subnets, "securityGroupIds": [group]}})
    refused(batch, "CreateJobQueue", {"jobQueueName": "q", "priority": 1, "computeEnvironmentOrder": [
        {"order": 1, "computeEnvironment": "ce1"}, {"order": 2, "computeEnvironment": "fg"}]}, "can't mix EC2")
    refused(batch, "CreateJobQueue", {"jobQueueName": "q", "priority": 1, "computeEnvironmentOrder": [
        {"order": i, "computeEnvironment": n} for i, n in enumerate(("ce1", "ce2", "ce3", "ce4"))]}, "at most 3")
    refused(batch, "CreateJobQueue", {"jobQueueName": "q", "priority": 1, "computeEnvironmentOrder": [
        {"order": 1, "computeEnvironment": "missing"}]}, "computeEnvironment missing does not exist")
    refused(batch, "CreateJobQueue", {"jobQueueName": "q", "priority": 1, "computeEnvironmentOrder": []},
            "at least one compute environment")
    refused(batch, "CreateJobQueue", {"jobQueueName": "q", "priority": 1, "computeEnvironmentOrder": [
        {"order": 1, "computeEnvironment": "ce1"}], "jobStateTimeLimitActions": [
        {"reason": "stuck", "state": "RUNNABLE", "maxTimeSeconds": 60, "action": "CANCEL"}]}, "between 600 and 86400")
    _queue(batch)
    refused(batch, "UpdateJobQueue", {"jobQueue": "q1", "schedulingPolicyArn": "arn:aws:batch:x"},
            "can't have a scheduling policy added")


def test_scheduling_policy_and_fair_share_queue(batch: BatchCloud, net: tuple[list[str], str]) -> None:
    ec2_env(batch, net)
    policy = {"shareDecaySeconds": 3600, "computeReservation": 10,
              "shareDistribution": [{"shareIdentifier": "A*", "weightFactor": 0.5}, {"shareIdentifier": "B"}]}
    arn = batch.call("CreateSchedulingPolicy", {"name": "fair", "fairsharePolicy": policy, "tags": {"k": "v"}})["arn"]
    assert arn == f"arn:aws:batch:{batch.config.region}:{ACCOUNT}:scheduling-policy/fair"
    [detail] = batch.call("DescribeSchedulingPolicies", {"arns": [arn]})["schedulingPolicies"]
    assert detail["fairsharePolicy"] == policy and detail["tags"] == {"k": "v"}
    refused(batch, "CreateSchedulingPolicy", {"name": "bad", "fairsharePolicy": {"computeReservation": 100}},
            "computeReservation must be between 0 and 99")
    refused(batch, "CreateSchedulingPolicy", {"name": "bad", "fairsharePolicy": {"shareDecaySeconds": 604801}},
            "shareDecaySeconds")
    refused(batch, "UpdateSchedulingPolicy", {"arn": arn, "fairsharePolicy": {"shareDistribution": [
        {"shareIdentifier": "A", "weightFactor": 1000}]}}, "weightFactor")
    _queue(batch, schedulingPolicyArn=arn)
    with batch.db.read() as conn:
        assert resolve.job_queue(conn, ACCOUNT, batch.config.region, "q1")["schedulingPolicyArn"] == arn
        assert resolve.scheduling_policy(conn, ACCOUNT, batch.config.region, arn) == detail
    refused(batch, "DeleteSchedulingPolicy", {"arn": arn}, "found existing JobQueue relationship")
    batch.call("UpdateSchedulingPolicy", {"arn": arn, "fairsharePolicy": {"shareDecaySeconds": 0}})
    assert batch.call("DescribeSchedulingPolicies", {"arns": [arn]})["schedulingPolicies"][0][
        "fairsharePolicy"] == {"shareDecaySeconds": 0}
    assert batch.call("ListSchedulingPolicies", {}) == {"schedulingPolicies": [{"arn": arn}]}


CONTAINER = {"image": "busybox", "command": ["echo", "Ref::greeting"], "vcpus": 1, "memory": 128}


def test_job_definition_revisions(batch: BatchCloud) -> None:
    first = batch.call("RegisterJobDefinition", {"jobDefinitionName": "jd", "type": "container",
                                                 "containerProperties": CONTAINER,
                                                 "parameters": {"greeting": "hi"}})
    second = batch.call("RegisterJobDefinition", {"jobDefinitionName": "jd", "type": "container",
                                                  "containerProperties": {**CONTAINER, "memory": 256},
                                                  "retryStrategy": {"attempts": 3, "evaluateOnExit": [
                                                      {"onExitCode": "1*", "action": "retry"}]},
                                                  "timeout": {"attemptDurationSeconds": 60}})
    region = batch.config.region
    assert (first["revision"], second["revision"]) == (1, 2)
    assert second["jobDefinitionArn"] == f"arn:aws:batch:{region}:{ACCOUNT}:job-definition/jd:2"
    with batch.db.read() as conn:
        latest = resolve.job_definition(conn, ACCOUNT, region, "jd")
    assert latest is not None and latest["revision"] == 2 and latest["status"] == "ACTIVE"
    assert latest["retryStrategy"] == {"attempts": 3, "evaluateOnExit": [{"action": "RETRY", "onExitCode": "1*"}]}
    assert latest["containerProperties"]["command"] == ["echo", "Ref::greeting"]
    batch.call("DeregisterJobDefinition", {"jobDefinition": "jd:2"})
    with batch.db.read() as conn:
        assert resolve.job_definition(conn, ACCOUNT, region, "jd")["revision"] == 1
        assert resolve.job_definition(conn, ACCOUNT, region, "jd:2")["status"] == "INACTIVE"
        assert resolve.job_definition(conn, ACCOUNT, region, second["jobDefinitionArn"])["status"] == "INACTIVE"
    third = batch.call("RegisterJobDefinition", {"jobDefinitionName": "jd", "type": "container",
                                                 "containerProperties": CONTAINER})
    assert third["revision"] == 3
    active = batch.call("DescribeJobDefinitions", {"jobDefinitionName": "jd", "status": "ACTIVE"})["jobDefinitions"]
    assert [d["revision"] for d in active] == [1, 3]
    page = batch.call("DescribeJobDefinitions", {"maxResults": 2})
    rest = batch.call("DescribeJobDefinitions", {"maxResults": 2, "nextToken": page["nextToken"]})
    assert [d["revision"] for d in page["jobDefinitions"] + rest["jobDefinitions"]] == [1, 2, 3]
    assert "nextToken" not in rest
    described = batch.call("DescribeJobDefinitions", {"jobDefinitions": ["jd:1", second["jobDefinitionArn"]]})
    assert [d["revision"] for d in described["jobDefinitions"]] == [1, 2]


@pytest.mark.parametrize(("extra", "fragment"), [
    ({"containerProperties": {"command": ["x"]}}, "image must be specified"),
    ({"containerProperties": {**CONTAINER, "memory": 3}}, "at least 4 MiB"),
    ({"containerProperties": {**CONTAINER, "vcpus": 0}}, "vcpus must be at least 1"),
    ({"containerProperties": {"image": "x", "resourceRequirements": [{"type": "MEMORY", "value": "2"}]}},
     "MEMORY resource requirement must be a whole number of at least 4"),
    ({"retryStrategy": {"attempts": 11}}, "attempts must be between 1 and 10"),
    ({"retryStrategy": {"evaluateOnExit": [{"onExitCode": "abc", "action": "RETRY"}]}}, "onExitCode"),
    ({"timeout": {"attemptDurationSeconds": 59}}, "at least 60 seconds"),
    ({"platformCapabilities": ["FARGATE"]}, "isn't supported for jobs running on Fargate"),
    ({"platformCapabilities": ["FARGATE"], "containerProperties": {
        "image": "x", "executionRoleArn": "arn:aws:iam::111111111111:role/e",
        "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "4096"}]}},
     "MEMORY value 4096 is not supported with VCPU value 0.25"),
    ({"containerProperties": {**CONTAINER, "environment": [{"name": "AWS_BATCH_X", "value": "1"}]}}, "AWS_BATCH"),
    ({"type": "multinode"}, "multinode job definitions are not supported"),
])
def test_job_definition_refusals(batch: BatchCloud, extra: dict[str, Any], fragment: str) -> None:
    refused(batch, "RegisterJobDefinition", {"jobDefinitionName": "bad", "type": "container",
                                             "containerProperties": CONTAINER, **extra}, fragment)


def test_fargate_job_definition_defaults(batch: BatchCloud) -> None:
    batch.call("RegisterJobDefinition", {"jobDefinitionName": "fg", "type": "container",
                                         "platformCapabilities": ["FARGATE"], "containerProperties": {
        "image": "x", "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/e",
        "resourceRequirements": [{"type": "VCPU", "value": "0.5"}, {"type": "MEMORY", "value": "1024"}]}})
    [jd] = batch.call("DescribeJobDefinitions", {"jobDefinitions": ["fg:1"]})["jobDefinitions"]
    assert jd["platformCapabilities"] == ["FARGATE"]
    assert jd["containerProperties"]["fargatePlatformConfiguration"] == {"platformVersion": "LATEST"}
    assert jd["containerProperties"]["networkConfiguration"] == {"assignPublicIp": "DISABLED"}


def test_tagging_any_resource_and_pagination(batch: BatchCloud, net: tuple[list[str], str]) -> None:
    arns = [ec2_env(batch, net, f"ce{i}")["computeEnvironmentArn"] for i in range(5)]
    jd = batch.call("RegisterJobDefinition", {"jobDefinitionName": "jd", "type": "container",
                                              "containerProperties": CONTAINER, "tags": {"a": "1"}})
    batch.call("TagResource", {"resourceArn": jd["jobDefinitionArn"], "tags": {"b": "2"}})
    batch.call("TagResource", {"resourceArn": arns[0], "tags": {"x": "y"}})
    assert batch.call("ListTagsForResource", {"resourceArn": jd["jobDefinitionArn"]}) == {"tags": {"a": "1", "b": "2"}}
    batch.call("UntagResource", {"resourceArn": jd["jobDefinitionArn"], "tagKeys": ["a"]})
    assert batch.call("ListTagsForResource", {"resourceArn": jd["jobDefinitionArn"]}) == {"tags": {"b": "2"}}
    region = batch.config.region
    refused(batch, "TagResource", {"resourceArn": f"arn:aws:batch:{region}:{ACCOUNT}:job-queue/none",
                                   "tags": {"k": "v"}}, "does not exist")
    refused(batch, "TagResource", {"resourceArn": arns[1], "tags": {"aws:k": "v"}}, "reserved")
    refused(batch, "TagResource", {"resourceArn": arns[1], "tags": {f"k{i}": "v" for i in range(51)}}, "50")
    seen, token = [], None
    while True:
        page = batch.call("DescribeComputeEnvironments", {"maxResults": 2, **({"nextToken": token} if token else {})})
        seen += [e["computeEnvironmentArn"] for e in page["computeEnvironments"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == arns
    refused(batch, "DescribeComputeEnvironments", {"nextToken": "garbage"}, "Invalid nextToken")
    refused(batch, "DescribeComputeEnvironments", {"maxResults": 101}, "maxResults")


def test_other_account_sees_nothing(batch: BatchCloud, net: tuple[list[str], str]) -> None:
    arn = ec2_env(batch, net)["computeEnvironmentArn"]
    assert batch.call("DescribeComputeEnvironments", {"computeEnvironments": [arn]},
                      account=OTHER_ACCOUNT)["computeEnvironments"] == []
    batch.refused("DeleteComputeEnvironment", {"computeEnvironment": arn}, "ClientException", account=OTHER_ACCOUNT)
    batch.refused("ListTagsForResource", {"resourceArn": arn}, "ClientException", account=OTHER_ACCOUNT)


def test_iam_resources_are_the_batch_arns(batch: BatchCloud) -> None:
    region = batch.config.region
    base = f"arn:aws:batch:{region}:{ACCOUNT}"
    expected = {
        ("CreateComputeEnvironment", "computeEnvironmentName", "ce"): [f"{base}:compute-environment/ce"],
        ("DeleteComputeEnvironment", "computeEnvironment", "ce"): [f"{base}:compute-environment/ce"],
        ("UpdateJobQueue", "jobQueue", f"{base}:job-queue/q"): [f"{base}:job-queue/q"],
        ("RegisterJobDefinition", "jobDefinitionName", "jd"): [f"{base}:job-definition/jd"],
        ("DeregisterJobDefinition", "jobDefinition", "jd:3"): [f"{base}:job-definition/jd:3"],
        ("TagResource", "resourceArn", f"{base}:job/abc"): [f"{base}:job/abc"],
    }
    operations = batch.cloud.services["batch"].operations
    for (operation, member, value), arns in expected.items():
        mapper = operations[operation].resources
        assert mapper is not None and mapper(batch.context(operation), {member: value}) == arns, operation
    queue = operations["CreateJobQueue"].resources(batch.context("CreateJobQueue"), {
        "jobQueueName": "q", "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "ce"}]})
    assert queue == [f"{base}:job-queue/q", f"{base}:compute-environment/ce"]
    assert operations["DescribeJobQueues"].resources is None
