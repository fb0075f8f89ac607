"""How an AWS Batch job moves through its states: pure rules, no I/O.

A job is the JobDetail dict DescribeJobs shows (``status``, ``statusReason``, ``attempts``, ``container``,
``retryStrategy``, ``timeout``...); every function here takes one and returns what it becomes (a new dict, the
input untouched), so the same rules serve the API's writes (submit, cancel, terminate) and, later, the
runtime that runs containers. The states are AWS's::

    SUBMITTED -> PENDING (dependencies not met) -> RUNNABLE -> STARTING -> RUNNING -> SUCCEEDED | FAILED

https://docs.aws.amazon.com/batch/latest/userguide/job_states.html,
https://docs.aws.amazon.com/batch/latest/userguide/job_retries.html,
https://docs.aws.amazon.com/batch/latest/userguide/job_timeouts.html
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING = "SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"
SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"
#: Every status, in the order a job passes them (the keys of an array parent's statusSummary).
STATUSES = (SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING, SUCCEEDED, FAILED)
ENDED = frozenset((SUCCEEDED, FAILED))
#: What CancelJob ends: a job not yet placed on a compute resource (later ones need TerminateJob).
CANCELLABLE = frozenset((SUBMITTED, PENDING, RUNNABLE))
#: What TerminateJob ends: any job not ended yet.
TERMINABLE = frozenset((SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING))
#: Still waiting on the jobs it depends on.
WAITING = frozenset((SUBMITTED, PENDING))

DEPENDENT_JOB_FAILED = "Dependent Job failed"
TIMED_OUT = "Job attempt duration exceeded timeout"
#: The statusReason of an attempt whose container exited on its own (ECS's wording, which Batch passes on).
CONTAINER_EXITED = "Essential container in task exited"


def is_ended(status: str) -> bool:
    return status in ENDED


def after_dependencies(status: str, dependency_statuses: Iterable[str]) -> tuple[str, str | None] | None:
    """The (status, statusReason) a job waiting on others moves to, or None when it stays as it is.

    A job runs only after every job it depends on SUCCEEDED; one FAILED dependency fails it at once (AWS:
    "If any of the job dependencies fail, the dependent job automatically transitions from PENDING to
    FAILED"). A job past the waiting states is never moved back by its dependencies.
    """
    if status not in WAITING:
        return None
    statuses = list(dependency_statuses)
    if any(s == FAILED for s in statuses):
        return FAILED, DEPENDENT_JOB_FAILED
    if all(s == SUCCEEDED for s in statuses):
        return RUNNABLE, None
    return (PENDING, None) if status != PENDING else None


def with_status(job: Mapping[str, Any], status: str, reason: str | None = None, *,
                now: int | None = None) -> dict[str, Any]:
    """``job`` moved to ``status`` (``reason`` its statusReason when given); an ending stamps stoppedAt."""
    moved = copy.deepcopy(dict(job))
    moved["status"] = status
    if reason is not None:
        moved["statusReason"] = reason
    if status in ENDED and now is not None and "stoppedAt" not in moved:
        moved["stoppedAt"] = now
    return moved


def cancel(job: Mapping[str, Any], reason: str, now: int) -> dict[str, Any] | None:
    """CancelJob's effect on one job: FAILED with ``reason`` if it was not yet placed, else None (AWS leaves
    STARTING and RUNNING jobs alone: "These jobs must be terminated with the TerminateJob operation")."""
    if job["status"] not in CANCELLABLE:
        return None
    ended = with_status(job, FAILED, reason, now=now)
    ended["isCancelled"] = True
    return ended


def terminate(job: Mapping[str, Any], reason: str, now: int) -> dict[str, Any] | None:
    """TerminateJob's effect on one job: FAILED with ``reason`` unless it already ended (then None). A running
    attempt ends with it, and a terminated job is never retried."""
    if job["status"] not in TERMINABLE:
        return None
    if job["status"] in (STARTING, RUNNING):
        ended = record_attempt_end(job, None, None, now, status_reason=reason, retry=False)
        ended["statusReason"] = reason
    else:
        ended = with_status(job, FAILED, reason, now=now)
    ended["isTerminated"] = True
    return ended


def substitute(command: list[str] | None, parameters: Mapping[str, str]) -> list[str] | None:
    """The command with each ``Ref::name`` argument replaced by parameter ``name``'s value; placeholders
    without a parameter stay as they are (AWS passes them through), and so does text around a placeholder
    (AWS substitutes whole arguments)."""
    if command is None:
        return None
    out = []
    for argument in command:
        name = argument[len("Ref::"):] if argument.startswith("Ref::") else None
        out.append(parameters[name] if name is not None and name in parameters else argument)
    return out


def batch_environment(job_id: str, queue_name: str, attempt: int,
                      array_index: int | None) -> list[dict[str, str]]:
    """The variables Batch sets in every job's container (before the job's own): the job's id, its queue, the
    attempt number (the first is 1) and, for an array child, its index."""
    env = [{"name": "AWS_BATCH_JOB_ID", "value": job_id}, {"name": "AWS_BATCH_JQ_NAME", "value": queue_name},
           {"name": "AWS_BATCH_JOB_ATTEMPT", "value": str(attempt)}]
    if array_index is not None:
        env.append({"name": "AWS_BATCH_JOB_ARRAY_INDEX", "value": str(array_index)})
    return env


def _matches(pattern: str | None, value: str) -> bool:
    """An evaluateOnExit condition: absent matches anything; otherwise a glob over the whole value."""
    return pattern is None or fnmatch.fnmatchcase(value, pattern)


def rule_matches(rule: Mapping[str, Any], exit_code: int | None, reason: str | None,
                 status_reason: str | None) -> bool:
    """Whether every condition an evaluateOnExit entry sets matches the ended attempt (a value the attempt
    lacks, such as the exit code of a container that never ran, is matched as empty text)."""
    return (_matches(rule.get("onExitCode"), "" if exit_code is None else str(exit_code))
            and _matches(rule.get("onReason"), reason or "")
            and _matches(rule.get("onStatusReason"), status_reason or ""))


def should_retry(strategy: Mapping[str, Any] | None, attempts_made: int, exit_code: int | None,
                 reason: str | None, status_reason: str | None) -> bool:
    """Whether a failed attempt is retried: never once ``attempts`` attempts were made (1 when no strategy);
    otherwise the first evaluateOnExit entry whose conditions all match decides (RETRY or EXIT, in any case),
    and with no match the job is retried (AWS: "If none of the EvaluateOnExit conditions in a RetryStrategy
    match, then the job is retried")."""
    limit = int((strategy or {}).get("attempts") or 1)
    if attempts_made >= limit:
        return False
    for rule in (strategy or {}).get("evaluateOnExit") or []:
        if rule_matches(rule, exit_code, reason, status_reason):
            return str(rule.get("action", "")).upper() == "RETRY"
    return True


def mark_starting(job: Mapping[str, Any]) -> dict[str, Any]:
    """A RUNNABLE job placed on a compute resource: STARTING (its container is being created)."""
    if job["status"] != RUNNABLE:
        raise ValueError(f"a {job['status']} job cannot start")
    return with_status(job, STARTING)


def start_attempt(job: Mapping[str, Any], now: int, log_stream_name: str | None = None,
                  network_interfaces: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The job's container runs: RUNNING from ``now`` (the job's startedAt is its latest attempt's start), with
    its task's ENI as ``networkInterfaces`` (attachment and private address) when it has one."""
    if job["status"] not in (RUNNABLE, STARTING):
        raise ValueError(f"a {job['status']} job cannot run")
    running = with_status(job, RUNNING)
    running["startedAt"] = now
    running.pop("stoppedAt", None)
    running.pop("statusReason", None)
    container = running.setdefault("container", {})
    for key in ("exitCode", "reason", "networkInterfaces"):
        container.pop(key, None)
    if log_stream_name:
        container["logStreamName"] = log_stream_name
    if network_interfaces:
        container["networkInterfaces"] = network_interfaces
    return running


def attempt_deadline(job: Mapping[str, Any]) -> int | None:
    """When (epoch ms) the running attempt exceeds the job's timeout, or None without a timeout."""
    seconds = (job.get("timeout") or {}).get("attemptDurationSeconds")
    if not seconds or job["status"] != RUNNING or job.get("startedAt") is None:
        return None
    return int(job["startedAt"]) + int(seconds) * 1000


def timed_out(job: Mapping[str, Any], now: int) -> bool:
    deadline = attempt_deadline(job)
    return deadline is not None and now >= deadline


def record_attempt_end(job: Mapping[str, Any], exit_code: int | None, reason: str | None, now: int, *,
                       status_reason: str | None = None, timed_out: bool = False,
                       retry: bool = True) -> dict[str, Any]:
    """The job once its running attempt ended with ``exit_code`` (None: the container never exited on its own)
    and container ``reason``: the attempt is appended to ``attempts``; exit code 0 succeeds the job; otherwise
    the retry strategy decides between RUNNABLE again (a new attempt) and FAILED. An attempt killed for its
    timeout fails the job with :data:`TIMED_OUT` and is never retried (AWS: "If a job is terminated for
    exceeding the timeout duration, it isn't retried")."""
    if job["status"] not in (STARTING, RUNNING):
        raise ValueError(f"a {job['status']} job has no attempt running")
    if timed_out:
        status_reason = TIMED_OUT
    elif status_reason is None:
        status_reason = CONTAINER_EXITED
    ended = copy.deepcopy(dict(job))
    container = ended.setdefault("container", {})
    attempt_container: dict[str, Any] = {}
    if exit_code is not None:
        attempt_container["exitCode"] = exit_code
    if reason is not None:
        attempt_container["reason"] = reason
    if container.get("logStreamName"):
        attempt_container["logStreamName"] = container["logStreamName"]
    for key in ("containerInstanceArn", "taskArn", "networkInterfaces"):
        if container.get(key):
            attempt_container[key] = container[key]
    attempt: dict[str, Any] = {"container": attempt_container, "stoppedAt": now,
                               "statusReason": status_reason}
    if job.get("startedAt") is not None and job["status"] == RUNNING:
        attempt["startedAt"] = job["startedAt"]
    ended["attempts"] = [*(job.get("attempts") or []), attempt]
    container.pop("exitCode", None)
    container.pop("reason", None)
    container.update({key: value for key, value in attempt_container.items()
                      if key in ("exitCode", "reason")})
    if exit_code == 0 and not timed_out:
        return with_status(ended, SUCCEEDED, status_reason, now=now)
    if retry and not timed_out and should_retry(job.get("retryStrategy"), len(ended["attempts"]), exit_code,
                                                 reason, status_reason):
        again = with_status(ended, RUNNABLE)
        again.pop("statusReason", None)
        return again
    return with_status(ended, FAILED, status_reason, now=now)
