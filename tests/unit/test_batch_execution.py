"""What a Batch attempt needs before its container starts, over a real Cloud (no agent): its secrets read as the
job's execution role from SSM Parameter Store, its volumes (EFS refused with the reason why), and the fail-over
of attempts whose host stopped answering. The agent's side is covered end to end (tests/e2e/test_batch_execution.py).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Flask
from sqlalchemy import update

from agent.contract.hosts import Heartbeat
from controller.batch import attempts, lost_hosts, secrets, volumes
from controller.hosts import agent_api
from controller.hosts import state as host_state
from controller.hosts.credentials import AgentCredentials
from tests.unit.harness import ACCOUNT, Clouds
from tests.unit.test_batch_dispatch import IMAGE, Lab

READ_PARAMETERS = {"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": "*"}


def lab_with(clouds: Clouds, **container: Any) -> Lab:
    """The dispatcher's lab with a second definition ``jd2`` whose containerProperties add ``container``."""
    lab = Lab(clouds.vpc().cloud, ACCOUNT)
    lab.setup()
    lab.call("RegisterJobDefinition", {
        "jobDefinitionName": "jd2", "type": "container", "platformCapabilities": ["FARGATE"],
        "containerProperties": {"image": IMAGE, "command": ["true"], "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/x",
                                "resourceRequirements": [{"type": "VCPU", "value": "0.5"},
                                                         {"type": "MEMORY", "value": "1024"}], **container}})
    return lab


def test_secrets_are_read_as_the_execution_role(clouds: Clouds) -> None:
    lab = Lab(clouds.vpc().cloud, ACCOUNT)
    reader = lab.execution_role("reader", READ_PARAMETERS)
    lab.op("ssm", "PutParameter", {"Name": "/app/token", "Value": "plain", "Type": "String"})
    lab.op("ssm", "PutParameter", {"Name": "/app/key", "Value": "line 1\nline 2", "Type": "SecureString"})
    key_arn = f"arn:aws:ssm:{lab.config.region}:{ACCOUNT}:parameter/app/key"
    wanted = [{"name": "TOKEN", "valueFrom": "/app/token"}, {"name": "KEY", "valueFrom": key_arn},
              {"name": "AGAIN", "valueFrom": "/app/token"}]
    assert secrets.resolve(lab.cloud, reader, wanted) == {"TOKEN": "plain", "KEY": "line 1\nline 2", "AGAIN": "plain"}


def test_a_secret_that_cannot_be_read_has_ecs_reason(clouds: Clouds) -> None:
    lab = Lab(clouds.vpc().cloud, ACCOUNT)
    lab.op("ssm", "PutParameter", {"Name": "/app/token", "Value": "plain", "Type": "String"})
    reader = lab.execution_role("reader", READ_PARAMETERS)
    powerless = lab.execution_role("powerless")
    lambda_role = lab.execution_role("for-lambda", READ_PARAMETERS, service="lambda.amazonaws.com")
    token = [{"name": "TOKEN", "valueFrom": "/app/token"}]

    def reason(role: str | None, wanted: list[dict[str, str]]) -> str:
        answer = secrets.resolve(lab.cloud, role, wanted)
        assert isinstance(answer, str) and answer.startswith(secrets.REASON_PREFIX), answer
        return answer

    assert "AccessDeniedException" in reason(powerless, token) and "ssm:GetParameters" in reason(powerless, token)
    assert reason(reader, [{"name": "X", "valueFrom": "/nope"}]).endswith("invalid parameters: /nope")
    assert "ECS was unable to assume the role" in reason(lambda_role, token)
    assert "ECS was unable to assume the role" in reason(f"arn:aws:iam::{ACCOUNT}:role/gone", token)
    manager = f"arn:aws:secretsmanager:{lab.config.region}:{ACCOUNT}:secret:db-AbCdEf"
    assert "unable to retrieve secret from asm" in reason(reader, [{"name": "DB", "valueFrom": manager}])
    assert "executionRoleArn is required" in reason(None, token)
    assert secrets.resolve(lab.cloud, None, []) == {}


def test_the_section_carries_secret_references_and_mounts_never_values(clouds: Clouds) -> None:
    lab = lab_with(clouds, secrets=[{"name": "TOKEN", "valueFrom": "/app/token"}],
                   volumes=[{"name": "scratch"}], mountPoints=[{"sourceVolume": "scratch", "containerPath": "/work"}])
    lab.submit(jobDefinition="jd2")
    assert lab.dispatcher.run_once() == 1
    entry = lab.section()[0]
    assert entry["secrets"] == [{"name": "TOKEN", "valueFrom": "/app/token"}]
    assert entry["execution_role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/x"
    assert entry["mounts"] == [{"volume": "scratch", "source": None, "target": "/work", "read_only": False}]
    assert "TOKEN" not in entry["environment"]


def test_the_agent_reads_an_attempts_secrets_only_for_an_attempt_placed_on_it(clouds: Clouds) -> None:
    lab = lab_with(clouds, secrets=[{"name": "TOKEN", "valueFrom": "/app/token"}])
    lab.op("ssm", "PutParameter", {"Name": "/app/token", "Value": "plain", "Type": "String"})
    lab.cloud.agent_token = "t"
    lab.cloud.agent_credentials = AgentCredentials(lab.db, "t")
    app = Flask("test")
    app.register_blueprint(agent_api.blueprint, url_prefix="/_cloudlet/agent/v1")
    app.config["CLOUD"] = lab.cloud

    def ask(host_id: str, job_id: str, attempt: int) -> Any:
        return app.test_client().post(f"/_cloudlet/agent/v1/hosts/{host_id}/batch/secrets",
                                      json={"job_id": job_id, "attempt": attempt}, headers={"Authorization": "Bearer t"})

    job_id = lab.submit(jobDefinition="jd2")
    lab.dispatcher.run_once()
    denied = ask("h-1", job_id, 1).get_json()  # role x may not read parameters yet
    assert denied["reason"].startswith(secrets.REASON_PREFIX) and "AccessDeniedException" in denied["reason"]
    lab.op("iam", "PutRolePolicy", {"RoleName": "x", "PolicyName": "read", "PolicyDocument": json.dumps(
        {"Version": "2012-10-17", "Statement": [READ_PARAMETERS]})})
    assert ask("h-1", job_id, 1).get_json() == {"values": {"TOKEN": "plain"}}
    assert ask("h-2", job_id, 1).status_code == 404 and ask("h-1", job_id, 2).status_code == 404


def test_an_efs_volume_fails_the_attempt_before_it_starts(clouds: Clouds) -> None:
    lab = lab_with(clouds, volumes=[{"name": "shared", "efsVolumeConfiguration": {"fileSystemId": "fs-1234"}}],
                   mountPoints=[{"sourceVolume": "shared", "containerPath": "/shared"}])
    job_id = lab.submit(jobDefinition="jd2")
    assert lab.dispatcher.run_once() == 0
    failed = lab.job(job_id)
    assert failed["status"] == "FAILED" and failed["statusReason"].startswith("ResourceInitializationError")
    assert "no NFS client" in failed["statusReason"] and "fs-1234" in failed["statusReason"]


def test_fargate_refuses_host_source_paths_and_devices_are_checked(clouds: Clouds) -> None:
    lab = lab_with(clouds)
    base = {"jobDefinitionName": "bad", "type": "container", "platformCapabilities": ["FARGATE"],
            "containerProperties": {"image": IMAGE, "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/x",
                                    "resourceRequirements": [{"type": "VCPU", "value": "0.5"},
                                                             {"type": "MEMORY", "value": "1024"}],
                                    "volumes": [{"name": "h", "host": {"sourcePath": "/srv"}}]}}
    error = lab.refused("RegisterJobDefinition", base, "ClientException")
    assert "sourcePath isn't supported for jobs running on Fargate" in error.message
    ec2 = {"jobDefinitionName": "dev", "type": "container",
           "containerProperties": {"image": IMAGE, "vcpus": 1, "memory": 64,
                                   "linuxParameters": {"devices": [{"hostPath": "/dev/fuse", "permissions": ["EXEC"]}]}}}
    assert "EXEC is not valid" in lab.refused("RegisterJobDefinition", ec2, "ClientException").message


def test_volume_and_linux_parameter_translation() -> None:
    container = {"volumes": [{"name": "h", "host": {"sourcePath": "/srv"}}, {"name": "s", "host": {}}],
                 "mountPoints": [{"sourceVolume": "h", "containerPath": "/in", "readOnly": True},
                                 {"sourceVolume": "s", "containerPath": "/out"}],
                 "linuxParameters": {"devices": [{"hostPath": "/dev/fuse"}, {"hostPath": "/dev/null",
                                                                            "containerPath": "/dev/n",
                                                                            "permissions": ["READ"]}],
                                     "tmpfs": [{"containerPath": "/run", "size": 8, "mountOptions": ["noexec"]}]}}
    assert volumes.mounts(container) == [{"volume": "h", "source": "/srv", "target": "/in", "read_only": True},
                                         {"volume": "s", "source": None, "target": "/out", "read_only": False}]
    assert volumes.devices(container) == ["/dev/fuse:/dev/fuse:rwm", "/dev/null:/dev/n:r"]
    assert volumes.tmpfs(container) == ["/run:size=8m,noexec"]
    assert volumes.unmountable(container) is None
    assert "not an absolute path" in str(volumes.unmountable({"volumes": [{"name": "r", "host": {"sourcePath": "x"}}]}))


def test_process_settings_translation() -> None:
    container = {"user": "1000:1000", "readonlyRootFilesystem": True,
                 "ulimits": [{"name": "nofile", "softLimit": 256, "hardLimit": 512}],
                 "linuxParameters": {"initProcessEnabled": True, "sharedMemorySize": 64}}
    assert attempts.process_settings(container) == {
        "user": "1000:1000", "read_only_root": True, "ulimits": [{"name": "nofile", "soft": 256, "hard": 512}],
        "init_process": True, "shared_memory_mib": 64}
    assert attempts.process_settings({}) == {"user": None, "read_only_root": False, "ulimits": [],
                                             "init_process": False, "shared_memory_mib": None}


def age_host(lab: Lab, host_id: str = "h-1") -> None:
    """The host's last heartbeat, moved back past the timeout: it is down."""
    with lab.db.begin() as conn:
        conn.execute(update(host_state.hosts).where(host_state.hosts.c.host_id == host_id).values(
            last_heartbeat=dt.datetime.now(dt.UTC) - host_state.HEARTBEAT_TIMEOUT - dt.timedelta(seconds=5)))


def test_attempts_of_a_lost_host_fail_over_and_retry_elsewhere(clouds: Clouds) -> None:
    lab = lab_with(clouds)
    job_id = lab.submit(retryStrategy={"attempts": 2})
    assert lab.dispatcher.run_once() == 1
    lab.report({"job_id": job_id, "attempt": 1, "state": "RUNNING", "started_at": 1000})
    age_host(lab)
    assert lab.dispatcher.run_once() == 0  # failed over, and nowhere to run again
    again = lab.job(job_id)
    assert again["status"] == "RUNNABLE" and again["attempts"][0]["statusReason"] == lost_hosts.FARGATE_REASON
    assert lab.section() == []
    host_state.heartbeat(lab.db, Heartbeat("h-1", 0.0, 1024))
    assert lab.dispatcher.run_once() == 1 and lab.section()[0]["attempt"] == 2
    age_host(lab)
    lab.dispatcher.run_once()
    ended = lab.job(job_id)
    assert ended["status"] == "FAILED" and ended["statusReason"] == lost_hosts.FARGATE_REASON
    assert len(ended["attempts"]) == 2


def test_lost_host_reasons_and_selection() -> None:
    assert lost_hosts.reason("h-9", "EC2") == "Host EC2 (instance h-9) terminated."
    assert lost_hosts.reason("h-9", "FARGATE_SPOT") == lost_hosts.FARGATE_REASON
    assert lost_hosts.lost([("a", "h-1"), ("b", "h-2")], {"h-1"}) == ["b"]
