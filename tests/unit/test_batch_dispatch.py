"""The Batch dispatcher over a real Cloud (no agent): placements within maxvCpus and host room, the ``batch``
host section they make, the agents' reports settling attempts, TerminateJob reaching placed attempts, and an
image Cloudlet cannot have failing the job. The image fetch itself is covered end to end
(tests/e2e/test_batch_run.py): here the dispatcher is told the archive's digest up front."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from agent.contract.codec import from_json
from agent.contract.hosts import HostRegistration
from agent.contract.reports import BatchAttemptReport, BatchReport
from agent.contract.version import ContractError
from controller import service_calls
from controller.auth.store import root_principal
from controller.batch import attempts, execution_role, jobs_state, lifecycle, reports
from controller.batch.dispatch import Dispatcher
from controller.hosts import state as host_state
from controller.hosts.desired import HostContext
from controller.logs import ingest
from tests.unit.harness import ACCOUNT, Clouds
from tests.unit.test_batch_resources import BatchCloud

IMAGE = "s3://images/busybox.tar"
#: Who reads the job's image: its execution role (``x``)'s session.
ROLE_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/x/{execution_role.SESSION_NAME}"


class Lab(BatchCloud):
    def setup(self, max_vcpus: int = 1, image: str = IMAGE) -> None:
        subnets, group = self.network()
        self.execution_role("x")
        self.call("CreateComputeEnvironment", {"computeEnvironmentName": "ce", "type": "MANAGED", "computeResources": {
            "type": "FARGATE", "maxvCpus": max_vcpus, "subnets": subnets, "securityGroupIds": [group]}})
        self.call("CreateJobQueue", {"jobQueueName": "q", "priority": 1,
                                     "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "ce"}]})
        self.call("RegisterJobDefinition", {
            "jobDefinitionName": "jd", "type": "container", "platformCapabilities": ["FARGATE"],
            "containerProperties": {"image": image, "command": ["echo", "hi"],
                                    "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/x",
                                    "resourceRequirements": [{"type": "VCPU", "value": "0.5"},
                                                             {"type": "MEMORY", "value": "1024"}]}})
        host_state.register(self.db, HostRegistration(
            host_id="h-1", hostname="h1", zone="z", vcpus=8, memory_mib=16384, disk_gib=10, hypervisor="none",
            agent_version="t", capabilities=["batch"]))
        self.dispatcher = Dispatcher(self.cloud)
        self.dispatcher._images[(ROLE_SESSION, IMAGE)] = "ab" * 32

    def submit(self, **params: Any) -> str:
        return self.call("SubmitJob", {"jobName": "j", "jobQueue": "q", "jobDefinition": "jd", **params})["jobId"]

    def job(self, job_id: str) -> dict[str, Any]:
        return self.call("DescribeJobs", {"jobs": [job_id]})["jobs"][0]

    def section(self) -> list[dict[str, Any]]:
        return attempts.batch_section(HostContext(self.db, self.config, "h-1", None))["attempts"]

    def report(self, item: dict[str, Any]) -> None:
        with self.db.begin() as conn:
            placed = conn.execute(select(attempts.attempts).where(
                attempts.attempts.c.job_id == item["job_id"])).mappings().first()
            reports.settle(conn, placed, from_json(BatchAttemptReport, item))


@pytest.fixture
def lab(clouds: Clouds) -> Lab:
    harness = Lab(clouds.vpc().cloud, ACCOUNT)
    harness.setup()
    return harness


def test_placements_respect_max_vcpus_and_make_the_hosts_section(lab: Lab) -> None:
    ids = [lab.submit() for _ in range(3)]
    assert lab.dispatcher.run_once() == 2
    assert [lab.job(job_id)["status"] for job_id in ids] == ["STARTING", "STARTING", "RUNNABLE"]
    section = lab.section()
    assert sorted(entry["job_id"] for entry in section) == sorted(ids[:2])
    entry = section[0]
    assert entry["image"] == {"source": IMAGE, "sha256": "ab" * 32} and entry["command"] == ["echo", "hi"]
    assert entry["environment"]["AWS_BATCH_JQ_NAME"] == "q" and entry["environment"]["AWS_BATCH_CE_NAME"] == "ce"
    assert entry["environment"]["AWS_BATCH_JOB_ATTEMPT"] == "1"
    assert (entry["vcpus"], entry["memory_mib"], entry["attempt"], entry["stop"]) == (0.5, 1024, 1, None)
    assert entry["log_stream_name"].startswith("jd/default/")
    assert lab.dispatcher.run_once() == 0  # the environment is full


def test_reports_run_and_end_attempts_and_free_their_room(lab: Lab) -> None:
    ids = [lab.submit() for _ in range(3)]
    lab.dispatcher.run_once()
    first = next(entry for entry in lab.section() if entry["job_id"] == ids[0])
    lab.report({"job_id": ids[0], "attempt": 1, "state": "RUNNING", "started_at": 1000})
    running = lab.job(ids[0])
    assert (running["status"], running["startedAt"]) == ("RUNNING", 1000)
    assert running["container"]["logStreamName"] == first["log_stream_name"]
    lab.report({"job_id": ids[0], "attempt": 1, "state": "SUCCEEDED", "exit_code": 0, "stopped_at": 2000,
                "reason": "Essential container in task exited"})
    done = lab.job(ids[0])
    assert (done["status"], done["container"]["exitCode"], done["stoppedAt"]) == ("SUCCEEDED", 0, 2000)
    assert ids[0] not in [entry["job_id"] for entry in lab.section()]
    assert lab.dispatcher.run_once() == 1 and lab.job(ids[2])["status"] == "STARTING"


def test_an_attempt_ended_before_its_running_report_still_records_its_start(lab: Lab) -> None:
    job_id = lab.submit(retryStrategy={"attempts": 2})
    lab.dispatcher.run_once()
    lab.report({"job_id": job_id, "attempt": 1, "state": "FAILED", "exit_code": 3, "started_at": 1000,
                "stopped_at": 1500, "reason": "Essential container in task exited"})
    again = lab.job(job_id)
    assert again["status"] == "RUNNABLE" and again["attempts"][0]["startedAt"] == 1000
    assert lab.dispatcher.run_once() == 1
    assert lab.section()[0]["attempt"] == 2 and lab.section()[0]["environment"]["AWS_BATCH_JOB_ATTEMPT"] == "2"


def test_terminating_a_placed_job_marks_its_attempt_to_stop(lab: Lab) -> None:
    job_id = lab.submit()
    lab.dispatcher.run_once()
    lab.call("TerminateJob", {"jobId": job_id, "reason": "enough"})
    lab.dispatcher.run_once()
    assert lab.section()[0]["stop"] == "enough"
    lab.report({"job_id": job_id, "attempt": 1, "state": "FAILED", "exit_code": 143, "reason": "enough"})
    assert lab.section() == [] and lab.job(job_id)["status"] == "FAILED"


def test_an_image_from_a_registry_fails_the_job(clouds: Clouds) -> None:
    lab = Lab(clouds.vpc().cloud, ACCOUNT)
    lab.setup(image="busybox:latest")
    job_id = lab.submit()
    assert lab.dispatcher.run_once() == 0
    failed = lab.job(job_id)
    assert failed["status"] == "FAILED" and failed["statusReason"].startswith("CannotPullContainerError")
    assert lab.section() == []


def test_reports_are_checked() -> None:
    for bad in ({}, {"attempts": [{"attempt": 1}]}, {"attempts": [{"job_id": "j", "attempt": 1, "state": "X"}]},
                {"attempts": [{"job_id": "j", "attempt": 1, "state": "RUNNING", "logs": ["x"]}]}):
        with pytest.raises(ContractError):
            from_json(BatchReport, bad)


def test_requirements_and_stream_names() -> None:
    assert attempts.requirements({"vcpus": 2, "memory": 256}) == (2.0, 256)
    assert attempts.requirements({"resourceRequirements": [{"type": "VCPU", "value": "0.25"},
                                                           {"type": "MEMORY", "value": "512"}]}) == (0.25, 512)
    name = attempts.log_stream_name("arn:aws:batch:r:1:job-definition/my-def:3")
    assert name.startswith("my-def/default/") and len(name.rsplit("/", 1)[1]) == 32


def test_an_attempt_past_its_timeout_is_marked_to_stop_and_never_retried(lab: Lab) -> None:
    job_id = lab.submit(timeout={"attemptDurationSeconds": 60}, retryStrategy={"attempts": 2})
    lab.dispatcher.run_once()
    assert lab.section()[0]["timeout_s"] == 60
    lab.report({"job_id": job_id, "attempt": 1, "state": "RUNNING", "started_at": jobs_state.now_ms() - 61_000})
    lab.dispatcher.run_once()
    assert lab.section()[0]["stop"] is None  # the runner's own stop comes first; the mark follows the grace
    with lab.db.begin() as conn:  # now as if it started long ago
        row = conn.execute(select(jobs_state.jobs).where(jobs_state.jobs.c.job_id == job_id)).mappings().first()
        progress = {**row["progress"], "startedAt": 1}
        conn.execute(jobs_state.jobs.update().where(jobs_state.jobs.c.job_id == job_id).values(progress=progress))
    lab.dispatcher.run_once()
    assert lab.section()[0]["stop"] == lifecycle.TIMED_OUT
    lab.report({"job_id": job_id, "attempt": 1, "state": "FAILED", "exit_code": 143, "reason": lifecycle.TIMED_OUT})
    failed = lab.job(job_id)
    assert (failed["status"], failed["statusReason"], len(failed["attempts"])) == ("FAILED", lifecycle.TIMED_OUT, 1)


def test_a_report_sent_again_adds_no_log_line_twice(lab: Lab) -> None:
    """The agent resends what it reported when the answer was lost, perhaps with lines written since: each
    line reaches the attempt's stream once, in order."""
    job_id = lab.submit()
    lab.dispatcher.run_once()
    now = jobs_state.now_ms()  # CloudWatch Logs drops events older than 14 days
    first = [[now, "one", 40], [now + 1, "two", 80]]
    with lab.db.begin() as conn:
        placed = conn.execute(select(attempts.attempts).where(attempts.attempts.c.job_id == job_id)).mappings().one()
        reports.ship_logs(lab.cloud, conn, placed, first)
    with lab.db.begin() as conn:  # the same report again, and the line written meanwhile
        reports.ship_logs(lab.cloud, conn, placed, [*first, [now + 2, "three", 120]])
    stream = lab.section()[0]["log_stream_name"]
    ingest.flush_pending(lab.cloud)
    events = service_calls.call(lab.cloud, root_principal(ACCOUNT), "logs", "GetLogEvents", {
        "logGroupName": attempts.LOG_GROUP, "logStreamName": stream, "startFromHead": True},
        invoked_by="test")["events"]
    assert [event["message"] for event in events] == ["one", "two", "three"]
    assert reports.unseen([[1, "old agent"]], 500) == [[1, "old agent"]]  # pairs (older agents) always count
