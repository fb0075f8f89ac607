"""The pure rules of Batch jobs (controller/batch/lifecycle.py, arrays.py): dependencies, array parents,
N_TO_N and SEQUENTIAL waits, cancel/terminate, the retry decision and timeouts."""

from __future__ import annotations

from typing import Any

import pytest

from controller.batch import arrays, lifecycle
from controller.batch.arrays import Edge
from controller.batch.lifecycle import (
    DEPENDENT_JOB_FAILED,
    FAILED,
    PENDING,
    RUNNABLE,
    RUNNING,
    STARTING,
    SUBMITTED,
    SUCCEEDED,
    TIMED_OUT,
)


def job(status: str = RUNNING, **extra: Any) -> dict[str, Any]:
    return {"status": status, "attempts": [], "container": {"image": "busybox"}, **extra}


# --- dependencies ---------------------------------------------------------------------------------

def test_a_job_without_dependencies_is_runnable_at_once() -> None:
    assert lifecycle.after_dependencies(SUBMITTED, []) == (RUNNABLE, None)


def test_a_job_waits_pending_until_every_dependency_succeeded() -> None:
    assert lifecycle.after_dependencies(SUBMITTED, [SUCCEEDED, RUNNING]) == (PENDING, None)
    assert lifecycle.after_dependencies(PENDING, [SUCCEEDED, RUNNABLE]) is None
    assert lifecycle.after_dependencies(PENDING, [SUCCEEDED, SUCCEEDED]) == (RUNNABLE, None)


def test_one_failed_dependency_fails_the_job_whatever_the_others() -> None:
    assert lifecycle.after_dependencies(PENDING, [RUNNING, FAILED]) == (FAILED, DEPENDENT_JOB_FAILED)
    assert lifecycle.after_dependencies(SUBMITTED, [FAILED]) == (FAILED, "Dependent Job failed")


@pytest.mark.parametrize("status", [RUNNABLE, STARTING, RUNNING, SUCCEEDED, FAILED])
def test_dependencies_never_move_a_job_past_waiting(status: str) -> None:
    assert lifecycle.after_dependencies(status, [FAILED]) is None
    assert lifecycle.after_dependencies(status, [SUCCEEDED]) is None


# --- array jobs -----------------------------------------------------------------------------------

def test_child_ids_split_back_into_parent_and_index() -> None:
    assert arrays.child_id("abc-1", 7) == "abc-1:7"
    assert arrays.split_id("abc-1:7") == ("abc-1", 7)
    assert arrays.split_id("abc-1") == ("abc-1", None)
    assert arrays.split_id(":3") == (":3", None)


def test_parent_status_follows_its_children() -> None:
    assert arrays.parent_status({SUBMITTED: 3}) == SUBMITTED
    assert arrays.parent_status({RUNNABLE: 2, PENDING: 1}) == PENDING
    assert arrays.parent_status({RUNNING: 1, SUCCEEDED: 2}) == PENDING
    assert arrays.parent_status({FAILED: 1, RUNNING: 1}) == PENDING        # not over until every child ended
    assert arrays.parent_status({SUCCEEDED: 3}) == SUCCEEDED
    assert arrays.parent_status({SUCCEEDED: 2, FAILED: 1}) == FAILED


def test_status_summary_lists_every_status() -> None:
    summary = arrays.status_summary({RUNNABLE: 4, FAILED: 1})
    assert summary == {SUBMITTED: 0, PENDING: 0, RUNNABLE: 4, STARTING: 0, RUNNING: 0, SUCCEEDED: 0,
                       FAILED: 1}


@pytest.mark.parametrize("size", [2, 10_000])
def test_array_sizes_from_2_to_10000_are_valid(size: int) -> None:
    assert arrays.check_size(size) is None


@pytest.mark.parametrize("size", [0, 1, 10_001, -5, "4", True, 2.5])
def test_other_array_sizes_are_refused(size: object) -> None:
    assert "between 2 and 10000" in (arrays.check_size(size) or "")


EDGES = [Edge("B", "A"), Edge("B", "C", arrays.N_TO_N), Edge("B", "B", arrays.SEQUENTIAL), Edge("X", "A")]


def test_a_plain_job_waits_on_its_plain_targets_only() -> None:
    assert arrays.waits_on("X", EDGES) == ["A"]
    assert arrays.waits_on("B", EDGES) == ["A"]      # the parent itself: N_TO_N and SEQUENTIAL are per child


def test_n_to_n_child_waits_on_the_same_index_and_sequential_on_its_elder_sibling() -> None:
    assert arrays.waits_on("B", EDGES, index=0) == ["A", "C:0"]
    assert arrays.waits_on("B", EDGES, index=5) == ["A", "C:5", "B:4"]


def test_children_show_their_concrete_dependencies() -> None:
    assert arrays.child_depends_on("B", EDGES, 0) == [{"jobId": "A"}, {"jobId": "C:0", "type": "N_TO_N"}]
    assert arrays.child_depends_on("B", EDGES, 3) == [
        {"jobId": "A"}, {"jobId": "C:3", "type": "N_TO_N"}, {"jobId": "B:2", "type": "SEQUENTIAL"}]


def test_a_plain_job_ending_wakes_plain_waiters_and_every_child_of_array_waiters() -> None:
    sizes = {"B": 3, "X": None}
    assert arrays.woken_by("A", EDGES, sizes) == ["B:0", "B:1", "B:2", "X"]


def test_a_child_ending_wakes_the_same_index_of_n_to_n_waiters_and_its_next_sibling() -> None:
    sizes = {"B": 3, "X": None}
    assert arrays.woken_by("C:1", EDGES, sizes) == ["B:1"]
    assert arrays.woken_by("B:1", EDGES, sizes) == ["B:2"]
    assert arrays.woken_by("B:2", EDGES, sizes) == []                  # the last child has no next sibling
    assert arrays.woken_by("C:9", EDGES, sizes) == []                  # beyond the waiter's size


def test_an_array_parent_ending_wakes_only_its_plain_waiters() -> None:
    edges = [Edge("W", "P"), Edge("V", "P", arrays.N_TO_N)]
    assert arrays.woken_by("P", edges, {"W": None, "V": 2}) == ["W"]


# --- cancel and terminate -------------------------------------------------------------------------

@pytest.mark.parametrize("status", [SUBMITTED, PENDING, RUNNABLE])
def test_cancel_fails_jobs_not_yet_placed(status: str) -> None:
    before = job(status)
    ended = lifecycle.cancel(before, "no longer needed", 5000)
    assert ended is not None
    assert (ended["status"], ended["statusReason"], ended["isCancelled"], ended["stoppedAt"]) == (
        FAILED, "no longer needed", True, 5000)
    assert before["status"] == status                                   # the input is left untouched


@pytest.mark.parametrize("status", [STARTING, RUNNING, SUCCEEDED, FAILED])
def test_cancel_leaves_started_and_ended_jobs_alone(status: str) -> None:
    assert lifecycle.cancel(job(status), "why", 1) is None


def test_terminate_ends_a_running_attempt_and_never_retries() -> None:
    running = lifecycle.start_attempt(job(RUNNABLE, retryStrategy={"attempts": 5}), 1000, "jd/default/t1")
    ended = lifecycle.terminate(running, "stop it", 4000)
    assert ended is not None
    assert (ended["status"], ended["statusReason"], ended["isTerminated"]) == (FAILED, "stop it", True)
    assert ended["attempts"] == [{"container": {"logStreamName": "jd/default/t1"}, "startedAt": 1000,
                                  "stoppedAt": 4000, "statusReason": "stop it"}]


def test_terminate_fails_a_waiting_job_and_ignores_an_ended_one() -> None:
    ended = lifecycle.terminate(job(PENDING), "bye", 7)
    assert ended is not None
    assert (ended["status"], ended["statusReason"], ended["attempts"]) == (FAILED, "bye", [])
    assert lifecycle.terminate(job(SUCCEEDED), "bye", 7) is None


# --- parameters and environment -------------------------------------------------------------------

def test_ref_placeholders_are_replaced_by_whole_argument() -> None:
    command = ["ffmpeg", "-i", "Ref::inputfile", "-c", "Ref::codec", "--x=Ref::codec", "Ref::unknown"]
    assert lifecycle.substitute(command, {"inputfile": "in.mp4", "codec": "mp4"}) == [
        "ffmpeg", "-i", "in.mp4", "-c", "mp4", "--x=Ref::codec", "Ref::unknown"]
    assert lifecycle.substitute(None, {"a": "b"}) is None


def test_batch_environment_names_the_job_queue_attempt_and_index() -> None:
    assert lifecycle.batch_environment("j1:4", "q", 2, 4) == [
        {"name": "AWS_BATCH_JOB_ID", "value": "j1:4"}, {"name": "AWS_BATCH_JQ_NAME", "value": "q"},
        {"name": "AWS_BATCH_JOB_ATTEMPT", "value": "2"}, {"name": "AWS_BATCH_JOB_ARRAY_INDEX", "value": "4"}]
    assert [v["name"] for v in lifecycle.batch_environment("j1", "q", 1, None)] == [
        "AWS_BATCH_JOB_ID", "AWS_BATCH_JQ_NAME", "AWS_BATCH_JOB_ATTEMPT"]


# --- retries --------------------------------------------------------------------------------------

def test_without_a_strategy_a_failed_attempt_is_final() -> None:
    assert lifecycle.should_retry(None, 1, 1, None, None) is False
    assert lifecycle.should_retry({}, 1, 1, None, None) is False


def test_attempts_bound_the_retries() -> None:
    strategy = {"attempts": 3}
    assert lifecycle.should_retry(strategy, 1, 1, None, None) is True
    assert lifecycle.should_retry(strategy, 2, 1, None, None) is True
    assert lifecycle.should_retry(strategy, 3, 1, None, None) is False


def test_the_first_matching_rule_decides_and_no_match_retries() -> None:
    strategy = {"attempts": 5, "evaluateOnExit": [
        {"onExitCode": "137", "action": "EXIT"},
        {"onStatusReason": "Host EC2*", "action": "retry"},
        {"onReason": "*", "action": "EXIT"}]}
    assert lifecycle.should_retry(strategy, 1, 137, None, "Host EC2 (instance i-1) terminated.") is False
    assert lifecycle.should_retry(strategy, 1, 1, None, "Host EC2 (instance i-1) terminated.") is True
    assert lifecycle.should_retry(strategy, 1, 1, "OutOfMemoryError", "Essential container exited") is False
    only_exit = {"attempts": 5, "evaluateOnExit": [{"onExitCode": "1*", "action": "EXIT"}]}
    assert lifecycle.should_retry(only_exit, 1, 12, None, None) is False
    assert lifecycle.should_retry(only_exit, 1, 2, None, None) is True       # no rule matched: retried


def test_every_condition_of_a_rule_must_match() -> None:
    rule = {"onExitCode": "1", "onReason": "CannotPull*", "action": "EXIT"}
    assert lifecycle.rule_matches(rule, 1, "CannotPullContainerError: x", None) is True
    assert lifecycle.rule_matches(rule, 1, "OutOfMemory", None) is False
    assert lifecycle.rule_matches(rule, 2, "CannotPullContainerError: x", None) is False
    assert lifecycle.rule_matches({"onExitCode": "*", "action": "EXIT"}, None, None, None) is True
    assert lifecycle.rule_matches({"onExitCode": "0", "action": "EXIT"}, None, None, None) is False


def test_an_attempt_exiting_zero_succeeds_the_job() -> None:
    running = lifecycle.start_attempt(job(STARTING), 100, "jd/default/abc")
    done = lifecycle.record_attempt_end(running, 0, None, 900)
    assert (done["status"], done["stoppedAt"], done["container"]["exitCode"]) == (SUCCEEDED, 900, 0)
    assert done["attempts"] == [{"container": {"exitCode": 0, "logStreamName": "jd/default/abc"},
                                 "startedAt": 100, "stoppedAt": 900,
                                 "statusReason": "Essential container in task exited"}]


def test_a_failed_attempt_with_attempts_left_goes_back_to_runnable_then_fails() -> None:
    first = lifecycle.start_attempt(job(RUNNABLE, retryStrategy={"attempts": 2}), 100)
    again = lifecycle.record_attempt_end(first, 3, "boom", 200)
    assert again["status"] == RUNNABLE and "stoppedAt" not in again and "statusReason" not in again
    assert len(again["attempts"]) == 1
    second = lifecycle.start_attempt(again, 300)
    assert "exitCode" not in second["container"]                      # the new attempt has not exited yet
    ended = lifecycle.record_attempt_end(second, 4, None, 400)
    assert (ended["status"], ended["statusReason"], ended["stoppedAt"]) == (
        FAILED, "Essential container in task exited", 400)
    assert [a["container"]["exitCode"] for a in ended["attempts"]] == [3, 4]
    assert [a["startedAt"] for a in ended["attempts"]] == [100, 300]


def test_an_exit_rule_fails_the_job_even_with_attempts_left() -> None:
    strategy = {"attempts": 3, "evaluateOnExit": [{"onExitCode": "3", "action": "EXIT"}]}
    running = lifecycle.start_attempt(job(RUNNABLE, retryStrategy=strategy), 1)
    assert lifecycle.record_attempt_end(running, 3, None, 2)["status"] == FAILED
    assert lifecycle.record_attempt_end(running, 4, None, 2)["status"] == RUNNABLE


def test_a_timed_out_attempt_fails_without_retry() -> None:
    running = lifecycle.start_attempt(
        job(RUNNABLE, retryStrategy={"attempts": 3}, timeout={"attemptDurationSeconds": 60}), 1_000)
    assert lifecycle.attempt_deadline(running) == 61_000
    assert not lifecycle.timed_out(running, 60_999) and lifecycle.timed_out(running, 61_000)
    ended = lifecycle.record_attempt_end(running, None, None, 61_000, timed_out=True)
    assert (ended["status"], ended["statusReason"]) == (FAILED, TIMED_OUT)
    assert ended["attempts"][0]["statusReason"] == "Job attempt duration exceeded timeout"


def test_no_timeout_no_deadline() -> None:
    assert lifecycle.attempt_deadline(lifecycle.start_attempt(job(RUNNABLE), 5)) is None
    assert lifecycle.attempt_deadline(job(RUNNABLE, timeout={"attemptDurationSeconds": 60})) is None


def test_attempts_start_only_from_runnable_and_end_only_when_running() -> None:
    with pytest.raises(ValueError):
        lifecycle.start_attempt(job(PENDING), 1)
    with pytest.raises(ValueError):
        lifecycle.mark_starting(job(PENDING))
    with pytest.raises(ValueError):
        lifecycle.record_attempt_end(job(RUNNABLE), 0, None, 1)
    assert lifecycle.mark_starting(job(RUNNABLE))["status"] == STARTING
