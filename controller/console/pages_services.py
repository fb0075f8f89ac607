"""The console's service pages: the Services index, SQS queues and SNS topics (issue 19).

Like :mod:`controller.console.pages`, every read and action is an API call as the signed-in principal
(``g.api``); a list is one page of the API's own paging plus one attribute read per row shown (the counts
live only there), buttons are disabled where :meth:`ConsoleApi.may` says IAM would deny, a successful action
redirects (303) with a notice built here from validated names, and a refused one shows the list again under
the API's status with AWS's code and message. Lambda and EBS are in ``pages_functions`` and ``pages_volumes``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from flask import Response, g, redirect, render_template, request, url_for

from controller.console.app import blueprint, cloud
from controller.console.calls import ServiceCallError

#: Queues per page: each costs a GetQueueAttributes call for its counts.
QUEUE_PAGE_SIZE = 20
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}(\.fifo)?$")
TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}(\.fifo)?$")
QUEUE_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed")
DEFAULT_TEST_MESSAGE = "Test message from the Cloudlet console"
#: The Services index: (endpoint, title, the action that lets a principal list them).
SERVICES = (
    ("console.svc_alarms", "CloudWatch alarms", "cloudwatch:DescribeAlarms"),
    ("console.svc_queues", "SQS queues", "sqs:ListQueues"),
    ("console.svc_topics", "SNS topics", "sns:ListTopics"),
    ("console.svc_functions", "Lambda functions", "lambda:ListFunctions"),
    ("console.svc_volumes", "EBS volumes", "ec2:DescribeVolumes"),
)


def arn_prefix(service: str) -> str:
    """The start of the caller's ARNs in ``service`` (its account, the cloud's region)."""
    config = cloud().config
    return f"arn:{config.partition}:{service}:{config.region}:{g.api.principal.account_id}:"


def button(action: str, arn: str, what: str, possible: bool = True, why_not: str = "") -> tuple[bool, str]:
    """(enabled, why not) for a button calling ``action`` on ``arn``: disabled with the reason when IAM would
    deny it, or when the resource's state makes it pointless (``possible``, ``why_not``)."""
    if not g.api.may(action, arn):
        return False, f"Your permissions do not allow {action} on this {what}."
    return (True, "") if possible else (False, why_not)


def notice(verbs: dict[str, Callable[[str], str]], pattern: re.Pattern[str]) -> str:
    """The message after an action's redirect, from ``?done=`` and ``?name=``: built here from a known verb
    and a name that matches ``pattern``, never text taken from the URL as it stands."""
    done, name = request.args.get("done", ""), request.args.get("name", "")
    return verbs[done](name) if done in verbs and pattern.match(name) else ""


def paged(params: dict[str, Any], token_member: str = "NextToken") -> tuple[dict[str, Any], str]:
    """``params`` with the request's page token (``?next=``), and that token (the list's "this page")."""
    this_token = request.args.get("next", "")
    return ({**params, token_member: this_token} if this_token else params), this_token


@blueprint.get("/services")
def svc_index() -> str:
    """Where the nav's Services item leads: the service pages, each linked only when its list may be read."""
    services = [(endpoint, title, action, g.api.may(action)) for endpoint, title, action in SERVICES]
    return render_template("svc_index.html", services=services)


@blueprint.get("/sqs/queues")
def svc_queues() -> tuple[str, int]:
    return _queues_page()


@blueprint.post("/sqs/queues/send")
def svc_queue_send() -> Response | tuple[str, int]:
    """SendMessage of the form's text (a FIFO queue needs a group and, without content-based deduplication,
    a deduplication id: the console gives each send its own)."""
    url = request.form.get("queue_url", "")
    params: dict[str, Any] = {"QueueUrl": url,
                              "MessageBody": request.form.get("body") or DEFAULT_TEST_MESSAGE}
    if url.endswith(".fifo"):
        params |= {"MessageGroupId": "console", "MessageDeduplicationId": uuid.uuid4().hex}
    try:
        g.api.call("sqs", "SendMessage", params)
    except ServiceCallError as refused:
        return _queues_page(refused)
    return redirect(url_for("console.svc_queues", done="send", name=url.rsplit("/", 1)[-1]), code=303)


@blueprint.post("/sqs/queues/purge")
def svc_queue_purge() -> Response | tuple[str, int]:
    url = request.form.get("queue_url", "")
    try:
        g.api.call("sqs", "PurgeQueue", {"QueueUrl": url})
    except ServiceCallError as refused:
        return _queues_page(refused)
    return redirect(url_for("console.svc_queues", done="purge", name=url.rsplit("/", 1)[-1]), code=303)


def _queues_page(error: ServiceCallError | None = None) -> tuple[str, int]:
    """One page of queues (ListQueues) with their counts (GetQueueAttributes each)."""
    params, this_token = paged({"MaxResults": QUEUE_PAGE_SIZE})
    values: dict[str, Any] = {"error": error, "this_token": this_token, "queues": [], "next_token": "",
                              "default_message": DEFAULT_TEST_MESSAGE,
                              "notice": notice({"send": "Sent a message to {}.".format,
                                                "purge": "Purging {}: its messages are deleted.".format},
                                               QUEUE_NAME)}
    status = error.status if error else 200
    try:
        answer = g.api.call("sqs", "ListQueues", params)
    except ServiceCallError as refused:
        return render_template("svc_queues.html", list_error=refused, **values), refused.status
    prefix = arn_prefix("sqs")
    for url in answer.get("QueueUrls", []):
        name = url.rsplit("/", 1)[-1]
        arn = prefix + name
        queue: dict[str, Any] = {"url": url, "name": name, "counts": {}, "error": None,
                                 "send": button("sqs:SendMessage", arn, "queue"),
                                 "purge": button("sqs:PurgeQueue", arn, "queue")}
        try:
            attributes = g.api.call("sqs", "GetQueueAttributes",
                                    {"QueueUrl": url, "AttributeNames": list(QUEUE_COUNTS)})["Attributes"]
            queue["counts"] = {key: attributes.get(key, "") for key in QUEUE_COUNTS}
        except ServiceCallError as refused:
            queue["error"] = refused
        values["queues"].append(queue)
    values["next_token"] = answer.get("NextToken", "")
    return render_template("svc_queues.html", list_error=None, **values), status


@blueprint.get("/sns/topics")
def svc_topics() -> tuple[str, int]:
    return _topics_page()


@blueprint.post("/sns/topics/publish")
def svc_topic_publish() -> Response | tuple[str, int]:
    arn = request.form.get("topic_arn", "")
    params: dict[str, Any] = {"TopicArn": arn, "Message": request.form.get("message") or DEFAULT_TEST_MESSAGE}
    if request.form.get("subject"):
        params["Subject"] = request.form["subject"]
    if arn.endswith(".fifo"):
        params |= {"MessageGroupId": "console", "MessageDeduplicationId": uuid.uuid4().hex}
    try:
        g.api.call("sns", "Publish", params)
    except ServiceCallError as refused:
        return _topics_page(refused)
    return redirect(url_for("console.svc_topics", done="publish", name=arn.rsplit(":", 1)[-1]), code=303)


def _topics_page(error: ServiceCallError | None = None) -> tuple[str, int]:
    """One page of topics (ListTopics: up to 100) with their subscription counts (GetTopicAttributes each)."""
    params, this_token = paged({})
    values: dict[str, Any] = {"error": error, "this_token": this_token, "topics": [], "next_token": "",
                              "default_message": DEFAULT_TEST_MESSAGE,
                              "notice": notice({"publish": "Published a message to {}.".format}, TOPIC_NAME)}
    try:
        answer = g.api.call("sns", "ListTopics", params)
    except ServiceCallError as refused:
        return render_template("svc_topics.html", list_error=refused, **values), refused.status
    for listed in answer.get("Topics", []):
        arn = listed["TopicArn"]
        topic: dict[str, Any] = {"arn": arn, "name": arn.rsplit(":", 1)[-1], "attributes": {}, "error": None,
                                 "publish": button("sns:Publish", arn, "topic")}
        try:
            topic["attributes"] = g.api.call("sns", "GetTopicAttributes", {"TopicArn": arn})["Attributes"]
        except ServiceCallError as refused:
            topic["error"] = refused
        values["topics"].append(topic)
    values["next_token"] = answer.get("NextToken", "")
    return render_template("svc_topics.html", list_error=None, **values), error.status if error else 200
