"""Gateway responses: what a REST API answers itself when a request does not reach (or return from) the
integration, with AWS's default statuses and ``{"message": ...}`` bodies, customized per API through
PutGatewayResponse.

A type the API did not customize takes DEFAULT_4XX's or DEFAULT_5XX's customization (headers, templates)
if there is one, and keeps its own status. Templates are VTL with ``$context.error.message``,
``$context.error.messageString`` (the message as a quoted JSON string) and ``$context.error.responseType``;
header values are ``'literals'`` or ``method.request.*``, ``stageVariables.*`` and ``context.*`` values.
Every answer carries ``x-amzn-ErrorType`` as AWS sets it.
"""

from __future__ import annotations

import json
from typing import Any

from controller.apigateway.gateway_responses import DEFAULT_STATUS, DEFAULT_TEMPLATE
from controller.execute_api.request import InvokeResponse
from controller.execute_api.rest import mapping, vtl

#: x-amzn-ErrorType per response type (the exception names API Gateway reports).
ERROR_TYPES = {
    "ACCESS_DENIED": "AccessDeniedException", "API_CONFIGURATION_ERROR": "InternalServerErrorException",
    "AUTHORIZER_CONFIGURATION_ERROR": "InternalServerErrorException",
    "AUTHORIZER_FAILURE": "InternalServerErrorException", "BAD_REQUEST_PARAMETERS": "BadRequestException",
    "BAD_REQUEST_BODY": "BadRequestException", "DEFAULT_4XX": "BadRequestException",
    "DEFAULT_5XX": "InternalServerErrorException", "EXPIRED_TOKEN": "ExpiredTokenException",
    "INTEGRATION_FAILURE": "InternalServerErrorException", "INTEGRATION_TIMEOUT": "InternalServerErrorException",
    "INVALID_API_KEY": "ForbiddenException", "INVALID_SIGNATURE": "InvalidSignatureException",
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
    "QUOTA_EXCEEDED": "LimitExceededException", "REQUEST_TOO_LARGE": "RequestTooLargeException",
    "RESOURCE_NOT_FOUND": "NotFoundException", "THROTTLED": "TooManyRequestsException",
    "UNAUTHORIZED": "UnauthorizedException", "UNSUPPORTED_MEDIA_TYPE": "UnsupportedMediaTypeException",
    "WAF_FILTERED": "ForbiddenException",
}


def forbidden() -> InvokeResponse:
    """The answer for an API or stage that does not exist (nothing to customize it with)."""
    return InvokeResponse(403, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ForbiddenException")],
                          b'{"message":"Forbidden"}')


def _customization(gateway_responses: dict[str, dict[str, Any]], response_type: str,
                   status: int) -> dict[str, Any] | None:
    own = gateway_responses.get(response_type)
    if own is not None:
        return own
    return gateway_responses.get("DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX")


def render(gateway_responses: dict[str, dict[str, Any]], response_type: str, message: str, *,
           scope: mapping.Scope | None = None, status: int | None = None,
           headers: dict[str, str] | None = None) -> InvokeResponse:
    """The gateway response ``response_type`` carrying ``message``.

    ``status`` overrides the type's default (AWS's 502 for a malformed Lambda proxy answer is DEFAULT_5XX's
    body with 502); ``headers`` are the ones the refusal itself brings (``WWW-Authenticate``...), under the
    API's own; ``scope`` gives templates and header mappings the request's values.
    """
    default_status = int(DEFAULT_STATUS.get(response_type) or (500 if response_type == "DEFAULT_5XX" else 400))
    effective = status or default_status
    custom = _customization(gateway_responses, response_type, effective)
    if custom is not None and custom.get("responseType") == response_type and custom.get("statusCode"):
        effective = int(custom["statusCode"])
    templates = (custom or {}).get("responseTemplates") or DEFAULT_TEMPLATE
    content_type, template = next(iter(templates.items())) if "application/json" not in templates else (
        "application/json", templates["application/json"])
    error = {"message": message, "messageString": json.dumps(message), "responseType": response_type,
             "validationErrorString": ""}
    context = vtl.context_map({**(scope.context if scope else {}), "error": error})
    try:
        body = vtl.render(template, body="", params=scope.params if scope else {}, context=context,
                          stage_variables=scope.stage_variables if scope else {}).encode()
    except vtl.TemplateFailure:
        body = json.dumps({"message": message}).encode()
    out: list[tuple[str, str]] = [("Content-Type", content_type)]
    out.extend((headers or {}).items())
    for key, source in ((custom or {}).get("responseParameters") or {}).items():
        if not key.startswith("gatewayresponse.header."):
            continue
        name = key.removeprefix("gatewayresponse.header.")
        value = mapping.source_value(source, scope) if scope else mapping.literal(source)
        if value is None:
            continue
        out = [(n, v) for n, v in out if n.lower() != name.lower()] + [(name, value)]
    out.append(("x-amzn-ErrorType", ERROR_TYPES.get(response_type, "BadRequestException")))
    return InvokeResponse(effective, out, body)
