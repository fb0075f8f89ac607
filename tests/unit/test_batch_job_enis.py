"""Job ENIs through the dispatcher over a real Cloud (no agent): one per placed attempt, in the environment's
subnet with its group and on the attempt's host, deleted once the attempt ends; a job whose ENI cannot be
made or whose role does not trust ECS tasks fails before it runs, leaving nothing behind."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.errors import ServiceError
from tests.unit.harness import ACCOUNT, Clouds, root
from tests.unit.test_batch_dispatch import Lab

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}


@pytest.fixture
def lab(clouds: Clouds) -> Lab:
    harness = Lab(clouds.vpc().cloud, ACCOUNT)
    harness.setup(max_vcpus=4)
    return harness


def interfaces(lab: Lab) -> list[dict[str, Any]]:
    return lab.ec2("DescribeNetworkInterfaces", {})["NetworkInterfaces"]


def role(lab: Lab, name: str, service: str) -> str:
    ctx = lab.context("CreateRole", root(ACCOUNT))
    ctx.service = "iam"
    trust = {**TRUST, "Statement": [{**TRUST["Statement"][0], "Principal": {"Service": service}}]}
    return lab.cloud.services["iam"].operations["CreateRole"].handler(
        ctx, {"RoleName": name, "AssumeRolePolicyDocument": json.dumps(trust)})["Role"]["Arn"]


def test_an_attempt_has_its_eni_until_it_ends(lab: Lab) -> None:
    job_id = lab.submit()
    assert lab.dispatcher.run_once() == 1
    [eni] = interfaces(lab)
    [entry] = lab.section()
    network = entry["network"]
    assert network["eni_id"] == eni["NetworkInterfaceId"] and network["ipv4"].startswith(eni["PrivateIpAddress"])
    assert (eni["RequesterManaged"], eni["InterfaceType"], eni["Status"]) == (True, "interface", "in-use")
    assert network["dns"] == ["10.9.0.2"] and network["gateway"].endswith(".1")
    assert "credentials" not in entry and "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" not in entry["environment"]
    lab.report({"job_id": job_id, "attempt": 1, "state": "SUCCEEDED", "exit_code": 0, "logs": []})
    lab.dispatcher.run_once()
    assert interfaces(lab) == []


def test_a_job_role_gets_a_credentials_uri_and_one_not_trusting_ecs_fails_the_job(lab: Lab) -> None:
    trusted, untrusted = role(lab, "jobs", "ecs-tasks.amazonaws.com"), role(lab, "vms", "ec2.amazonaws.com")
    good = lab.submit(jobName="good")
    lab.call("RegisterJobDefinition", {
        "jobDefinitionName": "jd", "type": "container", "platformCapabilities": ["FARGATE"],
        "containerProperties": {"image": "s3://images/busybox.tar", "command": ["echo", "hi"], "jobRoleArn": trusted,
                                "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/x",
                                "resourceRequirements": [{"type": "VCPU", "value": "0.5"},
                                                         {"type": "MEMORY", "value": "1024"}]}})
    with_role = lab.submit()
    lab.call("RegisterJobDefinition", {
        "jobDefinitionName": "jd", "type": "container", "platformCapabilities": ["FARGATE"],
        "containerProperties": {"image": "s3://images/busybox.tar", "command": ["echo", "hi"],
                                "jobRoleArn": untrusted, "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/x",
                                "resourceRequirements": [{"type": "VCPU", "value": "0.5"},
                                                         {"type": "MEMORY", "value": "1024"}]}})
    refused = lab.submit()
    lab.dispatcher.run_once()
    entries = {entry["job_id"]: entry for entry in lab.section()}
    assert sorted(entries) == sorted([good, with_role])
    uri = entries[with_role]["environment"]["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
    assert uri.startswith("/v2/credentials/") and entries[with_role]["credentials"]["relative_uri"] == uri
    detail = lab.job(refused)
    assert detail["status"] == "FAILED" and "ECS was unable to assume the role" in detail["statusReason"]
    assert len(interfaces(lab)) == 2


def test_a_subnet_without_free_addresses_fails_the_job_and_leaves_no_partial_eni(clouds: Clouds) -> None:
    lab = Lab(clouds.vpc().cloud, ACCOUNT)
    lab.setup(max_vcpus=4)
    [group] = [g for g in lab.ec2("DescribeSecurityGroups", {})["SecurityGroups"] if g["GroupName"] == "batch"]
    small = lab.ec2("CreateSubnet", {"VpcId": group["VpcId"], "CidrBlock": "10.9.3.0/28"})["Subnet"]["SubnetId"]
    while True:  # a /28 has 11 addresses after AWS's five reserved ones
        try:
            lab.ec2("CreateNetworkInterface", {"SubnetId": small})
        except ServiceError as exc:
            assert exc.code == "InsufficientFreeAddressesInSubnet"
            break
    taken = len(interfaces(lab))
    lab.call("UpdateComputeEnvironment", {"computeEnvironment": "ce", "computeResources": {
        "subnets": [small], "securityGroupIds": [group["GroupId"]]}})
    job_id = lab.submit()
    lab.dispatcher.run_once()
    detail = lab.job(job_id)
    assert detail["status"] == "FAILED" and detail["statusReason"].startswith("ResourceInitializationError"), detail
    assert len(interfaces(lab)) == taken
