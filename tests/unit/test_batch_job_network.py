"""The pure parts of Batch jobs' networking: which subnet and public address an attempt's ENI gets, the VPC
resolver it uses, whether a job role trusts ECS tasks, the ECS credentials endpoint's answers and the podman
options that put a container in the job's namespace."""

from __future__ import annotations

import json
from typing import Any

from agent.batch import podman as pm
from agent.batch.credentials import REFRESH_MARGIN, JobCredentials, answer, expiry
from agent.batch.job_network import INTERFACE
from agent.batch.podman import AttemptSpec, HostLimits, Podman
from agent.contract.naming import service_port
from agent.contract.network import Attachment, Eni, HostNetwork, Subnet, Vpc
from agent.network import naming, plan
from controller.batch import credentials, job_enis
from controller.state import utcnow
from controller.sts.service_sessions import RoleSession

ROLE = "arn:aws:iam::123456789012:role/jobs"


def subnet(subnet_id: str, zone: str, public: bool = False) -> dict[str, Any]:
    return {"subnet_id": subnet_id, "availability_zone": zone, "map_public_ip_on_launch": public}


def trust(principal: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}]})


def test_the_subnet_in_the_hosts_zone_is_chosen_else_the_first() -> None:
    subnets = [subnet("subnet-a", "home-1a"), subnet("subnet-b", "home-1b")]
    assert job_enis.choose_subnet(subnets, "home-1b")["subnet_id"] == "subnet-b"  # type: ignore[arg-type]
    assert job_enis.choose_subnet(subnets, "home-1c")["subnet_id"] == "subnet-a"  # type: ignore[arg-type]


def test_fargate_follows_assign_public_ip_and_ec2_the_subnet() -> None:
    fargate, ec2 = {"computeResources": {"type": "FARGATE_SPOT"}}, {"computeResources": {"type": "EC2"}}
    enabled = {"networkConfiguration": {"assignPublicIp": "ENABLED"}}
    public, private = subnet("subnet-a", "z", public=True), subnet("subnet-b", "z")
    assert job_enis.wants_public_ip(fargate, enabled, private)  # type: ignore[arg-type]
    assert not job_enis.wants_public_ip(fargate, {"networkConfiguration": {"assignPublicIp": "DISABLED"}},
                                        public)  # type: ignore[arg-type]
    assert job_enis.wants_public_ip(ec2, {}, public)  # type: ignore[arg-type]
    assert not job_enis.wants_public_ip(ec2, enabled, private)  # type: ignore[arg-type]


def test_describe_jobs_shows_the_attempts_eni() -> None:
    network = {"attachment_id": "a-1", "ipv4": "10.93.1.7/24"}
    assert job_enis.described(network) == [{"attachmentId": "a-1", "privateIpv4Address": "10.93.1.7"}]
    assert job_enis.described(None) == []


def test_the_resolver_is_the_vpc_base_plus_two() -> None:
    assert job_enis.resolver_address("10.93.0.0/16") == "10.93.0.2"


def test_only_a_role_trusting_ecs_tasks_can_be_a_job_role() -> None:
    assert credentials.trusts_ecs_tasks(trust({"Service": "ecs-tasks.amazonaws.com"}), "123456789012", "home-1")
    assert not credentials.trusts_ecs_tasks(trust({"Service": "ec2.amazonaws.com"}), "123456789012", "home-1")
    assert not credentials.trusts_ecs_tasks(trust({"Service": "ecs-tasks.amazonaws.com"}, Condition={
        "StringEquals": {"aws:SourceAccount": "999999999999"}}), "123456789012", "home-1")
    assert not credentials.trusts_ecs_tasks("not json", "123456789012", "home-1")
    assert "ECS was unable to assume the role" in credentials.assume_refusal(ROLE)


def test_the_session_is_named_after_the_task_and_cloudtrail_shows_ecs_assuming_it() -> None:
    name = credentials.task_id({"log_stream_name": "sdk/default/0123abcd"})
    assert name == "0123abcd"
    now = utcnow()
    role = {"arn": "arn:aws:iam::123456789012:role/team/jobs", "role_name": "jobs", "role_id": "AROAEXAMPLE"}
    record = credentials.assume_role_event("home-1", "123456789012", role, name,
                                           RoleSession("ASIAKEY", "secret", "token", now), now)
    assert (record.operation, record.event_source, record.principal_kind) == ("AssumeRole", "sts.amazonaws.com",
                                                                             "service")
    assert record.parameters == {"roleArn": role["arn"], "roleSessionName": "0123abcd"}
    assert record.response is not None
    assert record.response["assumedRoleUser"]["arn"] == "arn:aws:sts::123456789012:assumed-role/jobs/0123abcd"
    assert "secret" not in json.dumps(record.response)


def test_the_endpoint_answers_its_own_uri_and_fetches_again_only_near_expiry() -> None:
    fetched: list[tuple[str, int]] = []
    document = {"AccessKeyId": "ASIA1", "SecretAccessKey": "s", "Token": "t", "Expiration": "2030-01-01T06:00:00Z",
                "RoleArn": ROLE}

    def fetch(job_id: str, attempt: int) -> dict[str, Any] | None:
        fetched.append((job_id, attempt))
        return document

    job = JobCredentials("job-1", 2, "/v2/credentials/abc")
    now = expiry(document) - 3600
    assert answer("GET", "/v2/credentials/abc", job, fetch, now) == (200, document)
    assert answer("GET", "/v2/credentials/abc", job, fetch, now + 60) == (200, document)
    assert fetched == [("job-1", 2)]
    assert answer("GET", "/v2/credentials/abc", job, fetch, expiry(document) - REFRESH_MARGIN + 1)[0] == 200
    assert len(fetched) == 2
    assert answer("GET", "/v2/credentials/other", job, fetch, now)[0] == 404
    assert answer("PUT", "/v2/credentials/abc", job, fetch, now)[0] == 405
    assert answer("GET", "/v2/credentials/abc", job, fetch, now, client_ip="10.93.1.9")[0] == 403


def test_a_job_without_credentials_at_the_controller_gets_404() -> None:
    job = JobCredentials("job-1", 1, "/v2/credentials/abc")
    assert answer("GET", "/v2/credentials/abc", job, lambda job_id, attempt: None, 0.0)[0] == 404
    assert expiry({"Expiration": "garbage"}) == 0.0


def test_the_container_joins_the_jobs_namespace_with_the_vpc_resolver() -> None:
    spec = AttemptSpec(job_id="j", attempt=1, image="sha256:abc", network="ns:/run/netns/cl-svc-eni-1",
                       dns=("10.93.0.2",))
    argv = pm.run_argv(Podman(runtime="runc"), spec, "/l/x.log", HostLimits(nofile=1024, nproc=1024))
    assert argv[argv.index("--network") + 1] == "ns:/run/netns/cl-svc-eni-1"
    assert "--dns=10.93.0.2" in argv


def test_the_veth_a_job_plugs_itself_is_the_one_the_network_plan_makes() -> None:
    """The batch reconciler plugs its ENI ahead of the next network pass: with the plan's very link (name, MACs,
    bridge, far end), or the next pass would tear it down and rebuild it under the running job."""
    eni = Eni("eni-job1", "subnet-1", "02:AA:00:00:00:01", ["10.93.1.7"], [], ["sg-1"],
              attachment=Attachment(service_port("eni-job1"), "service"))
    vpc = Vpc("vpc-1", ["10.93.0.0/16"], "rtb-main", "acl-1", subnets=[Subnet("subnet-1", "10.93.1.0/24", "az1")],
              enis=[eni])
    router = plan.plan_host(HostNetwork("h-1", [vpc], name_prefix="cx-"), "/run/x").namespace(
        naming.router_netns("cx-", "vpc-1"))
    planned = next(link for link in router.links if link.name == service_port("eni-job1"))
    ours = plan.eni_veth("eni-job1", "subnet-1", "02:AA:00:00:00:01", service_port("eni-job1"),
                         naming.service_netns("cx-", "eni-job1"), INTERFACE)
    assert ours == planned
    assert (ours.master, ours.peer, ours.peer_mac) == (naming.subnet_bridge("subnet-1"), "eth0", "02:aa:00:00:00:01")
