"""Query-protocol calls addressed to the queue URL itself (``POST /<account>/<name>``).

Older SDKs and Celery's kombu send ``Action=ReceiveMessage&...`` to the queue's URL and leave
``QueueUrl`` out of the form, as SQS's query API allows; this ``rewrite_request`` hook adds the
parameter from the path before routing, so the operation sees the same input as any other call.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from controller.protocol.http import HttpRequest
from controller.protocol.query import form_params
from controller.protocol.routing import signing_service

_QUEUE_PATH_RE = re.compile(r"^/\d{12}/[A-Za-z0-9_.-]{1,80}/?$")


def queue_url_from_path(cloud: Any, request: HttpRequest) -> HttpRequest:
    """The request with ``QueueUrl`` taken from its path, when it is an SQS query call to a queue URL."""
    if not _QUEUE_PATH_RE.match(request.path) or request.header("x-amz-target"):
        return request
    signed_for = signing_service(request)
    # Unsigned calls come from this cloud's own services (API Gateway's SQS integrations), named by host.
    if signed_for != "sqs" and not (signed_for is None and (request.header("host") or "").startswith("sqs.")):
        return request
    params = form_params(request)
    if "Action" not in params or "QueueUrl" in params:
        return request
    host = request.header("host") or f"{cloud.config.host}:{cloud.config.port}"
    return replace(request, query=[*request.query, ("QueueUrl", f"http://{host}{request.path.rstrip('/')}")])
