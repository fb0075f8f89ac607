"""A REST method's integration: the call to the backend and the mapping of its answer.

AWS_PROXY (Lambda proxy: the proxy event in, the proxy answer out, 502 when it is malformed or the function
failed), AWS with a Lambda URI (non-proxy: request template, then the integration response chosen by the
errorMessage), HTTP (non-proxy: mapped parameters and templates, the response chosen by the status),
HTTP_PROXY (the request forwarded as is, the answer returned as is), MOCK (the request template's
``{"statusCode": N}`` chooses the integration response) and AWS service integrations
(:mod:`controller.execute_api.rest.aws_services`: the call made as the integration's role, the response
chosen by the service's status). ``${stageVariables.name}`` is substituted in every integration URI.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from controller.apigateway.snapshot import StageView
from controller.errors import ServiceError
from controller.execute_api import integrations
from controller.execute_api.request import InvokeRequest, InvokeResponse
from controller.execute_api.rest import aws_services, mapping, matching, proxy_events, responses, vtl

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
               "transfer-encoding", "upgrade", "host", "content-length", "expect"}
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_.:-]+)\}")
_PATH_VARIABLE = re.compile(r"\{([A-Za-z0-9._:-]+?)\+?\}")
#: API Gateway's integration timeout when the integration does not set one.
DEFAULT_TIMEOUT_MS = 29000


def _uri(integration: dict[str, Any], variables: dict[str, str]) -> str:
    return _STAGE_VARIABLE.sub(lambda m: variables.get(m[1], ""), integration.get("uri") or "")


def _fail(view: StageView, scope: mapping.Scope, status: int = 500,
          message: str = "Internal server error") -> InvokeResponse:
    """API Gateway's own 5xx for an integration that failed (the API's DEFAULT_5XX customization applies)."""
    return responses.render(view.gateway_responses, "DEFAULT_5XX", message, scope=scope, status=status)


def source_arn(view: StageView, request: InvokeRequest, resource: dict[str, Any], stage: str) -> str:
    """The execute-api ARN API Gateway invokes a function from: ``{api}/{stage}/{METHOD}{resource path}``
    (the resource's path template, so one permission covers every value of its path parameters)."""
    return (f"arn:aws:execute-api:{view.region}:{view.account_id}:{request.api_id}/{stage}/{request.method}"
            f"{resource.get('path') or '/'}")


def call(cloud: Any, view: StageView, served: matching.Served, found: matching.Match, request: InvokeRequest,
         scope: mapping.Scope) -> InvokeResponse:
    """The integration's answer to this request, mapped back as the method's response."""
    integration = found.method.get("methodIntegration")
    if not integration:
        return _fail(view, scope)
    kind = integration.get("type")
    uri = _uri(integration, served.variables)
    if kind == "MOCK":
        return _mock(view, integration, request, scope)
    if kind == "HTTP_PROXY":
        return _http_proxy(view, integration, uri, found, request, scope)
    if kind == "HTTP":
        return _http(view, integration, uri, request, scope)
    arn = source_arn(view, request, found.resource, str(scope.context["stage"]))
    if ":lambda:path/" not in uri:
        return _aws_service(cloud, view, integration, uri, arn, request, scope)
    if kind == "AWS_PROXY":
        return _lambda_proxy(cloud, view, uri, arn, found, request, scope)
    return _lambda(cloud, view, integration, uri, arn, request, scope)


def _event_headers(request: InvokeRequest) -> list[tuple[str, str]]:
    headers = dict(request.headers)
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip
    headers["x-forwarded-proto"] = "https" if request.secure else "http"
    return sorted(headers.items())


def _lambda_proxy(cloud: Any, view: StageView, uri: str, arn: str, found: matching.Match, request: InvokeRequest,
                  scope: mapping.Scope) -> InvokeResponse:
    binary = view.api.get("binaryMediaTypes") or []
    event = proxy_events.event(
        resource=found.resource.get("path") or "/", path=matching.split_stage(request.path)[1],
        method=request.method, headers=_event_headers(request), query=list(request.query),
        path_parameters=found.path_parameters, stage_variables=scope.stage_variables, body=request.body,
        binary_media_types=binary, request_context=scope.context)
    try:
        _, payload, function_error = integrations.invoke_lambda(
            cloud, uri, json.dumps(event).encode(), source_arn=arn, account_id=view.account_id)
    except ServiceError:        # missing function, not Active, no runner, or its policy refuses API Gateway
        return _fail(view, scope)
    if function_error:
        return _fail(view, scope, 502)
    try:
        return proxy_events.response(payload, accept=request.header("accept"), binary_media_types=binary)
    except proxy_events.MalformedAnswer:
        return _fail(view, scope, 502)


def _request_body(view: StageView, integration: dict[str, Any], request: InvokeRequest,
                  scope: mapping.Scope) -> tuple[bytes, str] | InvokeResponse:
    """The integration request's body and content type, through the request template; or the 415 / 500
    gateway response when the media type is refused or the template fails."""
    choice = mapping.choose_request_template(integration.get("requestTemplates"), request.header("content-type"),
                                             integration.get("passthroughBehavior") or "WHEN_NO_MATCH")
    if choice.passthrough:
        return request.body, request.header("content-type") or mapping.DEFAULT_CONTENT_TYPE
    if choice.template is None:
        return responses.render(view.gateway_responses, "UNSUPPORTED_MEDIA_TYPE", "Unsupported Media Type",
                                scope=scope)
    try:
        rendered = vtl.render(choice.template, body=request.body.decode("utf-8", "replace"), params=scope.params,
                              context=scope.context, stage_variables=scope.stage_variables)
    except vtl.TemplateFailure:
        return _fail(view, scope)
    return rendered.encode(), choice.content_type


def _mapped(view: StageView, integration: dict[str, Any], selector: str, answer: mapping.Answer,
            request: InvokeRequest, scope: mapping.Scope) -> InvokeResponse:
    """The method response an integration's answer maps to (integration response, parameters, template)."""
    chosen = mapping.select_integration_response(integration.get("integrationResponses") or {}, selector)
    if chosen is None:      # no pattern matched and no default response: AWS's configuration error
        return _fail(view, scope)
    headers = mapping.response_parameters(chosen.get("responseParameters") or {}, scope, answer)
    status = int(chosen.get("statusCode") or 200)
    template = mapping.choose_response_template(chosen.get("responseTemplates"), request.header("accept"))
    if template is None or not template[1]:
        content_type = template[0] if template else mapping.DEFAULT_CONTENT_TYPE
        body = answer.body
    else:
        content_type = template[0]
        context = vtl.context_map(scope.context)
        try:
            body = vtl.render(template[1], body=answer.body.decode("utf-8", "replace"), params=scope.params,
                              context=context, stage_variables=scope.stage_variables).encode()
        except vtl.TemplateFailure:
            return _fail(view, scope)
        override = context["responseOverride"]
        if str(override.get("status", "")).isdigit():
            status = int(override["status"])
        headers += [(str(n), str(v)) for n, v in (override.get("header") or {}).items()]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.insert(0, ("Content-Type", content_type))
    return InvokeResponse(status, headers, body)


def _lambda(cloud: Any, view: StageView, integration: dict[str, Any], uri: str, arn: str, request: InvokeRequest,
            scope: mapping.Scope) -> InvokeResponse:
    prepared = _request_body(view, integration, request, scope)
    if isinstance(prepared, InvokeResponse):
        return prepared
    payload = prepared[0] or b"{}"
    try:
        _, answer, function_error = integrations.invoke_lambda(cloud, uri, payload, source_arn=arn,
                                                               account_id=view.account_id)
    except ServiceError:
        return _fail(view, scope)
    selector = ""
    if function_error:
        try:
            parsed = json.loads(answer)
        except ValueError:
            parsed = None
        selector = str(parsed.get("errorMessage", "")) if isinstance(parsed, dict) else answer.decode(
            "utf-8", "replace")
    responses_doc = integration.get("integrationResponses") or {}
    if not function_error:       # a successful invocation takes the default response; patterns match errors
        responses_doc = {k: v for k, v in responses_doc.items() if not v.get("selectionPattern")} or responses_doc
    return _mapped(view, {**integration, "integrationResponses": responses_doc}, selector,
                   mapping.Answer(200, [], answer), request, scope)


def _aws_service(cloud: Any, view: StageView, integration: dict[str, Any], uri: str, arn: str,
                 request: InvokeRequest, scope: mapping.Scope) -> InvokeResponse:
    prepared = _request_body(view, integration, request, scope)
    if isinstance(prepared, InvokeResponse):
        return prepared
    method = integration.get("httpMethod") or "POST"
    outgoing = mapping.request_parameters(integration.get("requestParameters") or {}, scope)
    try:
        answer = aws_services.call(cloud, integration, uri, request.method if method == "ANY" else method,
                                   prepared[0], prepared[1], outgoing, source_ip=request.source_ip,
                                   source_arn=arn)
    except aws_services.Misconfigured:
        return _fail(view, scope)
    return _mapped(view, integration, str(answer.status), answer, request, scope)


def _mock(view: StageView, integration: dict[str, Any], request: InvokeRequest,
          scope: mapping.Scope) -> InvokeResponse:
    prepared = _request_body(view, integration, request, scope)
    if isinstance(prepared, InvokeResponse):
        return prepared
    status = 200
    if integration.get("requestTemplates") and prepared[0].strip():
        try:
            asked = json.loads(prepared[0])
            status = int(asked.get("statusCode", 200)) if isinstance(asked, dict) else 200
        except (ValueError, TypeError):
            return _fail(view, scope)
    return _mapped(view, integration, str(status), mapping.Answer(status, [], b""), request, scope)


def _backend_url(uri: str, path_values: dict[str, str], query: list[tuple[str, str]], raw_query: str = "") -> str:
    """The URI with its ``{name}`` / ``{name+}`` path variables filled in and the query string appended."""
    split = urlsplit(uri)
    path = _PATH_VARIABLE.sub(lambda m: quote(path_values.get(m[1], ""), safe="/"), split.path or "/")
    extra = "&".join(part for part in (raw_query, urlencode(query)) if part)
    return urlunsplit((split.scheme, split.netloc, path, "&".join(p for p in (split.query, extra) if p), ""))


def _timeout(integration: dict[str, Any]) -> float:
    return (integration.get("timeoutInMillis") or DEFAULT_TIMEOUT_MS) / 1000


def _send(view: StageView, method: str, url: str, headers: list[tuple[str, str]], body: bytes,
          integration: dict[str, Any], scope: mapping.Scope) -> tuple[InvokeResponse | None, InvokeResponse | None]:
    """``(the backend's answer, None)``, or ``(None, the gateway response)`` when it timed out or failed."""
    try:
        return integrations.call_http(method, url, headers, body, _timeout(integration)), None
    except TimeoutError:
        return None, responses.render(view.gateway_responses, "INTEGRATION_TIMEOUT", "Endpoint request timed out",
                                      scope=scope)
    except OSError:
        return None, responses.render(view.gateway_responses, "INTEGRATION_FAILURE", "Internal server error",
                                      scope=scope, status=502)


def _http_proxy(view: StageView, integration: dict[str, Any], uri: str, found: matching.Match,
                request: InvokeRequest, scope: mapping.Scope) -> InvokeResponse:
    outgoing = mapping.request_parameters(integration.get("requestParameters") or {}, scope)
    url = _backend_url(uri, {**found.path_parameters, **outgoing.path}, outgoing.query, request.raw_query)
    overridden = {name.lower() for name, _ in outgoing.headers}
    headers = [(n, v) for n, v in sorted(request.headers.items()) if n not in _HOP_BY_HOP and n not in overridden]
    headers += outgoing.headers
    method = integration.get("httpMethod") or "ANY"
    answer, failed = _send(view, request.method if method == "ANY" else method, url, headers, request.body,
                           integration, scope)
    if answer is None:
        return failed or _fail(view, scope)
    return InvokeResponse(answer.status, [(n, v) for n, v in answer.headers if n.lower() not in _HOP_BY_HOP],
                          answer.body)


def _http(view: StageView, integration: dict[str, Any], uri: str, request: InvokeRequest,
          scope: mapping.Scope) -> InvokeResponse:
    prepared = _request_body(view, integration, request, scope)
    if isinstance(prepared, InvokeResponse):
        return prepared
    body, content_type = prepared
    outgoing = mapping.request_parameters(integration.get("requestParameters") or {}, scope)
    headers = list(outgoing.headers)
    if body and not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", content_type))
    method = integration.get("httpMethod") or "ANY"
    answer, failed = _send(view, request.method if method == "ANY" else method,
                           _backend_url(uri, outgoing.path, outgoing.query), headers, body, integration, scope)
    if answer is None:
        return failed or _fail(view, scope)
    return _mapped(view, integration, str(answer.status), mapping.Answer(answer.status, answer.headers, answer.body),
                   request, scope)
