"""The backends an API calls: a Lambda function, invoked as API Gateway, and an HTTP endpoint.

Both pipelines (REST and HTTP APIs) build their requests and read the answers themselves; what is here is
the transport. Lambda runs through the same engine as ``Invoke`` (``awslambda/invoke/engine.run``), after
the function's resource policy allows ``apigateway.amazonaws.com`` from the route's execute-api ARN, as on
AWS (``aws lambda add-permission --principal apigateway.amazonaws.com --source-arn ...``). HTTP goes
through one urllib3 pool per process: kept-alive connections to backends are what keeps the gateway's
own cost near a millisecond.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import urllib3

from controller.awslambda.invoke import engine
from controller.awslambda.lookup import resolve_target, service_may_invoke
from controller.errors import ServiceError
from controller.execute_api.request import InvokeResponse

APIGATEWAY_PRINCIPAL = "apigateway.amazonaws.com"
#: A REST integration's Lambda URI: ``arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations``.
_FUNCTION_IN_URI = re.compile(r"/functions/(?P<function>[^/]+)/invocations$")


def function_of(uri_or_arn: str) -> str:
    """The function ARN (or name) an integration's URI names; HTTP APIs may give the ARN itself."""
    found = _FUNCTION_IN_URI.search(uri_or_arn)
    return found["function"] if found else uri_or_arn


def invoke_lambda(cloud: Any, function_uri_or_arn: str, event: bytes, *, source_arn: str,
                  account_id: str) -> tuple[int, bytes, str | None]:
    """``(status, payload, function_error)`` of one synchronous invocation as API Gateway.

    Raises the ServiceError Lambda answers (no such function, not Active, no host runs functions) or
    AccessDeniedException when the function's policy does not let API Gateway invoke it from ``source_arn``;
    the pipelines turn both into AWS's 500 answer.
    """
    function = function_of(function_uri_or_arn)
    target = resolve_target(cloud, account_id, function, None)
    if not service_may_invoke(cloud, target, APIGATEWAY_PRINCIPAL, source_arn, account_id):
        raise ServiceError(f"The resource policy of {target.invoked_arn} does not allow {APIGATEWAY_PRINCIPAL} "
                           f"to invoke it from {source_arn}.", code="AccessDeniedException", status=403)
    invocation = engine.run(cloud, target, event)
    return 200, invocation.payload, invocation.function_error


@functools.cache
def _pool() -> urllib3.PoolManager:
    """The process's connections to HTTP backends (a transport, like a socket: no cloud state in it)."""
    return urllib3.PoolManager(num_pools=64, maxsize=32, block=False)


def call_http(method: str, url: str, headers: list[tuple[str, str]], body: bytes,
              timeout_s: float) -> InvokeResponse:
    """The backend's answer, redirects included as answers; TimeoutError past ``timeout_s``, OSError when
    the backend cannot be reached or breaks the exchange."""
    sent = urllib3.HTTPHeaderDict()
    for name, value in headers:
        sent.add(name, value)
    try:
        answer = _pool().request(method, url, body=body or None, headers=sent, redirect=False, retries=False,
                                 timeout=urllib3.Timeout(total=timeout_s), preload_content=True)
    except urllib3.exceptions.TimeoutError as exc:
        raise TimeoutError(f"{url} did not answer within {timeout_s:g} s") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise OSError(f"{url} could not be reached: {exc}") from exc
    return InvokeResponse(answer.status, list(answer.headers.iteritems()), answer.data)
