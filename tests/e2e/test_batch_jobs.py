"""AWS Batch jobs over the wire with boto3: SubmitJob into a queue of an UNMANAGED compute environment, array
jobs listed by arrayJobId, dependency chains that fail with "Dependent Job failed" when their head is
cancelled, ListJobs filters and pagination, and AWS's ClientException refusals (which change nothing).
Nothing runs jobs yet, so jobs wait RUNNABLE, as on AWS with no capacity."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.helpers import denied
from tests.support import CloudletProcess

STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


@pytest.fixture(scope="module")
def batch(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("batch")


@pytest.fixture
def world(batch: Any, unique: str) -> dict[str, str]:
    """A compute environment, an ENABLED queue and a job definition of this test's own."""
    batch.create_compute_environment(computeEnvironmentName=f"{unique}-ce", type="UNMANAGED")
    queue = batch.create_job_queue(jobQueueName=f"{unique}-q", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": f"{unique}-ce"}])
    definition = batch.register_job_definition(
        jobDefinitionName=f"{unique}-jd", type="container", parameters={"who": "world"},
        containerProperties={"image": "public.ecr.aws/docker/library/busybox:latest", "vcpus": 1,
                             "memory": 128, "command": ["echo", "hello", "Ref::who"]})
    return {"queue": f"{unique}-q", "queue_arn": queue["jobQueueArn"], "definition": f"{unique}-jd",
            "definition_arn": definition["jobDefinitionArn"]}


def submit(batch: Any, world: dict[str, str], name: str, **params: Any) -> str:
    return batch.submit_job(jobName=name, jobQueue=world["queue"], jobDefinition=world["definition"],
                            **params)["jobId"]


def describe(batch: Any, *job_ids: str) -> list[dict[str, Any]]:
    return batch.describe_jobs(jobs=list(job_ids))["jobs"]


def everything(batch: Any, world: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Every job of the queue, by status: what a refused call must leave as it was."""
    return {status: batch.list_jobs(jobQueue=world["queue"], jobStatus=status)["jobSummaryList"]
            for status in STATUSES}


def client_error(batch: Any, world: dict[str, str], call: Any, fragment: str, **params: Any) -> None:
    before = everything(batch, world)
    code, status, message = denied(call, **params)
    assert (code, status) == ("ClientException", 400), message
    assert fragment in message, message
    assert everything(batch, world) == before


def test_a_submitted_job_waits_runnable_and_reads_back(batch: Any, world: dict[str, str]) -> None:
    out = batch.submit_job(jobName="hello", jobQueue=world["queue_arn"], jobDefinition=world["definition"],
                           parameters={"who": "batch"}, tags={"team": "a"},
                           containerOverrides={"environment": [{"name": "COLOR", "value": "blue"}]})
    assert out["jobArn"].endswith(f":job/{out['jobId']}") and out["jobName"] == "hello"
    [job] = describe(batch, out["jobId"])
    assert (job["status"], job["jobQueue"], job["jobDefinition"]) == (
        "RUNNABLE", world["queue_arn"], world["definition_arn"])
    assert job["container"]["command"] == ["echo", "hello", "batch"]
    environment = {item["name"]: item["value"] for item in job["container"]["environment"]}
    assert environment == {"AWS_BATCH_JOB_ID": out["jobId"], "AWS_BATCH_JQ_NAME": world["queue"],
                           "AWS_BATCH_JOB_ATTEMPT": "1", "COLOR": "blue"}
    assert job["tags"] == {"team": "a"} and job["attempts"] == [] and job["createdAt"] > 1_600_000_000_000
    assert batch.list_jobs(jobQueue=world["queue"])["jobSummaryList"] == []      # RUNNING by default
    [summary] = batch.list_jobs(jobQueue=world["queue"], jobStatus="RUNNABLE")["jobSummaryList"]
    assert (summary["jobId"], summary["jobName"], summary["status"]) == (out["jobId"], "hello", "RUNNABLE")
    assert batch.list_tags_for_resource(resourceArn=out["jobArn"])["tags"] == {"team": "a"}


def test_an_array_of_100_lists_its_children_by_array_job_id(batch: Any, world: dict[str, str]) -> None:
    parent_id = submit(batch, world, "sweep", arrayProperties={"size": 100})
    [parent] = describe(batch, parent_id)
    assert parent["status"] == "PENDING" and parent["arrayProperties"]["size"] == 100
    assert parent["arrayProperties"]["statusSummary"]["RUNNABLE"] == 100
    paginator = batch.get_paginator("list_jobs")
    pages = list(paginator.paginate(arrayJobId=parent_id, jobStatus="RUNNABLE",
                                    PaginationConfig={"PageSize": 30}))
    children = [summary for page in pages for summary in page["jobSummaryList"]]
    assert len(pages) == 4
    assert [c["jobId"] for c in children] == [f"{parent_id}:{i}" for i in range(100)]
    assert children[42]["arrayProperties"] == {"index": 42}
    [child] = describe(batch, f"{parent_id}:42")
    assert {"name": "AWS_BATCH_JOB_ARRAY_INDEX", "value": "42"} in child["container"]["environment"]
    batch.terminate_job(jobId=parent_id, reason="enough")
    [parent] = describe(batch, parent_id)
    assert (parent["status"], parent["statusReason"]) == ("FAILED", "enough")
    assert parent["arrayProperties"]["statusSummary"]["FAILED"] == 100


def test_cancelling_the_head_of_a_chain_fails_every_dependant(batch: Any, world: dict[str, str]) -> None:
    head = submit(batch, world, "head")
    middle = submit(batch, world, "middle", dependsOn=[{"jobId": head}])
    tail = submit(batch, world, "tail", dependsOn=[{"jobId": middle}])
    assert [j["status"] for j in describe(batch, head, middle, tail)] == ["RUNNABLE", "PENDING", "PENDING"]
    pending = batch.list_jobs(jobQueue=world["queue"], jobStatus="PENDING")["jobSummaryList"]
    assert {s["jobId"] for s in pending} == {middle, tail}
    batch.cancel_job(jobId=head, reason="changed my mind")
    found = {j["jobId"]: j for j in describe(batch, head, middle, tail)}
    assert (found[head]["status"], found[head]["statusReason"]) == ("FAILED", "changed my mind")
    for job_id in (middle, tail):
        assert (found[job_id]["status"], found[job_id]["statusReason"]) == ("FAILED", "Dependent Job failed")
    assert batch.list_jobs(jobQueue=world["queue"], jobStatus="PENDING")["jobSummaryList"] == []


def test_list_jobs_filters_and_pages_newest_first(batch: Any, world: dict[str, str]) -> None:
    names = ("Render-1", "render-2", "encode-1", "RENDER-3", "encode-2")
    ids = [submit(batch, world, name) for name in names]
    batch.cancel_job(jobId=ids[2], reason="x")
    named = batch.list_jobs(jobQueue=world["queue"], jobStatus="RUNNING",
                            filters=[{"name": "JOB_NAME", "values": ["render*"]}])["jobSummaryList"]
    assert [s["jobId"] for s in named] == [ids[3], ids[1], ids[0]]
    exact = batch.list_jobs(jobQueue=world["queue"], filters=[{"name": "JOB_NAME", "values": ["ENCODE-1"]}])
    assert [(s["jobId"], s["status"]) for s in exact["jobSummaryList"]] == [(ids[2], "FAILED")]
    paginator = batch.get_paginator("list_jobs")
    by_definition = [{"name": "JOB_DEFINITION", "values": [world["definition_arn"]]}]
    pages = list(paginator.paginate(jobQueue=world["queue"], PaginationConfig={"PageSize": 2},
                                    filters=by_definition))
    assert [len(page["jobSummaryList"]) for page in pages] == [2, 2, 1]
    assert [s["jobId"] for page in pages for s in page["jobSummaryList"]] == ids[::-1]
    created = describe(batch, ids[3])[0]["createdAt"]
    after = [{"name": "AFTER_CREATED_AT", "values": [str(created - 1)]}]
    later = batch.list_jobs(jobQueue=world["queue"], filters=after)["jobSummaryList"]
    assert {ids[3], ids[4]} <= {s["jobId"] for s in later}
    earlier = batch.list_jobs(jobQueue=world["queue"], filters=[{"name": "BEFORE_CREATED_AT",
                                                                 "values": [str(created)]}])["jobSummaryList"]
    assert ids[0] in [s["jobId"] for s in earlier] and ids[3] not in [s["jobId"] for s in earlier]


def test_refusals_are_client_exceptions_that_change_nothing(batch: Any, world: dict[str, str]) -> None:
    existing = submit(batch, world, "existing")
    base = {"jobQueue": world["queue"], "jobDefinition": world["definition"]}
    client_error(batch, world, batch.submit_job, "jobName", jobName="-nope", **base)
    client_error(batch, world, batch.submit_job, "does not exist", jobName="j", jobQueue="no-such-queue",
                 jobDefinition=world["definition"])
    client_error(batch, world, batch.submit_job, "does not exist", jobName="j", jobQueue=world["queue"],
                 jobDefinition="no-such-definition")
    client_error(batch, world, batch.submit_job, "between 2 and 10000", jobName="j",
                 arrayProperties={"size": 1}, **base)
    client_error(batch, world, batch.submit_job, "Dependent job", jobName="j",
                 dependsOn=[{"jobId": "00000000-0000-0000-0000-000000000000"}], **base)
    client_error(batch, world, batch.submit_job, "only valid for array jobs", jobName="j",
                 dependsOn=[{"type": "SEQUENTIAL"}], **base)
    client_error(batch, world, batch.cancel_job, "reason", jobId=existing, reason="")
    client_error(batch, world, batch.terminate_job, "does not exist", jobId="no-such-job", reason="r")
    client_error(batch, world, batch.list_jobs, "Exactly one", jobQueue=world["queue"], arrayJobId=existing)
    batch.update_job_queue(jobQueue=world["queue"], state="DISABLED")
    client_error(batch, world, batch.submit_job, "DISABLED", jobName="j", **base)
    assert describe(batch, existing)[0]["status"] == "RUNNABLE"
