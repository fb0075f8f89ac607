"""Lambda functions in the console: the list (one ListFunctions call a page) and invoking one with a JSON
event, showing its result and the tail of its log as Invoke's ``LogType=Tail`` returns them (the last 4 KB
the function wrote), so a user sees what a test run did without going to CloudWatch Logs.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from flask import abort, g, render_template, request

from controller.console.app import blueprint
from controller.console.calls import ServiceCallError
from controller.console.pages_services import arn_prefix, button, paged

FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: The largest synchronous payload Lambda accepts (6 MB); the console says so before the API would.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024


@blueprint.get("/lambda/functions")
def svc_functions() -> tuple[str, int]:
    """One page of the account's functions, with Invoke disabled where IAM would deny it."""
    # Lambda's own page size (50); not MaxItems, an integer service_calls would put raw into the query string.
    params, this_token = paged({}, token_member="Marker")
    try:
        answer = g.api.call("lambda", "ListFunctions", params)
    except ServiceCallError as refused:
        return render_template("svc_functions.html", list_error=refused, functions=[],
                               this_token=this_token), refused.status
    prefix = arn_prefix("lambda") + "function:"
    functions = [{**function, "invoke": button("lambda:InvokeFunction", prefix + function["FunctionName"],
                                               "function")}
                 for function in answer.get("Functions", [])]
    return render_template("svc_functions.html", functions=functions, this_token=this_token,
                           next_token=answer.get("NextMarker", "")), 200


@blueprint.route("/lambda/functions/<name>/invoke", methods=["GET", "POST"])
def svc_function_invoke(name: str) -> tuple[str, int]:
    """The invoke form; on POST, a synchronous Invoke of the payload and what it answered."""
    if not FUNCTION_NAME.match(name):
        abort(404)
    allowed = button("lambda:InvokeFunction", arn_prefix("lambda") + "function:" + name, "function")
    payload = request.form.get("payload", "{}") if request.method == "POST" else "{}"
    values: dict[str, Any] = {"name": name, "payload": payload, "invoke": allowed}
    if request.method == "GET":
        return render_template("svc_invoke.html", **values), 200
    problem = payload_problem(payload)
    if problem:
        return render_template("svc_invoke.html", payload_error=problem, **values), 400
    try:
        answer = g.api.call("lambda", "Invoke", {"FunctionName": name, "LogType": "Tail",
                                                 "Payload": payload.encode()})
    except ServiceCallError as refused:
        return render_template("svc_invoke.html", error=refused, **values), refused.status
    return render_template("svc_invoke.html", result=invoke_result(answer), **values), 200


def payload_problem(payload: str) -> str:
    """Why the console does not send ``payload`` (empty when it would): Lambda takes a JSON document."""
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        return "The payload is larger than Lambda's 6 MB limit for a synchronous invocation."
    try:
        json.loads(payload)
    except ValueError as exc:
        return f"The payload is not JSON: {exc}."
    return ""


def invoke_result(answer: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of Invoke's answer: the status, the function's error kind if any, the response
    pretty-printed when it is JSON (as text otherwise), and the decoded log tail."""
    body = answer.get("Payload") or ""  # text from service_calls (botocore's parser decodes the body), or bytes
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        shown = json.dumps(json.loads(text), indent=2, ensure_ascii=False) if text else ""
    except ValueError:
        shown = text
    try:
        log = base64.b64decode(answer.get("LogResult") or "").decode("utf-8", "replace")
    except binascii.Error:
        log = ""
    return {"status": answer.get("StatusCode"), "function_error": answer.get("FunctionError", ""),
            "version": answer.get("ExecutedVersion", ""), "payload": shown, "log": log}
