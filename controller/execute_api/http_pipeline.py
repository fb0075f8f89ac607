"""The data plane of HTTP APIs: one request to an invoke URL, through its stage, route, authorizer and
integration to the answer.

The order is AWS's: the stage (``/{stage}/...``, or the ``$default`` stage at the root), the CORS preflight
(answered by API Gateway itself when the API has a CorsConfiguration), the route (most specific match),
the JWT or Lambda REQUEST authorizer, then the integration: a Lambda function (payload format 1.0 or 2.0)
or an HTTP backend (HTTP_PROXY). Errors are HTTP APIs' plain JSON bodies: ``{"message":"Not Found"}`` and the like.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from controller.apigatewayv2 import lambda_payloads as payloads
from controller.apigatewayv2 import lookup, parameter_mapping, request_authorizers
from controller.apigatewayv2.route_selection import select_route
from controller.errors import ServiceError
from controller.execute_api import cors, jwt_authorizers
from controller.execute_api.request import InvokeRequest, InvokeResponse

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
               "transfer-encoding", "upgrade", "host", "content-length", "expect"}
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")
_PATH_VARIABLE = re.compile(r"\{([A-Za-z0-9._:-]+)\+?\}")


def message(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> InvokeResponse:
    """An HTTP API's own answer: ``{"message": text}`` as JSON."""
    body = json.dumps({"message": text}).encode()
    return InvokeResponse(status, [("content-type", "application/json"), *(headers or [])], body)


def handle(cloud: Any, request: InvokeRequest) -> InvokeResponse:
    """Serve one request to an HTTP API's invoke URL (the API exists: dispatch checked)."""
    request_id = base64.b64encode(secrets.token_bytes(12)).decode()
    response = _serve(cloud, request, request_id)
    response.headers.append(("apigw-requestid", request_id))
    return response


def _serve(cloud: Any, request: InvokeRequest, request_id: str) -> InvokeResponse:
    resolved = lookup.resolve(cloud, request.api_id, request.path)
    if resolved is None:
        return message(404, "Not Found")
    view, path = resolved
    if view.api.get("DisableExecuteApiEndpoint"):
        return message(403, "Forbidden")
    if view.cors and cors.is_preflight(request):
        return cors.preflight(view.cors, request)
    response = _route(cloud, view, request, path, request_id)
    return cors.decorate(view.cors, request, response) if view.cors else response


def _route(cloud: Any, view: lookup.HttpStageView, request: InvokeRequest, path: str,
           request_id: str) -> InvokeResponse:
    selected = select_route(view.routes, request.method, path)
    if selected is None:
        return message(404, "Not Found")
    route = selected.route
    incoming = payloads.Incoming(
        method=request.method, raw_path=request.path, raw_query=request.raw_query, query=request.query,
        headers=event_headers(request), body=request.body, source_ip=request.source_ip,
        user_agent=request.user_agent, route_key=route["RouteKey"], stage=view.stage_name,
        api_id=request.api_id, account_id=view.account_id, domain_name=_domain(cloud, view, request),
        request_id=request_id, time_epoch_ms=request.request_time_epoch_ms or int(time.time() * 1000),
        path_parameters=selected.path_parameters, stage_variables=view.stage.get("StageVariables") or {})
    kind = route.get("AuthorizationType")
    if kind in ("JWT", "CUSTOM"):
        authorizer = view.authorizers.get(route.get("AuthorizerId", ""))
        if authorizer is None:
            return message(500, "Internal Server Error")
        if kind == "JWT":
            try:
                found = {"jwt": jwt_authorizers.authorize(cloud, authorizer, route, request)}
            except jwt_authorizers.Denied as denied:
                return message(denied.status, denied.message,
                               [("www-authenticate", denied.www_authenticate())])
        else:
            refused, found = _lambda_authorize(cloud, view, authorizer, incoming, path)
            if refused is not None:
                return refused
        incoming = dataclasses.replace(incoming, authorizer=found)
    integration = view.integrations.get((route.get("Target") or "").removeprefix("integrations/"))
    if integration is None:
        return message(404, "Not Found")
    if integration["IntegrationType"] == "AWS_PROXY":
        return _call_lambda(cloud, view, integration, incoming)
    return _call_http(view, integration, request, incoming)


def _lambda_authorize(cloud: Any, view: lookup.HttpStageView, authorizer: dict[str, Any],
                      incoming: payloads.Incoming, path: str) -> tuple[InvokeResponse | None, dict[str, Any]]:
    """Ask a REQUEST authorizer: (a refusal to answer, or None) and the ``{"lambda": context}`` it gave."""
    from controller.execute_api import integrations

    identity = request_authorizers.identity_values(incoming, authorizer.get("IdentitySource") or [])
    if identity is None:
        return message(401, "Unauthorized"), {}
    route_arn = (f"arn:aws:execute-api:{view.region}:{view.account_id}:{view.api['ApiId']}/{view.stage_name}/"
                 f"{incoming.method}{path}")
    event = request_authorizers.event(incoming, authorizer["AuthorizerPayloadFormatVersion"], route_arn, identity)
    authorizer_arn = (f"arn:aws:execute-api:{view.region}:{view.account_id}:{view.api['ApiId']}/authorizers/"
                      f"{authorizer['AuthorizerId']}")
    try:
        status, answer, function_error = integrations.invoke_lambda(
            cloud, authorizer["AuthorizerUri"], json.dumps(event).encode(), source_arn=authorizer_arn,
            account_id=view.account_id)
    except ServiceError:
        return message(500, "Internal Server Error"), {}
    if function_error or not 200 <= status < 300:
        return message(500, "Internal Server Error"), {}
    try:
        decision = request_authorizers.decide(answer, authorizer, route_arn, view.region)
    except payloads.BadAnswer:
        return message(500, "Internal Server Error"), {}
    if not decision.allowed:
        return message(403, "Forbidden"), {}
    return None, {"lambda": decision.context}


def _domain(cloud: Any, view: lookup.HttpStageView, request: InvokeRequest) -> str:
    """The API's domain name as the request used it, or AWS's name for it (path-form requests)."""
    host = request.host.rsplit(":", 1)[0]
    if host.startswith(request.api_id + "."):
        return host
    return f"{request.api_id}.execute-api.{view.region}.{cloud.config.service_domain}"


def event_headers(request: InvokeRequest) -> list[tuple[str, str]]:
    """The request's headers as a Lambda event shows them, with the x-forwarded-* API Gateway adds."""
    headers = dict(request.headers)
    forwarded_for = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded_for}, {request.source_ip}" if forwarded_for else request.source_ip
    headers["x-forwarded-proto"] = "https" if request.secure else "http"
    return sorted(headers.items())


def source_arn(view: lookup.HttpStageView, route_key: str) -> str:
    """The execute-api ARN a Lambda permission names: ``…:{api}/{stage}/{METHOD}/{path}`` or ``…/$default``."""
    method, _, path = route_key.partition(" ")
    tail = f"{method}{path}" if path else route_key
    return f"arn:aws:execute-api:{view.region}:{view.account_id}:{view.api['ApiId']}/{view.stage_name}/{tail}"


def _call_lambda(cloud: Any, view: lookup.HttpStageView, integration: dict[str, Any],
                 incoming: payloads.Incoming) -> InvokeResponse:
    from controller.execute_api import integrations

    version = integration.get("PayloadFormatVersion", "2.0")
    event = payloads.event_v2(incoming) if version == "2.0" else payloads.event_v1(incoming)
    try:
        status, payload, function_error = integrations.invoke_lambda(
            cloud, integration["IntegrationUri"], json.dumps(event).encode(),
            source_arn=source_arn(view, incoming.route_key), account_id=view.account_id)
    except ServiceError:        # the function is missing, not Active, or no host runs functions
        return message(500, "Internal Server Error")
    if function_error or not 200 <= status < 300:
        return message(500, "Internal Server Error")
    try:
        return payloads.response_v2(payload) if version == "2.0" else payloads.response_v1(payload)
    except payloads.BadAnswer:
        return message(500, "Internal Server Error")


def backend_request(integration: dict[str, Any], request: InvokeRequest,
                    incoming: payloads.Incoming) -> tuple[str, list[tuple[str, str]]]:
    """The URL and headers an HTTP_PROXY integration sends: the URI with stage and path variables filled
    in, the request's query string and headers, then the integration's parameter mapping."""
    uri = _STAGE_VARIABLE.sub(lambda m: incoming.stage_variables.get(m[1], ""), integration["IntegrationUri"])
    uri = _PATH_VARIABLE.sub(lambda m: quote(incoming.path_parameters.get(m[1], ""), safe="/"), uri)
    split = urlsplit(uri)
    headers = [(n, v) for n, v in sorted(request.headers.items()) if n not in _HOP_BY_HOP]
    proto = "https" if request.secure else "http"
    headers.append(("forwarded", f"by={request.host};for={request.source_ip};host={request.host};proto={proto}"))
    outgoing = parameter_mapping.Outgoing(split.path or "/", headers, list(request.query))
    mapping = integration.get("RequestParameters") or {}
    parameter_mapping.apply(mapping, outgoing, lambda name: parameter_mapping.value_of(name, incoming))
    query = urlencode(outgoing.query) if any(":querystring." in key for key in mapping) else request.raw_query
    query = "&".join(part for part in (split.query, query) if part)
    path = quote(outgoing.path, safe="/%:@!$&'()*+,;=-._~")
    return urlunsplit((split.scheme, split.netloc, path, query, "")), outgoing.headers


def _call_http(view: lookup.HttpStageView, integration: dict[str, Any], request: InvokeRequest,
               incoming: payloads.Incoming) -> InvokeResponse:
    from controller.execute_api import integrations

    method = integration.get("IntegrationMethod") or "ANY"
    url, headers = backend_request(integration, request, incoming)
    try:
        response = integrations.call_http(request.method if method == "ANY" else method, url, headers,
                                          request.body, integration.get("TimeoutInMillis", 30000) / 1000)
    except TimeoutError:
        return message(504, "Gateway Timeout")
    except OSError:
        return message(502, "Bad Gateway")
    kept = [(n, v) for n, v in response.headers if n.lower() not in _HOP_BY_HOP]
    return InvokeResponse(response.status, kept, response.body)
