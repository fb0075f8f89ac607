"""Lambda's ``Invoke`` (POST /2015-03-31/functions/{FunctionName}/invocations).

Following https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html:

- ``RequestResponse`` (the default) runs the function and answers 200 with its response as the body, or
  with its error document and ``X-Amz-Function-Error: Unhandled``; ``X-Amz-Executed-Version`` names the
  version that ran (the alias's pick), and ``LogType=Tail`` adds ``X-Amz-Log-Result``: the base64 of the
  last 4 KB of the invocation's log.
- ``Event`` queues the event (durably, before answering) for the asynchronous worker and answers 202.
- ``DryRun`` checks the caller's permission (the gateway did) and that the function exists: 204.

A request is refused before the function runs when its payload is too large (6 MiB synchronous, 1 MiB
asynchronous: RequestTooLargeException 413), is not JSON (InvalidRequestContentException 400), or carries a
ClientContext that is not base64 of a JSON object of at most 3,583 bytes encoded (``payloads``).
"""

from __future__ import annotations

import base64
from typing import Any

from controller.api import Params, RequestContext
from controller.awslambda import records
from controller.awslambda.events import async_queue
from controller.awslambda.invoke import engine
from controller.awslambda.invoke.payloads import check_payload, client_context_json
from controller.awslambda.lookup import resolve_target
from controller.awslambda.service import api


@api.operation("Invoke", resources=records.resources, action="lambda:InvokeFunction")
def invoke(ctx: RequestContext, params: Params) -> Params:
    invocation_type = params.get("InvocationType") or "RequestResponse"
    asynchronous = invocation_type == "Event"
    payload = check_payload(params.get("Payload") or b"", asynchronous)
    client_context = client_context_json(params.get("ClientContext"))
    target = resolve_target(ctx.cloud, ctx.account_id, params["FunctionName"], params.get("Qualifier"))
    ctx.audit_resources.append(target.invoked_arn)
    if invocation_type == "DryRun":
        return {"StatusCode": 204}
    if asynchronous:
        async_queue.enqueue(ctx.cloud, target, payload, ctx.request_id)
        return {"StatusCode": 202}
    result = engine.run(ctx.cloud, target, payload, request_id=ctx.request_id, client_context=client_context)
    output: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": result.executed_version,
                              "Payload": result.payload}
    if result.function_error:
        output["FunctionError"] = result.function_error
    if params.get("LogType") == "Tail":
        output["LogResult"] = base64.b64encode(result.log_tail.encode("utf-8")).decode("ascii")
    return output
