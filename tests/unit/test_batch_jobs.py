"""Batch jobs over a real Cloud: SubmitJob, DescribeJobs, ListJobs, CancelJob and TerminateJob, array jobs,
dependencies settling transitively, and AWS's refusals (ClientException) changing nothing. Nothing runs a job
here; where a test needs an attempt to start or end it reports one as the runtime will
(``jobs_settle.attempt_started``/``attempt_ended``)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from controller.batch import jobs as _jobs  # noqa: F401  (registers the operations and tables)
from controller.batch import jobs_settle, jobs_state
from tests.unit.harness import ACCOUNT, OTHER_ACCOUNT, CloudHarness, Clouds

PENDING, RUNNABLE, RUNNING, SUCCEEDED, FAILED = "PENDING", "RUNNABLE", "RUNNING", "SUCCEEDED", "FAILED"


class BatchJobs(CloudHarness):
    """Batch as :data:`ACCOUNT`'s root, with an UNMANAGED compute environment, queue ``q``, definition
    ``jd``."""

    service = "batch"

    def setup(self) -> None:
        self.call("CreateComputeEnvironment", {"computeEnvironmentName": "ce", "type": "UNMANAGED"})
        order = [{"order": 1, "computeEnvironment": "ce"}]
        self.queue_arn = self.call("CreateJobQueue", {"jobQueueName": "q", "priority": 1,
                                                      "computeEnvironmentOrder": order})["jobQueueArn"]
        self.definition_arn = self.call("RegisterJobDefinition", {
            "jobDefinitionName": "jd", "type": "container", "parameters": {"msg": "hello", "n": "1"},
            "containerProperties": {"image": "busybox", "command": ["echo", "Ref::msg", "Ref::n"], "vcpus": 1,
                                    "memory": 128, "environment": [{"name": "A", "value": "1"}]},
        })["jobDefinitionArn"]

    def submit(self, name: str = "job", **params: Any) -> str:
        request = {"jobName": name, "jobQueue": "q", "jobDefinition": "jd", **params}
        return self.call("SubmitJob", request)["jobId"]

    def job(self, job_id: str) -> dict[str, Any]:
        found = self.call("DescribeJobs", {"jobs": [job_id]})["jobs"]
        assert len(found) == 1, job_id
        return found[0]

    def status(self, *job_ids: str) -> list[str]:
        return [self.job(job_id)["status"] for job_id in job_ids]

    def listed(self, **params: Any) -> list[str]:
        """Every job id ListJobs answers, following nextToken."""
        ids: list[str] = []
        token = None
        while True:
            page = self.call("ListJobs", {**params, **({"nextToken": token} if token else {})})
            ids += [summary["jobId"] for summary in page["jobSummaryList"]]
            token = page.get("nextToken")
            if not token:
                return ids

    def run(self, job_id: str, exit_code: int | None = 0, **end: Any) -> dict[str, Any]:
        """Report an attempt of a RUNNABLE job as the runtime will: started, then ended with ``exit_code``."""
        now = jobs_state.now_ms()
        with self.db.begin() as conn:
            jobs_settle.attempt_started(conn, jobs_state.find(conn, self.account, self.config.region, job_id),
                                       now, f"jd/default/{job_id[:8]}")
            if exit_code is None and not end:
                return {}
            row = jobs_state.find(conn, self.account, self.config.region, job_id)
            return jobs_settle.attempt_ended(conn, row, exit_code, None, now + 10, **end)

    def rows(self) -> list[dict[str, Any]]:
        """Every job, dependency and tag row: what a refused call must leave as it was."""
        with self.db.read() as conn:
            table = jobs_state.jobs
            out = [dict(row) for row in conn.execute(select(table).order_by(table.c.job_id)).mappings()]
            out += [dict(row) for row in conn.execute(select(jobs_state.dependencies)).mappings()]
            out.append(self.call("ListTagsForResource", {"resourceArn": self.queue_arn}))
        return out

    def refuse(self, operation: str, params: dict[str, Any], fragment: str) -> None:
        before = self.rows()
        error = self.refused(operation, params, "ClientException")
        assert error.status == 400 and fragment in error.message, error.message
        assert self.rows() == before


@pytest.fixture
def batch(clouds: Clouds) -> BatchJobs:
    harness = BatchJobs(clouds.vpc().cloud, ACCOUNT)
    harness.setup()
    return harness


def test_a_submitted_job_without_dependencies_waits_runnable_as_aws_shows_it(batch: BatchJobs) -> None:
    out = batch.call("SubmitJob", {"jobName": "first", "jobQueue": batch.queue_arn, "jobDefinition": "jd:1",
                                   "tags": {"team": "a"}})
    region = batch.config.region
    assert out == {"jobArn": f"arn:aws:batch:{region}:{ACCOUNT}:job/{out['jobId']}", "jobName": "first",
                   "jobId": out["jobId"]}
    job = batch.job(out["jobId"])
    assert job["status"] == RUNNABLE and job["attempts"] == [] and job["tags"] == {"team": "a"}
    assert (job["jobQueue"], job["jobDefinition"], job["jobArn"]) == (batch.queue_arn, batch.definition_arn,
                                                                        out["jobArn"])
    assert isinstance(job["createdAt"], int) and "startedAt" not in job and "stoppedAt" not in job
    container = job["container"]
    assert container["image"] == "busybox" and container["command"] == ["echo", "hello", "1"]
    assert container["environment"] == [
        {"name": "AWS_BATCH_JOB_ID", "value": out["jobId"]}, {"name": "AWS_BATCH_JQ_NAME", "value": "q"},
        {"name": "AWS_BATCH_JOB_ATTEMPT", "value": "1"}, {"name": "A", "value": "1"}]
    assert job["parameters"] == {"msg": "hello", "n": "1"} and job["dependsOn"] == []
    assert batch.listed(jobQueue="q") == []                          # ListJobs shows RUNNING jobs by default
    assert batch.listed(jobQueue="q", jobStatus=RUNNABLE) == [out["jobId"]]
    assert batch.call("ListTagsForResource", {"resourceArn": out["jobArn"]})["tags"] == {"team": "a"}


def test_overrides_replace_the_definitions_settings(batch: BatchJobs) -> None:
    overrides = {"environment": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}],
                 "resourceRequirements": [{"type": "GPU", "value": "1"}], "memory": 256}
    retry = {"attempts": 3, "evaluateOnExit": [{"onExitCode": "2", "action": "exit"}]}
    job_id = batch.submit(parameters={"msg": "bye"}, propagateTags=True, containerOverrides=overrides,
                          retryStrategy=retry, timeout={"attemptDurationSeconds": 90})
    job = batch.job(job_id)
    assert job["container"]["command"] == ["echo", "bye", "1"]
    assert job["parameters"] == {"msg": "bye", "n": "1"}
    assert job["container"]["environment"][3:] == [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]
    assert job["container"]["resourceRequirements"] == [{"value": "1", "type": "GPU"}]
    assert (job["container"]["memory"], job["container"]["vcpus"]) == (256, 1)
    assert job["retryStrategy"] == {"attempts": 3, "evaluateOnExit": [{"action": "EXIT", "onExitCode": "2"}]}
    assert job["timeout"] == {"attemptDurationSeconds": 90} and job["propagateTags"] is True
    command_job = batch.job(batch.submit(containerOverrides={"command": ["sh", "-c", "Ref::msg"]}))
    assert command_job["container"]["command"] == ["sh", "-c", "hello"]


def test_an_array_job_has_a_pending_parent_and_runnable_children(batch: BatchJobs) -> None:
    parent_id = batch.submit("arr", arrayProperties={"size": 5})
    parent = batch.job(parent_id)
    assert parent["status"] == PENDING
    assert parent["arrayProperties"]["size"] == 5
    assert parent["arrayProperties"]["statusSummary"] == {
        "SUBMITTED": 0, "PENDING": 0, "RUNNABLE": 5, "STARTING": 0, "RUNNING": 0, "SUCCEEDED": 0, "FAILED": 0}
    children = batch.listed(arrayJobId=parent_id, jobStatus=RUNNABLE, maxResults=2)
    assert children == [f"{parent_id}:{i}" for i in range(5)]
    child = batch.job(f"{parent_id}:3")
    assert child["arrayProperties"] == {"index": 3} and child["jobArn"] == parent["jobArn"] + ":3"
    assert {"name": "AWS_BATCH_JOB_ARRAY_INDEX", "value": "3"} in child["container"]["environment"]
    assert {"name": "AWS_BATCH_JOB_ID", "value": f"{parent_id}:3"} in child["container"]["environment"]
    assert batch.listed(jobQueue="q", jobStatus=PENDING) == [parent_id]     # children: listed by array only
    for index in range(5):
        batch.run(f"{parent_id}:{index}", 0 if index else 1)
    parent = batch.job(parent_id)
    assert parent["status"] == FAILED and parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 4


def test_an_array_whose_children_all_succeed_succeeds(batch: BatchJobs) -> None:
    parent_id = batch.submit("arr", arrayProperties={"size": 2})
    batch.run(f"{parent_id}:0")
    assert batch.status(parent_id) == [PENDING]
    batch.run(f"{parent_id}:1")
    assert batch.status(parent_id) == [SUCCEEDED]


def test_a_dependency_chain_waits_then_fails_when_its_head_is_cancelled(batch: BatchJobs) -> None:
    head = batch.submit("a")
    middle = batch.submit("b", dependsOn=[{"jobId": head}])
    tail = batch.submit("c", dependsOn=[{"jobId": middle}])
    last = batch.submit("d", dependsOn=[{"jobId": tail}, {"jobId": batch.submit("other")}])
    assert batch.status(head, middle, tail, last) == [RUNNABLE, PENDING, PENDING, PENDING]
    assert batch.job(last)["dependsOn"][0] == {"jobId": tail}
    batch.call("CancelJob", {"jobId": head, "reason": "not today"})
    cancelled = batch.job(head)
    assert (cancelled["status"], cancelled["statusReason"], cancelled["isCancelled"]) == (
        FAILED, "not today", True)
    for job_id in (middle, tail, last):
        job = batch.job(job_id)
        assert (job["status"], job["statusReason"]) == (FAILED, "Dependent Job failed")
    late = batch.submit("e", dependsOn=[{"jobId": tail}])              # a failed dependency fails it at once
    assert batch.job(late)["statusReason"] == "Dependent Job failed"


def test_dependants_become_runnable_when_their_dependencies_succeed(batch: BatchJobs) -> None:
    first, second = batch.submit("a"), batch.submit("b")
    waiter = batch.submit("w", dependsOn=[{"jobId": first}, {"jobId": second}])
    batch.run(first)
    assert batch.status(waiter) == [PENDING]
    batch.run(second)
    assert batch.status(waiter) == [RUNNABLE]


def test_a_job_depending_on_an_array_waits_for_the_whole_array(batch: BatchJobs) -> None:
    array = batch.submit("arr", arrayProperties={"size": 2})
    waiter = batch.submit("w", dependsOn=[{"jobId": array}])
    batch.run(f"{array}:0")
    assert batch.status(waiter) == [PENDING]
    batch.run(f"{array}:1")
    assert batch.status(array, waiter) == [SUCCEEDED, RUNNABLE]


def test_n_to_n_children_wait_on_the_same_index(batch: BatchJobs) -> None:
    first = batch.submit("a", arrayProperties={"size": 3})
    second = batch.submit("b", arrayProperties={"size": 3}, dependsOn=[{"jobId": first, "type": "N_TO_N"}])
    assert batch.status(*(f"{second}:{i}" for i in range(3))) == [PENDING] * 3
    assert batch.job(f"{second}:1")["dependsOn"] == [{"jobId": f"{first}:1", "type": "N_TO_N"}]
    batch.run(f"{first}:1")
    batch.call("CancelJob", {"jobId": f"{first}:2", "reason": "skip"})
    assert batch.status(*(f"{second}:{i}" for i in range(3))) == [PENDING, RUNNABLE, FAILED]
    assert batch.status(first, second) == [PENDING, PENDING]


def test_sequential_children_run_one_after_another(batch: BatchJobs) -> None:
    array = batch.submit("seq", arrayProperties={"size": 3}, dependsOn=[{"type": "SEQUENTIAL"}])
    children = [f"{array}:{i}" for i in range(3)]
    assert batch.status(*children) == [RUNNABLE, PENDING, PENDING]
    assert batch.job(children[2])["dependsOn"] == [{"jobId": children[1], "type": "SEQUENTIAL"}]
    batch.run(children[0])
    assert batch.status(*children) == [SUCCEEDED, RUNNABLE, PENDING]
    batch.run(children[1], 1)
    assert batch.status(*children, array) == [SUCCEEDED, FAILED, FAILED, FAILED]
    assert batch.job(children[2])["statusReason"] == "Dependent Job failed"


def test_cancelling_an_array_cancels_its_children(batch: BatchJobs) -> None:
    array = batch.submit("arr", arrayProperties={"size": 3})
    waiter = batch.submit("w", dependsOn=[{"jobId": array}])
    batch.call("CancelJob", {"jobId": array, "reason": "stop all"})
    parent = batch.job(array)
    assert (parent["status"], parent["statusReason"], parent["isCancelled"]) == (FAILED, "stop all", True)
    assert parent["arrayProperties"]["statusSummary"]["FAILED"] == 3
    assert {batch.job(f"{array}:{i}")["statusReason"] for i in range(3)} == {"stop all"}
    assert batch.job(waiter)["statusReason"] == "Dependent Job failed"


def test_cancel_leaves_a_running_job_that_terminate_ends(batch: BatchJobs) -> None:
    job_id = batch.submit(retryStrategy={"attempts": 3})
    batch.run(job_id, None)
    batch.call("CancelJob", {"jobId": job_id, "reason": "please"})
    assert batch.status(job_id) == [RUNNING]
    batch.call("TerminateJob", {"jobId": job_id, "reason": "now"})
    job = batch.job(job_id)
    assert (job["status"], job["statusReason"], job["isTerminated"]) == (FAILED, "now", True)
    assert len(job["attempts"]) == 1 and job["attempts"][0]["statusReason"] == "now"
    batch.call("TerminateJob", {"jobId": job_id, "reason": "again"})       # an ended job stays as it ended
    assert batch.job(job_id)["statusReason"] == "now"


def test_a_retried_job_counts_its_attempts(batch: BatchJobs) -> None:
    job_id = batch.submit(retryStrategy={"attempts": 2})
    batch.run(job_id, 3)
    job = batch.job(job_id)
    assert job["status"] == RUNNABLE and len(job["attempts"]) == 1
    assert {"name": "AWS_BATCH_JOB_ATTEMPT", "value": "2"} in job["container"]["environment"]
    batch.run(job_id, 0)
    job = batch.job(job_id)
    assert job["status"] == SUCCEEDED and [a["container"]["exitCode"] for a in job["attempts"]] == [3, 0]
    summary = batch.call("ListJobs", {"jobQueue": "q", "jobStatus": SUCCEEDED})["jobSummaryList"][0]
    assert summary["container"] == {"exitCode": 0} and summary["stoppedAt"] >= summary["startedAt"]


def test_a_timed_out_attempt_fails_the_job(batch: BatchJobs) -> None:
    job_id = batch.submit(retryStrategy={"attempts": 3}, timeout={"attemptDurationSeconds": 60})
    batch.run(job_id, None, timed_out=True)
    job = batch.job(job_id)
    assert (job["status"], job["statusReason"]) == (FAILED, "Job attempt duration exceeded timeout")


def test_list_jobs_filters_ignore_the_status_and_page_newest_first(batch: BatchJobs) -> None:
    ids = [batch.submit(name) for name in ("Alpha", "alphabet", "beta", "ALPHA", "gamma")]
    batch.call("CancelJob", {"jobId": ids[1], "reason": "x"})
    by_name = batch.listed(jobQueue="q", jobStatus=RUNNING,
                           filters=[{"name": "JOB_NAME", "values": ["alpha"]}])
    assert by_name == [ids[3], ids[0]]
    prefix = batch.listed(jobQueue="q", filters=[{"name": "JOB_NAME", "values": ["ALPHA*"]}], maxResults=1)
    assert prefix == [ids[3], ids[1], ids[0]]
    assert batch.listed(jobQueue="q", filters=[{"name": "JOB_NAME", "values": ["al%*"]}]) == []
    everything = batch.listed(jobQueue="q", filters=[{"name": "JOB_DEFINITION", "values": ["jd"]}],
                              maxResults=2)
    assert everything == ids[::-1]
    assert batch.listed(jobQueue="q", filters=[{"name": "JOB_DEFINITION", "values": ["j*"]}]) == ids[::-1]
    by_arn = [{"name": "JOB_DEFINITION", "values": [batch.definition_arn]}]
    assert batch.listed(jobQueue="q", filters=by_arn) == ids[::-1]
    assert batch.listed(jobQueue="q", filters=[{"name": "JOB_DEFINITION", "values": ["other"]}]) == []
    created = batch.job(ids[2])["createdAt"]
    after = batch.listed(jobQueue="q", filters=[{"name": "AFTER_CREATED_AT", "values": [str(created - 1)]}])
    assert set(ids[2:]) <= set(after) and ids[2] in after
    assert batch.listed(jobQueue="q", filters=[{"name": "BEFORE_CREATED_AT", "values": [str(created + 1)]}]) \
        [-1] == ids[0]
    assert batch.listed(jobQueue="q", filters=[{"name": "BEFORE_CREATED_AT", "values": ["0"]}]) == []


def test_fair_share_queues_require_a_share_identifier(batch: BatchJobs) -> None:
    policy = batch.call("CreateSchedulingPolicy", {"name": "fair"})["arn"]
    batch.call("CreateJobQueue", {"jobQueueName": "fq", "priority": 1, "schedulingPolicyArn": policy,
                                  "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "ce"}]})
    batch.refuse("SubmitJob", {"jobName": "j", "jobQueue": "fq", "jobDefinition": "jd"}, "shareIdentifier")
    batch.refuse("SubmitJob", {"jobName": "j", "jobQueue": "q", "jobDefinition": "jd",
                               "shareIdentifier": "s1"}, "without a scheduling policy")
    job_id = batch.call("SubmitJob", {"jobName": "j", "jobQueue": "fq", "jobDefinition": "jd",
                                      "shareIdentifier": "blue", "schedulingPriorityOverride": 7})["jobId"]
    job = batch.job(job_id)
    assert (job["shareIdentifier"], job["schedulingPriority"]) == ("blue", 7)
    assert batch.listed(jobQueue="fq", filters=[{"name": "SHARE_IDENTIFIER", "values": ["blue"]}]) == [job_id]
    assert batch.listed(jobQueue="fq", jobStatus=RUNNING,
                        filters=[{"name": "SHARE_IDENTIFIER", "values": ["blue"]}]) == []


def test_every_job_write_announces_the_jobs_topic(batch: BatchJobs) -> None:
    heard: list[str] = []
    batch.db.subscribe(jobs_state.TOPIC, lambda: heard.append("x"))
    job_id = batch.submit()
    batch.call("CancelJob", {"jobId": job_id, "reason": "r"})
    assert len(heard) == 2
    batch.call("DescribeJobs", {"jobs": [job_id]})
    assert len(heard) == 2


def test_describe_jobs_omits_unknown_ids_and_other_accounts_jobs(batch: BatchJobs) -> None:
    job_id = batch.submit()
    found = batch.call("DescribeJobs", {"jobs": ["nope", job_id, job_id]})["jobs"]
    assert [j["jobId"] for j in found] == [job_id]
    assert batch.call("DescribeJobs", {"jobs": [job_id]}, account=OTHER_ACCOUNT)["jobs"] == []


def test_disabled_queues_and_inactive_definitions_refuse_jobs(batch: BatchJobs) -> None:
    batch.call("RegisterJobDefinition", {
        "jobDefinitionName": "old", "type": "container",
        "containerProperties": {"image": "busybox", "vcpus": 1, "memory": 64}})
    batch.call("DeregisterJobDefinition", {"jobDefinition": "old:1"})
    batch.refuse("SubmitJob", {"jobName": "j", "jobQueue": "q", "jobDefinition": "old:1"}, "INACTIVE")
    batch.refuse("SubmitJob", {"jobName": "j", "jobQueue": "q", "jobDefinition": "old"}, "does not exist")
    batch.call("UpdateJobQueue", {"jobQueue": "q", "state": "DISABLED"})
    batch.refuse("SubmitJob", {"jobName": "j", "jobQueue": "q", "jobDefinition": "jd"}, "DISABLED")


@pytest.mark.parametrize(("params", "fragment"), [
    ({"jobName": "-bad"}, "jobName"),
    ({"jobName": "x" * 129}, "jobName"),
    ({"jobQueue": "nope"}, "jobQueue nope does not exist"),
    ({"jobDefinition": "nope"}, "jobDefinition nope does not exist"),
    ({"arrayProperties": {"size": 1}}, "between 2 and 10000"),
    ({"arrayProperties": {"size": 10_001}}, "between 2 and 10000"),
    ({"dependsOn": [{"jobId": "nope"}]}, "Dependent job nope does not exist"),
    ({"dependsOn": [{"jobId": f"j{i}"} for i in range(21)]}, "at most 20"),
    ({"dependsOn": [{"type": "SEQUENTIAL"}]}, "only valid for array jobs"),
    ({"dependsOn": [{"type": "BOTH", "jobId": "x"}]}, "not valid"),
    ({"timeout": {"attemptDurationSeconds": 59}}, "at least 60"),
    ({"retryStrategy": {"attempts": 11}}, "between 1 and 10"),
    ({"containerOverrides": {"environment": [{"name": "AWS_BATCH_X", "value": "1"}]}}, "reserved"),
    ({"schedulingPriorityOverride": 10_000}, "schedulingPriorityOverride"),
    ({"tags": {"aws:x": "y"}}, "reserved"),
])
def test_submit_refusals_change_nothing(batch: BatchJobs, params: dict[str, Any], fragment: str) -> None:
    batch.submit("existing")
    batch.refuse("SubmitJob", {"jobName": "j", "jobQueue": "q", "jobDefinition": "jd", **params}, fragment)


def test_n_to_n_needs_an_array_of_the_same_size(batch: BatchJobs) -> None:
    array = batch.submit("arr", arrayProperties={"size": 2})
    batch.refuse("SubmitJob", {"jobName": "b", "jobQueue": "q", "jobDefinition": "jd",
                               "arrayProperties": {"size": 3},
                               "dependsOn": [{"jobId": array, "type": "N_TO_N"}]}, "same size")


@pytest.mark.parametrize(("operation", "params", "fragment"), [
    ("CancelJob", {"jobId": "nope", "reason": "r"}, "does not exist"),
    ("CancelJob", {"jobId": "JOB"}, "reason"),
    ("TerminateJob", {"jobId": "JOB", "reason": ""}, "reason"),
    ("DescribeJobs", {"jobs": ["x"] * 101}, "at most 100"),
    ("ListJobs", {"jobQueue": "q", "arrayJobId": "JOB"}, "Exactly one"),
    ("ListJobs", {}, "Exactly one"),
    ("ListJobs", {"jobQueue": "nope"}, "does not exist"),
    ("ListJobs", {"jobQueue": "q", "filters": [{"name": "COLOR", "values": ["x"]}]}, "not valid"),
    ("ListJobs", {"jobQueue": "q", "filters": [{"name": "BEFORE_CREATED_AT", "values": ["soon"]}]},
     "milliseconds"),
    ("ListJobs", {"jobQueue": "q", "nextToken": "garbage!"}, "nextToken"),
])
def test_other_refusals_change_nothing(batch: BatchJobs, operation: str, params: dict[str, Any],
                                       fragment: str) -> None:
    job_id = batch.submit()
    params = {key: (job_id if value == "JOB" else value) for key, value in params.items()}
    batch.refuse(operation, params, fragment)


def test_failures_cascade_through_long_sequential_arrays_and_n_to_n_dependants(batch: BatchJobs) -> None:
    first = batch.submit("seq", arrayProperties={"size": 300}, dependsOn=[{"type": "SEQUENTIAL"}])
    second = batch.submit("pair", arrayProperties={"size": 300}, dependsOn=[{"jobId": first, "type": "N_TO_N"}])
    waiter = batch.submit("w", dependsOn=[{"jobId": second}])
    batch.run(f"{first}:0", 1)
    for array in (first, second):
        assert batch.job(array)["arrayProperties"]["statusSummary"]["FAILED"] == 300
    assert batch.status(first, second, waiter) == [FAILED, FAILED, FAILED]
    assert batch.job(f"{second}:299")["statusReason"] == "Dependent Job failed"
