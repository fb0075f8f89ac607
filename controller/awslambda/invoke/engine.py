"""One invocation, from a resolved target to AWS's answer (contract F): what every invocation goes through.

``run`` picks the version by the alias's weights, holds a concurrency slot (429 when the function's
reserved concurrency or the account's limit is reached, before anything else happens, as Lambda throttles),
hands the function its execution role's session, posts the ``FunctionInvocation`` to a host's function
runner and waits for its ``FunctionResult``; the invocation's log lines go to the function's log group
(``/aws/lambda/<name>``) in the environment's log stream, and the result becomes the payload and
``X-Amz-Function-Error`` the caller sees. With no runner registered it raises ResourceConflictException
(409): nothing can run the function, which is the caller's setup to fix, not a service fault.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from agent.contract.codec import from_json, to_json
from agent.contract.functions import FunctionInvocation, FunctionResult
from controller.awslambda.errors import ResourceConflictException
from controller.awslambda.invoke import outcomes
from controller.awslambda.invoke.invoker import Invoker, invoker_of
from controller.awslambda.invoke.routing import pick_version
from controller.awslambda.invoke.runners import RunnerUnreachable
from controller.awslambda.lookup import Target, VersionConfig, load_version
from controller.logs import ingest

Cloud = Any

NO_HOST = "no host runs Lambda functions: start an agent (cloudlet up starts one)"
#: How long past the function's timeout the controller waits for a runner's answer (a cold start fetches
#: code and may unpack an image first; the runner itself enforces the function's timeout).
RUNNER_GRACE_SECONDS = 120


@dataclass
class Invocation:
    """How an invocation ended, in AWS's terms."""

    request_id: str
    executed_version: str
    payload: bytes                 # response or error document
    function_error: str | None     # "Unhandled" when the function failed (timeout/crash included)
    log_tail: str                  # last 4 KB of this invocation's log (text)
    status: str                    # FunctionResult.status


def run(cloud: Cloud, target: Target, payload: bytes, *, request_id: str | None = None,
        client_context: str | None = None) -> Invocation:
    """Run one invocation of ``target`` with the event ``payload`` (JSON text) and wait for its end."""
    request_id = request_id or str(uuid.uuid4())
    if target.state != "Active":
        raise ResourceConflictException("The operation cannot be performed at this time. The function is "
                                        f"currently in the following state: {target.state}")
    invoker = invoker_of(cloud)
    with invoker.metrics.counters.counting(target) as ended, \
            invoker.concurrency.slot(target.account_id, target.function_arn, target.reserved_concurrency):
        runners = invoker.function_runners(cloud)
        if not runners:
            raise ResourceConflictException(NO_HOST)
        version = load_version(cloud, target.account_id, target.function_name, pick_version(target.routes, invoker.rng))
        credentials = invoker.sessions.credentials(cloud, version.role_arn, version.function_arn, target.function_name)
        message = invocation_message(cloud, target, version, payload, request_id, client_context, credentials)
        result = _ask_runner(invoker, runners, f"{version.function_arn}:{version.version}", message,
                             version.timeout_s + RUNNER_GRACE_SECONDS)
        ended(result, invoker.concurrency.in_flight(target.function_arn))
    if result.log and result.log_stream:
        ingest.append(cloud, account_id=target.account_id, group=version.log_group, stream=result.log_stream,
                      events=[(int(stamp), str(text)) for stamp, text in result.log])
    body, function_error = outcomes.response_of(result, timeout_s=version.timeout_s, memory_mb=version.memory_mb)
    return Invocation(request_id=request_id, executed_version=version.version, payload=body,
                      function_error=function_error, log_tail=outcomes.log_tail(result.log), status=result.status)


def invocation_message(cloud: Cloud, target: Target, version: VersionConfig, payload: bytes, request_id: str,
                       client_context: str | None, credentials: dict[str, str]) -> FunctionInvocation:
    """What the runner needs to run this version (agents keep no Lambda state of their own)."""
    return FunctionInvocation(
        request_id=request_id, function_arn=version.function_arn, version=version.version,
        revision=version.revision_id, package_type=version.package_type, runtime=version.runtime,
        handler=version.handler, code_sha256=version.code_sha256_hex, memory_mb=version.memory_mb,
        timeout_s=version.timeout_s, ephemeral_mb=version.ephemeral_mb, environment=dict(version.environment),
        credentials=credentials, region=cloud.config.region, log_group=version.log_group,
        payload=payload.decode("utf-8"), endpoint_url=cloud.config.endpoint_url,
        layers=[{"arn": arn, "code_sha256": sha} for arn, sha in version.layers],
        image_config=dict(version.image_config), invoked_function_arn=target.invoked_arn,
        client_context=client_context, max_environments=target.reserved_concurrency)


def _ask_runner(invoker: Invoker, runners: dict[str, str], key: str, message: FunctionInvocation,
                timeout: float) -> FunctionResult:
    """Post to the version's host; a runner that refuses the connection (never reached) leaves the next one
    to try. Any other failure ends the invocation with ResourceConflictException naming the runner."""
    remaining = dict(runners)
    while True:
        host_id = invoker.runners.host_for(remaining, key)
        try:
            answer = invoker.runners.invoke(host_id, remaining[host_id], to_json(message), timeout)
            return from_json(FunctionResult, answer)
        except RunnerUnreachable as problem:
            invoker.runners.forget(key)
            invoker.forget_runners()
            del remaining[host_id]
            if not (problem.refused and remaining):
                raise ResourceConflictException(f"host {host_id} could not run the function: {problem}") from None
        except TypeError as problem:
            raise ResourceConflictException(f"host {host_id} answered an unreadable result: {problem}") from None
